"""Generators and discriminators (critics) of the published GAN designs.

Generators map `z` to images in [-1, 1] (tanh). Discriminators output one raw value per image: a logit
for the probability losses (the published sigmoid is applied inside the loss, from logits), a score for
critics. Layers followed by batch normalisation have no bias.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import keras
from keras import layers

from kzoo.networks import resnet


def _leaky(x):
    return layers.LeakyReLU(0.2)(x)


LABEL_EMBEDDING = 50


def _conditioned_input(z, latent_dim, num_classes):
    """The generator's inputs: z alone, or [z, label] with the label's learned embedding (50-d) joined to z."""
    if num_classes is None:
        return z, layers.Reshape((1, 1, latent_dim))(z)
    labels = keras.Input((), dtype="int32", name="labels")
    embedded = layers.Embedding(num_classes, LABEL_EMBEDDING, name="label_embedding")(labels)
    joined = layers.Concatenate()([z, embedded])
    return [z, labels], layers.Reshape((1, 1, latent_dim + LABEL_EMBEDDING))(joined)


def _projection_output(features, score, images, num_classes):
    """A discriminator's output: `score` (B, 1), plus the projection <embed(y), phi(x)> of the label's embedding
    onto the flattened `features` phi(x) when conditional (Miyato & Koyama 2018)."""
    if num_classes is None:
        return images, score
    labels = keras.Input((), dtype="int32", name="labels")
    phi = layers.Flatten()(features)
    # The embedding as a bias-free Dense on one-hot labels (the same map), so spectral normalisation can wrap it.
    one_hot = layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels)
    embedded = layers.Dense(phi.shape[-1], use_bias=False, name="label_projection")(one_hot)
    projection = layers.Dot(axes=1)([phi, embedded])
    return [images, labels], layers.Add(name="output")([score, projection])


def dcgan28_generator(latent_dim=100, channels=1, num_classes=None):
    """z -> ConvT(128,7,s1,valid)+BN+ReLU -> ConvT(64,4,s2)+BN+ReLU -> ConvT(C,4,s2)+tanh: 28x28xC.

    With `num_classes`, the inputs are [z, label] and the label's embedding joins z before the first layer."""
    z = keras.Input((latent_dim,), name="z")
    inputs, x = _conditioned_input(z, latent_dim, num_classes)
    x = layers.Conv2DTranspose(128, 7, strides=1, padding="valid", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", name="images")(x)
    return keras.Model(inputs, x, name="dcgan28_generator")


def dcgan28_discriminator(image_shape=(28, 28, 1), batch_norm=True, num_classes=None, auxiliary_classifier=False):
    """Conv(64,4,s2)+LReLU -> Conv(128,4,s2)[+BN]+LReLU -> Conv(1,7,valid): one value per image.

    `batch_norm=False` gives the WGAN-GP critic (the penalty is per example, which batch norm breaks). With
    `num_classes`, the inputs are [image, label] and the output adds the projection of the label's embedding onto
    the last feature map (a projection discriminator); with `auxiliary_classifier` too, the input is the image
    alone and a second output holds `num_classes` class logits from the same features (AC-GAN, Odena et al. 2017).
    """
    images = keras.Input(image_shape, name="images")
    x = _leaky(layers.Conv2D(64, 4, strides=2, padding="same")(images))
    x = layers.Conv2D(128, 4, strides=2, padding="same", use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    features = _leaky(x)
    if auxiliary_classifier:
        score = layers.Flatten(name="output")(layers.Conv2D(1, 7, padding="valid")(features))
        logits = layers.Dense(int(num_classes), name="class_logits")(layers.Flatten()(features))
        return keras.Model(images, [score, logits], name="dcgan28_discriminator")
    score = layers.Flatten(name="score" if num_classes else "output")(layers.Conv2D(1, 7, padding="valid")(features))
    inputs, output = _projection_output(features, score, images, num_classes)
    return keras.Model(inputs, output, name="dcgan28_discriminator")


def dcgan64_generator(latent_dim=100, channels=3, width=64):
    """z -> ConvT(8w,4,valid) 4x4 -> ConvT(4w) 8x8 -> ConvT(2w) 16x16 -> ConvT(w) 32x32, each +BN+ReLU,
    -> ConvT(C,4,s2)+tanh 64x64xC (Radford et al. 2016)."""
    z = keras.Input((latent_dim,), name="z")
    x = layers.Reshape((1, 1, latent_dim))(z)
    x = layers.Conv2DTranspose(8 * width, 4, padding="valid", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for multiple in (4, 2, 1):
        x = layers.Conv2DTranspose(multiple * width, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", name="images")(x)
    return keras.Model(z, x, name="dcgan64_generator")


def dcgan64_discriminator(image_shape=(64, 64, 3), width=64, batch_norm=True):
    """Conv(w,4,s2)+LReLU -> Conv(2w)/(4w)/(8w) (4, s2)+BN+LReLU -> Conv(1,4,valid): the mirrored discriminator."""
    images = keras.Input(image_shape, name="images")
    x = _leaky(layers.Conv2D(width, 4, strides=2, padding="same")(images))
    for multiple in (2, 4, 8):
        x = layers.Conv2D(multiple * width, 4, strides=2, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        x = _leaky(x)
    x = layers.Conv2D(1, 4, padding="valid")(x)
    return keras.Model(images, layers.Flatten(name="output")(x), name="dcgan64_discriminator")


def dense_conv28_generator(latent_dim=100, batch_norm=False):
    """z -> Dense(7*7*128)+LReLU -> ConvT(64,5,s2)+LReLU (the 14x14x64 map) -> ConvT(1,5,s2)+tanh: 28x28x1.

    The reproduced study lists Dense(7*7*128) and a 14*14*64 stage before two stride-2 ConvT layers; with two
    stride-2 layers ending at 28x28, the 14x14x64 stage is the first ConvT's output, which is how it is built.
    `batch_norm=True` (design ``dense_conv28_bn``) puts batch normalisation before both hidden activations, as
    DCGAN does: the published design without it collapses onto one digit on MNIST (study 6).
    """
    def hidden(x):
        return _leaky(layers.BatchNormalization()(x) if batch_norm else x)

    z = keras.Input((latent_dim,), name="z")
    x = hidden(layers.Dense(7 * 7 * 128, use_bias=not batch_norm)(z))
    x = layers.Reshape((7, 7, 128))(x)
    x = hidden(layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=not batch_norm)(x))
    x = layers.Conv2DTranspose(1, 5, strides=2, padding="same", activation="tanh", name="images")(x)
    return keras.Model(z, x, name="dense_conv28_bn_generator" if batch_norm else "dense_conv28_generator")


def dense_conv28_discriminator(image_shape=(28, 28, 1)):
    """Conv 64/128/256/512 (5x5, s2, same)+LReLU -> flatten -> Dense(1)."""
    images = keras.Input(image_shape, name="images")
    x = images
    for filters in (64, 128, 256, 512):
        x = _leaky(layers.Conv2D(filters, 5, strides=2, padding="same")(x))
    return keras.Model(images, layers.Dense(1, name="output")(layers.Flatten()(x)), name="dense_conv28_discriminator")


CRITIC_READOUTS = ("dense", "mean")


@keras.saving.register_keras_serializable(package="kzoo")
class MeanReadout(layers.Layer):
    """The mean of the last axis, kept as one unit: several linear critic outputs read as one score."""

    def call(self, x):
        return keras.ops.mean(x, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


def mlp_critic(input_dim, units=(512, 256), name="latent_critic", readout="dense"):
    """MLP critic over vectors (latent codes or 2-D points).

    ``readout="dense"``: Dense(u)+LReLU(0.2) for each u in `units`, then a linear Dense(1) score (512-256-1 for
    ``units=(512, 256)``). ``readout="mean"``: the last entry of `units` is a *linear* output layer and the score is
    the mean of its outputs (``units=(512, 256, 10)``: the critic read as "512, 256 and 10 units"). The mean of
    linear outputs is again a linear function of the last hidden layer, so both readouts span the same critics; they
    differ in parametrisation (the mean's 10 x 257 weights, each with gradient 1/10 of the score's), and so in how
    the optimizer moves them.
    """
    if readout not in CRITIC_READOUTS:
        raise ValueError(f"unknown critic readout {readout!r}; choose one of {', '.join(CRITIC_READOUTS)}.")
    units = tuple(units)
    if readout == "mean" and len(units) < 2:
        raise ValueError(f"a mean readout needs hidden layers and an output layer, e.g. units=(512, 256, 10); got "
                         f"{units}.")
    hidden = units if readout == "dense" else units[:-1]
    inputs = keras.Input((input_dim,), name="inputs")
    x = inputs
    for u in hidden:
        x = _leaky(layers.Dense(u)(x))
    if readout == "dense":
        return keras.Model(inputs, layers.Dense(1, name="output")(x), name=name)
    outputs = layers.Dense(units[-1], name="outputs")(x)
    return keras.Model(inputs, MeanReadout(name="output")(outputs), name=name)


def mlp_generator(latent_dim=2, output_dim=2, units=(128, 128), name="mlp_generator"):
    """MLP generator for the toy 2-D sets: Dense(u)+ReLU for each u, then a linear Dense(output_dim)."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for u in units:
        x = layers.Dense(u, activation="relu")(x)
    return keras.Model(z, layers.Dense(output_dim, name="points")(x), name=name)


class GanDesign(NamedTuple):
    """A generator/discriminator pair, the image size it makes, whether its channels follow the data, and whether
    it has a class-conditional form (`num_classes`)."""

    make_generator: Callable
    make_discriminator: Callable
    image_size: tuple
    any_channels: bool
    conditional: bool = False


GAN_DESIGNS = {
    "dcgan28": GanDesign(dcgan28_generator, dcgan28_discriminator, (28, 28), True, conditional=True),
    "dcgan64": GanDesign(dcgan64_generator, dcgan64_discriminator, (64, 64), True),
    "dense_conv28": GanDesign(dense_conv28_generator, dense_conv28_discriminator, (28, 28), False),
    "dense_conv28_bn": GanDesign(functools.partial(dense_conv28_generator, batch_norm=True),
                                 dense_conv28_discriminator, (28, 28), False),
    # Residual networks (kzoo.networks.resnet): Gulrajani et al. 2017, Miyato et al. 2018.
    "resnet28": GanDesign(resnet.resnet28_generator, resnet.resnet28_discriminator, (28, 28), True),
    "resnet28_w64": GanDesign(functools.partial(resnet.resnet28_generator, width=64),
                              functools.partial(resnet.resnet28_discriminator, width=64), (28, 28), True),
    "resnet32": GanDesign(resnet.resnet32_generator, resnet.resnet32_discriminator, (32, 32), True),
    "resnet64": GanDesign(resnet.resnet64_generator, resnet.resnet64_discriminator, (64, 64), True),
}


def build_gan_networks(design, latent_dim=100, image_shape=None, num_classes=None, auxiliary_classifier=False,
                       **discriminator_kwargs):
    """`(generator, discriminator)` of a named design; class-conditional ones with `num_classes` (a projection
    discriminator, or with `auxiliary_classifier` an AC-GAN discriminator that sees the image only)."""
    if design not in GAN_DESIGNS:
        raise ValueError(f"unknown GAN design {design!r}; choose one of {', '.join(GAN_DESIGNS)}.")
    spec = GAN_DESIGNS[design]
    generator_kwargs = {}
    if num_classes is not None:
        if not spec.conditional:
            raise ValueError(f"GAN design {design!r} has no class-conditional form; conditional designs: "
                             f"{', '.join(n for n, d in GAN_DESIGNS.items() if d.conditional)}.")
        generator_kwargs["num_classes"] = discriminator_kwargs["num_classes"] = int(num_classes)
        if auxiliary_classifier:
            discriminator_kwargs["auxiliary_classifier"] = True
    elif auxiliary_classifier:
        raise ValueError("an auxiliary classifier needs num_classes.")
    if image_shape is not None:
        image_shape = tuple(image_shape)
        if image_shape[:2] != spec.image_size:
            raise ValueError(f"GAN design {design!r} makes {spec.image_size[0]}x{spec.image_size[1]} images; the "
                             f"data has shape {image_shape}. Resize the data (image_size) or choose another design.")
        if spec.any_channels:
            generator_kwargs["channels"] = image_shape[-1]
            discriminator_kwargs["image_shape"] = image_shape
        elif image_shape[-1] != 1:
            raise ValueError(f"GAN design {design!r} makes grey images; the data has {image_shape[-1]} channels. "
                             "Use grayscale data or a design whose channels follow the data (dcgan28, dcgan64).")
    return spec.make_generator(latent_dim, **generator_kwargs), spec.make_discriminator(**discriminator_kwargs)
