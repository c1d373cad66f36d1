"""A run folder as a typed object: every reader and writer of its files goes through `RunFolder`.

A run folder holds ``config.json`` (the preset and run settings: its fingerprint), ``checkpoints/`` (the last good
checkpoint, see `kzoo.checkpoint`), ``history.json``, ``loss_curve.png``, ``samples/epoch_NNN.png``,
``stability.json``/``.md``, for models with an encoder ``reconstructions/`` and ``latent/``, optionally
``tensorboard/``, and at the end ``reconstructions.png``, ``interpolation.png``, ``model.keras``, ``saved_model/``
(SavedModel with serving endpoints), ``summary.json`` and, with a FID, ``report.md``.
"""

from __future__ import annotations

import json
import pathlib

from kzoo.config import atomic_write_bytes


def read_json(path, default=None):
    """The JSON in `path`, or `default` when the file is missing or half-written."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def write_json(path, value):
    """Write `value` as JSON atomically (a failed write keeps the old file)."""
    atomic_write_bytes(path, json.dumps(value, indent=1, default=str).encode())


class RunFolder:
    """The files of one run folder (which need not exist yet)."""

    CONFIG, SUMMARY, HISTORY, STABILITY, REPORT = "config.json", "summary.json", "history.json", "stability.json", \
        "report.md"

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __truediv__(self, name):
        return self.path / name

    def __fspath__(self):
        return str(self.path)

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.path / "checkpoints"

    @property
    def model_file(self) -> pathlib.Path:
        return self.path / "model.keras"

    def config(self, default=None) -> dict | None:
        return read_json(self.path / self.CONFIG, default)

    def summary(self, default=None) -> dict | None:
        return read_json(self.path / self.SUMMARY, default)

    def history(self) -> dict:
        return read_json(self.path / self.HISTORY, {})

    def fid_by_epoch(self) -> dict | None:
        """The reference FID `--fid-every` recorded during training: ``{"epochs": [...], "fid": [...]}`` (the epochs
        it was measured at, counted from 1) plus the protocol the summary holds (``num_generated``, ``split``,
        ``seed``, ``every``); None for a run without it."""
        fids = self.history().get("fid") or []
        measured = [(epoch, value) for epoch, value in enumerate(fids, 1) if value is not None and value == value]
        if not measured:
            return None
        protocol = (self.summary() or {}).get("periodic_fid") or {}
        return {**protocol, "epochs": [e for e, _ in measured], "fid": [v for _, v in measured]}

    def stability(self) -> list:
        return read_json(self.path / self.STABILITY, [])

    def write_config(self, config):
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / self.CONFIG, config)

    def write_summary(self, summary):
        write_json(self.path / self.SUMMARY, summary)

    def write_report(self, text):
        atomic_write_bytes(self.path / self.REPORT, text.encode())

    def is_finished(self) -> bool:
        return (self.path / self.SUMMARY).exists() and (self.path / self.CONFIG).exists()
