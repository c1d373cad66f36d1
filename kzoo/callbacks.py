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
    With `log_dir`, each grid is also written as a TensorBoard image (tag `samples`, step = epoch).
    Works with any model that has `latent_dim`, `generate(z)` and `pixel_range`; for a class-conditional model
    (`num_classes`) each row is one class, 0 at the top, with `num_images // num_classes` images per row.
    """

    def __init__(self, out_dir, num_images=64, seed=0, every=1, pattern="epoch_{epoch:03d}.png", log_dir=None):
        super().__init__()
        self.out_dir = pathlib.Path(out_dir)
        self.num_images, self.seed, self.every, self.pattern = num_images, seed, every, pattern
        self.log_dir = log_dir
        self.z = self.labels = None
        self.ncols = None

    def on_train_begin(self, logs=None):
        rng = np.random.default_rng(self.seed)
        classes = getattr(self.model, "num_classes", None)
        count = self.num_images
        if classes:
            self.ncols = max(1, self.num_images // classes)
            self.labels = np.repeat(np.arange(classes), self.ncols).astype(np.int32)
            count = len(self.labels)
        self.z = rng.standard_normal((count, self.model.latent_dim)).astype(np.float32)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.save(epoch + 1)

    def save(self, epoch):
        generated = self.model.generate(self.z) if self.labels is None else self.model.generate(self.z, self.labels)
        images = to_uint8(np.asarray(generated), self.model.pixel_range)
        path = self.out_dir / self.pattern.format(epoch=epoch)
        visualize.save_grid(path, images, ncols=self.ncols)
        if self.log_dir is not None:
            write_tensorboard_image(self.log_dir, "samples", visualize.image_grid(images, ncols=self.ncols), epoch)
        return path


def reconstruction_error(model, images, labels=None):
    """Mean squared error per pixel between `images` and their reconstructions (posterior mean decoded), in the
    model's pixel range: the scalar reconstruction error reported next to FID."""
    recon = model.reconstruct(images) if labels is None else model.reconstruct(images, labels)
    return _mean_squared_error(recon, images)


def _mean_squared_error(a, b):
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


class ReconstructionGrid(keras.callbacks.Callback):
    """After every `every` epochs, save `examples` (top row) above their reconstructions (bottom row) as
    ``reconstruction_epoch_NNN.png``, and record the mean squared reconstruction error of `examples` in `errors`
    (``{epoch: error}``) and in the epoch's logs (``reconstruction_mse``, so `HistoryWriter` plots it).
    For models with `reconstruct` (the VAE family); `labels` for a conditional one."""

    def __init__(self, out_dir, examples, labels=None, every=1, pattern="reconstruction_epoch_{epoch:03d}.png"):
        super().__init__()
        self.out_dir, self.examples, self.labels = pathlib.Path(out_dir), np.asarray(examples, np.float32), labels
        self.every, self.pattern, self.errors = every, pattern, {}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        recon = np.asarray(self.model.reconstruct(self.examples) if self.labels is None
                           else self.model.reconstruct(self.examples, self.labels))
        pair = to_uint8(np.concatenate([self.examples, recon]), self.model.pixel_range)
        visualize.save_grid(self.out_dir / self.pattern.format(epoch=epoch + 1), pair, ncols=len(self.examples))
        error = _mean_squared_error(recon, self.examples)
        self.errors[epoch + 1] = error
        if logs is not None:
            logs["reconstruction_mse"] = error


def latent_epochs(total, marks=(1, 2, 5, 10, 20, 30, 50, 100)):
    """The epochs at which to plot the latent space: the marks up to `total`, and the last epoch."""
    return sorted({m for m in marks if m <= total} | {total})


class LatentScatter(keras.callbacks.Callback):
    """At `epochs`, the posterior means of `images` in the plane, coloured by `labels` (class): the latent itself
    when it is 2-D, otherwise its first two principal components (fitted at that epoch). Writes
    ``latent_epoch_NNN.png`` each time and, at the end of training, ``latent_clusters.png`` with every chosen
    epoch side by side. `points` holds ``{epoch: [N, 2] array}`` and `explained` the share of variance the two
    components keep."""

    def __init__(self, out_dir, images, labels=None, epochs=(1,), pattern="latent_epoch_{epoch:03d}.png",
                 summary="latent_clusters.png", labels_of_encoder=None):
        super().__init__()
        self.out_dir, self.images, self.labels = pathlib.Path(out_dir), np.asarray(images, np.float32), labels
        self.epochs, self.pattern, self.summary = set(int(e) for e in epochs), pattern, summary
        self.labels_of_encoder = labels_of_encoder  # a conditional encoder takes the labels too
        self.points, self.explained = {}, {}

    def project(self):
        codes = np.asarray(self._encode())
        if not np.isfinite(codes).all():  # a diverged model: nothing to plot (the run stops on its own)
            return None, None
        if codes.shape[1] == 2:
            return codes, 1.0
        from sklearn.decomposition import PCA
        pca = PCA(n_components=2).fit(codes)
        return pca.transform(codes), float(pca.explained_variance_ratio_.sum())

    def _encode(self):
        encoded = (self.model.encode(self.images) if self.labels_of_encoder is None
                   else self.model.encode(self.images, self.labels_of_encoder))
        return encoded[0]

    def _title(self, epoch):
        axes = "latent" if self.explained[epoch] == 1.0 else f"PCA, {self.explained[epoch]:.0%} of variance"
        return f"epoch {epoch} ({axes})"

    def on_epoch_end(self, epoch, logs=None):
        epoch += 1
        if epoch not in self.epochs:
            return
        points, explained = self.project()
        if points is None:
            return
        self.points[epoch], self.explained[epoch] = points, explained
        visualize.scatter_panels({self._title(epoch): [(self.points[epoch], self.labels, "codes")]},
                                 self.out_dir / self.pattern.format(epoch=epoch), equal=False)

    def on_train_end(self, logs=None):
        if self.points:
            panels = {self._title(e): [(p, self.labels, "codes")] for e, p in sorted(self.points.items())}
            visualize.scatter_panels(panels, self.out_dir / self.summary, equal=False,
                                     title="posterior means of test images, coloured by class")


class PointCloudMonitor(keras.callbacks.Callback):
    """For 2-D generators: every `every_steps` training steps, generate `num_points` points from fixed noise
    and record them with their divergences from `real_points` (KL(real || generated) and JS on a shared
    `bins` x `bins` histogram over `value_range`, with `pseudo_count` per bin; exact W1 on the first
    `w1_points` of each). `steps`, `snapshots` and `divergences` (lists of dicts) hold the record."""

    def __init__(self, real_points, every_steps=250, num_points=5000, bins=40, value_range=None, pseudo_count=0.5,
                 w1_points=1000, seed=0):
        super().__init__()
        self.real = np.asarray(real_points, np.float32)
        self.every, self.num_points, self.bins = every_steps, num_points, bins
        self.pseudo_count, self.w1_points, self.seed = pseudo_count, w1_points, seed
        if value_range is None:
            low, high = self.real.min(axis=0), self.real.max(axis=0)
            margin = 0.25 * (high - low)
            value_range = [(float(lo - m), float(hi + m)) for lo, hi, m in zip(low, high, margin)]
        self.value_range = value_range
        self.steps, self.snapshots, self.divergences = [], [], []
        self.z, self.step = None, 0

    def on_train_begin(self, logs=None):
        rng = np.random.default_rng(self.seed)
        self.z = rng.standard_normal((self.num_points, self.model.latent_dim)).astype(np.float32)
        if not self.steps:
            self.record(0)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            self.record(self.step)

    def record(self, step):
        from kzoo.metrics.divergences import sample_divergences, wasserstein1
        points = np.asarray(self.model.generate(self.z), np.float32)
        values = sample_divergences(self.real, points, self.bins, self.value_range, self.pseudo_count)
        n = min(self.w1_points, len(points), len(self.real))
        values["w1"] = wasserstein1(self.real[:n], points[:n])
        self.steps.append(step)
        self.snapshots.append(points)
        self.divergences.append(values)
        return values


def write_tensorboard_image(log_dir, tag, image, step):
    """Append one uint8 image `[H, W]` or `[H, W, C]` to the TensorBoard event file in `log_dir`."""
    import tensorflow as tf
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.image(tag, image[None], step=int(step))
    writer.flush()
    writer.close()


def latent_interpolation(model, examples=None, seed=0, rows=4, steps=10, labels=None):
    """`rows` latent interpolations of `steps` images each (in the model's pixel range): between the posterior
    means of pairs of `examples` for models with an encoder (a conditional one needs the examples' `labels`; each
    row is decoded with its first example's class), between pairs of prior samples otherwise (row i of a
    conditional model keeps class i mod K)."""
    classes = getattr(model, "num_classes", None)
    row_labels = None
    if hasattr(model, "encode") and examples is not None and (not classes or labels is not None):
        if classes:
            labels = np.asarray(labels[: 2 * rows], np.int32)
            z = np.asarray(model.encode(examples[: 2 * rows], labels)[0])
            row_labels = np.repeat(labels[0::2], steps)
        else:
            z = np.asarray(model.encode(examples[: 2 * rows])[0])  # codes, not prior noise
        to_images = model.decode
    else:
        z = np.random.default_rng(seed).standard_normal((2 * rows, model.latent_dim)).astype(np.float32)
        to_images = model.generate
        if classes:
            row_labels = np.repeat(np.arange(rows) % classes, steps).astype(np.int32)
    between = visualize.spherical_path if getattr(model, "interpolation", "linear") == "spherical" \
        else visualize.linear_path
    path = np.concatenate([between(z[2 * i], z[2 * i + 1], steps) for i in range(rows)])
    return np.asarray(to_images(path) if row_labels is None else to_images(path, row_labels))


class InterpolationGrid(keras.callbacks.Callback):
    """Save a latent-interpolation grid (rows of `steps` images between fixed endpoints) every `every` epochs."""

    def __init__(self, out_dir, examples=None, seed=0, every=1, rows=4, steps=10,
                 pattern="interpolation_{epoch:03d}.png"):
        super().__init__()
        self.out_dir, self.examples, self.seed = pathlib.Path(out_dir), examples, seed
        self.every, self.rows, self.steps, self.pattern = every, rows, steps, pattern

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            images = latent_interpolation(self.model, self.examples, self.seed, self.rows, self.steps)
            visualize.save_grid(self.out_dir / self.pattern.format(epoch=epoch + 1),
                                to_uint8(images, self.model.pixel_range), ncols=self.steps)


class HistoryWriter(keras.callbacks.Callback):
    """Keep `history.json` and a loss-curve PNG up to date after every epoch (so a stopped run keeps them)."""

    def __init__(self, out_dir, initial_history=None, title=None):
        super().__init__()
        self.out_dir = pathlib.Path(out_dir)
        self.history = {k: list(v) for k, v in (initial_history or {}).items()}
        self.title = title

    def on_epoch_end(self, epoch, logs=None):
        # A resumed run replays from its last checkpoint: forget epochs at or after this one.
        for key in self.history:
            del self.history[key][epoch:]
        for key, value in (logs or {}).items():
            # A key first seen after epoch 0 (a run continued from a model without its history) gets NaN for the
            # epochs before, so that index i stays epoch i + 1.
            self.history.setdefault(key, [float("nan")] * epoch).append(float(value))
        for values in self.history.values():
            # A quantity logged only on some epochs (`PeriodicMetric`, every N) gets NaN on the others.
            values.extend([float("nan")] * (epoch + 1 - len(values)))
        atomic_write_bytes(self.out_dir / "history.json", json.dumps(self.history, indent=1).encode())
        visualize.plot_history(self.history, self.out_dir / "loss_curve.png", title=self.title)


class StabilitySummary(keras.callbacks.Callback):
    """Per-epoch spread of every tracked loss over the training steps, written to `stability.json` and
    `stability.md` after each epoch.

    For each quantity and epoch: the mean, min and max of its per-step values, the range (max - min) and
    the relative swing, range / |mean| (null where |mean| < 1e-8, e.g. a Wasserstein estimate near 0).
    Per-step values are exact: they come from the change of each tracker's running total and count.
    """

    def __init__(self, out_dir, initial_epochs=None):
        super().__init__()
        self.out_dir = pathlib.Path(out_dir)
        self.epochs = list(initial_epochs or [])

    def _trackers(self):
        return [m for m in self.model.metrics if hasattr(m, "total") and hasattr(m, "count")]

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = {m.name: (0.0, 0.0) for m in self._trackers()}
        self._steps = {m.name: [] for m in self._trackers()}

    def on_train_batch_end(self, batch, logs=None):
        for m in self._trackers():
            total, count = float(m.total.numpy()), float(m.count.numpy())
            previous_total, previous_count = self._previous[m.name]
            if count > previous_count:
                self._steps[m.name].append((total - previous_total) / (count - previous_count))
            self._previous[m.name] = (total, count)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = [row for row in self.epochs if row["epoch"] <= epoch]
        row = {"epoch": epoch + 1}
        for name, values in self._steps.items():
            if values:
                row[name] = spread(values)
        self.epochs.append(row)
        atomic_write_bytes(self.out_dir / "stability.json", json.dumps(self.epochs, indent=1).encode())
        atomic_write_bytes(self.out_dir / "stability.md", stability_table(self.epochs).encode())


def spread(values):
    values = np.asarray(values, np.float64)
    mean, low, high = float(values.mean()), float(values.min()), float(values.max())
    return {"mean": mean, "min": low, "max": high, "range": high - low,
            "relative_swing": (high - low) / abs(mean) if abs(mean) >= 1e-8 else None, "steps": int(values.size)}


def stability_table(epochs):
    """A Markdown table: one row per epoch, `mean [min, max] swing` per quantity."""
    names = [k for k in epochs[0] if k != "epoch"] if epochs else []
    rows = []
    for row in epochs:
        cells = [row["epoch"]]
        for name in names:
            s = row.get(name)
            swing = "n/a" if s is None or s["relative_swing"] is None else f"{s['relative_swing']:.2f}"
            cells.append("" if s is None else f"{s['mean']:.4g} [{s['min']:.4g}, {s['max']:.4g}] {swing}")
        rows.append(cells)
    return ("Per-step values within each epoch: mean [min, max], relative swing = (max - min) / |mean|.\n\n"
            + visualize.markdown_table(["epoch", *names], rows))


class PeriodicMetric(keras.callbacks.Callback):
    """Compute a sample-quality metric every `every` epochs during `fit` and add it to the logs (so it reaches
    `history`, `HistoryWriter` and TensorBoard).

    `metric="fid"`: reference FID of `num_samples` generated images against the first `num_samples` of
    `dataset`/`split` (slow on a CPU: about 20 images/s); `metric="classifier_fid"`: FID in kzoo's domain
    classifier's feature space (mnist, fashion_mnist; fast); `metric="classifier_score"`: the classifier score
    (exp of the mean KL between per-sample and marginal label distributions; 1 to the number of classes).
    Small `num_samples` biases FID upwards: compare values computed with the same N only.
    """

    METRICS = ("fid", "classifier_fid", "classifier_score")

    def __init__(self, dataset, metric="classifier_fid", num_samples=1000, split="test", every=1, seed=0):
        super().__init__()
        if metric not in self.METRICS:
            raise ValueError(f"metric must be one of {', '.join(self.METRICS)}, got {metric!r}.")
        self.dataset, self.metric, self.num_samples = dataset, metric, num_samples
        self.split, self.every, self.seed = split, every, seed
        self._classifier = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or logs is None:
            return
        logs[self.metric] = self.compute()

    def compute(self):
        import warnings

        from kzoo import datasets
        from kzoo.metrics.features import generated_batches
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the small-N bias is documented above
            if self.metric == "fid":
                from kzoo.metrics.evaluate import evaluate_generator
                return evaluate_generator(self.model, self.dataset, self.split, self.num_samples, ("fid",),
                                          seed=self.seed, progress=False)["fid"]
            from kzoo.metrics.classifier import DomainClassifier, classifier_metrics
            if self._classifier is None:
                self._classifier = DomainClassifier.load(self.dataset)
            real = datasets.load_arrays(self.dataset, self.split).images[: self.num_samples]
            fakes = np.concatenate(list(generated_batches(self.model, self.num_samples, seed=self.seed)))
            report = classifier_metrics(self._classifier, real, fakes)
            return report["classifier_fid"] if self.metric == "classifier_fid" else report["classifier_score_mean"]
