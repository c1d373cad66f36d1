"""`kzoo train --set KEY=VALUE`: any preset setting, validated, recorded, and checked on resume."""

import json

import pytest

from kzoo import cli, presets, training


def test_settings_change_the_preset_and_refuse_unknown_keys_and_wrong_types():
    preset, applied = presets.apply_settings(presets.get("wgan_gp_fashion"),
                                             ["model.latent_dim=16", "optimizer.g.learning_rate=2e-4",
                                              "model.n_critic=3", "model.generator_ema=0.99"])
    assert preset["model"]["latent_dim"] == 16 and preset["optimizer"]["g"]["learning_rate"] == 2e-4
    assert preset["optimizer"]["d"]["learning_rate"] == 1e-4 and preset["model"]["n_critic"] == 3
    assert preset["model"]["generator_ema"] == 0.99 and presets.PRESETS["wgan_gp_fashion"]["model"]["latent_dim"] == 100
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
