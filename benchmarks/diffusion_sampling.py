"""Sampling throughput of kzoo's compiled DDIM loop against a keras.io-style loop (one Python-level network call
per step), on the same network in the same process.

    python benchmarks/diffusion_sampling.py [--design unet28] [--steps 50] [--batches 16,64] [--rounds 5]

Both sample `--steps` DDIM steps (eta 0) from the same noise with the same network (the `diffusion_fashion` U-Net,
v-prediction, its output layer given random weights so the images are not trivially equal); the images must agree
to 1e-3 on any machine. (Under noise prediction the top step divides by sqrt(alpha_bar_T) = 4.9e-5, which turns
float32 rounding into differences of up to 0.2 on some CPUs; v-prediction's x_0 = sqrt(ab) x - sqrt(1 - ab) v
divides by nothing, so the check stays meaningful.) Rounds
alternate between the two, so the machine's ups and downs hit both alike; throughput is images over the time of
all rounds, after a warm-up call each (tracing). Writes results/benchmark_diffusion_sampling.json.
"""

import argparse
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--design", default="unet28")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(HERE.parent / "results"))
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    sys.path.insert(0, str(HERE))
    from reference_keras_io import keras_io_ddim_sample

    from kzoo import results as kresults
    from kzoo.models import DiffusionModel
    from kzoo.networks import build_diffusion_network
    keras.utils.set_random_seed(0)
    shape = (64, 64, 3) if args.design == "unet64" else (28, 28, 1)
    network = build_diffusion_network(args.design, shape)
    output = network.get_layer("prediction")
    output.kernel.assign(np.random.default_rng(0).normal(0, 0.02, output.kernel.shape).astype("float32"))
    model = DiffusionModel(network, prediction="v", ema=None, seed=0, sampling_steps=args.steps, sampler="ddim")
    alpha_bars = model.schedule.alpha_bars()
    rows = {}
    for batch in map(int, args.batches.split(",")):
        z = np.random.default_rng(batch).standard_normal((batch, *shape)).astype(np.float32)
        compiled = lambda z=z: np.asarray(model.generate(z, steps=args.steps))
        eager = lambda z=z: np.asarray(keras_io_ddim_sample(network, alpha_bars, z, args.steps, prediction="v"))
        difference = float(np.max(np.abs(compiled() - eager())))  # also the warm-up of both
        assert difference < 1e-3, f"the two loops disagree by {difference}"
        times = {"kzoo": [], "reference": []}
        for _ in range(args.rounds):
            for name, fn in (("kzoo", compiled), ("reference", eager)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        kzoo_ips = batch * args.rounds / sum(times["kzoo"])
        reference_ips = batch * args.rounds / sum(times["reference"])
        round_ratios = sorted(r / k for k, r in zip(times["kzoo"], times["reference"]))
        rows[str(batch)] = {"kzoo_images_per_s": round(kzoo_ips, 2), "reference_images_per_s": round(reference_ips, 2),
                            "ratio": round(kzoo_ips / reference_ips, 3),
                            "round_ratio_min_median_max": [round(round_ratios[0], 3),
                                                           round(statistics.median(round_ratios), 3),
                                                           round(round_ratios[-1], 3)],
                            "max_abs_image_difference": difference}
        print(batch, rows[str(batch)], flush=True)
    command = " ".join(["python benchmarks/diffusion_sampling.py"] + (argv if argv is not None else sys.argv[1:]))
    path = kresults.write(args.out, "benchmark_diffusion_sampling", "benchmark", kresults.protocol(
        command=command, network=f"{args.design} ({network.count_params():,} parameters, random weights)",
        sampler=f"DDIM, {args.steps} steps, eta 0, v-prediction, x0 clipped", precision="float32", rounds=args.rounds,
        reference="benchmarks/reference_keras_io.py keras_io_ddim_sample: a Python loop, one eager network call per "
                  "step (keras.io ddim.py reverse_diffusion)"), {"batches": rows})
    print(f"written {path}")


if __name__ == "__main__":
    main()
