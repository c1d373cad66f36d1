"""The samplers of `kzoo.models.DiffusionModel`, each one compiled `tf.while_loop`: DDIM / DDPM (Song et al.
2021, Ho et al. 2020), DPM-Solver++(2M) (Lu et al. 2022) and DDIM inversion. The mathematics is in
`kzoo.models.diffusion`'s docstring; a model that mixes `Samplers` in provides ``alpha_bars``, ``log_snr_halves``,
``timesteps``, ``prediction``, ``pixel_range``, ``clip_denoised`` and ``sampling_network``.
"""

import numpy as np
import tensorflow as tf
from keras import ops

# "ddim": deterministic with eta 0 (the model's `eta` otherwise); "ddpm": ancestral (eta 1); "dpmpp_2m":
# DPM-Solver++(2M). Each makes `steps` network evaluations per image.
SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")


class Samplers:
    """The sampling loops and the noise-schedule arithmetic they share."""

    def _alpha_bar(self, t):
        """alpha_bar at integer timesteps `t` ([B]) as [B, 1, 1, 1]; t = -1 is the clean image (alpha_bar 1)."""
        t = ops.cast(t, "int32")
        values = ops.take(self.alpha_bars, ops.maximum(t, 0))
        values = ops.where(t < 0, ops.ones_like(values), values)
        return ops.reshape(values, (-1, 1, 1, 1))

    def timestep_sequence(self, steps):
        """The `steps` timesteps a sampler visits, ascending: ``floor((i + 1) T / steps) - 1``, ending at T - 1."""
        steps = tf.cast(steps, tf.int64)
        i = tf.range(1, steps + 1, dtype=tf.int64)
        return tf.cast(i * self.timesteps // steps - 1, tf.int32)

    def predict_start_and_noise(self, x_t, t, network=None, clip=None):
        """`(x0_hat, eps_hat)` from the network's output at (x_t, t) (integer timesteps, [B]; -1 is the clean
        image); x0_hat clipped to the pixel range when `clip` (default `clip_denoised`)."""
        t = ops.cast(t, "int32")
        alpha_bar = self._alpha_bar(t)
        x_t = ops.convert_to_tensor(x_t, "float32")
        return self._denoise(x_t, ops.cast(ops.maximum(t, 0), "float32"), ops.sqrt(alpha_bar),
                             ops.sqrt(1.0 - alpha_bar), network, clip)

    def _denoise(self, x_t, t, alpha, sigma, network=None, clip=None):
        """`(x0_hat, eps_hat)` at real-valued times `t` ([B]) where x_t = alpha x_0 + sigma eps."""
        network = network or self.sampling_network
        output = ops.cast(network([x_t, t], training=False), "float32")
        if self.prediction == "epsilon":
            eps = output
            x0 = (x_t - sigma * eps) / alpha
        else:
            x0 = alpha * x_t - sigma * output
            eps = sigma * x_t + alpha * output
        if self.clip_denoised if clip is None else clip:
            x0 = ops.clip(x0, *self.pixel_range)
        return x0, eps

    def log_snr_half(self, t):
        """lambda = log(alpha / sigma) at real-valued times `t` in [0, T-1]: the schedule's value at integer
        timesteps, linear in between."""
        t = tf.clip_by_value(tf.cast(t, tf.float32), 0.0, float(self.timesteps - 1))
        low = tf.minimum(tf.cast(tf.floor(t), tf.int32), self.timesteps - 2)
        share = t - tf.cast(low, tf.float32)
        return ((1.0 - share) * tf.gather(self.log_snr_halves, low)
                + share * tf.gather(self.log_snr_halves, low + 1))

    def time_at_log_snr_half(self, lam):
        """The real-valued time at which `log_snr_half` equals `lam` (its inverse; lambda decreases with t)."""
        lam = tf.cast(lam, tf.float32)
        table = self.log_snr_halves
        low = tf.searchsorted(-table, tf.reshape(-lam, [-1]), side="right") - 1
        low = tf.reshape(tf.clip_by_value(low, 0, self.timesteps - 2), tf.shape(lam))
        upper, lower = tf.gather(table, low), tf.gather(table, low + 1)
        t = tf.cast(low, tf.float32) + (upper - lam) / (upper - lower)
        return tf.clip_by_value(t, 0.0, float(self.timesteps - 1))

    def solver_points(self, steps):
        """DPM-Solver++'s `steps` evaluation points, noisiest first: ``(t, lambda)``, lambda uniform from its value
        at T-1 to its value at 0 (Lu et al. 2022 for few steps in pixel space), t real-valued."""
        lam = tf.linspace(self.log_snr_halves[-1], self.log_snr_halves[0], tf.cast(steps, tf.int32))
        return self.time_at_log_snr_half(lam), lam

    def _sample_loop(self, x, steps, eta, key):
        times = self.timestep_sequence(steps)
        batch = tf.shape(x)[0]

        def body(i, x):
            t = tf.fill([batch], times[i])
            t_prev = tf.fill([batch], tf.where(i > 0, times[tf.maximum(i - 1, 0)], -1))
            alpha_bar, alpha_bar_prev = self._alpha_bar(t), self._alpha_bar(t_prev)
            x0, eps = self.predict_start_and_noise(x, t)
            sigma = (eta * tf.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar))
                     * tf.sqrt(tf.maximum(1.0 - alpha_bar / alpha_bar_prev, 0.0)))
            direction = tf.sqrt(tf.maximum(1.0 - alpha_bar_prev - sigma ** 2, 0.0)) * eps
            z = tf.random.stateless_normal(tf.shape(x), tf.random.experimental.stateless_fold_in(key, i))
            return i - 1, tf.sqrt(alpha_bar_prev) * x0 + direction + sigma * z

        _, x = tf.while_loop(lambda i, x: i >= 0, body, (tf.size(times) - 1, x))
        return x

    def _dpm_solver_loop(self, x, steps):
        times, lam = self.solver_points(steps)
        alphas, sigmas = tf.sqrt(tf.sigmoid(2.0 * lam)), tf.sqrt(tf.sigmoid(-2.0 * lam))
        batch, last = tf.shape(x)[0], tf.size(times) - 1

        def body(i, x, x0_before):
            x0, _ = self._denoise(x, tf.fill([batch], times[i]), alphas[i], sigmas[i])
            following, previous = tf.minimum(i + 1, last), tf.maximum(i - 1, 0)
            h = tf.where(i < last, lam[following] - lam[i], 1.0)  # the step to the next point (none after the last)
            h_before = lam[i] - lam[previous]
            # Second order from the second step on: D = (1 + 1/(2r)) x0_i - 1/(2r) x0_{i-1}, r = h_{i-1} / h_i.
            direction = tf.where(i > 0, x0 + (x0 - x0_before) * (h / (2.0 * tf.where(i > 0, h_before, 1.0))), x0)
            stepped = (sigmas[following] / sigmas[i]) * x - alphas[following] * tf.math.expm1(-h) * direction
            return i + 1, tf.where(i < last, stepped, x0), x0

        _, x, _ = tf.while_loop(lambda i, *_: i <= last, body, (tf.constant(0), x, tf.zeros_like(x)))
        return x

    def _invert_loop(self, x, steps):
        times = self.timestep_sequence(steps)
        batch = tf.shape(x)[0]

        def body(i, x):
            t_prev = tf.fill([batch], tf.where(i > 0, times[tf.maximum(i - 1, 0)], -1))
            x0, eps = self.predict_start_and_noise(x, t_prev, clip=False)
            alpha_bar_next = self._alpha_bar(tf.fill([batch], times[i]))
            return i + 1, tf.sqrt(alpha_bar_next) * x0 + tf.sqrt(1.0 - alpha_bar_next) * eps

        _, x = tf.while_loop(lambda i, x: i < tf.size(times), body, (tf.constant(0), x))
        return x


def check_steps(steps, timesteps):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be an integer from 1 to the schedule's {timesteps} timesteps, "
                         f"got {steps!r}.")
    return int(steps)


def check_sampler(sampler):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    return sampler


def check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta (DDIM's noise scale) must be a number from 0 (deterministic) to 1 (DDPM), got {eta!r}.")
    return float(eta)
