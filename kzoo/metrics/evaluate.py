"""Evaluation entry points: FID/KID/IS of images or of a generator against a dataset, with cached
real-data statistics."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from kzoo.config import atomic_save_npz, kzoo_home
from kzoo.metrics.features import NOT_COMPARABLE, generated_batches, get_extractor, run_extractor
from kzoo.metrics.fid import GaussianStatistics, check_sample_size, statistics_distance
from kzoo.metrics.kid import kid as kid_from_features


def _cache_key(dataset, split, count, network):
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
    if safe != dataset:  # folders and tfds names: keep the key unique
        safe += "_" + hashlib.sha256(dataset.encode()).hexdigest()[:8]
    return f"{safe}_{split}_{count}_{network}"


def real_statistics(dataset, split="test", count=10000, network="fid_inception", keep_features=False,
                    progress=True):
    """Statistics (and optionally features) of the first `count` images of a dataset split.

    Cached in `KZOO_HOME/fid_stats/<dataset>_<split>_<count>_<network>.npz` (features in `..._features.npz`).
    Returns `(GaussianStatistics, features or None)`.
    """
    from kzoo import datasets
    folder = kzoo_home() / "fid_stats"
    key = _cache_key(dataset, split, count, network)
    stats_path, features_path = folder / f"{key}.npz", folder / f"{key}_features.npz"
    if stats_path.exists() and (not keep_features or features_path.exists()):
        stats = GaussianStatistics.load(stats_path)
        features = np.load(features_path)["features"] if keep_features else None
        return stats, features
    images = datasets.load_arrays(dataset, split).images
    if count > len(images):
        raise ValueError(f"{dataset} {split} has {len(images)} images; asked for {count}.")
    stats = GaussianStatistics()
    features = run_extractor(get_extractor(network), images[:count], count, keep_features=keep_features,
                             statistics=stats, progress=progress)
    stats.save(stats_path)
    if keep_features:
        atomic_save_npz(features_path, features=features)
    return stats, features


def fid(images_a, images_b, network="fid_inception", progress=False):
    """FID between two uint8 image arrays (or iterables of uint8 batches)."""
    extractor = get_extractor(network)
    a, b = GaussianStatistics(), GaussianStatistics()
    run_extractor(extractor, images_a, keep_features=False, statistics=a, progress=progress)
    run_extractor(extractor, images_b, keep_features=False, statistics=b, progress=progress)
    check_sample_size(a.count, a.mean.shape[0], "images")
    check_sample_size(b.count, b.mean.shape[0], "images")
    return statistics_distance(a, b)


def evaluate_generator(model, dataset="fashion_mnist", split="test", num_samples=10000, metrics=("fid",),
                       network="fid_inception", num_real=None, seed=0, progress=True, batch_size=250, images=None):
    """FID, KID and/or `prdc` (precision, recall, density, coverage: `kzoo.metrics.manifold`) of `num_samples`
    generated images against the first `num_real` (default: the same number) images of `dataset`/`split`, all
    from one pass of the feature network over each set. Returns a report dict that names the network and its
    comparability. `images`: uint8 images already sampled from `model` (`sample_images`), measured instead of
    sampling again."""
    metrics = tuple(metrics)
    unknown = set(metrics) - set(FEATURE_METRICS)
    if unknown:
        raise ValueError(f"evaluate_generator computes {', '.join(FEATURE_METRICS)}; got {sorted(unknown)}.")
    num_real = num_real or num_samples
    keep = "kid" in metrics or "prdc" in metrics
    real, real_features = real_statistics(dataset, split, num_real, network, keep_features=keep, progress=progress)
    fake = GaussianStatistics()
    generated = generated_batches(model, num_samples, batch_size, seed) if images is None else images
    fake_features = run_extractor(get_extractor(network), generated, num_samples, keep_features=keep,
                                  statistics=fake, progress=progress)
    report = {"network": network, "comparable_with_published": network == "fid_inception",
              "dataset": dataset, "split": split, "num_real": num_real, "num_generated": num_samples, "seed": seed}
    if network != "fid_inception":
        report["note"] = NOT_COMPARABLE
    if "fid" in metrics:
        check_sample_size(fake.count, fake.mean.shape[0], "generated images")
        report["fid"] = statistics_distance(real, fake)
    if "kid" in metrics:
        report["kid_mean"], report["kid_std"] = kid_from_features(real_features, fake_features, seed=seed)
    if "prdc" in metrics:
        from kzoo.metrics.manifold import precision_recall_density_coverage
        report["prdc"] = precision_recall_density_coverage(real_features, fake_features)
    return report


FEATURE_METRICS = ("fid", "kid", "prdc")
# The fields of two evaluation reports that must be equal for their figures to be compared (same data, split,
# sample count, sampling seed and feature network).
COMPARABLE_SETTINGS = ("dataset", "split", "num_samples", "seed", "network")
EVALUATE_METRICS = ("fid", "kid", "prdc", "is", "classifier", "coverage", "class_fidelity", "diversity")


def sample_images(model, num_samples, seed=0, progress=True, batch_size=250):
    """`num_samples` uint8 images from `model` (the noise of `generated_batches`), with a progress bar."""
    import keras
    bar = keras.utils.Progbar(num_samples, unit_name="image") if progress else None
    batches = []
    for batch in generated_batches(model, num_samples, batch_size, seed):
        batches.append(batch)
        if bar is not None:
            bar.add(len(batch))
    return np.concatenate(batches)


def evaluate_model(model, dataset="fashion_mnist", metrics=("fid",), num_samples=10000, split="test",
                   network="fid_inception", seed=0, progress=True):
    """Everything `kzoo evaluate` reports, as one dict.

    - ``fid``, ``kid``, ``prdc``: against the first `num_samples` images of `dataset`/`split`, with `network`
      (``prdc``: improved precision and recall, k = 3, and density and coverage, k = 5, under ``report["prdc"]``);
    - ``is``: the ImageNet Inception Score (needs `network="imagenet_inception"`: the reference FID network has
      no classifier head), NOT comparable with published IS values;
    - ``classifier`` / ``coverage``: classifier FID, classifier score and per-class coverage, with kzoo's domain
      classifier for `dataset` (mnist, fashion_mnist);
    - ``class_fidelity`` (class-conditional models; added to ``classifier``/``coverage`` for them): the share of
      generated images the domain classifier assigns to the class asked for, overall and per class, with each
      class's classifier FID;
    - ``diversity``: share of pairs of generated images with cosine similarity above 0.9.

    A conditional model's images are of every class in turn (balanced, like the test sets).
    """
    from kzoo import datasets
    from kzoo.metrics.diversity import pairwise_cosine_summary
    metrics = tuple(dict.fromkeys(metrics))
    unknown = set(metrics) - set(EVALUATE_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {', '.join(EVALUATE_METRICS)}.")
    conditional = bool(getattr(model, "num_classes", None))
    if "class_fidelity" in metrics and not conditional:
        raise ValueError("class_fidelity measures a class-conditional model; this model is unconditional.")
    if conditional and ("classifier" in metrics or "coverage" in metrics) and "class_fidelity" not in metrics:
        metrics += ("class_fidelity",)
    report = {"dataset": dataset, "split": split, "num_samples": num_samples, "seed": seed}
    inception_metrics = [m for m in metrics if m in FEATURE_METRICS]
    fakes = None
    if any(m in metrics for m in ("is", "classifier", "coverage", "class_fidelity", "diversity")):
        # Sampled once for every metric: a diffusion model's sampling costs as much as the feature network.
        fakes = sample_images(model, num_samples, seed=seed, progress=progress)
    if inception_metrics:
        report.update(evaluate_generator(model, dataset, split, num_samples, inception_metrics, network,
                                         seed=seed, progress=progress, images=fakes))
    if "is" in metrics:
        from kzoo.metrics.inception_score import score_from_probabilities
        extractor = get_extractor(network)
        probabilities = np.concatenate([extractor.probabilities(fakes[i:i + 50]) for i in range(0, len(fakes), 50)])
        report["inception_score_mean"], report["inception_score_std"] = score_from_probabilities(probabilities)
        report["inception_score_note"] = NOT_COMPARABLE
    if "classifier" in metrics or "coverage" in metrics:
        from kzoo.metrics.classifier import DomainClassifier, classifier_metrics
        real = datasets.load_arrays(dataset, split).images[:num_samples]
        report.update(classifier_metrics(DomainClassifier.load(dataset), real, fakes))
    if "class_fidelity" in metrics:
        from kzoo.metrics.classifier import DomainClassifier, class_fidelity
        from kzoo.metrics.features import generated_labels
        arrays = datasets.load_arrays(dataset, split)
        if arrays.labels is None:
            raise ValueError(f"class_fidelity needs a labelled dataset; {dataset} {split} has no labels.")
        report["class_fidelity"] = class_fidelity(DomainClassifier.load(dataset), arrays.images[:num_samples],
                                                  arrays.labels[:num_samples], fakes,
                                                  generated_labels(model, 0, len(fakes)))
    if "diversity" in metrics:
        report["diversity"] = pairwise_cosine_summary(fakes, threshold=0.9)
    return report
