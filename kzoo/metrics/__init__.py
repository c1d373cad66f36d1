"""Evaluation: maths on activations (fid, kid, inception_score) kept apart from running networks
(inception, features) and from the entry points that combine them (evaluate)."""

from kzoo.metrics.evaluate import evaluate_generator, evaluate_model, fid, real_statistics
from kzoo.metrics.fid import GaussianStatistics, fid_from_features, frechet_distance, statistics_distance
from kzoo.metrics.inception_score import inception_score, score_from_probabilities
from kzoo.metrics.kid import kid

__all__ = ["GaussianStatistics", "evaluate_generator", "evaluate_model", "fid", "fid_from_features", "frechet_distance",
           "inception_score", "kid", "real_statistics", "score_from_probabilities", "statistics_distance"]
