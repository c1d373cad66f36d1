"""Training throughput with TensorFlow's oneDNN kernels on and off, per preset, on this CPU.

    python benchmarks/onednn.py [--presets diffusion_fashion,dcgan_fashion] [--steps 8] [--rounds 2]

TensorFlow turns oneDNN on by default only on CPUs with AVX-512 VNNI / bfloat16 or AMX; `import kzoo` turns it on
everywhere (`TF_ENABLE_ONEDNN_OPTS=1` unless set). The switch is read when TensorFlow is imported, so each
measurement is a child process: it builds the preset's model (float32, the preset's batch), fits 2 warm-up steps
(tracing), then times `--steps` steps of random images. Rounds alternate on / off, so the machine's ups and downs
hit both alike; the ratio is of the summed times. Writes results/benchmark_onednn.json.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
import numpy as np, tensorflow as tf
from kzoo import presets
name, steps = sys.argv[1], int(sys.argv[2])
preset = presets.get(name)
shape = (64, 64, 3) if preset["dataset"] == "emoji" else (28, 28, 1)
model = presets.build_model(preset, shape, seed=0)
batch = presets.pipeline_batch_size(preset)
images = np.random.default_rng(0).uniform(-1, 1, (batch * (steps + 2),) + shape).astype("float32")
data = tf.data.Dataset.from_tensor_slices(images).batch(batch)
model.fit(data.take(2), epochs=1, verbose=0)
start = time.perf_counter()
model.fit(data.skip(2), epochs=1, verbose=0)
print(json.dumps({"seconds_per_step": (time.perf_counter() - start) / steps, "images_per_step": batch}))
"""


def measure(preset, steps, onednn):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0", TF_CPP_MIN_LOG_LEVEL="3",
               KZOO_AUTO_PRECISION="float32")
    done = subprocess.run([sys.executable, "-c", CHILD, preset, str(steps)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="diffusion_fashion,dcgan_fashion")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(HERE.parent / "results"))
    args = parser.parse_args(argv)
    from kzoo import results as kresults
    rows = {}
    for preset in args.presets.split(","):
        times = {"on": [], "off": []}
        for _ in range(args.rounds):
            for name, flag in (("on", True), ("off", False)):
                result = measure(preset, args.steps, flag)
                times[name].append(result["seconds_per_step"])
        batch = result["images_per_step"]
        on, off = sum(times["on"]), sum(times["off"])
        rows[preset] = {"images_per_step": batch,
                        "onednn_images_per_s": round(batch * args.rounds / on, 2),
                        "default_images_per_s": round(batch * args.rounds / off, 2),
                        "ratio": round(off / on, 3),
                        "round_ratios": [round(b / a, 3) for a, b in zip(times["on"], times["off"])],
                        "median_seconds_per_step": {k: round(statistics.median(v), 3) for k, v in times.items()}}
        print(preset, rows[preset], flush=True)
    command = " ".join(["python benchmarks/onednn.py"] + (argv if argv is not None else sys.argv[1:]))
    path = kresults.write(args.out, "benchmark_onednn", "benchmark", kresults.protocol(
        command=command, precision="float32", steps=args.steps, rounds=args.rounds,
        data="random images of the preset's shape, the preset's batch (a GAN's n_critic batches per step)",
        reference="the same training step in a child process with TF_ENABLE_ONEDNN_OPTS=0 (TensorFlow's default "
                  "on CPUs without AVX-512 VNNI / bfloat16 or AMX)"), {"presets": rows})
    print(f"written {path}")


if __name__ == "__main__":
    main()
