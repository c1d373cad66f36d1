"""Encoder/decoder pairs of the published VAE designs kzoo reproduces.

Every encoder maps images to ``[mean, log_var]`` (two `[B, latent]` tensors); every decoder maps a latent
code to *logits* of the image (the model applies the sigmoid), so the Bernoulli likelihood can be computed
from logits without overflow.
"""

import dataclasses
import math

import keras
from keras import layers


@dataclasses.dataclass(frozen=True)
class VAEDesign:
    description: str
    image_shape: tuple
    latent_dim: int
    encoder_body: callable
    decoder_body: callable


def _gaussian_head(features, latent_dim):
    mean = layers.Dense(latent_dim, name="mean")(features)
    log_var = layers.Dense(latent_dim, name="log_var")(features)
    return [mean, log_var]


# 1. Convolutional 28x28 (the TensorFlow/keras.io convolutional VAE).
def _conv28_encoder(x):
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    return layers.Flatten()(x)


def _conv28_decoder(z, image_shape):
    x = layers.Dense(7 * 7 * 64, activation="relu")(z)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(x)
    return layers.Conv2DTranspose(image_shape[-1], 3, strides=2, padding="same", name="logits")(x)


# 2. MLP 784-600-600 with batch normalisation after the first layer (the M1 model of Kingma et al. 2014).
def _mlp600_encoder(x):
    x = layers.Flatten()(x)
    x = layers.Dense(600)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    return layers.Dense(600, activation="relu")(x)


def _mlp600_decoder(z, image_shape):
    x = layers.Dense(600)(z)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dense(600, activation="relu")(x)
    return _dense_image(x, image_shape)


# 3. MLP 784-256 (the adversarial / Wasserstein autoencoder comparison).
def _mlp256_encoder(x):
    return layers.Dense(256, activation="relu")(layers.Flatten()(x))


def _mlp256_decoder(z, image_shape):
    return _dense_image(layers.Dense(256, activation="relu")(z), image_shape)


# 4. Two strided convolutions then dense 512 and 256, LeakyReLU(0.2), and the mirrored decoder.
def _convdense28_encoder(x):
    x = layers.Conv2D(32, 3, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.LeakyReLU(0.2)(layers.Dense(512)(x))
    return layers.LeakyReLU(0.2)(layers.Dense(256)(x))


def _convdense28_decoder(z, image_shape):
    x = layers.LeakyReLU(0.2)(layers.Dense(256)(z))
    x = layers.LeakyReLU(0.2)(layers.Dense(512)(x))
    x = layers.LeakyReLU(0.2)(layers.Dense(7 * 7 * 64)(x))
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(32, 3, strides=2, padding="same")(x))
    return layers.Conv2DTranspose(image_shape[-1], 3, strides=2, padding="same", name="logits")(x)


# 5. MLP for 64x64 RGB: 12288-512-512, LeakyReLU(0.2), and the mirrored decoder.
def _mlp_rgb64_encoder(x):
    x = layers.Flatten()(x)
    x = layers.LeakyReLU(0.2)(layers.Dense(512)(x))
    return layers.LeakyReLU(0.2)(layers.Dense(512)(x))


def _mlp_rgb64_decoder(z, image_shape):
    x = layers.LeakyReLU(0.2)(layers.Dense(512)(z))
    x = layers.LeakyReLU(0.2)(layers.Dense(512)(x))
    return _dense_image(x, image_shape)


def _dense_image(x, image_shape):
    x = layers.Dense(math.prod(image_shape), name="logits")(x)
    return layers.Reshape(image_shape)(x)


VAE_DESIGNS = {
    "conv28": VAEDesign("Conv(32,3,s2)+ReLU, Conv(64,3,s2)+ReLU; Dense(7*7*64), ConvT(32,3,s2)+ReLU, ConvT(1,3,s2)",
                        (28, 28, 1), 20, _conv28_encoder, _conv28_decoder),
    "mlp600": VAEDesign("MLP 784-600-600, batch norm after the first layer", (28, 28, 1), 50,
                        _mlp600_encoder, _mlp600_decoder),
    "mlp256": VAEDesign("MLP 784-256", (28, 28, 1), 10, _mlp256_encoder, _mlp256_decoder),
    "convdense28": VAEDesign("Conv(32), Conv(64) 3x3 s2, Dense 512, 256, LeakyReLU(0.2); mirrored decoder",
                             (28, 28, 1), 10, _convdense28_encoder, _convdense28_decoder),
    "mlp_rgb64": VAEDesign("MLP 12288-512-512, LeakyReLU(0.2); mirrored decoder", (64, 64, 3), 16,
                           _mlp_rgb64_encoder, _mlp_rgb64_decoder),
}


# 6. The InfoGAN 28x28 architecture (Chen et al. 2016), the one Lucic et al. 2018 and Dai & Wipf 2019 use for every
# model on MNIST and Fashion-MNIST: Conv(64,4,s2)+LReLU(0.1), Conv(128,4,s2)+BN+LReLU, Dense 1024+BN+LReLU;
# decoder Dense 1024+BN+ReLU, Dense 7*7*128+BN+ReLU, ConvT(64,4,s2)+BN+ReLU, ConvT(1,4,s2).
def _infogan28_encoder(x):
    x = layers.LeakyReLU(0.1)(layers.Conv2D(64, 4, strides=2, padding="same")(x))
    x = layers.Conv2D(128, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.1)(layers.BatchNormalization()(x))
    x = layers.Dense(1024)(layers.Flatten()(x))
    return layers.LeakyReLU(0.1)(layers.BatchNormalization()(x))


def _infogan28_decoder(z, image_shape):
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.Dense(1024)(z)))
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.Dense(7 * 7 * 128)(x)))
    x = layers.Reshape((7, 7, 128))(x)
    x = layers.Conv2DTranspose(64, 4, strides=2, padding="same")(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    return layers.Conv2DTranspose(image_shape[-1], 4, strides=2, padding="same", name="logits")(x)


VAE_DESIGNS["infogan28"] = VAEDesign(
    "InfoGAN 28x28: Conv(64,4,s2), Conv(128,4,s2)+BN, Dense 1024+BN, LeakyReLU(0.1); mirrored decoder with ReLU",
    (28, 28, 1), 64, _infogan28_encoder, _infogan28_decoder)


def build_vae_networks(design="conv28", latent_dim=None, image_shape=None, num_classes=None):
    """Return `(encoder, decoder)` functional models of a named design.

    `latent_dim` and `image_shape` default to the design's published values. Convolutional 28x28 designs
    need 28x28 inputs; the MLP designs accept any image shape. With `num_classes` (a conditional VAE, Sohn et al.
    2015), the encoder takes `[images, labels]` and the decoder `[z, labels]`: the one-hot label is joined to the
    encoder's features before the Gaussian head and to the code before the decoder's first layer.
    """
    if design not in VAE_DESIGNS:
        raise ValueError(f"unknown VAE design {design!r}; choose one of {', '.join(VAE_DESIGNS)}.")
    spec = VAE_DESIGNS[design]
    latent_dim = int(latent_dim or spec.latent_dim)
    image_shape = tuple(image_shape or spec.image_shape)
    if design in ("conv28", "convdense28", "infogan28") and image_shape[:2] != (28, 28):
        raise ValueError(f"design {design!r} is built for 28x28 images, got image_shape {image_shape}; "
                         "use an MLP design (mlp600, mlp256, mlp_rgb64) for other sizes.")
    images = keras.Input(image_shape, name="images")
    features, encoder_inputs = spec.encoder_body(images), images
    z = keras.Input((latent_dim,), name="z")
    code, decoder_inputs = z, z
    if num_classes is not None:
        encoder_labels, decoder_labels = (keras.Input((), dtype="int32", name="labels") for _ in range(2))
        features = layers.Concatenate()([features, _one_hot(encoder_labels, num_classes)])
        code = layers.Concatenate()([z, _one_hot(decoder_labels, num_classes)])
        encoder_inputs, decoder_inputs = [images, encoder_labels], [z, decoder_labels]
    encoder = keras.Model(encoder_inputs, _gaussian_head(features, latent_dim), name=f"{design}_encoder")
    decoder = keras.Model(decoder_inputs, spec.decoder_body(code, image_shape), name=f"{design}_decoder")
    return encoder, decoder


def _one_hot(labels, num_classes):
    return layers.CategoryEncoding(int(num_classes), output_mode="one_hot")(labels)
