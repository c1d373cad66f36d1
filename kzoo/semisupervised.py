"""M1 + SVM semi-supervised classification (Kingma et al. 2014, model M1): a VAE trained on every image without
labels, then a support vector machine on the encoder's posterior means of the few labelled ones."""

from __future__ import annotations

import numpy as np


def balanced_label_subset(labels, num_labels, rng):
    """Indices of `num_labels` examples, `num_labels / K` drawn without replacement from each of the K classes."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if num_labels % len(classes):
        raise ValueError(f"{num_labels} labels cannot be balanced over {len(classes)} classes; use a multiple of "
                         f"{len(classes)}.")
    per_class = num_labels // len(classes)
    picks = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} examples; {per_class} asked for.")
        picks.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picks))


def latent_means(model, images, batch_size=1000):
    """The posterior means `encode(x)[0]` of images already in the model's pixel range, `[N, latent_dim]`."""
    return np.concatenate([np.asarray(model.encode(images[i:i + batch_size])[0], np.float32)
                           for i in range(0, len(images), batch_size)])


def svm_accuracies(train_features, train_labels, test_features, test_labels, num_labels, draws=10, seed=0, c=10.0):
    """Test accuracy of an RBF SVM (scikit-learn `SVC`, `gamma="scale"`, penalty `c`) fitted on `num_labels`
    balanced labelled training examples, for each of `draws` draws of those examples.

    Features are standardised with the mean and std of *all* training features (labelled or not): the unlabelled
    data is available to a semi-supervised learner, and the SVM's RBF kernel wants comparable scales.
    """
    from sklearn.svm import SVC
    train_features = np.asarray(train_features, np.float64)
    mean, std = train_features.mean(axis=0), train_features.std(axis=0) + 1e-8
    train_scaled = (train_features - mean) / std
    test_scaled = (np.asarray(test_features, np.float64) - mean) / std
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(draws):
        picked = balanced_label_subset(train_labels, num_labels, rng)
        classifier = SVC(C=c, kernel="rbf", gamma="scale").fit(train_scaled[picked], train_labels[picked])
        accuracies.append(float(np.mean(classifier.predict(test_scaled) == test_labels)))
    return accuracies
