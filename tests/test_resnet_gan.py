"""The residual GAN designs (`kzoo.networks.resnet`): shapes, the published parameter counts, the block structure,
spectral normalisation on every critic layer, and a GAN built from them trains, saves and loads."""

import keras
import numpy as np
import pytest

from kzoo import constraints
from kzoo.models import AdversarialModel
from kzoo.networks import build_gan_networks, resnet


def test_resnet32_has_the_sngan_cifar10_sizes():
    """Miyato et al. 2018, table 4 (CIFAR-10 ResNet): generator 4.3M, discriminator 1.0M parameters in the
    reimplementations that list them (Lee & Town 2020, Mimicry)."""
    generator, discriminator = build_gan_networks("resnet32", 128, image_shape=(32, 32, 3))
    assert generator.count_params() == pytest.approx(4.3e6, rel=0.01)  # 4,280,323
    assert discriminator.count_params() == pytest.approx(1.0e6, rel=0.06)  # 1,053,825
    assert generator.output_shape == (None, 32, 32, 3) and discriminator.output_shape == (None, 1)


@pytest.mark.parametrize("design, shape", [("resnet28", (28, 28, 1)), ("resnet28_w64", (28, 28, 3)),
                                           ("resnet64", (64, 64, 3))])
def test_each_design_maps_noise_to_images_of_its_size_and_images_to_one_score(design, shape):
    generator, discriminator = build_gan_networks(design, 16, image_shape=shape)
    z = np.random.default_rng(0).standard_normal((2, 16)).astype("float32")
    images = np.asarray(generator(z, training=False))
    assert images.shape == (2, *shape) and np.abs(images).max() <= 1.0
    assert np.asarray(discriminator(images)).shape == (2, 1)


def test_the_blocks_are_the_published_ones():
    generator, discriminator = build_gan_networks("resnet28", 128, image_shape=(28, 28, 1))
    # Generator: 7x7 -> 14 -> 28 through two upsampling blocks, each two 3x3 convolutions and a 1x1 shortcut.
    assert generator.get_layer("project").output.shape[-1] == 7 * 7 * 128
    assert [generator.get_layer(f"g_block{i}_out").output.shape[1] for i in (1, 2)] == [14, 28]
    assert generator.get_layer("g_block1_shortcut").kernel.shape == (1, 1, 128, 128)
    # Discriminator: no batch normalisation; 28 -> 14 -> 7 -> 7 -> 7; identity shortcuts where nothing changes.
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in discriminator.layers)
    assert [discriminator.get_layer(f"d_block{i}_out").output.shape[1] for i in (1, 2, 3, 4)] == [14, 7, 7, 7]
    names = {layer.name for layer in discriminator.layers}
    assert {"d_block1_shortcut", "d_block2_shortcut"} <= names and "d_block3_shortcut" not in names
    # The sum over positions, not the mean: a 7x7 map of ones sums to 49 per channel.
    assert np.asarray(resnet.SumPooling()(np.ones((1, 7, 7, 2), "float32"))).tolist() == [[49.0, 49.0]]


def test_spectral_normalisation_wraps_every_convolution_and_dense_layer_of_the_critic():
    _, discriminator = build_gan_networks("resnet28_w64", 16, image_shape=(28, 28, 1))
    kernels = [layer for layer in discriminator.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    wrapped = constraints.get("spectral").prepare(discriminator)
    normalised = [layer for layer in wrapped.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(kernels) == 4 * 2 + 2 + 1 and len(normalised) == len(kernels)  # convs, shortcuts, the score
    assert not [layer for layer in wrapped.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


def test_a_residual_hinge_gan_with_spectral_norm_trains_saves_and_loads(tmp_path):
    generator, discriminator = build_gan_networks("resnet28_w64", 16, image_shape=(28, 28, 1))
    gan = AdversarialModel(generator, discriminator, loss="hinge", lipschitz="spectral", seed=0, generator_ema=0.999)
    gan.compile()
    images = np.random.default_rng(1).uniform(-1, 1, (32, 28, 28, 1)).astype("float32")
    history = gan.fit(images, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0])
    gan.save(tmp_path / "gan.keras")
    restored = keras.models.load_model(tmp_path / "gan.keras")
    z = np.random.default_rng(2).standard_normal((4, 16)).astype("float32")
    np.testing.assert_allclose(np.asarray(restored.generate(z)), np.asarray(gan.generate(z)), atol=1e-5)
