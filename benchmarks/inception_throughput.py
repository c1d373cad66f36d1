"""Feature-extraction throughput of the FID Inception port against plain keras.applications.InceptionV3,
in the same process, and whether mixed bfloat16 keeps FID within 0.5%.

    python benchmarks/inception_throughput.py [--images 200] [--fid-images 2000]

Prints a table and writes benchmarks/results/inception_throughput.json. Throughput is images/s of the
network alone on 299x299 inputs (batch 50, after a warm-up batch); the ratio (port / reference) is what
carries over between machines. The FID check: FID of Fashion-MNIST train[:N] vs test[:N] with the float32 and
the mixed_bfloat16 port.
"""

import argparse
import json
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf


def throughput(fn, inputs, batch):
    fn(inputs[:batch])  # warm-up: tracing and oneDNN kernel selection
    start = time.perf_counter()
    for i in range(0, len(inputs), batch):
        fn(inputs[i:i + batch]).numpy()
    return len(inputs) / (time.perf_counter() - start)


def main(argv=None):
    from kzoo import datasets
    from kzoo.metrics import fid_from_features
    from kzoo.metrics.features import run_extractor
    from kzoo.metrics.inception import build_fid_inception, load_weights, resize_for_inception

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--fid-images", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args(argv)
    inputs = tf.constant(np.random.default_rng(0).uniform(0, 255, (args.images, 299, 299, 3)).astype(np.float32))
    weights = load_weights()
    results = {"images": args.images, "batch": args.batch, "tensorflow": tf.__version__, "keras": keras.__version__}
    extractors = {}
    for precision in ("float32", "mixed_bfloat16"):
        keras.config.set_dtype_policy(precision)
        port = build_fid_inception(weights, dtype=precision)
        reference = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg")
        port_fn = tf.function(lambda x, m=port: m(x, training=False))
        ref_fn = tf.function(lambda x, m=reference: m(x / 127.5 - 1.0, training=False))
        # Interleave the two so machine noise hits both alike.
        port_ips = np.median([throughput(port_fn, inputs, args.batch) for _ in range(2)])
        ref_ips = np.median([throughput(ref_fn, inputs, args.batch) for _ in range(2)])
        results[precision] = {"kzoo_fid_inception_images_per_s": round(float(port_ips), 2),
                              "keras_applications_inceptionv3_images_per_s": round(float(ref_ips), 2),
                              "ratio": round(float(port_ips / ref_ips), 3)}
        extractors[precision] = (lambda m: lambda x: np.asarray(
            tf.cast(m(resize_for_inception(x), training=False), tf.float32)))(port)
    keras.config.set_dtype_policy("float32")

    train = datasets.load_arrays("fashion_mnist", "train").images[: args.fid_images]
    test = datasets.load_arrays("fashion_mnist", "test").images[: args.fid_images]
    fids = {}
    for precision, extract in extractors.items():
        a = run_extractor(extract, train, batch_size=args.batch, progress=False)
        b = run_extractor(extract, test, batch_size=args.batch, progress=False)
        fids[precision] = fid_from_features(a, b)
    results["fid_check"] = {"n": args.fid_images, "fid_float32": fids["float32"],
                            "fid_mixed_bfloat16": fids["mixed_bfloat16"],
                            "relative_difference": abs(fids["mixed_bfloat16"] - fids["float32"]) / fids["float32"]}

    print("| precision | kzoo FID Inception (img/s) | keras.applications InceptionV3 (img/s) | ratio |")
    print("|---|---|---|---|")
    for precision in ("float32", "mixed_bfloat16"):
        r = results[precision]
        print(f"| {precision} | {r['kzoo_fid_inception_images_per_s']} | "
              f"{r['keras_applications_inceptionv3_images_per_s']} | {r['ratio']} |")
    print(json.dumps(results["fid_check"], indent=1))
    from kzoo import results as kresults
    kresults.write(pathlib.Path(__file__).resolve().parents[1] / "results", "benchmark_inception_throughput",
                   "benchmark", kresults.protocol(
                       command="python benchmarks/inception_throughput.py " + " ".join(argv or sys.argv[1:]),
                       dataset="fashion_mnist", split="train[:N] vs test[:N] for the FID check",
                       precision="float32 and mixed_bfloat16", **kresults.fid_network_record()), results)


if __name__ == "__main__":
    main()
