"""Lipschitz strategies for critics: none, weight clipping, gradient penalty, R1, spectral normalisation.

A strategy may `prepare` the critic when the model is made (spectral normalisation wraps its layers), adds a
`penalty` to the critic loss, and acts `after_update` on the critic's weights. Strategies are registered Keras
serialisables, so a model that holds one keeps it through `.keras` save/load; `get("clip")`, `get("gp")`,
`get("r1")`, `get("spectral")`, `get(None)` build the published defaults.
"""

import keras
from keras import ops

from kzoo.losses.penalties import gradient_penalty, r1_penalty


@keras.saving.register_keras_serializable(package="kzoo")
class WeightClip(keras.constraints.Constraint):
    """Clip every weight to [-clip_value, clip_value] (the WGAN constraint)."""

    def __init__(self, clip_value=0.01):
        if clip_value <= 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}.")
        self.clip_value = float(clip_value)

    def __call__(self, w):
        return ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


@keras.saving.register_keras_serializable(package="kzoo")
class NoLipschitz:
    """No constraint and no penalty (DCGAN and other probability losses)."""

    name = "none"
    has_penalty = False

    def prepare(self, critic):
        """The critic this strategy trains (the same one, except for strategies that change its layers)."""
        return critic

    def penalty(self, critic, real, fake, seed=None):
        return ops.zeros((), "float32")

    def after_update(self, critic):
        pass

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kzoo")
class WeightClipping(NoLipschitz):
    """Clip all the critic's trainable weights to [-c, c] after every critic update (Arjovsky et al. 2017).

    Applied by the training loop to every trainable variable (batch-norm scales included), so it holds for
    any critic, whatever constraints its layers were built with.
    """

    name = "clip"

    def __init__(self, clip_value=0.01):
        self.constraint = WeightClip(clip_value)

    @property
    def clip_value(self):
        return self.constraint.clip_value

    def after_update(self, critic):
        for variable in critic.trainable_variables:
            variable.assign(self.constraint(variable))

    def get_config(self):
        return {"clip_value": self.clip_value}


@keras.saving.register_keras_serializable(package="kzoo")
class GradientPenalty(NoLipschitz):
    """Add `weight * E[(||grad f(x_hat)|| - 1)^2]` on uniform interpolates (Gulrajani et al. 2017)."""

    name = "gp"
    has_penalty = True

    def __init__(self, weight=10.0):
        self.weight = float(weight)

    def penalty(self, critic, real, fake, seed=None):
        return gradient_penalty(critic, real, fake, seed=seed, weight=self.weight)

    def get_config(self):
        return {"weight": self.weight}


@keras.saving.register_keras_serializable(package="kzoo")
class R1Penalty(GradientPenalty):
    """Add `weight / 2 * E[||grad f(x)||^2]` on real images (Mescheder et al. 2018), no constraint."""

    name = "r1"

    def penalty(self, critic, real, fake, seed=None):
        return r1_penalty(critic, real, weight=self.weight)


# Not Embedding: Keras's wrapper casts a layer's output to its input dtype, which for integer labels cuts the
# gradient; the projection discriminator's label embedding is a Dense on one-hot labels for that reason.
_KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


@keras.saving.register_keras_serializable(package="kzoo")
class SpectralNormalization(NoLipschitz):
    """Divide every kernel of the critic by its largest singular value (Miyato et al. 2018), estimated by
    `power_iterations` steps of power iteration per training call: `keras.layers.SpectralNormalization` wraps each
    convolution and dense layer when the model is made (`prepare`). No penalty, no clipping."""

    name = "spectral"

    def __init__(self, power_iterations=1):
        if int(power_iterations) < 1:
            raise ValueError(f"power_iterations must be at least 1, got {power_iterations}.")
        self.power_iterations = int(power_iterations)

    def prepare(self, critic):
        if any(isinstance(layer, keras.layers.SpectralNormalization) for layer in critic.layers):
            return critic  # already wrapped (a model restored from its config)

        def clone(layer):
            copy = layer.__class__.from_config(layer.get_config())
            if isinstance(layer, _KERNEL_LAYERS):
                return keras.layers.SpectralNormalization(copy, power_iterations=self.power_iterations,
                                                          name=f"spectral_{layer.name}")
            return copy

        return keras.models.clone_model(critic, clone_function=clone)

    def get_config(self):
        return {"power_iterations": self.power_iterations}


_BY_NAME = {"none": NoLipschitz, "clip": WeightClipping, "gp": GradientPenalty, "r1": R1Penalty,
            "spectral": SpectralNormalization}


def get(identifier):
    """A Lipschitz strategy from None, a name (none, clip, gp), a serialized dict, or a strategy."""
    if identifier is None:
        return NoLipschitz()
    if isinstance(identifier, NoLipschitz):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown Lipschitz strategy {identifier!r}; choose one of {', '.join(_BY_NAME)}.")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        classes = {cls.__name__: cls for cls in _BY_NAME.values()}
        return keras.saving.deserialize_keras_object(identifier, custom_objects=classes)
    raise ValueError(f"cannot interpret {identifier!r} as a Lipschitz strategy.")


def serialize(strategy):
    return keras.saving.serialize_keras_object(strategy)
