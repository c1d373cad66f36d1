"""The one adversarial training loop: `n_critic` discriminator/critic updates, then one generator update.

DCGAN, WGAN (clipping), WGAN-GP, hinge and least-squares GANs are this model with different loss pairs,
Lipschitz strategies and networks (see `kzoo.presets`); the Wasserstein-critic VAE reuses `critic_update`.
"""

import keras
import tensorflow as tf
from keras import ops

from kzoo import constraints
from kzoo import noise as knoise
from kzoo.distribute import step_logs
from kzoo.losses import get_loss_pair, scale_for_replicas
from kzoo.models import averaging
from kzoo.models.checks import (
    CheckedInputs,
    check_conditional_networks,
    check_critic_batch,
    check_image_batch,
    check_labels_given,
    check_no_labels,
    class_labels,
)
from kzoo.models.conditioning import ScoreOnly, WithLabels, class_loss, critic_outputs, penalty_view
from kzoo.models.serialization import (
    deserialize_optimizers,
    from_config_with_submodels,
    serialize_optimizers,
    serialize_submodels,
)


def critic_update(critic, optimizer, real, fake, loss_pair, lipschitz, seed=None, real_labels=None,
                  fake_labels=None, auxiliary_weight=None):
    """One optimizer step of a discriminator/critic on a batch of real and fake inputs.

    Minimises `loss_pair.discriminator(f(real), f(fake)) + lipschitz.penalty(...)`, then applies the Lipschitz
    strategy's constraint. A conditional critic gets each batch's labels; its penalty is taken with the real
    labels. With `auxiliary_weight` (AC-GAN), the critic also outputs class logits, and the weighted cross-entropy
    of both batches' logits against their labels is added. Returns `(loss, penalty, real_output, fake_output,
    class loss or None)` with outputs in float32.
    """
    auxiliary = auxiliary_weight is not None
    scorer = penalty_view(critic, real_labels, auxiliary)
    with tf.GradientTape() as tape:
        real_output, real_logits = critic_outputs(critic, real, real_labels, auxiliary)
        fake_output, fake_logits = critic_outputs(critic, fake, fake_labels, auxiliary)
        loss = loss_pair.discriminator(real_output, fake_output)
        penalty = lipschitz.penalty(scorer, real, fake, seed=seed)
        total = loss + penalty
        classes = None
        if auxiliary:
            classes = class_loss(real_labels, real_logits) + class_loss(fake_labels, fake_logits)
            total = total + auxiliary_weight * classes
        scaled = optimizer.scale_loss(scale_for_replicas(total))
    grads = tape.gradient(scaled, critic.trainable_variables)
    optimizer.apply(grads, critic.trainable_variables)
    lipschitz.after_update(critic)
    return loss, penalty, real_output, fake_output, classes


@keras.saving.register_keras_serializable(package="kzoo")
class AdversarialModel(CheckedInputs, keras.Model):
    """A GAN: a generator and a discriminator/critic trained against each other with `fit`.

    Each `train_step` receives `n_critic * B` real images, deals them into `n_critic` batches of `B` (batch i
    holds images i, i + n_critic, i + 2 n_critic, ...: so when `tf.distribute` splits the global batch into
    contiguous shares, each replica's batch i is its share of the global batch i), runs one critic update on
    each (with fresh noise), then one generator update on `B` fresh noise vectors. So one
    epoch is one pass of the critic over the data, and `model.optimizer` (the generator's) counts generator steps.
    The training noise is a function of (seed, step, example) (`kzoo.noise.StepNoise`): reproducible, resumable
    and the same on any number of replicas.

    Args:
        generator: model mapping `z` (`[B, latent_dim]`) to images in `pixel_range`.
        discriminator: model mapping images to one raw output per image (a logit or a critic score).
        loss: a loss pair name (`minimax`, `non_saturating`, `wasserstein`, `hinge`, `least_squares`).
        lipschitz: `None`, `"clip"`, `"gp"`, `"r1"`, `"spectral"` or a strategy from `kzoo.constraints`.
        n_critic: critic updates per generator update.
        seed: seed of the noise.
        num_classes: `None` (unconditional), or the number of classes of a class-conditional model: the generator
            takes `[z, labels]`, the discriminator `[images, labels]`, `fit` takes `(images, labels)`, and the fakes
            of each step get labels drawn from `label_distribution` (uniform by default; `kzoo train` passes the
            training data's class frequencies).
        label_distribution: the class probabilities fake labels are drawn from (`num_classes` values).
        auxiliary_weight: `None`, or the weight of the auxiliary-classifier loss of an AC-GAN (Odena et al. 2017):
            a conditional generator with a discriminator that sees images only and also outputs class logits
            (`build_gan_networks(..., num_classes=K, auxiliary_classifier=True)`); the cross-entropy of the logits of
            real and fake images against their labels is added to the discriminator's loss, that of the fakes to
            the generator's.
        augment: `None`, or a DiffAugment policy (`"color,translation,cutout"`, Zhao et al. 2020; `kzoo.augment`):
            real and generated images are augmented, independently per image, before every discriminator call,
            in the generator's step too.
        generator_ema: `None`, or the decay of an exponential moving average of the generator's weights
            (Yazici et al. 2019, "The unusual effectiveness of averaging in GAN training"): a copy of the
            generator, `averaged_generator`, follows ``w_avg <- d w_avg + (1 - d) w`` after every generator
            update, with ``d = min(generator_ema, (1 + t) / (10 + t))`` at generator step t (as
            `tf.train.ExponentialMovingAverage` with `num_updates`, so early averages forget the initial
            weights). `generate` and `sample` then use the averaged generator; training uses the live one.
    """

    submodels = ("generator", "discriminator")

    def __init__(self, generator, discriminator, loss="non_saturating", lipschitz=None, n_critic=1, seed=None,
                 pixel_range=(-1.0, 1.0), generator_ema=None, num_classes=None, label_distribution=None, augment=None,
                 auxiliary_weight=None, **kwargs):
        super().__init__(**kwargs)
        self.auxiliary_weight = None if auxiliary_weight is None else float(auxiliary_weight)
        from kzoo.augment import DiffAugment, parse_policy
        self.augment_policy = ",".join(parse_policy(augment)) or None
        self.augmenter = DiffAugment(self.augment_policy) if self.augment_policy else None
        self.num_classes, self.label_distribution = check_conditional_networks(
            generator, discriminator, num_classes, label_distribution, auxiliary=self.auxiliary_weight is not None)
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}.")
        lipschitz = constraints.get(lipschitz)
        discriminator = lipschitz.prepare(discriminator)  # spectral normalisation wraps the critic's layers
        out_shape = tuple(discriminator.outputs[0].shape[1:])  # the score (AC-GAN: its first output)
        if out_shape != (1,):
            raise ValueError(f"the discriminator must output one value per image, shape (batch, 1); "
                             f"{discriminator.name} outputs (batch, {', '.join(map(str, out_shape))}).")
        if tuple(generator.outputs[0].shape[1:]) != tuple(discriminator.inputs[0].shape[1:]):
            raise ValueError(f"generator output shape {tuple(generator.outputs[0].shape[1:])} differs from "
                             f"discriminator input shape {tuple(discriminator.inputs[0].shape[1:])}.")
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema = averaging.check_decay(generator_ema, "generator_ema")
        self.averaged_generator = averaging.averaged_copy(generator) if self.generator_ema is not None else None
        self.loss_pair = get_loss_pair(loss)
        self.lipschitz = lipschitz
        self.n_critic = int(n_critic)
        self.seed = knoise.resolve_seed(seed)
        self.pixel_range = tuple(float(v) for v in pixel_range)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # Trackers hold batch means, one update per (critic or generator) step.
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        self.built = True

    @property
    def latent_dim(self):
        return int(self.generator.inputs[0].shape[-1])

    @property
    def image_shape(self):
        return tuple(self.generator.outputs[0].shape[1:])

    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker]
        if self.loss_pair.estimates_wasserstein:
            trackers.append(self.wasserstein_tracker)
        if self.lipschitz.has_penalty:
            trackers.append(self.penalty_tracker)
        if self.loss_pair.probabilistic:
            trackers += [self.d_real_tracker, self.d_fake_tracker]
        if self.auxiliary_weight is not None:
            trackers.append(self.class_loss_tracker)
        return trackers

    # -- compile ----------------------------------------------------------------------------------

    def compile(self, d_optimizer="auto", g_optimizer="auto", **kwargs):
        """Separate optimizers; `"auto"` is Adam(2e-4, beta_1=0.5) (DCGAN). The generator's becomes
        `model.optimizer`. Under a `mixed_float16` policy both get dynamic loss scaling."""
        if "optimizer" in kwargs:
            raise ValueError("an adversarial model has two optimizers: pass d_optimizer= and g_optimizer=.")
        self.d_optimizer = loss_scaled(_optimizer(d_optimizer), self.dtype_policy)
        super().compile(optimizer=_optimizer(g_optimizer), **kwargs)
        # Create the optimizer variables now, in the caller's (strategy) scope: variables created lazily inside a
        # distributed train step would be per-replica graph placeholders.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.optimizer.build(self.generator.trainable_variables)

    @property
    def g_optimizer(self):
        return self.optimizer

    def get_compile_config(self):
        return serialize_optimizers(d_optimizer=self.d_optimizer, g_optimizer=self.optimizer) if self.compiled else {}

    def compile_from_config(self, config):
        # `compile` builds the optimizers, so a `.keras` file's optimizer state has somewhere to load.
        self.compile(**deserialize_optimizers(config))

    # -- generation -------------------------------------------------------------------------------

    def generate(self, z, labels=None, training=False):
        """Images in `pixel_range` from latent vectors `z` (by the averaged generator when there is one, except
        in training mode); a conditional model takes one class label per vector (default: classes in turn,
        0, 1, ..., K-1, 0, ...)."""
        generator = self.averaged_generator if self.averaged_generator is not None and not training \
            else self.generator
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional: generate(z) takes no labels.")
            return ops.cast(generator(z, training=training), "float32")
        z = ops.convert_to_tensor(z, "float32")
        labels = self.check_labels(labels, ops.shape(z)[0])
        return ops.cast(generator([z, labels], training=training), "float32")

    def check_labels(self, labels, count):
        """`labels` as int32 class indices (classes in turn when None); out-of-range classes are refused."""
        return class_labels(labels, count, self.num_classes)

    def sample(self, num_images, seed=None, labels=None):
        z = keras.random.normal((num_images, self.latent_dim), seed=seed if seed is not None else self.seed_generator)
        return self.generate(z, labels)

    def discriminate(self, images, labels=None):
        """D(x) = P(real) for the probability losses, the critic score otherwise (of `(x, label)` when
        conditional)."""
        images = ops.convert_to_tensor(images, "float32")
        if self.auxiliary_weight is not None:
            critic = ScoreOnly(self.discriminator)
        elif self.num_classes is None:
            critic = self.discriminator
        else:
            critic = WithLabels(self.discriminator, self.check_labels(labels, ops.shape(images)[0]))
        output = ops.cast(critic(images, training=False), "float32")
        return ops.sigmoid(output) if self.loss_pair.probabilistic else output

    def call(self, z, training=False):
        return self.generate(z, training=training)

    # -- training ---------------------------------------------------------------------------------

    def _noise(self, batch, seed):
        return knoise.normal((batch, self.latent_dim), seed)

    def _fake_labels(self, batch, seed):
        """Labels for a batch of fakes (None for an unconditional model), drawn from `label_distribution`."""
        if self.num_classes is None:
            return None
        return knoise.categorical(batch, seed, self.label_distribution)

    def _fakes(self, batch, seed, training=True):
        labels = self._fake_labels(batch, seed)
        z = self._noise(batch, seed)
        inputs = z if labels is None else [z, labels]
        return self.generator(inputs, training=training), labels

    def _augmented(self, images, seed):
        """What the discriminator sees: `images`, or their DiffAugment transformation (a new draw per call)."""
        return images if self.augmenter is None else self.augmenter(images, seed)

    def _check_batch(self, real, labels):
        if self.num_classes is None:
            check_no_labels(labels, type(self).__name__)
        else:
            check_labels_given(labels, type(self).__name__, self.num_classes)
        check_image_batch(real, self.image_shape, type(self).__name__, "discriminator")

    def train_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(real, labels)
        check_critic_batch(real, self.n_critic, type(self).__name__)
        batch_size = ops.shape(real)[0] // self.n_critic
        noise = knoise.StepNoise(self.seed, self.optimizer.iterations)
        # n_critic discriminator updates, each on its own share of the real images and on fresh fakes ...
        for i in range(self.n_critic):
            real_images = real[i::self.n_critic][:batch_size]
            real_labels = None if labels is None else ops.cast(labels[i::self.n_critic][:batch_size], "int32")
            self._train_discriminator(real_images, real_labels, batch_size, noise)
        # ... then one generator update.
        self._train_generator(batch_size, noise)
        return step_logs(self.metrics)

    def _train_discriminator(self, real_images, real_labels, batch_size, noise):
        fake_images, fake_labels = self._fakes(batch_size, noise)
        d_loss, penalty, real_output, fake_output, classes = critic_update(
            self.discriminator, self.d_optimizer, self._augmented(real_images, noise),
            self._augmented(fake_images, noise), self.loss_pair, self.lipschitz, seed=noise,
            real_labels=real_labels, fake_labels=fake_labels, auxiliary_weight=self.auxiliary_weight)
        self._track_critic(d_loss, penalty, real_output, fake_output, classes)

    def _train_generator(self, batch_size, noise):
        with tf.GradientTape() as tape:
            fake_images, fake_labels = self._fakes(batch_size, noise)
            fake_output, fake_logits = critic_outputs(self.discriminator, self._augmented(fake_images, noise),
                                                      fake_labels, self.auxiliary_weight is not None)
            g_loss = self.loss_pair.generator(fake_output)
            total = g_loss
            if fake_logits is not None:  # AC-GAN: the fakes should also be classified as their labels
                total = g_loss + self.auxiliary_weight * class_loss(fake_labels, fake_logits)
            scaled = self.optimizer.scale_loss(scale_for_replicas(total))
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.optimizer.apply(grads, self.generator.trainable_variables)
        if self.averaged_generator is not None:
            # After the update, so the step counts this step too.
            averaging.update_average(self.averaged_generator, self.generator, self.optimizer.iterations,
                                     self.generator_ema)
        self.g_loss_tracker.update_state(g_loss)

    def test_step(self, data):
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        self._check_batch(real, labels)
        batch = ops.shape(real)[0]
        fake, fake_labels = self._fakes(batch, self.seed_generator, training=False)
        labels = None if labels is None else ops.cast(labels, "int32")
        auxiliary = self.auxiliary_weight is not None
        real_out, real_logits = critic_outputs(self.discriminator, real, labels, auxiliary, training=False)
        fake_out, fake_logits = critic_outputs(self.discriminator, fake, fake_labels, auxiliary, training=False)
        penalty = self.lipschitz.penalty(penalty_view(self.discriminator, labels, auxiliary), real, fake,
                                         seed=self.seed_generator)
        classes = None if not auxiliary else class_loss(labels, real_logits) + class_loss(fake_labels, fake_logits)
        self._track_critic(self.loss_pair.discriminator(real_out, fake_out), penalty, real_out, fake_out, classes)
        self.g_loss_tracker.update_state(self.loss_pair.generator(fake_out))
        return step_logs(self.metrics)

    def _track_critic(self, d_loss, penalty, real_out, fake_out, classes=None):
        self.d_loss_tracker.update_state(d_loss)
        if classes is not None:
            self.class_loss_tracker.update_state(classes)
        if self.loss_pair.estimates_wasserstein:
            self.wasserstein_tracker.update_state(ops.mean(real_out) - ops.mean(fake_out))
        if self.lipschitz.has_penalty:
            self.penalty_tracker.update_state(penalty)
        if self.loss_pair.probabilistic:
            self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_out)))
            self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_out)))

    # -- serialization ----------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(serialize_submodels(self, self.submodels))
        config.update({
            "loss": self.loss_pair.name,
            "lipschitz": constraints.serialize(self.lipschitz),
            "n_critic": self.n_critic,
            "seed": self.seed,
            "pixel_range": list(self.pixel_range),
            "generator_ema": self.generator_ema,
        })
        if self.augment_policy:  # only when used, so other configs stay as they were
            config["augment"] = self.augment_policy
        if self.auxiliary_weight is not None:
            config["auxiliary_weight"] = self.auxiliary_weight
        if self.num_classes is not None:  # only when conditional, so unconditional configs stay as they were
            config.update(num_classes=self.num_classes, label_distribution=[float(p) for p in self.label_distribution])
        return config

    @classmethod
    def from_config(cls, config):
        return from_config_with_submodels(cls, config, cls.submodels)


def _optimizer(spec):
    if spec == "auto":
        return keras.optimizers.Adam(2e-4, beta_1=0.5)
    return keras.optimizers.get(spec)


def loss_scaled(optimizer, dtype_policy):
    """`optimizer` wrapped in dynamic loss scaling under a float16 policy (Keras does this for `model.optimizer`
    only; every extra optimizer of a custom `train_step` needs it too)."""
    if getattr(dtype_policy, "compute_dtype", None) == "float16" and \
            not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
