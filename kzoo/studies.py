"""What the study scripts in ``examples/`` share: train a preset into a sub-folder of the study (resumable),
measure its peak memory, evaluate it once (cached), and write ``runs/<study>/report.md`` with tables and figures.

A study re-run with the same command continues where it stopped: each model's run folder resumes from its
checkpoint (see `kzoo.training.train`), and an evaluation already computed for the same model, metrics, sample
count and seed is read back from ``evaluation_<key>.json`` instead of recomputed.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys
import time

import numpy as np

from kzoo import visualize
from kzoo.config import atomic_write_bytes

# --quick: enough to run every line of a study in seconds, not to measure anything.
QUICK = {"take": 512, "epochs": 1, "num_samples": 64}


def train_preset(preset, out, epochs=None, take=None, seed=0, dataset=None, quick=False, extra_args=()):
    """`kzoo train` of `preset` into `out`, in a child process; returns ``(model, summary)``.

    A child process per model keeps each run's peak memory (``summary["peak_memory_mib"]``) its own and frees
    it afterwards; re-running resumes from the run's checkpoint, or only reloads a finished run.
    """
    import subprocess

    import keras
    command = [sys.executable, "-m", "kzoo", "train", "--preset", preset, "--out", str(out), "--seed", str(seed),
               "--verbose", "2"]
    for flag, value in (("--epochs", epochs), ("--take", take), ("--dataset", dataset)):
        if value is not None:
            command += [flag, str(value)]
    command += list(extra_args) + (["--no-export"] if quick else [])
    print("$ " + " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL if quick else None)
    out = pathlib.Path(out)
    from kzoo.run.folder import RunFolder
    return keras.models.load_model(out / "model.keras"), RunFolder(out).summary()


def evaluate_cached(model, out, dataset, metrics, num_samples, split="test", seed=0):
    """`kzoo.metrics.evaluate.evaluate_model`, stored in ``out/evaluation_<key>.json`` and read back when the
    same weights, metrics, sample count, split and seed were evaluated before. The key hashes the weights, not
    the `.keras` file, whose bytes change each time a finished run is reloaded and saved again."""
    from kzoo.metrics import evaluate
    out = pathlib.Path(out)
    weights = hashlib.sha256()
    for variable in model.weights:
        weights.update(np.asarray(variable).tobytes())
    key = hashlib.sha256(json.dumps([weights.hexdigest(), dataset, sorted(metrics), num_samples, split,
                                     seed]).encode())
    path = out / f"evaluation_{key.hexdigest()[:12]}.json"
    cached = _read_json(path)
    if cached is not None:
        return cached
    start = time.perf_counter()
    report = evaluate.evaluate_model(model, dataset, tuple(metrics), num_samples, split=split, seed=seed)
    report["wall_time_s"] = round(time.perf_counter() - start, 1)
    atomic_write_bytes(path, json.dumps(report, indent=1, default=_jsonable).encode())
    return json.loads(json.dumps(report, default=_jsonable))


def real_diversity(dataset, num_images, split="test", threshold=0.9):
    """The pairwise-cosine summary of real images: the baseline a generator's diversity is read against."""
    from kzoo import datasets
    from kzoo.metrics.diversity import pairwise_cosine_summary
    images = datasets.load_arrays(dataset, split).images[:num_images]
    return pairwise_cosine_summary(images, threshold=threshold)


def collapse_verdict(coverage, share_above, real_share_above):
    """Read mode collapse off the measurements, by a stated rule: a generator is called collapsed when it
    covers fewer classes than the data (a class is covered at half the uniform share) or when its share of
    near-duplicate pairs (cosine > threshold) is more than twice the real images' share."""
    reasons = []
    if coverage is not None and coverage["covered"] < coverage["classes"]:
        reasons.append(f"covers {coverage['covered']} of {coverage['classes']} classes")
    if share_above > 2 * real_share_above:
        reasons.append(f"{share_above:.2%} of pairs are near-duplicates against {real_share_above:.2%} for real images")
    if reasons:
        return "collapsed: " + "; ".join(reasons)
    covered = f"all {coverage['classes']} classes covered, " if coverage else ""
    return f"no collapse: {covered}near-duplicate pairs {share_above:.2%} (real images: {real_share_above:.2%})"


class Report:
    """A markdown report assembled piece by piece and written atomically, with its numbers in ``results.json``.

    Figures are paths relative to the report's folder.
    """

    def __init__(self, out, title, command=None, result_name=None, args=None, **protocol):
        """With `result_name` and the study's parsed `args`, `write` also records the study as
        ``<args.results>/<result_name>.json`` (`kzoo.results`): its tables, its numbers and a protocol made of
        the command, seed, epochs, sample count and the `protocol` fields. A `--quick` run records nothing unless
        `--results` is given."""
        self.out = pathlib.Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.lines = [f"# {title}", ""]
        self.results = {}
        self.tables = {}
        self.command = command or "python " + " ".join(sys.argv)
        self.lines += [f"Command: `{self.command}`", ""]
        self.started = time.perf_counter()
        self.result_name, self.protocol = result_name, dict(protocol)
        self.results_dir = None
        if args is not None:
            self.results_dir = getattr(args, "results", None) or (None if args.quick else "results")
            self.protocol.update(seeds=[args.seed], epochs=args.epochs or "each preset's", quick=args.quick,
                                 num_generated=QUICK["num_samples"] if args.quick else args.num_samples)

    def section(self, title):
        self.lines += [f"## {title}", ""]

    def text(self, *paragraphs):
        for paragraph in paragraphs:
            self.lines += [paragraph, ""]

    def table(self, header, rows, name=None):
        """A markdown table; its cells are also kept under `name` in the study's result file."""
        self.tables[name or f"table_{len(self.tables) + 1}"] = {"columns": [_cell(h) for h in header],
                                                                "rows": [[_cell(v) for v in row] for row in rows]}
        self.lines += [visualize.markdown_table(header, rows, cell=_cell)]

    def figure(self, path, caption):
        relative = pathlib.Path(path).resolve().relative_to(self.out.resolve())
        self.lines += [f"![{caption}]({relative.as_posix()})", "", f"*{caption}*", ""]

    def write(self):
        seconds = time.perf_counter() - self.started
        self.results["study_wall_time_s"] = round(seconds, 1)
        self.lines += ["", f"Wall time of this invocation: {seconds:,.0f} s (a resumed study counts only its own "
                           "part; each model's training time is in its table row)."]
        atomic_write_bytes(self.out / "results.json", json.dumps(self.results, indent=1, default=_jsonable).encode())
        atomic_write_bytes(self.out / "report.md", "\n".join(self.lines).encode())
        print(f"report written to {self.out / 'report.md'}")
        if self.result_name and self.results_dir:
            from kzoo import results
            path = results.write(self.results_dir, self.result_name, "study",
                                 results.protocol(command=self.command, wall_time_s=self.results["study_wall_time_s"],
                                                  **self.protocol),
                                 {"tables": self.tables, "data": json.loads(json.dumps(self.results,
                                                                                       default=_jsonable))})
            print(f"results written to {path}")
        return self.out / "report.md"


def _cell(value):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|")  # a bare | would end the cell


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _read_json(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def study_arguments(description, default_out, extra=None):
    """The options every study shares: ``--out``, ``--quick``, ``--seed``, ``--epochs`` (default: each preset's
    published number), ``--num-samples`` (generated images for FID/KID, against as many test images)."""
    import argparse
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=default_out,
                        help=f"the study's folder (default {default_out or 'one per data set under runs/'})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['take']} training images, {QUICK['epochs']} epoch, "
                             f"{QUICK['num_samples']} samples for the metrics; its numbers mean nothing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override every preset's number of epochs")
    parser.add_argument("--num-samples", type=int, default=10000,
                        help="generated images for FID/KID, compared with as many test images (default 10000)")
    parser.add_argument("--results", default=None,
                        help="folder for the study's result file (default: results/, none under --quick)")
    if extra:
        extra(parser)
    return parser


def scale(args):
    """`(take, epochs, num_samples)` for a study's arguments (the quick settings under --quick)."""
    if args.quick:
        return QUICK["take"], args.epochs or QUICK["epochs"], QUICK["num_samples"]
    return None, args.epochs, args.num_samples


def compare_models(report, models, dataset, args, metrics=("fid", "coverage"), split="test", train_dataset=None,
                   real_baseline=True, extra_args=None):
    """Train each of `models` ``{label: preset}`` into ``<report folder>/<preset>``, evaluate it with `metrics`
    (`kzoo.metrics.evaluate.evaluate_model` names) against `dataset`/`split`, and add to `report` a table
    (parameters, epochs, training time, peak memory, the metrics), the last-epoch loss spread and each model's
    loss curves, samples and interpolation. Returns ``{label: {"summary", "evaluation", "folder"}}``.

    With ``diversity`` among the metrics and `real_baseline`, the real images' share of near-duplicate pairs is
    measured too (the baseline a generator is read against) and each model gets a mode-collapse verdict.
    `extra_args` ``{preset: [arguments]}`` adds `kzoo train` arguments for some presets.
    """
    take, epochs, num_samples = scale(args)
    results = {}
    for label, preset in models.items():
        folder = report.out / preset
        model, summary = train_preset(preset, folder, epochs=epochs, take=take, seed=args.seed,
                                      dataset=train_dataset, quick=args.quick,
                                      extra_args=(extra_args or {}).get(preset, ()))
        evaluation = evaluate_cached(model, folder, dataset, metrics, num_samples, split=split, seed=args.seed)
        results[label] = {"summary": summary, "evaluation": evaluation, "folder": folder}
    real = real_diversity(dataset, num_samples, split) if "diversity" in metrics and real_baseline else None

    header = ["model", "parameters", "epochs", "training time (s)", "s / epoch", "peak memory (MiB)"]
    columns = []
    if "fid" in metrics:
        columns.append((f"reference FID ({num_samples:,})", lambda e: e["fid"]))
    if "kid" in metrics:
        columns.append(("KID x 1000 (mean ± std)", lambda e: f"{1000 * e['kid_mean']:.2f} ± {1000 * e['kid_std']:.2f}"))
    if "prdc" in metrics:  # fidelity and diversity apart: a GAN that drops classes keeps precision, loses recall
        columns += [(name, lambda e, key=key: e["prdc"][key]) for name, key in (
            ("precision (k = 3)", "precision"), ("recall (k = 3)", "recall"), ("density (k = 5)", "density"),
            ("coverage (k = 5)", "coverage"))]
    if "coverage" in metrics or "classifier" in metrics:
        columns += [("classifier FID", lambda e: e["classifier_fid"]),
                    ("classifier score", lambda e: e["classifier_score_mean"]),
                    ("classes covered", lambda e: f"{e['coverage']['covered']}/{e['coverage']['classes']}"),
                    ("label KL from uniform", lambda e: e["coverage"]["kl_from_uniform"])]
    if "diversity" in metrics:
        columns += [("pairs with cosine > 0.9", lambda e: f"{e['diversity']['share_above']:.3%}"),
                    ("mean pairwise cosine", lambda e: e["diversity"]["mean"])]
    rows = []
    for label, r in results.items():
        s, e = r["summary"], r["evaluation"]
        rows.append([label, s["parameters"], s["epochs"], s["wall_time_s"], s["seconds_per_epoch"],
                     s.get("peak_memory_mib")] + [f(e) for _, f in columns])
    report.section("Results")
    report.table(header + [name for name, _ in columns], rows, name="main")
    if real is not None:
        report.text(f"Real {dataset} {split} images ({num_samples:,}): {real['share_above']:.3%} of pairs above "
                    f"cosine 0.9, mean pairwise cosine {real['mean']:.3f}.")
        report.results["real_diversity"] = real
        verdicts = [[label, collapse_verdict(r["evaluation"].get("coverage"),
                                             r["evaluation"]["diversity"]["share_above"], real["share_above"])]
                    for label, r in results.items()]
        report.section("Mode collapse")
        report.table(["model", "verdict"], verdicts, name="collapse")
        for label, verdict in verdicts:
            results[label]["collapse_verdict"] = verdict

    report.section("Training stability (last epoch, per-step values)")
    stability_rows = []
    for label, r in results.items():
        last = (r["summary"].get("stability_last_epoch") or {})
        for quantity, v in last.items():
            if isinstance(v, dict):
                stability_rows.append([label, quantity, v["mean"], v["min"], v["max"], v.get("relative_swing")])
    report.table(["model", "quantity", "mean", "min", "max", "relative swing (max - min) / abs(mean)"], stability_rows,
                 name="stability")
    report.text("Per-epoch tables: each model's `stability.md`.")

    report.section("Loss curves, samples and interpolations")
    for label, r in results.items():
        folder, figures = r["folder"], r["summary"]["figures"]
        report.text(f"**{label}** ([run folder]({folder.name}/), [stability]({folder.name}/stability.md))")
        report.figure(folder / figures["loss_curve"], f"{label}: losses per epoch")
        report.figure(folder / figures["samples"], f"{label}: 64 samples, fixed latent vectors, last epoch")
        report.figure(folder / figures["interpolation"], f"{label}: latent interpolation")
    report.results["models"] = {label: {"preset": models[label], "summary": r["summary"],
                                        "evaluation": r["evaluation"], "collapse_verdict": r.get("collapse_verdict")}
                                for label, r in results.items()}
    return results


def sampling_speed(model, count, batch_size=250, seed=0):
    """Images per second of `model.generate` over `count` images in batches, after one batch to compile (the
    compile is not counted: a user samples many times from one loaded model). Returns (images per second,
    seconds, sampling steps per image)."""
    batch_size = min(batch_size, count)
    rng = np.random.default_rng(seed)
    dim = int(model.latent_dim)
    np.asarray(model.generate(rng.standard_normal((batch_size, dim)).astype(np.float32)))  # compile
    start = time.perf_counter()
    done = 0
    while done < count:
        n = min(batch_size, count - done)
        np.asarray(model.generate(rng.standard_normal((n, dim)).astype(np.float32)))
        done += n
    seconds = time.perf_counter() - start
    return count / seconds, seconds, int(getattr(model, "sampling_steps", 1))
