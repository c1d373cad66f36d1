"""What every model trained on an evidence lower bound shares: its loss trackers, `metrics`, the "auto" optimizer,
and the bounds on a posterior's log-variance. `kzoo.models.VAE` and `kzoo.models.SecondStageVAE` build on it."""

import keras

from kzoo.distribute import step_logs

# Bounds on the posterior log-variance (those of the latent-diffusion autoencoders): an input far from the
# training data could otherwise push exp(log_var) past float range, and one such step turns a run into NaN
# (measured: the MLP VAE on the emoji set, epoch 9, in float32 and bfloat16 alike). Inside the bounds, identity.
LOG_VAR_RANGE = (-30.0, 20.0)


class ELBOModel:
    """Mixin for a `keras.Model` whose loss per example is ``reconstruction + weight * KL``.

    Call `_init_elbo_trackers()` in `__init__`; `train_step`/`test_step` end with `_track(total, reconstruction,
    kl)` (per-example values, so an epoch's figure is the mean over examples even with a short last batch).
    """

    def _init_elbo_trackers(self):
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def compile(self, optimizer="auto", **kwargs):
        """`optimizer="auto"` is Adam(1e-3); the loss is the model's own, so no `loss` argument is taken."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        super().compile(optimizer=optimizer, **kwargs)
        # Optimizer variables now, in the caller's (strategy) scope, and so a `.keras` file's state can load;
        # a subclass with its own `compile` (more optimizers) builds them itself.
        if type(self).compile is ELBOModel.compile:
            self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Restores the optimizer (and its state, when loading a `.keras` file) through the custom `compile`.
        self.compile(**keras.saving.deserialize_keras_object(config))

    def _track(self, total, reconstruction, kl):
        self.loss_tracker.update_state(total)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return step_logs(self.metrics)
