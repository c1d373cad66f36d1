"""The shipped trained models: each generative one loads from `.keras` and from its SavedModel, identically."""

import json
import pathlib

import numpy as np
import pytest

from kzoo import export, registry

SAVED = pathlib.Path(__file__).resolve().parent.parent / "saved_models"
GENERATIVE = sorted(p.name for p in SAVED.iterdir() if (p / "saved_model").is_dir())


def test_the_gans_and_vaes_of_both_datasets_are_shipped_in_both_forms():
    assert {"dcgan_fashion", "dcgan_mnist", "vae_conv_fashion", "vae_conv_mnist"} <= set(GENERATIVE)


@pytest.mark.parametrize("name", GENERATIVE)
def test_shipped_model_samples_the_same_from_keras_and_saved_model(name):
    keras_model = registry.load_generator(SAVED / name)
    served = export.SavedModelGenerator(SAVED / name / "saved_model")
    z = np.random.default_rng(0).standard_normal((8, keras_model.latent_dim)).astype("float32")
    expected = np.asarray(keras_model.generate(z))
    lo, hi = keras_model.pixel_range
    assert expected.min() >= lo and expected.max() <= hi and expected.std() > 0.05
    tolerance = export.EXPORT_TOLERANCE[keras_model.dtype_policy.compute_dtype]
    np.testing.assert_allclose(np.asarray(served.generate(z)), expected, atol=tolerance, rtol=tolerance)
    assert served.pixel_range == keras_model.pixel_range and served.latent_dim == keras_model.latent_dim
    # What it sampled from the same noise before kzoo's internals were rearranged (tests/data, written by
    # tests/scripts/make_compat_fixtures.py), with the weights its manifest records (load_generator verifies them).
    recorded = np.load(pathlib.Path(__file__).resolve().parent / "data" / "shipped_samples.npz")
    assert json.loads((SAVED / name / "model.json").read_text())["weights_sha256"] == str(
        recorded[name + ".weights_sha256"])
    if keras_model.dtype_policy.compute_dtype == "float32":
        np.testing.assert_allclose(expected[:4], recorded[name], atol=1e-4)
    else:
        # bfloat16 arithmetic differs between CPUs with native bfloat16 (AVX512_BF16) and those that emulate it: on
        # the same weights and noise, pixels differ by 0.1% of the pixel range on average (0.09 at most) between
        # the two kinds; other samples of the same model differ by 15-36%.
        difference = np.abs(expected[:4] - recorded[name]) / (hi - lo)
        assert difference.mean() < 0.005 and difference.max() < 0.1, (difference.mean(), difference.max())


@pytest.mark.parametrize("name", GENERATIVE)
def test_result_file_describes_the_shipped_model(name):
    """results/model_NAME.json measured this very model: same weights (SHA-256 of their values), same
    evaluation, the precision its layers were built with."""
    import json

    import keras

    from kzoo import results
    record = results.read(SAVED.parent / "results" / f"model_{name}.json")
    evaluation = json.loads((SAVED / name / "evaluation.json").read_text())
    model = keras.models.load_model(SAVED / name / "model.keras")
    assert record["results"]["weights_sha256"] == results.weights_sha256(model)
    assert record["results"]["fid"] == evaluation["fid"]
    assert (record["protocol"]["split"], record["protocol"]["num_real"], record["protocol"]["num_generated"]) == (
        evaluation["split"], evaluation["num_real"], evaluation["num_samples"])
    if record["protocol"]["dataset"] in ("mnist", "fashion_mnist"):  # data with a test split: the 10k protocol
        assert (evaluation["split"], evaluation["num_real"], evaluation["num_samples"]) == ("test", 10000, 10000)
    # The network that draws the images: a GAN's generator, a VAE's decoder, a diffusion model's denoiser.
    drawing = next(getattr(model, name) for name in ("generator", "decoder", "network") if hasattr(model, name))
    policies = {layer.dtype_policy.name for layer in drawing.layers if layer.weights}
    assert policies == {record["protocol"]["precision"]}


@pytest.mark.parametrize("name", GENERATIVE)
def test_every_shipped_model_has_a_card_whose_facts_come_from_its_results_file(name):
    card = SAVED / name / "README.md"
    assert card.exists(), f"saved_models/{name} has no card (README.md)"
    assert f"<!-- table: @card:{name} -->" in card.read_text()
