"""An exponential moving average of a network's weights, shared by every family that samples from one (the GANs'
averaged generator, the diffusion model's averaged denoiser)."""

import numbers

import keras
from keras import ops


def averaged_copy(network):
    """A frozen copy of `network` with the same layers, names and weights (so a `.keras` file restores the averaged
    weights into it); moved only by `update_average`, never by an optimizer."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    copy.trainable = False
    return copy


def average_decay(step, decay):
    """``min(decay, (1 + t) / (10 + t))`` at step t, as `tf.train.ExponentialMovingAverage` with `num_updates`:
    early averages forget the initial weights quickly."""
    t = ops.cast(step, "float32")
    return ops.minimum(decay, (1.0 + t) / (10.0 + t))


def update_average(average, live, step, decay):
    """``w_avg <- d w_avg + (1 - d) w`` for every weight (batch-norm statistics too), with ``d = average_decay``.
    Call it after the optimizer step, with the step counter that counts that step."""
    d = average_decay(step, decay)
    for avg, w in zip(average.weights, live.weights):
        avg.assign(d * avg + (1.0 - d) * ops.cast(w, avg.dtype))


def check_decay(decay, name):
    """`decay` as a float in (0, 1), or None; anything else is refused."""
    if decay is None:
        return None
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0.0 < float(decay) < 1.0:
        raise ValueError(f"{name} is the decay of a moving average, between 0 and 1 (e.g. 0.999), or None for no "
                         f"averaging; got {decay!r}.")
    return float(decay)
