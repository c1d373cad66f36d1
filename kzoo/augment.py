"""Differentiable augmentation for GANs on small data sets (DiffAugment, Zhao et al. 2020).

The same random transformation family is applied, independently per image, to the real and the generated batch
before every discriminator call, in the generator's step too, so the discriminator never sees un-augmented
images and the generator's gradient flows back through the augmentation. The policy names the transformations,
applied in this order:

- ``color``: brightness (add U(-0.5, 0.5)), saturation (scale each pixel's deviation from its channel mean by
  U(0, 2)) and contrast (scale each image's deviation from its mean by U(0.5, 1.5)), on images in [-1, 1];
- ``translation``: shift by a whole number of pixels, up to 1/8 of the image size in each direction (rounded), zero
  (mid-grey) fill, as the published implementation does;
- ``cutout``: a square of half the image size at a random place set to zero.

Built on keras-cv 0.9 layers where their gradient to the input flows, their op is DiffAugment's and XLA compiles
them: `RandomBrightness` (with `value_range=(-2, 2)`, so its delta is U(-0.5, 0.5) and its clipping never binds on
[-1, 1] images), `RandomContrast` (factor 0.5: U(0.5, 1.5); it centres on each channel's mean, which for grey
images is the image mean) and `RandomCutout`. Saturation is written here: keras-cv's `RandomSaturation` returns no
gradient to its input. Translation is written here too: keras-cv's `RandomTranslation` resamples through
`ImageProjectiveTransformV3`, an op XLA cannot compile, and a GPU user's `fit` compiles the step with XLA
(tests/test_augment.py and tests/test_xla.py check each of these facts).

Randomness: the keras-cv layers' random generators and factor samplers are replaced by one object that draws from
a `kzoo.noise.StepNoise` (the model's seed and step), so the augmentation of a step is a function of (seed, step):
the same seed gives the same augmentation, a resumed run augments exactly as the interrupted one would have, and
the draws are per image.
"""

from __future__ import annotations

import tensorflow as tf

from kzoo import noise as knoise

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy):
    """`"color,translation,cutout"` (or a list) -> a tuple of known transformation names."""
    if policy is None or policy == "":
        return ()
    names = tuple(p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment transformation(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(POLICIES)} (e.g. 'color,translation,cutout').")
    return names


class StepRandom:
    """Stands in for a keras-cv layer's random generator (`uniform`) and factor samplers (`__call__`): uniform
    draws from the `StepNoise` of the current call."""

    def __init__(self, lower=0.0, upper=1.0):
        self.lower, self.upper, self.noise = lower, upper, None

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
        return tf.cast(minval + knoise.uniform(shape, self.noise) * (maxval - minval), dtype)

    def __call__(self, shape=(), dtype="float32"):
        return self.uniform(shape, self.lower, self.upper, dtype)


class DiffAugment:
    """Callable `augment(images, seed)` for images in [-1, 1] `[B, H, W, C]`; `seed` is a `StepNoise` (or an
    integer for a one-off call)."""

    def __init__(self, policy="color,translation,cutout"):
        import keras_cv
        self.policy = parse_policy(policy)
        self.random = StepRandom()
        # float32 whatever the global policy: under mixed precision the layers would compute in bfloat16/float16
        # while their factors are float32, and the images go to the discriminator, which casts them anyway.
        f32 = {"dtype": "float32"}
        self.brightness = keras_cv.layers.RandomBrightness(factor=0.125, value_range=(-2.0, 2.0), **f32)
        self.brightness.factor = StepRandom(-0.125, 0.125)   # delta U(-0.125, 0.125) * 4 = U(-0.5, 0.5)
        self.contrast = keras_cv.layers.RandomContrast(value_range=(-4.0, 4.0), factor=0.5, **f32)
        self.contrast.factor = StepRandom(0.5, 1.5)
        self.cutout = keras_cv.layers.RandomCutout((0.5, 0.5), (0.5, 0.5), fill_mode="constant", fill_value=0.0,
                                                   **f32)
        self.cutout._random_generator = self.random

    def __call__(self, images, seed):
        if not self.policy:
            return images
        if not isinstance(seed, knoise.StepNoise):
            seed = knoise.StepNoise(int(seed), 0)
        for sampler in (self.random, self.brightness.factor, self.contrast.factor):
            sampler.noise = seed
        x = tf.cast(images, tf.float32)
        if "color" in self.policy:
            x = self.brightness(x, training=True)
            x = saturation(x, seed)
            x = self.contrast(x, training=True)
        if "translation" in self.policy:
            x = translation(x, seed)
        if "cutout" in self.policy:
            x = self.cutout(x, training=True)
        return x

    def get_config(self):
        return {"policy": ",".join(self.policy)}


def translation(images, seed, ratio=0.125):
    """Each image shifted by whole pixels, (dy, dx) uniform in [-s, s] with s = round(ratio * size), the pixels
    shifted in from outside set to 0 (Zhao et al. 2020's op). Gathers rows and columns, so XLA compiles it and the
    gradient flows to the kept pixels."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    sources = []
    for size in (height, width):
        reach = int(size * ratio + 0.5)
        shift = tf.cast(tf.floor(knoise.uniform((batch, 1), seed) * (2 * reach + 1)), tf.int32) - reach
        sources.append(tf.range(size)[None, :] - shift)                          # [B, size]: the source index
    rows, cols = sources
    x = tf.gather(images, tf.clip_by_value(rows, 0, height - 1), axis=1, batch_dims=1)
    x = tf.gather(x, tf.clip_by_value(cols, 0, width - 1), axis=2, batch_dims=1)
    inside = ((rows >= 0) & (rows < height))[:, :, None, None] & ((cols >= 0) & (cols < width))[:, None, :, None]
    return tf.where(inside, x, tf.zeros_like(x))


def saturation(images, seed):
    """Each pixel's deviation from its mean over channels scaled by a per-image factor U(0, 2) (a no-op on grey
    images, which have one channel)."""
    if images.shape[-1] == 1:
        return images
    factor = knoise.uniform((tf.shape(images)[0], 1, 1, 1), seed, 0.0, 2.0)
    mean = tf.reduce_mean(images, axis=-1, keepdims=True)
    return (images - mean) * factor + mean
