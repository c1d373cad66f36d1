"""Training steps compiled with XLA against the same steps without it, per family, on this CPU.

    python benchmarks/xla.py [--presets vae_conv_fashion,dcgan_ema_fashion,...] [--steps 4] [--rounds 2]

On one GPU, Keras compiles `train_step` with XLA by default; on a CPU it does not. This measures what XLA does to
each family's step here: for each preset it builds the model twice (float32, the preset's batch of random images),
`jit_compile=False` and `True`, times the first `fit` step (tracing plus, with XLA, compilation) and then `--steps`
steps. Rounds alternate the two in one process, so the machine's ups and downs hit both alike; the ratio is of the
summed step times. Writes results/benchmark_xla.json.
"""

import argparse
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
FAMILIES = {"vae_conv_fashion": "VAE", "cvae_conv_fashion": "conditional VAE", "critic_vae_mnist": "critic VAE",
            "dcgan_ema_fashion": "GAN (non-saturating, averaged generator)",
            "wgan_gp_fashion": "WGAN-GP (5 critic steps)", "cdcgan_fashion": "conditional GAN (projection)",
            "diffusion_fashion": "diffusion (unet28)"}


def measure(preset_name, jit_compile, steps):
    import numpy as np
    import tensorflow as tf

    from kzoo import presets
    preset = presets.get(preset_name)
    conditional = preset["model"].get("num_classes") is not None
    model = presets.build_model(preset, (28, 28, 1), seed=0,
                                label_distribution=[0.1] * 10 if conditional else None)
    model.jit_compile = jit_compile
    batch = presets.pipeline_batch_size(preset)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (batch * (steps + 1), 28, 28, 1)).astype("float32")
    labels = (np.arange(len(images)) % 10).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((images, labels) if conditional else images).batch(batch).cache()
    for _ in data:  # fill the cache, so neither timing reads the arrays
        pass
    start = time.perf_counter()
    model.fit(data.take(1), epochs=1, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(data.skip(1), epochs=1, verbose=0)
    return {"first_step_seconds": first, "seconds_per_step": (time.perf_counter() - start) / steps,
            "images_per_step": batch}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="vae_conv_fashion,critic_vae_mnist,dcgan_ema_fashion,wgan_gp_fashion,"
                                              "diffusion_fashion")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(HERE.parent / "results"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from kzoo import distribute
    from kzoo import results as kresults
    distribute.set_precision("float32")
    rows = {}
    started = time.perf_counter()
    for preset in args.presets.split(","):
        times = {"xla": [], "plain": []}
        first = {"xla": [], "plain": []}
        for _ in range(args.rounds):
            for name, flag in (("xla", True), ("plain", False)):
                result = measure(preset, flag, args.steps)
                times[name].append(result["seconds_per_step"])
                first[name].append(result["first_step_seconds"])
        batch = result["images_per_step"]
        xla, plain = sum(times["xla"]), sum(times["plain"])
        rows[preset] = {"family": FAMILIES.get(preset, preset), "images_per_step": batch,
                        "xla_images_per_s": round(batch * args.rounds / xla, 2),
                        "plain_images_per_s": round(batch * args.rounds / plain, 2),
                        "speedup": round(plain / xla, 3),
                        "round_speedups": [round(b / a, 3) for a, b in zip(times["xla"], times["plain"])],
                        "first_step_seconds": {k: round(statistics.median(v), 2) for k, v in first.items()}}
        print(preset, rows[preset], flush=True)
    command = " ".join(["python benchmarks/xla.py"] + (argv if argv is not None else sys.argv[1:]))
    path = kresults.write(args.out, "benchmark_xla", "benchmark", kresults.protocol(
        command=command, precision="float32", steps=args.steps, rounds=args.rounds,
        wall_time_seconds=round(time.perf_counter() - started, 1),
        data="random images of the preset's shape (28x28x1), the preset's batch (a GAN's n_critic batches per step)",
        reference="the same model and step with jit_compile=False, in the same process, rounds alternating"),
        {"presets": rows})
    print(f"written {path}")


if __name__ == "__main__":
    main()
