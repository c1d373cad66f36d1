"""Training throughput and memory of kzoo's default configuration against plain keras.io-style references.

    python benchmarks/training_throughput.py [--repeats 3] [--seconds 20]

For each model (28x28 DCGAN, WGAN-GP, conv VAE on Fashion-MNIST-shaped data) and each implementation (kzoo:
`presets.build_model` + `datasets.training_stream` + `fit`, exactly what `kzoo train` runs; reference:
`benchmarks/reference_keras_io.py`), a fresh Python process builds the model, warms up (tracing), then trains
for about `--seconds` and reports images/s and its peak resident memory. Processes alternate kzoo, reference,
kzoo, reference... so machine noise hits both alike; the ratio of the medians is the figure that carries over
between machines. Images/s counts the real images the critic/encoder sees (WGAN-GP: n_critic x batch per
generator step, for both implementations). `--variant` measures other kzoo settings (precision, XLA).
Writes benchmarks/results/training_throughput.json and prints a Markdown table.
"""

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
MODELS = {"dcgan": "dcgan_fashion", "wgan_gp": "wgan_gp_fashion", "vae": "vae_conv_fashion"}


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
    if variant.get("precision"):
        distribute.set_precision(variant["precision"])
    model = presets.build_model(preset, image_shape=(28, 28, 1), seed=0)
    if "jit_compile" in variant:
        model.jit_compile = variant["jit_compile"]
    images_per_step = presets.pipeline_batch_size(preset)
    stream, _ = datasets.training_stream("fashion_mnist", images_per_step, preset["pixel_range"], seed=0)
    del keras
    return model, lambda steps: model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0), images_per_step


def worker(model_name, implementation, seconds, variant):
    from kzoo import presets
    preset = presets.get(MODELS[model_name])
    if implementation == "reference":
        model, fit, images_per_step = build_reference(model_name, preset)
    else:
        model, fit, images_per_step = build_kzoo(model_name, preset, variant)
    fit(3)  # tracing, kernel selection
    start = time.perf_counter()
    fit(2)
    per_step = (time.perf_counter() - start) / 2
    steps = max(5, int(seconds / per_step))
    start = time.perf_counter()
    fit(steps)
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"images_per_s": steps * images_per_step / elapsed, "steps": steps,
                      "peak_rss_mib": round(peak_mib, 1)}))


def measure(model_name, implementation, seconds, variant):
    command = [sys.executable, __file__, "--worker", model_name, implementation, "--seconds", str(seconds),
               "--variant", json.dumps(variant)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--models", default="dcgan,wgan_gp,vae")
    parser.add_argument("--variant", default="{}", help='kzoo settings, e.g. \'{"precision": "mixed_bfloat16"}\'')
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "IMPLEMENTATION"))
    parser.add_argument("--out", default=str(HERE / "results" / "training_throughput.json"))
    args = parser.parse_args(argv)
    variant = json.loads(args.variant)
    if args.worker:
        return worker(*args.worker, args.seconds, variant)

    import keras
    import tensorflow as tf
    results = {"tensorflow": tf.__version__, "keras": keras.__version__, "repeats": args.repeats,
               "seconds": args.seconds, "variant": variant, "command": " ".join([pathlib.Path(__file__).name] +
                                                                                 (argv or sys.argv[1:])),
               "models": {}}
    rows = ["| model | kzoo images/s | reference images/s | ratio | kzoo peak MiB | reference peak MiB |",
            "|---|---|---|---|---|---|"]
    for model_name in args.models.split(","):
        runs = {"kzoo": [], "reference": []}
        for _ in range(args.repeats):
            for implementation in ("kzoo", "reference"):
                runs[implementation].append(measure(model_name, implementation, args.seconds, variant))
                print(model_name, implementation, runs[implementation][-1], flush=True)
        summary = {}
        for implementation, values in runs.items():
            summary[implementation] = {
                "images_per_s": round(statistics.median(v["images_per_s"] for v in values), 1),
                "all_images_per_s": [round(v["images_per_s"], 1) for v in values],
                "peak_rss_mib": round(statistics.median(v["peak_rss_mib"] for v in values), 1)}
        summary["ratio"] = round(summary["kzoo"]["images_per_s"] / summary["reference"]["images_per_s"], 2)
        results["models"][model_name] = summary
        rows.append(f"| {model_name} | {summary['kzoo']['images_per_s']} | {summary['reference']['images_per_s']} | "
                    f"{summary['ratio']} | {summary['kzoo']['peak_rss_mib']} | "
                    f"{summary['reference']['peak_rss_mib']} |")
    print("\n".join(rows))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
