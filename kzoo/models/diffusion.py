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

    `latent_dim` is the number of pixel values: `generate(z)` takes the starting noise flat (``[N, H*W*C]``) or
    image-shaped, so sample grids, FID and exports treat it like any other generator.
    """

    submodels = ("network",)
    interpolation = "spherical"  # between noise vectors: see `kzoo.visualize.spherical_path`

    def __init__(self, network, schedule="cosine", prediction="epsilon", ema=0.999, seed=None,
                 pixel_range=(-1.0, 1.0), sampling_steps=50, eta=0.0, clip_denoised=True, **kwargs):
        super().__init__(**kwargs)
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}.")
        if len(network.inputs) != 2 or tuple(network.outputs[0].shape[1:]) != tuple(network.inputs[0].shape[1:]):
            raise ValueError(f"a diffusion network maps [x_t, t] to a prediction of x_t's shape; {network.name} has "
                             f"inputs {[tuple(i.shape) for i in network.inputs]} and output "
                             f"{tuple(network.outputs[0].shape)}.")
        self.schedule = schedules.get(schedule)
        self.timesteps = self.schedule.timesteps
        self.sampling_steps = _check_steps(sampling_steps, self.timesteps)
        self.eta = _check_eta(eta)
        self.prediction = prediction
        self.clip_denoised = bool(clip_denoised)
        self.network = network
        self.ema = averaging.check_decay(ema, "ema")
        self.averaged_network = averaging.averaged_copy(network) if self.ema is not None else None
        self.seed = knoise.resolve_seed(seed)
        self.pixel_range = tuple(float(v) for v in pixel_range)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.alpha_bars = tf.constant(self.schedule.alpha_bars(), tf.float32)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._sampler = tf.function(self._sample_loop, reduce_retracing=True)
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

    def denoising_loss(self, x0, t, eps, network=None, training=False):
        """Mean squared error between the network's output at (x_t, t) and the target, over pixels and batch."""
        network = network or self.network
        x_t = self.diffuse(x0, t, eps)
        output = ops.cast(network([x_t, ops.cast(t, "float32")], training=training), "float32")
        return ops.mean(ops.square(output - self.target(x0, t, eps)))

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
        """`(x0_hat, eps_hat)` from the network's output at (x_t, t); x0_hat clipped to the pixel range when
        `clip` (default `clip_denoised`)."""
        network = network or self.sampling_network
        t = ops.cast(t, "int32")
        output = ops.cast(network([x_t, ops.cast(ops.maximum(t, 0), "float32")], training=False), "float32")
        ab = self._alpha_bar(t)
        if self.prediction == "epsilon":
            eps = output
            x0 = (x_t - ops.sqrt(1.0 - ab) * eps) / ops.sqrt(ab)
        else:
            x0 = ops.sqrt(ab) * x_t - ops.sqrt(1.0 - ab) * output
            eps = ops.sqrt(1.0 - ab) * x_t + ops.sqrt(ab) * output
        if self.clip_denoised if clip is None else clip:
            x0 = ops.clip(x0, *self.pixel_range)
        return x0, eps

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

    def _as_images(self, z):
        z = tf.convert_to_tensor(z, tf.float32)
        return tf.reshape(z, tf.concat([tf.shape(z)[:1], self.image_shape], axis=0))

    def generate(self, z, steps=None, eta=None, seed=None):
        """Images in `pixel_range` from starting noise `z` (``[N, latent_dim]`` or ``[N, H, W, C]``) in `steps`
        sampling steps (default `sampling_steps`; T with eta 1 is DDPM) with DDIM's `eta` (default `eta`); eta > 0
        adds fresh noise drawn from `seed` (an int; default the model's)."""
        steps = self.sampling_steps if steps is None else steps
        if not tf.is_tensor(steps):
            steps = _check_steps(steps, self.timesteps)
        steps = tf.clip_by_value(tf.cast(steps, tf.int32), 1, self.timesteps)
        eta = tf.cast(self.eta if eta is None else eta, tf.float32)
        key = tf.constant([self.seed if seed is None else int(seed), 1], tf.int64)
        return self._sampler(self._as_images(z), steps, eta, key)

    def sample(self, num_images, seed=None, steps=None, eta=None):
        z = keras.random.normal((num_images, self.latent_dim), seed=seed if seed is not None else self.seed_generator)
        return self.generate(z, steps=steps, eta=eta, seed=seed if isinstance(seed, int) else None)

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
                       "sampling_steps": self.sampling_steps, "eta": self.eta, "clip_denoised": self.clip_denoised})
        return config

    @classmethod
    def from_config(cls, config):
        return from_config_with_submodels(cls, config, cls.submodels)


def _check_steps(steps, timesteps):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= timesteps:
        raise ValueError(f"sampling steps must be an integer from 1 to the schedule's {timesteps} timesteps, "
                         f"got {steps!r}.")
    return int(steps)


def _check_eta(eta):
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta (DDIM's noise scale) must be a number from 0 (deterministic) to 1 (DDPM), got {eta!r}.")
    return float(eta)
