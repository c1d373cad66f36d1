"""Continuing a trained model (``--init-from``) into a new run folder, checked against the run's preset."""

from __future__ import annotations

import pathlib

from kzoo import presets, registry
from kzoo.run.folder import RunFolder, read_json
from kzoo.run.machine import dtype_policy
from kzoo.run.saving import archive_precision, load_in_float32


def initial_model(run, init_from):
    """The trained model `init_from` names, checked against the preset: ``{"model", "step", "history",
    "wall_time_s"}`` (the last two from its run folder or results file where it has them)."""
    source = registry.resolve(init_from)
    path = registry.find_model_file(source)
    with run.strategy.scope(), dtype_policy(run.precision):
        model = registry.load_model(source)  # verifies a named model's weights before any conversion
        trained_in = archive_precision(path)
        if trained_in != run.precision:
            model = load_in_float32(path, trained_in, run.precision, init_from)
        probe, steps_per_epoch = run.stream(0)
        spec = probe.element_spec[0] if run.conditional else probe.element_spec
        fresh = presets.build_model(run.preset, image_shape=tuple(spec.shape[1:]), seed=run.settings.seed,
                                    sync_batch_norm=run.settings.sync_batch_norm,
                                    label_distribution=run.label_distribution())
    if run.preset.get("latent_prior") and getattr(model, "latent_prior", None) is not None:
        # More training moves the codes the fitted prior (mixture or second stage) was fitted to: continue
        # without it, and the run fits it again at the end, as a run from scratch does.
        model.set_latent_prior(None)
        print(f"kzoo: --init-from {init_from}: its fitted latent prior is dropped and fitted again after "
              "training")
    shapes = [tuple(w.shape) for w in model.weights]
    expected = [tuple(w.shape) for w in fresh.weights]
    if type(model) is not type(fresh) or shapes != expected:
        raise ValueError(f"--init-from {init_from}: {path} holds a {type(model).__name__} with "
                         f"{len(shapes)} weights, but preset {run.name!r} with these settings builds a "
                         f"{type(fresh).__name__} with {len(expected)} (or other shapes). Continue a model with "
                         "the preset and --set options it was trained with.")
    optimizer = getattr(model, "optimizer", None)
    step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
    folder = source if source.is_dir() else path.parent
    summary = RunFolder(folder).summary({})
    results = read_json(folder / registry.MANIFEST, {}).get("results")
    # The manifest names its results file from the repository root (saved_models/NAME/../../results/...).
    results_file = next((f for f in (pathlib.Path(results), folder.parent.parent / results) if f.exists()),
                        None) if results else None
    protocol = read_json(results_file, {}).get("protocol", {}) if results_file else {}
    if run.settings.new_optimizer:
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
    if step >= run.preset["epochs"] * steps_per_epoch:
        raise ValueError(f"--init-from {init_from}: the model has trained {step} steps ({step / steps_per_epoch:g} "
                         f"epochs of {steps_per_epoch} steps); ask for more --epochs than that.")
    wall = summary.get("wall_time_s")
    if wall is None:  # a shipped model: its results file records the training run
        wall = protocol.get("wall_time_s") if protocol.get("steps") == step else None
    epochs_done = step // steps_per_epoch
    history = {k: v[:epochs_done] for k, v in RunFolder(folder).history().items()}
    return {"model": model, "step": step, "history": history, "wall_time_s": wall}
