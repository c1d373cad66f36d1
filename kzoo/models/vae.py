"""The variational autoencoder (Kingma & Welling 2014) as a `keras.Model` trained with `fit`."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kzoo import noise as knoise
from kzoo.losses import VAE_RECONSTRUCTION_LOSSES, gaussian_kl, reconstruction_loss, scale_for_replicas
from kzoo.models.checks import CheckedInputs, check_image_batch, check_labels_given, check_no_labels, class_labels
from kzoo.models.elbo import LOG_VAR_RANGE, ELBOModel
from kzoo.models.serialization import from_config_with_submodels, serialize_submodels
from kzoo.networks import build_vae_networks


@keras.saving.register_keras_serializable(package="kzoo")
class VAE(CheckedInputs, ELBOModel, keras.Model):
    """A VAE over images in [0, 1].

    The loss per image is ``reconstruction + beta * KL``: the reconstruction term (``bce``: Bernoulli negative
    log-likelihood, or ``mse``) summed over pixels, and the closed-form KL divergence of the diagonal-Gaussian
    posterior from N(0, I). Latent samples use the reparameterisation trick; in `train_step` the noise is a
    function of (seed, step, example) (`kzoo.noise.StepNoise`), so runs are reproducible, resumable and equal
    on any number of replicas.

    Args:
        encoder: a model mapping images to ``[mean, log_var]``.
        decoder: a model mapping latent codes to image logits.
        reconstruction: ``"bce"``, ``"mse"`` or ``"gaussian"`` (a Gaussian likelihood whose variance gamma is a
            learned weight, `log_gamma`: as gamma falls, reconstructions sharpen and the KL term stops blurring
            them; the first stage of Dai & Wipf's two-stage VAE).
        beta: weight of the KL term (1 gives the ELBO; beta-VAE otherwise).
        seed: seed of the reparameterisation noise.
        latent_prior: `None` (codes ~ N(0, I)), or a layer fitted to the training codes (see `fit_latent_prior`)
            that maps N(0, I) noise to codes: a `kzoo.models.GaussianMixturePrior` or a
            `kzoo.models.SecondStageVAE` (the two-stage VAE); `generate` and `sample` pass their noise through it.
        num_classes: `None`, or the classes of a conditional VAE (CVAE, Sohn et al. 2015): the encoder takes
            `[images, labels]`, the decoder `[z, labels]` (`build_vae_networks(..., num_classes=K)`), `fit` takes
            `(images, labels)`, and `generate`/`decode`/`encode`/`reconstruct`/`sample` take the labels (classes
            in turn when none are given).
    """

    submodels = ("encoder", "decoder")

    def __init__(self, encoder, decoder, reconstruction="bce", beta=1.0, seed=None, latent_prior=None,
                 num_classes=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = None if num_classes is None else int(num_classes)
        inputs = (len(encoder.inputs), len(decoder.inputs))
        if inputs != ((1, 1) if self.num_classes is None else (2, 2)):
            raise ValueError(f"a {'conditional ' if self.num_classes else ''}VAE needs an encoder and a decoder with "
                             f"{'two inputs each ([images, labels], [z, labels])' if self.num_classes else ''}"
                             f"{'' if self.num_classes else 'one input each'}"
                             f"; got {inputs[0]} and {inputs[1]} (build_vae_networks(..., num_classes=K) for a CVAE; "
                             "pass num_classes with label inputs).")
        if reconstruction not in VAE_RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of {VAE_RECONSTRUCTION_LOSSES}, got {reconstruction!r}.")
        if len(encoder.outputs) != 2:
            raise ValueError("the encoder must output [mean, log_var]; "
                             f"{encoder.name} has {len(encoder.outputs)} outputs.")
        if encoder.outputs[0].shape[-1] != decoder.inputs[0].shape[-1]:
            raise ValueError(f"encoder latent size {encoder.outputs[0].shape[-1]} differs from decoder input "
                             f"size {decoder.inputs[0].shape[-1]}.")
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction = reconstruction
        self.beta = float(beta)
        self.seed = knoise.resolve_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        if isinstance(latent_prior, dict):
            latent_prior = keras.saving.deserialize_keras_object(latent_prior)
        if latent_prior is not None and self.num_classes is not None:
            raise ValueError("a latent prior over the codes of a conditional VAE is not supported.")
        if latent_prior is not None and getattr(latent_prior, "latent_dim", None) != self.latent_dim:
            raise ValueError(f"the latent prior is over {latent_prior.latent_dim} dimensions; the codes have "
                             f"{self.latent_dim}.")
        self.latent_prior = latent_prior
        # Only a Gaussian likelihood has a variance to learn; the other VAEs' weights stay as they were.
        self.log_gamma = (self.add_weight(shape=(), initializer="zeros", name="log_gamma", dtype="float32")
                          if reconstruction == "gaussian" else None)
        self._init_elbo_trackers()
        # The sub-models are built functional models, so this model is built too.
        self.built = True

    @classmethod
    def from_design(cls, design="conv28", latent_dim=None, image_shape=None, **kwargs):
        """A VAE with the encoder/decoder of a named design (see `kzoo.networks.VAE_DESIGNS`)."""
        encoder, decoder = build_vae_networks(design, latent_dim, image_shape)
        return cls(encoder, decoder, **kwargs)

    @property
    def latent_dim(self):
        return int(self.decoder.inputs[0].shape[-1])

    @property
    def image_shape(self):
        return tuple(self.encoder.inputs[0].shape[1:])

    @property
    def pixel_range(self):
        return (0.0, 1.0)

    # -- inference ------------------------------------------------------------------------------

    def _with_labels(self, x, labels):
        """The network input: `x`, or `[x, labels]` for a conditional VAE (classes in turn when None)."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional: it takes no labels.")
            return x
        x = ops.convert_to_tensor(x)
        return [x, class_labels(labels, ops.shape(x)[0], self.num_classes, what="input")]

    def encode(self, images, labels=None, training=False):
        """Posterior parameters ``(mean, log_var)`` of images in [0, 1], float32 whatever the compute dtype (numpy
        sums over bfloat16 arrays lose most of their digits); `log_var` is clipped to `LOG_VAR_RANGE`."""
        mean, log_var = self.encoder(self._with_labels(images, labels), training=training)
        return ops.cast(mean, "float32"), ops.clip(ops.cast(log_var, "float32"), *LOG_VAR_RANGE)

    def decode(self, z, labels=None, training=False):
        """Images in [0, 1] (Bernoulli means) decoded from latent codes."""
        return ops.sigmoid(ops.cast(self.decoder(self._with_labels(z, labels), training=training), "float32"))

    def prior_codes(self, z):
        """Latent codes for N(0, I) noise `z`: `z` itself, or its image under the fitted `latent_prior`."""
        return z if self.latent_prior is None else self.latent_prior(z)

    def generate(self, z, labels=None):
        """Images from N(0, I) noise `z` (decoded as codes, or through the fitted `latent_prior`); the generator
        interface every kzoo model has. Use `decode` for given latent codes."""
        return self.decode(self.prior_codes(z), labels)

    def reconstruct(self, images, labels=None):
        """Decode the posterior mean of each image."""
        return self.decode(self.encode(images, labels)[0], labels)

    def sample(self, num_images, seed=None, labels=None):
        """`num_images` images generated from z ~ N(0, I) (see `generate`)."""
        z = keras.random.normal((num_images, self.latent_dim), seed=seed if seed is not None else self.seed_generator)
        return self.generate(z, labels)

    def posterior_means(self, images, batch_size=1000):
        """The posterior means `[N, latent_dim]` (float32) of `images`: an array in [0, 1], encoded `batch_size` at
        a time, or a dataset of image batches or (image, label) batches."""
        return self.posteriors(images, batch_size)[0]

    def posteriors(self, images, batch_size=1000):
        """The posterior means and log-variances, each `[N, latent_dim]` (float32), of `images` (as
        `posterior_means` takes them)."""
        if isinstance(images, np.ndarray):
            batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
        else:
            batches = (_images_of(batch) for batch in images)
        pairs = [tuple(np.asarray(t) for t in self.encode(batch)) for batch in batches]
        if not pairs:
            raise ValueError("no images to encode.")
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    def fit_latent_prior(self, images, components=10, seed=0):
        """Fit a `GaussianMixturePrior` of `components` full-covariance Gaussians to the posterior means of
        `images` (as `posterior_means` takes them) and sample from it from now on (ex-post density estimation).
        Returns the scikit-learn `GaussianMixture` that was fitted."""
        from kzoo.models.latent_prior import GaussianMixturePrior
        prior = GaussianMixturePrior(components, self.latent_dim, name="latent_prior")
        mixture = prior.fit(self.posterior_means(images), seed=seed)
        self.set_latent_prior(prior)
        return mixture

    def fit_second_stage(self, images, epochs=50, batch_size=256, hidden=1024, depth=3, learning_rate=1e-3, seed=0,
                         verbose="auto", callbacks=None):
        """Train the second stage of a two-stage VAE (Dai & Wipf 2019) on the posteriors of `images` (as
        `posterior_means` takes them) and sample through it from now on: a `SecondStageVAE` learns to decode
        N(0, I) noise into codes distributed like this (first-stage) VAE's codes, and becomes its `latent_prior`.
        Each step draws fresh codes from the posteriors. Returns the `fit` history."""
        from kzoo.models.two_stage import SecondStageVAE
        if self.num_classes is not None:
            raise ValueError("a second stage over the codes of a conditional VAE is not supported.")
        means, log_vars = self.posteriors(images)
        stage = SecondStageVAE(self.latent_dim, hidden=hidden, depth=depth, seed=seed, name="latent_prior")
        stage.compile(optimizer=keras.optimizers.Adam(learning_rate))
        history = stage.fit({"mean": means, "log_var": log_vars}, epochs=epochs, batch_size=batch_size,
                            verbose=verbose, callbacks=callbacks)
        # Frozen from now on: fitting the VAE again must not move the second stage (nor give its optimizer
        # variables the second stage's weights).
        stage.trainable = False
        self.set_latent_prior(stage)
        return history

    def set_latent_prior(self, prior):
        """Sample through `prior` from now on: a fitted `GaussianMixturePrior` or `SecondStageVAE`, or None for
        N(0, I). The prior before leaves the model: its weights are no longer in `weights`, nor in a saved file
        (plain assignment would leave them tracked)."""
        old = getattr(self, "latent_prior", None)
        if old is not None and old is not prior:
            locked = self._tracker.locked
            self._tracker.unlock()
            self._tracker.untrack(old)
            if locked:
                self._tracker.lock()
        self.latent_prior = prior

    def call(self, images, training=False):
        return self.reconstruct(images) if not training else self.decode(self._sample_z(images, training)[0])

    # -- training -------------------------------------------------------------------------------

    def _sample_z(self, images, training, noise=None, labels=None):
        mean, log_var = self.encode(images, labels, training=training)  # float32
        eps = knoise.normal(ops.shape(mean), noise or self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps, mean, log_var

    def compute_vae_losses(self, images, training=False, noise=None, labels=None):
        """Per-image ``(total, reconstruction, kl)``, each `[B]`, in float32."""
        z, mean, log_var = self._sample_z(images, training, noise, labels)
        logits = ops.cast(self.decoder(self._with_labels(z, labels), training=training), "float32")
        reconstruction = reconstruction_loss(images, logits, self.reconstruction, self.log_gamma)
        kl = gaussian_kl(mean, log_var)
        return reconstruction + self.beta * kl, reconstruction, kl

    def _check_batch(self, images, labels):
        check_vae_batch(self, images, labels)

    def train_step(self, data):
        images, labels = _images_and_labels(data, self)
        noise = knoise.StepNoise(self.seed, self.optimizer.iterations)
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.compute_vae_losses(images, training=True, noise=noise, labels=labels)
            loss = scale_for_replicas(ops.mean(total))
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(total, reconstruction, kl)

    def test_step(self, data):
        images, labels = _images_and_labels(data, self)
        return self._track(*self.compute_vae_losses(images, training=False, labels=labels))

    # -- serialization --------------------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(serialize_submodels(self, self.submodels))
        config.update({
            "reconstruction": self.reconstruction,
            "beta": self.beta,
            "seed": self.seed,
            "latent_prior": _prior_config(self.latent_prior),
        })
        if self.num_classes is not None:  # only when conditional, so other configs stay as they were
            config["num_classes"] = self.num_classes
        return config

    @classmethod
    def from_config(cls, config):
        return from_config_with_submodels(cls, config, cls.submodels)


def _prior_config(prior):
    """A latent prior's config, without the training set-up of a second stage (it is frozen in use)."""
    if prior is None:
        return None
    config = keras.saving.serialize_keras_object(prior)
    config.pop("compile_config", None)
    return config


def check_vae_batch(model, images, labels):
    """Labels refused (unconditional) or required (conditional), and the image shape the encoder takes."""
    if model.num_classes is None:
        check_no_labels(labels, type(model).__name__)
    else:
        check_labels_given(labels, type(model).__name__, model.num_classes)
    check_image_batch(images, model.image_shape, type(model).__name__, "encoder")


def _images_and_labels(data, model):
    """The images and (for a conditional VAE, required) int32 labels of a `fit` batch, checked."""
    x, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
    check_vae_batch(model, x, labels)
    return x, None if labels is None else ops.cast(labels, "int32")


def _images_of(data, model=None):
    """`fit` passes `x`, `(x,)`, `(x, y)` or `(x, y, w)`; a generative model only needs `x`. With `model` (in its
    train and test steps), labels are refused and the images must have the shape its encoder takes."""
    x, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
    if model is not None:
        check_no_labels(labels, type(model).__name__)
        check_image_batch(x, model.image_shape, type(model).__name__, "encoder")
    return x
