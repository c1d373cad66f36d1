"""How one run goes beyond its preset (`RunSettings`), and what a checkpoint must match to be resumed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing

from kzoo import presets
from kzoo.config import DEFAULT_PRECISION

JIT_COMPILE = ("auto", "on", "off")


def fingerprint(config):
    """What must match for a checkpoint to be resumed: everything but the number of epochs and the strategy."""
    keep = {k: v for k, v in config.items() if k not in ("epochs", "strategy", "checkpoint_every", "about")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How one run goes, beyond its preset (`kzoo train`'s options); checked when made.

    take: train on the first `take` examples only. seed: data order, noise and initial weights.
    verbose: Keras `fit` verbosity ("auto", 0, 1, 2). num_samples: images in each epoch's sample grid.
    strategy: a `kzoo.distribute.get_strategy` name. precision: ``auto`` (bfloat16 where the hardware has it),
        ``float32``, ``mixed_bfloat16`` or ``mixed_float16`` (see `kzoo.distribute.set_precision`).
    resume: None: resume from the run folder's checkpoint if there is one; True: require one; False: start over
        (deleting the old checkpoints).
    checkpoint_every: also checkpoint every this many steps (checkpoints are always written each epoch).
    deterministic: deterministic TensorFlow kernels (same seed, same weights; slower, no XLA).
    sync_batch_norm: batch-norm statistics over the global batch instead of per replica.
    tensorboard: write TensorBoard logs (scalars and sample-grid images) to ``out/tensorboard``.
    export: write ``saved_model/`` at the end.
    fid_samples: at the end, the reference FID of this many generated images against (up to) `fid_real` real
        images (the test split of the built-in sets, else the training images), and ``report.md``.
    jit_compile: ``auto`` (Keras' choice: XLA on one GPU without a distribution strategy, not on a CPU), ``on``
        or ``off``: whether `fit` compiles the training step with XLA.
    fid_every: also every this many epochs, the reference FID of `fid_samples` (default 2,000) generated images
        against as many real ones, logged as ``fid`` in ``history.json``: the FID-against-epochs curve, which
        tells when to stop.
    init_from: continue training a trained model (a name from `kzoo models`, a run folder or a ``.keras`` file
        holding its optimizers' state) into a new run folder: the data stream and training noise go on from the
        model's step (its optimizer's iteration count), so with the preset and settings it was trained with,
        continuing a 30-epoch model to 45 epochs trains as one 45-epoch run would have.
    new_optimizer: with `init_from`, continue the model's weights with the preset's optimizer made anew (its
        moments at zero) instead of the saved one: for a model saved without its optimizer's state (a shipped
        model whose prior was fitted by `kzoo prior`), or to continue with other optimizer settings (``--set
        optimizer.learning_rate=...``). The step count (data stream, epochs) goes on from the model's trained
        steps, read from its run's ``summary.json`` or its results file; the run is a continuation, not a replay.
    fit_prior: at the end, fit the preset's latent prior (a mixture or a second stage) to the training codes, as
        the preset says. False (``--no-prior``) leaves the model with N(0, I), for a model whose prior is fitted
        later by `kzoo prior` (or that is continued by a later run, which drops a fitted prior anyway); the
        weights are the same either way.
    """

    take: int | None = None
    seed: int = 0
    verbose: typing.Any = "auto"
    num_samples: int = 64
    strategy: str = "auto"
    precision: str = DEFAULT_PRECISION
    resume: bool | None = None
    checkpoint_every: int | None = None
    deterministic: bool = False
    sync_batch_norm: bool = False
    tensorboard: bool = False
    export: bool = True
    fid_samples: int | None = None
    fid_real: int = 10000
    fid_every: int | None = None
    jit_compile: str = "auto"
    init_from: str | None = None
    new_optimizer: bool = False
    fit_prior: bool = True

    def __post_init__(self):
        from kzoo.config import PRECISIONS, STRATEGIES
        for field, minimum in (("take", 1), ("checkpoint_every", 1), ("fid_samples", 2), ("fid_every", 1)):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
                raise ValueError(f"{field} must be an integer of at least {minimum} (or None), got {value!r}.")
        for field, minimum in (("seed", 0), ("num_samples", 1), ("fid_real", 2)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{field} must be an integer of at least {minimum}, got {value!r}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is unknown; choose one of {', '.join(PRECISIONS)}.")
        if self.jit_compile not in JIT_COMPILE:
            raise ValueError(f"jit_compile must be one of {', '.join(JIT_COMPILE)}, got {self.jit_compile!r}.")
        if self.verbose not in ("auto", 0, 1, 2):
            raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {self.verbose!r}.")
        if self.resume not in (None, True, False):
            raise ValueError(f"resume must be None, True or False, got {self.resume!r}.")
        if self.new_optimizer and not self.init_from:
            raise ValueError("new_optimizer (--new-optimizer) continues a trained model: give init_from "
                             "(--init-from MODEL) too.")


def changed_fields(old, new):
    """The dotted names of the fields whose values differ between two run configs (epochs and strategy aside)."""
    ignore = ("epochs", "strategy", "checkpoint_every", "about", "settings")
    flat_old = presets.flatten({k: v for k, v in old.items() if k not in ignore})
    flat_new = presets.flatten({k: v for k, v in json.loads(json.dumps(new, default=str)).items() if k not in ignore})
    return [f"{k} ({flat_old.get(k)!r} -> {flat_new.get(k)!r})" for k in sorted(set(flat_old) | set(flat_new))
            if flat_old.get(k) != flat_new.get(k)]


def config_summary(config):
    return {k: config[k] for k in ("name", "dataset", "batch_size", "take", "seed", "precision")}
