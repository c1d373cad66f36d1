"""Ex-post latent densities: the N(0, I) -> Gaussian-mixture map, its fit, and a VAE that samples through it."""

import keras
import numpy as np
import pytest
from helpers import run_model_saving_test, run_serialization_test
from scipy import stats

from kzoo.export import export_saved_model
from kzoo.models import VAE, GaussianMixturePrior
from kzoo.registry import load_generator

WEIGHTS = np.array([0.2, 0.5, 0.3])
MEANS = np.array([[-6.0, 0.0], [0.0, 5.0], [6.0, -1.0]])
COVARIANCES = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.2, 0.0], [0.0, 2.0]], [[1.5, -0.8], [-0.8, 1.0]]])


def mixture_prior():
    prior = GaussianMixturePrior(3, 2)
    prior.set_mixture(WEIGHTS, MEANS, COVARIANCES)
    return prior


def test_one_component_is_the_affine_map_of_the_noise():
    prior = GaussianMixturePrior(1, 3)
    covariance = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.7]])
    prior.set_mixture([1.0], [[1.0, -2.0, 3.0]], covariance[None])
    z = np.random.default_rng(0).standard_normal((500, 3)).astype("float32")
    expected = np.array([1.0, -2.0, 3.0]) + z @ np.linalg.cholesky(covariance).T
    np.testing.assert_allclose(np.asarray(prior(z)), expected, rtol=1e-5, atol=1e-5)


def reference_map(z):
    """The inverse-transform map in float64 with scipy; returns (samples, component)."""
    u = stats.norm.cdf(z[:, 0].astype(np.float64))
    weights = WEIGHTS.astype(np.float32).astype(np.float64)  # as the layer stores them
    upper = np.cumsum(weights)
    component = np.minimum(np.searchsorted(upper, u, side="right"), 2)
    v = (u - (upper - weights)[component]) / weights[component]
    e = np.column_stack([stats.norm.ppf(v), z[:, 1:]])
    factors = np.linalg.cholesky(COVARIANCES)[component]
    return MEANS[component] + np.einsum("nij,nj->ni", factors, e), component


def test_noise_maps_to_the_mixture_distribution():
    z = np.random.default_rng(1).standard_normal((200_000, 2)).astype("float32")
    samples = np.asarray(mixture_prior()(z), np.float64)
    expected, component = reference_map(z)
    np.testing.assert_allclose(samples, expected, rtol=1e-4, atol=1e-4)
    # Components are drawn with the mixture weights (within 4 binomial standard deviations) ...
    shares = np.bincount(component, minlength=3) / len(z)
    assert np.all(np.abs(shares - WEIGHTS) < 4 * np.sqrt(WEIGHTS * (1 - WEIGHTS) / len(z)))
    for k in range(3):
        part = samples[component == k]
        # ... and within each, the sample is Gaussian with that component's mean and covariance.
        np.testing.assert_allclose(part.mean(0), MEANS[k], atol=0.03)
        np.testing.assert_allclose(np.cov(part.T), COVARIANCES[k], atol=0.05)
        for axis in range(2):
            standardised = (part[:, axis] - MEANS[k, axis]) / np.sqrt(COVARIANCES[k, axis, axis])
            assert stats.kstest(standardised, "norm").pvalue > 1e-3


def test_extreme_noise_stays_finite_and_lands_in_the_end_components():
    z = np.array([[-40.0, 0.0], [-8.0, 0.0], [8.0, 0.0], [40.0, 0.0]], "float32")
    samples = np.asarray(mixture_prior()(z))
    assert np.all(np.isfinite(samples))
    assert np.all(samples[:2, 0] < -3) and np.all(samples[2:, 0] > 3)


def test_fit_recovers_a_mixture_and_refuses_bad_input():
    rng = np.random.default_rng(2)
    counts = rng.multinomial(6000, WEIGHTS)
    codes = np.concatenate([rng.multivariate_normal(MEANS[k], COVARIANCES[k], counts[k]) for k in range(3)])
    prior = GaussianMixturePrior(3, 2)
    prior.fit(codes, seed=0)
    order = np.argsort(np.asarray(prior.means)[:, 0])
    np.testing.assert_allclose(np.asarray(prior.mixture_weights)[order], WEIGHTS, atol=0.02)
    np.testing.assert_allclose(np.asarray(prior.means)[order], MEANS, atol=0.1)
    with pytest.raises(ValueError, match=r"codes must be \[N, 2\]"):
        prior.fit(codes[:, :1])
    with pytest.raises(ValueError, match="too few"):
        prior.fit(codes[:5])
    with pytest.raises(ValueError, match="sum to 1"):
        prior.set_mixture([0.5, 0.5, 0.5], MEANS, COVARIANCES)


def test_vae_samples_through_the_fitted_prior_and_keeps_it_when_saved(tmp_path):
    vae = VAE.from_design("mlp256", latent_dim=2, image_shape=(28, 28, 1), seed=0)
    vae.compile()
    images = np.random.default_rng(3).uniform(0, 1, (300, 28, 28, 1)).astype("float32")
    z = np.random.default_rng(4).standard_normal((5, 2)).astype("float32")
    before = np.asarray(vae.generate(z))
    np.testing.assert_array_equal(before, np.asarray(vae.decode(z)))
    mixture = vae.fit_latent_prior(images, components=2, seed=0)
    codes = np.asarray(vae.encode(images)[0])
    np.testing.assert_allclose(np.sort(np.asarray(vae.latent_prior.means), 0), np.sort(mixture.means_, 0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixture.means_.T @ mixture.weights_, codes.mean(0), rtol=1e-3, atol=1e-4)
    after = np.asarray(vae.generate(z))
    np.testing.assert_allclose(after, np.asarray(vae.decode(vae.latent_prior(z))), rtol=1e-6)
    assert not np.allclose(after, before)
    run_serialization_test(vae)
    loaded = run_model_saving_test(vae, tmp_path, z, lambda m, x: m.generate(x))
    assert isinstance(loaded.latent_prior, GaussianMixturePrior)
    export_saved_model(vae, tmp_path / "saved_model")
    np.testing.assert_allclose(np.asarray(load_generator(tmp_path / "saved_model").generate(z)), after,
                               rtol=1e-5, atol=1e-5)


def test_a_latent_prior_preset_fits_its_prior_once_and_reloads_it(tmp_path):
    from kzoo import training
    summary = training.train("vae_conv_gmm_fashion", tmp_path / "run", epochs=1, take=1024, verbose=0,
                             export=False)
    assert summary["figures"]["samples"] == "samples_latent_prior.png"
    assert (tmp_path / "run" / "samples_latent_prior.png").exists()
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.latent_prior.components == 30 and model.beta == 0.1
    # A finished run reloaded from its checkpoint fits the same prior again (same images, same seed).
    means = np.asarray(model.latent_prior.means)
    training.train("vae_conv_gmm_fashion", tmp_path / "run", epochs=1, take=1024, verbose=0, export=False)
    again = keras.models.load_model(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(np.asarray(again.latent_prior.means), means, rtol=1e-6)
