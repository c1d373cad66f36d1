import json
import subprocess
import sys

import keras
import matplotlib.image
import numpy as np
import pytest
from helpers import load_script

from kzoo import cli, training, visualize
from kzoo.models import VAE


def test_image_grid_places_each_image():
    images = np.stack([np.full((3, 2, 1), v, np.uint8) for v in (10, 20, 30)])
    grid = visualize.image_grid(images, ncols=2, pad=1, pad_value=0)
    assert grid.shape == (2 * 4 + 1, 2 * 3 + 1, 1)
    assert grid[1, 1, 0] == 10 and grid[1, 4, 0] == 20 and grid[5, 1, 0] == 30
    assert grid[5, 4, 0] == 0 and grid[0, 0, 0] == 0  # the empty cell and the padding
    with pytest.raises(ValueError, match="uint8"):
        visualize.image_grid(images.astype("float32"))


def test_saved_png_holds_the_grid(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 3), dtype=np.uint8)
    visualize.save_grid(tmp_path / "g.png", images, ncols=2, scale=1)
    read = (matplotlib.image.imread(tmp_path / "g.png")[..., :3] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(read, visualize.image_grid(images, ncols=2))


def test_linear_path_ends_at_both_codes():
    a, b = np.array([0.0, 2.0]), np.array([1.0, -2.0])
    path = visualize.linear_path(a, b, 5)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    np.testing.assert_allclose(path[2], (a + b) / 2)


def test_train_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--preset", "vae_conv_fashion", "--epochs", "2", "--take", "512",
                     "--batch-size", "64", "--out", str(out), "--verbose", "0"])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss", "reconstruction_mse"}
    assert len(history["loss"]) == 2
    # The epoch figures add up (beta 1) and the step count is the arithmetic of 512 images in batches of 64.
    np.testing.assert_allclose(history["loss"], np.add(history["reconstruction_loss"], history["kl_loss"]), rtol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 * 512 // 64 and summary["epochs"] == 2
    assert summary["jit_compile"] is False  # --jit-compile auto: Keras' choice, off on a CPU
    assert json.loads((out / "config.json").read_text())["batch_size"] == 64
    for name in ("loss_curve.png", "samples/epoch_001.png", "samples/epoch_002.png", "reconstructions.png",
                 "interpolation.png", "reconstructions/reconstruction_epoch_002.png", "latent/latent_epoch_001.png",
                 "latent/latent_epoch_002.png", "latent/latent_clusters.png"):
        assert matplotlib.image.imread(out / name).size > 0, name
    # 64 samples in an 8x8 grid of 28x28 images, 2-pixel padding, enlarged twice.
    assert matplotlib.image.imread(out / "samples/epoch_002.png").shape[:2] == (2 * (8 * 30 + 2),) * 2
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, VAE) and model.latent_dim == 20
    # The grid shows the model's images for the fixed noise of seed 0.
    z = np.random.default_rng(0).standard_normal((64, 20)).astype(np.float32)
    grid = visualize.image_grid(np.clip(np.rint(np.asarray(model.generate(z)) * 255), 0, 255).astype(np.uint8))
    png = matplotlib.image.imread(out / "samples/epoch_002.png")[::2, ::2, 0]
    assert np.abs(png * 255 - grid[..., 0]).max() <= 1


def test_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    model = VAE.from_design("mlp256", seed=0)
    model.compile()
    path = tmp_path / "model.keras"
    training.save_model_atomically(model, path)
    good = path.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        training.save_model_atomically(model, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_cli_errors_are_clear(tmp_path, capsys):
    assert cli.main(["train", "--preset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "vae_mlp_rgb64", "--out", str(tmp_path)]) == 2
    assert "--dataset folder:PATH" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "vae_conv_fashion", "--dataset", "folder:/nonexistent",
                     "--out", str(tmp_path)]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.subprocess
def test_console_entry_points():
    from kzoo import presets
    result = subprocess.run([sys.executable, "-m", "kzoo", "presets"], capture_output=True, text=True, check=True)
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert set(presets.PRESETS) <= listed
    status = subprocess.run([sys.executable, "-m", "kzoo", "data", "status"], capture_output=True, text=True,
                            check=True)
    assert json.loads(status.stdout)["mnist"]["cached"] is True


def test_example_script_quick_mode(tmp_path):
    module = load_script("examples/vae_fashion_mnist.py")
    model = module.main(["--out", str(tmp_path), "--quick"])
    history = json.loads((tmp_path / "history.json").read_text())
    assert {"loss", "val_loss"} <= set(history)
    assert matplotlib.image.imread(tmp_path / "reconstructions.png").size > 0
    assert isinstance(keras.models.load_model(tmp_path / "model.keras"), type(model))


class _EchoModel(keras.Model):
    """Tracks the mean of each batch's values, per example, so per-step values are known exactly."""

    def __init__(self):
        super().__init__()
        self.tracker = keras.metrics.Mean(name="value")
        self.dense = keras.layers.Dense(1)

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, data):
        self.tracker.update_state(keras.ops.reshape(data, (-1,)))
        return {"value": self.tracker.result()}


def test_stability_summary_recovers_exact_per_step_values(tmp_path):
    from kzoo.callbacks import StabilitySummary
    model = _EchoModel()
    model.compile(optimizer="sgd")
    data = np.array([1, 3, 10, 20, -5, -7, 100], "float32")[:, None]
    summary = StabilitySummary(tmp_path)
    model.fit(data, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[summary])
    steps = [2.0, 15.0, -6.0, 100.0]  # batch means, the last batch holding one example
    expected = {"mean": np.mean(steps), "min": -6.0, "max": 100.0, "range": 106.0,
                "relative_swing": 106.0 / abs(np.mean(steps)), "steps": 4}
    for epoch in summary.epochs:
        for key, value in expected.items():
            np.testing.assert_allclose(epoch["value"][key], value, rtol=1e-6)
    written = json.loads((tmp_path / "stability.json").read_text())
    assert [row["epoch"] for row in written] == [1, 2]
    assert "| 2 | 27.75 [-6, 100] 3.82 |" in (tmp_path / "stability.md").read_text()


def test_train_a_gan_preset_writes_samples_and_stability(tmp_path):
    out = tmp_path / "gan"
    assert cli.main(["train", "--preset", "wgan_gp_fashion", "--epochs", "1", "--take", "650", "--out", str(out),
                     "--verbose", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["final"]) == {"d_loss", "g_loss", "wasserstein", "penalty"}
    # 650 images make two full steps of 5 x 64 (the remainder is dropped).
    assert summary["stability_last_epoch"]["d_loss"]["steps"] == 2
    assert "reconstructions" not in summary["figures"] and (out / "interpolation.png").exists()
    model = keras.models.load_model(out / "model.keras")
    assert int(model.optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 10


@pytest.mark.slow  # 22 s; the FID itself is tested against the reference in the default suite
def test_train_with_fid_samples_writes_a_report_with_the_reference_fid(tmp_path):
    """The FID in the summary and report against one computed by another path: the port's features (checked
    against the TorchScript network elsewhere) of the same 20 samples, generated here, and 20 test images, and the
    distance of their statistics (the formula is checked against scipy's sqrtm elsewhere), with none of the run's
    cached real statistics or sample batches."""
    import re
    import warnings

    from helpers import to_uint8_reference

    from kzoo import datasets
    from kzoo.metrics import fid_from_features
    from kzoo.metrics.features import get_extractor
    out = tmp_path / "main"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 20 samples: the small-N bias warning
        summary = training.train("dcgan_fashion", out, epochs=1, take=256, verbose=0, fid_samples=20, fid_real=20,
                                 export=False)
    model = keras.models.load_model(out / "model.keras")
    z = np.random.default_rng(0).standard_normal((20, model.latent_dim)).astype(np.float32)
    extractor = get_extractor("fid_inception")
    fake = np.asarray(extractor(to_uint8_reference(model.generate(z), (-1, 1))))
    real = np.asarray(extractor(datasets.load_arrays("fashion_mnist", "test").images[:20]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        independent = fid_from_features(real, fake)
    assert summary["fid"] == pytest.approx(independent, rel=1e-4) and summary["fid_num_real"] == 20
    report = (out / "report.md").read_text()
    assert f"**{summary['fid']:.2f}**" in report and "20 generated images against 20 test images" in report
    for link in re.findall(r"\]\(([^)]+)\)", report):
        assert (out / link).exists(), link


def test_a_quantity_measured_every_n_epochs_keeps_its_epochs_in_the_run_history(tmp_path):
    """`--fid-every 3` logs FID at epochs 3, 6, ...: history.json must say which epoch each value belongs to (NaN in
    between), or the FID-against-epochs curve would put epoch 6's value at epoch 2."""
    from kzoo.callbacks import HistoryWriter
    writer = HistoryWriter(tmp_path)
    for epoch in range(7):
        logs = {"loss": 1.0 / (epoch + 1)}
        if (epoch + 1) % 3 == 0:
            logs["fid"] = 100.0 - epoch
        writer.on_epoch_end(epoch, logs)
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["loss"]) == len(history["fid"]) == 7
    assert [i + 1 for i, v in enumerate(history["fid"]) if np.isfinite(v)] == [3, 6]
    assert history["fid"][2] == 98.0 and history["fid"][5] == 95.0
    assert (tmp_path / "loss_curve.png").stat().st_size > 0


def test_jit_compile_option_reaches_the_model_and_the_summary(tmp_path, capsys):
    """`--jit-compile on` compiles the step with XLA even on a CPU (`auto`, Keras' choice, is off on a CPU:
    `test_train_writes_the_run_folder`); the run's summary says which it got, and a wrong value is refused before
    anything runs."""
    out = tmp_path / "on"
    assert cli.main(["train", "--preset", "vae_mlp256_mnist", "--epochs", "1", "--take", "128", "--batch-size",
                     "64", "--jit-compile", "on", "--no-export", "--out", str(out), "--verbose", "0"]) == 0
    assert json.loads((out / "summary.json").read_text())["jit_compile"] is True
    with pytest.raises(ValueError, match="jit_compile must be one of auto, on, off"):
        training.RunSettings(jit_compile="yes")
    with pytest.raises(SystemExit):
        cli.main(["train", "--preset", "vae_mlp256_mnist", "--jit-compile", "yes", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'yes'" in capsys.readouterr().err
