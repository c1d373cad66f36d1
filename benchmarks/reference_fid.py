"""Reference FID between real splits: the first N training images vs the first N test images, for MNIST and
Fashion-MNIST, with the FID Inception network (float32). These are the floors a generator is judged against.

    python benchmarks/reference_fid.py [--count 10000]

Writes benchmarks/results/reference_fid.json; the statistics are cached in KZOO_HOME/fid_stats, where
`kzoo evaluate` then finds the test-split statistics.
"""

import argparse
import pathlib
import sys
import time


def main(argv=None):
    from kzoo.metrics import frechet_distance, real_statistics

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--datasets", default="fashion_mnist,mnist")
    args = parser.parse_args(argv)
    results = {}
    for dataset in args.datasets.split(","):
        start = time.perf_counter()
        train, _ = real_statistics(dataset, "train", args.count)
        test, _ = real_statistics(dataset, "test", args.count)
        value = frechet_distance(train.mean, train.covariance, test.mean, test.covariance)
        results[dataset] = {"fid_train_vs_test": value, "count": args.count,
                            "seconds": round(time.perf_counter() - start, 1)}
        print(dataset, results[dataset], flush=True)
    from kzoo import results as kresults
    out = pathlib.Path(__file__).resolve().parents[1] / "results"
    existing = kresults.read(out / "benchmark_reference_fid.json")["results"] \
        if (out / "benchmark_reference_fid.json").exists() else {}
    existing.update(results)
    kresults.write(out, "benchmark_reference_fid", "benchmark", kresults.protocol(
        command="python benchmarks/reference_fid.py " + " ".join(argv or sys.argv[1:]), split="train[:N] vs test[:N]",
        num_real=args.count, num_generated=0, seeds=[], precision="float32", **kresults.fid_network_record()),
        existing)


if __name__ == "__main__":
    main()
