"""Latent priors fitted after training: the preset's own at the end of a run, or a new one for a trained VAE
(`kzoo prior`)."""

from __future__ import annotations

import pathlib
import shutil

import numpy as np

from kzoo import datasets, presets, visualize
from kzoo.run import report
from kzoo.run.folder import RunFolder, read_json, write_json
from kzoo.run.saving import save_model_atomically


def fit_preset_prior(model, preset, take, seed):
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
    from kzoo.export import export_saved_model
    out = pathlib.Path(out)
    model_file = registry.find_model_file(registry.resolve(source))
    folder = model_file.parent if model_file.name == "model.keras" else None
    if folder is not None and out.resolve() == folder.resolve():
        raise ValueError(f"--out {out} is the source model's folder; write the model with its new prior to a new "
                         "folder (the source keeps the prior it was trained with).")
    model = registry.load_model(model_file, compile=False)
    if not hasattr(model, "fit_latent_prior"):
        raise ValueError(f"{source} holds {type(model).__name__}, not a VAE: a latent prior is fitted to a VAE's "
                         "codes.")
    if spec is not None:
        presets.check_latent_prior(spec, "vae")
        spec = presets.latent_prior_settings(spec)
        if spec["kind"] == "mixture" and spec["components"] is None:
            raise ValueError("a mixture prior needs its number of components (e.g. --components 30).")
    summary = RunFolder(folder).summary({}) if folder is not None else {}
    # A run folder names its data in summary.json, a shipped model in its manifest (model.json).
    shipped = read_json(folder / "model.json", {}) if folder is not None else {}
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
    if folder is not None and RunFolder(folder).config() is not None:
        RunFolder(out).write_config(dict(RunFolder(folder).config(), latent_prior=spec))
    finished = folder is not None and summary and (folder / "config.json").exists()
    trained_by = report.reproducing_command(folder) if finished else None
    prior_fit = {"source": str(source), "latent_prior": spec, "dataset": dataset, "take": take, "seed": seed,
                 "images": int(len(images)), "fit_s": fit_s, "command": command, "train_command": trained_by}
    figures = {k: v for k, v in summary.get("figures", {}).items() if (out / v).exists()}
    summary = dict(summary, dataset=dataset, parameters=int(model.count_params()), prior_fit=prior_fit,
                   figures=dict(figures, samples="samples_latent_prior.png"), model="model.keras",
                   saved_model="saved_model" if export else None, optimizer_state=False)
    write_json(out / "summary.json", summary)
    return summary
