"""Inception Score (Salimans et al. 2016) and its analogue for any classifier: exp(E_x KL(p(y|x) || p(y)))."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def inception_score_from_log_probs(log_probs, splits=10) -> tuple[float, float]:
    """Mean and standard deviation over `splits` equal parts of exp(mean_x KL(p(y|x) || p(y)))."""
    log_probs = np.asarray(log_probs, np.float64)
    if log_probs.ndim != 2 or len(log_probs) < splits:
        raise ValueError(f"need [N, classes] with N >= splits ({splits}); got shape {log_probs.shape}.")
    scores = []
    for part in np.array_split(log_probs, splits):
        log_marginal = np.log(np.mean(np.exp(part), axis=0))
        kl = np.sum(np.exp(part) * (part - log_marginal), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits, splits=10) -> tuple[float, float]:
    """Inception Score from classifier logits (softmax taken here, in float64)."""
    return inception_score_from_log_probs(log_softmax(np.asarray(logits, np.float64), axis=1), splits)


def score_from_probabilities(probabilities, splits=10) -> tuple[float, float]:
    p = np.clip(np.asarray(probabilities, np.float64), 1e-30, None)
    return inception_score_from_log_probs(np.log(p / p.sum(axis=1, keepdims=True)), splits)
