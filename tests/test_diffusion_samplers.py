"""The diffusion samplers against closed forms and independent numpy transcriptions.

The exact oracle: for data x0 ~ N(mu, s^2 I) and x_t = alpha x0 + sigma eps, the optimal denoiser is known,
``E[x0 | x_t] = mu + alpha s^2 (x_t - alpha mu) / (alpha^2 s^2 + sigma^2)`` (and the matching eps and v). Driven by it,
every deterministic sampler is an affine map ``x_T -> a x_T + b`` of its starting noise, so the mean (b) and standard
deviation (|a|) of its output are known for its step sequence; an exact ODE solution gives (mu, s) themselves.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.models import DiffusionModel, schedules
from kzoo.models.diffusion import SAMPLERS

MU, S = 0.3, 0.2
SHAPE = (4, 4, 1)


def log_snr_half_table(schedule):
    ab = schedule.alpha_bars()
    return 0.5 * (np.log(ab) - np.log1p(-ab))


@keras.saving.register_keras_serializable(package="kzoo_tests")
class GaussianOracle(keras.layers.Layer):
    """The optimal network for x0 ~ N(mu, s^2): eps or v at real-valued t, lambda interpolated linearly between
    integer timesteps (the continuous schedule the samplers use)."""

    def __init__(self, table, mu, s, prediction, **kwargs):
        super().__init__(**kwargs)
        self.table, self.mu, self.s, self.prediction = list(table), float(mu), float(s), prediction

    def call(self, inputs):
        x_t, t = inputs
        table = tf.constant(self.table, tf.float32)
        t = tf.clip_by_value(tf.cast(t, tf.float32), 0.0, len(self.table) - 1.0)
        low = tf.minimum(tf.cast(tf.floor(t), tf.int32), len(self.table) - 2)
        share = t - tf.cast(low, tf.float32)
        lam = (1 - share) * tf.gather(table, low) + share * tf.gather(table, low + 1)
        lam = tf.reshape(lam, (-1, 1, 1, 1))
        alpha, sigma = tf.sqrt(tf.sigmoid(2 * lam)), tf.sqrt(tf.sigmoid(-2 * lam))
        denominator = alpha ** 2 * self.s ** 2 + sigma ** 2
        eps = sigma * (x_t - alpha * self.mu) / denominator
        x0 = self.mu + alpha * self.s ** 2 * (x_t - alpha * self.mu) / denominator
        return eps if self.prediction == "epsilon" else alpha * eps - sigma * x0


def oracle_model(prediction="v", schedule="cosine"):
    schedule = schedules.get(schedule)
    x_t, t = keras.Input(SHAPE), keras.Input(())
    network = keras.Model([x_t, t], GaussianOracle(log_snr_half_table(schedule), MU, S, prediction)([x_t, t]))
    # No clipping: the oracle's samplers are then exactly affine in the starting noise.
    return DiffusionModel(network, schedule=schedule, prediction=prediction, ema=None, seed=0, clip_denoised=False)


def oracle_x0(x, alpha, sigma):
    return MU + alpha * S ** 2 * (x - alpha * MU) / (alpha ** 2 * S ** 2 + sigma ** 2)


def numpy_dpm_solver_2m(x, table, steps, denoise):
    """DPM-Solver++(2M), Lu et al. 2022 Algorithm 2, in float64: points uniform in lambda from t = T-1 to t = 0
    (times by inverting the piecewise-linear lambda), second order from the second step, the last point's x0
    prediction returned. `denoise(x, t, alpha, sigma)` is the data prediction."""
    lam = np.linspace(table[-1], table[0], steps)
    times = np.interp(-lam, -table, np.arange(len(table), dtype=np.float64))
    alpha, sigma = np.sqrt(1 / (1 + np.exp(-2 * lam))), np.sqrt(1 / (1 + np.exp(2 * lam)))
    previous = None
    for i in range(steps):
        x0 = denoise(x, times[i], alpha[i], sigma[i])
        if i == steps - 1:
            return x0
        h = lam[i + 1] - lam[i]
        if previous is None:
            d = x0
        else:
            r = (lam[i] - lam[i - 1]) / h
            d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * previous
        x = sigma[i + 1] / sigma[i] * x - alpha[i + 1] * np.expm1(-h) * d
        previous = x0


def numpy_ddim_oracle(x, alpha_bars, steps):
    """Deterministic DDIM at kzoo's timesteps floor((i + 1) T / steps) - 1 with the exact oracle, in float64."""
    T = len(alpha_bars)
    times = [(i + 1) * T // steps - 1 for i in range(steps)]
    for i in reversed(range(steps)):
        ab = alpha_bars[times[i]]
        ab_prev = alpha_bars[times[i - 1]] if i > 0 else 1.0
        alpha, sigma = math.sqrt(ab), math.sqrt(1 - ab)
        x0 = oracle_x0(x, alpha, sigma)
        eps = (x - alpha * x0) / sigma
        x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
    return x


def affine_map(sampler):
    """(a, b) of x_T -> a x_T + b."""
    b = sampler(0.0)
    return sampler(1.0) - b, b


def dpm_affine(steps, schedule="cosine"):
    table = log_snr_half_table(schedules.get(schedule))
    return affine_map(lambda x: numpy_dpm_solver_2m(x, table, steps, lambda x, t, a, s: oracle_x0(x, a, s)))


def ddim_affine(steps, schedule="cosine"):
    alpha_bars = schedules.get(schedule).alpha_bars()
    return affine_map(lambda x: numpy_ddim_oracle(x, alpha_bars, steps))


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
@pytest.mark.parametrize("sampler,steps", [("dpmpp_2m", 5), ("dpmpp_2m", 10), ("dpmpp_2m", 20), ("ddim", 10),
                                           ("ddim", 20)])
def test_samplers_driven_by_the_oracle_return_the_closed_form_moments(sampler, steps, prediction):
    model = oracle_model(prediction)
    z = np.random.default_rng(steps).standard_normal((4000, int(np.prod(SHAPE)))).astype(np.float32)
    images = np.asarray(model.generate(z, steps=steps, sampler=sampler)).reshape(len(z), -1)
    a, b = dpm_affine(steps) if sampler == "dpmpp_2m" else ddim_affine(steps)
    # The output is a z + b per pixel (no clipping), so this holds draw by draw, not only in distribution.
    np.testing.assert_allclose(images, a * z + b, atol=2e-4 if prediction == "v" else 2e-3)
    n = images.size
    assert abs(images.mean() - b) < 5 * abs(a) / math.sqrt(n)
    assert images.std() == pytest.approx(abs(a), rel=5 * math.sqrt(0.5 / n))


def test_dpm_solver_converges_at_second_order_and_ddim_at_first():
    """The error of the output's standard deviation against the data's s: once in its asymptotic range (from about
    20 steps on this schedule), DPM-Solver++(2M) shrinks it three to six times when the steps double, DDIM about
    twice; and at every step count DPM-Solver++ is the closer, by at least half."""
    dpm = {n: abs(dpm_affine(n)[0] - S) for n in (5, 10, 20, 40, 80)}
    ddim = {n: abs(ddim_affine(n)[0] - S) for n in (5, 10, 20, 40, 80)}
    for n in (20, 40):
        assert 3.0 < dpm[n] / dpm[2 * n] < 6.0, dpm
        assert 1.7 < ddim[n] / ddim[2 * n] < 2.3, ddim
    assert all(dpm[n] < ddim[n] / 1.9 for n in dpm), (dpm, ddim)
    # Both samplers keep the mean (the oracle's x0 is exact at the mean).
    assert abs(dpm_affine(10)[1] - MU) < 1e-5 and abs(ddim_affine(10)[1] - MU) < 1e-5
    # The DDIM figures this test was designed against (cosine schedule, std at 10 / 20 / 50 steps).
    assert [ddim_affine(n)[0] for n in (10, 20, 50)] == pytest.approx([0.1405, 0.1680, 0.1864], abs=3e-4)


def test_dpm_solver_points_are_uniform_in_lambda_distinct_and_invert_the_schedule():
    model = oracle_model()
    table = log_snr_half_table(model.schedule)
    for steps in (1, 2, 10, 25, 200, 1000):
        times, lam = (np.asarray(v, np.float64) for v in model.solver_points(steps))
        assert len(times) == steps and times[0] == pytest.approx(999, abs=1e-3)
        if steps > 1:
            assert times[-1] == pytest.approx(0, abs=1e-3)
            assert np.all(np.diff(times) < 0), "the points must be distinct and descending"
            np.testing.assert_allclose(np.diff(lam), (table[0] - table[-1]) / (steps - 1), rtol=1e-4)
        np.testing.assert_allclose(np.asarray(model.log_snr_half(times)), lam, atol=2e-4)
    # Between integers lambda is linear: halfway is the mean of its neighbours.
    assert float(model.log_snr_half(tf.constant([10.5]))[0]) == pytest.approx((table[10] + table[11]) / 2, rel=1e-5)


def test_dpm_solver_equals_the_numpy_transcription_on_a_small_network():
    """On a fixed random network (not an oracle), with clipping: the compiled loop against the paper's algorithm."""
    keras.utils.set_random_seed(3)
    from kzoo.networks import build_diffusion_network
    network = build_diffusion_network("unet_tiny", (8, 8, 1))
    layer = network.get_layer("prediction")
    layer.kernel.assign(np.random.default_rng(3).normal(0, 0.05, layer.kernel.shape).astype("float32"))
    model = DiffusionModel(network, prediction="v", ema=None, seed=0)
    table = log_snr_half_table(model.schedule)
    z = np.random.default_rng(4).standard_normal((3, 64)).astype(np.float32)

    def denoise(x, t, alpha, sigma):
        v = np.asarray(network([x.astype(np.float32), np.full(len(x), t, np.float32)]), np.float64)
        return np.clip(alpha * x - sigma * v, -1, 1)

    for steps in (1, 2, 7, 15):
        expected = numpy_dpm_solver_2m(z.reshape(3, 8, 8, 1).astype(np.float64), table, steps, denoise)
        got = np.asarray(model.generate(z, steps=steps, sampler="dpmpp_2m"))
        np.testing.assert_allclose(got, expected, atol=2e-4)


def test_ddpm_with_noise_equals_a_numpy_transcription_with_the_same_noise():
    """eta = 1 (the "ddpm" sampler) at 2 steps and at every timestep of a short schedule: each step adds
    sigma z with sigma = sqrt((1 - ab_prev) / (1 - ab)) sqrt(1 - ab / ab_prev), z the sampler's noise of that step."""
    schedule = schedules.CosineSchedule(40)
    x_t, t = keras.Input(SHAPE), keras.Input(())
    oracle = keras.Model([x_t, t], GaussianOracle(log_snr_half_table(schedule), MU, S, "v")([x_t, t]))
    model = DiffusionModel(oracle, schedule=schedule, prediction="v", ema=None, seed=0, clip_denoised=False,
                           sampling_steps=10)
    ab = schedule.alpha_bars()
    z = np.random.default_rng(5).standard_normal((6, 16)).astype(np.float32)
    for steps in (2, 40):
        seed = 11
        key = tf.constant([seed, 1], tf.int64)
        times = [(i + 1) * 40 // steps - 1 for i in range(steps)]
        x = z.reshape(6, *SHAPE).astype(np.float64)
        for i in reversed(range(steps)):
            a, a_prev = ab[times[i]], (ab[times[i - 1]] if i > 0 else 1.0)
            x0 = oracle_x0(x, math.sqrt(a), math.sqrt(1 - a))
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
            sigma = math.sqrt((1 - a_prev) / (1 - a)) * math.sqrt(1 - a / a_prev)
            noise = np.asarray(tf.random.stateless_normal(x.shape, tf.random.experimental.stateless_fold_in(key, i)))
            x = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma ** 2, 0)) * eps + sigma * noise
        got = np.asarray(model.generate(z, steps=steps, sampler="ddpm", seed=seed))
        np.testing.assert_allclose(got, x, atol=2e-4)
        # The noise matters: without it (DDIM) the result is another.
        assert np.abs(got - np.asarray(model.generate(z, steps=steps, sampler="ddim"))).max() > 0.05


def test_v_prediction_sampling_agrees_with_an_independent_conversion():
    """x0 = alpha x_t - sigma v and eps = sigma x_t + alpha v, checked against the oracle's own x0 and eps."""
    model = oracle_model("v")
    x = np.random.default_rng(6).standard_normal((5, *SHAPE)).astype(np.float32)
    for t in (0, 250, 999):
        x0, eps = (np.asarray(v) for v in model.predict_start_and_noise(x, np.full(5, t), clip=False))
        ab = model.schedule.alpha_bars()[t]
        alpha, sigma = math.sqrt(ab), math.sqrt(1 - ab)
        expected_x0 = oracle_x0(x.astype(np.float64), alpha, sigma)
        np.testing.assert_allclose(x0, expected_x0, atol=5e-5)
        np.testing.assert_allclose(alpha * x0 + sigma * eps, x, atol=5e-5)  # x_t = alpha x0 + sigma eps


def test_ddim_inversion_converges_to_the_oracles_exact_flow_map_at_first_order():
    """Under the oracle, the probability-flow ODE maps x0 to ``alpha_T mu + sqrt(alpha_T^2 s^2 + sigma_T^2)
    (x0 - mu) / s`` at the top timestep. DDIM inversion is the ODE's first-order discretisation: its error against
    that map falls about fourfold when the steps grow fourfold (3.9 measured), and sampling the inverted noise with
    the same steps gives the images back (within a tenth of s at 100 steps)."""
    model = oracle_model("v")
    alpha_bar_top = model.schedule.alpha_bars()[-1]
    alpha, sigma = math.sqrt(alpha_bar_top), math.sqrt(1 - alpha_bar_top)
    x0 = (MU + S * np.random.default_rng(0).standard_normal((256,) + SHAPE)).astype(np.float32)
    exact = alpha * MU + math.sqrt(alpha ** 2 * S ** 2 + sigma ** 2) * (x0 - MU) / S

    def inversion_and_round_trip(steps):
        z = np.asarray(model.invert(x0, steps=steps))
        back = np.asarray(model.generate(z, steps=steps, sampler="ddim"))
        return (np.sqrt(np.mean((z.reshape(x0.shape) - exact) ** 2)),
                np.sqrt(np.mean((back - x0) ** 2)))

    (coarse, _), (fine, round_trip) = inversion_and_round_trip(25), inversion_and_round_trip(100)
    assert fine < 0.05 and 3 < coarse / fine < 5, (coarse, fine)
    assert round_trip < S / 10, round_trip


def test_sampler_choice_is_checked_and_a_string_tensor_selects_the_same_sampler():
    model = oracle_model()
    z = np.random.default_rng(7).standard_normal((2, 16)).astype(np.float32)
    for name in SAMPLERS:
        by_tensor = np.asarray(tf.function(lambda z, s: model.generate(z, tf.constant(6), seed=3, sampler=s))(
            z, tf.constant(name)))
        np.testing.assert_allclose(by_tensor, np.asarray(model.generate(z, steps=6, seed=3, sampler=name)), atol=1e-5)
    with pytest.raises(ValueError, match="sampler must be one of ddim, ddpm, dpmpp_2m, got 'euler'"):
        model.generate(z, steps=4, sampler="euler")
    with pytest.raises(ValueError, match="eta is DDIM's noise scale; the dpmpp_2m sampler takes none"):
        model.generate(z, steps=4, sampler="dpmpp_2m", eta=0.5)


def test_the_command_line_lists_the_models_samplers():
    from kzoo.cli import SAMPLER_CHOICES
    assert SAMPLER_CHOICES == SAMPLERS
