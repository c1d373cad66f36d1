"""k training steps under MirroredStrategy on 2 logical CPUs vs on one device, same global batch and seeds.

Prints one JSON line per case: the largest absolute weight difference after the steps. Run as a script: the
logical devices must be configured before TensorFlow starts.
"""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from kzoo import datasets, distribute, presets  # noqa: E402

STEPS = 3


def run(strategy, preset, initial, sync_batch_norm):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = presets.build_model(preset, image_shape=(28, 28, 1), seed=7, sync_batch_norm=sync_batch_norm)
    model.set_weights(initial)
    stream, _ = datasets.training_stream(preset["dataset"], presets.pipeline_batch_size(preset),
                                         preset["pixel_range"], seed=3, take=1024)
    model.fit(stream, epochs=1, steps_per_epoch=STEPS, verbose=0)
    return model.get_weights(), int(model.optimizer.iterations.numpy())


def main(cases):
    mirrored = distribute.get_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    one = distribute.get_strategy("one_device", ["/cpu:0"])
    assert mirrored.num_replicas_in_sync == 2
    for name, sync in cases:
        preset = presets.get(name, batch_size=16)
        keras.utils.set_random_seed(0)
        initial = presets.build_model(preset, image_shape=(28, 28, 1), seed=7).get_weights()
        single, steps_single = run(one, preset, initial, sync)
        multi, steps_multi = run(mirrored, preset, initial, sync)
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single, initial))
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single, multi))
        print(json.dumps({"preset": name, "sync_batch_norm": sync, "max_abs_diff": diff, "moved": moved,
                          "steps": [steps_single, steps_multi]}), flush=True)


if __name__ == "__main__":
    main([(name, sync == "sync") for name, sync in (arg.split(":") for arg in sys.argv[1:])])
