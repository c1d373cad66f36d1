"""The second stage of the two-stage VAE (Dai & Wipf 2019, "Diagnosing and enhancing VAE models").

A VAE whose decoder variance gamma is learned (``VAE(reconstruction="gaussian")``) reconstructs sharply, but its
aggregate posterior q(z) is not N(0, I): the data's manifold has fewer dimensions than the latent space, and
decoding prior samples lands between the codes the decoder was trained on. The second stage is a small VAE over
the first stage's latent codes, again with a learned gamma: its own latent u ~ N(0, I) is decoded to a code z
that follows q(z), and the first stage's decoder turns z into an image. `SecondStageVAE` is that model, trained
with `fit` on the codes, and it is also the map u -> z that a `kzoo.models.VAE` uses as its `latent_prior`
(like `GaussianMixturePrior`), so the two stages sample, save and export as one model.
"""

import keras
import tensorflow as tf
from keras import ops

from kzoo import noise as knoise
from kzoo.losses import gaussian_kl, gaussian_nll, scale_for_replicas
from kzoo.models.elbo import LOG_VAR_RANGE, ELBOModel


def _skip_mlp(latent_dim, hidden, depth, outputs, name):
    """Dai & Wipf's second-stage network: `depth` ReLU layers of `hidden` units, the input concatenated to the last
    hidden layer (so the identity is easy to reach), and one linear head per output, all float32."""
    inputs = keras.Input((latent_dim,), dtype="float32", name=f"{name}_input")
    t = inputs
    for i in range(depth):
        t = keras.layers.Dense(hidden, activation="relu", dtype="float32", name=f"{name}_dense_{i}")(t)
    t = keras.layers.Concatenate(dtype="float32", name=f"{name}_skip")([inputs, t])
    heads = [keras.layers.Dense(latent_dim, dtype="float32", name=f"{name}_{out}")(t) for out in outputs]
    return keras.Model(inputs, heads if len(heads) > 1 else heads[0], name=name)


@keras.saving.register_keras_serializable(package="kzoo")
class SecondStageVAE(ELBOModel, keras.Model):
    """A VAE over `latent_dim`-dimensional codes with a learned Gaussian variance, and the map u ~ N(0, I) -> codes.

    `fit` takes codes ``[N, latent_dim]``, or the first stage's posteriors as a dict ``{"mean": [N, d],
    "log_var": [N, d]}``, from which every step draws fresh codes z = mean + exp(log_var / 2) * e (as Dai & Wipf
    train it; `VAE.fit_second_stage` passes these). The loss per code is ``|z - decoder(u)|^2 / (2 gamma) +
    d/2 log(2 pi gamma) + KL(q(u|z) || N(0, I))``. Calling the model on noise `u` returns the decoded codes; the
    decoder's mean is used, as in the paper's sampling.

    Args:
        latent_dim: size of the codes (the second stage's latent has the same size).
        hidden: units per hidden layer (1024 in the paper).
        depth: hidden layers in each of encoder and decoder (3 in the paper).
        seed: seed of the training noise (`kzoo.noise.StepNoise`: reproducible and resumable).
    """

    def __init__(self, latent_dim, hidden=1024, depth=3, seed=None, trainable=True, **kwargs):
        super().__init__(**kwargs)
        for field, value in (("latent_dim", latent_dim), ("hidden", hidden), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SecondStageVAE: {field} must be a positive integer, got {value!r}.")
        self.latent_dim, self.hidden, self.depth = latent_dim, hidden, depth
        self.seed = knoise.resolve_seed(seed)
        self.encoder = _skip_mlp(latent_dim, hidden, depth, ("mean", "log_var"), "second_stage_encoder")
        self.decoder = _skip_mlp(latent_dim, hidden, depth, ("codes",), "second_stage_decoder")
        self.log_gamma = self.add_weight(shape=(), initializer="zeros", name="log_gamma", dtype="float32")
        self._init_elbo_trackers()
        self.built = True
        # After the networks exist, so that a frozen second stage (one in use as a prior) loads frozen.
        self.trainable = trainable

    def call(self, u, training=False):
        """Codes decoded from second-stage noise `u` `[B, latent_dim]` (float32)."""
        return self.decoder(ops.cast(u, "float32"), training=training)

    def encode(self, codes):
        mean, log_var = self.encoder(ops.cast(codes, "float32"))
        return mean, ops.clip(log_var, *LOG_VAR_RANGE)

    @property
    def gamma(self):
        """The learned variance of the codes given u."""
        return float(ops.exp(self.log_gamma))

    def compute_losses(self, codes, noise=None):
        """Per-code ``(total, reconstruction, kl)``, each `[B]`; `noise` a `StepNoise` (training) or None."""
        mean, log_var = self.encode(codes)
        e = noise.normal(ops.shape(mean)) if noise is not None else keras.random.normal(ops.shape(mean))
        u = mean + ops.exp(0.5 * log_var) * e
        reconstruction = gaussian_nll(self.decoder(u, training=noise is not None), codes, self.log_gamma)
        kl = gaussian_kl(mean, log_var)
        return reconstruction + kl, reconstruction, kl

    def _codes(self, data, noise):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if y is not None:
            raise ValueError("SecondStageVAE.fit takes codes (or {'mean', 'log_var'} posteriors) and no targets.")
        if isinstance(x, dict):
            if set(x) != {"mean", "log_var"}:
                raise ValueError(f"SecondStageVAE takes codes or a dict with 'mean' and 'log_var'; got keys "
                                 f"{sorted(x)}.")
            mean, log_var = ops.cast(x["mean"], "float32"), ops.cast(x["log_var"], "float32")
            e = noise.normal(ops.shape(mean)) if noise is not None else 0.0
            x = mean + ops.exp(0.5 * log_var) * e
        elif noise is not None:
            # Drawn and unused, so the second stage's own noise is the same draw whichever input it gets.
            noise.normal(ops.shape(x))
        if x.shape[-1] != self.latent_dim:
            raise ValueError(f"SecondStageVAE over {self.latent_dim}-dimensional codes got codes of size "
                             f"{x.shape[-1]}.")
        return ops.cast(x, "float32")

    def train_step(self, data):
        noise = knoise.StepNoise(self.seed, self.optimizer.iterations)
        codes = self._codes(data, noise)
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self.compute_losses(codes, noise)
            loss = scale_for_replicas(ops.mean(total))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(total, reconstruction, kl)

    def test_step(self, data):
        return self._track(*self.compute_losses(self._codes(data, None)))

    def get_config(self):
        config = super().get_config()
        config.update({"latent_dim": self.latent_dim, "hidden": self.hidden, "depth": self.depth, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
