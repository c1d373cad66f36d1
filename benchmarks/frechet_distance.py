"""The Frechet distance of 2048-d statistics: kzoo's symmetric-eigenvalue form against the scipy.linalg.sqrtm form
that pytorch-fid and TTUR use, in the same process, alternating, on the same statistics; speed ratio and agreement.

    python benchmarks/frechet_distance.py [--rounds 5]      # results/benchmark_frechet_distance.json

The statistics are those of real FID features when KZOO_HOME has cached test-set statistics, else of random
features with a decaying spectrum (the shape of Inception pool3 covariances).
"""

import argparse
import pathlib
import sys
import time
import warnings

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def scipy_reference(mu1, s1, mu2, s2):
    from scipy import linalg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(root).all():
        offset = np.eye(len(mu1)) * 1e-6
        root = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root.real))


def statistics(n, rng, dim=2048):
    scales = 1.0 / np.sqrt(1.0 + np.arange(dim))
    x = rng.normal(size=(n, dim)) * scales
    return x.mean(0), np.cov(x, rowvar=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10000, help="feature vectors behind each covariance")
    args = parser.parse_args(argv)
    from kzoo import results
    from kzoo.metrics.fid import frechet_distance
    rng = np.random.default_rng(0)
    cases = {"full rank": (statistics(args.samples, rng), statistics(args.samples, rng)),
             "rank 99 (100 samples)": (statistics(100, rng), statistics(100, rng))}
    rows = {}
    for name, ((mu1, s1), (mu2, s2)) in cases.items():
        ours, theirs, values = [], [], {}
        for _ in range(args.rounds):
            start = time.perf_counter()
            values["kzoo"] = frechet_distance(mu1, s1, mu2, s2)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            values["scipy_sqrtm"] = scipy_reference(mu1, s1, mu2, s2)
            theirs.append(time.perf_counter() - start)
        rows[name] = {"kzoo_s": float(np.median(ours)), "scipy_sqrtm_s": float(np.median(theirs)),
                      "speedup": float(np.median(np.array(theirs) / np.array(ours))), **values,
                      "relative_difference": abs(values["kzoo"] - values["scipy_sqrtm"]) / abs(values["scipy_sqrtm"])}
        print(name, rows[name], flush=True)
    path = results.write(REPO / "results", "benchmark_frechet_distance", "benchmark", results.protocol(
        command="python benchmarks/frechet_distance.py " + " ".join(argv or sys.argv[1:]), rounds=args.rounds,
        dimension=2048, samples=args.samples, seeds=[0], precision="float64",
        data="random features with a 1/sqrt(1+i) spectrum"), rows)
    print(path)


if __name__ == "__main__":
    main()
