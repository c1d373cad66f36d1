"""Training throughput and memory of kzoo's default configuration against plain keras.io-style references.

    python benchmarks/training_throughput.py [--rounds 12]

For each model (28x28 DCGAN, WGAN-GP, conv VAE and, with `--models diffusion`, the `ddim_fashion` U-Net on
Fashion-MNIST) both implementations are built in one process:
kzoo (`presets.build_model` + `datasets.training_stream` + `fit` at the default precision, exactly what
`kzoo train` runs) and the reference (`benchmarks/reference_keras_io.py`, float32). After a warm-up, they train
in alternating bursts of `--steps` steps for `--rounds` rounds, so the machine's ups and downs (large on a
shared 2-core VM) hit both alike; throughput is the images of all bursts over their time, and the ratio's spread
is shown by the ratios of single rounds. Images/s counts the real images the critic or encoder sees (WGAN-GP:
n_critic x batch per generator step, for both). Peak memory (resident set) is measured separately, each
implementation alone in a fresh process. `--variant` measures other kzoo settings (precision).
Writes results/NAME.json (`--name`, default benchmark_training_throughput) and prints a Markdown table.
"""

import argparse
import json
import pathlib
import shlex
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
MODELS = {"dcgan": "dcgan_fashion", "wgan_gp": "wgan_gp_fashion", "vae": "vae_conv_fashion",
          "diffusion": "ddim_fashion"}
# Steps per burst: about one second each, so the per-`fit` set-up (both implementations have one) stays small.
BURST_STEPS = {"dcgan": 8, "wgan_gp": 3, "vae": 40, "diffusion": 1}


def build_reference(model_name, preset):
    import keras
    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, str(HERE))
    import reference_keras_io as ref

    from kzoo import datasets, presets
    from kzoo.networks import build_gan_networks, build_vae_networks
    images = datasets.load_arrays("fashion_mnist", "train").images
    batch = preset["batch_size"]
    if model_name == "vae":
        encoder, decoder = build_vae_networks("conv28", 20)
        model = ref.KerasIoVAE(encoder, decoder)
        model.compile(optimizer=keras.optimizers.Adam())
        data = images.astype("float32") / 255.0
        return model, lambda steps: model.fit(data[: steps * batch], batch_size=batch, epochs=1, verbose=0), batch
    if model_name == "diffusion":
        from kzoo.models import schedules
        from kzoo.networks import build_diffusion_network
        settings = preset["model"]
        network, averaged = (build_diffusion_network(settings["design"], (28, 28, 1)) for _ in range(2))
        averaged.set_weights(network.get_weights())
        schedule = schedules.get(settings["schedule"], timesteps=settings["timesteps"])
        model = ref.KerasIoDiffusion(network, averaged, np.asarray(schedule.alpha_bars()),
                                     ema=settings["ema"])
        model.compile(optimizer=presets.make_optimizer(preset["optimizer"]))
        data = (images.astype("float32") - 127.5) / 127.5
        return model, lambda steps: model.fit(data[: steps * batch], batch_size=batch, epochs=1, verbose=0), batch
    generator, discriminator = build_gan_networks("dcgan28", 100, (28, 28, 1), **preset["model"]["discriminator"])
    data = (images.astype("float32") - 127.5) / 127.5
    if model_name == "dcgan":
        model = ref.KerasIoGAN(discriminator, generator, 100)
        model.compile(d_optimizer=presets.make_optimizer(preset["optimizer"]["d"]),
                      g_optimizer=presets.make_optimizer(preset["optimizer"]["g"]),
                      loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
        dataset = tf.data.Dataset.from_tensor_slices(data).shuffle(buffer_size=1024).batch(batch).repeat()
        return model, lambda steps: model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0), batch
    model = ref.KerasIoWGANGP(discriminator, generator, 100, discriminator_extra_steps=5)
    model.compile(d_optimizer=presets.make_optimizer(preset["optimizer"]["d"]),
                  g_optimizer=presets.make_optimizer(preset["optimizer"]["g"]),
                  d_loss_fn=ref.discriminator_loss, g_loss_fn=ref.generator_loss)
    # One generator step = 5 critic updates on the step's batch: 5 x batch critic images, as for kzoo.
    del np
    return model, lambda steps: model.fit(data[: steps * batch], batch_size=batch, epochs=1, verbose=0), 5 * batch


def build_kzoo(model_name, preset, variant):
    import keras

    from kzoo import datasets, distribute, presets
    from kzoo.config import DEFAULT_PRECISION
    distribute.set_precision(variant.get("precision", DEFAULT_PRECISION))  # kzoo train's default: "auto"
    model = presets.build_model(preset, image_shape=(28, 28, 1), seed=0)
    if "jit_compile" in variant:
        model.jit_compile = variant["jit_compile"]
    images_per_step = presets.pipeline_batch_size(preset)
    stream, _ = datasets.training_stream("fashion_mnist", images_per_step, preset["pixel_range"], seed=0)
    del keras
    return model, lambda steps: model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0), images_per_step


def memory_worker(model_name, implementation, variant):
    """Peak resident memory of one implementation alone, after a few training steps (prints MiB)."""
    from kzoo import presets
    preset = presets.get(MODELS[model_name])
    fit = (build_reference(model_name, preset) if implementation == "reference"
           else build_kzoo(model_name, preset, variant))[1]
    fit(5)
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's (the benchmark process) on Linux.
    from kzoo.training import peak_memory_mib
    print(json.dumps({"peak_rss_mib": peak_memory_mib()}))


def peak_memory(model_name, implementation, variant):
    command = [sys.executable, __file__, "--memory-worker", model_name, implementation, "--variant",
               json.dumps(variant)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def interleaved(model_name, rounds, steps, variant):
    """Images/s of kzoo and the reference, trained in alternating bursts in this process."""
    import keras

    from kzoo import presets
    preset = presets.get(MODELS[model_name])
    keras.config.set_dtype_policy("float32")
    _, reference_fit, reference_images = build_reference(model_name, preset)
    _, kzoo_fit, kzoo_images = build_kzoo(model_name, preset, variant)  # sets kzoo's precision
    keras.config.set_dtype_policy("float32")
    for fit in (kzoo_fit, reference_fit):
        fit(3)  # tracing, kernel selection
    seconds = {"kzoo": [], "reference": []}
    for _ in range(rounds):
        for name, fit in (("kzoo", kzoo_fit), ("reference", reference_fit)):
            start = time.perf_counter()
            fit(steps)
            seconds[name].append(time.perf_counter() - start)
    kzoo_ips = rounds * steps * kzoo_images / sum(seconds["kzoo"])
    reference_ips = rounds * steps * reference_images / sum(seconds["reference"])
    round_ratios = sorted((kzoo_images / k) / (reference_images / r) for k, r in zip(seconds["kzoo"],
                                                                                     seconds["reference"]))
    return {"kzoo_images_per_s": round(kzoo_ips, 1), "reference_images_per_s": round(reference_ips, 1),
            "ratio": round(kzoo_ips / reference_ips, 2),
            "round_ratio_quartiles": [round(statistics.quantiles(round_ratios, n=4)[i], 2) for i in range(3)]}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, help="steps per burst (default: about 1 s of training per model)")
    parser.add_argument("--models", default="dcgan,wgan_gp,vae")
    parser.add_argument("--variant", default="{}", help='kzoo settings, e.g. \'{"precision": "float32"}\'')
    parser.add_argument("--memory-worker", nargs=2, metavar=("MODEL", "IMPLEMENTATION"))
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", default=str(HERE.parent / "results"), help="folder of the result file")
    parser.add_argument("--name", default="benchmark_training_throughput", help="name of the result file")
    args = parser.parse_args(argv)
    variant = json.loads(args.variant)
    if args.memory_worker:
        return memory_worker(*args.memory_worker, variant)

    import keras
    import tensorflow as tf

    from kzoo import distribute
    from kzoo.config import DEFAULT_PRECISION
    results = {"tensorflow": tf.__version__, "keras": keras.__version__, "rounds": args.rounds, "steps": args.steps,
               "variant": variant, "kzoo_precision": distribute.resolve_precision(
                   variant.get("precision", DEFAULT_PRECISION)),
               "command": shlex.join(["python", "benchmarks/training_throughput.py"] + (argv or sys.argv[1:])),
               "models": {}}
    rows = ["| model | kzoo images/s | reference images/s | ratio | ratio of single rounds (quartiles) | "
            "kzoo peak MiB | reference peak MiB |", "|---|---|---|---|---|---|---|"]
    for model_name in args.models.split(","):
        row = interleaved(model_name, args.rounds, args.steps or BURST_STEPS[model_name], variant)
        if not args.no_memory:
            row["kzoo_peak_rss_mib"] = peak_memory(model_name, "kzoo", variant)
            row["reference_peak_rss_mib"] = peak_memory(model_name, "reference", variant)
        if model_name == "diffusion":  # what an epoch of the preset costs at this rate
            from kzoo import datasets, presets
            row["epoch_images"] = len(datasets.load_arrays("fashion_mnist", "train").images)
            row["preset_epochs"] = presets.get(MODELS[model_name])["epochs"]
        results["models"][model_name] = row
        print(model_name, json.dumps(row), flush=True)
        rows.append(f"| {model_name} | {row['kzoo_images_per_s']} | {row['reference_images_per_s']} | "
                    f"{row['ratio']} | {' / '.join(map(str, row['round_ratio_quartiles']))} | "
                    f"{row.get('kzoo_peak_rss_mib', '')} | {row.get('reference_peak_rss_mib', '')} |")
    print("\n".join(rows))
    from kzoo import results as kresults
    kresults.write(args.out, args.name, "benchmark", kresults.protocol(
        command=results["command"], dataset="fashion_mnist", precision=results["kzoo_precision"]
        + " (kzoo), float32 (reference)", rounds=args.rounds), results)


if __name__ == "__main__":
    main()
