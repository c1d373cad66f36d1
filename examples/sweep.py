"""Sweep one preset setting with `kzoo train --set KEY=VALUE`, several seeds per value, and compare.

    python examples/sweep.py --preset vae_conv_fashion --set model.latent_dim=2,8,32 --epochs 10 --seeds 0,1,2

Each run is `kzoo train --preset P --set KEY=VALUE --seed S` in a child process, into
runs/sweep/<preset>/<key>=<value>/seed<S>/, seed by seed (every value at the first seed, then at the next), so that a
sweep cut off early has covered every value. A finished run's measured row goes to
results/sweep_runs/<preset>/<key>=<value>/seed<S>.json, a small file meant to be committed: re-running the sweep,
on this machine or a fresh clone, keeps the rows there (when they were measured with the same epochs, training
images, sample count and precision; otherwise it stops and says so) and trains only the runs still missing. Each
trained model is measured on the test split: the classifier FID, classifier score and classes
covered of `--num-samples` samples (the shipped domain classifier), with `--reference-fid` also the reference FID
(FID Inception network, comparable with published FIDs; about 10 minutes per model for 10,000 samples on 2 CPU
cores), and, for the VAE family, the test-set loss with its reconstruction and KL parts. The table (mean ± std over
seeds per value) goes to results/sweep_<preset>_<key>.json with its protocol, and a plot of each metric against the
value to docs/figures/sweep_<preset>_<key>.png.

    python examples/sweep.py --preset vae_conv_fashion --set model.latent_dim=16,64 --epochs 8 --seeds 0,1,2 --extend

adds values to the results file already there: its runs (same epochs, seeds, sample count and training images) are
kept as measured, only the new values are trained (in the kept runs' precision), and the table and plot cover all
of them.

An ablation compares named variants, each any number of settings, instead of one setting's values:

    python examples/sweep.py --preset dcgan_ema_fashion --name ablation --epochs 5 --seeds 0 --reference-fid \
        --variant "base=" --variant "hinge=model.loss=hinge" \
        --variant 'hinge_sn=model.loss=hinge;model.lipschitz={"class_name": "SpectralNormalization"}'

Each variant's settings are separated by semicolons; its runs go to runs/sweep/<preset>/variant=<name>/ and the
table to results/sweep_<preset>_<name>.json, with each variant's settings in the protocol.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = ("fid", "classifier_fid", "classifier_score", "classes_covered", "test_loss", "test_reconstruction_loss",
           "test_kl_loss", "wall_time_s")


def row_settings(args):
    """What a measured row must share with this sweep to be kept in it."""
    return {"epochs": args.epochs_resolved, "train_images": args.take or "all", "num_generated": args.num_samples}


def kept_row(row_path, args):
    """The row measured earlier at `row_path`, or None; stops when it was measured another way, since mixing it in
    would make the table compare unlike runs."""
    if not row_path.exists():
        return None
    row = json.loads(row_path.read_text())
    differ = {k: (row.get(k), v) for k, v in row_settings(args).items() if row.get(k) != v}
    if args.precision is not None and row.get("precision") != args.precision:
        differ["precision"] = (row.get("precision"), args.precision)
    if differ:
        said = "; ".join(f"{k} = {was!r} there, {now!r} here" for k, (was, now) in differ.items())
        raise SystemExit(f"{row_path} was measured another way ({said}). Sweep with its settings, or move the "
                         f"folder {row_path.parent.parent} aside to measure anew.")
    return row


def run_one(preset_name, key, value, seed, args):
    if (value, seed) in args.kept_rows:
        return args.kept_rows[(value, seed)]
    settings = args.assignments[value]
    out = pathlib.Path(args.runs) / preset_name / f"{key}={value}" / f"seed{seed}"
    row_path = pathlib.Path(args.rows) / preset_name / f"{key}={value}" / f"seed{seed}.json"
    row = kept_row(row_path, args)
    if row is not None and ("fid" in row or not args.reference_fid):
        return row
    # Without a row, or with one measured without the reference FID: a trained run is measured (again), not
    # retrained.
    if not (out / "summary.json").exists() or not (out / "model.keras").exists():
        command = [sys.executable, "-m", "kzoo", "train", "--preset", preset_name,
                   *[part for setting in settings for part in ("--set", setting)],
                   "--seed", str(seed), "--out", str(out), "--verbose", "2", "--no-export"]
        for flag in ("epochs", "take", "precision"):
            if getattr(args, flag) is not None:
                command += [f"--{flag}", str(getattr(args, flag))]
        print("$ kzoo " + " ".join(command[3:]), flush=True)
        subprocess.run(command, check=True)

    import keras

    from kzoo import datasets, presets
    from kzoo.config import atomic_write_bytes
    from kzoo.metrics.evaluate import evaluate_model
    from kzoo.run.folder import RunFolder
    summary = RunFolder(out).summary()
    preset = presets.get(preset_name)
    model = keras.models.load_model(out / "model.keras")
    measured = (["fid"] if args.reference_fid else []) + ["classifier", "coverage"]
    report = evaluate_model(model, preset["dataset"], measured, args.num_samples, "test", seed=seed)
    row = {"value": value, "settings": settings, "seed": seed, **row_settings(args),
           "wall_time_s": summary["wall_time_s"],
           "steps": summary.get("steps"),
           "precision": summary.get("precision"), "final": summary["final"],
           "classifier_fid": report["classifier_fid"], "classifier_score": report["classifier_score_mean"],
           "classes_covered": report["coverage"]["covered"]}
    if args.reference_fid:
        row["fid"] = report["fid"]
    if preset["family"] == "vae":
        test = datasets.load(preset["dataset"], "test", batch_size=500, pixel_range=(0.0, 1.0), shuffle=False)
        losses = model.evaluate(test, verbose=0, return_dict=True)
        row.update(test_loss=float(losses["loss"]), test_reconstruction_loss=float(losses["reconstruction_loss"]),
                   test_kl_loss=float(losses["kl_loss"]))
    row_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(row_path, json.dumps(row, indent=1).encode())
    keras.backend.clear_session()
    return row


def aggregate(rows, values):
    """Per value: mean and sample std over seeds of each metric."""
    table = {}
    for value in values:
        mine = [r for r in rows if r["value"] == value]
        stats = {}
        for metric in METRICS:
            found = [r[metric] for r in mine if r.get(metric) is not None]
            if found:
                stats[metric] = {"mean": float(np.mean(found)),
                                 "std": float(np.std(found, ddof=1)) if len(found) > 1 else None, "values": found}
        table[value] = stats
    return table


def plot(table, key, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [m for m in ("fid", "classifier_fid", "test_reconstruction_loss", "test_kl_loss", "classifier_score")
             if all(m in stats for stats in table.values())]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.4 * len(shown), 3.0), squeeze=False)
    labels = list(table)
    for ax, metric in zip(axes[0], shown):
        means = [table[v][metric]["mean"] for v in labels]
        stds = [table[v][metric]["std"] or 0.0 for v in labels]
        ax.errorbar(range(len(labels)), means, yerr=stds, marker="o", capsize=3)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(key)
        ax.set_title("reference FID" if metric == "fid" else metric.replace("_", " "), fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def kept_runs(path, values, seeds, epochs, args):
    """For --extend: the values of `path`'s sweep followed by the new ones (in numeric order when all are numbers),
    its measured rows by (value, seed), and its session wall time. Refuses a file measured another way, since its
    rows would not be comparable with the new ones."""
    if not path.exists():
        raise SystemExit(f"--extend: {path} does not exist; run the sweep once without --extend first.")
    earlier = json.loads(path.read_text())
    # Files written before --reference-fid existed were measured without it.
    protocol = {"reference_fid": False, **earlier["protocol"]}
    wanted = {"epochs": epochs, "seeds": seeds, "num_generated": args.num_samples, "train_images": args.take or "all",
              "reference_fid": args.reference_fid}
    for field, value in wanted.items():
        if protocol.get(field) != value:
            raise SystemExit(f"--extend: {path} was measured with {field} = {protocol.get(field)!r}, this sweep with "
                             f"{value!r}; pass the same settings (its command: {protocol['command']}) or sweep anew.")
    # The same precision as the kept runs: `auto` picks by machine (mixed bfloat16 where the CPU has it natively).
    kept_precisions = protocol.get("precision") or []
    if args.precision is None and len(kept_precisions) == 1:
        args.precision = kept_precisions[0]
    elif args.precision is not None and kept_precisions != [args.precision]:
        raise SystemExit(f"--extend: {path} was measured in {', '.join(kept_precisions)}, this sweep asks for "
                         f"{args.precision}; pass --precision {kept_precisions[0]} or sweep anew.")
    merged = list(dict.fromkeys(list(protocol["values"]) + values))
    try:
        merged.sort(key=float)
    except ValueError:
        pass
    rows = {(row["value"], row["seed"]): row for row in earlier["results"]["runs"]}
    args.assignments = {**protocol.get("variants", {}), **args.assignments}  # an ablation's earlier variants
    return merged, rows, protocol.get("session_wall_time_s", 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--set", metavar="KEY=V1,V2,...", help="the setting and its values")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE;KEY=VALUE",
                        help="a named variant of the preset (repeatable): an ablation instead of --set")
    parser.add_argument("--name", help="with --variant: the results file's name, sweep_PRESET_NAME.json")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--take", type=int, help="train on the first N training images only")
    parser.add_argument("--precision")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--runs", default=str(REPO / "runs" / "sweep"))
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--rows", help="where each finished run's measured row is kept (default: RESULTS/sweep_runs)")
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures"))
    parser.add_argument("--reference-fid", action="store_true",
                        help="also measure the reference FID (FID Inception network) of each model")
    parser.add_argument("--extend", action="store_true",
                        help="keep the runs of the results file already there and add these values to it")
    args = parser.parse_args(argv)
    if bool(args.set) == bool(args.variant) or (args.variant and not args.name):
        parser.error("give --set KEY=V1,V2,... or --variant NAME=SETTINGS (repeatable) with --name")
    if args.variant:
        key = "variant"
        args.assignments = {}
        for variant in args.variant:
            label, _, listed = variant.partition("=")
            args.assignments[label.strip()] = [s.strip() for s in listed.split(";") if s.strip()]
        values = list(args.assignments)
    else:
        if "=" not in args.set:
            parser.error(f"--set takes KEY=V1,V2,..., got {args.set!r}")
        key, _, listed = args.set.partition("=")
        values = [v.strip() for v in listed.split(",") if v.strip()]
        args.assignments = {v: [f"{key}={v}"] for v in values}

    from kzoo import presets, results
    for value in values if args.variant else values[:1]:  # a bad key or value fails now, before any training
        presets.apply_settings(presets.get(args.preset), args.assignments[value])
    seeds = [int(s) for s in args.seeds.split(",")]
    name = f"sweep_{args.preset}_{args.name if args.variant else key.split('.')[-1]}"
    epochs = args.epochs_resolved = args.epochs or presets.get(args.preset)["epochs"]
    args.rows = args.rows or str(pathlib.Path(args.results) / "sweep_runs")
    args.kept_rows, earlier_wall_time = {}, 0.0
    if args.extend:
        values, args.kept_rows, earlier_wall_time = kept_runs(
            pathlib.Path(args.results) / f"{name}.json", values, seeds, epochs, args)
    start = time.time()
    # Seed by seed, so that a sweep cut off early has every value at least once.
    by_run = {(v, s): run_one(args.preset, key, v, s, args) for s in seeds for v in values}
    rows = [by_run[(v, s)] for v in values for s in seeds]
    table = aggregate(rows, values)
    chosen = (" ".join(f"--variant '{v}={';'.join(args.assignments[v])}'" for v in values) + f" --name {args.name}"
              if args.variant else f"--set {key}={','.join(values)}")
    command = (f"python examples/sweep.py --preset {args.preset} {chosen} --epochs {epochs} "
               + (f"--take {args.take} " if args.take else "") + f"--seeds {args.seeds}"
               + (f" --precision {args.precision}" if args.precision else "")
               + (" --reference-fid" if args.reference_fid else ""))
    dataset = presets.get(args.preset)["dataset"]
    protocol = results.protocol(
        command=command, dataset=dataset, split="test", num_generated=args.num_samples, num_real=10000,
        feature_network=("FID Inception network (reference FID) and the " if args.reference_fid else "")
        + f"kzoo domain classifier for {dataset}", reference_fid=args.reference_fid, seeds=seeds, epochs=epochs,
        train_images=args.take or "all", precision=sorted({r.get("precision") or "?" for r in rows}),
        setting=key, values=values, wall_time_s=round(sum(r["wall_time_s"] for r in rows), 1),
        **({"variants": args.assignments} if args.variant else {}),
        session_wall_time_s=round(time.time() - start + earlier_wall_time, 1))
    results.write(args.results, name, "study", protocol, {"by_value": table, "runs": rows})
    plot(table, key, pathlib.Path(args.figures) / f"{name}.png",
         f"{args.preset}: {key} ({len(seeds)} seeds, {epochs} epochs, mean ± std)")
    print(json.dumps({v: {m: round(s["mean"], 3) for m, s in stats.items()} for v, stats in table.items()},
                     indent=1))


if __name__ == "__main__":
    main()
