"""Does mixed bfloat16 change sample quality more than the seed does? Train one preset with several seeds in
float32 and in mixed_bfloat16, then compare, per precision, the mean and standard deviation over seeds of the
classifier metrics of 10,000 samples (and, for VAEs, the test-set loss).

    python benchmarks/precision_quality.py --preset vae_conv_fashion --epochs 5 --take 20000 --seeds 0,1,2
    python benchmarks/precision_quality.py --preset dcgan_fashion --epochs 2 --take 10000 --seeds 0,1,2

On a CPU without native bfloat16 (no AVX512_BF16 or AMX) TensorFlow emulates it, about ten times slower than
float32: `--take` and `--epochs` keep such a run short; the comparison stays fair because both precisions get the
same data, steps and seeds. The machine's native support is recorded in the protocol.

Each run is `kzoo train` in a child process (its own wall time and peak memory) into
runs/precision/<preset>_<precision>_seed<k>/; its measured row is kept in that folder, so re-running resumes.
The aggregate is merged into results/precision_quality.json (key: preset and epochs). The verdict rule: the
precision gap (difference of the two means) is compared with the seed spread (the larger of the two standard
deviations); bfloat16 "does not change quality" on a metric when the gap is within that spread.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = ("classifier_fid", "classifier_score", "classes_covered", "test_loss", "final_loss")


def measure(preset_name, precision, seed, epochs, num_samples, runs, take=None):
    out = pathlib.Path(runs) / f"{preset_name}_{precision}_seed{seed}"
    row_path = out / "precision_row.json"
    if row_path.exists():
        return json.loads(row_path.read_text())
    command = [sys.executable, "-m", "kzoo", "train", "--preset", preset_name, "--out", str(out), "--seed",
               str(seed), "--precision", precision, "--verbose", "2", "--no-export"]
    if epochs:
        command += ["--epochs", str(epochs)]
    if take:
        command += ["--take", str(take)]
    print("$ " + " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)

    import keras

    from kzoo import datasets, presets
    from kzoo.metrics.evaluate import evaluate_model
    from kzoo.run.folder import RunFolder
    summary = RunFolder(out).summary()
    preset = presets.get(preset_name)
    model = keras.models.load_model(out / "model.keras")
    report = evaluate_model(model, preset["dataset"], ["classifier", "coverage"], num_samples, "test", seed=seed)
    row = {"seed": seed, "precision": precision, "wall_time_s": summary["wall_time_s"],
           "peak_memory_mib": summary.get("peak_memory_mib"), "steps": summary.get("steps"),
           "final_loss": summary["final"].get("loss"), "final": summary["final"],
           "classifier_fid": report["classifier_fid"], "classifier_score": report["classifier_score_mean"],
           "classes_covered": report["coverage"]["covered"]}
    if preset["family"] == "vae":
        test = datasets.load(preset["dataset"], "test", batch_size=500, pixel_range=(0.0, 1.0), shuffle=False)
        row["test_loss"] = float(model.evaluate(test, verbose=0, return_dict=True)["loss"])
    from kzoo.config import atomic_write_bytes
    atomic_write_bytes(row_path, json.dumps(row, indent=1).encode())
    keras.backend.clear_session()
    return row


def aggregate(rows, precisions):
    """Per precision: mean and sample std over seeds of each metric; per metric: the gap and the verdict."""
    by_precision = {}
    for precision in precisions:
        mine = [r for r in rows if r["precision"] == precision]
        stats = {}
        for metric in METRICS:
            values = [r[metric] for r in mine if r.get(metric) is not None]
            if values:
                stats[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))
                                 if len(values) > 1 else None, "values": values}
        stats["wall_time_s"] = {"mean": float(np.mean([r["wall_time_s"] for r in mine]))}
        by_precision[precision] = stats
    a, b = precisions[:2]
    comparison = {}
    for metric in METRICS:
        if metric in by_precision[a] and metric in by_precision[b]:
            gap = by_precision[b][metric]["mean"] - by_precision[a][metric]["mean"]
            spread = max(by_precision[a][metric]["std"] or 0.0, by_precision[b][metric]["std"] or 0.0)
            comparison[metric] = {"gap": gap, "seed_std": spread, "within_seed_spread": abs(gap) <= spread}
    return by_precision, comparison


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--take", type=int, help="train on the first N training images only")
    parser.add_argument("--runs", default=str(REPO / "runs" / "precision"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--results", default=str(REPO / "results"))
    args = parser.parse_args(argv)

    from kzoo import distribute, presets, results
    preset = presets.get(args.preset, epochs=args.epochs)
    seeds = [int(s) for s in args.seeds.split(",")]
    precisions = args.precisions.split(",")
    start = time.time()
    rows = [measure(args.preset, p, s, preset["epochs"], args.num_samples, args.runs, args.take)
            for s in seeds for p in precisions]
    by_precision, comparison = aggregate(rows, precisions)

    path = pathlib.Path(args.results) / "precision_quality.json"
    merged = results.read(path)["results"] if path.exists() else {}
    key = f"{args.preset}_{preset['epochs']}ep" + (f"_take{args.take}" if args.take else "")
    merged[key] = {
        "protocol": results.protocol(
            command=f"python benchmarks/precision_quality.py --preset {args.preset} --epochs {preset['epochs']} "
                    + (f"--take {args.take} " if args.take else "") +
                    f"--seeds {args.seeds} --precisions {args.precisions}",
            train_images=args.take or "all", native_bfloat16=distribute.native_bfloat16(),
            dataset=preset["dataset"], split="test", num_generated=args.num_samples, num_real=10000,
            feature_network=f"kzoo domain classifier for {preset['dataset']} (saved_models/classifier_"
                            f"{preset['dataset']})", seeds=seeds, precisions=precisions, epochs=preset["epochs"],
            wall_time_s=round(time.time() - start, 1)),
        "runs": rows, "by_precision": by_precision, "comparison": comparison}
    results.write(args.results, "precision_quality", "benchmark",
                  results.protocol(command="python benchmarks/precision_quality.py (one entry per preset)",
                                   seeds=seeds, precisions=precisions), merged)
    print(json.dumps(comparison, indent=1))


if __name__ == "__main__":
    main()
