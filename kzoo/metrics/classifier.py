"""Domain classifiers for MNIST and Fashion-MNIST, and the metrics they give offline: classifier FID
(penultimate features), the classifier score (the Inception Score with this classifier), and per-class
coverage of generated samples (a mode-collapse detector)."""

from __future__ import annotations

import pathlib

import numpy as np

from kzoo.metrics.fid import GaussianStatistics, check_sample_size, statistics_distance
from kzoo.metrics.inception_score import score_from_probabilities

FEATURE_LAYER = "features"
# The shipped classifiers are the assets ``classifier_<dataset>`` (kzoo.assets): package data, verified by SHA-256.
SHIPPED = ("mnist", "fashion_mnist")


def build_classifier(num_classes=10, image_shape=(28, 28, 1)):
    """uint8-range images -> logits: Conv(32,3)+ReLU, Conv(64,3)+ReLU, max pool, dropout 0.25, Dense(128)+ReLU
    penultimate features (the layer named `features`), dropout 0.5, Dense(num_classes)."""
    import keras
    from keras import layers
    images = keras.Input(image_shape, name="images")
    x = layers.Rescaling(1.0 / 255.0)(images)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Dropout(0.25)(layers.MaxPooling2D()(x))
    features = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(layers.Flatten()(x))
    logits = layers.Dense(num_classes, name="logits")(layers.Dropout(0.5)(features))
    return keras.Model(images, logits, name="domain_classifier")


def train_classifier(dataset, epochs=12, batch_size=128, seed=0, shift=0.0, verbose="auto"):
    """Train a domain classifier on a built-in dataset's training split (raw uint8 pixels; random shifts of
    up to `shift` of the image size as augmentation); returns `(model, test_accuracy)`."""
    import keras
    import tensorflow as tf

    from kzoo import datasets
    keras.utils.set_random_seed(seed)
    train, test = datasets.load_arrays(dataset, "train"), datasets.load_arrays(dataset, "test")
    model = build_classifier()
    steps = epochs * int(np.ceil(len(train) / batch_size))
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((train.images, train.labels)).shuffle(60000, seed=seed).batch(batch_size)
    if shift:
        augment = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed)
        ds = ds.map(lambda x, y: (augment(tf.cast(x, tf.float32), training=True), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    model.fit(ds.prefetch(tf.data.AUTOTUNE), epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(test.images, test.labels, batch_size=1000, verbose=0)
    return model, float(accuracy)


def without_optimizer(model):
    """An uncompiled copy of a trained classifier (a third of the file size: no Adam moments)."""
    copy = build_classifier(model.output_shape[-1], model.input_shape[1:])
    copy.set_weights(model.get_weights())
    return copy


class DomainClassifier:
    """A trained domain classifier: `logits`, `probabilities` and penultimate `features` of uint8 images."""

    def __init__(self, model):
        import keras
        self.model = model
        self._both = keras.Model(model.input, [model.get_layer(FEATURE_LAYER).output, model.output])

    @classmethod
    def load(cls, dataset, path=None):
        """The shipped classifier of `dataset` (mnist, fashion_mnist), or the weights file `path` (a
        `.weights.h5` written by `kzoo classifier`). Shipped weights are checked against their SHA-256."""
        if path is None:
            if dataset not in SHIPPED:
                raise ValueError(f"kzoo ships domain classifiers for {', '.join(sorted(SHIPPED))}, not "
                                 f"{dataset!r}; train one with `kzoo classifier --dataset NAME --out DIR` and pass "
                                 "its weights file.")
            from kzoo import assets
            path = assets.path(f"classifier_{dataset}")  # verified: a damaged file is refused
        path = pathlib.Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no domain classifier weights at {path}: retrain them with "
                                    f"`kzoo classifier --dataset {dataset}`, or leave out the path for the shipped "
                                    "ones.")
        model = build_classifier()
        model.load_weights(path)
        return cls(model)

    def outputs(self, images, batch_size=1000):
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            batch_features, batch_logits = self._both(np.asarray(images[start:start + batch_size], np.float32),
                                                      training=False)
            features.append(np.asarray(batch_features))
            logits.append(np.asarray(batch_logits))
        return np.concatenate(features), np.concatenate(logits)


def softmax(logits):
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def class_coverage(probabilities, num_classes=None, min_share=None):
    """Per-class share of the predicted labels of generated samples.

    A class is covered when its share is at least `min_share` (default: half the uniform share, 1 / (2K)).
    Returns shares, the covered count, the smallest and largest share, and the KL divergence of the predicted
    label distribution from uniform (0 for a perfectly balanced generator, log K for a single class).
    """
    probabilities = np.asarray(probabilities)
    k = num_classes or probabilities.shape[1]
    min_share = 0.5 / k if min_share is None else min_share
    shares = np.bincount(np.argmax(probabilities, axis=1), minlength=k) / len(probabilities)
    nonzero = shares[shares > 0]
    return {"shares": shares.tolist(), "covered": int(np.sum(shares >= min_share)), "classes": k,
            "min_share": float(shares.min()), "max_share": float(shares.max()), "threshold": min_share,
            "kl_from_uniform": float(np.sum(nonzero * np.log(nonzero * k)))}


def classifier_metrics(classifier: DomainClassifier, real_images, fake_images, splits=10):
    """Classifier FID (penultimate features, real vs fake), classifier score of the fakes (mean, std), and
    per-class coverage of the fakes."""
    real_features, _ = classifier.outputs(real_images)
    fake_features, fake_logits = classifier.outputs(fake_images)
    real, fake = GaussianStatistics().update(real_features), GaussianStatistics().update(fake_features)
    check_sample_size(fake.count, fake.mean.shape[0], "generated images")
    probabilities = softmax(fake_logits)
    score_mean, score_std = score_from_probabilities(probabilities, splits)
    return {"classifier_fid": statistics_distance(real, fake),
            "classifier_score_mean": score_mean, "classifier_score_std": score_std,
            "coverage": class_coverage(probabilities)}


def class_fidelity(classifier: DomainClassifier, real_images, real_labels, fake_images, fake_labels):
    """How well a class-conditional generator draws the class it is asked for.

    `accuracy`: the share of generated images the domain classifier assigns to their requested class (compare with
    the classifier's accuracy on real test images, `real_accuracy`); per class: that share, and the classifier FID
    of the class's generated images against the same class's real images.
    """
    fake_labels, real_labels = np.asarray(fake_labels), np.asarray(real_labels)
    fake_features, fake_logits = classifier.outputs(fake_images)
    real_features, real_logits = classifier.outputs(real_images)
    hits = np.argmax(fake_logits, axis=1) == fake_labels
    per_class = []
    for k in np.unique(fake_labels):
        fake_k, real_k = fake_features[fake_labels == k], real_features[real_labels == k]
        fid_k = None
        if len(fake_k) > fake_k.shape[1] and len(real_k) > real_k.shape[1]:
            a, b = GaussianStatistics().update(real_k), GaussianStatistics().update(fake_k)
            fid_k = statistics_distance(a, b)
        per_class.append({"class": int(k), "accuracy": float(hits[fake_labels == k].mean()),
                          "classifier_fid": fid_k, "num_generated": int(len(fake_k)), "num_real": int(len(real_k))})
    return {"accuracy": float(hits.mean()),
            "real_accuracy": float(np.mean(np.argmax(real_logits, axis=1) == real_labels)),
            "per_class": per_class}
