import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_fit_test, run_model_saving_test, run_serialization_test

from kzoo import presets
from kzoo.models import AdversarialModel, CriticVAE
from kzoo.networks import build_gan_networks


def _distinct_models():
    """GAN presets with a model of their own run in the default suite; those that only change the dataset of an
    earlier one (dcgan_mnist is dcgan_fashion's model), the WGANs (n_critic 5: five times the steps; their
    clipping and penalty have tests of their own), the conditional ones (tests/test_conditional.py trains one end to
    end) and the 64x64 one (its networks' shapes are checked below) run under the slow marker."""
    seen, params = set(), []
    for name in sorted(n for n, p in presets.PRESETS.items() if p.family == "gan"):
        key = repr(presets.PRESETS[name].model)
        model = presets.PRESETS[name].model
        slow = key in seen or model.n_critic > 1 or model.num_classes is not None or model.design == "dcgan64"
        params.append(pytest.param(name, marks=pytest.mark.slow) if slow else name)
        seen.add(key)
    return params


GAN_PRESETS = _distinct_models()
SHAPES = {"dcgan64": (64, 64, 3)}


def build(name):
    preset = presets.get(name)
    shape = SHAPES.get(preset["model"]["design"], (28, 28, 1))
    return preset, presets.build_model(preset, image_shape=shape, seed=0), shape


def generate(model, z):
    return [model.generate(z)]


@pytest.mark.parametrize("name", GAN_PRESETS)
def test_gan_preset_fit_save_load_and_range(name, tmp_path):
    preset, model, shape = build(name)
    n_critic = preset["model"]["n_critic"]
    real = np.random.default_rng(0).uniform(-1, 1, (2 * n_critic, *shape)).astype("float32")
    conditional = bool(preset["model"].get("num_classes"))
    labels = np.arange(2 * n_critic) % 10 if conditional else None  # a conditional model learns from (x, y)
    run_fit_test(model, real, labels, batch_size=2 * n_critic)
    assert int(model.d_optimizer.iterations) == n_critic and int(model.optimizer.iterations) == 1
    data = (real, labels) if conditional else real
    run_fit_test(model, tf.data.Dataset.from_tensor_slices(data).batch(2 * n_critic))
    z = np.random.default_rng(1).standard_normal((4, model.latent_dim)).astype("float32")
    loaded = run_model_saving_test(model, tmp_path, z, generate)
    assert int(loaded.d_optimizer.iterations) == 2 * n_critic
    assert type(loaded.lipschitz) is type(model.lipschitz) and loaded.loss_pair == model.loss_pair
    images = np.asarray(model.generate(z))
    assert images.shape == (4, *shape) and images.min() >= -1 and images.max() <= 1
    run_serialization_test(model)


def test_presets_state_the_published_settings():
    dcgan = presets.get("dcgan_fashion")
    assert dcgan["batch_size"] == 128 and dcgan["epochs"] == 30 and dcgan["pixel_range"] == (-1.0, 1.0)
    assert dcgan["optimizer"]["d"] == {"class_name": "Adam", "learning_rate": 2e-4, "beta_1": 0.5, "beta_2": 0.999}
    _, clip, _ = build("wgan_clip_fashion")
    assert clip.lipschitz.clip_value == 0.01 and clip.n_critic == 5 and clip.loss_pair.name == "wasserstein"
    assert isinstance(clip.d_optimizer, keras.optimizers.RMSprop)
    assert np.isclose(float(clip.d_optimizer.learning_rate), 5e-5)
    assert presets.pipeline_batch_size(presets.get("wgan_clip_fashion")) == 64 * 5
    _, gp, _ = build("wgan_gp_fashion")
    assert gp.lipschitz.weight == 10.0 and not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in gp.discriminator.layers)
    assert (float(gp.d_optimizer.beta_1), float(gp.d_optimizer.beta_2)) == (0.5, 0.9)


def test_dcgan28_layers_are_the_published_ones():
    generator, discriminator = build_gan_networks("dcgan28", 100)
    convt = [layer for layer in generator.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [(c.filters, c.kernel_size, c.strides, c.padding) for c in convt] == [
        (128, (7, 7), (1, 1), "valid"), (64, (4, 4), (2, 2), "same"), (1, (4, 4), (2, 2), "same")]
    conv = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.strides) for c in conv] == [(64, (4, 4), (2, 2)), (128, (4, 4), (2, 2)),
                                                                     (1, (7, 7), (1, 1))]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in discriminator.layers) == 1
    g64, d64 = build_gan_networks("dcgan64", 100, image_shape=(64, 64, 3))
    assert g64.output_shape == (None, 64, 64, 3) and d64.output_shape == (None, 1)
    with pytest.raises(ValueError, match="makes 28x28 images"):
        build_gan_networks("dcgan28", 100, image_shape=(64, 64, 3))
    g28rgb, d28rgb = build_gan_networks("dcgan28", 100, image_shape=(28, 28, 3))
    assert g28rgb.output_shape == (None, 28, 28, 3) and d28rgb.input_shape == (None, 28, 28, 3)
    with pytest.raises(ValueError, match="makes grey images"):
        build_gan_networks("dense_conv28", 100, image_shape=(28, 28, 3))


def test_critic_vae_fit_save_load_and_shared_critic_update(tmp_path, monkeypatch):
    import kzoo.models.critic_vae as critic_vae_module
    preset = presets.get("critic_vae_mnist")
    model = presets.build_model(preset, image_shape=(28, 28, 1), seed=0)
    assert isinstance(model, CriticVAE) and model.latent_dim == 10
    assert [layer.units for layer in model.latent_critic.layers if isinstance(layer, keras.layers.Dense)] == [
        512, 256, 1]
    images = np.random.default_rng(0).uniform(size=(8, 28, 28, 1)).astype("float32")
    history = run_fit_test(model, images, batch_size=8)
    assert {"loss", "reconstruction_loss", "wasserstein", "critic_loss", "penalty"} == set(history.history)
    np.testing.assert_allclose(history.history["loss"][0],
                               history.history["reconstruction_loss"][0] + history.history["wasserstein"][0],
                               rtol=1e-4)
    z = np.random.default_rng(1).standard_normal((3, 10)).astype("float32")
    loaded = run_model_saving_test(model, tmp_path, (images, z), lambda m, a: [m.encode(a[0])[0], m.decode(a[1])])
    assert int(loaded.critic_optimizer.iterations) == 1
    run_serialization_test(model)
    # The critic is trained by the adversarial family's own update function.
    calls = []
    original = critic_vae_module.critic_update
    monkeypatch.setattr(critic_vae_module, "critic_update",
                        lambda *a, **k: calls.append(a[4].name) or original(*a, **k))
    model.compile(run_eagerly=True)
    model.fit(images, batch_size=8, epochs=1, verbose=0)
    assert calls == ["wasserstein"]


def test_adversarial_model_is_exported_at_top_level():
    import kzoo
    assert kzoo.AdversarialModel is AdversarialModel and kzoo.CriticVAE is CriticVAE


def test_dense_conv28_bn_differs_from_the_published_design_only_by_generator_batch_norm():
    plain_g, plain_d = build_gan_networks("dense_conv28", 100)
    bn_g, bn_d = build_gan_networks("dense_conv28_bn", 100, image_shape=(28, 28, 1))
    def batch_norms(model):
        return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms(plain_g)) == 0 and len(batch_norms(bn_d)) == 0
    # After the Dense (7*7*128 units) and the first ConvT (64 filters); the layers before them lose their bias.
    assert [b.gamma.shape[0] for b in batch_norms(bn_g)] == [7 * 7 * 128, 64]
    extra = sum(4 * b.gamma.shape[0] for b in batch_norms(bn_g)) - (7 * 7 * 128 + 64)
    assert bn_g.count_params() == plain_g.count_params() + extra
    assert bn_d.count_params() == plain_d.count_params() and bn_g.output_shape == plain_g.output_shape
    assert presets.get("dense_gan_bn_mnist")["model"]["design"] == "dense_conv28_bn"
    assert {k: v for k, v in presets.get("dense_gan_bn_mnist").items() if k not in ("model", "about", "name")} == {
        k: v for k, v in presets.get("dense_gan_mnist").items() if k not in ("model", "about", "name")}
