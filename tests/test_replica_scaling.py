import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from kzoo.losses import LOSS_PAIRS, scale_for_replicas
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    with strategy.scope():
        w = tf.Variable(rng.normal(size=(3, 1)).astype("float32"))
    def grads(pair, r, f):
        with tf.GradientTape() as tape:
            loss = pair.discriminator(r @ w, f @ w) + pair.generator(f @ w)
            scaled = scale_for_replicas(loss)
        return tape.gradient(scaled, w)
    for name, pair in LOSS_PAIRS.items():
        single = grads(pair, real, fake).numpy()
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices((real, fake)).batch(8))
        r, f = next(iter(dataset))
        per_replica = strategy.run(lambda r, f: grads(pair, r, f), args=(r, f))
        summed = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
        assert np.allclose(summed, single, rtol=1e-5, atol=1e-6), (name, summed, single)
    print("ok", strategy.num_replicas_in_sync)
""")


def test_loss_pairs_scaled_per_replica_sum_to_the_global_batch_gradient():
    """Optimizers sum replica gradients: each pair's batch mean divided by the replica count must add up
    to the one-device gradient of the global batch (2 logical CPU devices, 4 examples each)."""
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok 2")
