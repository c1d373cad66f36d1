"""Gradient penalties of critics: WGAN-GP's on interpolates (Gulrajani et al. 2017) and R1 on real data
(Mescheder et al. 2018)."""

import tensorflow as tf
from keras import ops

from kzoo import noise

NORM_EPSILON = 1e-12


def gradient_penalty(critic, real, fake, seed=None, weight=10.0, training=True):
    """`weight * mean_i (||grad_x f(x_i_hat)|| - 1)^2` at `x_i_hat = a_i x_i + (1 - a_i) x~_i`, `a_i ~ U[0, 1]`.

    One interpolation weight per example, drawn uniformly (not from a normal); `seed` is a seed, a
    `SeedGenerator` or a `kzoo.noise.StepNoise`. The norm is
    `sqrt(sum g^2 + 1e-12)`, so a zero gradient gives a finite penalty and gradient instead of NaN.
    Call it inside the critic's gradient tape: the penalty's gradient flows to the critic's weights.
    The critic must treat examples independently (no batch normalisation in training mode).
    """
    real = ops.cast(real, "float32")
    fake = ops.cast(fake, "float32")
    batch = ops.shape(real)[0]
    alpha_shape = (batch,) + (1,) * (len(real.shape) - 1)
    alpha = noise.uniform(alpha_shape, seed)
    interpolates = alpha * real + (1.0 - alpha) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = ops.cast(critic(interpolates, training=training), "float32")
    grads = tape.gradient(scores, interpolates)
    norms = ops.sqrt(ops.sum(ops.square(ops.reshape(grads, (batch, -1))), axis=1) + NORM_EPSILON)
    return weight * ops.mean(ops.square(norms - 1.0))


def r1_penalty(critic, real, weight=10.0, training=True):
    """`weight / 2 * mean_i ||grad_x f(x_i)||^2` at the real images `x_i` (R1, Mescheder et al. 2018).

    It pulls the critic's gradient on the data towards zero, so near equilibrium the generator is not pushed off
    the data manifold. Call it inside the critic's gradient tape; the critic must treat examples independently.
    """
    real = ops.cast(real, "float32")
    with tf.GradientTape() as tape:
        tape.watch(real)
        scores = ops.cast(critic(real, training=training), "float32")
    grads = tape.gradient(scores, real)
    squared_norms = ops.sum(ops.square(ops.reshape(grads, (ops.shape(real)[0], -1))), axis=1)
    return 0.5 * weight * ops.mean(squared_norms)
