"""kzoo's named, verified assets: the built-in datasets, the FID Inception weights and the domain classifiers.

    from kzoo import assets
    assets.prepare("mnist", download=True)    # what `kzoo data prepare mnist` does
    arrays = assets.load("fashion_mnist")      # verified decoded content (dict of arrays)
    path = assets.path("classifier_mnist")     # a verified file

`catalog` says where each asset comes from and the SHA-256 it must have; `store` is the machinery (sources
tried in order, decoding, verification, atomic caches); `decoders` reads the file formats; `sources` finds and
fetches files. The domain classifiers' weights (``classifier_*.weights.h5``) are package data in this folder.
"""

from __future__ import annotations

from kzoo.assets import catalog, store
from kzoo.assets.store import AssetError, AssetNotFoundError, CorruptAssetError, FetchError

__all__ = ["AssetError", "AssetNotFoundError", "CorruptAssetError", "FetchError", "catalog", "load", "names",
           "path", "prepare", "status"]


def names() -> tuple[str, ...]:
    """The names of the assets kzoo knows."""
    return catalog.names()


def prepare(name: str, download: bool = False, verbose: bool = True):
    """Convert and verify the asset `name` once into `KZOO_HOME` (fetching it only with `download`); its path."""
    return store.prepare(catalog.get(name), download=download, verbose=verbose)


def load(name: str, download: bool = False):
    """The verified content of asset `name` (a dict of numpy arrays, or bytes for a file asset)."""
    return store.load(catalog.get(name), download=download)


def path(name: str, download: bool = False):
    """The verified file of asset `name`."""
    return store.path(catalog.get(name), download=download)


def status(names=None) -> dict:
    """Per asset: its cache, whether it is there, the sources present now and how to get it."""
    return {name: store.status(catalog.get(name)) for name in (names or catalog.names())}
