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
    return model.posterior_means(images, batch_size)


def _scaled(train_features, test_features, standardize):
    train_features = np.asarray(train_features, np.float64)
    test_features = np.asarray(test_features, np.float64)
    if not standardize:
        return train_features, test_features
    mean, std = train_features.mean(axis=0), train_features.std(axis=0) + 1e-8
    return (train_features - mean) / std, (test_features - mean) / std


def svm_accuracies(train_features, train_labels, test_features, test_labels, num_labels, draws=10, seed=0, c=10.0,
                   standardize=False):
    """Test accuracy of an RBF SVM (scikit-learn `SVC`, `gamma="scale"`, penalty `c`) fitted on `num_labels`
    balanced labelled training examples, for each of `draws` draws of those examples.

    Features are used as they are (``gamma="scale"`` adapts the kernel to their overall spread). They are not
    standardised per dimension on purpose: a VAE leaves many latent dimensions inactive (posterior mean near 0 for
    every image: 39 of 50 on Fashion-MNIST), and unit-variance scaling would blow that noise up to the weight of
    the informative dimensions (measured: 100 MNIST labels, 0.68 standardised against 0.77 raw). With
    `standardize=True` they are scaled by the mean and std of all training features.
    """
    from sklearn.svm import SVC
    train_scaled, test_scaled = _scaled(train_features, test_features, standardize)
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(draws):
        picked = balanced_label_subset(train_labels, num_labels, rng)
        classifier = SVC(C=c, kernel="rbf", gamma="scale").fit(train_scaled[picked], train_labels[picked])
        accuracies.append(float(np.mean(classifier.predict(test_scaled) == test_labels)))
    return accuracies


class LabelPropagation:
    """Transductive labels for every training example from a few (Zhou et al. 2004, "learning with local and
    global consistency"), on a k-nearest-neighbour graph of the features: F <- alpha S F + (1 - alpha) Y,
    S = D^-1/2 W D^-1/2. The graph is built once, so many draws of the labelled set cost little. Test points
    are labelled by a distance-weighted vote of their k nearest training points' propagated label distributions.
    Features are used as they are, as in `svm_accuracies` (which says why).

    Like the transductive SVM of the M1 paper, it uses the unlabelled training images' positions, not only the
    labelled ones.
    """

    def __init__(self, train_features, test_features, n_neighbors=10, alpha=0.99, iterations=50, standardize=False):
        import scipy.sparse
        from sklearn.neighbors import NearestNeighbors
        x, x_test = _scaled(train_features, test_features, standardize)
        index = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(x)
        distances, neighbours = index.kneighbors(x)
        distances, neighbours = distances[:, 1:], neighbours[:, 1:]        # drop each point itself
        sigma2 = np.mean(distances[:, -1]) ** 2
        rows = np.repeat(np.arange(len(x)), n_neighbors)
        w = scipy.sparse.csr_matrix((np.exp(-distances.ravel() ** 2 / sigma2), (rows, neighbours.ravel())),
                                    shape=(len(x), len(x)))
        w = w.maximum(w.T)                                                  # symmetric graph
        d = np.asarray(w.sum(axis=1)).ravel()
        scale = scipy.sparse.diags(1 / np.sqrt(np.maximum(d, 1e-12)))
        self.graph = scale @ w @ scale
        self.alpha, self.iterations = alpha, iterations
        test_distances, self.test_neighbours = index.kneighbors(x_test, n_neighbors)
        self.test_weights = np.exp(-test_distances ** 2 / sigma2)

    def propagate(self, labelled_indices, labels, num_classes):
        y = np.zeros((self.graph.shape[0], num_classes))
        y[labelled_indices, labels] = 1.0
        f = y.copy()
        for _ in range(self.iterations):
            f = self.alpha * (self.graph @ f) + (1 - self.alpha) * y
        return f / np.maximum(f.sum(axis=1, keepdims=True), 1e-12)

    def accuracies(self, train_labels, test_labels, num_labels, draws=10, seed=0):
        """Test accuracy for each of `draws` balanced draws of `num_labels` labelled training examples."""
        rng = np.random.default_rng(seed)
        num_classes = int(np.max(train_labels)) + 1
        results = []
        for _ in range(draws):
            picked = balanced_label_subset(train_labels, num_labels, rng)
            f = self.propagate(picked, train_labels[picked], num_classes)
            votes = np.einsum("nk,nkc->nc", self.test_weights, f[self.test_neighbours])
            results.append(float(np.mean(np.argmax(votes, axis=1) == test_labels)))
        return results
