"""Denoising U-Nets for diffusion models: ``[x_t, t] -> prediction`` of the image's shape.

The shape of Ho et al. 2020, sized for small images and CPUs: a sinusoidal timestep embedding and a two-layer MLP;
residual blocks (group norm, swish, 3x3 convolutions, the time embedding added between the convolutions); strided
3x3 convolutions down, nearest-neighbour upsampling and a 3x3 convolution up, skip connections concatenated; optional
self-attention at the lowest resolution. Images whose side is not a multiple of 2^(levels - 1) are zero-padded
first and the output cropped back (28x28 images need no padding for three levels: they run at 28, 14 and 7).
"""

import math
from typing import NamedTuple

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kzoo")
class TimestepEmbedding(layers.Layer):
    """Sinusoidal embedding of (integer or real) timesteps, as in the Transformer (Vaswani et al. 2017):
    ``[sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ...]`` with ``w_i = max_period ** (-i / (d/2))``."""

    def __init__(self, dim, max_period=10000.0, **kwargs):
        super().__init__(**kwargs)
        if dim % 2:
            raise ValueError(f"the timestep embedding needs an even size, got {dim}.")
        self.dim, self.max_period = int(dim), float(max_period)

    def call(self, t):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(self.max_period) * ops.arange(half, dtype="float32") / half)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        return ops.cast(ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return dict(super().get_config(), dim=self.dim, max_period=self.max_period)


def _norm(x, groups):
    return layers.GroupNormalization(min(groups, x.shape[-1]), epsilon=1e-5)(x)


def residual_block(x, time, width, groups, dropout=0.0):
    skip = x if x.shape[-1] == width else layers.Conv2D(width, 1)(x)
    h = layers.Conv2D(width, 3, padding="same")(layers.Activation("swish")(_norm(x, groups)))
    h = h + layers.Reshape((1, 1, width))(layers.Dense(width)(layers.Activation("swish")(time)))
    h = layers.Activation("swish")(_norm(h, groups))
    if dropout:
        h = layers.Dropout(dropout)(h)
    h = layers.Conv2D(width, 3, padding="same")(h)
    return layers.Add()([skip, h])


def attention_block(x, groups, heads=1):
    height, width, channels = x.shape[1:]
    h = layers.Reshape((height * width, channels))(_norm(x, groups))
    h = layers.MultiHeadAttention(heads, channels // heads)(h, h)
    return layers.Add()([x, layers.Reshape((height, width, channels))(h)])


def build_unet(image_shape, widths=(32, 64, 128), blocks=1, attention=True, groups=8, dropout=0.0, name="unet"):
    """A U-Net over `len(widths)` resolutions with `blocks` residual blocks per resolution on each side.

    Inputs: ``x_t`` (images of `image_shape`) and ``t`` (``[B]`` timesteps); output: one value per pixel and channel
    (the predicted noise, or velocity), linear, float32-castable.
    """
    height, width_px, channels = image_shape
    factor = 2 ** (len(widths) - 1)
    pad_h, pad_w = (-height) % factor, (-width_px) % factor
    images = keras.Input(tuple(image_shape), name="x_t")
    t = keras.Input((), name="t")
    time_dim = 4 * widths[0]
    time = TimestepEmbedding(widths[0], name="timestep_embedding")(t)
    time = layers.Dense(time_dim, activation="swish")(time)
    time = layers.Dense(time_dim)(time)

    x = images
    if pad_h or pad_w:
        x = layers.ZeroPadding2D(((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))(x)
    x = layers.Conv2D(widths[0], 3, padding="same")(x)
    skips = []
    for level, width in enumerate(widths):
        for _ in range(blocks):
            x = residual_block(x, time, width, groups, dropout)
            skips.append(x)
        if level < len(widths) - 1:
            x = layers.Conv2D(width, 3, strides=2, padding="same")(x)
    x = residual_block(x, time, widths[-1], groups, dropout)
    if attention:
        x = attention_block(x, groups)
    x = residual_block(x, time, widths[-1], groups, dropout)
    for level, width in reversed(list(enumerate(widths))):
        for _ in range(blocks):
            x = layers.Concatenate()([x, skips.pop()])
            x = residual_block(x, time, width, groups, dropout)
        if level > 0:
            x = layers.UpSampling2D(2, interpolation="nearest")(x)
            x = layers.Conv2D(widths[level - 1], 3, padding="same")(x)
    x = layers.Activation("swish")(_norm(x, groups))
    # Zero-initialised output: the untrained model predicts 0 (the mean of the noise), a gentle start.
    x = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name="prediction")(x)
    if pad_h or pad_w:
        x = layers.Cropping2D(((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))(x)
    return keras.Model([images, t], x, name=name)


class UNetDesign(NamedTuple):
    widths: tuple
    blocks: int
    attention: bool
    about: str


UNET_DESIGNS = {
    "unet28": UNetDesign((32, 64, 128), 1, True,
                         "28x28 (at 28, 14 and 7, no padding): widths 32-64-128, one residual block per resolution "
                         "and side, self-attention at 7x7"),
    "unet64": UNetDesign((32, 64, 96, 128), 1, True,
                         "64x64 RGB: widths 32-64-96-128, one residual block per resolution and side, "
                         "self-attention at 8x8"),
    "unet_tiny": UNetDesign((8, 16), 1, False, "a tiny U-Net for tests: widths 8-16, no attention"),
}


def build_diffusion_network(design, image_shape):
    """The denoiser of a named design (`UNET_DESIGNS`) for images of `image_shape`."""
    if design not in UNET_DESIGNS:
        raise ValueError(f"unknown diffusion design {design!r}; choose one of {', '.join(UNET_DESIGNS)}.")
    spec = UNET_DESIGNS[design]
    return build_unet(tuple(image_shape), spec.widths, spec.blocks, spec.attention, groups=8, name=f"{design}")
