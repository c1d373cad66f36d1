"""One run of a preset: data, model, `fit` with callbacks, and the run folder's figures and files."""

import json
import os
import pathlib
import time

import keras
import numpy as np

from kzoo import callbacks as kcallbacks
from kzoo import datasets, presets, visualize
from kzoo.config import atomic_write_bytes


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


def train(preset_name, out, dataset=None, epochs=None, batch_size=None, take=None, seed=0, verbose="auto",
          num_samples=64):
    """Train preset `preset_name` and write the run folder `out`:

    ``config.json``, ``history.json``, ``loss_curve.png``, ``samples/epoch_NNN.png`` (fixed latent vectors),
    ``stability.json``/``stability.md`` (per-epoch loss spread), ``reconstructions.png`` (models with an
    encoder), ``interpolation.png``, ``model.keras`` and ``summary.json``.
    Returns the summary dict.
    """
    preset = presets.get(preset_name, dataset=dataset, epochs=epochs, batch_size=batch_size)
    if not preset["dataset"]:
        raise ValueError(f"preset {preset_name!r} has no default dataset; pass one (--dataset folder:PATH, "
                         "tfds:NAME, mnist or fashion_mnist).")
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    config = dict(preset, take=take, seed=seed)
    atomic_write_bytes(out / "config.json", json.dumps(config, indent=1, default=str).encode())

    # Adversarial models get n_critic batches per step, all full (the critic batches must be equal).
    adversarial = preset["family"] == "gan"
    train_ds = datasets.load(preset["dataset"], "train", batch_size=presets.pipeline_batch_size(preset),
                             pixel_range=preset["pixel_range"], seed=seed, take=take,
                             drop_remainder=adversarial)
    image_shape = tuple(train_ds.element_spec.shape[1:])
    model = presets.build_model(preset, image_shape=image_shape, seed=seed)

    history_writer = kcallbacks.HistoryWriter(out, title=f"{preset_name} on {preset['dataset']}")
    grid = kcallbacks.SampleGrid(out / "samples", num_images=num_samples, seed=seed)
    stability = kcallbacks.StabilitySummary(out)
    start = time.perf_counter()
    model.fit(train_ds, epochs=preset["epochs"], callbacks=[history_writer, grid, stability], verbose=verbose,
              shuffle=False)  # the pipeline shuffles
    wall = time.perf_counter() - start

    figures = {"loss_curve": "loss_curve.png", "samples": f"samples/epoch_{preset['epochs']:03d}.png",
               "stability": "stability.md"}
    examples = _first_images(preset["dataset"], preset["pixel_range"], 16, take)
    if hasattr(model, "reconstruct"):
        recon = model.reconstruct(examples)
        pair = np.concatenate([examples, np.asarray(recon)])
        visualize.save_grid(out / "reconstructions.png", datasets.to_uint8(pair, model.pixel_range), ncols=16)
        figures["reconstructions"] = "reconstructions.png"
    visualize.save_grid(out / "interpolation.png",
                        datasets.to_uint8(interpolation(model, examples, seed), model.pixel_range), ncols=10)
    figures["interpolation"] = "interpolation.png"
    save_model_atomically(model, out / "model.keras")

    summary = {
        "preset": preset_name, "dataset": preset["dataset"], "epochs": preset["epochs"],
        "batch_size": preset["batch_size"], "take": take, "seed": seed,
        "wall_time_s": round(wall, 1), "seconds_per_epoch": round(wall / preset["epochs"], 2),
        "parameters": int(model.count_params()),
        "final": {k: v[-1] for k, v in history_writer.history.items()},
        "stability_last_epoch": stability.epochs[-1] if stability.epochs else None,
        "figures": figures, "model": "model.keras",
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    return summary


def interpolation(model, examples, seed=0, rows=4, steps=10):
    """`rows` latent interpolations of `steps` images each: between posterior means of pairs of
    examples for models with an encoder, between prior samples otherwise."""
    if hasattr(model, "encode"):
        z = np.asarray(model.encode(examples[: 2 * rows])[0])
    else:
        z = np.random.default_rng(seed).standard_normal((2 * rows, model.latent_dim)).astype(np.float32)
    path = np.concatenate([visualize.linear_path(z[2 * i], z[2 * i + 1], steps) for i in range(rows)])
    return np.asarray(model.generate(path))


def _first_images(name, pixel_range, count, take):
    split = "test" if name in datasets.BUILTIN else "train"
    arrays = datasets.load_arrays(name, split)
    images = arrays.images[: min(count, take or count)] if split == "train" else arrays.images[:count]
    return datasets.to_pixel_range(images, pixel_range)
