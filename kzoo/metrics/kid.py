"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets, as TF-GAN and torch-fidelity compute it."""

from __future__ import annotations

import numpy as np


def polynomial_mmd2_unbiased(x, y, degree=3, gamma=None, coef0=1.0) -> float:
    """Unbiased MMD^2 between two samples (diagonal terms of the within-sample kernels excluded)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = (x @ x.T * gamma + coef0) ** degree
    k_yy = (y @ y.T * gamma + coef0) ** degree
    k_xy = (x @ y.T * gamma + coef0) ** degree
    m, n = len(x), len(y)
    return float((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
                 - 2.0 * k_xy.mean())


def kid(features_a, features_b, num_subsets=100, subset_size=1000, seed=0) -> tuple[float, float]:
    """KID mean and standard deviation over `num_subsets` random subsets of `subset_size` from each set."""
    a, b = np.asarray(features_a), np.asarray(features_b)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(a)} and {len(b)}.")
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                                       b[rng.choice(len(b), size, replace=False)]) for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))
