"""One run of a preset: data, model, `fit` with callbacks and checkpoints, and the run folder's files.

A run folder holds ``config.json``, ``checkpoints/`` (the last good checkpoint, see `kzoo.checkpoint`),
``history.json``, ``loss_curve.png``, ``samples/epoch_NNN.png``, ``stability.json``/``.md``, optionally
``tensorboard/``, and at the end ``reconstructions.png`` (models with an encoder), ``interpolation.png``,
``model.keras``, ``saved_model/`` (SavedModel with serving endpoints) and ``summary.json``.
Running the same command again resumes from the last checkpoint (exactly: same data order and noise).
"""

import contextlib
import hashlib
import json
import pathlib
import shutil
import tempfile

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


def train(preset_name, out, dataset=None, epochs=None, batch_size=None, take=None, seed=0, verbose="auto",
          num_samples=64, strategy="auto", precision=DEFAULT_PRECISION, resume=None, checkpoint_every=None,
          deterministic=False, sync_batch_norm=False, tensorboard=False, export=True, fid_samples=None,
          fid_real=10000, settings=None):
    """Train preset `preset_name` into the run folder `out` (see the module docstring); returns the summary.

    Args:
        batch_size: the global batch (split between replicas under a distribution strategy).
        take: train on the first `take` examples only.
        strategy: a `kzoo.distribute.get_strategy` name.
        precision: ``auto`` (bfloat16 where the hardware has it), ``float32``, ``mixed_bfloat16`` or
            ``mixed_float16`` (see `kzoo.distribute.set_precision`).
        resume: None: resume from `out`'s checkpoint if there is one; True: require one; False: start over
            (deleting the old checkpoints).
        checkpoint_every: also checkpoint every this many steps (checkpoints are always written each epoch).
        deterministic: deterministic TensorFlow kernels (same seed, same weights; slower, no XLA).
        sync_batch_norm: batch-norm statistics over the global batch instead of per replica.
        tensorboard: write TensorBoard logs (scalars and sample-grid images) to ``out/tensorboard``.
        export: write ``saved_model/`` at the end.
        settings: ``KEY=VALUE`` strings changing any preset field (`kzoo.presets.apply_settings`), recorded in
            ``config.json``; a resumed run must have the same.
        fid_samples: at the end, compute the reference FID of this many generated images against (up to)
            `fid_real` real images (the test split of the built-in sets, else the training images) and write
            ``report.md`` (FID, sample grid, loss curves, interpolation, stability, times).
    """
    preset = presets.get(preset_name, dataset=dataset, epochs=epochs, batch_size=batch_size)
    preset, applied = presets.apply_settings(preset, settings)
    if not preset["dataset"]:
        raise ValueError(f"preset {preset_name!r} has no default dataset; pass one (--dataset folder:PATH, "
                         "tfds:NAME, emoji, mnist or fashion_mnist).")
    out = pathlib.Path(out)
    run_strategy = distribute.get_strategy(strategy)
    chief = distribute.is_chief(run_strategy)
    precision = distribute.resolve_precision(precision)
    if deterministic:
        distribute.enable_determinism(seed)
    else:
        keras.utils.set_random_seed(seed)
    config = dict(preset, take=take, seed=seed, precision=precision, sync_batch_norm=sync_batch_norm,
                  strategy=strategy, checkpoint_every=checkpoint_every)
    if applied:  # only when given, so runs without --set keep their fingerprints
        config["settings"] = applied
    run_id = fingerprint(config)

    checkpoints = out / "checkpoints"
    found = kcheckpoint.latest(checkpoints) if checkpoints.exists() else None
    if found and resume is False:
        if chief:
            shutil.rmtree(checkpoints)
        found = None
    if resume is True and not found:
        raise ValueError(f"nothing to resume: {checkpoints} holds no checkpoint. Run without --resume to start.")
    if found and found[1].get("fingerprint") != run_id:
        changed = _changed_fields(_read_json(out / "config.json", {}), config)
        what = (f"these settings differ: {', '.join(changed)}" if changed else
                f"preset, data, batch, seed or precision differ from {found[1].get('config_summary')}")
        raise ValueError(f"{out} holds a run with other settings ({what}). Use another --out, or --restart to "
                         "start over.")
    start_step = found[1]["step"] if found else 0
    # Every worker runs the same callbacks and saves (reading synchronised variables involves collectives that
    # all workers must join); the non-chief workers write to a temporary folder that is deleted at the end.
    write_dir = out if chief else pathlib.Path(tempfile.mkdtemp(prefix="kzoo-worker-"))
    write_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(write_dir / "config.json", json.dumps(config, indent=1, default=str).encode())
    try:
        with dtype_policy(precision):
            summary = _run(preset, preset_name, out, write_dir, config, run_id, run_strategy, found, start_step,
                           take, seed, verbose, num_samples, checkpoint_every, sync_batch_norm, tensorboard, export)
        if fid_samples and chief:
            summary = write_report(out, summary, fid_samples, seed, fid_real)
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    return summary if chief else {"preset": preset_name, "chief": False, "steps": summary["steps"]}


def _run(preset, preset_name, out, write_dir, config, run_id, strategy, found, start_step, take, seed, verbose,
         num_samples, checkpoint_every, sync_batch_norm, tensorboard, export):
    batch = presets.pipeline_batch_size(preset)
    stream = _stream_factory(preset, batch, seed, take)
    probe, steps_per_epoch = stream(0)
    total_epochs = preset["epochs"]
    start_epoch = start_step // steps_per_epoch

    with strategy.scope():
        if found:
            model = keras.models.load_model(found[0] / "model.keras")
        else:
            image_shape = tuple(probe.element_spec.shape[1:])
            model = presets.build_model(preset, image_shape=image_shape, seed=seed, sync_batch_norm=sync_batch_norm)

    history = _read_json(out / "history.json", {}) if found else {}
    history = {k: v[:start_epoch] for k, v in history.items()}
    stability_rows = [r for r in _read_json(out / "stability.json", []) if r["epoch"] <= start_epoch] if found else []
    wall_before = found[1].get("wall_time_s", 0.0) if found else 0.0
    # A resumed run's peak memory is the largest of its processes', not only this one's (which may train nothing).
    peak_before = _read_json(out / "summary.json", {}).get("peak_memory_mib") if found else None

    checkpointer = kcheckpoint.RunCheckpoint(
        write_dir / "checkpoints", steps_per_epoch, initial_step=start_step, every_steps=checkpoint_every,
        state={"fingerprint": run_id, "config_summary": _config_summary(config)}, wall_time_before=wall_before)
    guard = kcheckpoint.StopOnNonFinite(steps_per_epoch, initial_step=start_step)
    history_writer = kcallbacks.HistoryWriter(write_dir, initial_history=history,
                                              title=f"{preset_name} on {preset['dataset']}")
    stability = kcallbacks.StabilitySummary(write_dir, initial_epochs=stability_rows)
    log_dir = write_dir / "tensorboard" if tensorboard else None
    callbacks = [guard, checkpointer, history_writer, stability,
                 kcallbacks.SampleGrid(write_dir / "samples", num_images=num_samples, seed=seed, log_dir=log_dir)]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(log_dir), update_freq="epoch"))

    # A run resumed mid-epoch first finishes that epoch, then continues epoch by epoch.
    phases = []
    if start_step % steps_per_epoch and start_epoch < total_epochs:
        phases.append((start_step, start_epoch, steps_per_epoch - start_step % steps_per_epoch, start_epoch + 1))
    first_full = start_epoch + (1 if phases else 0)
    if first_full < total_epochs:
        phases.append((first_full * steps_per_epoch, first_full, steps_per_epoch, total_epochs))
    for phase_start, initial_epoch, steps, end_epoch in phases:
        dataset, _ = stream(phase_start)
        model.fit(dataset, epochs=end_epoch, initial_epoch=initial_epoch, steps_per_epoch=steps, shuffle=False,
                  callbacks=callbacks, verbose=verbose)
        if guard.failure:
            found_now = kcheckpoint.latest(write_dir / "checkpoints")
            raise kcheckpoint.TrainingDiverged(kcheckpoint.describe_failure(guard.failure,
                                                                            found_now[0] if found_now else None))
    return _finish(model, preset, preset_name, write_dir, take, seed, checkpointer, history_writer, stability,
                   export, strategy, config, peak_before)


def _finish(model, preset, preset_name, out, take, seed, checkpointer, history_writer, stability, export, strategy,
            config, peak_before=None):
    figures = {"loss_curve": "loss_curve.png", "samples": f"samples/epoch_{preset['epochs']:03d}.png",
               "stability": "stability.md"}
    examples = _first_images(preset["dataset"], preset["pixel_range"], 16, take)
    if preset.get("latent_prior") and getattr(model, "latent_prior", None) is None:
        _fit_latent_prior(model, preset, take, seed)
        # The epoch grids decoded N(0, I) codes; this one shows the same noise through the fitted prior.
        z = np.random.default_rng(seed).standard_normal((64, model.latent_dim)).astype(np.float32)
        visualize.save_grid(out / "samples_latent_prior.png",
                            datasets.to_uint8(np.asarray(model.generate(z)), model.pixel_range))
        figures["samples"] = "samples_latent_prior.png"
    if hasattr(model, "reconstruct"):
        recon = model.reconstruct(examples)
        pair = np.concatenate([examples, np.asarray(recon)])
        visualize.save_grid(out / "reconstructions.png", datasets.to_uint8(pair, model.pixel_range), ncols=16)
        figures["reconstructions"] = "reconstructions.png"
    visualize.save_grid(out / "interpolation.png",
                        datasets.to_uint8(kcallbacks.latent_interpolation(model, examples, seed), model.pixel_range),
                        ncols=10)
    figures["interpolation"] = "interpolation.png"
    save_model_atomically(model, out / "model.keras")
    if export:
        from kzoo.export import export_saved_model
        export_saved_model(model, out / "saved_model")
    summary = {
        "preset": preset_name, "dataset": preset["dataset"], "epochs": preset["epochs"],
        "batch_size": preset["batch_size"], "take": take, "seed": seed, "precision": config["precision"],
        "replicas": strategy.num_replicas_in_sync, "steps": checkpointer.step,
        "wall_time_s": round(checkpointer.wall_time, 1),
        "seconds_per_epoch": round(checkpointer.wall_time / preset["epochs"], 2),
        "parameters": int(model.count_params()),
        "peak_memory_mib": larger_peak(peak_before, peak_memory_mib()),
        "final": {k: v[-1] for k, v in history_writer.history.items()},
        "stability_last_epoch": stability.epochs[-1] if stability.epochs else None,
        "figures": figures, "model": "model.keras", "saved_model": "saved_model" if export else None,
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    return summary


def _fit_latent_prior(model, preset, take, seed):
    """The ex-post latent density of a preset that has one, fitted to the (first `take`) training images."""
    images = datasets.load_arrays(preset["dataset"], "train").images
    images = datasets.to_pixel_range(images[:take] if take else images, preset["pixel_range"])
    model.fit_latent_prior(images, components=preset["latent_prior"]["components"], seed=seed)


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


def _stream_factory(preset, batch, seed, take):
    def stream(start_step):
        return datasets.training_stream(preset["dataset"], batch, preset["pixel_range"], seed=seed, take=take,
                                        start_step=start_step)
    return stream


def _changed_fields(old, new):
    """The dotted names of the fields whose values differ between two run configs (epochs and strategy aside)."""
    ignore = ("epochs", "strategy", "checkpoint_every", "about", "settings")
    flat_old = presets.flatten({k: v for k, v in old.items() if k not in ignore})
    flat_new = presets.flatten({k: v for k, v in json.loads(json.dumps(new, default=str)).items() if k not in ignore})
    return [f"{k} ({flat_old.get(k)!r} -> {flat_new.get(k)!r})" for k in sorted(set(flat_old) | set(flat_new))
            if flat_old.get(k) != flat_new.get(k)]


def _config_summary(config):
    return {k: config[k] for k in ("name", "dataset", "batch_size", "take", "seed", "precision")}


def _read_json(path, default):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def _first_images(name, pixel_range, count, take):
    split = "test" if name in datasets.BUILTIN else "train"
    arrays = datasets.load_arrays(name, split)
    images = arrays.images[: min(count, take or count)] if split == "train" else arrays.images[:count]
    return datasets.to_pixel_range(images, pixel_range)
