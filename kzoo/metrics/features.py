"""Running feature networks on images: the FID Inception network (the reference) or Keras's ImageNet
InceptionV3 (a second backend for users online, NOT comparable with published FID/IS)."""

from __future__ import annotations

import numpy as np

NETWORKS = ("fid_inception", "imagenet_inception")
NOT_COMPARABLE = ("keras.applications InceptionV3 with ImageNet weights: a different network from the FID "
                  "reference; its FID/KID/IS are NOT comparable with published numbers")


class FeatureExtractor:
    """Callable mapping uint8 images `[N, H, W, 1 or 3]` to float32 features `[N, dim]`.

    `network="fid_inception"`: the reference 2048-d pool3 features (TF1 bilinear resize, (x-128)/128).
    `network="imagenet_inception"`: `keras.applications.InceptionV3(weights="imagenet")` average-pool features
    (resized with `tf.image.resize`, x/127.5 - 1), and `probabilities()` of its 1000 classes for an ImageNet
    Inception Score; downloads its weights on first use, so it needs the internet.
    """

    def __init__(self, network="fid_inception", batch_size=50):
        import keras
        import tensorflow as tf

        if network not in NETWORKS:
            raise ValueError(f"unknown feature network {network!r}; choose one of {', '.join(NETWORKS)}.")
        self.network, self.batch_size, self.dim = network, batch_size, 2048
        self.comparable = network == "fid_inception"
        self.classifier = None
        if network == "fid_inception":
            from kzoo.metrics.inception import build_fid_inception, resize_for_inception
            model = build_fid_inception()
            self._features = tf.function(lambda x: model(resize_for_inception(x), training=False),
                                         reduce_retracing=True)
        else:
            full = keras.applications.InceptionV3(weights="imagenet", include_top=True)
            pooled = keras.Model(full.input, [full.get_layer("avg_pool").output, full.output])

            def run(x):
                from kzoo.metrics.inception import to_rgb
                x = to_rgb(tf.cast(x, tf.float32))
                x = tf.image.resize(x, (299, 299)) / 127.5 - 1.0
                return pooled(x, training=False)

            self._both = tf.function(run, reduce_retracing=True)
            self._features = lambda x: self._both(x)[0]
            self.classifier = lambda x: self._both(x)[1]
        self.model = model if network == "fid_inception" else pooled

    def __call__(self, images):
        return np.asarray(self._features(check_uint8_images(images)), np.float32)

    def probabilities(self, images):
        if self.classifier is None:
            raise ValueError("the FID Inception network has no classifier head (it was shipped without one), so "
                             "the reference Inception Score cannot be computed offline; use "
                             "network='imagenet_inception' (online) for an ImageNet Inception Score.")
        return np.asarray(self.classifier(check_uint8_images(images)), np.float64)


_CACHE: dict = {}


def check_uint8_images(images, what="images"):
    """`images` as a uint8 array `[N, H, W, 1 or 3]`, or a ValueError that says what was given and what to do.
    The reference FID preprocessing starts from uint8 pixels; floats in [0, 1] or [-1, 1] would be read as nearly
    black images and give a wrong number without complaint."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        raise ValueError(f"FID and the feature networks take uint8 {what} in [0, 255]; got {array.dtype} values in "
                         f"[{lo:.3g}, {hi:.3g}]. Convert them first: kzoo.datasets.to_uint8(images, "
                         "pixel_range=(0, 1)) for [0, 1], pixel_range=(-1, 1) for [-1, 1].")
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{what} must have shape [N, height, width, 1 or 3 channels]; got {array.shape}. Grey images "
                         "need a channel axis (images[..., None]); drop an alpha channel (images[..., :3]).")
    return array


def get_extractor(network="fid_inception"):
    """One extractor per network per process (building the network takes seconds)."""
    if network not in _CACHE:
        _CACHE[network] = FeatureExtractor(network)
    return _CACHE[network]


def iterate_batches(images, batch_size):
    """Batches of an array, or the batches an iterable already yields."""
    if isinstance(images, np.ndarray):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]
    else:
        yield from images


def generated_labels(model, start, count, label=None):
    """The class labels of generated images `start` to `start + count`: classes in turn (balanced), or all `label`;
    None for an unconditional model."""
    classes = getattr(model, "num_classes", None)
    if not classes:
        return None
    if label is not None:
        return np.full(count, int(label), np.int32)
    return (np.arange(start, start + count) % classes).astype(np.int32)


def generated_batches(model, num_samples, batch_size=250, seed=0, label=None):
    """uint8 images from `model.generate(z)`, z ~ N(0, I) drawn from `seed`, in batches; a conditional model's
    images are of every class in turn (or all of class `label`)."""
    from kzoo.datasets import to_uint8
    rng = np.random.default_rng(seed)
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
        labels = generated_labels(model, start, n, label)
        images = model.generate(z) if labels is None else model.generate(z, labels)
        yield to_uint8(np.asarray(images), model.pixel_range)


def run_extractor(extractor, images, num_images=None, batch_size=None, keep_features=True, statistics=None,
                  progress=True, description="features"):
    """Apply `extractor` to every batch, updating `statistics` (a `GaussianStatistics`) and returning the
    stacked features (or None when `keep_features=False`, which keeps memory independent of N)."""
    import keras
    batch_size = batch_size or getattr(extractor, "batch_size", 50)
    bar = keras.utils.Progbar(num_images, unit_name="image") if progress else None
    kept, seen = [], 0
    for batch in iterate_batches(images, batch_size):
        for start in range(0, len(batch), batch_size):
            features = extractor(batch[start:start + batch_size])
            if statistics is not None:
                statistics.update(features)
            if keep_features:
                kept.append(features)
            seen += len(features)
            if bar is not None:
                bar.update(seen)
    return np.concatenate(kept) if keep_features and kept else None
