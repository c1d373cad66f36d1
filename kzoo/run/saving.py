"""Saving a model without losing the old file, and reading or changing the precision a `.keras` file was saved in."""

from __future__ import annotations

import os
import pathlib


def save_model_atomically(model, path):
    """`model.save` to a temporary `.keras` file beside `path`, then rename: a failed save keeps the old file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def archive_precision(path):
    """The mixed policy the layers saved in the `.keras` file `path` compute in, or float32 when none is mixed (read
    from its config, as the layers were saved, not as a global policy would rebuild them)."""
    import re
    import zipfile
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    mixed = set(re.findall(r'"class_name": "DTypePolicy", "config": \{"name": "(mixed_\w+)"', config))
    if len(mixed) > 1:
        raise ValueError(f"{path} mixes the policies {sorted(mixed)}; kzoo cannot continue it.")
    return mixed.pop() if mixed else "float32"


def load_in_float32(path, trained_in, precision, init_from):
    """The model of the `.keras` file `path` (trained in a mixed precision) with every layer computing in float32:
    its variables are float32 already, so only the layers' policies change. This continues a model on a machine
    without fast bfloat16 (the other way, which layers must stay float32 is not recorded, so it is refused)."""
    import tempfile
    import zipfile

    import keras
    if precision != "float32" or not trained_in.startswith("mixed_") or trained_in == "mixed_float16":
        raise ValueError(f"--init-from {init_from}: the model was trained in {trained_in}, this run asks for "
                         f"{precision}; continue it with --precision {trained_in}"
                         f"{' (or float32)' if trained_in == 'mixed_bfloat16' else ''}.")
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / "model.keras"
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "config.json":
                    data = data.replace(f'"name": "{trained_in}"'.encode(), b'"name": "float32"')
                target.writestr(item, data)
        return keras.models.load_model(copy)
