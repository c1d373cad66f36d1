"""Frechet distance between Gaussians fitted to features (FID, Heusel et al. 2017), with streaming statistics.

Maths on activations only: running a network to get the activations lives in `kzoo.metrics.features`.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg


class GaussianStatistics:
    """Mean and covariance of feature vectors, accumulated in float64 batch by batch.

    Memory is O(D^2) whatever the number of vectors; batches are merged with Chan et al.'s parallel update
    (centred per batch), which stays accurate where the raw sum of outer products would cancel.
    """

    def __init__(self, dim: int | None = None):
        self.count = 0
        self.mean = None if dim is None else np.zeros(dim)
        self._m2 = None if dim is None else np.zeros((dim, dim))

    def update(self, features) -> "GaussianStatistics":
        x = np.asarray(features, np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {x.shape}.")
        if self.mean is None:
            self.mean, self._m2 = np.zeros(x.shape[1]), np.zeros((x.shape[1], x.shape[1]))
        if x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"features have dimension {x.shape[1]}, the statistics {self.mean.shape[0]}.")
        n_b = x.shape[0]
        if n_b == 0:
            return self
        mean_b = x.mean(axis=0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self._m2 += m2_b + np.outer(delta, delta) * (self.count * n_b / total)
        self.count = total
        return self

    @property
    def covariance(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.count}.")
        return self._m2 / (self.count - 1)

    def save(self, path) -> None:
        from kzoo.config import atomic_save_npz
        atomic_save_npz(path, mu=self.mean, sigma=self.covariance, count=self.count)

    @classmethod
    def from_arrays(cls, mu, sigma, count):
        stats = cls(len(mu))
        stats.mean, stats._m2, stats.count = np.asarray(mu, np.float64), np.asarray(sigma, np.float64) * (count - 1), \
            int(count)
        return stats

    @classmethod
    def load(cls, path) -> "GaussianStatistics":
        with np.load(path, allow_pickle=False) as f:
            return cls.from_arrays(f["mu"], f["sigma"], int(f["count"]))


def check_sample_size(count: int, dim: int, what: str = "features") -> None:
    """Error below 2 samples; warning when the covariance cannot have full rank (count <= dim)."""
    if count < 2:
        raise ValueError(f"FID needs at least 2 {what}, got {count}.")
    if count <= dim:
        warnings.warn(f"only {count} {what} for {dim}-dimensional features: the covariance has rank at most "
                      f"{count - 1} < {dim}, and FID is biased (upwards, and by more the fewer samples). Use at "
                      f"least {dim + 1}; published FIDs use 10,000 or 50,000.", stacklevel=3)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    `scipy.linalg.sqrtm` gives the square root; when the product is singular (the root is not finite or does
    not square back to the product), `eps` is added to both diagonals and it is retried. A root whose imaginary
    part is not negligible (max |Im diag| > 1e-3) is an error: the inputs are not valid covariances.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs "
                         f"{sigma2.shape}.")
    diff = mu1 - mu2
    product = sigma1 @ sigma2
    covmean = _sqrtm(product)
    if not _good_root(covmean, product):
        offset = np.eye(sigma1.shape[0]) * eps
        product = (sigma1 + offset) @ (sigma2 + offset)
        covmean = _sqrtm(product)
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(np.diagonal(covmean).imag))
        if imaginary > 1e-3:
            raise ValueError(f"the matrix square root has an imaginary part of {imaginary:.3g}: the statistics are "
                             "not valid covariances (too few samples, or NaN features).")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def _sqrtm(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ill-conditioning is checked by _good_root
        return scipy.linalg.sqrtm(a)


def _good_root(root, product):
    if not np.all(np.isfinite(root)):
        return False
    scale = max(np.linalg.norm(product), 1e-30)
    return np.linalg.norm(root @ root - product) / scale < 1e-6


def fid_from_statistics(a: GaussianStatistics, b: GaussianStatistics) -> float:
    check_sample_size(a.count, a.mean.shape[0])
    check_sample_size(b.count, b.mean.shape[0])
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)


def fid_from_features(features_a, features_b) -> float:
    return fid_from_statistics(GaussianStatistics().update(features_a), GaussianStatistics().update(features_b))
