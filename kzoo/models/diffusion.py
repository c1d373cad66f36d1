"""Diffusion models (Ho et al. 2020) trained with `fit`, sampled with DDPM or DDIM (Song et al. 2021).

Training: for a batch of images x_0, draw a timestep t uniformly from 0 .. T-1 and noise eps ~ N(0, I) per image,
form ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` (the closed form of q(x_t | x_0)), and regress the
network's output on eps (noise prediction) or on ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0``
(v-prediction, Salimans & Ho 2022) with a mean squared error.

Sampling: from x_T ~ N(0, I), visit `steps` timesteps ``tau_i = floor((i + 1) T / steps) - 1`` downwards; at each,
predict x_0 and eps, then
``x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z`` with
``sigma = eta sqrt((1 - ab_prev) / (1 - ab)) sqrt(1 - ab / ab_prev)`` (Song et al. 2021, eq. 12 and 16). eta = 0 is
DDIM (deterministic); eta = 1 with steps = T is DDPM's ancestral sampler with the posterior variance beta-tilde. The
whole loop is one compiled `tf.while_loop`, not one Python call per step.

DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2: multistep, second order, data prediction) solves the same
probability-flow ODE in fewer network evaluations. It works in the half log-SNR ``lambda = log(alpha / sigma)``
(``alpha = sqrt(alpha_bar)``, ``sigma = sqrt(1 - alpha_bar)``): with ``h_i = lambda_i - lambda_{i-1}``,
``x_i = (sigma_i / sigma_{i-1}) x_{i-1} - alpha_i expm1(-h_i) D_i``, where D is the x_0 prediction at the previous
point, corrected by the one before (``D = (1 + 1/(2r)) x0_{i-1} - 1/(2r) x0_{i-2}``, ``r = h_{i-1} / h_i``). Its
`steps` evaluation points are uniform in lambda from t = T-1 to t = 0, as the paper recommends for few steps in
pixel space; to keep them distinct at any number of steps they are real-valued times, at which lambda is the
linear interpolation of the schedule's lambda between integer timesteps (the network's timestep embedding takes
real t). As DDIM's, its output is the x_0 prediction at the last point.

Loss weighting: ``"min_snr"`` (Hang et al. 2023) weights each example's squared error by
``min(SNR_t, gamma) / (SNR_t + 1)`` for v-prediction (``min(SNR_t, gamma) / SNR_t`` for noise prediction), so the
nearly clean timesteps, easy and many, stop dominating the gradient.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kzoo import noise as knoise
from kzoo.distribute import step_logs
from kzoo.losses import scale_for_replicas
from kzoo.models import averaging, schedules
from kzoo.models.checks import CheckedInputs, check_image_batch, check_no_labels
from kzoo.models.serialization import from_config_with_submodels, serialize_submodels

PREDICTIONS = ("epsilon", "v")
LOSS_WEIGHTINGS = ("none", "min_snr")
# "ddim": deterministic with eta 0 (the model's `eta` otherwise); "ddpm": ancestral (eta 1); "dpmpp_2m":
# DPM-Solver++(2M). Each makes `steps` network evaluations per image.
SAMPLERS = ("ddim", "ddpm", "dpmpp_2m")


@keras.saving.register_keras_serializable(package="kzoo")
class DiffusionModel(CheckedInputs, keras.Model):
    """A denoising diffusion model: `fit` on images in `pixel_range`, `generate(z, steps)` from Gaussian noise.

    Args:
        network: a model ``[x_t, t] -> prediction`` with the images' shape (`kzoo.networks.build_diffusion_network`).
        schedule: a noise schedule (`"cosine"`, `"linear"`, a config dict or a `kzoo.models.schedules` object).
        prediction: what the network predicts, `"epsilon"` (the noise) or `"v"` (the velocity).
        ema: `None`, or the decay of the averaged copy of the network that samples (`averaged_network`, as the
            GANs' averaged generator: `kzoo.models.averaging`).
        seed: seed of the training noise (`kzoo.noise.StepNoise`: reproducible, resumable, replica-independent).
        sampling_steps: default number of sampling steps; eta: default DDIM eta (0 deterministic, 1 DDPM-like).
        clip_denoised: clip each step's x_0 prediction to `pixel_range` (as the published samplers do).
        loss_weighting: ``"none"`` (plain mean squared error) or ``"min_snr"`` (Min-SNR-gamma, Hang et al. 2023).
        min_snr_gamma: gamma of ``"min_snr"`` (5, the paper's).
        sampler: the default sampler of `generate` (`SAMPLERS`).

    `latent_dim` is the number of pixel values: `generate(z)` takes the starting noise flat (``[N, H*W*C]``) or
    image-shaped, so sample grids, FID and exports treat it like any other generator.
    """

    submodels = ("network",)
    interpolation = "spherical"  # between noise vectors: see `kzoo.visualize.spherical_path`

    def __init__(self, network, schedule="cosine", prediction="epsilon", ema=0.999, seed=None,
                 pixel_range=(-1.0, 1.0), sampling_steps=50, eta=0.0, clip_denoised=True, loss_weighting="none",
                 min_snr_gamma=5.0, sampler="ddim", **kwargs):
        super().__init__(**kwargs)
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}.")
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}, got {loss_weighting!r}.")
        if isinstance(min_snr_gamma, bool) or not isinstance(min_snr_gamma, (int, float)) or not min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma must be a number above 0 (the paper's is 5), got {min_snr_gamma!r}.")
        self.sampler = check_sampler(sampler)
        if len(network.inputs) != 2 or tuple(network.outputs[0].shape[1:]) != tuple(network.inputs[0].shape[1:]):
            raise ValueError(f"a diffusion network maps [x_t, t] to a prediction of x_t's shape; {network.name} has "
                             f"inputs {[tuple(i.shape) for i in network.inputs]} and output "
                             f"{tuple(network.outputs[0].shape)}.")
        self.schedule = schedules.get(schedule)
        self.timesteps = self.schedule.timesteps
        self.sampling_steps = _check_steps(sampling_steps, self.timesteps)
        self.eta = _check_eta(eta)
        self.prediction = prediction
        self.loss_weighting, self.min_snr_gamma = loss_weighting, float(min_snr_gamma)
        self.clip_denoised = bool(clip_denoised)
        self.network = network
        self.ema = averaging.check_decay(ema, "ema")
        self.averaged_network = averaging.averaged_copy(network) if self.ema is not None else None
        self.seed = knoise.resolve_seed(seed)
        self.pixel_range = tuple(float(v) for v in pixel_range)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        alpha_bars = self.schedule.alpha_bars()
        self.alpha_bars = tf.constant(alpha_bars, tf.float32)
        # lambda = log(alpha / sigma) at each integer timestep, computed in float64 (decreasing in t).
        self.log_snr_halves = tf.constant(0.5 * (np.log(alpha_bars) - np.log1p(-alpha_bars)), tf.float32)
        self.snrs = tf.constant(alpha_bars / (1.0 - alpha_bars), tf.float32)  # float64 first: 1 - ab loses digits
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._sampler = tf.function(self._sample_loop, reduce_retracing=True)
        self._solver = tf.function(self._dpm_solver_loop, reduce_retracing=True)
        self._inverter = tf.function(self._invert_loop, reduce_retracing=True)
        self.built = True

    @property
    def image_shape(self):
        return tuple(self.network.inputs[0].shape[1:])

    @property
    def latent_dim(self):
        return int(np.prod(self.image_shape))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, optimizer="auto", **kwargs):
        """`optimizer="auto"` is Adam(2e-4) (Ho et al. 2020); the loss is the model's own."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(2e-4)
        super().compile(optimizer=optimizer, **kwargs)
        # Optimizer variables now, in the caller's (strategy) scope, and so a `.keras` file's state can load.
        self.optimizer.build(self.network.trainable_variables)

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))

    # -- the forward process and the loss ----------------------------------------------------------

    def _alpha_bar(self, t):
        """alpha_bar at integer timesteps `t` ([B]) as [B, 1, 1, 1]; t = -1 is the clean image (alpha_bar 1)."""
        t = ops.cast(t, "int32")
        values = ops.take(self.alpha_bars, ops.maximum(t, 0))
        values = ops.where(t < 0, ops.ones_like(values), values)
        return ops.reshape(values, (-1, 1, 1, 1))

    def diffuse(self, x0, t, eps):
        """x_t drawn from q(x_t | x_0) with the given noise: ``sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps``."""
        ab = self._alpha_bar(t)
        return ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * eps

    def target(self, x0, t, eps):
        """What the network is trained to output: eps, or v."""
        if self.prediction == "epsilon":
            return eps
        ab = self._alpha_bar(t)
        return ops.sqrt(ab) * eps - ops.sqrt(1.0 - ab) * x0

    def loss_weight(self, t):
        """Each example's weight in the loss ([B]): 1, or Min-SNR-gamma's ``min(SNR, gamma) / (SNR + 1)`` for
        v-prediction and ``min(SNR, gamma) / SNR`` for noise prediction (Hang et al. 2023, eq. 11 and its v form),
        with ``SNR_t = alpha_bar_t / (1 - alpha_bar_t)``."""
        if self.loss_weighting == "none":
            return ops.ones(ops.shape(t), "float32")
        snr = ops.take(self.snrs, ops.cast(t, "int32"))
        clipped = ops.minimum(snr, self.min_snr_gamma)
        return clipped / (snr + 1.0) if self.prediction == "v" else clipped / snr

    def denoising_loss(self, x0, t, eps, network=None, training=False):
        """Mean squared error between the network's output at (x_t, t) and the target: over pixels, then the
        batch's mean weighted by `loss_weight`."""
        network = network or self.network
        x_t = self.diffuse(x0, t, eps)
        output = ops.cast(network([x_t, ops.cast(t, "float32")], training=training), "float32")
        per_example = ops.mean(ops.reshape(ops.square(output - self.target(x0, t, eps)), (ops.shape(x0)[0], -1)),
                               axis=1)
        return ops.mean(self.loss_weight(t) * per_example)

    def training_noise(self, batch, seed):
        """The timesteps (int32 [B], uniform on 0 .. T-1) and noise (images' shape) of a batch; `seed` is a
        `kzoo.noise.StepNoise` in `train_step`, the model's `SeedGenerator` in `test_step`."""
        u = ops.reshape(knoise.uniform((batch,), seed), (-1,))
        t = ops.minimum(ops.cast(ops.floor(u * self.timesteps), "int32"), self.timesteps - 1)
        eps = knoise.normal((batch,) + self.image_shape, seed)
        return t, eps

    def _check_batch(self, images, labels):
        check_no_labels(labels, type(self).__name__)
        check_image_batch(images, self.image_shape, type(self).__name__, "network")

    def train_step(self, data):
        x0, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(x0, labels)
        x0 = ops.cast(x0, "float32")
        t, eps = self.training_noise(ops.shape(x0)[0], knoise.StepNoise(self.seed, self.optimizer.iterations))
        with tf.GradientTape() as tape:
            loss = self.denoising_loss(x0, t, eps, training=True)
            scaled = self.optimizer.scale_loss(scale_for_replicas(loss))
        grads = tape.gradient(scaled, self.network.trainable_variables)
        self.optimizer.apply(grads, self.network.trainable_variables)
        if self.averaged_network is not None:
            averaging.update_average(self.averaged_network, self.network, self.optimizer.iterations, self.ema)
        self.loss_tracker.update_state(loss)
        return step_logs(self.metrics)

    def test_step(self, data):
        x0, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(x0, labels)
        x0 = ops.cast(x0, "float32")
        t, eps = self.training_noise(ops.shape(x0)[0], self.seed_generator)
        self.loss_tracker.update_state(self.denoising_loss(x0, t, eps, network=self.sampling_network))
        return step_logs(self.metrics)

    # -- sampling -----------------------------------------------------------------------------------

    @property
    def sampling_network(self):
        return self.averaged_network if self.averaged_network is not None else self.network

    def timestep_sequence(self, steps):
        """The `steps` timesteps a sampler visits, ascending: ``floor((i + 1) T / steps) - 1``, ending at T - 1."""
        steps = tf.cast(steps, tf.int64)
        i = tf.range(1, steps + 1, dtype=tf.int64)
        return tf.cast(i * self.timesteps // steps - 1, tf.int32)

    def predict_start_and_noise(self, x_t, t, network=None, clip=None):
        """`(x0_hat, eps_hat)` from the network's output at (x_t, t) (integer timesteps, [B]; -1 is the clean
        image); x0_hat clipped to the pixel range when `clip` (default `clip_denoised`)."""
        t = ops.cast(t, "int32")
        ab = self._alpha_bar(t)
        x_t = ops.convert_to_tensor(x_t, "float32")
        return self._denoise(x_t, ops.cast(ops.maximum(t, 0), "float32"), ops.sqrt(ab), ops.sqrt(1.0 - ab),
                             network, clip)

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
            ab, ab_prev = self._alpha_bar(t), self._alpha_bar(t_prev)
            x0, eps = self.predict_start_and_noise(x, t)
            sigma = eta * tf.sqrt((1.0 - ab_prev) / (1.0 - ab)) * tf.sqrt(tf.maximum(1.0 - ab / ab_prev, 0.0))
            direction = tf.sqrt(tf.maximum(1.0 - ab_prev - sigma ** 2, 0.0)) * eps
            z = tf.random.stateless_normal(tf.shape(x), tf.random.experimental.stateless_fold_in(key, i))
            return i - 1, tf.sqrt(ab_prev) * x0 + direction + sigma * z

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

    def _as_images(self, z):
        z = tf.convert_to_tensor(z, tf.float32)
        return tf.reshape(z, tf.concat([tf.shape(z)[:1], self.image_shape], axis=0))

    def generate(self, z, steps=None, eta=None, seed=None, sampler=None):
        """Images in `pixel_range` from starting noise `z` (``[N, latent_dim]`` or ``[N, H, W, C]``) in `steps`
        network evaluations per image (default `sampling_steps`) with `sampler` (default the model's: `SAMPLERS`):
        ``"ddim"`` with DDIM's `eta` (default `eta`; eta > 0 adds fresh noise drawn from `seed`, an int, default
        the model's), ``"ddpm"`` (eta 1; with steps = T, Ho et al.'s sampler) or ``"dpmpp_2m"``
        (DPM-Solver++(2M), deterministic). `sampler` may be a string tensor (the SavedModel's argument)."""
        steps = self.sampling_steps if steps is None else steps
        if not tf.is_tensor(steps):
            steps = _check_steps(steps, self.timesteps)
        steps = tf.clip_by_value(tf.cast(steps, tf.int32), 1, self.timesteps)
        key = tf.constant([self.seed if seed is None else int(seed), 1], tf.int64)
        images = self._as_images(z)
        sampler = self.sampler if sampler is None else sampler
        if eta is not None and not tf.is_tensor(sampler) and sampler != "ddim":
            raise ValueError(f"eta is DDIM's noise scale; the {sampler} sampler takes none.")
        ddim_eta = tf.cast(self.eta if eta is None else eta, tf.float32)
        runs = {"ddim": lambda: self._sampler(images, steps, ddim_eta, key),
                "ddpm": lambda: self._sampler(images, steps, tf.constant(1.0), key),
                "dpmpp_2m": lambda: self._solver(images, steps)}
        if not tf.is_tensor(sampler):
            return runs[check_sampler(sampler)]()
        known = tf.equal(tf.constant(SAMPLERS), sampler)
        with tf.control_dependencies([tf.debugging.Assert(tf.reduce_any(known), [
                "sampler must be one of " + ", ".join(SAMPLERS) + "; got", sampler])]):
            index = tf.argmax(tf.cast(known, tf.int32), output_type=tf.int32)
        return tf.switch_case(index, [runs[name] for name in SAMPLERS])

    def set_sampling(self, sampler=None, steps=None):
        """Change the default sampler and number of steps of `generate(z)` (what FID and the other metrics use)."""
        if sampler is not None:
            self.sampler = check_sampler(sampler)
        if steps is not None:
            self.sampling_steps = _check_steps(steps, self.timesteps)

    def sample(self, num_images, seed=None, steps=None, eta=None, sampler=None):
        z = keras.random.normal((num_images, self.latent_dim), seed=seed if seed is not None else self.seed_generator)
        return self.generate(z, steps=steps, eta=eta, seed=seed if isinstance(seed, int) else None, sampler=sampler)

    def _invert_loop(self, x, steps):
        times = self.timestep_sequence(steps)
        batch = tf.shape(x)[0]

        def body(i, x):
            t_prev = tf.fill([batch], tf.where(i > 0, times[tf.maximum(i - 1, 0)], -1))
            x0, eps = self.predict_start_and_noise(x, t_prev, clip=False)
            ab_next = self._alpha_bar(tf.fill([batch], times[i]))
            return i + 1, tf.sqrt(ab_next) * x0 + tf.sqrt(1.0 - ab_next) * eps

        _, x = tf.while_loop(lambda i, x: i < tf.size(times), body, (tf.constant(0), x))
        return x

    def invert(self, images, steps=None):
        """DDIM inversion: the starting noise (``[N, latent_dim]``) from which `generate(z, steps, eta=0)` gives
        back `images`, by running the deterministic sampler's steps in reverse (exact up to the discretisation:
        more steps, closer). Use a v-prediction model for this: under noise prediction, the top step of a schedule
        whose last alpha_bar is ~0 (cosine: 2.4e-9) divides the noise estimate's error by sqrt(alpha_bar) and the
        image is lost; v-prediction stays well-conditioned there (Salimans & Ho 2022)."""
        steps = _check_steps(self.sampling_steps if steps is None else steps, self.timesteps)
        x = self._inverter(self._as_images(images), tf.constant(steps, tf.int32))
        return tf.reshape(x, (-1, self.latent_dim))

    def call(self, z, training=False):
        return self.generate(z)

    # -- serialization ------------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(serialize_submodels(self, self.submodels))
        config.update({"schedule": schedules.serialize(self.schedule), "prediction": self.prediction, "ema": self.ema,
                       "seed": self.seed, "pixel_range": list(self.pixel_range),
                       "sampling_steps": self.sampling_steps, "eta": self.eta, "clip_denoised": self.clip_denoised,
                       "loss_weighting": self.loss_weighting, "min_snr_gamma": self.min_snr_gamma,
                       "sampler": self.sampler})
        return config

    @classmethod
    def from_config(cls, config):
        return from_config_with_submodels(cls, config, cls.submodels)


def _check_steps(steps, timesteps):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be an integer from 1 to the schedule's {timesteps} timesteps, "
                         f"got {steps!r}.")
    return int(steps)


def check_sampler(sampler):
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    return sampler


def _check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta (DDIM's noise scale) must be a number from 0 (deterministic) to 1 (DDPM), got {eta!r}.")
    return float(eta)
