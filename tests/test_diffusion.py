"""The diffusion family against closed forms, a hand-computed numpy step, and its own invariants."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_fit_test, run_model_saving_test, run_serialization_test

from kzoo import noise as knoise
from kzoo import presets
from kzoo.models import DiffusionModel, schedules
from kzoo.networks import build_diffusion_network
from kzoo.networks.unet import TimestepEmbedding


def tiny_model(prediction="epsilon", ema=None, shape=(8, 8, 1), schedule="cosine", seed=0, randomize_output=True,
               sampling_steps=50):
    keras.utils.set_random_seed(seed)
    network = build_diffusion_network("unet_tiny", shape)
    if randomize_output:  # the output layer starts at zero; a random one makes the sampler's arithmetic visible
        layer = network.get_layer("prediction")
        layer.kernel.assign(np.random.default_rng(seed).normal(0, 0.05, layer.kernel.shape).astype("float32"))
    return DiffusionModel(network, schedule=schedule, prediction=prediction, ema=ema, seed=seed,
                          sampling_steps=sampling_steps)


# -- schedules -------------------------------------------------------------------------------------

def test_cosine_schedule_alpha_bar_matches_its_formula():
    schedule = schedules.CosineSchedule(1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    alpha_bars = schedule.alpha_bars()
    for t in (0, 1, 99, 500, 900):  # the papers' t + 1; beta is below its 0.999 clip here
        assert alpha_bars[t] == pytest.approx(f(t + 1) / f(0), rel=1e-12)
    assert np.all(np.diff(alpha_bars) < 0) and schedule.betas().max() == pytest.approx(0.999)


def test_linear_schedule_is_ho_et_al():
    schedule = schedules.LinearSchedule(1000)
    betas = schedule.betas()
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert schedule.alpha_bars()[0] == pytest.approx(1 - 1e-4)
    # The published end point: alpha_bar_T = prod(1 - beta) = 4.04e-5 (signal-to-noise ~ 4e-5 at t = T).
    assert schedule.alpha_bars()[-1] == pytest.approx(4.04e-5, rel=1e-2)


def test_schedules_serialise_and_refuse_bad_values():
    for schedule in (schedules.CosineSchedule(500, offset=0.01), schedules.LinearSchedule(200, 1e-3, 0.05)):
        restored = schedules.get(schedules.serialize(schedule))
        assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
        np.testing.assert_array_equal(restored.alpha_bars(), schedule.alpha_bars())
    with pytest.raises(ValueError, match="unknown noise schedule 'cosin'; choose one of linear, cosine"):
        schedules.get("cosin")
    with pytest.raises(ValueError, match="0 < beta_start <= beta_end < 1"):
        schedules.LinearSchedule(10, 0.5, 0.1)


# -- the forward process and the loss --------------------------------------------------------------

def test_q_xt_given_x0_has_the_closed_form_moments():
    """Draws of x_t made the way train_step makes them have mean sqrt(ab) x0 and variance 1 - ab per pixel."""
    model = tiny_model(shape=(4, 4, 1))
    x0 = np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 4, 4, 1)
    count = 20000
    alpha_bars = model.schedule.alpha_bars()
    for t in (0, 300, 700, 999):
        noise = knoise.StepNoise(seed=t, step=0)
        eps = noise.normal((count, 4, 4, 1))
        x_t = np.asarray(model.diffuse(np.repeat(x0, count, 0), np.full(count, t), eps))
        mean, var = x_t.mean(0), x_t.var(0)
        ab = alpha_bars[t]
        # 5 standard errors of a mean and of a Gaussian variance from `count` draws.
        assert np.all(np.abs(mean - np.sqrt(ab) * x0[0]) < 5 * np.sqrt((1 - ab) / count)), t
        assert np.all(np.abs(var - (1 - ab)) < 5 * (1 - ab) * np.sqrt(2 / count)), t


def test_training_timesteps_are_uniform_and_noise_standard():
    model = tiny_model(shape=(4, 4, 1))
    t, eps = model.training_noise(50000, knoise.StepNoise(seed=3, step=11))
    t, eps = np.asarray(t), np.asarray(eps)
    assert t.min() >= 0 and t.max() <= model.timesteps - 1
    counts = np.bincount(t // 100, minlength=10)  # 10 bins of 100 timesteps: chi-square with 9 d.o.f.
    chi2 = ((counts - 5000) ** 2 / 5000).sum()
    assert chi2 < 27.9, counts  # p = 0.001
    assert abs(eps.mean()) < 5 / np.sqrt(eps.size) and abs(eps.std() - 1) < 0.01


@keras.saving.register_keras_serializable(package="kzoo_tests")
class TrueNoise(keras.layers.Layer):
    """For data that is all zeros, x_t = sqrt(1 - ab_t) eps: this layer returns the exact noise (or velocity)."""

    def __init__(self, alpha_bars, velocity=False, **kwargs):
        super().__init__(**kwargs)
        self.alpha_bars, self.velocity = list(alpha_bars), velocity

    def call(self, inputs):
        x_t, t = inputs
        ab = tf.reshape(tf.gather(tf.constant(self.alpha_bars, tf.float32), tf.cast(t, tf.int32)), (-1, 1, 1, 1))
        eps = x_t / tf.sqrt(1.0 - ab)
        return tf.sqrt(ab) * eps if self.velocity else eps


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_a_network_that_returns_the_true_noise_has_zero_loss(prediction):
    shape = (6, 6, 1)
    alpha_bars = schedules.CosineSchedule().alpha_bars()
    x_t, t = keras.Input(shape), keras.Input(())
    oracle = keras.Model([x_t, t], TrueNoise(alpha_bars, velocity=prediction == "v")([x_t, t]))
    model = DiffusionModel(oracle, prediction=prediction, ema=None, seed=0)
    x0 = np.zeros((64, *shape), np.float32)
    t, eps = model.training_noise(64, knoise.StepNoise(0, 0))
    assert float(model.denoising_loss(x0, t, eps)) < 1e-10
    # A network predicting zeros misses by the target's variance: E[eps^2] = 1, E[v^2] = E[ab] (for x0 = 0).
    zeros = keras.Model([x_t, keras.Input(())], keras.layers.Rescaling(0.0)(x_t))
    miss = float(DiffusionModel(zeros, prediction=prediction, ema=None, seed=0).denoising_loss(x0, t, eps))
    expected = 1.0 if prediction == "epsilon" else float(np.mean(alpha_bars[np.asarray(t)]))
    assert miss == pytest.approx(expected, rel=0.05)


def linear_denoiser(shape):
    """out = w * x_t + b + c * t / T: small enough to differentiate by hand."""
    x_t, t = keras.Input(shape), keras.Input(())
    pixel = keras.layers.Conv2D(1, 1, kernel_initializer=keras.initializers.Constant(0.3),
                                bias_initializer=keras.initializers.Constant(-0.1))(x_t)
    scaled = keras.layers.Rescaling(1.0 / 1000)(keras.layers.Reshape((1,))(t))
    time = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(0.5))(scaled)
    return keras.Model([x_t, t], pixel + keras.layers.Reshape((1, 1, 1))(time))


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_min_snr_weight_is_its_formula(prediction):
    """Hang et al. 2023: min(SNR, gamma) / (SNR + 1) for v, min(SNR, gamma) / SNR for eps, SNR = ab / (1 - ab)."""
    x_t, t = keras.Input((2, 2, 1)), keras.Input(())
    network = keras.Model([x_t, t], keras.layers.Conv2D(1, 1)(x_t))
    for gamma in (5.0, 1.0):
        model = DiffusionModel(network, prediction=prediction, ema=None, loss_weighting="min_snr",
                               min_snr_gamma=gamma)
        steps = np.array([0, 10, 150, 400, 600, 999])
        ab = model.schedule.alpha_bars()[steps]
        snr = ab / (1 - ab)
        expected = np.minimum(snr, gamma) / (snr + 1 if prediction == "v" else snr)
        np.testing.assert_allclose(np.asarray(model.loss_weight(steps)), expected, rtol=2e-5)
        # Where SNR crosses gamma the weight peaks (v: gamma / (gamma + 1)); at the noisy end eps-weights are 1.
        assert expected.max() <= (gamma / (gamma + 1) if prediction == "v" else 1.0) + 1e-9
    plain = DiffusionModel(network, prediction=prediction, ema=None)
    np.testing.assert_array_equal(np.asarray(plain.loss_weight(steps)), np.ones(len(steps)))


@pytest.mark.parametrize("prediction,weighting", [("epsilon", "none"), ("v", "none"), ("v", "min_snr"),
                                                  ("epsilon", "min_snr")])
def test_one_training_step_equals_a_hand_computed_numpy_step(prediction, weighting):
    shape, batch, rate = (5, 5, 1), 6, 0.1
    model = DiffusionModel(linear_denoiser(shape), prediction=prediction, ema=None, seed=4, loss_weighting=weighting,
                           min_snr_gamma=5.0)
    model.compile(optimizer=keras.optimizers.SGD(rate))
    x0 = np.random.default_rng(0).uniform(-1, 1, (batch, *shape)).astype(np.float32)
    t, eps = model.training_noise(batch, knoise.StepNoise(4, 0))  # what the first step draws
    t, eps = np.asarray(t), np.asarray(eps, np.float64)
    ab = model.schedule.alpha_bars()[t].astype(np.float32).astype(np.float64).reshape(-1, 1, 1, 1)
    x_t = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * eps
    target = eps if prediction == "epsilon" else np.sqrt(ab) * eps - np.sqrt(1 - ab) * x0
    w, b, c = 0.3, -0.1, 0.5
    tau = (t / 1000.0).reshape(-1, 1, 1, 1)
    residual = w * x_t + b + c * tau - target
    snr = ab / (1 - ab)
    weight = (np.ones_like(ab) if weighting == "none" else
              np.minimum(snr, 5.0) / (snr + 1 if prediction == "v" else snr))
    pixels = residual[0].size
    loss = np.mean(weight * np.mean(residual ** 2, axis=(1, 2, 3), keepdims=True))
    g = 2 * weight * residual / (batch * pixels)
    expected = {"w": w - rate * np.sum(g * x_t), "b": b - rate * np.sum(g), "c": c - rate * np.sum(g * tau)}

    logs = model.train_on_batch(x0, return_dict=True)
    assert logs["loss"] == pytest.approx(loss, rel=1e-5)
    conv = next(layer for layer in model.network.layers if isinstance(layer, keras.layers.Conv2D))
    dense = next(layer for layer in model.network.layers if isinstance(layer, keras.layers.Dense))
    assert float(conv.kernel.numpy().squeeze()) == pytest.approx(expected["w"], rel=1e-5)
    assert float(conv.bias.numpy().squeeze()) == pytest.approx(expected["b"], rel=1e-5)
    assert float(dense.kernel.numpy().squeeze()) == pytest.approx(expected["c"], rel=1e-5)


# -- sampling --------------------------------------------------------------------------------------

def numpy_ddim(model, z, steps):
    """The deterministic DDIM sampler written step by step in Python (the reference for the compiled loop)."""
    ab = model.schedule.alpha_bars().astype(np.float32)
    times = [(i + 1) * model.timesteps // steps - 1 for i in range(steps)]
    x = z.reshape((-1,) + model.image_shape).astype(np.float32)
    for i in reversed(range(steps)):
        t, a = times[i], ab[times[i]]
        a_prev = ab[times[i - 1]] if i > 0 else 1.0
        eps = np.asarray(model.network([x, np.full(len(x), t, np.float32)]))
        x0 = np.clip((x - np.sqrt(1 - a) * eps) / np.sqrt(a), -1, 1)
        x = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps
    return x


def test_ddim_equals_the_step_by_step_reference_and_eta_0_is_deterministic():
    model = tiny_model()
    z = np.random.default_rng(1).standard_normal((3, model.latent_dim)).astype(np.float32)
    for steps in (1, 3, 10):
        got = np.asarray(model.generate(z, steps=steps))
        np.testing.assert_allclose(got, numpy_ddim(model, z, steps), atol=1e-4)  # graph vs eager rounding
        np.testing.assert_array_equal(got, np.asarray(model.generate(z, steps=steps, seed=99)))
    # One step is the closed form x0 = (x_T - sqrt(1 - ab_T) eps(x_T, T)) / sqrt(ab_T), whatever eta (sigma is 0).
    ab_T = model.schedule.alpha_bars()[-1].astype(np.float32)
    x_T = z.reshape(-1, 8, 8, 1)
    eps = np.asarray(model.network([x_T, np.full(3, 999, np.float32)]))
    formula = np.clip((x_T - np.sqrt(1 - ab_T) * eps) / np.sqrt(ab_T), -1, 1)
    np.testing.assert_allclose(np.asarray(model.generate(z, steps=1, eta=1.0)), formula, atol=2e-5)


def test_eta_adds_noise_drawn_from_the_seed():
    model = tiny_model()
    z = np.random.default_rng(2).standard_normal((2, model.latent_dim)).astype(np.float32)
    a, b = (np.asarray(model.generate(z, steps=10, eta=1.0, seed=s)) for s in (1, 2))
    assert np.abs(a - b).max() > 1e-2
    np.testing.assert_array_equal(a, np.asarray(model.generate(z, steps=10, eta=1.0, seed=1)))
    with pytest.raises(ValueError, match="sampling steps must be an integer from 1 to the schedule's 1000"):
        model.generate(z, steps=0)


@pytest.mark.slow  # 25 s of training; the inversion's arithmetic is tested against the oracle in the default suite
def test_ddim_inversion_reconstructs_an_image_on_a_trained_tiny_model():
    """Train the tiny U-Net (v-prediction) briefly on 8x8 digit crops, invert held-out images with DDIM and sample
    them back. The round trip is exact up to the discretisation of the ODE: with 100 steps it lands within 0.05 RMS
    (pixels in [-1, 1]) of each image on average, a small fraction of the distance between two images, and the error
    shrinks as the steps grow (25 -> 100 steps: at least halved)."""
    from kzoo import datasets
    images = datasets.load_arrays("mnist", "train").images[:520, 10:18, 10:18]
    data = datasets.to_pixel_range(images, (-1, 1))
    model = tiny_model(prediction="v", ema=None, randomize_output=False)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(data[:512], batch_size=64, epochs=3, verbose=0, shuffle=False)
    held_out = data[512:520]

    def round_trip(steps):
        z = model.invert(held_out, steps=steps)
        back = np.asarray(model.generate(z, steps=steps))
        return z, np.sqrt(np.mean((back - held_out) ** 2, axis=(1, 2, 3)))

    (_, coarse), (z, fine) = round_trip(25), round_trip(100)
    between = np.sqrt(np.mean((held_out[:4] - held_out[4:]) ** 2, axis=(1, 2, 3)))
    assert fine.mean() < 0.05 and fine.max() < between.min() / 5, (fine, between)
    assert fine.mean() < coarse.mean() / 2, (coarse, fine)
    assert 0.5 < float(np.std(z)) < 1.5  # noise-like


# -- Keras conventions -----------------------------------------------------------------------------

def trained_tiny_model(network=None):
    model = DiffusionModel(network or linear_denoiser((8, 8, 1)), ema=0.99, seed=0, sampling_steps=3)
    model.compile()
    data = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 1)).astype(np.float32)
    run_fit_test(model, data, batch_size=8)
    return model


def test_fit_serialization_and_keras_round_trip(tmp_path):
    model = trained_tiny_model()
    assert model.optimizer.iterations.numpy() == 2
    # The averaged copy follows the live network, and samples come from it.
    live, average = model.network.get_weights(), model.averaged_network.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(live, average))
    restored = run_serialization_test(model)
    assert isinstance(restored.schedule, schedules.CosineSchedule) and restored.ema == 0.99
    z = np.random.default_rng(3).standard_normal((2, model.latent_dim)).astype(np.float32)
    loaded = run_model_saving_test(model, tmp_path, z, lambda m, z: [m.generate(z)])
    assert loaded.optimizer.iterations.numpy() == 2  # optimizer state travels with the file
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_unet_saves_and_reloads_with_identical_outputs(tmp_path):
    network = tiny_model().network
    network.save(tmp_path / "unet.keras")
    loaded = keras.models.load_model(tmp_path / "unet.keras")
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype(np.float32)
    t = np.array([5.0, 700.0], np.float32)
    np.testing.assert_array_equal(np.asarray(loaded([x, t])), np.asarray(network([x, t])))


@pytest.mark.slow  # 15 s of tracing the sampling loop twice for the export
def test_saved_model_serves_generate_with_and_without_steps(tmp_path):
    from kzoo.export import export_saved_model
    from kzoo.registry import load_generator
    model = trained_tiny_model(tiny_model().network)
    z = np.random.default_rng(3).standard_normal((2, model.latent_dim)).astype(np.float32)
    export_saved_model(model, tmp_path / "export")
    served = load_generator(tmp_path / "export")
    np.testing.assert_allclose(np.asarray(served.generate(z)), np.asarray(model.generate(z)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(served.generate(z, steps=2)), np.asarray(model.generate(z, steps=2)),
                               atol=1e-5)
    for sampler in ("ddim", "ddpm", "dpmpp_2m"):  # the sampler is an argument of the exported endpoint
        expected = np.asarray(model.generate(z, steps=4, sampler=sampler))
        np.testing.assert_allclose(np.asarray(served.generate(z, steps=4, sampler=sampler)), expected, atol=1e-5)
    assert np.abs(np.asarray(served.generate(z, steps=4, sampler="dpmpp_2m"))
                  - np.asarray(served.generate(z, steps=4, sampler="ddim"))).max() > 1e-3
    with pytest.raises(Exception, match="sampler must be one of ddim, ddpm, dpmpp_2m"):
        served.generate(z, steps=4, sampler="euler")
    info = json.loads((tmp_path / "export" / "kzoo.json").read_text())
    assert info["sampling_steps"] == 3 and info["latent_dim"] == 64 and info["class"] == "DiffusionModel"
    assert info["sampler"] == "ddim" and info["samplers"] == ["ddim", "ddpm", "dpmpp_2m"]


def test_timestep_embedding_is_the_sinusoid():
    t = np.array([0.0, 1.0, 37.0], np.float32)
    got = np.asarray(TimestepEmbedding(8)(t))
    w = 10000.0 ** (-np.arange(4) / 4)
    np.testing.assert_allclose(got, np.concatenate([np.sin(t[:, None] * w), np.cos(t[:, None] * w)], 1), atol=1e-5)


@pytest.mark.parametrize("name", ["ddim_fashion", "ddim_emoji"])
def test_diffusion_presets_build_their_unet(name):
    """The preset's U-Net takes [x_t, t] at the data's shape and its output starts at zero (so the first loss is
    E[eps^2] = 1); `fit` itself is tested on the tiny design, and on the presets under the slow marker."""
    preset = presets.get(name)
    shape = (64, 64, 3) if name == "ddim_emoji" else (28, 28, 1)
    model = presets.build_model(preset, image_shape=shape, seed=0)
    assert isinstance(model, DiffusionModel) and model.image_shape == shape and model.pixel_range == (-1.0, 1.0)
    assert model.prediction == "epsilon" and model.sampling_steps == 50 and model.ema == 0.999
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    x0 = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype(np.float32)
    out = np.asarray(model.network([x0, np.array([3.0, 900.0], np.float32)]))
    assert out.shape == (2, *shape) and not out.any()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ddim_fashion", "ddim_emoji"])
def test_diffusion_presets_fit(name):
    shape = (64, 64, 3) if name == "ddim_emoji" else (28, 28, 1)
    model = presets.build_model(presets.get(name), image_shape=shape, seed=0)
    run_fit_test(model, np.zeros((2, *shape), np.float32), batch_size=2)


def test_diffusion_settings_are_checked():
    with pytest.raises(ValueError, match="model.prediction: unknown value 'x0'; choose one of epsilon, v"):
        presets.apply_settings(presets.get("ddim_fashion"), ["model.prediction=x0"])
    with pytest.raises(ValueError, match="model.sampling_steps: at most the 1000 timesteps"):
        presets.apply_settings(presets.get("ddim_fashion"), ["model.sampling_steps=2000"])
    model = tiny_model()
    model.compile()
    with pytest.raises(ValueError, match="DiffusionModel is unconditional and takes images only"):
        model.fit(np.zeros((2, 8, 8, 1), np.float32), np.zeros(2), verbose=0)
    with pytest.raises(ValueError, match=r"DiffusionModel got images of shape \(9, 9, 1\), but its network takes"):
        model.fit(np.zeros((2, 9, 9, 1), np.float32), verbose=0)


@pytest.mark.slow
def test_mixed_float16_computes_in_float16_with_float32_loss_and_images():
    from kzoo import distribute
    previous = keras.config.dtype_policy()
    try:
        distribute.set_precision("mixed_float16")
        model = tiny_model(sampling_steps=2)
        model.compile()
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.network.get_layer("prediction").compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(np.zeros((4, 8, 8, 1), np.float32), batch_size=4, verbose=0).history
    assert np.isfinite(history["loss"][-1])
    assert model.generate(np.zeros((2, 64), np.float32)).dtype == "float32"


def test_the_sampler_table_refuses_a_bad_setting_before_any_work_and_keeps_the_models_own():
    """`compare_samplers` checks every setting with the model before it computes anything (no statistics, no
    Inception pass), and leaves the model's own sampler and steps; bad SAMPLER:STEPS text is refused."""
    from kzoo.metrics import samplers
    model = DiffusionModel(linear_denoiser((28, 28, 1)), ema=None, seed=0, sampling_steps=4)
    with pytest.raises(ValueError, match="sampler"):
        samplers.compare_samplers(model, [("dpmpp_2m", 3), ("nonsense", 3)], num_samples=10, progress=False)
    assert (model.sampler, model.sampling_steps) == ("ddim", 4)
    assert samplers.parse_sampler_settings("ddim:50, dpmpp_2m:10") == [("ddim", 50), ("dpmpp_2m", 10)]
    for text in ("ddim", "ddim:0", "ddim:x", " , "):
        with pytest.raises(ValueError, match="SAMPLER:STEPS"):
            samplers.parse_sampler_settings(text)


@pytest.mark.slow  # 20 s (five Inception passes); the refusals and parsing are in the default suite
def test_the_sampler_table_gives_each_setting_the_fid_kzoo_evaluate_gives(tmp_path, monkeypatch):
    """`compare_samplers` (tools/sampler_table.py): per setting, the statistics `kzoo evaluate` gets from the model
    set to that sampler and step count (same noise, same network), one network evaluation per step, the model's
    own settings kept; the tool records the same rows. The distance of
    two statistics is a cheap stand-in here (the Frechet distance of 2048-d statistics takes seconds; its formula
    is checked against scipy in tests/test_inception.py), the same in both paths."""
    import json
    import warnings

    from helpers import load_script

    from kzoo.metrics import evaluate, evaluate_model, samplers

    def distance(a, b):
        return float(np.sum((a.mean - b.mean) ** 2) + np.trace(a.covariance) - np.trace(b.covariance))

    for module in (evaluate, samplers):
        monkeypatch.setattr(module, "statistics_distance", distance)
    model = DiffusionModel(linear_denoiser((28, 28, 1)), ema=None, seed=0, sampling_steps=4)
    model.compile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 10 images: the small-N bias warning
        rows = samplers.compare_samplers(model, [("ddim", 2), ("dpmpp_2m", 3)], num_samples=10, progress=False)
        assert (model.sampler, model.sampling_steps) == ("ddim", 4)
        assert [(r["sampler"], r["steps"], r["network_evaluations_per_image"]) for r in rows] == [
            ("ddim", 2, 2), ("dpmpp_2m", 3, 3)]
        assert all(r["sampling_s"] > 0 for r in rows) and rows[0]["fid"] != rows[1]["fid"]
        model.set_sampling(sampler="dpmpp_2m", steps=3)
        evaluated = evaluate_model(model, "fashion_mnist", ("fid",), num_samples=10, progress=False)
        assert rows[1]["fid"] == pytest.approx(evaluated["fid"], rel=1e-6)
        model.set_sampling(sampler="ddim", steps=4)
        model.save(tmp_path / "linear.keras")
        path = load_script("tools/sampler_table.py").main(
            [str(tmp_path / "linear.keras"), "--num-samples", "10", "--settings", "ddim:2"], results_dir=tmp_path)
    record = json.loads(path.read_text())
    assert path.name == "sampler_table_linear.json" and record["protocol"]["num_generated"] == 10
    assert record["results"]["rows"][0]["fid"] == pytest.approx(rows[0]["fid"], rel=1e-6)
    render_docs = load_script("tools/render_docs.py")
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    table = render_docs.render_spec("@sampler_table:linear")
    assert f"| `ddim` | 2 | 2 | **{record['results']['rows'][0]['fid']:.2f}** |" in table and "10 vs 10 test" in table
