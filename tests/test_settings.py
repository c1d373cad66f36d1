"""`kzoo train --set KEY=VALUE`: any preset setting, validated, recorded, and checked on resume."""

import json

import pytest
from helpers import load_script

from kzoo import cli, presets, training


def test_settings_change_the_preset_and_refuse_unknown_keys_and_wrong_types():
    preset, applied = presets.apply_settings(presets.get("wgan_gp_fashion"),
                                             ["model.latent_dim=16", "optimizer.g.learning_rate=2e-4",
                                              "model.n_critic=3", "model.generator_ema=0.99"])
    assert preset["model"]["latent_dim"] == 16 and preset["optimizer"]["g"]["learning_rate"] == 2e-4
    assert preset["optimizer"]["d"]["learning_rate"] == 1e-4 and preset["model"]["n_critic"] == 3
    assert preset["model"]["generator_ema"] == 0.99 and presets.PRESETS["wgan_gp_fashion"].model.latent_dim == 100
    assert applied == {"model.latent_dim": 16, "optimizer.g.learning_rate": 2e-4, "model.n_critic": 3,
                       "model.generator_ema": 0.99}
    with pytest.raises(ValueError, match=r"no setting 'model.latent_size'; the settings are: .*model.latent_dim"):
        presets.apply_settings(presets.get("vae_conv_fashion"), ["model.latent_size=8"])
    with pytest.raises(ValueError, match="model.latent_dim is int"):
        presets.apply_settings(presets.get("vae_conv_fashion"), ["model.latent_dim=eight"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        presets.apply_settings(presets.get("vae_conv_fashion"), ["model.latent_dim"])
    vae, _ = presets.apply_settings(presets.get("vae_conv_fashion"), ["model.beta=0.5", "epochs=3"])
    assert vae["model"]["beta"] == 0.5 and vae["epochs"] == 3


def test_a_run_records_its_settings_builds_them_and_refuses_a_changed_one_by_name(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--preset", "vae_conv_mnist", "--take", "256", "--batch-size", "128", "--epochs", "1",
            "--no-export", "--verbose", "0", "--out", str(out)]
    assert cli.main(args + ["--set", "model.latent_dim=4", "--set", "model.beta=0.5"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["settings"] == {"model.latent_dim": 4, "model.beta": 0.5} and config["model"]["latent_dim"] == 4
    import keras
    model = keras.models.load_model(out / "model.keras")
    assert model.latent_dim == 4 and model.beta == 0.5
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"these settings differ: model.latent_dim \(4 -> 8\)"):
        training.train("vae_conv_mnist", out, take=256, batch_size=128, epochs=2, verbose=0, export=False,
                       settings=["model.latent_dim=8", "model.beta=0.5"])
    assert cli.main(args + ["--set", "model.latent_size=4"]) == 2
    assert "the settings are:" in capsys.readouterr().err


def test_presets_are_typed_and_every_field_is_checked():
    """Each preset is a `Preset` whose model settings are its family's dataclass; its dict form (what a run
    records) round-trips, and out-of-range values and unknown keys are refused with the valid choices."""
    for name, typed in presets.PRESETS.items():
        assert isinstance(typed.model, presets.MODEL_SETTINGS[typed.family])
        assert presets.Preset.from_dict(name, typed.to_dict()) == typed
        assert presets.get(name) == typed.to_dict() and presets.get(name) is not presets.get(name)
    cases = [
        ("vae_conv_fashion", "model.latent_dim=0", r"model.latent_dim: must be a positive integer, got 0"),
        ("vae_conv_fashion", "model.design=conv64", r"model.design: unknown value 'conv64'; choose one of conv28"),
        ("vae_conv_fashion", "model.reconstruction=l1", r"choose one of bce, mse"),
        ("vae_conv_fashion", "model.beta=0", r"model.beta: the KL weight must be a number above 0"),
        ("vae_conv_fashion", "optimizer.learning_rate=-0.001", r"optimizer.learning_rate: must be above 0"),
        ("vae_conv_fashion", "optimizer.class_name=Adamm", r"'Adamm' is not a keras.optimizers class"),
        ("vae_conv_fashion", "epochs=0", r"epochs: must be a positive integer"),
        ("dcgan_fashion", "model.loss=wasserstien", r"model.loss: unknown value .*wasserstein, hinge"),
        ("dcgan_fashion", "model.generator_ema=1.5", r"decay between 0 and 1"),
        ("wgan_gp_fashion", "model.n_critic=0", r"model.n_critic: must be a positive integer"),
        ("wgan_gp_fashion", 'model.lipschitz={"class_name": "Spectral"}', r"model.lipschitz"),
    ]
    for name, setting, message in cases:
        with pytest.raises(ValueError, match=message):
            presets.apply_settings(presets.get(name), [setting])
    with pytest.raises(ValueError, match=r"unknown setting lr; the valid ones are family, model, optimizer"):
        presets.Preset.from_dict("mine", dict(presets.get("vae_conv_fashion"), lr=1e-3))
    with pytest.raises(ValueError, match=r"unknown setting model.latent; the valid ones are model.design"):
        presets.Preset.from_dict("mine", dict(presets.get("vae_conv_fashion"), model={"design": "conv28",
                                                                                         "latent": 2}))
    with pytest.raises(ValueError, match="epochs: must be a positive integer"):
        presets.get("dcgan_fashion", epochs=0)


def test_run_settings_are_checked_before_anything_is_written(tmp_path):
    for options, message in (({"take": 0}, "take must be an integer of at least 1"),
                             ({"seed": -1}, "seed must be an integer of at least 0"),
                             ({"precision": "float64"}, "precision 'float64' is unknown; choose one of auto"),
                             ({"strategy": "tpu_pod"}, "strategy 'tpu_pod' is unknown"),
                             ({"checkpoint_every": 0}, "checkpoint_every must be"),
                             ({"fid_samples": 1}, "fid_samples must be"),
                             ({"verbose": 3}, "verbose must be")):
        with pytest.raises(ValueError, match=message):
            training.train("vae_conv_mnist", tmp_path / "run", **options)
    with pytest.raises(TypeError, match="unknown option epoch; the options are dataset, epochs"):
        training.train("vae_conv_mnist", tmp_path / "run", epoch=3)
    assert not (tmp_path / "run").exists()


def test_sweep_aggregates_each_value_over_seeds_and_refuses_a_bad_key(tmp_path):
    """examples/sweep.py: per value, the mean and sample standard deviation over seeds; a key the preset does not
    have fails before any training."""
    sweep = load_script("examples/sweep.py")
    rows = [{"value": "2", "seed": 0, "classifier_fid": 10.0, "fid": 40.0, "wall_time_s": 1.0},
            {"value": "2", "seed": 1, "classifier_fid": 14.0, "fid": 50.0, "wall_time_s": 3.0},
            {"value": "8", "seed": 0, "classifier_fid": 5.0, "wall_time_s": 2.0}]
    table = sweep.aggregate(rows, ["2", "8"])
    assert table["2"]["classifier_fid"] == {"mean": 12.0, "std": pytest.approx(8 ** 0.5), "values": [10.0, 14.0]}
    assert table["2"]["fid"]["mean"] == 45.0 and "fid" not in table["8"]
    assert table["8"]["classifier_fid"]["std"] is None and "test_loss" not in table["2"]
    with pytest.raises(ValueError, match="no setting 'model.latent_size'"):
        sweep.main(["--preset", "vae_conv_fashion", "--set", "model.latent_size=2,8", "--runs", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_sweep_extend_keeps_the_measured_runs_and_refuses_other_settings(tmp_path):
    """--extend: the earlier file's runs are kept as measured (not retrained), the values merge in numeric order, and
    a file measured with other epochs is refused."""
    import json
    sweep = load_script("examples/sweep.py")
    runs = [{"value": v, "seed": s, "classifier_fid": fid + s, "wall_time_s": 5.0, "precision": "float32"}
            for v, fid in (("2", 150.0), ("32", 90.0), ("8", 110.0)) for s in (0, 1)]
    protocol = {"command": "python examples/sweep.py ...", "epochs": 8, "seeds": [0, 1], "num_generated": 10000,
                "train_images": "all", "values": ["2", "32"], "session_wall_time_s": 30.0, "precision": ["float32"]}
    path = tmp_path / "results" / "sweep_vae_conv_fashion_latent_dim.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"protocol": protocol, "results": {"runs": runs}}))
    common = ["--preset", "vae_conv_fashion", "--epochs", "8", "--seeds", "0,1", "--runs", str(tmp_path / "runs"),
              "--results", str(path.parent), "--figures", str(tmp_path / "figures"), "--extend"]
    # "8" has rows in the file (as a sweep cut off after writing them would): nothing is trained.
    sweep.main(["--set", "model.latent_dim=8"] + common)
    assert not (tmp_path / "runs").exists()
    written = json.loads(path.read_text())
    assert written["protocol"]["values"] == ["2", "8", "32"]
    assert "--set model.latent_dim=2,8,32 " in written["protocol"]["command"]
    assert written["results"]["by_value"]["8"]["classifier_fid"]["values"] == [110.0, 111.0]
    assert written["results"]["by_value"]["32"]["classifier_fid"]["mean"] == 90.5
    assert (tmp_path / "figures" / "sweep_vae_conv_fashion_latent_dim.png").exists()
    with pytest.raises(SystemExit, match="measured in float32"):
        sweep.main(["--set", "model.latent_dim=16", "--precision", "mixed_bfloat16"] + common)
    with pytest.raises(SystemExit, match="epochs = 8"):
        sweep.main(["--set", "model.latent_dim=16", *common[:2], "--epochs", "10", *common[4:]])
    # Rows measured without the reference FID would leave its column half empty.
    with pytest.raises(SystemExit, match="reference_fid = False"):
        sweep.main(["--set", "model.latent_dim=16", "--reference-fid"] + common)


def test_sweep_keeps_committed_rows_runs_seed_by_seed_and_refuses_rows_measured_otherwise(tmp_path, monkeypatch):
    """Rows in results/sweep_runs/ (committed as each run finishes) are kept without training; the runs go seed by
    seed so that a sweep cut off early covers every value; a row measured with other epochs stops the sweep."""
    import json
    sweep = load_script("examples/sweep.py")
    rows_dir = tmp_path / "results" / "sweep_runs" / "vae_conv_fashion"
    for value, seed in (("2", 0), ("8", 0), ("2", 1), ("8", 1)):
        path = rows_dir / f"model.latent_dim={value}" / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"value": value, "seed": seed, "epochs": 8, "train_images": "all",
                                    "num_generated": 10000, "precision": "float32", "wall_time_s": 4.0,
                                    "classifier_fid": 100.0 / float(value) + seed}))
    common = ["--preset", "vae_conv_fashion", "--set", "model.latent_dim=2,8", "--epochs", "8", "--seeds", "0,1",
              "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
              "--figures", str(tmp_path / "figures")]
    calls = []
    original = sweep.run_one
    monkeypatch.setattr(sweep, "run_one", lambda p, k, v, s, a: calls.append((v, s)) or original(p, k, v, s, a))
    sweep.main(common)
    assert calls == [("2", 0), ("8", 0), ("2", 1), ("8", 1)] and not (tmp_path / "runs").exists()
    written = json.loads((tmp_path / "results" / "sweep_vae_conv_fashion_latent_dim.json").read_text())
    assert written["results"]["by_value"]["2"]["classifier_fid"]["values"] == [50.0, 51.0]
    assert [(r["value"], r["seed"]) for r in written["results"]["runs"]] == [("2", 0), ("2", 1), ("8", 0), ("8", 1)]
    with pytest.raises(SystemExit, match="epochs = 8 there, 10 here"):
        sweep.main(common[:6] + ["--epochs", "10"] + common[8:])
    with pytest.raises(SystemExit, match="precision = 'float32' there, 'mixed_bfloat16' here"):
        sweep.main(common + ["--precision", "mixed_bfloat16"])


def test_an_ablation_runs_each_named_variant_with_all_its_settings_and_records_them(tmp_path, monkeypatch):
    """examples/sweep.py --variant: each variant is trained with every one of its settings (a bad one refused
    before any training), and the table and protocol name the variants with their settings."""
    import json
    sweep = load_script("examples/sweep.py")
    spectral = '{"class_name": "SpectralNormalization", "config": {"power_iterations": 1}}'
    variants = ["--variant", "base=", "--variant", f"hinge_sn=model.loss=hinge;model.lipschitz={spectral}"]
    common = ["--preset", "dcgan_ema_fashion", "--name", "ablation", "--epochs", "1", "--seeds", "0",
              "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
              "--figures", str(tmp_path / "figures")]
    commands = []

    class Stop(Exception):
        pass

    def fake_run(command, check):
        commands.append(command)
        raise Stop
    # The sweep module's own name for subprocess.run, so the git calls of the results protocol are left alone.
    monkeypatch.setattr(sweep, "subprocess", type("FakeSubprocess", (), {"run": staticmethod(fake_run)}))
    with pytest.raises(ValueError, match="model.loss"):
        sweep.main(common + ["--variant", "bad=model.loss=nope"])
    assert commands == []
    with pytest.raises(SystemExit):
        sweep.main(common[:1] + common[1:2] + variants)  # no --name
    # The second variant, its rows missing, is trained with both settings (the first has a row: kept).
    rows = tmp_path / "results" / "sweep_runs" / "dcgan_ema_fashion"
    for value, fid in (("base", 30.0), ("hinge_sn", 25.0)):
        path = rows / f"variant={value}" / "seed0.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if value == "base":
            path.write_text(json.dumps({"value": value, "seed": 0, "epochs": 1, "train_images": "all",
                                        "num_generated": 10000, "precision": "float32", "wall_time_s": 4.0,
                                        "classifier_fid": fid}))
    with pytest.raises(Stop):
        sweep.main(common + variants)
    command = commands[-1]
    assert [command[i + 1] for i, part in enumerate(command) if part == "--set"] == [
        "model.loss=hinge", f"model.lipschitz={spectral}"]
    assert str(tmp_path / "runs" / "dcgan_ema_fashion" / "variant=hinge_sn" / "seed0") in command
    (rows / "variant=hinge_sn" / "seed0.json").write_text(json.dumps({
        "value": "hinge_sn", "seed": 0, "epochs": 1, "train_images": "all", "num_generated": 10000,
        "precision": "float32", "wall_time_s": 5.0, "classifier_fid": 25.0}))
    sweep.main(common + variants)
    written = json.loads((tmp_path / "results" / "sweep_dcgan_ema_fashion_ablation.json").read_text())
    assert written["protocol"]["variants"] == {"base": [], "hinge_sn": ["model.loss=hinge",
                                                                        f"model.lipschitz={spectral}"]}
    assert written["results"]["by_value"]["hinge_sn"]["classifier_fid"]["mean"] == 25.0
    assert "--variant 'hinge_sn=model.loss=hinge;model.lipschitz=" in written["protocol"]["command"]


def test_a_learning_rate_schedule_is_a_setting_that_steps_with_the_optimizer_and_survives_saving(tmp_path):
    """--set optimizer.d.learning_rate={"class_name": "PolynomialDecay", ...}: checked like an optimizer (a class
    that is no schedule is refused), followed step by step, and kept in the .keras file."""
    import keras
    import numpy as np

    from kzoo import presets
    decay = ('optimizer.d.learning_rate={"class_name": "PolynomialDecay", "initial_learning_rate": 0.0002, '
             '"decay_steps": 100, "end_learning_rate": 0.0}')
    spec, applied = presets.apply_settings(presets.get("dcgan_ema_fashion"), [decay])
    assert spec["optimizer"]["g"]["learning_rate"] == 2e-4  # d and g no longer share one dict
    with pytest.raises(ValueError, match="not a keras.optimizers.schedules class"):
        presets.apply_settings(presets.get("dcgan_ema_fashion"), ['optimizer.d.learning_rate={"class_name": "Adam"}'])
    with pytest.raises(ValueError, match="unknown setting optimizer.d.learning_rate.warmup"):
        presets.apply_settings(presets.get("dcgan_ema_fashion"), [
            'optimizer.d.learning_rate={"class_name": "PolynomialDecay", "initial_learning_rate": 0.001, '
            '"decay_steps": 10, "warmup": 3}'])
    model = presets.build_model(spec, image_shape=(28, 28, 1), seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (4 * 8, 28, 28, 1)).astype("float32")
    model.fit(images, batch_size=8, epochs=1, verbose=0)
    assert int(model.d_optimizer.iterations) == 4
    assert float(model.d_optimizer.learning_rate) == pytest.approx(2e-4 * (1 - 4 / 100))
    assert float(model.optimizer.learning_rate) == pytest.approx(2e-4)  # the generator's stays constant
    model.save(tmp_path / "gan.keras")
    restored = keras.models.load_model(tmp_path / "gan.keras")
    assert float(restored.d_optimizer.learning_rate) == pytest.approx(2e-4 * (1 - 4 / 100))
