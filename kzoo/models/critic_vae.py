"""The VAE whose KL term is replaced by a latent-space Wasserstein critic (in the manner of WAE-GAN,
Tolstikhin et al. 2018, with a WGAN-GP critic).

A critic f over latent codes estimates W1(q(z), p(z)) = E_p f(z) - E_q f(z) between the aggregate posterior
q(z) (codes of the data) and the prior N(0, I). Each step updates the critic with the shared
`critic_update` (prior codes are "real", posterior codes are "fake"), then the autoencoder minimises
reconstruction + critic_weight * the critic's estimate.
"""

import keras
import tensorflow as tf
from keras import ops

from kzoo import constraints
from kzoo import noise as knoise
from kzoo.distribute import step_logs
from kzoo.losses import get_loss_pair, reconstruction_loss, scale_for_replicas
from kzoo.models.adversarial import _optimizer, critic_update, loss_scaled
from kzoo.models.serialization import deserialize_optimizers, serialize_optimizers
from kzoo.models.vae import VAE, _images_of
from kzoo.networks import build_vae_networks, mlp_critic

_WASSERSTEIN = get_loss_pair("wasserstein")


@keras.saving.register_keras_serializable(package="kzoo")
class CriticVAE(VAE):
    """Encoder/decoder as in `VAE`, regularised by a latent Wasserstein critic instead of the KL term.

    Args:
        encoder, decoder: as for `VAE`.
        latent_critic: a model mapping latent codes `[B, latent_dim]` to `[B, 1]` scores.
        critic_weight: weight of the Wasserstein estimate in the autoencoder's loss.
        lipschitz: the critic's Lipschitz strategy (default: gradient penalty, weight 10).
        n_critic: critic updates per autoencoder update.
    """

    submodels = ("encoder", "decoder", "latent_critic")

    def __init__(self, encoder, decoder, latent_critic, critic_weight=1.0, lipschitz="gp", n_critic=1,
                 reconstruction="bce", seed=None, **kwargs):
        kwargs.pop("beta", None)
        super().__init__(encoder, decoder, reconstruction=reconstruction, beta=0.0, seed=seed, **kwargs)
        if tuple(latent_critic.inputs[0].shape[1:]) != (self.latent_dim,):
            raise ValueError(f"the latent critic takes inputs of shape {tuple(latent_critic.inputs[0].shape[1:])}; "
                             f"the latent codes have shape ({self.latent_dim},).")
        self.lipschitz = constraints.get(lipschitz)
        self.latent_critic = self.lipschitz.prepare(latent_critic)
        self.critic_weight = float(critic_weight)
        self.n_critic = int(n_critic)
        self.wasserstein_tracker = keras.metrics.Mean(name="wasserstein")
        self.critic_loss_tracker = keras.metrics.Mean(name="critic_loss")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

    @classmethod
    def from_design(cls, design="mlp256", latent_dim=None, image_shape=None, critic_units=(512, 256), **kwargs):
        encoder, decoder = build_vae_networks(design, latent_dim, image_shape)
        critic = mlp_critic(int(decoder.inputs[0].shape[-1]), critic_units)
        return cls(encoder, decoder, critic, **kwargs)

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.reconstruction_tracker, self.wasserstein_tracker,
                    self.critic_loss_tracker]
        return trackers + ([self.penalty_tracker] if self.lipschitz.has_penalty else [])

    def compile(self, optimizer="auto", critic_optimizer="auto", **kwargs):
        """`"auto"`: Adam(1e-3) for both the autoencoder and the critic (the published settings)."""
        self.critic_optimizer = loss_scaled(keras.optimizers.Adam(1e-3) if critic_optimizer == "auto" else
                                            _optimizer(critic_optimizer), self.dtype_policy)
        super().compile(optimizer=optimizer, **kwargs)
        # Built now, in the caller's (strategy) scope; see AdversarialModel.compile.
        self.optimizer.build(self._autoencoder_variables())
        self.critic_optimizer.build(self.latent_critic.trainable_variables)

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return serialize_optimizers(optimizer=self.optimizer, critic_optimizer=self.critic_optimizer)

    def compile_from_config(self, config):
        self.compile(**deserialize_optimizers(config))

    def _autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def _prior_codes(self, like, noise=None):
        return knoise.normal(ops.shape(like), noise or self.seed_generator)

    def compute_critic_vae_losses(self, images, training=False, noise=None):
        """Per-image reconstruction `[B]` and the critic's estimate of W1(q, p) on this batch."""
        z_q, _, _ = self._sample_z(images, training, noise)
        logits = ops.cast(self.decoder(z_q, training=training), "float32")
        reconstruction = reconstruction_loss(images, logits, self.reconstruction)
        prior_scores = ops.cast(self.latent_critic(self._prior_codes(z_q, noise), training=training), "float32")
        posterior_scores = ops.cast(self.latent_critic(z_q, training=training), "float32")
        # E_p f - E_q f; as a function of the encoder it is the generator's Wasserstein loss plus a constant.
        estimate = ops.mean(prior_scores) + _WASSERSTEIN.generator(posterior_scores)
        return reconstruction, estimate

    def train_step(self, data):
        images = _images_of(data, self)
        noise = knoise.StepNoise(self.seed, self.optimizer.iterations)
        for _ in range(self.n_critic):
            z_q, _, _ = self._sample_z(images, training=True, noise=noise)
            critic_loss, penalty, _, _, _ = critic_update(
                self.latent_critic, self.critic_optimizer, self._prior_codes(z_q, noise), z_q, _WASSERSTEIN,
                self.lipschitz, seed=noise)
            self.critic_loss_tracker.update_state(critic_loss)
            if self.lipschitz.has_penalty:
                self.penalty_tracker.update_state(penalty)

        variables = self._autoencoder_variables()
        with tf.GradientTape() as tape:
            reconstruction, estimate = self.compute_critic_vae_losses(images, training=True, noise=noise)
            loss = ops.mean(reconstruction) + self.critic_weight * estimate
            scaled = self.optimizer.scale_loss(scale_for_replicas(loss))
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return self._track_autoencoder(reconstruction, estimate)

    def test_step(self, data):
        return self._track_autoencoder(*self.compute_critic_vae_losses(_images_of(data, self)))

    def _track_autoencoder(self, reconstruction, estimate):
        self.loss_tracker.update_state(ops.mean(reconstruction) + self.critic_weight * estimate)
        self.reconstruction_tracker.update_state(reconstruction)
        self.wasserstein_tracker.update_state(estimate)
        return step_logs(self.metrics)

    def get_config(self):
        config = super().get_config()  # includes every sub-model in `submodels`
        config.pop("beta")
        config.update({
            "critic_weight": self.critic_weight,
            "lipschitz": constraints.serialize(self.lipschitz),
            "n_critic": self.n_critic,
        })
        return config
