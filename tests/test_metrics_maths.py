import warnings

import numpy as np
import pytest

from kzoo.metrics.fid import GaussianStatistics, fid_from_features, frechet_distance, statistics_distance
from kzoo.metrics.inception_score import inception_score, score_from_probabilities
from kzoo.metrics.kid import kid, polynomial_mmd2_unbiased


def random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fid_of_two_gaussians_with_commuting_covariances():
    mu1, mu2 = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.5])
    s1, s2 = np.diag([4.0, 1.0, 0.25]), np.diag([1.0, 9.0, 0.25])
    # ||mu1 - mu2||^2 + sum (sqrt(s1) - sqrt(s2))^2 = (1 + 9 + 0) + (1 + 4 + 0)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(15.0, rel=1e-10)


def test_fid_of_general_gaussians_matches_the_eigenvalue_form():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = random_spd(rng, d), random_spd(rng, d)
    # Tr sqrt(S1 S2) = sum of square roots of the (real, positive) eigenvalues of S1 S2.
    trace_root = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).real))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    x = np.random.default_rng(1).normal(size=(500, 8))
    assert abs(fid_from_features(x, x)) < 1e-8
    assert fid_from_features(x, x + 1.0) == pytest.approx(8.0, rel=1e-8)  # covariances equal: ||shift||^2


def test_streaming_statistics_equal_the_batch_ones():
    rng = np.random.default_rng(2)
    x = rng.normal(loc=1000.0, size=(1000, 5)).astype(np.float32)  # large offset: tests the centred update
    stats = GaussianStatistics()
    for chunk in np.array_split(x, [3, 10, 400, 401, 999]):
        stats.update(chunk)
    assert stats.count == 1000
    np.testing.assert_allclose(stats.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-9)


def test_statistics_round_trip(tmp_path):
    x = np.random.default_rng(3).normal(size=(50, 4))
    stats = GaussianStatistics().update(x)
    stats.save(tmp_path / "s.npz")
    loaded = GaussianStatistics.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_allclose(loaded.covariance, stats.covariance, rtol=1e-14)
    assert loaded.count == 50


def test_singular_covariances_are_exact():
    mu = np.zeros(3)
    # Orthogonal supports: S1 S2 = 0, so the distance is Tr S1 + Tr S2 exactly.
    value = frechet_distance(mu, np.diag([1.0, 0.0, 0.0]), mu, np.diag([0.0, 1.0, 0.0]))
    assert value == pytest.approx(2.0, abs=1e-12)
    # Rank-deficient sample covariances (fewer samples than dimensions) against scipy's sqrtm of the product.
    from scipy import linalg
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(20, 50)), rng.normal(size=(20, 50)) + 0.3
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert frechet_distance(a.mean(0), s1, b.mean(0), s2) == pytest.approx(expected, rel=1e-6)


def test_the_low_rank_path_equals_the_full_decomposition_and_keeps_vectors_only_while_few():
    """Statistics of fewer vectors than dimensions keep their vectors, and the distance is then taken from the
    N x N matrix F S1 F^T: equal to the two D x D decompositions, on either side, streamed or loaded."""
    rng = np.random.default_rng(6)
    few, many = rng.normal(size=(30, 64)) * 2.0 + 0.5, rng.normal(size=(500, 64)) @ random_spd(rng, 64)
    a = GaussianStatistics()
    for chunk in np.array_split(few, [7, 8, 29]):
        a.update(chunk)
    b = GaussianStatistics().update(many)
    assert a.factor().shape == (30, 64) and b.factor() is None  # 500 vectors > 64 dimensions: dropped
    np.testing.assert_allclose(a.factor().T @ a.factor(), a.covariance, rtol=1e-10, atol=1e-12)
    full = frechet_distance(a.mean, a.covariance, b.mean, b.covariance)
    # To 1e-7: the full decomposition also sums the square roots of the rounding-level eigenvalues of the null
    # space (1e-8 relative here), which the low-rank path does not have.
    assert statistics_distance(a, b) == pytest.approx(full, rel=1e-7)
    assert statistics_distance(b, a) == pytest.approx(full, rel=1e-7)
    # Both low-rank (the smaller factor is used) and one loaded from a file (no vectors kept).
    c = GaussianStatistics().update(rng.normal(size=(12, 64)))
    assert statistics_distance(a, c) == pytest.approx(frechet_distance(a.mean, a.covariance, c.mean, c.covariance),
                                                      rel=1e-7)
    loaded = GaussianStatistics.from_arrays(a.mean, a.covariance, a.count)
    assert loaded.factor() is None and statistics_distance(loaded, b) == pytest.approx(full, rel=1e-12)
    assert abs(statistics_distance(a, a)) < 1e-8 * np.trace(a.covariance)


def test_invalid_covariances_are_an_error():
    mu = np.zeros(2)
    not_psd = np.array([[1.0, 0.0], [0.0, -4.0]])
    with pytest.raises(ValueError, match="not valid covariances"):
        frechet_distance(mu, np.eye(2), mu, not_psd)
    with pytest.raises(ValueError, match="not finite"):
        frechet_distance(np.array([0.0, np.nan]), np.eye(2), mu, np.eye(2))
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_too_few_samples_warn_or_fail():
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_features(rng.normal(size=(1, 4)), rng.normal(size=(10, 4)))
    with pytest.warns(UserWarning, match="biased"):
        fid_from_features(rng.normal(size=(4, 8)), rng.normal(size=(20, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_features(rng.normal(size=(20, 8)), rng.normal(size=(20, 8)))


def test_polynomial_mmd_matches_a_direct_double_sum():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(5, 3)), rng.normal(loc=0.5, size=(4, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    yy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / 12
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(4)) / 20
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)


def test_kid_of_identical_distributions_is_near_zero_and_positive_when_they_differ():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kid(a, b, num_subsets=20, subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(20) + 1e-3
    shifted, _ = kid(a, b + 0.5, num_subsets=20, subset_size=500)
    assert shifted > 0.05


def test_inception_score_of_uniform_and_of_confident_balanced_predictions():
    uniform = np.zeros((100, 10))
    assert inception_score(uniform, splits=5)[0] == pytest.approx(1.0, abs=1e-12)
    confident = np.full((1000, 10), -50.0)
    confident[np.arange(1000), np.arange(1000) % 10] = 50.0
    mean, std = inception_score(confident, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-9) and std < 1e-9
    one_class = np.eye(10)[np.zeros(100, int)]
    assert score_from_probabilities(one_class, splits=2)[0] == pytest.approx(1.0, abs=1e-9)
