"""Diffusion models (Ho et al. 2020) trained with `fit`, sampled with DDPM or DDIM (Song et al. 2021).

Training: for a batch of images x_0, draw a timestep t uniformly from 0 .. T-1 and noise eps ~ N(0, I) per image,
form ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`` (the closed form of q(x_t | x_0)), and regress the
network's output on eps (noise prediction) or on ``v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0``
(v-prediction, Salimans & Ho 2022) with a mean squared error.

Sampling: from x_T ~ N(0, I), visit `steps` timesteps ``tau_i = floor((i + 1) T / steps) - 1`` downwards; at each,
predict x_0 and eps, then
``x_prev = sqrt(alpha_bar_prev) x0 + sqrt(1 - alpha_bar_prev - sigma^2) eps + sigma z`` with
``sigma = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) sqrt(1 - alpha_bar / alpha_bar_prev)`` (Song et al. 2021,
eq. 12 and 16). eta = 0 is
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
from kzoo.models.samplers import SAMPLERS, Samplers, check_eta, check_sampler, check_steps
from kzoo.models.serialization import from_config_with_submodels, serialize_submodels

PREDICTIONS = ("epsilon", "v")
LOSS_WEIGHTINGS = ("none", "min_snr")


@keras.saving.register_keras_serializable(package="kzoo")
class DiffusionModel(CheckedInputs, Samplers, keras.Model):
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
        self.sampling_steps = check_steps(sampling_steps, self.timesteps)
        self.eta = check_eta(eta)
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
        # In float64 first: 1 - alpha_bar in float32 loses digits.
        self.snrs = tf.constant(alpha_bars / (1.0 - alpha_bars), tf.float32)
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

    def diffuse(self, x0, t, eps):
        """x_t drawn from q(x_t | x_0) with the given noise: ``sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``."""
        alpha_bar = self._alpha_bar(t)
        return ops.sqrt(alpha_bar) * x0 + ops.sqrt(1.0 - alpha_bar) * eps

    def target(self, x0, t, eps):
        """What the network is trained to output: eps, or v."""
        if self.prediction == "epsilon":
            return eps
        alpha_bar = self._alpha_bar(t)
        return ops.sqrt(alpha_bar) * eps - ops.sqrt(1.0 - alpha_bar) * x0

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
            steps = check_steps(steps, self.timesteps)
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
            self.sampling_steps = check_steps(steps, self.timesteps)

    def sample(self, num_images, seed=None, steps=None, eta=None, sampler=None):
        z = keras.random.normal((num_images, self.latent_dim), seed=seed if seed is not None else self.seed_generator)
        return self.generate(z, steps=steps, eta=eta, seed=seed if isinstance(seed, int) else None, sampler=sampler)

    def invert(self, images, steps=None):
        """DDIM inversion: the starting noise (``[N, latent_dim]``) from which `generate(z, steps, eta=0)` gives
        back `images`, by running the deterministic sampler's steps in reverse (exact up to the discretisation:
        more steps, closer). Use a v-prediction model for this: under noise prediction, the top step of a schedule
        whose last alpha_bar is ~0 (cosine: 2.4e-9) divides the noise estimate's error by sqrt(alpha_bar) and the
        image is lost; v-prediction stays well-conditioned there (Salimans & Ho 2022)."""
        steps = check_steps(self.sampling_steps if steps is None else steps, self.timesteps)
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
