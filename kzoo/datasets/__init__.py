"""Datasets as `tf.data` pipelines, and the raw arrays behind them.

Names understood by `load` and `load_arrays`:

- ``mnist``, ``fashion_mnist``: 28x28x1 uint8 with labels 0-9, converted once into ``KZOO_HOME`` from local
  sources by the asset store (`kzoo.assets`), and verified by a SHA-256 of the decoded arrays on every load.
- ``emoji``: 3,786 64x64 RGB emoji (Noto Emoji, Apache-2.0) from the npm package emoji-datasource-google,
  transparency composited over white; one split, ``train``; `kzoo data prepare emoji` fetches it with npm.
- ``tfds:<name>``: any TensorFlow Datasets dataset with an ``image`` feature (``label`` if present).
- ``folder:<path>``: every image file under a folder, resized to ``image_size`` (64 by default), RGB.
- ``ring``, ``ring_mog``: toy 2-D point sets (a noisy circle; eight Gaussians on a ring).

`pipelines` builds the datasets, `pixels` converts between uint8 and a model's pixel range; where the files come
from and how they are decoded and verified is `kzoo.assets`.
"""

from __future__ import annotations

from kzoo.assets import AssetError as DataError
from kzoo.assets import AssetNotFoundError as DataNotFoundError
from kzoo.assets import CorruptAssetError as CorruptDataError
from kzoo.assets.decoders import read_folder
from kzoo.datasets.pipelines import (
    BUILTIN,
    CLASS_NAMES,
    SPLITS,
    TOY_SETS,
    DataArrays,
    load,
    load_arrays,
    ring_mog_centers,
    toy_2d,
    training_stream,
)
from kzoo.datasets.pixels import to_pixel_range, to_uint8

__all__ = ["BUILTIN", "CLASS_NAMES", "SPLITS", "TOY_SETS", "CorruptDataError", "DataArrays",
           "DataError", "DataNotFoundError", "first_images", "load", "load_arrays", "prepare", "read_folder",
           "ring_mog_centers",
           "status", "to_pixel_range", "to_uint8", "toy_2d", "training_stream"]


def prepare(name: str, download: bool = True, verbose: bool = True):
    """Convert a built-in dataset (mnist, fashion_mnist, emoji) once into `KZOO_HOME`, verified, fetching it when
    `download` (what `kzoo data prepare NAME` does); returns the converted file's path."""
    from kzoo import assets
    if name not in SPLITS:
        raise ValueError(f"prepare() knows {', '.join(SPLITS)}, not {name!r}.")
    return assets.prepare(name, download=download, verbose=verbose)


def status() -> dict:
    """Where each built-in dataset would come from now (for `kzoo data status`)."""
    from kzoo import assets
    return assets.status(tuple(SPLITS))


def first_images(name: str, pixel_range, count: int, take: int | None = None):
    """The first `count` images (in `pixel_range`) of the test split, or of the (first `take`) training images of a
    set without one, and their labels (None for unlabelled data): the fixed examples of a run's figures."""
    import numpy as np
    split = "test" if name in BUILTIN else "train"
    arrays = load_arrays(name, split)
    count = min(count, take or count) if split == "train" else count
    labels = None if arrays.labels is None else np.asarray(arrays.labels[:count], np.int32)
    return to_pixel_range(arrays.images[:count], pixel_range), labels
