"""Checkpoints that survive `kill -9`, and stopping on a non-finite loss.

A checkpoint is a folder ``ckpt-NNNNNNNN`` (the global step) holding ``model.keras`` (weights, both
optimizers' state and step counters, the noise seed) and ``state.json`` (step, epochs done, the run's
fingerprint, cumulative wall time). It is written under a temporary name, renamed into place, and only then
named in the file ``latest`` (itself replaced atomically); older checkpoints are deleted after that. So at any
moment ``latest`` names a complete checkpoint, and a checkpoint is only written from finite weights and losses.
Together with `kzoo.datasets.training_stream` (the batch of step s is a function of the seed and s) and
`kzoo.noise.StepNoise` (the noise of step s is a function of the seed and s), resuming from step s continues
exactly as the interrupted run would have.
"""

import json
import os
import pathlib
import shutil
import time

import keras
import numpy as np

from kzoo.config import atomic_write_bytes

LATEST = "latest"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last good checkpoint."""


def latest(directory):
    """``(checkpoint folder, state dict)`` of the newest complete checkpoint in `directory`, or None."""
    directory = pathlib.Path(directory)
    pointer = directory / LATEST
    if not pointer.exists():
        return None
    folder = directory / pointer.read_text().strip()
    state_file, model_file = folder / "state.json", folder / "model.keras"
    if not (state_file.exists() and model_file.exists()):
        raise RuntimeError(f"{pointer} names {folder}, which is incomplete (no state.json or model.keras). "
                           f"Delete {directory} to start the run over.")
    return folder, json.loads(state_file.read_text())


def _non_finite_logs(logs):
    bad = {k: v for k, v in (logs or {}).items()
           if isinstance(v, (int, float, np.floating, np.ndarray)) and not np.all(np.isfinite(v))}
    return bad


def _finite_weights(model):
    return all(np.all(np.isfinite(w)) for w in model.get_weights())


class RunCheckpoint(keras.callbacks.Callback):
    """Write an atomic checkpoint after every epoch, every `every_steps` steps (`None`: epochs only), and at the
    first step `every_seconds` of training after the last one (default 600: a long epoch on a slow machine still
    loses at most about ten minutes when the process is killed; `None`: off).

    Args:
        directory: the checkpoints folder (the run folder's ``checkpoints/``).
        steps_per_epoch: steps of one epoch (to count global steps across `fit` calls).
        initial_step: the global step `fit` starts from (a resumed run's checkpoint step).
        state: extra entries for ``state.json`` (the run's fingerprint).
        wall_time_before: seconds spent by the run before this process (resumed runs).

    `wall_time` counts the time spent inside `fit` only (the run's training time, callbacks included), so
    loading, exporting or reloading a finished run does not add to it.

    In a multi-worker run every worker must save (saving reads synchronised variables, which takes all
    workers); the non-chief workers save to a temporary folder.
    """

    def __init__(self, directory, steps_per_epoch, initial_step=0, every_steps=None, state=None,
                 wall_time_before=0.0, every_seconds=600.0):
        super().__init__()
        if every_steps is not None and int(every_steps) < 1:
            raise ValueError(f"every_steps must be a positive number of steps, got {every_steps}.")
        self.directory = pathlib.Path(directory)
        self.steps_per_epoch = int(steps_per_epoch)
        self.initial_step = int(initial_step)
        self.every_steps = None if every_steps is None else int(every_steps)
        if every_seconds is not None and not every_seconds > 0:
            raise ValueError(f"every_seconds must be above 0 (or None), got {every_seconds}.")
        self.every_seconds = every_seconds
        self._last_save_time = time.monotonic()
        self.state = dict(state or {})
        self.step = self.initial_step
        self.last_saved_step = self.initial_step
        self.wall_time_before = float(wall_time_before)
        self._fit_seconds = 0.0
        self._fit_start = None
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(".tmp-*"):  # left by a killed process
            shutil.rmtree(stale, ignore_errors=True)

    def on_train_begin(self, logs=None):
        self._fit_start = time.perf_counter()

    def on_train_end(self, logs=None):
        if self._fit_start is not None:
            self._fit_seconds += time.perf_counter() - self._fit_start
            self._fit_start = None
        # The last checkpoint then records the whole training time (callbacks after its save included), so a
        # finished run that is reloaded reports the time it reported first.
        last = self.directory / f"ckpt-{self.step:08d}" / "state.json"
        if self.last_saved_step == self.step and last.exists():
            state = json.loads(last.read_text())
            state["wall_time_s"] = round(self.wall_time, 1)
            atomic_write_bytes(last, json.dumps(state, indent=1).encode())

    def on_epoch_begin(self, epoch, logs=None):
        # A resumed run's first epoch starts part-way through (at initial_step).
        self._epoch_start = max(epoch * self.steps_per_epoch, self.initial_step)

    def on_train_batch_end(self, batch, logs=None):
        self.step = self._epoch_start + batch + 1
        due = ((self.every_steps and self.step % self.every_steps == 0) or
               (self.every_seconds and time.monotonic() - self._last_save_time >= self.every_seconds))
        if due and not _non_finite_logs(logs):
            self.save(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.step != self.last_saved_step and not _non_finite_logs(logs):
            self.save(logs)

    @property
    def wall_time(self):
        running = time.perf_counter() - self._fit_start if self._fit_start is not None else 0.0
        return self.wall_time_before + self._fit_seconds + running

    def save(self, logs=None):
        """Write the checkpoint of the current step; returns its folder (None when nothing was written)."""
        if not _finite_weights(self.model):
            return None  # the update of this step diverged: keep the previous checkpoint
        name = f"ckpt-{self.step:08d}"
        tmp = self.directory / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / "model.keras")
        state = dict(self.state, step=self.step, epochs_done=self.step // self.steps_per_epoch,
                     steps_per_epoch=self.steps_per_epoch, wall_time_s=round(self.wall_time, 1),
                     logs={k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
        final = self.directory / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        atomic_write_bytes(self.directory / LATEST, name.encode())
        for old in self.directory.glob("ckpt-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        self.last_saved_step = self.step
        self._last_save_time = time.monotonic()
        return final


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop `fit` at the first step whose logged loss is NaN or infinite, and remember why.

    Works with plain `model.fit`; `kzoo train` turns `self.failure` into a `TrainingDiverged` error that names
    the step and the last good checkpoint (checkpoints are never written from non-finite values).
    """

    def __init__(self, steps_per_epoch=None, initial_step=0):
        super().__init__()
        self.steps_per_epoch, self.initial_step = steps_per_epoch, int(initial_step)
        self.failure = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = max(epoch * (self.steps_per_epoch or 0), self.initial_step)

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite_logs(logs)
        if bad and self.failure is None:
            step = self._epoch_start + batch + 1
            values = ", ".join(f"{k}={float(np.ravel(v)[0])}" for k, v in bad.items())
            self.failure = {"step": step, "epoch": self._epoch + 1, "batch": batch + 1, "values": values}
            self.model.stop_training = True


def describe_failure(failure, checkpoint):
    where = f"step {failure['step']} (epoch {failure['epoch']}, batch {failure['batch']})"
    kept = f"the last good checkpoint, {checkpoint}, is kept" if checkpoint else "no checkpoint had been written yet"
    data_hint = (" At the first step this usually means the data holds NaN or infinite values: check it with "
                 "np.isfinite." if failure["step"] == 1 else "")
    return (f"training diverged at {where}: non-finite {failure['values']}. Nothing was overwritten; {kept}. "
            "Lower the learning rate, use float32 (--precision float32), or resume from the checkpoint "
            f"with other settings.{data_hint}")
