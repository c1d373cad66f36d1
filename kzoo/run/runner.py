"""One run of a preset: data, model, `fit` with callbacks and checkpoints, and the run folder's files
(`kzoo.run.folder`). Running the same command again resumes from the last checkpoint (exactly: same data order and
noise)."""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import tempfile

import keras
import numpy as np

from kzoo import callbacks as kcallbacks
from kzoo import checkpoint as kcheckpoint
from kzoo import datasets, distribute, families, presets, visualize
from kzoo.run import continuation, prior, report
from kzoo.run.folder import RunFolder, read_json
from kzoo.run.machine import dtype_policy, larger_peak, peak_memory_mib
from kzoo.run.saving import save_model_atomically
from kzoo.run.settings import RunSettings, changed_fields, config_summary, fingerprint


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
            changed = changed_fields(read_json(self.out / "config.json", {}), self.config)
            what = (f"these settings differ: {', '.join(changed)}" if changed else
                    f"preset, data, batch, seed or precision differ from {found[1].get('config_summary')}")
            old_precision = read_json(self.out / "config.json", {}).get("precision")
            hint = (f" It was trained in {old_precision}: add --precision {old_precision} to resume it here."
                    if old_precision and old_precision != self.precision else "")
            raise ValueError(f"{self.out} holds a run with other settings ({what}).{hint} Use another --out, or "
                             "--restart to start over.")
        return found

    def _initial_model(self, init_from):
        return continuation.initial_model(self, init_from)

    def execute(self):
        """Fit, finish, and (chief, with `fid_samples`) write the FID report; returns the summary."""
        self.write_dir.mkdir(parents=True, exist_ok=True)
        RunFolder(self.write_dir).write_config(self.config)
        try:
            with dtype_policy(self.precision):
                model = self.fit()
                summary = self.finish(model)
            if self.settings.fid_samples and self.chief:
                summary = report.write_report(self.out, summary, self.settings.fid_samples, self.settings.seed,
                                       self.settings.fid_real)
        finally:
            if not self.chief:
                shutil.rmtree(self.write_dir, ignore_errors=True)
        return summary if self.chief else {"preset": self.name, "chief": False, "steps": summary["steps"]}

    @property
    def family(self):
        return families.get(self.preset["family"])

    @property
    def conditional(self):
        return self.family.conditional(self.preset)

    def stream(self, start_step):
        """The training stream from global step `start_step` (with labels for a conditional model), and the steps
        of one epoch."""
        return datasets.training_stream(self.preset["dataset"], self.family.batch_images(self.preset),
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
        history = (read_json(out / "history.json", {}) if found else
                   self.initial["history"] if self.initial else {})
        history = {k: v[:start_epoch] for k, v in history.items()}
        stability_rows = ([r for r in read_json(out / "stability.json", []) if r["epoch"] <= start_epoch]
                          if found else [])
        # A resumed run's peak memory is the largest of its processes', not only this one's (which may train
        # nothing).
        self.peak_before = read_json(out / "summary.json", {}).get("peak_memory_mib") if found else None
        self.checkpointer = kcheckpoint.RunCheckpoint(
            write_dir / "checkpoints", steps_per_epoch, initial_step=self.start_step,
            every_steps=self.settings.checkpoint_every,
            state={"fingerprint": self.run_id, "config_summary": config_summary(self.config)},
            wall_time_before=(found[1].get("wall_time_s", 0.0) if found else
                              (self.initial["wall_time_s"] or 0.0) if self.initial else 0.0))
        self.guard = kcheckpoint.StopOnNonFinite(steps_per_epoch, initial_step=self.start_step)
        self.history = kcallbacks.HistoryWriter(write_dir, initial_history=history,
                                                title=f"{self.name} on {self.preset['dataset']}")
        self.stability = kcallbacks.StabilitySummary(write_dir, initial_epochs=stability_rows)
        log_dir = write_dir / "tensorboard" if self.settings.tensorboard else None
        # Figures that add to the epoch's logs come before the history writer.
        figures = list(self.family.run_callbacks(self) if self.family.run_callbacks else [])
        if self.settings.fid_every:
            p = self.periodic_fid()
            figures.append(kcallbacks.PeriodicMetric(
                self.preset["dataset"], metric="fid", num_samples=p["num_generated"], split=p["split"],
                every=p["every"], seed=p["seed"]))
        callbacks = [self.guard, self.checkpointer, *figures, self.history, self.stability,
                     kcallbacks.SampleGrid(write_dir / "samples", num_images=self.settings.num_samples,
                                           seed=self.settings.seed, log_dir=log_dir)]
        if self.settings.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(log_dir), update_freq="epoch"))
        return callbacks

    def periodic_fid(self):
        """What `--fid-every` measures: the reference FID of `num_generated` images (seed `seed`) against as many of
        the data set's `split` images, every `every` epochs."""
        name = self.preset["dataset"]
        return {"every": self.settings.fid_every, "num_generated": self.settings.fid_samples or 2000,
                "split": "test" if name in datasets.BUILTIN else "train", "seed": self.settings.seed}

    def finish(self, model):
        """Figures, ``model.keras``, the SavedModel and ``summary.json`` of a trained model; returns the summary."""
        preset, out, take, seed = self.preset, self.write_dir, self.settings.take, self.settings.seed
        figures = {"loss_curve": "loss_curve.png", "samples": f"samples/epoch_{preset['epochs']:03d}.png",
                   "stability": "stability.md"}
        examples, example_labels = datasets.first_images(preset["dataset"], preset["pixel_range"], 16, take)
        example_labels = example_labels if self.conditional else None
        prior_skipped = bool(preset.get("latent_prior")) and not self.settings.fit_prior
        if preset.get("latent_prior") and getattr(model, "latent_prior", None) is None and not prior_skipped:
            prior.fit_preset_prior(model, preset, take, seed)
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
            "jit_compile": getattr(self, "jit_compile", None), "replicas": self.strategy.num_replicas_in_sync,
            "steps": self.checkpointer.step,
            "wall_time_s": round(wall, 1), "seconds_per_epoch": round(wall / preset["epochs"], 2),
            "parameters": int(model.count_params()),
            "peak_memory_mib": larger_peak(self.peak_before, peak_memory_mib()),
            "final": {k: v[-1] for k, v in self.history.history.items()},
            "stability_last_epoch": self.stability.epochs[-1] if self.stability.epochs else None,
            "figures": figures, "model": "model.keras", "saved_model": "saved_model" if self.settings.export else None,
        }
        if self.settings.fid_every:  # what the history's "fid" values compared (RunFolder.fid_by_epoch)
            summary["periodic_fid"] = self.periodic_fid()
        if self.settings.init_from:
            summary["init_from"] = self.settings.init_from
        if self.settings.new_optimizer:
            summary["new_optimizer"] = True
        if prior_skipped:  # the preset's latent prior was left for `kzoo prior`: the model samples N(0, I)
            summary["prior_skipped"] = True
        RunFolder(out).write_summary(summary)
        return summary
