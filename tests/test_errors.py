"""A user's mistake gets a ValueError that says what was wrong and what to do, raised before any graph runs, and
nothing is changed."""

import numpy as np
import pytest

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
    import importlib.util
    import pathlib

    from kzoo import results
    repo = pathlib.Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("error_messages", repo / "tools" / "error_messages.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    recorded = results.read(repo / "results" / "error_messages.json")["results"]["tables"]["messages"]["rows"]
    cases = tool.cases()
    assert [mistake for mistake, _ in cases] == [row[0] for row in recorded], "run python tools/error_messages.py"
    for (mistake, call), row in zip(cases, recorded):
        kind, message = tool.run_case(call)
        assert kind is not None and kind.endswith("Error"), mistake
        assert [mistake, kind, message] == row, f"{mistake}: run python tools/error_messages.py"
