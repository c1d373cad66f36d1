import json

import numpy as np
import pytest

from kzoo import cli, datasets
from kzoo.callbacks import PeriodicMetric
from kzoo.metrics import classifier as clf
from kzoo.metrics.evaluate import evaluate_model


def test_class_coverage_of_balanced_and_collapsed_predictions():
    balanced = np.eye(10)[np.arange(1000) % 10]
    cover = clf.class_coverage(balanced)
    assert cover["covered"] == 10 and cover["kl_from_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert cover["shares"] == [0.1] * 10
    collapsed = np.eye(10)[np.full(500, 3)]
    cover = clf.class_coverage(collapsed)
    assert cover["covered"] == 1 and cover["max_share"] == 1.0
    assert cover["kl_from_uniform"] == pytest.approx(np.log(10))
    # A class at 4% (under half the uniform 10%) is not covered.
    labels = np.concatenate([np.repeat(np.arange(9), 1067)[:9600], np.full(400, 9)])
    assert clf.class_coverage(np.eye(10)[labels])["covered"] == 9


@pytest.mark.parametrize("dataset, target", [("mnist", 0.990), ("fashion_mnist", 0.915)])
def test_shipped_domain_classifiers_reach_their_accuracy(dataset, target):
    classifier = clf.DomainClassifier.load(dataset)
    test = datasets.load_arrays(dataset, "test")
    _, logits = classifier.outputs(test.images)
    accuracy = np.mean(np.argmax(logits, 1) == test.labels)
    assert accuracy >= target, accuracy
    import pathlib
    card = json.loads((pathlib.Path(__file__).parents[1] / "saved_models" / f"classifier_{dataset}" /
                       "metrics.json").read_text())
    assert card["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_classifier_metrics_order_real_data_before_a_collapsed_set():
    """Invariants rather than thresholds from a run: the classifier score lies between 1 and exp(H(marginal)) of
    the predicted labels (IS = exp(H(y) - E H(y|x))); a set of one class covers one class and is further from the
    real test images than other real images are."""
    classifier = clf.DomainClassifier.load("mnist")
    arrays = datasets.load_arrays("mnist", "test")
    test, labels = arrays.images, arrays.labels
    real_vs_real = clf.classifier_metrics(classifier, test[:2000], test[2000:4000], splits=1)
    collapsed = clf.classifier_metrics(classifier, test[:2000], test[labels == 1][:500], splits=1)
    for report, images in ((real_vs_real, test[2000:4000]), (collapsed, test[labels == 1][:500])):
        marginal = clf.softmax(classifier.outputs(images)[1]).mean(0)
        entropy = -np.sum(marginal * np.log(marginal))
        assert 1.0 <= report["classifier_score_mean"] <= np.exp(entropy) + 1e-9
    assert collapsed["coverage"]["covered"] == 1 and real_vs_real["coverage"]["covered"] == 10
    assert collapsed["classifier_fid"] > real_vs_real["classifier_fid"]


class _ImagesFromArray:
    """A stand-in generator that returns stored images (as kzoo models do: `generate(z)` in pixel_range)."""
    latent_dim = 2
    pixel_range = (0.0, 1.0)

    def __init__(self, images):
        self.images, self.i = datasets.to_pixel_range(images), 0

    def generate(self, z):
        out = self.images[self.i:self.i + len(z)]
        self.i += len(z)
        return out


def test_every_metric_of_one_evaluation_measures_the_same_images_sampled_once():
    """The stand-in serves its stored images in order, so a second sampling would measure other images: FID and
    diversity both measure the first 20, sampled once."""
    import warnings

    from kzoo.metrics.diversity import pairwise_cosine_summary
    from kzoo.metrics.evaluate import fid
    train, test = (datasets.load_arrays("fashion_mnist", s).images for s in ("train", "test"))
    model = _ImagesFromArray(train[:40])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 20 images: the small-N bias warning
        report = evaluate_model(model, "fashion_mnist", ("fid", "diversity"), 20, progress=False)
        expected_fid = fid(train[:20], test[:20])
    assert model.i == 20
    assert report["fid"] == pytest.approx(expected_fid, rel=1e-9)
    assert report["diversity"] == pairwise_cosine_summary(train[:20], threshold=0.9)


def test_evaluate_model_classifier_metrics_equal_the_numpy_formulas():
    """Classifier FID and score of one set against another, against the formulas written out in numpy/scipy on the
    classifier's own features (no kzoo.metrics code on the reference side)."""
    from helpers import numpy_classifier_score, numpy_frechet_distance
    test = datasets.load_arrays("fashion_mnist", "test").images
    train = datasets.load_arrays("fashion_mnist", "train").images
    report = evaluate_model(_ImagesFromArray(train[:300]), "fashion_mnist", ("coverage", "diversity"), 300,
                            progress=False)
    classifier = clf.DomainClassifier.load("fashion_mnist")
    real_features, _ = classifier.outputs(test[:300])
    fake_features, fake_logits = classifier.outputs(train[:300])
    assert report["classifier_fid"] == pytest.approx(numpy_frechet_distance(real_features, fake_features), rel=1e-6)
    assert report["classifier_fid"] > 0.1  # two different sets
    assert report["classifier_score_mean"] == pytest.approx(numpy_classifier_score(fake_logits, 10), rel=1e-9)
    assert report["coverage"]["covered"] == 10 and report["diversity"]["pairs"] == 300 * 299 // 2
    flat = train[:300].reshape(300, -1).astype(np.float64)
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    cosine = (unit @ unit.T)[np.triu_indices(300, 1)]
    assert report["diversity"]["share_above"] == pytest.approx(np.mean(cosine > 0.9), abs=1e-12)
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_model(_ImagesFromArray(test[:10]), "fashion_mnist", ("precision",), 10)


def test_inception_score_needs_a_classifier_head():
    real = datasets.load_arrays("mnist", "test").images
    with pytest.raises(ValueError, match="no classifier head"):
        evaluate_model(_ImagesFromArray(real[:20]), "mnist", ("is",), 20, progress=False)


def test_evaluate_cli_writes_a_report(tmp_path):
    from kzoo import presets
    model = presets.build_model(presets.get("dcgan_fashion"), image_shape=(28, 28, 1), seed=0)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "report.json"
    assert cli.main(["evaluate", "--model", str(tmp_path), "--dataset", "fashion_mnist",  # the default metrics
                     "--num-samples", "20", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["network"] == "fid_inception" and report["comparable_with_published"] is True
    assert report["fid"] > 50 and report["num_generated"] == 20  # an untrained generator is far from the data
    assert {"kid_mean", "kid_std", "classifier_fid", "classifier_score_mean", "coverage", "diversity"} <= set(report)
    assert set(report["prdc"]) == {"precision", "recall", "density", "coverage", "k_precision_recall",
                                   "k_density_coverage"} and report["prdc"]["precision"] < 0.5
    assert cli.main(["evaluate", "--model", str(tmp_path / "missing.keras")]) == 2


def test_periodic_metric_adds_classifier_fid_and_score_to_history():
    from kzoo import presets
    model = presets.build_model(presets.get("dcgan_fashion"), image_shape=(28, 28, 1), seed=0)
    real = datasets.to_pixel_range(datasets.load_arrays("fashion_mnist", "train").images[:256], (-1, 1))
    score = PeriodicMetric("fashion_mnist", "classifier_score", num_samples=200, every=2)
    history = model.fit(real, batch_size=128, epochs=2, verbose=0,
                        callbacks=[PeriodicMetric("fashion_mnist", num_samples=200, every=2), score])
    # The values the callback logged at the end of epoch 2 are the numpy formulas on the classifier's outputs for
    # the model after epoch 2 (the callback's noise: seed 0, 200 samples; real: the first 200 test images).
    from helpers import numpy_classifier_score, numpy_frechet_distance, to_uint8_reference
    assert len(history.history["classifier_fid"]) == 1  # every=2: logged at epoch 2 only
    z = np.random.default_rng(0).standard_normal((200, model.latent_dim)).astype(np.float32)
    fakes = to_uint8_reference(model.generate(z), (-1, 1))
    classifier = clf.DomainClassifier.load("fashion_mnist")
    fake_features, fake_logits = classifier.outputs(fakes)
    real_features, _ = classifier.outputs(datasets.load_arrays("fashion_mnist", "test").images[:200])
    assert history.history["classifier_fid"][-1] == pytest.approx(
        numpy_frechet_distance(real_features, fake_features), rel=1e-6)
    # float32 logits: the callback's batches and these need not take the same CPU kernels (oneDNN picks by batch
    # size and instruction set), so agreement is to float32 round-off, as for the FID above.
    assert history.history["classifier_score"][-1] == pytest.approx(numpy_classifier_score(fake_logits, 10),
                                                                     rel=1e-6)
    with pytest.raises(ValueError, match="classifier_fid"):
        PeriodicMetric("mnist", metric="precision")


@pytest.mark.slow  # 20 s: builds the Keras InceptionV3; the default suite keeps the reference network's tests
def test_imagenet_backend_is_labelled_not_comparable(monkeypatch):
    """The online backend, with keras.applications' download replaced by random weights (offline here)."""
    import keras

    from kzoo.metrics import features
    real = keras.applications.InceptionV3
    monkeypatch.setattr(keras.applications, "InceptionV3",
                        lambda weights, include_top: real(weights=None, include_top=include_top))
    monkeypatch.setattr(features, "_CACHE", {})
    images = datasets.load_arrays("mnist", "test").images[:60]
    report = evaluate_model(_ImagesFromArray(images), "mnist", ("is",), 60, network="imagenet_inception",
                            progress=False)
    assert "NOT comparable" in report["inception_score_note"]
    assert 1.0 <= report["inception_score_mean"] <= 1000.0
    extractor = features.get_extractor("imagenet_inception")
    assert extractor(images[:3]).shape == (3, 2048) and not extractor.comparable


def test_shipped_classifier_weights_are_package_data_and_verified(tmp_path, monkeypatch):
    """The classifiers load from the installed package (not the repository's folders) through the asset store,
    and a damaged copy is refused by its SHA-256, naming the fix."""
    import shutil

    import kzoo
    from kzoo import assets
    from kzoo.assets import sources
    path = assets.path("classifier_mnist")
    assert pathlib_parents(path)[0].name == "assets" and pathlib_parents(path)[1] == pathlib_parents(kzoo.__file__)[0]
    with pytest.raises(ValueError, match="ships domain classifiers for fashion_mnist, mnist"):
        clf.DomainClassifier.load("cifar10")
    package = tmp_path / "package"
    copy = package / "assets" / "classifier_mnist.weights.h5"
    copy.parent.mkdir(parents=True)
    shutil.copy(path, copy)
    damaged = clf.build_classifier()
    damaged.load_weights(copy)
    damaged.layers[-1].bias.assign(damaged.layers[-1].bias + 1e-3)
    damaged.save_weights(copy)
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sources, "package_file", lambda relative: package / relative)
    with pytest.raises(assets.AssetNotFoundError, match="damaged.*reinstall kzoo"):
        clf.DomainClassifier.load("mnist")
    # A verified copy in KZOO_HOME/weights is used before the package's.
    shutil.copy(path, (tmp_path / "home" / "weights").mkdir(parents=True) or tmp_path / "home" / "weights" / copy.name)
    assert clf.DomainClassifier.load("mnist").model.count_params() == damaged.count_params()


def pathlib_parents(path):
    import pathlib
    return pathlib.Path(path).resolve().parents
