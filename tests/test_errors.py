"""A user's mistake gets a ValueError that says what was wrong and what to do, raised before any graph runs, and
nothing is changed."""

import numpy as np
import pytest
from helpers import load_script

import kzoo
from kzoo import metrics
from kzoo.networks import build_gan_networks


def _weights(model):
    return [np.array(w) for w in model.weights]


def _unchanged(before, model):
    return all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.weights))


def test_images_of_the_wrong_size_for_the_networks():
    generator, critic = build_gan_networks("dcgan28", latent_dim=8)
    gan = kzoo.AdversarialModel(generator, critic, seed=0)
    gan.compile()
    before = _weights(gan)
    with pytest.raises(ValueError, match=r"got images of shape \(32, 32, 1\), but its discriminator takes "
                                         r"\(28, 28, 1\).*[Rr]esize"):
        gan.fit(np.zeros((8, 32, 32, 1), "float32"), batch_size=8, verbose=0)
    assert _unchanged(before, gan)


def test_colour_images_for_a_grey_vae_name_the_channels():
    vae = kzoo.VAE.from_design("mlp256", seed=0)
    vae.compile()
    before = _weights(vae)
    with pytest.raises(ValueError, match=r"channel counts differ \(3 vs 1\)"):
        vae.fit(np.zeros((4, 28, 28, 3), "float32"), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="encoder takes"):
        vae.evaluate(np.zeros((4, 28, 28, 3), "float32"), batch_size=4, verbose=0)
    assert _unchanged(before, vae)


def test_a_batch_smaller_than_n_critic():
    generator, critic = build_gan_networks("dcgan28", latent_dim=8, batch_norm=False)
    gan = kzoo.AdversarialModel(generator, critic, loss="wasserstein", lipschitz="gp", n_critic=5, seed=0)
    gan.compile()
    before = _weights(gan)
    with pytest.raises(ValueError, match=r"n_critic=5 critic batches, but got a batch of 3 images.*5 \* B"):
        gan.fit(np.zeros((3, 28, 28, 1), "float32"), batch_size=3, verbose=0)
    assert _unchanged(before, gan)


@pytest.mark.parametrize("images, message", [
    (np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype("float32"), r"uint8 images.*float32.*to_uint8"),
    (np.zeros((4, 28, 28, 4), np.uint8), r"1 or 3 channels.*alpha"),
    (np.zeros((4, 28, 28, 2), np.uint8), r"1 or 3 channels"),
    (np.zeros((4, 28, 28), np.uint8), r"channel axis"),
])
def test_fid_refuses_what_is_not_uint8_images(images, message):
    good = np.zeros((4, 28, 28, 1), np.uint8)
    with pytest.raises(ValueError, match=message):
        metrics.fid(images, good)


def test_labels_for_an_unconditional_model():
    images, labels = np.zeros((4, 28, 28, 1), "float32"), np.zeros(4, "int64")
    vae = kzoo.VAE.from_design("mlp256", seed=0)
    vae.compile()
    with pytest.raises(ValueError, match=r"VAE is unconditional.*fit\(images\)"):
        vae.fit(images, labels, batch_size=4, verbose=0)
    generator, critic = build_gan_networks("dcgan28", latent_dim=8)
    gan = kzoo.AdversarialModel(generator, critic, seed=0)
    gan.compile()
    before = _weights(gan)
    with pytest.raises(ValueError, match="AdversarialModel is unconditional"):
        gan.fit(images, labels, batch_size=4, verbose=0)
    assert _unchanged(before, gan)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_inputs_are_refused_before_training(bad):
    images = np.zeros((8, 28, 28, 1), "float32")
    images[5, 3, 3, 0] = bad
    vae = kzoo.VAE.from_design("mlp256", seed=0)
    vae.compile()
    before = _weights(vae)
    with pytest.raises(ValueError, match=r"VAE.fit: x holds NaN or infinite values \(1 of 6272 numbers, in 1 "
                                         r"examples, the first at index 5\).*np.isfinite"):
        vae.fit(images, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="VAE.evaluate: x holds NaN"):
        vae.evaluate(images, batch_size=4, verbose=0)
    generator, critic = build_gan_networks("dcgan28", latent_dim=8)
    gan = kzoo.AdversarialModel(generator, critic, seed=0)
    gan.compile()
    with pytest.raises(ValueError, match="AdversarialModel.fit: x holds NaN"):
        gan.fit(images, batch_size=4, verbose=0)
    assert _unchanged(before, vae)


def test_a_nan_batch_from_a_pipeline_stops_training_and_names_the_data():
    import tensorflow as tf

    from kzoo.checkpoint import StopOnNonFinite, describe_failure
    images = np.full((8, 28, 28, 1), np.nan, "float32")
    vae = kzoo.VAE.from_design("mlp256", seed=0)
    vae.compile()
    guard = StopOnNonFinite()
    vae.fit(tf.data.Dataset.from_tensor_slices(images).batch(4), epochs=1, verbose=0, callbacks=[guard])
    assert guard.failure["step"] == 1
    assert "data holds NaN or infinite values" in describe_failure(guard.failure, None)


def test_a_dataset_smaller_than_one_batch():
    from kzoo import datasets
    with pytest.raises(ValueError, match=r"100 training examples make no full batch of 128; lower the batch size"):
        datasets.training_stream("mnist", 128, take=100)


def test_the_documented_messages_are_what_the_code_says():
    """docs/errors.md renders results/error_messages.json; each recorded mistake still gets that error."""
    import pathlib

    from kzoo import results
    repo = pathlib.Path(__file__).resolve().parents[1]
    tool = load_script(repo / "tools" / "error_messages.py")
    recorded = results.read(repo / "results" / "error_messages.json")["results"]["tables"]["messages"]["rows"]
    cases = tool.cases()
    assert [mistake for mistake, _ in cases] == [row[0] for row in recorded], "run python tools/error_messages.py"
    for (mistake, call), row in zip(cases, recorded):
        kind, message = tool.run_case(call)
        assert kind is not None and kind.endswith("Error"), mistake
        assert [mistake, kind, message] == row, f"{mistake}: run python tools/error_messages.py"


# -- mistakes after a first fit: the data is checked before any step is traced --------------------------------

def _own_gan(n_critic=1, loss="non_saturating", lipschitz=None):
    """A notebook user's GAN: their own Sequential networks, no kzoo builders."""
    import keras
    generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(28 * 28, activation="tanh"),
                                  keras.layers.Reshape((28, 28, 1))])
    critic = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = kzoo.AdversarialModel(generator, critic, loss=loss, lipschitz=lipschitz, n_critic=n_critic, seed=0)
    gan.compile()
    return gan


def _fitted_models():
    """One model of each family, each fitted once on 28x28 grey data (so its step has been traced)."""
    import tensorflow as tf

    from kzoo import presets
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    labels = np.arange(16) % 10
    models = {
        "gan": (_own_gan(), None),
        "wgan_gp_n_critic_4": (_own_gan(4, "wasserstein", "gp"), None),
        "vae": (kzoo.VAE.from_design("mlp256", latent_dim=2, seed=0), None),
        "cvae": (presets.build_model(presets.get("cvae_conv_fashion"), (28, 28, 1), seed=0), labels),
        "critic_vae": (presets.build_model(presets.get("critic_vae_mnist"), (28, 28, 1), seed=0), None),
        "diffusion": (kzoo.DiffusionModel(kzoo.networks.build_diffusion_network("unet_tiny", (28, 28, 1)),
                                          ema=None, seed=0), None),
    }
    for name, (model, y) in models.items():
        if not getattr(model, "optimizer", None):
            model.compile()
        x = images if name not in ("vae", "cvae", "critic_vae") else (images + 1) / 2
        data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(8)
        model.fit(data, epochs=1, verbose=0)
    return models


FITTED = {}


@pytest.fixture(scope="module")
def fitted_models():
    if not FITTED:
        FITTED.update(_fitted_models())
    return FITTED


@pytest.mark.parametrize("name", ["gan", "wgan_gp_n_critic_4", "vae", "cvae", "critic_vae", "diffusion"])
@pytest.mark.parametrize("mistake, shape, message", [
    ("32x32 images", (8, 32, 32, 1), r"got images of shape \(32, 32, 1\), but its \w+ takes \(28, 28, 1\)"),
    ("3 channels", (8, 28, 28, 3), r"channel counts differ \(3 vs 1\)"),
])
def test_a_mistake_after_a_first_fit_gets_the_fresh_models_message(fitted_models, name, mistake, shape, message):
    import tensorflow as tf
    model, labels = fitted_models[name]
    before = _weights(model)
    x = np.zeros(shape, "float32")
    y = None if labels is None else labels[:shape[0]]
    with pytest.raises(ValueError, match=message):  # arrays
        model.fit(x, y, batch_size=8, verbose=0)
    # A dataset whose element_spec leaves the image size unknown: the first batch is looked at.
    unknown = tf.data.Dataset.from_generator(lambda: iter([x]), output_signature=tf.TensorSpec(
        (None, None, None, shape[-1]), tf.float32))
    if labels is not None:
        unknown = tf.data.Dataset.zip((unknown, tf.data.Dataset.from_tensors(y)))
    with pytest.raises(ValueError, match=message):
        model.fit(unknown, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(x, y, batch_size=8, verbose=0)
    assert _unchanged(before, model)


def test_a_batch_smaller_than_n_critic_after_a_first_fit(fitted_models):
    import tensorflow as tf
    model, _ = fitted_models["wgan_gp_n_critic_4"]
    before = _weights(model)
    x = np.zeros((10, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match=r"n_critic=4 critic batches, but got a batch of 3 images"):
        model.fit(x[:3], batch_size=3, verbose=0)
    # An array whose last batch is too small (10 = 8 + 2) is refused before the first step.
    with pytest.raises(ValueError, match=r"n_critic=4 critic batches, but got a batch of 2 images"):
        model.fit(x, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"got a batch of 2 images"):
        model.fit(tf.data.Dataset.from_tensor_slices(x[:2]).batch(2), verbose=0)
    assert _unchanged(before, model)


def test_labels_after_a_first_fit(fitted_models):
    images, labels = np.zeros((8, 28, 28, 1), "float32"), np.zeros(8, "int64")
    for name in ("gan", "vae", "diffusion"):
        with pytest.raises(ValueError, match="is unconditional"):
            fitted_models[name][0].fit(images, labels, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"class-conditional \(10 classes\) and takes \(images, labels\)"):
        fitted_models["cvae"][0].fit(images, batch_size=8, verbose=0)
