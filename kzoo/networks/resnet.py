"""Residual generators and discriminators: the CIFAR-10 ResNets of Gulrajani et al. 2017 (WGAN-GP, appendix F) and
Miyato et al. 2018 (SNGAN, appendix B.4, table 4), and their 28x28 and 64x64 forms.

Generator block (pre-activation, upsampling): ``BN, ReLU, upsample x2 (nearest), conv3x3, BN, ReLU, conv3x3``
plus the shortcut ``upsample x2, conv1x1``. The generator is ``z -> dense -> s x s x w``, the blocks, then
``BN, ReLU, conv3x3 -> tanh``.

Discriminator blocks: the first ("optimized") ``conv3x3, ReLU, conv3x3, avgpool`` plus ``avgpool, conv1x1``; the
others ``ReLU, conv3x3, ReLU, conv3x3 [, avgpool]`` plus ``conv1x1 [, avgpool]`` where they downsample (the identity
otherwise). Then ``ReLU``, the sum over positions (global sum pooling) and a dense score. No batch normalisation in
the discriminator: the papers pair it with a gradient penalty or spectral normalisation (`kzoo.constraints`), each
of which needs per-example scores. Every convolution and dense layer is a plain Keras layer, so spectral
normalisation wraps each (``lipschitz="spectral"``).

Sizes: ``resnet32`` is the SNGAN CIFAR-10 pair (generator width 256, three up blocks from 4x4; discriminator width
128, four blocks, the first two downsampling): 4.3M and 1.0M parameters, as the paper's reimplementations list.
``resnet28`` starts the generator at 7x7 with two up blocks (7, 14, 28) and downsamples 28 -> 14 -> 7 in the
discriminator, width 128 both; ``resnet28_w64`` the same at width 64. ``resnet64`` is for 64x64 RGB: four up
blocks from 4x4 (widths 512, 256, 128, 64) and five discriminator blocks (64 ... 512, each downsampling but the
last).
"""

import keras
from keras import layers


def _up_block(x, width, name):
    h = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn1")(x))
    h = layers.UpSampling2D(2, interpolation="nearest")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn2")(h))
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(h)
    shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut")(layers.UpSampling2D(2, interpolation="nearest")(x))
    return layers.Add(name=f"{name}_out")([h, shortcut])


def resnet_generator(latent_dim=128, channels=3, start=4, widths=(256, 256, 256), name="resnet_generator"):
    """z -> Dense(start x start x widths[0]) -> one upsampling block per width -> BN, ReLU, conv3x3(channels), tanh:
    images of ``start * 2^len(widths)`` pixels a side."""
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(start * start * widths[0], name="project")(z)
    x = layers.Reshape((start, start, widths[0]))(x)
    for i, width in enumerate(widths):
        x = _up_block(x, width, f"g_block{i + 1}")
    x = layers.ReLU()(layers.BatchNormalization(name="g_bn_out")(x))
    x = layers.Conv2D(channels, 3, padding="same", activation="tanh", name="images")(x)
    return keras.Model(z, x, name=name)


def _down_block(x, width, downsample, first, name):
    h = x if first else layers.ReLU()(x)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(layers.ReLU()(h))
    if downsample:
        h = layers.AveragePooling2D(2)(h)
    shortcut = x
    if first:  # the optimized block: pool, then project (Miyato et al.'s order)
        shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut")(layers.AveragePooling2D(2)(x))
    elif downsample or x.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, name=f"{name}_shortcut")(x)
        if downsample:
            shortcut = layers.AveragePooling2D(2)(shortcut)
    return layers.Add(name=f"{name}_out")([h, shortcut])


@keras.saving.register_keras_serializable(package="kzoo")
class SumPooling(layers.Layer):
    """The sum over all positions of a feature map (the ResNet discriminators' global sum pooling)."""

    def call(self, x):
        return keras.ops.sum(x, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def resnet_discriminator(image_shape=(32, 32, 3), widths=(128, 128, 128, 128), downsample=(True, True, False, False),
                         name="resnet_discriminator"):
    """One residual block per width (the first the optimized block), downsampling where `downsample` says; then
    ReLU, global sum pooling and Dense(1): one score per image."""
    if len(widths) != len(downsample) or not downsample[0]:
        raise ValueError("a ResNet discriminator needs one downsample flag per block, the first block downsampling.")
    images = keras.Input(image_shape, name="images")
    x = images
    for i, (width, down) in enumerate(zip(widths, downsample)):
        x = _down_block(x, width, down, i == 0, f"d_block{i + 1}")
    x = SumPooling()(layers.ReLU()(x))
    return keras.Model(images, layers.Dense(1, name="output")(x), name=name)


def resnet32_generator(latent_dim=128, channels=3):
    return resnet_generator(latent_dim, channels, start=4, widths=(256, 256, 256), name="resnet32_generator")


def resnet32_discriminator(image_shape=(32, 32, 3)):
    return resnet_discriminator(image_shape, (128,) * 4, (True, True, False, False), name="resnet32_discriminator")


def resnet28_generator(latent_dim=128, channels=1, width=128):
    return resnet_generator(latent_dim, channels, start=7, widths=(width, width), name=f"resnet28_w{width}_generator")


def resnet28_discriminator(image_shape=(28, 28, 1), width=128):
    return resnet_discriminator(image_shape, (width,) * 4, (True, True, False, False),
                                name=f"resnet28_w{width}_discriminator")


def resnet64_generator(latent_dim=128, channels=3):
    return resnet_generator(latent_dim, channels, start=4, widths=(512, 256, 128, 64), name="resnet64_generator")


def resnet64_discriminator(image_shape=(64, 64, 3)):
    return resnet_discriminator(image_shape, (64, 128, 256, 512, 512), (True, True, True, True, False),
                                name="resnet64_discriminator")
