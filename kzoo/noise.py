"""Training noise that does not depend on how the batch is split across replicas.

Noise drawn inside `train_step` from a `keras.random.SeedGenerator` is drawn per replica: under
`MirroredStrategy` every replica gets its own (or the same) numbers, so k steps on 2 devices differ from k steps
on one device with the same global batch. `StepNoise` instead makes every draw a function of
``(seed, step, draw number, global example index)``: each replica generates the noise of the whole global batch
with a stateless generator and keeps its own slice. Drawing `replicas` times the noise is cheap next to the
networks (latent vectors and per-example scalars), and the same function makes a resumed run draw exactly
the noise the interrupted one would have drawn, since the step counter is part of the optimizer's state.
"""

import keras
import tensorflow as tf


class StepNoise:
    """The noise of one training step. Each `normal`/`uniform` call is a new independent draw.

    Args:
        seed: an integer (the model's seed).
        step: the step counter (an integer or scalar tensor, e.g. `optimizer.iterations`).

    Draws take the *local* (per-replica) shape; the replica's slice of the global draw is returned. The split is
    exact when the global batch divides evenly between replicas, as `drop_remainder` pipelines guarantee.
    """

    def __init__(self, seed, step):
        self._key = tf.stack([tf.constant(int(seed) % 2**31, tf.int64), tf.cast(step, tf.int64)])
        self._draws = 0

    def _next_key(self):
        key = tf.random.experimental.stateless_fold_in(self._key, self._draws)
        self._draws += 1
        return key

    def key(self):
        """A fresh int64 `[2]` key for a generator of its own (a new draw, like `normal` and `uniform`)."""
        return tf.cast(self._next_key(), tf.int64)

    def _draw(self, sample, local_shape):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        key = self._next_key()
        static = [d if isinstance(d, int) else None for d in local_shape]
        shape = tf.cast(tf.convert_to_tensor(local_shape), tf.int32)
        if replicas == 1:
            return tf.ensure_shape(sample(shape, key), static)
        local = shape[0]
        values = sample(tf.concat([[local * replicas], shape[1:]], axis=0), key)
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * local
        return tf.ensure_shape(values[start:start + local], static)

    def normal(self, local_shape):
        return self._draw(lambda shape, key: tf.random.stateless_normal(shape, key), local_shape)

    def uniform(self, local_shape, minval=0.0, maxval=1.0):
        return self._draw(lambda shape, key: tf.random.stateless_uniform(shape, key, minval, maxval), local_shape)


def normal(shape, seed):
    """`keras.random.normal(shape, seed=seed)`, or a `StepNoise` draw when `seed` is one."""
    if isinstance(seed, StepNoise):
        return seed.normal(shape)
    return keras.random.normal(shape, seed=seed)


def uniform(shape, seed, minval=0.0, maxval=1.0):
    """`keras.random.uniform(shape, minval, maxval, seed=seed)`, or a `StepNoise` draw when `seed` is one."""
    if isinstance(seed, StepNoise):
        return seed.uniform(shape, minval, maxval)
    return keras.random.uniform(shape, minval, maxval, seed=seed)


def categorical(batch, seed, probabilities):
    """`batch` int32 class labels drawn with `probabilities` (`[K]`, summing to 1): the inverse CDF of a uniform
    draw (`uniform`'s noise), so a `StepNoise` makes them replica-independent and resumable like the rest."""
    probabilities = tf.convert_to_tensor(probabilities, tf.float32)
    cdf = tf.math.cumsum(probabilities)
    u = tf.reshape(uniform((batch,), seed), [-1]) * cdf[-1]
    labels = tf.searchsorted(cdf, u, side="right", out_type=tf.int32)
    return tf.minimum(labels, tf.shape(probabilities, out_type=tf.int32)[0] - 1)


def resolve_seed(seed):
    """A model's noise seed: `seed`, or one drawn from Python's `random` (seeded by `keras.utils.set_random_seed`)
    and then kept in the model's config, so a saved model and a resumed run draw the same noise."""
    if seed is not None:
        return int(seed)
    import random
    return random.randint(0, 2**31 - 1)
