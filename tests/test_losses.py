import numpy as np
import pytest

from kzoo.losses import gaussian_kl, reconstruction_loss


def test_kl_matches_closed_form_of_two_gaussians():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 7)).astype("float32")
    log_var = rng.normal(size=(5, 7)).astype("float32")
    var = np.exp(log_var.astype(np.float64))
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2, per dimension.
    expected = np.sum(-0.5 * np.log(var) + (var + mean.astype(np.float64) ** 2) / 2 - 0.5, axis=1)
    np.testing.assert_allclose(np.asarray(gaussian_kl(mean, log_var)), expected, rtol=1e-5)


def test_kl_is_zero_at_the_prior_and_matches_monte_carlo():
    np.testing.assert_allclose(np.asarray(gaussian_kl(np.zeros((2, 4), "float32"), np.zeros((2, 4), "float32"))),
                               0.0, atol=1e-7)
    mean, log_var = np.array([[0.7, -1.2]]), np.array([[-0.5, 0.4]])
    rng = np.random.default_rng(1)
    s = np.exp(0.5 * log_var)
    z = mean + s * rng.standard_normal((400_000, 2))
    log_q = np.sum(-0.5 * ((z - mean) / s) ** 2 - np.log(s), axis=1)
    log_p = np.sum(-0.5 * z ** 2, axis=1)
    mc = np.mean(log_q - log_p)
    assert abs(float(gaussian_kl(mean.astype("float32"), log_var.astype("float32"))[0]) - mc) < 0.01


def test_bce_from_logits_equals_the_bernoulli_likelihood_summed_over_pixels():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(3, 4, 4, 1)).astype("float32")
    logits = rng.normal(scale=3, size=(3, 4, 4, 1)).astype("float32")
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(reconstruction_loss(x, logits, "bce")), expected, rtol=1e-5)


def test_bce_is_finite_at_extreme_logits():
    x = np.array([[0.0, 1.0, 0.0, 1.0]], "float32")
    logits = np.array([[200.0, -200.0, -200.0, 200.0]], "float32")
    # Two pixels maximally wrong (|logit| = 200 each), two right (0 each).
    np.testing.assert_allclose(np.asarray(reconstruction_loss(x, logits, "bce")), [400.0], rtol=1e-6)


def test_mse_is_squared_error_of_the_sigmoid():
    x = np.array([[0.0, 1.0, 0.5]], "float32")
    logits = np.array([[0.0, 0.0, 0.0]], "float32")
    np.testing.assert_allclose(np.asarray(reconstruction_loss(x, logits, "mse")), [0.25 + 0.25 + 0.0], rtol=1e-6)


def test_unknown_reconstruction_is_refused():
    with pytest.raises(ValueError, match="bce"):
        reconstruction_loss(np.zeros((1, 2), "float32"), np.zeros((1, 2), "float32"), "l1")
