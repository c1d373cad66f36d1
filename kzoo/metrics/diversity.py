"""Mode-collapse checks on generated images: pairwise cosine similarity, computed in blocks."""

from __future__ import annotations

import numpy as np


def pairwise_cosine_summary(images, threshold=0.9, block_size=1024):
    """Cosine similarity over all pairs i < j of flattened images, in blocks of `block_size` rows, so
    memory is O(block_size^2) whatever N (10,000 images: 50 million pairs, a few MB at a time).

    Returns `{"share_above": share of pairs with similarity > threshold, "mean": mean similarity,
    "pairs": number of pairs, "threshold": threshold}`. Identical images give 1; a collapsed generator
    pushes `share_above` towards 1.
    """
    x = np.asarray(images, np.float32).reshape(len(images), -1)
    if len(x) < 2:
        raise ValueError(f"need at least 2 images, got {len(x)}.")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.maximum(norms, 1e-12)
    above, total, pairs = 0, 0.0, 0
    for start in range(0, len(x), block_size):
        rows = x[start:start + block_size]
        for other in range(start, len(x), block_size):
            sims = rows @ x[other:other + block_size].T
            if other == start:  # the diagonal block: keep i < j only
                sims = sims[np.triu_indices(len(rows), k=1)]
            else:
                sims = sims.ravel()
            above += int(np.count_nonzero(sims > threshold))
            total += float(np.sum(sims, dtype=np.float64))
            pairs += sims.size
    return {"share_above": above / pairs, "mean": total / pairs, "pairs": pairs, "threshold": threshold}
