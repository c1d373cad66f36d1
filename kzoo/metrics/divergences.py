"""Divergences for the 2-D studies: KL and JS between densities or sample sets (on a shared histogram), and
the Wasserstein-1 distance between sample sets (exact optimal transport)."""

from __future__ import annotations

import numpy as np
import scipy.optimize
import scipy.spatial.distance


def kl_divergence(p, q):
    """KL(p || q) = sum p log(p / q) of two discrete densities (normalised here); inf where q = 0 < p."""
    p, q = _normalise(p), _normalise(q)
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def js_divergence(p, q):
    """Jensen-Shannon divergence in nats: at most log 2, reached by disjoint supports."""
    p, q = _normalise(p), _normalise(q)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m) + 0.5 * kl_divergence(q, m)


def _normalise(p):
    p = np.asarray(p, np.float64).ravel()
    if np.any(p < 0) or p.sum() <= 0:
        raise ValueError("a density must be non-negative with a positive sum.")
    return p / p.sum()


def histogram_densities(p_samples, q_samples, bins=50, value_range=None):
    """Histograms of two 2-D sample sets on one shared grid (`bins` per axis over their joint range)."""
    p_samples, q_samples = np.asarray(p_samples, np.float64), np.asarray(q_samples, np.float64)
    if value_range is None:
        both = np.concatenate([p_samples, q_samples])
        low, high = both.min(axis=0), both.max(axis=0)
        high = np.where(high > low, high, low + 1.0)
        value_range = list(zip(low, high))
    p, _, _ = np.histogram2d(p_samples[:, 0], p_samples[:, 1], bins=bins, range=value_range)
    q, _, _ = np.histogram2d(q_samples[:, 0], q_samples[:, 1], bins=bins, range=value_range)
    return p, q


def sample_divergences(p_samples, q_samples, bins=50, value_range=None, pseudo_count=0.0):
    """`{"kl", "js"}` of two 2-D sample sets, estimated on a shared histogram.

    `pseudo_count` is added to every bin of both histograms (additive smoothing): with it KL(p || q) stays
    finite when q misses a bin p uses, so it can be followed over training; without it such a KL is inf.
    """
    p, q = histogram_densities(p_samples, q_samples, bins, value_range)
    p, q = p + pseudo_count, q + pseudo_count
    return {"kl": kl_divergence(p, q), "js": js_divergence(p, q)}


def wasserstein1(x, y):
    """Exact empirical W1 between two equal-size sample sets `[N, D]` (an optimal assignment, O(N^3):
    use up to a few thousand points)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"wasserstein1 takes two sets of the same shape, got {x.shape} and {y.shape}.")
    cost = scipy.spatial.distance.cdist(x, y)
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())
