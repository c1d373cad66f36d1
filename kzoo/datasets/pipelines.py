"""The datasets as `tf.data` pipelines and as raw arrays: the built-in sets through the asset store, any TFDS
dataset, any folder of images, and the toy 2-D sets."""

from __future__ import annotations

import dataclasses

import numpy as np

from kzoo import assets
from kzoo.assets.decoders import read_folder
from kzoo.datasets.pixels import check_pixel_range, resize_map, resize_uint8, scale_fn

BUILTIN = ("mnist", "fashion_mnist")
TOY_SETS = ("ring", "ring_mog")
SPLITS = {"mnist": ("train", "test"), "fashion_mnist": ("train", "test"), "emoji": ("train",)}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


@dataclasses.dataclass
class DataArrays:
    """Raw arrays of one split: uint8 images `[N, H, W, C]` (or float32 points `[N, 2]`), int64 labels or None."""

    images: np.ndarray
    labels: np.ndarray | None
    name: str
    split: str

    def __len__(self):
        return len(self.images)


def _stored_arrays(name: str, split: str):
    """A built-in set's split from the asset store (converted from local sources if need be; downloads happen
    only in `kzoo data prepare`)."""
    content = assets.load(name)
    return content[f"{split}_images"], content.get(f"{split}_labels")


def _tfds_name(name: str) -> str:
    return name.split(":", 1)[1]


def _tfds_image_and_label(example):
    return example["image"], example.get("label")


def _tfds_dataset(name: str, split: str, data_dir=None, download=True):
    import tensorflow_datasets as tfds
    tfds_name = _tfds_name(name)
    try:
        return tfds.load(tfds_name, split=split, data_dir=data_dir, download=download, shuffle_files=False)
    except Exception as e:  # tfds raises many kinds: not found, not prepared, offline
        raise assets.AssetNotFoundError(
            f"tfds:{tfds_name} split {split!r} could not be loaded ({type(e).__name__}: {str(e).splitlines()[0]}). "
            f"Check the name at https://www.tensorflow.org/datasets/catalog, and that the machine is online "
            f"or the data is prepared under the TFDS data_dir.") from e


def toy_2d(name: str, num_points: int = 10000, seed: int = 0) -> np.ndarray:
    """Toy 2-D sets for the 2-D GAN study, float32 `[num_points, 2]`.

    ``ring``: uniform angle on the unit circle, radial noise 0.05. ``ring_mog``: a mixture of 8 Gaussians
    (std 0.02) centred on a circle of radius 2, equal weights (the set of the unrolled-GAN paper).
    """
    rng = np.random.default_rng(seed)
    if name == "ring":
        angle = rng.uniform(0, 2 * np.pi, num_points)
        radius = 1.0 + 0.05 * rng.standard_normal(num_points)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).astype(np.float32)
    if name == "ring_mog":
        centers = ring_mog_centers()
        which = rng.integers(0, len(centers), num_points)
        return (centers[which] + 0.02 * rng.standard_normal((num_points, 2))).astype(np.float32)
    raise ValueError(f"unknown toy set {name!r}; choose ring or ring_mog.")


def ring_mog_centers(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def load_arrays(name: str, split: str = "train", image_size: int | None = None, num_points: int = 10000,
                seed: int = 0, data_dir=None) -> DataArrays:
    """Raw arrays of a dataset split, for evaluation: uint8 images `[N,H,W,C]` and int64 labels (or None)."""
    if name in SPLITS:  # the built-in sets, from the asset store
        _check_split(name, split, SPLITS[name])
        images, labels = _stored_arrays(name, split)
        if image_size not in (None, images.shape[1]):
            images = resize_uint8(images, image_size)
        return DataArrays(images, labels, name, split)
    if name in TOY_SETS:
        _check_split(name, split, ("train", "test"))
        return DataArrays(toy_2d(name, num_points, seed + (split == "test")), None, name, split)
    if name.startswith("folder:"):
        if split != "train":
            raise ValueError(f"{name}: a folder has one split, 'train'; got {split!r}.")
        return DataArrays(read_folder(name[len("folder:"):], image_size or 64), None, name, split)
    if name.startswith("tfds:"):
        import tensorflow_datasets as tfds
        ds = _tfds_dataset(name, split, data_dir)
        images, labels = [], []
        for example in tfds.as_numpy(ds):
            images.append(example["image"])
            if "label" in example:
                labels.append(example["label"])
        images = np.stack(images)
        if image_size not in (None, images.shape[1]):
            images = resize_uint8(images, image_size)
        return DataArrays(images, np.asarray(labels, np.int64) if labels else None, name, split)
    raise ValueError(_unknown(name))


def load(name: str, split: str = "train", batch_size: int = 128, pixel_range=(0.0, 1.0), shuffle: bool = True,
         seed: int = 0, with_labels: bool = False, image_size: int | None = None, take: int | None = None,
         drop_remainder: bool = False, repeat: bool = False, num_points: int = 10000, data_dir=None):
    """A batched, prefetched `tf.data.Dataset` of float32 images scaled to `pixel_range`.

    Elements are image batches, or `(images, labels)` when `with_labels`. Toy 2-D sets give float32
    points and ignore `pixel_range`. `take` keeps the first N examples (before shuffling), for small runs.
    """
    import tensorflow as tf

    pixel_range = check_pixel_range(pixel_range)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if name.startswith("tfds:"):
        ds = _tfds_dataset(name, split, data_dir)
        if take is not None:
            ds = ds.take(take)
        if with_labels:
            ds = ds.map(lambda e: (e["image"], e["label"]), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda e: e["image"], num_parallel_calls=tf.data.AUTOTUNE)
        if image_size is not None:
            ds = ds.map(resize_map(image_size, with_labels), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.cache()
        size = None
    else:
        arrays = load_arrays(name, split, image_size=image_size, num_points=num_points, seed=seed)
        images, labels = arrays.images, arrays.labels
        if take is not None:
            images = images[:take]
            labels = None if labels is None else labels[:take]
        if with_labels and labels is None:
            raise ValueError(f"{name} has no labels; call load(..., with_labels=False).")
        ds = tf.data.Dataset.from_tensor_slices((images, labels) if with_labels else images)
        size = len(images)
    if shuffle:
        ds = ds.shuffle(size or 10000, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if name not in TOY_SETS:
        scale = scale_fn(pixel_range)
        ds = ds.map((lambda x, y: (scale(x), y)) if with_labels else scale, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def training_stream(name: str, batch_size: int, pixel_range=(0.0, 1.0), seed: int = 0, take: int | None = None,
                    start_step: int = 0, image_size: int | None = None, num_points: int = 10000,
                    with_labels: bool = False):
    """The training pipeline of `kzoo train`: an endless, seekable stream of full batches, and its epoch length.

    Returns ``(dataset, steps_per_epoch)``. Step ``s`` (of epoch ``s // steps_per_epoch``) holds examples
    ``perm_e[(s % steps_per_epoch) * batch_size + j]``, ``j < batch_size``, where ``perm_e`` is a seeded random
    permutation of the whole set for epoch ``e`` (`tf.random.experimental.index_shuffle`; the remainder of each
    epoch is dropped). So the data of any step is a pure function of ``(seed, step)``: a run resumed at
    `start_step` sees exactly the batches the interrupted run would have seen, and the stream is the same whether
    `fit` gives each batch to one device or splits it between replicas (the batching comes before the gather,
    so `tf.distribute` rebatching keeps every example's global index).
    Datasets are held in memory (as uint8); scaling to `pixel_range` happens per batch. With `with_labels`, the
    elements are `(images, labels)` (int32), each label gathered with its image.
    """
    import tensorflow as tf

    pixel_range = check_pixel_range(pixel_range)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    arrays = load_arrays(name, "train", image_size=image_size, num_points=num_points, seed=seed)
    images = arrays.images if take is None else arrays.images[:take]
    if with_labels and arrays.labels is None:
        raise ValueError(f"{name} has no labels, so a class-conditional model cannot train on it; choose a labelled "
                         "dataset (mnist, fashion_mnist, tfds:NAME with a label feature).")
    count = len(images)
    steps_per_epoch = count // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{name}: {count} training examples make no full batch of {batch_size}; "
                         "lower the batch size or use more data (take).")
    table = tf.constant(images)
    if with_labels:
        label_table = tf.constant(np.asarray(arrays.labels[:len(images)], np.int32))
    scale = (lambda x: tf.cast(x, tf.float32)) if name in TOY_SETS else scale_fn(pixel_range)
    usable = steps_per_epoch * batch_size

    def gather(positions):  # consecutive global positions in the stream; a batch never spans two epochs
        epoch = positions[0] // usable
        order = tf.random.experimental.index_shuffle(positions % usable, tf.stack([tf.constant(seed, tf.int64), epoch]),
                                                     tf.cast(count - 1, tf.int64))
        batch = scale(tf.gather(table, order))
        return (batch, tf.gather(label_table, order)) if with_labels else batch

    ds = tf.data.Dataset.counter(start=int(start_step) * batch_size, dtype=tf.int64)
    ds = ds.batch(batch_size, drop_remainder=True).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps_per_epoch


def _check_split(name, split, splits):
    if split not in splits:
        raise ValueError(f"{name} has splits {', '.join(splits)}; got {split!r}.")


def _unknown(name):
    return (f"unknown dataset {name!r}. Choose one of {', '.join(tuple(SPLITS) + TOY_SETS)}, "
            "'tfds:<name>' (any TensorFlow Datasets image dataset) or 'folder:<path>' (a folder of images).")
