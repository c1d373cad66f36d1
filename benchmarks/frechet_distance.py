"""The Frechet distance of 2048-d statistics: kzoo's symmetric-eigenvalue form against the scipy.linalg.sqrtm form
that pytorch-fid and TTUR use, in the same process, alternating, on the same statistics; speed ratio and agreement.
Where a set has fewer vectors than dimensions, kzoo's low-rank form (`statistics_distance`, from the vectors kept)
is timed too.

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
    from kzoo.metrics.fid import GaussianStatistics
    scales = 1.0 / np.sqrt(1.0 + np.arange(dim))
    return GaussianStatistics().update(rng.normal(size=(n, dim)) * scales)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10000, help="feature vectors behind each covariance")
    args = parser.parse_args(argv)
    from kzoo import results
    from kzoo.metrics.fid import frechet_distance, statistics_distance
    rng = np.random.default_rng(0)
    cases = {"full rank": (statistics(args.samples, rng), statistics(args.samples, rng)),
             "rank 1,999 (2,000 samples, the FID during training)": (statistics(2000, rng), statistics(2000, rng)),
             "rank 99 (100 samples)": (statistics(100, rng), statistics(100, rng))}
    rows = {}
    for name, (a, b) in cases.items():
        forms = {"kzoo": lambda a=a, b=b: frechet_distance(a.mean, a.covariance, b.mean, b.covariance),
                 "scipy_sqrtm": lambda a=a, b=b: scipy_reference(a.mean, a.covariance, b.mean, b.covariance)}
        if a.factor() is not None:
            forms["kzoo_low_rank"] = lambda a=a, b=b: statistics_distance(a, b)
        times, values = {form: [] for form in forms}, {}
        for _ in range(args.rounds):
            for form, compute in forms.items():
                start = time.perf_counter()
                values[form] = compute()
                times[form].append(time.perf_counter() - start)
        theirs = np.array(times["scipy_sqrtm"])
        rows[name] = {"kzoo_s": float(np.median(times["kzoo"])), "scipy_sqrtm_s": float(np.median(theirs)),
                      "speedup": float(np.median(theirs / np.array(times["kzoo"]))), **values,
                      "relative_difference": abs(values["kzoo"] - values["scipy_sqrtm"]) / abs(values["scipy_sqrtm"])}
        if "kzoo_low_rank" in forms:
            rows[name].update(
                kzoo_low_rank_s=float(np.median(times["kzoo_low_rank"])),
                low_rank_speedup=float(np.median(theirs / np.array(times["kzoo_low_rank"]))),
                low_rank_relative_difference=abs(values["kzoo_low_rank"] - values["scipy_sqrtm"])
                / abs(values["scipy_sqrtm"]))
        print(name, rows[name], flush=True)
    path = results.write(REPO / "results", "benchmark_frechet_distance", "benchmark", results.protocol(
        command="python benchmarks/frechet_distance.py " + " ".join(argv or sys.argv[1:]), rounds=args.rounds,
        dimension=2048, samples=args.samples, seeds=[0], precision="float64",
        data="random features with a 1/sqrt(1+i) spectrum"), rows)
    print(path)


if __name__ == "__main__":
    main()
