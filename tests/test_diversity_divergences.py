import numpy as np
import pytest

from kzoo.metrics.divergences import js_divergence, kl_divergence, sample_divergences, wasserstein1
from kzoo.metrics.diversity import pairwise_cosine_summary


def brute_force(images, threshold):
    x = images.reshape(len(images), -1).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims = (x @ x.T)[np.triu_indices(len(x), k=1)]
    return np.mean(sims > threshold), sims.mean(), sims.size


@pytest.mark.parametrize("block_size", [3, 7, 1000])
def test_blocked_cosine_summary_equals_the_direct_computation(block_size):
    rng = np.random.default_rng(0)
    base = rng.uniform(size=(4, 6, 6))
    images = np.concatenate([base[rng.integers(0, 4, 15)] + 0.05 * rng.uniform(size=(15, 6, 6)),
                             rng.uniform(size=(10, 6, 6))])
    summary = pairwise_cosine_summary(images, threshold=0.95, block_size=block_size)
    share, mean, pairs = brute_force(images, 0.95)
    assert summary["pairs"] == pairs == 25 * 24 // 2
    assert summary["share_above"] == pytest.approx(share) and summary["mean"] == pytest.approx(mean, rel=1e-5)


def test_collapsed_and_diverse_sets():
    rng = np.random.default_rng(1)
    collapsed = np.repeat(rng.uniform(size=(1, 8, 8)), 50, axis=0)
    assert pairwise_cosine_summary(collapsed)["share_above"] == 1.0
    orthogonal = np.eye(20).reshape(20, 4, 5)
    assert pairwise_cosine_summary(orthogonal)["share_above"] == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        pairwise_cosine_summary(collapsed[:1])


def parallel_lines(theta, n=400):
    y = np.linspace(0.0, 1.0, n)
    return np.stack([np.zeros(n), y], 1), np.stack([np.full(n, theta), y], 1)


@pytest.mark.parametrize("theta", [0.5, -2.0, 1e-3])
def test_parallel_lines_textbook_case(theta):
    p, q = parallel_lines(theta)
    divergences = sample_divergences(p, q, bins=20)
    assert divergences["kl"] == float("inf")
    assert divergences["js"] == pytest.approx(np.log(2), rel=1e-12)
    assert wasserstein1(p, q) == pytest.approx(abs(theta), rel=1e-9)


def test_parallel_lines_at_zero_distance():
    p, q = parallel_lines(0.0)
    divergences = sample_divergences(p, q, bins=20)
    assert divergences["kl"] == 0.0 and divergences["js"] == 0.0
    assert wasserstein1(p, q) == 0.0


def test_discrete_divergences_against_hand_values():
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    assert kl_divergence(p, q) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(2 / 3))
    m = np.array([0.375, 0.625])
    assert js_divergence(p, q) == pytest.approx(0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m))
    assert js_divergence(p, q) == pytest.approx(js_divergence(q, p))
    with pytest.raises(ValueError, match="non-negative"):
        kl_divergence([-1, 2], [1, 1])
