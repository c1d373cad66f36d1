"""Fidelity and diversity separately: improved precision and recall (Kynkaanniemi et al. 2019) and density and
coverage (Naeem et al. 2020), from k-nearest-neighbour balls around feature vectors.

With real features R, generated features F and r_k(x) the distance from x to its k-th nearest neighbour in its
own set (itself excluded):

- precision: the share of generated samples inside some real ball, |{f : exists r, d(r, f) < r_k(r)}| / |F|;
- recall: the share of real samples inside some generated ball, |{r : exists f, d(r, f) < r_k(f)}| / |R|;
- density: (1 / k) times the mean number of real balls that hold a generated sample (can exceed 1);
- coverage: the share of real balls that hold at least one generated sample.

The published settings are k = 3 for precision and recall and k = 5 for density and coverage, on the same
Inception features as FID. Distances are computed in blocks of rows, so memory grows with `block_size` times the
larger set, never with the square of it. Definitions and numbers match the reference implementation `prdc`
(NAVER, 0.2), which the tests use as the oracle.
"""

from __future__ import annotations

import numpy as np

DEFAULT_K_PRECISION_RECALL = 3
DEFAULT_K_DENSITY_COVERAGE = 5


def _distances(x, y):
    import sklearn.metrics
    return sklearn.metrics.pairwise_distances(x, y, metric="euclidean")


def nearest_neighbour_radii(features, k, block_size=1024):
    """Distance from each row of `features` to its k-th nearest other row, computed `block_size` rows at a time."""
    features = np.asarray(features)
    if len(features) <= k:
        raise ValueError(f"{len(features)} feature vectors have no {k}-th nearest neighbour; use more than {k}.")
    radii = np.empty(len(features), np.float64)
    for start in range(0, len(features), block_size):
        block = _distances(features[start:start + block_size], features)
        # The (k + 1)-th smallest distance of each row: the row itself is at distance 0.
        radii[start:start + block_size] = np.partition(block, k, axis=1)[:, k]
    return radii


def precision_recall_density_coverage(real_features, fake_features, k_precision_recall=DEFAULT_K_PRECISION_RECALL,
                                      k_density_coverage=DEFAULT_K_DENSITY_COVERAGE, block_size=1024):
    """The four metrics of `fake_features` against `real_features` (`[N, D]` arrays); a dict of floats and the ks."""
    real, fake = np.asarray(real_features), np.asarray(fake_features)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, D] arrays of the same D; got {real.shape} and {fake.shape}.")
    ks = sorted({k_precision_recall, k_density_coverage})
    real_radii = {k: nearest_neighbour_radii(real, k, block_size) for k in ks}
    fake_radii = nearest_neighbour_radii(fake, k_precision_recall, block_size)
    in_real_ball = np.zeros(len(fake), bool)        # precision: fake j inside some real ball (k_pr)
    real_balls_holding = np.zeros(len(fake), np.int64)  # density: real balls (k_dc) holding fake j
    real_in_fake_ball = np.zeros(len(real), bool)   # recall: real i inside some fake ball
    nearest_fake = np.empty(len(real), np.float64)  # coverage: distance from real i to its nearest fake
    for start in range(0, len(real), block_size):
        stop = start + block_size
        block = _distances(real[start:stop], fake)
        in_real_ball |= (block < real_radii[k_precision_recall][start:stop, None]).any(axis=0)
        real_balls_holding += (block < real_radii[k_density_coverage][start:stop, None]).sum(axis=0)
        real_in_fake_ball[start:stop] = (block < fake_radii[None, :]).any(axis=1)
        nearest_fake[start:stop] = block.min(axis=1)
    return {"precision": float(in_real_ball.mean()), "recall": float(real_in_fake_ball.mean()),
            "density": float(real_balls_holding.mean() / k_density_coverage),
            "coverage": float((nearest_fake < real_radii[k_density_coverage]).mean()),
            "k_precision_recall": k_precision_recall, "k_density_coverage": k_density_coverage}
