"""Measured results as data: a JSON file per study, shipped model or benchmark, each with its protocol.

A result file is ``{"name", "kind", "protocol": {...}, "results": {...}}``. The protocol records what a reader
needs to reproduce or compare the numbers: the data (dataset, split, real and generated counts), the feature
network and the SHA-256 of its weights, the resize, seeds, precision, epochs, steps, wall time, peak memory, the
kzoo version, the git commit and the command. `protocol()` fills in the environment; callers add the rest.
The README's and `docs/`'s tables are rendered from these files (`tools/render_docs.py`), never typed.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

from kzoo.config import NATIVE_BFLOAT16_CPU_FLAGS, atomic_write_bytes, cpu_flags

# What every result's protocol must say (the issue of record: a number without these cannot be compared).
REQUIRED_PROTOCOL = ("command", "kzoo_version", "git_commit", "date", "machine")


def git_commit(path: os.PathLike | None = None) -> str | None:
    """The commit of the checkout holding `path` (this package by default), with ``+dirty`` when it has uncommitted
    changes; None outside a git checkout (an installed wheel)."""
    where = pathlib.Path(path or __file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    """The hardware in words: CPU model, logical cores, whether the CPU has native bfloat16, and the accelerators
    TensorFlow sees."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # Whether precision `auto` trains in mixed_bfloat16 on this CPU (kzoo.distribute.resolve_precision).
    info = {"cpu": cpu, "logical_cores": os.cpu_count(), "system": platform.system(),
            "cpu_native_bfloat16": bool(cpu_flags() & NATIVE_BFLOAT16_CPU_FLAGS)}
    if "tensorflow" in sys.modules:
        import tensorflow as tf
        info["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    return info


def protocol(command: str | None = None, **fields) -> dict:
    """A protocol record: `fields` (dataset, split, counts, network, seeds, precision, epochs, ...) plus the
    command (default: this process's command line), kzoo's version, the git commit, library versions, the date
    and the machine."""
    from kzoo.version import __version__
    versions = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "scipy"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", None)
    record = {
        "command": command or " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
        "kzoo_version": __version__,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "versions": versions,
    }
    record.update(fields)
    return record


def fid_network_record() -> dict:
    """The protocol fields of the reference FID network: name, layer, SHA-256 of its decoded weights, resize."""
    from kzoo.metrics import inception
    return {"feature_network": "FID Inception (inception-2015-12-05, pool3, 2048-d), float32",
            "feature_network_sha256": inception.WEIGHTS_SHA256,
            "resize": "TF1 resize_bilinear to 299x299 (align_corners=False, half_pixel_centers=False), uint8 input"}


def weights_sha256(model) -> str:
    """SHA-256 of a model's weights (values in order, not the file's bytes, which change on every save): ties a
    result to the exact model it measured."""
    import hashlib

    import numpy as np
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()


def validate(record: dict) -> dict:
    """Check a result record's shape; raise ValueError naming what is missing."""
    for key in ("name", "kind", "protocol", "results"):
        if key not in record:
            raise ValueError(f"a result record needs {key!r}; it has {sorted(record)}.")
    missing = [k for k in REQUIRED_PROTOCOL if k not in record["protocol"]]
    if missing:
        raise ValueError(f"result {record['name']!r}: its protocol lacks {missing} (see kzoo.results.protocol).")
    return record


def write(directory: os.PathLike, name: str, kind: str, protocol_record: dict, results: dict) -> pathlib.Path:
    """Write ``directory/<name>.json`` atomically and return its path. `kind` is ``study``, ``model``,
    ``benchmark``, ``run`` or ``evaluation``."""
    record = validate({"name": name, "kind": kind, "protocol": protocol_record, "results": results})
    path = pathlib.Path(directory) / f"{name}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1, sort_keys=False, default=_plain) + "\n").encode())
    return path


def read(path: os.PathLike) -> dict:
    """A result file, validated."""
    return validate(json.loads(pathlib.Path(path).read_text()))


def read_all(directory: os.PathLike) -> dict[str, dict]:
    """Every ``*.json`` result in `directory`, by name."""
    return {p.stem: read(p) for p in sorted(pathlib.Path(directory).glob("*.json"))}


def versus_target(fid: float, target: float) -> str:
    """How a FID stands against a target that is an upper bound: "met", or how far above it, "+7.2% from it"."""
    return "met" if fid <= target else f"{100 * (fid / target - 1):+.1f}% from it"


def _plain(value):
    # numpy scalars and arrays, paths: what result dicts carry besides plain JSON.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} into a result file")
