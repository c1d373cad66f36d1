"""Choosing a `tf.distribute` strategy, the global batch, precision, synchronised batch norm, determinism.

`get_strategy("auto")` uses every visible GPU with `MirroredStrategy` (one GPU: `OneDeviceStrategy`), else the
default strategy. Build and compile models inside `strategy.scope()`; `fit` then splits each global batch
between the replicas. kzoo's models divide their losses by the replica count and draw replica-independent
noise (`kzoo.noise.StepNoise`), so k steps on n replicas equal k steps on one device with the same global batch
(tested on 2 logical CPUs), except where batch normalisation computes per-replica statistics: use
`synchronize_batch_norm(model)` (`presets.build_model(..., sync_batch_norm=True)`, `kzoo train
--sync-batch-norm`) to remove that.

Across machines (`multi_worker`), every worker runs the same command with its own `TF_CONFIG`, e.g. on two hosts:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    kzoo train --preset dcgan_fashion --strategy multi_worker --out runs/dcgan   # index 1 on host2

Worker 0 is the chief: only it writes checkpoints, figures and exports (`is_chief`); the others write the same
files to a temporary folder, since saving reads synchronised variables and every worker must take part.
"""

import json
import os

import tensorflow as tf

from kzoo.config import NATIVE_BFLOAT16_CPU_FLAGS, PRECISIONS, STRATEGIES, cpu_flags


def get_strategy(name="auto", devices=None):
    """A `tf.distribute.Strategy` by name.

    - ``auto``: `MirroredStrategy` over all GPUs when there are several, `OneDeviceStrategy` on one GPU, else the
      default strategy (one CPU device).
    - ``default``: `tf.distribute.get_strategy()` (no distribution).
    - ``one_device``: `OneDeviceStrategy` on ``devices[0]`` (default: the first GPU, else the CPU).
    - ``mirrored``: `MirroredStrategy(devices)` (default: every GPU, else every logical CPU).
    - ``multi_worker``: `MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment variable; it must
      be created before TensorFlow runs anything in the process (so call this first).
    - ``tpu``: `TPUStrategy` on the TPU found by `TPUClusterResolver`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    if name == "multi_worker":  # before anything initialises TensorFlow's context (listing devices does)
        if "TF_CONFIG" not in os.environ:
            raise ValueError("the multi_worker strategy needs a TF_CONFIG environment variable describing the "
                             "cluster and this worker's task; see the docstring of kzoo.distribute.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy(gpus)
        return tf.distribute.OneDeviceStrategy(gpus[0]) if gpus else tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = (devices or gpus or [d.name for d in tf.config.list_logical_devices("CPU")])[0]
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices or gpus or
                                              [d.name for d in tf.config.list_logical_devices("CPU")])
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as error:
        raise ValueError(f"strategy 'tpu': no TPU found ({error}). Run on a TPU host or choose another strategy.") \
            from error
    return tf.distribute.TPUStrategy(resolver)


def global_batch_size(per_replica_batch, strategy):
    """The batch `fit` should receive so that each replica gets `per_replica_batch` examples."""
    return int(per_replica_batch) * strategy.num_replicas_in_sync


def is_chief(strategy=None):
    """Whether this process should write files: always, except on the non-chief workers of a multi-worker
    cluster (chief = the task of type `chief`, or worker 0 when there is none)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and not has_chief


def bfloat16_is_native(cpu_flags, gpu_compute_capabilities):
    """Whether hardware with these CPU flags and GPUs (a list of compute capabilities, empty for none) computes
    bfloat16 natively: every GPU of compute capability 8.0 or more (Ampere and later), or, without GPUs, a CPU with
    AVX512_BF16 or AMX."""
    if gpu_compute_capabilities:
        return all(tuple(c) >= (8, 0) for c in gpu_compute_capabilities)
    return bool(set(cpu_flags) & NATIVE_BFLOAT16_CPU_FLAGS)


def native_bfloat16():
    """`bfloat16_is_native` for this machine: its visible GPUs' compute capabilities and its CPU's flags."""
    capabilities = [tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)))
                    for gpu in tf.config.list_physical_devices("GPU")]
    return bfloat16_is_native(cpu_flags(), capabilities)


# Makes "auto" resolve as on another machine (float32 or mixed_bfloat16): for tests and for reproducing a run.
AUTO_PRECISION_VARIABLE = "KZOO_AUTO_PRECISION"


def resolve_precision(precision):
    """``auto`` -> ``mixed_bfloat16`` where the hardware has native bfloat16, else ``float32``: on this
        project's CPU it trains faster (docs/benchmarks.md); without native support it is emulated and slower. Whether
    it changes quality more than the seed does is measured in results/precision_quality.json."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "auto":
        forced = os.environ.get(AUTO_PRECISION_VARIABLE)
        if forced:
            if forced not in ("float32", "mixed_bfloat16"):
                raise ValueError(f"{AUTO_PRECISION_VARIABLE}={forced!r}: set it to float32 or mixed_bfloat16 (what "
                                 "precision 'auto' resolves to), or unset it.")
            return forced
        return "mixed_bfloat16" if native_bfloat16() else "float32"
    return precision


def set_precision(precision):
    """Set Keras' global dtype policy (call before building models); returns the policy name.

    ``auto`` (see `resolve_precision`); ``float32``; ``mixed_bfloat16`` (bfloat16 compute, float32 variables:
    no loss scaling needed); ``mixed_float16`` (float16 compute; kzoo's optimizers then use dynamic loss
    scaling; for GPUs: CPUs have no fast float16 kernels). Losses, penalties and the models' outputs are
    computed in float32 whatever the policy.
    """
    import keras
    precision = resolve_precision(precision)
    keras.mixed_precision.set_dtype_policy(precision)
    return precision


def enable_determinism(seed):
    """Same seed, same weights: seed Python, NumPy and Keras, and make TensorFlow's kernels deterministic
    (which also turns XLA off)."""
    import keras
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def synchronize_batch_norm(model):
    """A copy of functional `model` (same weights) whose batch-normalisation layers compute their statistics over
    the global batch (`synchronized=True`) instead of each replica's share of it.

    Per-replica statistics are the reason a batch-normalised network trained on n replicas differs from one
    device with the same global batch; synchronised statistics cost one all-reduce per layer and step.
    """
    import keras

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["synchronized"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def step_logs(metrics):
    """`{name: result}` of a `train_step`/`test_step`.

    Under a multi-worker `MultiWorkerMirroredStrategy`, Keras 3 reduces the logs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars (tensorflow/tensorflow#72388); there each
    value is returned as shape `[1]`, which that reduction turns back into the cross-worker scalar mean.
    """
    logs = {m.name: m.result() for m in metrics}
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode():
        logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs
