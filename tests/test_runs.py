"""Runs that survive interruption: the seekable data stream, step noise, checkpoints, resume after kill -9,
deterministic mode, stopping on NaN."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import checkpoint, datasets, training
from kzoo.models import VAE
from kzoo.noise import StepNoise

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def kzoo_train(*args):
    return [sys.executable, "-m", "kzoo", "train", *map(str, args)]


def keras_weights(path):
    return keras.models.load_model(path).get_weights()


@pytest.fixture(scope="module")
def first_epoch(tmp_path_factory):
    """One epoch of vae_mlp256_mnist on 128 images, trained once per module (the continuation tests' start)."""
    folder = tmp_path_factory.mktemp("runs") / "first"
    training.train("vae_mlp256_mnist", folder, epochs=1, take=128, verbose=0, export=False)
    return folder


@pytest.fixture
def first(first_epoch, tmp_path):
    """A test's own copy of the one-epoch run folder, at tmp_path / "first"."""
    return pathlib.Path(shutil.copytree(first_epoch, tmp_path / "first"))


# -- the data stream and the noise ------------------------------------------------------------------


def test_training_stream_is_a_function_of_seed_and_step():
    stream, steps = datasets.training_stream("ring", 100, seed=1, take=1000)
    assert steps == 10
    batches = [b.numpy() for b in stream.take(25)]
    # Each epoch is a permutation of the 1,000 points, and epochs are ordered differently.
    first, second = np.concatenate(batches[:10]), np.concatenate(batches[10:20])
    points = datasets.load_arrays("ring", "train", seed=1).images[:1000]
    for epoch in (first, second):
        np.testing.assert_array_equal(np.sort(epoch[:, 0]), np.sort(points[:, 0]))
    assert not np.array_equal(first, second)
    # Starting at step 13 gives exactly what the full stream gave at step 13.
    resumed, _ = datasets.training_stream("ring", 100, seed=1, take=1000, start_step=13)
    np.testing.assert_array_equal(next(iter(resumed)).numpy(), batches[13])
    other_seed, _ = datasets.training_stream("ring", 100, seed=2, take=1000)
    assert not np.array_equal(next(iter(other_seed)).numpy(), batches[0])


def test_training_stream_scales_and_rejects_too_little_data():
    stream, steps = datasets.training_stream("fashion_mnist", 64, (-1.0, 1.0), take=256)
    batch = next(iter(stream)).numpy()
    assert steps == 4 and batch.shape == (64, 28, 28, 1) and batch.min() == -1.0 and batch.max() == 1.0
    with pytest.raises(ValueError, match="no full batch"):
        datasets.training_stream("fashion_mnist", 64, take=10)


def test_step_noise_depends_on_seed_step_and_draw_only():
    a, b = StepNoise(3, 7), StepNoise(3, 7)
    first, second = a.normal((4, 2)), a.normal((4, 2))
    np.testing.assert_array_equal(first, b.normal((4, 2)))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, StepNoise(3, 8).normal((4, 2)))
    assert not np.array_equal(first, StepNoise(4, 7).normal((4, 2)))
    u = StepNoise(0, 0).uniform((10000, 1))
    assert 0.0 <= float(tf.reduce_min(u)) and float(tf.reduce_max(u)) < 1.0
    assert abs(float(tf.reduce_mean(u)) - 0.5) < 0.02


# -- checkpoints, divergence ----------------------------------------------------------------------


def test_checkpoint_keeps_only_complete_finite_states(tmp_path):
    model = VAE.from_design("mlp256", latent_dim=2, seed=0)
    model.compile()
    images = np.random.default_rng(0).uniform(0, 1, (64, 28, 28, 1)).astype("float32")
    poisoned = images.copy()
    poisoned[40:48] = np.nan  # batch 6 of 8
    (tmp_path / "ckpt" / ".tmp-ckpt-00000099-1").mkdir(parents=True)  # as a killed writer leaves it
    ckpt = checkpoint.RunCheckpoint(tmp_path / "ckpt", steps_per_epoch=8, every_steps=1)
    guard = checkpoint.StopOnNonFinite(steps_per_epoch=8)
    # A pipeline (arrays with NaN are refused before training: tests/test_errors.py).
    model.fit(tf.data.Dataset.from_tensor_slices(poisoned).batch(8), epochs=2, shuffle=False, verbose=0,
              callbacks=[guard, ckpt])
    assert guard.failure["step"] == 6 and "loss=nan" in guard.failure["values"]
    folder, state = checkpoint.latest(tmp_path / "ckpt")
    assert state["step"] == 5 and folder.name == "ckpt-00000005"
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["ckpt-00000005", "latest"]
    saved = keras_weights(folder / "model.keras")
    assert all(np.all(np.isfinite(w)) for w in saved)
    message = checkpoint.describe_failure(guard.failure, folder)
    assert "step 6 (epoch 1, batch 6)" in message and "ckpt-00000005" in message


def test_checkpoints_follow_the_clock_within_a_long_epoch(tmp_path, monkeypatch):
    """A slow epoch is still checkpointed every `every_seconds`: with a clock that advances 4 minutes a step, a
    10-minute interval saves at steps 3 and 6 (12 and 24 minutes) of an 8-step epoch, then at its end."""
    clock = iter(range(0, 10**6, 240))
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: float(next(clock)))
    saved = []
    monkeypatch.setattr(checkpoint.RunCheckpoint, "save",
                        lambda self, logs=None: (saved.append(self.step), setattr(self, "_last_save_time",
                                                                                  checkpoint.time.monotonic())))
    model = VAE.from_design("mlp256", latent_dim=2, seed=0)
    model.compile()
    images = np.random.default_rng(0).uniform(0, 1, (64, 28, 28, 1)).astype("float32")
    ckpt = checkpoint.RunCheckpoint(tmp_path / "ckpt", steps_per_epoch=8)  # every_seconds=600 by default
    model.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[ckpt])
    assert saved == [3, 6, 8]
    off = checkpoint.RunCheckpoint(tmp_path / "off", steps_per_epoch=8, every_seconds=None)
    saved.clear()
    model.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[off])
    assert saved == [8]  # the epoch's end only
    with pytest.raises(ValueError, match="every_seconds must be above 0"):
        checkpoint.RunCheckpoint(tmp_path / "bad", steps_per_epoch=8, every_seconds=0)


def test_train_raises_on_divergence_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_stream = datasets.training_stream

    def poisoned_stream(*args, **kwargs):
        stream, steps = real_stream(*args, **kwargs)
        start = kwargs.get("start_step", 0)
        # Step 7 (1-based) and later get a NaN image.
        marks = tf.data.Dataset.counter(start + 1).map(lambda s: s >= 7)
        return tf.data.Dataset.zip(stream, marks).map(
            lambda x, bad: tf.where(bad, x * np.nan, x)), steps

    monkeypatch.setattr(datasets, "training_stream", poisoned_stream)
    with pytest.raises(checkpoint.TrainingDiverged, match=r"step 7 \(epoch 2, batch 3\).*ckpt-00000004"):
        training.train("vae_mlp256_mnist", tmp_path / "run", epochs=3, batch_size=64, take=256, verbose=0,
                       export=False)
    assert not (tmp_path / "run" / "model.keras").exists()
    assert checkpoint.latest(tmp_path / "run" / "checkpoints")[1]["step"] == 4


def test_resume_refuses_other_settings_and_missing_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        training.train("vae_mlp256_mnist", tmp_path / "run", epochs=1, take=128, verbose=0, resume=True)
    first = training.train("vae_mlp256_mnist", tmp_path / "run", epochs=1, take=128, verbose=0, export=False)
    # Reloading a finished run trains nothing, so its training time stays what the checkpoint recorded, and its
    # peak memory what the training process reached (here set above anything this process can reach).
    summary_path = tmp_path / "run" / "summary.json"
    summary_path.write_text(json.dumps({**first, "peak_memory_mib": 1e9}))
    again = training.train("vae_mlp256_mnist", tmp_path / "run", epochs=1, take=128, verbose=0, export=False)
    recorded = checkpoint.latest(tmp_path / "run" / "checkpoints")[1]["wall_time_s"]
    assert again["wall_time_s"] == first["wall_time_s"] == recorded
    assert again["peak_memory_mib"] == 1e9 and 0 < first["peak_memory_mib"] < 1e9
    with pytest.raises(ValueError, match="other settings"):
        training.train("vae_mlp256_mnist", tmp_path / "run", epochs=2, take=128, seed=5, verbose=0)
    # More epochs with the same settings continue the run: epoch 1 is not trained again.
    summary = training.train("vae_mlp256_mnist", tmp_path / "run", epochs=2, take=128, verbose=0, export=False)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == 2 and summary["final"]["loss"] == history["loss"][1]
    assert checkpoint.latest(tmp_path / "run" / "checkpoints")[1]["step"] == 4


def test_init_from_continues_a_trained_model_as_one_longer_run_would(tmp_path, first):
    options = dict(take=128, verbose=0, export=False)
    whole = training.train("vae_mlp256_mnist", tmp_path / "whole", epochs=2, **options)
    # A shipped-style folder: model.keras only, no history or checkpoints.
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "model.keras").write_bytes((tmp_path / "first" / "model.keras").read_bytes())
    continued = training.train("vae_mlp256_mnist", tmp_path / "continued", epochs=2,
                               init_from=str(tmp_path / "shipped"), **options)
    assert continued["steps"] == whole["steps"] == 4
    # The same data batches and noise from step 2 on: the weights of one 2-epoch run.
    for a, b in zip(keras_weights(tmp_path / "continued" / "model.keras"),
                    keras_weights(tmp_path / "whole" / "model.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    history = json.loads((tmp_path / "continued" / "history.json").read_text())
    assert np.isnan(history["loss"][0]) and history["loss"][1] == continued["final"]["loss"]
    np.testing.assert_allclose(history["loss"][1], whole["final"]["loss"], rtol=1e-5)
    # From a run folder the history is carried over.
    from_run = training.train("vae_mlp256_mnist", tmp_path / "from_run", epochs=2, init_from=str(tmp_path / "first"),
                              **options)
    assert json.loads((tmp_path / "from_run" / "history.json").read_text())["loss"][0] == pytest.approx(
        json.loads((tmp_path / "first" / "history.json").read_text())["loss"][0])
    assert from_run["wall_time_s"] > json.loads((tmp_path / "first" / "summary.json").read_text())["wall_time_s"]


def test_init_from_refuses_a_model_it_cannot_continue(tmp_path, first):
    with pytest.raises(ValueError, match="ask for more --epochs"):
        training.train("vae_mlp256_mnist", tmp_path / "same", epochs=1, take=128, verbose=0,
                       init_from=str(tmp_path / "first"))
    with pytest.raises(ValueError, match="the preset and --set options it was trained with"):
        training.train("vae_mlp256_mnist", tmp_path / "other", epochs=2, take=128, verbose=0,
                       settings=["model.latent_dim=4"], init_from=str(tmp_path / "first"))
    model = keras.models.load_model(tmp_path / "first" / "model.keras", compile=False)
    model.save(tmp_path / "uncompiled.keras")
    with pytest.raises(ValueError, match="no optimizer state"):
        training.train("vae_mlp256_mnist", tmp_path / "none", epochs=2, take=128, verbose=0,
                       init_from=str(tmp_path / "uncompiled.keras"))


def test_new_optimizer_continues_the_weights_of_a_model_saved_without_its_optimizer(tmp_path, first):
    options = dict(take=128, verbose=0, export=False)
    # A shipped-style folder whose model was saved without optimizer state, beside the run's summary.
    (tmp_path / "bare").mkdir()
    keras.models.load_model(tmp_path / "first" / "model.keras", compile=False).save(tmp_path / "bare" / "model.keras")
    (tmp_path / "bare" / "summary.json").write_bytes((tmp_path / "first" / "summary.json").read_bytes())
    with pytest.raises(ValueError, match="add --new-optimizer"):
        training.train("vae_mlp256_mnist", tmp_path / "refused", epochs=2, init_from=str(tmp_path / "bare"), **options)
    with pytest.raises(ValueError, match="give init_from"):
        training.train("vae_mlp256_mnist", tmp_path / "alone", epochs=2, new_optimizer=True, **options)
    # With a learning rate of almost nothing the continued weights are the trained ones, not a new initialisation.
    still = training.train("vae_mlp256_mnist", tmp_path / "still", epochs=2, init_from=str(tmp_path / "bare"),
                           new_optimizer=True, settings=["optimizer.learning_rate=1e-12"], **options)
    assert still["steps"] == 4  # the step count goes on from the 2 trained steps
    for a, b in zip(keras_weights(tmp_path / "still" / "model.keras"),
                    keras_weights(tmp_path / "first" / "model.keras")):
        np.testing.assert_allclose(a, b, atol=1e-6)
    moved = training.train("vae_mlp256_mnist", tmp_path / "moved", epochs=2, init_from=str(tmp_path / "bare"),
                           new_optimizer=True, settings=["optimizer.learning_rate=1e-2"], **options)
    continued = keras.models.load_model(tmp_path / "moved" / "model.keras")
    # A new optimizer: it counts only this run's steps and has the learning rate asked for.
    assert int(continued.optimizer.iterations.numpy()) == 2 and moved["steps"] == 4
    assert float(continued.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
    assert not all(np.allclose(a, b) for a, b in zip(continued.get_weights(),
                                                     keras_weights(tmp_path / "first" / "model.keras")))
    # Not the replay of one longer run, so the command that made it keeps the continuation.
    assert moved["new_optimizer"] and training.reproducing_command(tmp_path / "moved").endswith(
        f"--set optimizer.learning_rate=0.01 --init-from {tmp_path / 'bare'} --new-optimizer "
        f"--out {tmp_path / 'moved'}")
    # A bare .keras file with nothing beside it that says how far it trained is refused.
    keras.models.load_model(tmp_path / "first" / "model.keras", compile=False).save(tmp_path / "lone.keras")
    with pytest.raises(ValueError, match="says how many steps it trained"):
        training.train("vae_mlp256_mnist", tmp_path / "lone", epochs=2, init_from=str(tmp_path / "lone.keras"),
                       new_optimizer=True, **options)


def test_init_from_continues_a_mixed_precision_model_in_float32(tmp_path):
    # A model trained in bfloat16 continues on a machine without fast bfloat16: same variables, float32 layers.
    options = dict(take=128, verbose=0, export=False)
    training.train("vae_mlp256_mnist", tmp_path / "bf16", epochs=1, precision="mixed_bfloat16", **options)
    trained = keras.models.load_model(tmp_path / "bf16" / "model.keras")
    assert training._archive_precision(tmp_path / "bf16" / "model.keras") == "mixed_bfloat16"
    converted = training._load_in_float32(tmp_path / "bf16" / "model.keras", "mixed_bfloat16", "float32", "x")
    assert {layer.dtype_policy.name for layer in converted._flatten_layers()} == {"float32"}
    assert int(converted.optimizer.iterations.numpy()) == 2
    for a, b in zip(trained.get_weights(), converted.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(trained.optimizer.variables, converted.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    summary = training.train("vae_mlp256_mnist", tmp_path / "float32", epochs=2, precision="float32",
                             init_from=str(tmp_path / "bf16"), **options)
    assert summary["steps"] == 4 and summary["precision"] == "float32"
    assert training._archive_precision(tmp_path / "float32" / "model.keras") == "float32"
    with pytest.raises(ValueError, match="continue it with --precision mixed_bfloat16"):
        training.train("vae_mlp256_mnist", tmp_path / "fp16", epochs=2, precision="mixed_float16",
                       init_from=str(tmp_path / "bf16"), **options)


# -- interruption and determinism in separate processes ---------------------------------------------


@pytest.mark.subprocess
@pytest.mark.parametrize("preset", [["--preset", "dcgan_fashion"],
                                    ["--preset", "diffusion_fashion", "--set", "model.design=unet_tiny"]],
                         ids=["dcgan_fashion", "diffusion_fashion"])
def test_kill_9_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path, preset):
    # 1,024 images in batches of 32: 32 steps an epoch; killed in the second epoch, after step 40.
    args = [*preset, "--take", "1024", "--batch-size", "32", "--epochs", "3",
            "--checkpoint-every", "10", "--deterministic", "--verbose", "0", "--no-export"]
    reference = subprocess.run(kzoo_train(*args, "--out", tmp_path / "reference"), env=ENV, capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run = tmp_path / "interrupted"
    process = subprocess.Popen(kzoo_train(*args, "--out", run), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    latest = run / "checkpoints" / "latest"
    deadline = time.time() + 300
    while not (latest.exists() and latest.read_text().strip() >= "ckpt-00000040") and time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    step = checkpoint.latest(run / "checkpoints")[1]["step"]
    assert 40 <= step < 96 and not (run / "summary.json").exists()

    resumed = subprocess.run(kzoo_train(*args, "--out", run), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for a, b in zip(keras_weights(run / "model.keras"), keras_weights(tmp_path / "reference" / "model.keras")):
        np.testing.assert_array_equal(a, b)
    history = json.loads((run / "history.json").read_text())
    assert len(history["d_loss" if "dcgan_fashion" in preset else "loss"]) == 3


@pytest.mark.subprocess
def test_deterministic_mode_gives_the_same_weights_twice(tmp_path):
    args = ["--preset", "vae_conv_mnist", "--take", "1024", "--epochs", "1", "--batch-size", "64",
            "--deterministic", "--seed", "3", "--verbose", "0", "--no-export"]
    for name in ("a", "b"):
        result = subprocess.run(kzoo_train(*args, "--out", tmp_path / name), env=ENV, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    a, b = keras_weights(tmp_path / "a" / "model.keras"), keras_weights(tmp_path / "b" / "model.keras")
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    initial = VAE.from_design("conv28", latent_dim=20, seed=3).get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(a, initial))


def test_peak_memory_without_proc(tmp_path):
    """Where /proc is missing (macOS, Windows), peak memory comes from `resource` or is None, and a run's summary
    never fails on it."""
    import resource
    from_proc = training.peak_memory_mib()
    fallback = training.peak_memory_mib(status_path=tmp_path / "no-proc")
    assert fallback == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, abs=0.1)
    assert abs(fallback - from_proc) <= 0.05 * from_proc  # both read this process's peak resident memory
    assert training.larger_peak(None, None) is None
    assert training.larger_peak(None, 3.0) == 3.0 and training.larger_peak(5.0, 3.0) == 5.0


def test_init_from_continues_a_vae_with_a_fitted_prior_and_fits_the_prior_again(tmp_path):
    # The mixture was fitted to the first run's codes; more training moves them, so the continued run fits anew.
    options = dict(take=128, verbose=0, export=False, settings=["latent_prior.components=2", "model.latent_dim=2"])
    training.train("vae_conv_gmm_mnist", tmp_path / "first", epochs=1, **options)
    first = keras.models.load_model(tmp_path / "first" / "model.keras")
    assert type(first.latent_prior).__name__ == "GaussianMixturePrior"
    continued = training.train("vae_conv_gmm_mnist", tmp_path / "continued", epochs=2,
                               init_from=str(tmp_path / "first"), **options)
    model = keras.models.load_model(tmp_path / "continued" / "model.keras")
    assert continued["steps"] == 2 and type(model.latent_prior).__name__ == "GaussianMixturePrior"
    assert not np.allclose(np.asarray(model.latent_prior.means), np.asarray(first.latent_prior.means))


def test_no_prior_leaves_the_presets_prior_unfitted_and_the_weights_the_same(tmp_path):
    # Fitting the prior comes after training: without it the weights are the same, the model samples N(0, I), and
    # the run's command says --no-prior so that it is reproduced as it was.
    options = dict(take=128, verbose=0, export=False, settings=["latent_prior.components=2", "model.latent_dim=2"])
    with_prior = training.train("vae_conv_gmm_mnist", tmp_path / "with", epochs=1, **options)
    without = training.train("vae_conv_gmm_mnist", tmp_path / "without", epochs=1, fit_prior=False, **options)
    fitted = keras.models.load_model(tmp_path / "with" / "model.keras")
    bare = keras.models.load_model(tmp_path / "without" / "model.keras")
    assert type(fitted.latent_prior).__name__ == "GaussianMixturePrior" and bare.latent_prior is None
    for network in ("encoder", "decoder"):
        for a, b in zip(getattr(fitted, network).get_weights(), getattr(bare, network).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert without["prior_skipped"] and "prior_skipped" not in with_prior
    assert training.reproducing_command(tmp_path / "without").endswith(f"--no-prior --out {tmp_path / 'without'}")
    assert "--no-prior" not in training.reproducing_command(tmp_path / "with")


@pytest.mark.slow  # about 60 s; the refusal and its message stay in the default suite (the test below)
def test_a_pinned_precision_resumes_wherever_auto_resolves_and_a_moved_folder_resumes(tmp_path, monkeypatch):
    """The diffusion recipe pins float32: a run begun where "auto" means mixed_bfloat16, copied to a machine where
    it means float32, resumes there, as one uninterrupted run would have trained."""
    import shutil
    options = dict(take=64, batch_size=32, verbose=0, export=False, settings=["model.design=unet_tiny"])
    monkeypatch.setenv("KZOO_AUTO_PRECISION", "mixed_bfloat16")
    training.train("diffusion_fashion", tmp_path / "here", epochs=1, **options)
    assert json.loads((tmp_path / "here" / "config.json").read_text())["precision"] == "float32"
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    monkeypatch.setenv("KZOO_AUTO_PRECISION", "float32")
    resumed = training.train("diffusion_fashion", tmp_path / "there", epochs=2, **options)
    assert resumed["steps"] == 4 and resumed["precision"] == "float32"
    whole = training.train("diffusion_fashion", tmp_path / "whole", epochs=2, **options)
    for a, b in zip(keras_weights(tmp_path / "there" / "model.keras"),
                    keras_weights(tmp_path / "whole" / "model.keras")):
        np.testing.assert_array_equal(a, b)
    assert whole["precision"] == "float32"


def test_a_run_that_cannot_resume_says_which_setting_differs_and_how_to_continue(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_AUTO_PRECISION", "mixed_bfloat16")
    first = training.train("vae_mlp256_mnist", tmp_path / "run", epochs=1, take=128, verbose=0, export=False)
    monkeypatch.setenv("KZOO_AUTO_PRECISION", "float32")
    with pytest.raises(ValueError, match=r"precision \('mixed_bfloat16' -> 'float32'\).* add --precision "
                                         r"mixed_bfloat16 to resume it here"):
        training.train("vae_mlp256_mnist", tmp_path / "run", epochs=2, take=128, verbose=0, export=False)
    summary = training.train("vae_mlp256_mnist", tmp_path / "run", epochs=2, take=128, verbose=0, export=False,
                             precision="mixed_bfloat16")
    assert summary["steps"] == 2 * first["steps"] and summary["precision"] == "mixed_bfloat16"
    monkeypatch.setenv("KZOO_AUTO_PRECISION", "float64")
    with pytest.raises(ValueError, match="KZOO_AUTO_PRECISION='float64': set it to float32 or mixed_bfloat16"):
        training.train("vae_mlp256_mnist", tmp_path / "other", epochs=1, take=128, verbose=0)
