"""tf.distribute: strategies by name, replica-count-independent training, multi-worker, precision."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import distribute, presets

SCRIPTS = pathlib.Path(__file__).parent / "scripts"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def test_bfloat16_support_rule():
    assert distribute.bfloat16_is_native({"avx512_bf16", "sse4_2"}, [])
    assert distribute.bfloat16_is_native({"amx_bf16"}, [])
    assert not distribute.bfloat16_is_native({"avx512f", "avx2"}, [])
    assert distribute.bfloat16_is_native(set(), [(8, 0), (9, 0)])
    assert not distribute.bfloat16_is_native({"avx512_bf16"}, [(8, 6), (7, 5)])  # one pre-Ampere GPU decides


def test_auto_precision_follows_this_machine():
    """The probe, not a stand-in: read this machine's CPU flags and GPUs independently and apply the rule."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(" ".join(line.split(":", 1)[1] for line in f if line.startswith("flags")).split())
    except OSError:
        flags = set()
    gpus = tf.config.list_physical_devices("GPU")
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) for g in gpus]
    native = all(tuple(c) >= (8, 0) for c in capabilities) if gpus else bool(flags & {"avx512_bf16", "amx_bf16"})
    assert distribute.resolve_precision("auto") == ("mixed_bfloat16" if native else "float32")
    # Results record it, so a figure measured in `auto` says which precision it trained in.
    from kzoo import results
    assert results.machine()["cpu_native_bfloat16"] == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert distribute.resolve_precision("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="precision must be one of"):
        distribute.resolve_precision("int8")


def test_strategies_by_name():
    gpus = len(tf.config.list_physical_devices("GPU"))
    assert distribute.get_strategy("auto").num_replicas_in_sync == max(gpus, 1)
    assert isinstance(distribute.get_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    assert distribute.global_batch_size(32, distribute.get_strategy("default")) == 32
    with pytest.raises(ValueError, match="unknown strategy"):
        distribute.get_strategy("horovod")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker")


def test_chief_is_worker_0_unless_there_is_a_chief_task(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.is_chief()
    cluster = {"worker": ["a:1", "b:1"]}
    for index, expected in ((0, True), (1, False)):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        assert distribute.is_chief() is expected
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": dict(cluster, chief=["c:1"]),
                                                "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_chief()


@pytest.mark.subprocess
def test_k_mirrored_steps_equal_k_one_device_steps():
    """3 steps on 2 logical CPUs under MirroredStrategy vs 3 steps on one device, same global batch and seeds."""
    cases = ["vae_conv_fashion:plain", "dcgan_fashion:sync", "wgan_gp_fashion:sync", "dcgan_ema_mnist:sync",
             "dcgan_fashion:plain", "ddim_fashion:plain"]
    # On TensorFlow's own kernels: oneDNN (on by default with kzoo) picks its convolution algorithm by batch size,
    # so each replica's half batch rounds otherwise than the whole batch on one device, and 3 GAN steps grow that
    # to 1e-3. The equivalence checked here is of the arithmetic (which examples, which scaling), not the kernels.
    result = subprocess.run([sys.executable, str(SCRIPTS / "mirrored_equivalence.py"), *cases],
                            env=dict(ENV, TF_ENABLE_ONEDNN_OPTS="0"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {(r["preset"], r["sync_batch_norm"]): r for r in map(json.loads, result.stdout.strip().splitlines())}
    # The averaged generator's (and denoiser's) weights are among the compared ones; the diffusion model's group
    # norm is per image, so it needs no synchronisation.
    for key in [("vae_conv_fashion", False), ("dcgan_fashion", True), ("wgan_gp_fashion", True),
                ("dcgan_ema_mnist", True), ("ddim_fashion", False)]:
        row = rows[key]
        assert row["steps"] == [3, 3]
        # Equal up to float summation order; the weights moved 100x-10,000x more than that.
        assert row["max_abs_diff"] < 5e-5 and row["max_abs_diff"] < row["moved"] / 1000, row
    # Per-replica batch-norm statistics make the plain DCGAN differ by design (synchronised: 1000x closer).
    plain, synced = rows[("dcgan_fashion", False)], rows[("dcgan_fashion", True)]
    assert plain["max_abs_diff"] > 100 * synced["max_abs_diff"]


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.subprocess
def test_two_workers_on_localhost_train_like_one_device(tmp_path):
    # float32: the equivalence is exact up to float32 summation order (bfloat16 rounds each replica's share).
    args = [sys.executable, "-m", "kzoo", "train", "--preset", "vae_conv_mnist", "--take", "1024", "--epochs", "2",
            "--batch-size", "64", "--verbose", "2", "--precision", "float32"]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(args + ["--strategy", "multi_worker", "--out", str(tmp_path / "cluster")],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert "kzoo: run written to" in logs[0] and "the chief writes the run folder" in logs[1]
    assert "Epoch 2/2" in logs[1] and "16/16" in logs[1]  # 1024 images, global batch 64, both workers

    run = tmp_path / "cluster"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 32
    assert (run / "checkpoints" / "ckpt-00000032" / "model.keras").exists() and (run / "saved_model").exists()

    single = subprocess.run(args + ["--strategy", "default", "--no-export", "--out", str(tmp_path / "one")],
                            env=ENV, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    a = keras.models.load_model(run / "model.keras").get_weights()
    b = keras.models.load_model(tmp_path / "one" / "model.keras").get_weights()
    assert max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)) < 5e-5


# bfloat16 is emulated on CPUs without AVX-512 (where `auto` picks float32): slow, and under the slow marker.
@pytest.mark.parametrize("precision", [pytest.param("mixed_bfloat16", marks=pytest.mark.slow), "mixed_float16"])
def test_mixed_precision_computes_in_low_precision_with_float32_losses(precision):
    preset = presets.get("wgan_gp_fashion", batch_size=8)
    previous = keras.config.dtype_policy()
    try:
        distribute.set_precision(precision)
        model = presets.build_model(preset, image_shape=(28, 28, 1), seed=0)
    finally:
        keras.config.set_dtype_policy(previous)
    compute = precision.split("_")[1]
    assert model.generator.layers[-1].compute_dtype == compute
    assert model.generator.layers[-1].kernel.dtype == "float32"
    scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer) for o in (model.d_optimizer, model.optimizer)]
    assert scaled == ([True, True] if compute == "float16" else [False, False])
    images = np.random.default_rng(0).uniform(-1, 1, (5 * 8, 28, 28, 1)).astype("float32")
    logs = model.fit(images, batch_size=40, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert model.generate(np.zeros((2, 100), "float32")).dtype == "float32"
