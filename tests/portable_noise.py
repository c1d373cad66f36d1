"""`StepNoise` made of integer arithmetic, for comparing a computation under XLA with the same one without it.

TensorFlow's stateless generators give other numbers under XLA than its CPU/GPU kernels for the same key, even
with `alg="philox"` (tensorflow/tensorflow#117644). `use_portable_noise(monkeypatch)` makes `StepNoise` draw from a
counter-based hash (PCG's output permutation) instead, which gives the same numbers on every path."""

import numpy as np
import tensorflow as tf

from kzoo.noise import StepNoise

MASK = 2 ** 32 - 1


def _hash(x):
    """PCG's output permutation of uint32 values held in int64 (wrap-around products, masked to 32 bits)."""
    shift, xor, mask = tf.bitwise.right_shift, tf.bitwise.bitwise_xor, lambda v: tf.bitwise.bitwise_and(v, MASK)
    x = mask(tf.cast(x, tf.int64) * 747796405 + 2891336453)
    word = mask(xor(shift(x, shift(x, 28) + 4), x) * 277803737)
    return xor(shift(word, 22), word)


def _portable_uniform(shape, key):
    count = tf.reduce_prod(tf.cast(shape, tf.int64))
    offset = _hash(tf.bitwise.bitwise_xor(_hash(key[0]), _hash(key[1] + 1)))
    bits = _hash(tf.bitwise.bitwise_and(tf.range(count, dtype=tf.int64) + offset, MASK))
    return tf.reshape((tf.cast(bits, tf.float32) + 0.5) / 2.0 ** 32, shape)


class PortableNoise(StepNoise):
    """`StepNoise` with keys and draws made of integer arithmetic: XLA and the TF kernels give the same numbers."""

    def _next_key(self):
        key = tf.stack([_hash(self._key[0]) + self._draws, self._key[1]])
        self._draws += 1
        return key

    def normal(self, local_shape):
        def sample(shape, key):  # Box-Muller on two independent uniform draws
            u1 = _portable_uniform(shape, key)
            u2 = _portable_uniform(shape, key + tf.constant([7919, 0], tf.int64))
            return tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * np.pi * u2)
        return self._draw(sample, local_shape)

    def uniform(self, local_shape, minval=0.0, maxval=1.0):
        return self._draw(lambda shape, key: minval + (maxval - minval) * _portable_uniform(shape, key), local_shape)


def use_portable_noise(monkeypatch):
    for name in ("_next_key", "normal", "uniform"):
        monkeypatch.setattr(StepNoise, name, getattr(PortableNoise, name))
