"""One run of a preset: data, model, `fit` with callbacks and checkpoints, and the run folder's files.

A run folder holds ``config.json``, ``checkpoints/`` (the last good checkpoint, see `kzoo.checkpoint`),
``history.json``, ``loss_curve.png``, ``samples/epoch_NNN.png``, ``stability.json``/``.md``, for the VAE family
``reconstructions/reconstruction_epoch_NNN.png`` and ``latent/latent_epoch_NNN.png`` + ``latent_clusters.png``,
optionally
``tensorboard/``, and at the end ``reconstructions.png`` (models with an encoder), ``interpolation.png``,
``model.keras``, ``saved_model/`` (SavedModel with serving endpoints) and ``summary.json``.
Running the same command again resumes from the last checkpoint (exactly: same data order and noise).
"""

import contextlib
import dataclasses
import hashlib
import json
import pathlib
import shutil
import tempfile
import typing

import keras
import numpy as np

from kzoo import callbacks as kcallbacks
from kzoo import checkpoint as kcheckpoint
from kzoo import datasets, distribute, presets, visualize
from kzoo.config import DEFAULT_PRECISION, atomic_write_bytes


def peak_memory_mib(status_path="/proc/self/status"):
    """Peak resident memory of this process so far, in MiB: Linux's VmHWM, else `resource.getrusage` (macOS
    reports bytes, other Unixes KiB), else None (Windows). For `kzoo train`, whose process does only this run, it
    is the run's peak; a benchmark's child process reads its own."""
    try:
        with open(status_path) as f:
            return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)
    except (OSError, StopIteration):
        pass
    try:
        import resource
        import sys
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)


def larger_peak(*values):
    """The largest of peak-memory readings that may be None (unavailable): None only when all are."""
    known = [v for v in values if v is not None]
    return max(known) if known else None


def save_model_atomically(model, path):
    """`model.save` to a temporary `.keras` file beside `path`, then rename: a failed save keeps the old file."""
    import os
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def dtype_policy(precision):
    """Set Keras' global dtype policy for the block, then restore the previous one."""
    previous = keras.config.dtype_policy()
    distribute.set_precision(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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


def train(preset_name, out, dataset=None, epochs=None, batch_size=None, settings=None, **options):
    """Train preset `preset_name` into the run folder `out` (see the module docstring); returns the summary.

    `dataset`, `epochs` and `batch_size` (the global batch, split between replicas under a distribution
    strategy) replace the preset's; `settings` are ``KEY=VALUE`` strings changing any preset field
    (`kzoo.presets.apply_settings`), recorded in ``config.json`` (a resumed run must have the same); `options`
    are the `RunSettings` fields.
    """
    valid = [f.name for f in dataclasses.fields(RunSettings)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"train() got unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the "
                        f"options are dataset, epochs, batch_size, settings, {', '.join(valid)}.")
    run_settings = RunSettings(**options)
    preset = presets.get(preset_name, dataset=dataset, epochs=epochs, batch_size=batch_size)
    preset, applied = presets.apply_settings(preset, settings)
    if not preset["dataset"]:
        raise ValueError(f"preset {preset_name!r} has no default dataset; pass one (--dataset folder:PATH, "
                         "tfds:NAME, emoji, mnist or fashion_mnist).")
    return Run(preset_name, preset, out, run_settings, applied).execute()


JIT_COMPILE = ("auto", "on", "off")


class Run:
    """One run of a preset into a run folder: resolves the strategy, precision and checkpoint to resume from,
    then `execute` fits (in phases, so a run resumed mid-epoch first finishes that epoch) and `finish` writes the
    figures, the model, the export and ``summary.json``."""

    def __init__(self, preset_name, preset, out, settings: RunSettings, applied=None):
        self.name, self.preset, self.settings = preset_name, preset, settings
        self.out = pathlib.Path(out)
        self.strategy = distribute.get_strategy(settings.strategy)
        self.chief = distribute.is_chief(self.strategy)
        # A preset may pin its precision (so its runs resume on any CPU); an explicit --precision wins.
        requested = preset.get("precision") if settings.precision == "auto" and preset.get("precision") else \
            settings.precision
        self.precision = distribute.resolve_precision(requested)
        if settings.deterministic:
            distribute.enable_determinism(settings.seed)
        else:
            keras.utils.set_random_seed(settings.seed)
        config = dict(preset, take=settings.take, seed=settings.seed, precision=self.precision,
                      sync_batch_norm=settings.sync_batch_norm, strategy=settings.strategy,
                      checkpoint_every=settings.checkpoint_every)
        if applied:  # only when given, so runs without --set keep their fingerprints
            config["settings"] = applied
        if settings.init_from:
            config["init_from"] = str(settings.init_from)
        if settings.new_optimizer:
            config["new_optimizer"] = True
        self.config, self.run_id = config, fingerprint(config)
        self.found = self._checkpoint_to_resume()
        self.initial = None if self.found or not settings.init_from else self._initial_model(settings.init_from)
        self.start_step = (self.found[1]["step"] if self.found else
                           self.initial["step"] if self.initial else 0)
        # Every worker runs the same callbacks and saves (reading synchronised variables involves collectives that
        # all workers must join); the non-chief workers write to a temporary folder that is deleted at the end.
        self.write_dir = self.out if self.chief else pathlib.Path(tempfile.mkdtemp(prefix="kzoo-worker-"))

    def _checkpoint_to_resume(self):
        checkpoints = self.out / "checkpoints"
        found = kcheckpoint.latest(checkpoints) if checkpoints.exists() else None
        if found and self.settings.resume is False:
            if self.chief:
                shutil.rmtree(checkpoints)
            found = None
        if self.settings.resume is True and not found:
            raise ValueError(f"nothing to resume: {checkpoints} holds no checkpoint. Run without --resume to start.")
        if found and found[1].get("fingerprint") != self.run_id:
            changed = _changed_fields(_read_json(self.out / "config.json", {}), self.config)
            what = (f"these settings differ: {', '.join(changed)}" if changed else
                    f"preset, data, batch, seed or precision differ from {found[1].get('config_summary')}")
            old_precision = _read_json(self.out / "config.json", {}).get("precision")
            hint = (f" It was trained in {old_precision}: add --precision {old_precision} to resume it here."
                    if old_precision and old_precision != self.precision else "")
            raise ValueError(f"{self.out} holds a run with other settings ({what}).{hint} Use another --out, or "
                             "--restart to start over.")
        return found

    def _initial_model(self, init_from):
        """The trained model `init_from` names, checked against the preset: ``{"model", "step", "history",
        "wall_time_s"}`` (the last two from its run folder or results file where it has them)."""
        from kzoo import registry
        from kzoo.export import find_model_file
        source = registry.resolve(init_from)
        path = find_model_file(source)
        with self.strategy.scope(), dtype_policy(self.precision):
            model = registry.load_model(source)  # verifies a named model's weights before any conversion
            trained_in = _archive_precision(path)
            if trained_in != self.precision:
                model = _load_in_float32(path, trained_in, self.precision, init_from)
            probe, steps_per_epoch = self.stream(0)
            spec = probe.element_spec[0] if self.conditional else probe.element_spec
            fresh = presets.build_model(self.preset, image_shape=tuple(spec.shape[1:]), seed=self.settings.seed,
                                        sync_batch_norm=self.settings.sync_batch_norm,
                                        label_distribution=self.label_distribution())
        if self.preset.get("latent_prior") and getattr(model, "latent_prior", None) is not None:
            # More training moves the codes the fitted prior (mixture or second stage) was fitted to: continue
            # without it, and the run fits it again at the end, as a run from scratch does.
            model.set_latent_prior(None)
            print(f"kzoo: --init-from {init_from}: its fitted latent prior is dropped and fitted again after "
                  "training")
        shapes = [tuple(w.shape) for w in model.weights]
        expected = [tuple(w.shape) for w in fresh.weights]
        if type(model) is not type(fresh) or shapes != expected:
            raise ValueError(f"--init-from {init_from}: {path} holds a {type(model).__name__} with "
                             f"{len(shapes)} weights, but preset {self.name!r} with these settings builds a "
                             f"{type(fresh).__name__} with {len(expected)} (or other shapes). Continue a model with "
                             "the preset and --set options it was trained with.")
        optimizer = getattr(model, "optimizer", None)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        folder = source if source.is_dir() else path.parent
        summary = _read_json(folder / "summary.json", {})
        results = _read_json(folder / registry.MANIFEST, {}).get("results")
        # The manifest names its results file from the repository root (saved_models/NAME/../../results/...).
        results_file = next((f for f in (pathlib.Path(results), folder.parent.parent / results) if f.exists()),
                            None) if results else None
        protocol = _read_json(results_file, {}).get("protocol", {}) if results_file else {}
        if self.settings.new_optimizer:
            # The weights go on; the optimizer is the preset's, made anew (in this run's scope and precision).
            step = step or int(summary.get("steps") or protocol.get("steps") or 0)
            if step == 0:
                raise ValueError(f"--init-from {init_from}: neither its optimizer, nor a summary.json or results "
                                 f"file beside {path}, says how many steps it trained, which the continued run's "
                                 "data stream and epochs count from. Give its run folder or a shipped model's name.")
            fresh.set_weights(model.get_weights())
            model = fresh
        elif step == 0:
            raise ValueError(f"--init-from {init_from}: {path} holds no optimizer state (step 0), so its training "
                             "cannot be continued exactly. Use a model saved with its optimizers (kzoo run folders "
                             "and saved_models/ keep them), or add --new-optimizer to continue its weights with a "
                             "new optimizer.")
        if step >= self.preset["epochs"] * steps_per_epoch:
            raise ValueError(f"--init-from {init_from}: the model has trained {step} steps ({step / steps_per_epoch:g} "
                             f"epochs of {steps_per_epoch} steps); ask for more --epochs than that.")
        wall = summary.get("wall_time_s")
        if wall is None:  # a shipped model: its results file records the training run
            wall = protocol.get("wall_time_s") if protocol.get("steps") == step else None
        epochs_done = step // steps_per_epoch
        history = {k: v[:epochs_done] for k, v in _read_json(folder / "history.json", {}).items()}
        return {"model": model, "step": step, "history": history, "wall_time_s": wall}

    def execute(self):
        """Fit, finish, and (chief, with `fid_samples`) write the FID report; returns the summary."""
        self.write_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.write_dir / "config.json", json.dumps(self.config, indent=1, default=str).encode())
        try:
            with dtype_policy(self.precision):
                model = self.fit()
                summary = self.finish(model)
            if self.settings.fid_samples and self.chief:
                summary = write_report(self.out, summary, self.settings.fid_samples, self.settings.seed,
                                       self.settings.fid_real)
        finally:
            if not self.chief:
                shutil.rmtree(self.write_dir, ignore_errors=True)
        return summary if self.chief else {"preset": self.name, "chief": False, "steps": summary["steps"]}

    @property
    def conditional(self):
        return bool(self.preset["model"].get("num_classes"))

    def stream(self, start_step):
        """The training stream from global step `start_step` (with labels for a conditional model), and the steps
        of one epoch."""
        return datasets.training_stream(self.preset["dataset"], presets.pipeline_batch_size(self.preset),
                                        self.preset["pixel_range"], seed=self.settings.seed, take=self.settings.take,
                                        start_step=start_step, with_labels=self.conditional)

    def label_distribution(self):
        """The training labels' class frequencies (a conditional model draws its fakes' labels from them)."""
        if not self.conditional:
            return None
        labels = datasets.load_arrays(self.preset["dataset"], "train").labels
        labels = labels[:self.settings.take] if self.settings.take else labels
        counts = np.bincount(labels, minlength=self.preset["model"]["num_classes"]).astype(np.float64)
        if len(counts) > self.preset["model"]["num_classes"]:
            raise ValueError(f"{self.preset['dataset']} has labels up to {len(counts) - 1}, but the model has "
                             f"{self.preset['model']['num_classes']} classes: set model.num_classes={len(counts)}.")
        return (counts / counts.sum()).tolist()

    def fit(self):
        probe, steps_per_epoch = self.stream(0)
        with self.strategy.scope():
            if self.found:
                model = keras.models.load_model(self.found[0] / "model.keras")
            elif self.initial:
                model = self.initial["model"]
            else:
                spec = probe.element_spec[0] if self.conditional else probe.element_spec
                model = presets.build_model(self.preset, image_shape=tuple(spec.shape[1:]), seed=self.settings.seed,
                                            sync_batch_norm=self.settings.sync_batch_norm,
                                            label_distribution=self.label_distribution())
        if self.settings.jit_compile != "auto":
            model.jit_compile = self.settings.jit_compile == "on"
        self.jit_compile = bool(model.jit_compile)
        callbacks = self._callbacks(steps_per_epoch)
        for phase_start, initial_epoch, steps, end_epoch in self._phases(steps_per_epoch):
            dataset, _ = self.stream(phase_start)
            model.fit(dataset, epochs=end_epoch, initial_epoch=initial_epoch, steps_per_epoch=steps, shuffle=False,
                      callbacks=callbacks, verbose=self.settings.verbose)
            if self.guard.failure:
                found_now = kcheckpoint.latest(self.write_dir / "checkpoints")
                raise kcheckpoint.TrainingDiverged(kcheckpoint.describe_failure(
                    self.guard.failure, found_now[0] if found_now else None))
        return model

    def _phases(self, steps_per_epoch):
        """`(first step, initial epoch, steps per fit epoch, end epoch)` of each `fit` call: a run resumed
        mid-epoch first finishes that epoch, then continues epoch by epoch."""
        start_epoch, total = self.start_step // steps_per_epoch, self.preset["epochs"]
        phases = []
        if self.start_step % steps_per_epoch and start_epoch < total:
            phases.append((self.start_step, start_epoch, steps_per_epoch - self.start_step % steps_per_epoch,
                           start_epoch + 1))
        first_full = start_epoch + (1 if phases else 0)
        if first_full < total:
            phases.append((first_full * steps_per_epoch, first_full, steps_per_epoch, total))
        return phases

    def _callbacks(self, steps_per_epoch):
        found, out, write_dir = self.found, self.out, self.write_dir
        start_epoch = self.start_step // steps_per_epoch
        history = (_read_json(out / "history.json", {}) if found else
                   self.initial["history"] if self.initial else {})
        history = {k: v[:start_epoch] for k, v in history.items()}
        stability_rows = ([r for r in _read_json(out / "stability.json", []) if r["epoch"] <= start_epoch]
                          if found else [])
        # A resumed run's peak memory is the largest of its processes', not only this one's (which may train
        # nothing).
        self.peak_before = _read_json(out / "summary.json", {}).get("peak_memory_mib") if found else None
        self.checkpointer = kcheckpoint.RunCheckpoint(
            write_dir / "checkpoints", steps_per_epoch, initial_step=self.start_step,
            every_steps=self.settings.checkpoint_every,
            state={"fingerprint": self.run_id, "config_summary": _config_summary(self.config)},
            wall_time_before=(found[1].get("wall_time_s", 0.0) if found else
                              (self.initial["wall_time_s"] or 0.0) if self.initial else 0.0))
        self.guard = kcheckpoint.StopOnNonFinite(steps_per_epoch, initial_step=self.start_step)
        self.history = kcallbacks.HistoryWriter(write_dir, initial_history=history,
                                                title=f"{self.name} on {self.preset['dataset']}")
        self.stability = kcallbacks.StabilitySummary(write_dir, initial_epochs=stability_rows)
        log_dir = write_dir / "tensorboard" if self.settings.tensorboard else None
        # Figures that add to the epoch's logs come before the history writer.
        figures = self._autoencoder_callbacks() if self.preset["family"] in ("vae", "critic_vae") else []
        if self.settings.fid_every:
            name = self.preset["dataset"]
            figures.append(kcallbacks.PeriodicMetric(
                name, metric="fid", num_samples=self.settings.fid_samples or 2000,
                split="test" if name in datasets.BUILTIN else "train", every=self.settings.fid_every,
                seed=self.settings.seed))
        callbacks = [self.guard, self.checkpointer, *figures, self.history, self.stability,
                     kcallbacks.SampleGrid(write_dir / "samples", num_images=self.settings.num_samples,
                                           seed=self.settings.seed, log_dir=log_dir)]
        if self.settings.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(log_dir), update_freq="epoch"))
        return callbacks

    def _autoencoder_callbacks(self):
        """The VAE family's per-epoch figures: reconstructions of 16 fixed test images (and their error, logged as
        ``reconstruction_mse``), and the latent space of 2,000 test images, coloured by class, at chosen epochs."""
        preset, take = self.preset, self.settings.take
        examples, labels = _first_images(preset["dataset"], preset["pixel_range"], 16, take)
        conditional_labels = labels if self.conditional else None
        points, point_labels = _first_images(preset["dataset"], preset["pixel_range"], 2000, take)
        return [kcallbacks.ReconstructionGrid(self.write_dir / "reconstructions", examples, conditional_labels),
                kcallbacks.LatentScatter(self.write_dir / "latent", points, point_labels,
                                         epochs=kcallbacks.latent_epochs(preset["epochs"]),
                                         labels_of_encoder=point_labels if self.conditional else None)]

    def finish(self, model):
        """Figures, ``model.keras``, the SavedModel and ``summary.json`` of a trained model; returns the summary."""
        preset, out, take, seed = self.preset, self.write_dir, self.settings.take, self.settings.seed
        figures = {"loss_curve": "loss_curve.png", "samples": f"samples/epoch_{preset['epochs']:03d}.png",
                   "stability": "stability.md"}
        examples, example_labels = _first_images(preset["dataset"], preset["pixel_range"], 16, take)
        example_labels = example_labels if self.conditional else None
        prior_skipped = bool(preset.get("latent_prior")) and not self.settings.fit_prior
        if preset.get("latent_prior") and getattr(model, "latent_prior", None) is None and not prior_skipped:
            _fit_latent_prior(model, preset, take, seed)
            # The epoch grids decoded N(0, I) codes; this one shows the same noise through the fitted prior.
            z = np.random.default_rng(seed).standard_normal((64, model.latent_dim)).astype(np.float32)
            visualize.save_grid(out / "samples_latent_prior.png",
                                datasets.to_uint8(np.asarray(model.generate(z)), model.pixel_range))
            figures["samples"] = "samples_latent_prior.png"
        if hasattr(model, "reconstruct"):
            recon = model.reconstruct(examples) if example_labels is None else model.reconstruct(examples,
                                                                                                  example_labels)
            pair = np.concatenate([examples, np.asarray(recon)])
            visualize.save_grid(out / "reconstructions.png", datasets.to_uint8(pair, model.pixel_range), ncols=16)
            figures["reconstructions"] = "reconstructions.png"
        visualize.save_grid(out / "interpolation.png", datasets.to_uint8(
            kcallbacks.latent_interpolation(model, examples, seed, labels=example_labels), model.pixel_range),
            ncols=10)
        figures["interpolation"] = "interpolation.png"
        save_model_atomically(model, out / "model.keras")
        if self.settings.export:
            from kzoo.export import export_saved_model
            export_saved_model(model, out / "saved_model")
        wall = self.checkpointer.wall_time
        summary = {
            "preset": self.name, "dataset": preset["dataset"], "epochs": preset["epochs"],
            "batch_size": preset["batch_size"], "take": take, "seed": seed, "precision": self.precision,
            "jit_compile": getattr(self, "jit_compile", None), "replicas": self.strategy.num_replicas_in_sync, "steps": self.checkpointer.step,
            "wall_time_s": round(wall, 1), "seconds_per_epoch": round(wall / preset["epochs"], 2),
            "parameters": int(model.count_params()),
            "peak_memory_mib": larger_peak(self.peak_before, peak_memory_mib()),
            "final": {k: v[-1] for k, v in self.history.history.items()},
            "stability_last_epoch": self.stability.epochs[-1] if self.stability.epochs else None,
            "figures": figures, "model": "model.keras", "saved_model": "saved_model" if self.settings.export else None,
        }
        if self.settings.init_from:
            summary["init_from"] = self.settings.init_from
        if self.settings.new_optimizer:
            summary["new_optimizer"] = True
        if prior_skipped:  # the preset's latent prior was left for `kzoo prior`: the model samples N(0, I)
            summary["prior_skipped"] = True
        atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
        return summary


def _fit_latent_prior(model, preset, take, seed):
    """The ex-post latent density of a preset that has one, fitted to the (first `take`) training images."""
    images = datasets.load_arrays(preset["dataset"], "train").images
    images = datasets.to_pixel_range(images[:take] if take else images, preset["pixel_range"])
    fit_prior(model, images, presets.latent_prior_settings(preset["latent_prior"]), seed)


def fit_prior(model, images, settings, seed=0):
    """Give `model` the latent prior `settings` (`presets.latent_prior_settings`; None for N(0, I)) fitted to the
    codes of `images`."""
    if settings is None:
        model.set_latent_prior(None)
    elif settings["kind"] == "mixture":
        model.fit_latent_prior(images, components=settings["components"], seed=seed)
    else:  # the second stage of a two-stage VAE, trained with its own progress bar
        model.fit_second_stage(images, seed=seed, **{k: v for k, v in settings.items() if k != "kind"})


# The files of a run folder that describe its training, not its prior: a model with a new prior carries them over.
TRAINING_FILES = ("history.json", "loss_curve.png", "stability.json", "stability.md", "reconstructions.png",
                  "interpolation.png")


def refit_latent_prior(source, out, spec, dataset=None, seed=0, take=None, export=True, command=None):
    """Fit a new latent prior to a trained VAE and write the VAE with it as a new model folder `out`.

    `source` is a run folder, `.keras` file or shipped model name; `spec` a preset's ``latent_prior`` (e.g.
    ``{"kind": "mixture", "components": 30}``, ``{"kind": "second_stage", "epochs": 50}``) or None for N(0, I),
    fitted to the codes of the (first `take`) training images of `dataset` (default: the run's). `out` gets
    ``model.keras`` (the weights with the new prior, without the optimizer's state: sampling and evaluation need
    none, and training goes on from the source), ``saved_model/``, ``samples_latent_prior.png`` (the noise of the
    run's grid through the new prior), the source run's training figures and a ``summary.json`` that is the
    source's plus ``prior_fit`` (what was fitted, to what, how long it took, and the commands that make the model
    again). Returns that summary."""
    import time

    from kzoo import registry
    from kzoo.export import export_saved_model, find_model_file
    out = pathlib.Path(out)
    model_file = find_model_file(registry.resolve(source))
    folder = model_file.parent if model_file.name == "model.keras" else None
    if folder is not None and out.resolve() == folder.resolve():
        raise ValueError(f"--out {out} is the source model's folder; write the model with its new prior to a new "
                         "folder (the source keeps the prior it was trained with).")
    model = registry.load_model(model_file, compile=False)
    if not hasattr(model, "fit_latent_prior"):
        raise ValueError(f"{source} holds {type(model).__name__}, not a VAE: a latent prior is fitted to a VAE's "
                         "codes.")
    if spec is not None:
        presets._check_latent_prior(spec, "vae")
        spec = presets.latent_prior_settings(spec)
        if spec["kind"] == "mixture" and spec["components"] is None:
            raise ValueError("a mixture prior needs its number of components (e.g. --components 30).")
    summary = _read_json(folder / "summary.json", {}) if folder is not None else {}
    # A run folder names its data in summary.json, a shipped model in its manifest (model.json).
    shipped = _read_json(folder / "model.json", {}) if folder is not None else {}
    dataset = dataset or summary.get("dataset") or shipped.get("dataset")
    if not dataset:
        raise ValueError(f"{source} names no training data (no summary.json or model.json beside it): give "
                         "--dataset.")
    images = datasets.load_arrays(dataset, "train").images
    images = datasets.to_pixel_range(images[:take] if take else images, model.pixel_range)
    start = time.perf_counter()
    fit_prior(model, images, spec, seed)
    fit_s = round(time.perf_counter() - start, 1)
    out.mkdir(parents=True, exist_ok=True)
    z = np.random.default_rng(seed).standard_normal((64, model.latent_dim)).astype(np.float32)
    visualize.save_grid(out / "samples_latent_prior.png",
                        datasets.to_uint8(np.asarray(model.generate(z)), model.pixel_range))
    save_model_atomically(model, out / "model.keras")
    if export:
        export_saved_model(model, out / "saved_model")
    for name in TRAINING_FILES if folder is not None else ():
        if (folder / name).exists():
            shutil.copy(folder / name, out / name)
    if folder is not None and (folder / "config.json").exists():
        config = _read_json(folder / "config.json", {})
        atomic_write_bytes(out / "config.json", json.dumps(dict(config, latent_prior=spec), indent=1).encode())
    trained_by = (reproducing_command(folder) if folder is not None and summary and (folder / "config.json").exists()
                  else None)
    prior_fit = {"source": str(source), "latent_prior": spec, "dataset": dataset, "take": take, "seed": seed,
                 "images": int(len(images)), "fit_s": fit_s, "command": command, "train_command": trained_by}
    figures = {k: v for k, v in summary.get("figures", {}).items() if (out / v).exists()}
    summary = dict(summary, dataset=dataset, parameters=int(model.count_params()), prior_fit=prior_fit,
                   figures=dict(figures, samples="samples_latent_prior.png"), model="model.keras",
                   saved_model="saved_model" if export else None, optimizer_state=False)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    return summary


def write_report(out, summary, fid_samples, seed=0, num_real=10000):
    """Compute the reference FID of the run's model and write ``report.md``; returns the summary with it."""
    import time

    from kzoo.export import load_generator
    from kzoo.metrics.evaluate import evaluate_generator
    name = summary["dataset"]
    split = "test" if name in datasets.BUILTIN else "train"
    num_real = min(num_real, len(datasets.load_arrays(name, split).images))
    start = time.perf_counter()
    print(f"kzoo: reference FID of {fid_samples} generated images against {num_real} {name} {split} images")
    report = evaluate_generator(load_generator(out), name, split, fid_samples, ("fid",), num_real=num_real, seed=seed)
    fid_seconds = time.perf_counter() - start
    summary = dict(summary, fid=report["fid"], fid_num_generated=fid_samples, fid_num_real=num_real,
                   fid_split=split, fid_wall_time_s=round(fid_seconds, 1))
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    atomic_write_bytes(out / "report.md", report_markdown(summary).encode())
    return summary


def report_markdown(summary):
    last = summary.get("stability_last_epoch") or {}
    losses = ", ".join(f"{k} {v['mean']:.4g} [{v['min']:.4g}, {v['max']:.4g}]" for k, v in last.items()
                       if isinstance(v, dict))
    fid_note = ("comparable with published values at the same sample sizes" if summary["fid_num_generated"] >= 10000
                else "biased upwards by the small sample: compare only with FIDs at the same sample sizes")
    lines = [
        f"# {summary['preset']} on {summary['dataset']}", "",
        f"- Training: {summary['epochs']} epochs ({summary['steps']} steps, batch {summary['batch_size']}, seed "
        f"{summary['seed']}, {summary['precision']}), {summary['wall_time_s']:.0f} s "
        f"({summary['seconds_per_epoch']:.1f} s per epoch), {summary['parameters']:,} parameters.",
        f"- Reference FID (FID Inception network, pool3): **{summary['fid']:.2f}**, {summary['fid_num_generated']:,} "
        f"generated images against {summary['fid_num_real']:,} {summary['fid_split']} images; {fid_note}. "
        f"Computed in {summary['fid_wall_time_s']:.0f} s.",
        f"- Last epoch, per-step mean [min, max]: {losses}." if losses else "",
        "", "## Samples (fixed latent vectors, last epoch)", "", f"![samples]({summary['figures']['samples']})",
        "", "## Loss curves", "", "![loss curves](loss_curve.png)",
        "", "## Latent interpolation", "", "![interpolation](interpolation.png)", "",
        "Per-epoch stability: [stability.md](stability.md). Model: `model.keras`, `saved_model/`.", ""]
    return "\n".join(line for line in lines if line is not None)


def reproducing_command(folder):
    """The `kzoo train` command that trains the run in `folder` again, read from its summary.json and config.json:
    preset, data, epochs, precision, every `--set`, and the batch, take and seed where they differ from the
    defaults (a run resumed to more epochs, or continued with ``--init-from`` from a model trained with the same
    settings, is reproduced by one command with the final number; one continued with ``--new-optimizer`` is not,
    and its command keeps ``--init-from MODEL --new-optimizer``)."""
    folder = pathlib.Path(folder)
    summary, config = _read_json(folder / "summary.json", None), _read_json(folder / "config.json", None)
    if summary is None or config is None:
        raise ValueError(f"{folder} is not a finished run folder (summary.json and config.json); train into it first.")
    parts = [f"kzoo train --preset {summary['preset']}", f"--dataset {summary['dataset']}",
             f"--epochs {summary['epochs']}", f"--precision {summary['precision']}"]
    if summary["batch_size"] != presets.get(summary["preset"])["batch_size"]:
        parts.append(f"--batch-size {summary['batch_size']}")
    if summary.get("take"):
        parts.append(f"--take {summary['take']}")
    if summary.get("seed"):
        parts.append(f"--seed {summary['seed']}")
    parts += [f"--set {key}={value}" for key, value in (config.get("settings") or {}).items()]
    if config.get("new_optimizer"):  # a continuation with a restarted optimizer: no single run trains it again
        parts.append(f"--init-from {config['init_from']} --new-optimizer")
    if summary.get("prior_skipped"):
        parts.append("--no-prior")
    return " ".join(parts + [f"--out {folder}"])


def _changed_fields(old, new):
    """The dotted names of the fields whose values differ between two run configs (epochs and strategy aside)."""
    ignore = ("epochs", "strategy", "checkpoint_every", "about", "settings")
    flat_old = presets.flatten({k: v for k, v in old.items() if k not in ignore})
    flat_new = presets.flatten({k: v for k, v in json.loads(json.dumps(new, default=str)).items() if k not in ignore})
    return [f"{k} ({flat_old.get(k)!r} -> {flat_new.get(k)!r})" for k in sorted(set(flat_old) | set(flat_new))
            if flat_old.get(k) != flat_new.get(k)]


def _archive_precision(path):
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


def _load_in_float32(path, trained_in, precision, init_from):
    """The model of the `.keras` file `path` (trained in a mixed precision) with every layer computing in float32:
    its variables are float32 already, so only the layers' policies change. This continues a model on a machine
    without fast bfloat16 (the other way, which layers must stay float32 is not recorded, so it is refused)."""
    import tempfile
    import zipfile
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


def _config_summary(config):
    return {k: config[k] for k in ("name", "dataset", "batch_size", "take", "seed", "precision")}


def _read_json(path, default):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def _first_images(name, pixel_range, count, take):
    """The first `count` images (in `pixel_range`) of the test split, or of the training images used, and their
    labels (None for unlabelled data)."""
    split = "test" if name in datasets.BUILTIN else "train"
    arrays = datasets.load_arrays(name, split)
    count = min(count, take or count) if split == "train" else count
    labels = None if arrays.labels is None else np.asarray(arrays.labels[:count], np.int32)
    return datasets.to_pixel_range(arrays.images[:count], pixel_range), labels
