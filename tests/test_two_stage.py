"""The two-stage VAE (Dai & Wipf 2019): the learned-variance likelihood, the second stage over codes, and a VAE
that samples through it, saved, reloaded and exported."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import load_script, run_model_saving_test, run_serialization_test, tolerance
from scipy import stats

from kzoo import presets
from kzoo.losses import gaussian_nll, reconstruction_loss
from kzoo.metrics.fid import frechet_distance
from kzoo.models import VAE, SecondStageVAE


def test_gaussian_nll_is_the_normal_log_density_with_learned_variance():
    rng = np.random.default_rng(0)
    x, mean = rng.uniform(0, 1, (4, 3, 3, 1)), rng.uniform(0, 1, (4, 3, 3, 1))
    for log_gamma in (-4.0, 0.0, 1.5):
        expected = -stats.norm.logpdf(x, mean, np.exp(0.5 * log_gamma)).reshape(4, -1).sum(1)
        got = np.asarray(gaussian_nll(mean.astype("float32"), x.astype("float32"), log_gamma))
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    logits = rng.normal(size=(4, 3, 3, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(reconstruction_loss(x.astype("float32"), logits, "gaussian", -2.0)),
        -stats.norm.logpdf(x, 1 / (1 + np.exp(-logits)), np.exp(-1.0)).reshape(4, -1).sum(1), rtol=1e-5)
    with pytest.raises(ValueError, match="log_gamma"):
        reconstruction_loss(x, logits, "gaussian")


def test_the_learned_variance_moves_towards_the_mean_squared_error():
    """d NLL / d log_gamma = D/2 - SSE / (2 gamma): its root is gamma = SSE / D, so one step from gamma = 1 with
    a reconstruction error far below 1 per pixel lowers log_gamma, by the analytic gradient."""
    vae = VAE.from_design("mlp256", latent_dim=2, image_shape=(4, 4, 1), reconstruction="gaussian", seed=0)
    assert [w.name for w in vae.trainable_weights].count("log_gamma") == 1
    images = np.random.default_rng(1).uniform(0.4, 0.6, (8, 4, 4, 1)).astype("float32")
    with tf.GradientTape() as tape:
        total, reconstruction, _ = vae.compute_vae_losses(images, training=True)
        loss = tf.reduce_mean(total)
    gradient = float(tape.gradient(loss, vae.log_gamma))
    # reconstruction = SSE / 2 + D/2 log(2 pi) at gamma = 1, so SSE = 2 (reconstruction - D/2 log 2 pi).
    sse = 2 * (np.asarray(reconstruction) - 0.5 * 16 * np.log(2 * np.pi))
    np.testing.assert_allclose(gradient, np.mean(8.0 - sse / 2), rtol=1e-4)
    assert gradient > 0


def _correlated_codes(n, seed=0):
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.5, 0.0], [0.6, 0.8]])
    return (rng.standard_normal((n, 2)) @ mixing.T + np.array([3.0, -2.0])).astype("float32"), mixing


def _moments(x):
    return x.mean(0), np.cov(x.T)


def test_the_second_stage_maps_noise_to_the_codes_distribution():
    keras.utils.set_random_seed(0)
    codes, _ = _correlated_codes(4000)
    stage = SecondStageVAE(2, hidden=32, depth=2, seed=0)
    stage.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = stage.fit(codes, epochs=30, batch_size=200, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0] - 1.0
    assert stage.gamma < 0.8  # from 1: the codes are reconstructed better than with unit variance
    u = np.random.default_rng(1).standard_normal((20000, 2)).astype("float32")
    samples = np.asarray(stage(u))
    np.testing.assert_allclose(samples.mean(0), [3.0, -2.0], atol=0.12)
    # The Frechet distance to the codes falls from 13.6 (N(0, I) itself) to a few percent of it. Not to zero:
    # at this budget the learned variance still absorbs the codes' minor direction (variance 0.4 of the 2.9),
    # the small-variance directions a VAE explains as noise first (Dai & Wipf 2019, section 3).
    to_codes = frechet_distance(*_moments(samples), *_moments(codes))
    identity = frechet_distance(*_moments(u), *_moments(codes))
    assert identity > 13 and to_codes < 0.05 * identity, (to_codes, identity)


def test_posterior_dicts_draw_fresh_codes_each_step_and_reduce_to_means_without_variance():
    means, _ = _correlated_codes(64)
    stage = SecondStageVAE(2, hidden=8, depth=1, seed=3)
    stage.compile()
    tiny = {"mean": means, "log_var": np.full_like(means, -30.0)}
    # With (almost) no posterior variance the drawn codes are the means: the same losses as training on means.
    fresh = SecondStageVAE.from_config(stage.get_config())
    fresh.set_weights(stage.get_weights())
    fresh.compile()
    stage.fit(tiny, epochs=1, batch_size=64, verbose=0, shuffle=False)
    fresh.fit(means, epochs=1, batch_size=64, verbose=0, shuffle=False)
    for a, b in zip(stage.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # With a real posterior variance each step draws codes mean + exp(log_var / 2) e, e the step's first draw: the
    # same update as training on those codes, and another than training on the means (log_var is used).
    from kzoo.noise import StepNoise
    wide = {"mean": means, "log_var": np.full_like(means, np.log(0.25))}
    stage = SecondStageVAE(2, hidden=8, depth=1, seed=3)
    # Plain SGD: Adam's first step is nearly the gradient's sign, and would hide a wrongly scaled draw.
    stage.compile(optimizer=keras.optimizers.SGD(0.1))
    drawn = means + 0.5 * StepNoise(3, 0).normal(means.shape).numpy()  # the first step's first draw
    on_codes, on_means = (SecondStageVAE.from_config(stage.get_config()) for _ in range(2))
    for model in (on_codes, on_means):
        model.set_weights(stage.get_weights())
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    stage.fit(wide, epochs=1, batch_size=64, verbose=0, shuffle=False)
    on_codes.fit(drawn.astype("float32"), epochs=1, batch_size=64, verbose=0, shuffle=False)
    on_means.fit(means, epochs=1, batch_size=64, verbose=0, shuffle=False)
    for a, b in zip(stage.get_weights(), on_codes.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert max(np.abs(a - b).max() for a, b in zip(stage.get_weights(), on_means.get_weights())) > 1e-4
    with pytest.raises(ValueError, match="'mean' and 'log_var'"):
        stage.fit({"mean": means}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="codes of size 3"):
        stage.fit(np.zeros((8, 3), "float32"), epochs=1, verbose=0)


def _first_stage(latent_dim, count):
    """A tiny first-stage VAE (MLP, learned-variance likelihood) fitted for one epoch to `count` random images."""
    vae = VAE.from_design("mlp256", latent_dim=latent_dim, image_shape=(28, 28, 1), reconstruction="gaussian", seed=0)
    vae.compile()
    images = np.random.default_rng(3).uniform(0, 1, (count, 28, 28, 1)).astype("float32")
    vae.fit(images, epochs=1, batch_size=64, verbose=0)
    return vae, images


def test_a_two_stage_vae_samples_through_a_frozen_second_stage_and_saves(tmp_path):
    vae, images = _first_stage(latent_dim=3, count=256)
    first_stage_weights = len(vae.trainable_weights)
    vae.fit_second_stage(images, epochs=2, batch_size=64, hidden=16, depth=2, verbose=0)
    assert isinstance(vae.latent_prior, SecondStageVAE) and not vae.latent_prior.trainable
    # Fitting the first stage again leaves the second stage where it is.
    assert len(vae.trainable_weights) == first_stage_weights
    prior_weights = [np.array(w) for w in vae.latent_prior.get_weights()]
    vae.fit(images, epochs=1, batch_size=64, verbose=0)
    for a, b in zip(prior_weights, vae.latent_prior.get_weights()):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(4).standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(vae.generate(z)), np.asarray(vae.decode(vae.latent_prior(z))), rtol=1e-6)
    run_serialization_test(vae)
    loaded = run_model_saving_test(vae, tmp_path, z, lambda m, x: m.generate(x))
    assert isinstance(loaded.latent_prior, SecondStageVAE) and not loaded.latent_prior.trainable
    assert float(loaded.log_gamma) == float(vae.log_gamma)


def test_latent_prior_settings_are_checked_and_filled():
    spec = presets.get("vae_two_stage_fashion")
    assert spec["model"]["reconstruction"] == "gaussian"
    assert presets.latent_prior_settings(spec["latent_prior"])["kind"] == "second_stage"
    # The mixture presets keep their recorded form (run fingerprints unchanged): no kind written.
    assert presets.get("vae_conv_gmm_fashion")["latent_prior"] == {"components": 30}
    assert presets.latent_prior_settings({"components": 30}) == {"kind": "mixture", "components": 30}
    base = {k: v for k, v in spec.items() if k not in ("name", "pixel_range")}
    for prior, message in (({"kind": "flow"}, "unknown value 'flow'"),
                           ({"kind": "second_stage", "components": 3}, "latent_prior.components"),
                           ({"kind": "second_stage", "epochs": 0}, "latent_prior.epochs"),
                           ({"kind": "second_stage", "learning_rate": -1.0}, "latent_prior.learning_rate"),
                           ({"kind": "mixture"}, "latent_prior.components")):
        with pytest.raises(ValueError, match=message):
            presets.Preset.from_dict("x", {**base, "latent_prior": prior})
    with pytest.raises(ValueError, match="gaussian"):
        presets.Preset.from_dict("x", {**presets.get("critic_vae_mnist"), "model": {
            **presets.get("critic_vae_mnist")["model"], "reconstruction": "gaussian"}})


@pytest.mark.slow
def test_a_two_stage_preset_trains_both_stages_and_exports(tmp_path):
    from kzoo import training
    from kzoo.registry import load_generator
    summary = training.train("vae_two_stage_fashion", tmp_path / "run", epochs=1, take=256, verbose=0,
                             settings=["latent_prior.epochs=1", "latent_prior.hidden=16", "model.latent_dim=8"])
    assert summary["figures"]["samples"] == "samples_latent_prior.png"
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert isinstance(model.latent_prior, SecondStageVAE) and model.latent_prior.hidden == 16
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    np.testing.assert_allclose(np.asarray(load_generator(tmp_path / "run" / "saved_model").generate(z)),
                               np.asarray(model.generate(z)), **tolerance(summary["precision"]))


def test_the_latent_prior_comparison_samples_one_decoder_through_each_prior_and_restores_its_own(tmp_path):
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "compare_latent_priors.py"
    tool = load_script(path)
    vae, images = _first_stage(latent_dim=2, count=256)
    vae.fit_second_stage(images, epochs=1, batch_size=64, hidden=8, depth=2, verbose=0)
    own = vae.latent_prior
    z = np.random.default_rng(4).standard_normal((16, 2)).astype("float32")

    def distance_from_identity(model):
        # Stands in for FID: how far the prior in use moves the noise (0 exactly for N(0, I)).
        return {"fid": float(np.abs(np.asarray(model.prior_codes(z)) - z).mean())}

    rows, grids = tool.compare(vae, images, distance_from_identity, components=3, grid_noise=z)
    assert [r["prior"] for r in rows] == ["second stage (two-stage VAE)", "N(0, I)", "Gaussian mixture (3 components)"]
    assert [r["own"] for r in rows] == [True, False, False]
    assert rows[1]["fid"] == 0.0 and rows[0]["fid"] > 0 and rows[2]["fid"] > 0 and rows[0]["fid"] != rows[2]["fid"]
    assert rows[2]["fit_s"] is not None and rows[0]["fit_s"] is None
    np.testing.assert_allclose(grids[1], np.asarray(vae.decode(z)), rtol=1e-6)
    assert vae.latent_prior is own  # the model leaves with the prior it came with
    np.testing.assert_allclose(grids[0], np.asarray(vae.generate(z)), rtol=1e-6)
    tool.figure(rows, grids, vae.pixel_range, tmp_path / "priors.png", "three priors")
    import matplotlib.pyplot as plt
    height, width = plt.imread(tmp_path / "priors.png").shape[:2]
    assert width > 2.5 * height  # three panels in a row
    # Priors asked for in another order, the model's own named twice (as `own` and as what it is) evaluated once.
    rows, _ = tool.compare(vae, images, lambda m: {"fid": 12.5, "wall_time_s": 3.0}, components=3,
                           priors=("mixture", "own"))
    assert [r["prior"] for r in rows] == ["Gaussian mixture (3 components)", "second stage (two-stage VAE)"]
    assert rows[0]["evaluation_s"] == 3.0
    assert tool.table(rows)["rows"][1][:2] == ["second stage (two-stage VAE) (as trained)", "**12.50**"]
    held = tool.table(rows, target=10.0)
    assert held["columns"][-1] == "target FID <= 10" and held["rows"][1][-1] == "+25.0% from it"
    assert tool.table(rows, target=12.5)["rows"][1][-1] == "met"
    vae.set_latent_prior(None)
    rows, _ = tool.compare(vae, images, distance_from_identity, components=3, priors=("standard_normal", "own"))
    assert [(r["prior"], r["own"]) for r in rows] == [("N(0, I)", True)]
    with pytest.raises(ValueError, match="unknown priors"):
        tool.compare(vae, images, distance_from_identity, priors=("flow",))


def test_a_replaced_latent_prior_leaves_the_model_weights_and_saved_file(tmp_path):
    vae, images = _first_stage(latent_dim=2, count=128)
    first_stage = len(vae.weights)
    vae.fit_second_stage(images, epochs=1, batch_size=64, hidden=8, depth=2, verbose=0)
    stage = vae.latent_prior
    assert len(vae.weights) == first_stage + len(stage.weights)
    vae.fit_latent_prior(images, components=2)
    assert len(vae.weights) == first_stage + len(vae.latent_prior.weights)  # the second stage's are gone
    z = np.random.default_rng(4).standard_normal((5, 2)).astype("float32")
    loaded = run_model_saving_test(vae, tmp_path, z, lambda m, x: m.generate(x))
    assert type(loaded.latent_prior).__name__ == "GaussianMixturePrior"
    vae.set_latent_prior(None)
    assert len(vae.weights) == first_stage
    np.testing.assert_allclose(np.asarray(vae.generate(z)), np.asarray(vae.decode(z)), rtol=1e-6)
    vae.set_latent_prior(stage)
    assert len(vae.weights) == first_stage + len(stage.weights)


def test_kzoo_prior_writes_the_vae_with_a_new_prior_as_a_new_model_and_keeps_the_source(tmp_path, capsys):
    import json

    from kzoo import cli, datasets
    from kzoo.registry import load_generator
    from kzoo.training import save_model_atomically
    vae, _ = _first_stage(latent_dim=2, count=128)
    run = tmp_path / "run"
    save_model_atomically(vae, run / "model.keras")
    (run / "history.json").write_text('{"loss": [1.0]}')
    (run / "config.json").write_text(json.dumps({"name": "vae_mlp256_mnist", "settings": {}}))
    (run / "summary.json").write_text(json.dumps({
        "preset": "vae_mlp256_mnist", "dataset": "mnist", "epochs": 1, "batch_size": 128, "precision": "float32",
        "take": None, "seed": 0, "steps": 2, "wall_time_s": 5.0, "figures": {"loss_curve": "loss_curve.png"}}))
    source_bytes = (run / "model.keras").read_bytes()
    assert cli.main(["prior", "--model", str(run), "--out", str(tmp_path / "gmm"), "--components", "3",
                     "--take", "200", "--seed", "1"]) == 0
    assert "mixture prior fitted to 200 mnist images" in capsys.readouterr().out
    assert (run / "model.keras").read_bytes() == source_bytes  # the source keeps its own prior
    model = keras.models.load_model(tmp_path / "gmm" / "model.keras")
    assert type(model.latent_prior).__name__ == "GaussianMixturePrior" and model.latent_prior.components == 3
    assert getattr(model, "optimizer", None) is None  # no optimizer state in the sampling model's file
    for a, b in zip(vae.decoder.get_weights(), model.decoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The prior is the one `fit_latent_prior` fits to the same codes with the same seed.
    images = datasets.to_pixel_range(datasets.load_arrays("mnist", "train").images[:200], vae.pixel_range)
    vae.fit_latent_prior(images, components=3, seed=1)
    z = np.random.default_rng(0).standard_normal((6, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.generate(z)), np.asarray(vae.generate(z)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(load_generator(tmp_path / "gmm" / "saved_model").generate(z)),
                               np.asarray(vae.generate(z)), rtol=1e-5, atol=1e-5)
    summary = json.loads((tmp_path / "gmm" / "summary.json").read_text())
    fit = summary["prior_fit"]
    assert fit["latent_prior"] == {"kind": "mixture", "components": 3} and fit["images"] == 200
    assert fit["command"] == f"kzoo prior --model {run} --out {tmp_path / 'gmm'} --components 3 --take 200 --seed 1"
    assert fit["train_command"].startswith("kzoo train --preset vae_mlp256_mnist --dataset mnist --epochs 1")
    assert summary["figures"]["samples"] == "samples_latent_prior.png" and summary["wall_time_s"] == 5.0
    assert (tmp_path / "gmm" / "history.json").exists() and (tmp_path / "gmm" / "samples_latent_prior.png").exists()
    assert json.loads((tmp_path / "gmm" / "config.json").read_text())["latent_prior"]["components"] == 3
    # Its own folder is refused as the destination; a model without codes is refused.
    assert cli.main(["prior", "--model", str(run), "--out", str(run)]) == 2
    assert "is the source model's folder" in capsys.readouterr().err
    assert cli.main(["prior", "--model", str(run), "--out", str(tmp_path / "n"), "--kind", "standard_normal",
                     "--take", "64", "--no-export"]) == 0
    assert keras.models.load_model(tmp_path / "n" / "model.keras").latent_prior is None
    # A shipped model by name: its manifest names the data.
    assert cli.main(["prior", "--model", "vae_conv_gmm_fashion", "--out", str(tmp_path / "s"), "--components", "2",
                     "--take", "100", "--no-export"]) == 0
    shipped = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert shipped["dataset"] == "fashion_mnist" and shipped["prior_fit"]["train_command"] is None
    gan = presets.build_model(presets.get("dcgan_fashion"), image_shape=(28, 28, 1), seed=0)
    gan.save(tmp_path / "gan.keras")
    assert cli.main(["prior", "--model", str(tmp_path / "gan.keras"), "--out", str(tmp_path / "g"),
                     "--dataset", "mnist"]) == 2
    assert "a latent prior is fitted to a VAE's codes" in capsys.readouterr().err
