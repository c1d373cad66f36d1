"""Callbacks usable with plain `model.fit`."""

import json
import pathlib

import keras
import numpy as np

from kzoo import visualize
from kzoo.config import atomic_write_bytes
from kzoo.datasets import to_uint8


class SampleGrid(keras.callbacks.Callback):
    """Save a grid of images generated from the same latent vectors after every epoch.

    The noise is drawn once (from `seed`), so grids of different epochs show the same vectors' evolution.
    Works with any model that has `latent_dim`, `generate(z)` and `pixel_range`.
    """

    def __init__(self, out_dir, num_images=64, seed=0, every=1, pattern="epoch_{epoch:03d}.png"):
        super().__init__()
        self.out_dir = pathlib.Path(out_dir)
        self.num_images, self.seed, self.every, self.pattern = num_images, seed, every, pattern
        self.z = None

    def on_train_begin(self, logs=None):
        rng = np.random.default_rng(self.seed)
        self.z = rng.standard_normal((self.num_images, self.model.latent_dim)).astype(np.float32)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.save(epoch + 1)

    def save(self, epoch):
        images = to_uint8(np.asarray(self.model.generate(self.z)), self.model.pixel_range)
        path = self.out_dir / self.pattern.format(epoch=epoch)
        visualize.save_grid(path, images)
        return path


class HistoryWriter(keras.callbacks.Callback):
    """Keep `history.json` and a loss-curve PNG up to date after every epoch (so a stopped run keeps them)."""

    def __init__(self, out_dir, initial_history=None, title=None):
        super().__init__()
        self.out_dir = pathlib.Path(out_dir)
        self.history = {k: list(v) for k, v in (initial_history or {}).items()}
        self.title = title

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        atomic_write_bytes(self.out_dir / "history.json", json.dumps(self.history, indent=1).encode())
        visualize.plot_history(self.history, self.out_dir / "loss_curve.png", title=self.title)
