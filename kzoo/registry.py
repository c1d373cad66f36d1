"""Trained models by name, like a Keras preset: `kzoo.load_model("dcgan_ema_fashion")`.

A named model is a folder ``NAME/`` holding ``model.keras`` and ``model.json`` (its dataset, headline metric and the
SHA-256 of its weights' values, written when the model is shipped). Names are looked up, in order, in the folders of
``$KZOO_MODELS`` (separated like ``PATH``), in ``KZOO_HOME/models/``, and in ``./saved_models/`` (a clone of the
repository, or any project that keeps models that way). A loaded named model must have the recorded weights, so a
damaged or swapped file is refused rather than evaluated. Paths and URLs work too.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile

from kzoo.config import kzoo_home

MANIFEST = "model.json"


def search_roots() -> list[pathlib.Path]:
    """The folders named models are looked up in, in order."""
    roots = [pathlib.Path(p).expanduser() for p in os.environ.get("KZOO_MODELS", "").split(os.pathsep) if p]
    return roots + [kzoo_home() / "models", pathlib.Path.cwd() / "saved_models"]


def known_models() -> dict[str, dict]:
    """Every named model found: ``{name: manifest + {"path": folder}}``; the first root holding a name wins."""
    found = {}
    for root in search_roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            manifest = folder / MANIFEST
            if folder.name not in found and manifest.exists() and (folder / "model.keras").exists():
                found[folder.name] = dict(json.loads(manifest.read_text()), path=str(folder))
    return found


def write_manifest(folder, model, dataset, metric, value, **extra) -> pathlib.Path:
    """Record `model` (loaded from ``folder/model.keras``) as a named model: its weights' SHA-256 and headline."""
    from kzoo.config import atomic_write_bytes
    from kzoo.results import weights_sha256
    folder = pathlib.Path(folder)
    manifest = {"name": folder.name, "class": type(model).__name__, "dataset": dataset,
                "headline": {"metric": metric, "value": value}, "weights_sha256": weights_sha256(model), **extra}
    atomic_write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return folder / MANIFEST


def resolve(name_or_path) -> pathlib.Path:
    """The folder or file a name, path or URL refers to (a URL is downloaded into ``KZOO_HOME/models/``)."""
    text = str(name_or_path)
    if text.startswith(("http://", "https://")):
        import keras
        filename = text.rstrip("/").rsplit("/", 1)[-1]
        return pathlib.Path(keras.utils.get_file(filename, text, cache_dir=str(kzoo_home()), cache_subdir="models"))
    path = pathlib.Path(text).expanduser()
    if path.exists():
        return path
    models = known_models()
    if text in models:
        return pathlib.Path(models[text]["path"])
    known = ", ".join(sorted(models)) or "none"
    raise ValueError(f"no model named {text!r} and no such file or folder. Known models: {known} (looked in "
                     f"{', '.join(str(r) for r in search_roots())}; `kzoo models` lists them). Give a name, a .keras "
                     "file, a run folder or a URL.")


def verify(folder, model) -> None:
    """Refuse `model` when ``folder/model.json`` records other weights."""
    manifest = pathlib.Path(folder) / MANIFEST
    if not manifest.exists():
        return
    from kzoo.results import weights_sha256
    expected = json.loads(manifest.read_text())["weights_sha256"]
    if weights_sha256(model) != expected:
        raise ValueError(f"{folder}/model.keras does not hold the weights {MANIFEST} records (SHA-256 {expected[:12]}"
                         "...): the file is damaged or was replaced. Restore it, or delete model.json to load it "
                         "unverified.")


def _check_archive(model_file):
    """A `.keras` file is a zip archive with a config: a truncated or damaged one gets a clear error here instead of
    Keras's "file not found"."""
    try:
        with zipfile.ZipFile(model_file) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{model_file} is not a readable .keras file ({type(e).__name__}: {e}); it may be truncated "
                         "by an interrupted copy or download. Copy or download it again.") from e
    if damaged is not None or "config.json" not in names:
        raise ValueError(f"{model_file} is not a readable .keras file (damaged member {damaged!r} or no config.json); "
                         "it may be truncated by an interrupted copy or download. Copy or download it again.")


def load_model(name_or_path, compile=True):
    """A kzoo model by shipped name (see the module docstring), `.keras` file, run or model folder, or URL of a
    `.keras` file; a named model is verified against the SHA-256 of its recorded weights."""
    import keras

    path = resolve(name_or_path)
    model_file = find_model_file(path)
    _check_archive(model_file)
    try:
        model = keras.models.load_model(model_file, compile=compile)
    except (TypeError, ValueError) as e:
        if "kzoo>" in str(e) or "Could not locate" in str(e):
            raise ValueError(f"{model_file} names a class this kzoo does not have ({e}); it was saved by another "
                             "kzoo version. Install that version, or retrain.") from e
        raise
    from kzoo import families
    if not any(isinstance(model, family.model_class) for family in families.all_families()):
        raise ValueError(f"{model_file} holds a {type(model).__name__}, not the model of a registered kzoo family: "
                         "load it with keras.models.load_model instead.")
    if path.is_dir():
        verify(path, model)
    return model


def find_model_file(path) -> pathlib.Path:
    """The `.keras` file of `path`: the file itself, or ``model.keras`` inside a run / saved_models folder."""
    path = pathlib.Path(path)
    candidate = path / "model.keras" if path.is_dir() else path
    if not candidate.exists() or candidate.suffix != ".keras":
        raise ValueError(f"no kzoo model at {path}: give a .keras file, or a run folder or saved_models/NAME "
                         "folder holding model.keras.")
    return candidate


def load_generator(path):
    """A kzoo model by shipped name, from a `.keras` file or folder holding ``model.keras``, or a SavedModel folder
    exported by kzoo. Returns an object with `generate(z)`, `latent_dim`, `pixel_range` (and the model's other
    methods). A named model is verified against its recorded weights."""
    from kzoo.export import SavedModelGenerator
    path = resolve(path)
    if path.is_dir() and (path / "saved_model.pb").exists() and not (path / "model.keras").exists():
        return SavedModelGenerator(path)
    model = load_model(path)
    if not hasattr(model, "generate"):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a kzoo generative model.")
    return model
