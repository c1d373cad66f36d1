"""Pixels: uint8 images <-> float32 in a model's pixel range, and resizing.

A model works in (0, 1) (a decoder ending in a sigmoid) or (-1, 1) (a generator ending in tanh, or diffusion's
unit-variance noise against data of a similar scale); each family (`kzoo.families`) names its own. Metrics take
uint8 images; `to_uint8` is the one conversion.
"""

from __future__ import annotations

import numpy as np

PIXEL_RANGES = ((0.0, 1.0), (-1.0, 1.0))


def to_pixel_range(images_uint8, pixel_range=(0.0, 1.0)):
    """uint8 images -> float32 in `pixel_range` (numpy in, numpy out)."""
    lo, hi = check_pixel_range(pixel_range)
    return (np.asarray(images_uint8, np.float32) / 255.0 * (hi - lo) + lo).astype(np.float32)


def to_uint8(images, pixel_range=(0.0, 1.0)) -> np.ndarray:
    """float images in `pixel_range` -> uint8, rounded and clipped."""
    lo, hi = check_pixel_range(pixel_range)
    x = (np.asarray(images, np.float32) - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(np.nan_to_num(x, nan=0.0)), 0, 255).astype(np.uint8)  # NaN (a diverged model): black


def scale_fn(pixel_range):
    import tensorflow as tf
    lo, hi = pixel_range

    def scale(x):
        return tf.cast(x, tf.float32) * ((hi - lo) / 255.0) + lo

    return scale


def resize_map(size, with_labels):
    import tensorflow as tf

    def resize(x):
        x = tf.image.resize(x, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)

    return (lambda x, y: (resize(x), y)) if with_labels else resize


def resize_uint8(images, size):
    import tensorflow as tf
    out = tf.image.resize(images, (size, size), antialias=True).numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def check_pixel_range(pixel_range):
    try:
        pr = (float(pixel_range[0]), float(pixel_range[1]))
    except (TypeError, IndexError, ValueError):
        pr = None
    if pr not in PIXEL_RANGES:
        raise ValueError(f"pixel_range must be (0, 1) (a sigmoid decoder) or (-1, 1) (a tanh generator), got "
                         f"{pixel_range!r}.")
    return pr
