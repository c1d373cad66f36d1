"""Compare trained models that were evaluated the same way, and record the comparison in results/comparison_NAME.json
with a figure of their sample grids side by side in docs/figures/comparison_NAME.png.

    python tools/compare_runs.py sngan_dcgan_fashion \\
        "DCGAN=saved_models/dcgan_fashion" "SNGAN (hinge)=runs/sngan_fashion_20:runs/reeval/sngan_fashion_20.json"

Each model is LABEL=FOLDER[:EVALUATION_JSON]: a shipped model (saved_models/NAME, its training facts from
results/model_NAME.json) or a run folder (summary.json and config.json); its evaluation is FOLDER/evaluation.json
unless named. The evaluations must share data, split, sample count, seed and feature network, and the runs the
number of generator steps (--unequal-steps allows otherwise, and the results file records it), since a comparison at
different budgets or protocols compares nothing.

`--published "LABEL=21.5" --published-source "..."` adds a published FID for a model of the same kind on the same
protocol and how far the model is from it.

`--curves wasserstein,penalty` also records those training quantities of each run folder, per epoch against the
generator step (the mean and the per-step min and max within the epoch, from stability.json, or the epoch mean from
history.json), and draws them in docs/figures/comparison_NAME_curves.png: one row per model, one panel per quantity,
since the quantities of different losses live on different scales.
"""

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
COLUMNS = ["model", "preset", "generator steps", "epochs", "precision", "training time", "reference FID",
           "precision (k = 3)", "recall (k = 3)", "density (k = 5)", "coverage (k = 5)", "classifier FID"]


def training_facts(folder):
    """command, preset, steps, epochs, precision, wall time and seed of a shipped model or a run folder."""
    folder = pathlib.Path(folder)
    shipped = REPO / "results" / f"model_{folder.name}.json"
    if folder.parent.resolve() == (REPO / "saved_models").resolve() and shipped.exists():
        p = json.loads(shipped.read_text())["protocol"]
        preset = p["command"].split("--preset ")[1].split()[0] if "--preset " in p["command"] else folder.name
        return {"command": p["command"], "preset": preset, "steps": p["steps"], "epochs": p["epochs"],
                "precision": p["precision"], "wall_time_s": p.get("wall_time_s"), "seed": p["seeds"][0],
                "trained_at_commit": p.get("git_commit"), "machine": p.get("machine")}
    if not (folder / "summary.json").exists():
        raise SystemExit(f"{folder}: neither a shipped model with results/model_{folder.name}.json nor a finished "
                         "run folder with summary.json; train it first (kzoo train ... --out FOLDER).")
    from kzoo.run.folder import RunFolder
    from kzoo.training import reproducing_command
    s, config = RunFolder(folder).summary(), RunFolder(folder).config()
    return {"command": reproducing_command(folder), "preset": s["preset"], "steps": s["steps"], "epochs": s["epochs"],
            "precision": s["precision"], "wall_time_s": s["wall_time_s"], "seed": config["seed"],
            "settings": config.get("settings") or {}}


def training_curves(folder, quantities, steps, epochs):
    """{quantity: {"generator_step", "mean", "min", "max"}} per epoch of a run folder (min and max are None where
    only history.json has the quantity); quantities the run did not track are left out."""
    folder = pathlib.Path(folder)
    per_epoch = steps / epochs
    stability = folder / "stability.json"
    rows = json.loads(stability.read_text()) if stability.exists() else []
    history_path = folder / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    curves = {}
    for name in quantities:
        if rows and all(name in row for row in rows):
            curves[name] = {"generator_step": [round(row["epoch"] * per_epoch) for row in rows],
                            **{k: [row[name][k] for row in rows] for k in ("mean", "min", "max")}}
        elif name in history:
            curves[name] = {"generator_step": [round((i + 1) * per_epoch) for i in range(len(history[name]))],
                            "mean": history[name], "min": None, "max": None}
    if not curves:
        raise SystemExit(f"{folder}: none of {', '.join(quantities)} in its stability.json or history.json; "
                         "name quantities the run tracked (its history.json's keys).")
    return curves


def curves_figure(records, path, title, order):
    from kzoo import visualize
    tracked = {q for r in records for q in r["curves"]}
    quantities = [q for q in order if q in tracked]
    panels = {}
    for r in records:
        for q in quantities:
            if q in r["curves"]:
                c = r["curves"][q]
                panels[f"{r['label']}: {q}"] = {"per-epoch mean, per-step range": {
                    "x": c["generator_step"], "y": c["mean"], "low": c["min"], "high": c["max"]}}
            else:
                panels[f"{r['label']}: no {q}"] = {}
    visualize.plot_curves(panels, path, "generator step", title=title, ncols=len(quantities))


def sample_grid(folder):
    folder = pathlib.Path(folder)
    if (folder / "samples.png").exists():
        return folder / "samples.png"
    from kzoo.run.folder import RunFolder
    summary = RunFolder(folder).summary()
    return folder / summary["figures"]["samples"]


def parse_model(text):
    label, sep, rest = text.partition("=")
    if not sep or not label or not rest:
        raise SystemExit(f"{text!r}: give a model as LABEL=FOLDER or LABEL=FOLDER:EVALUATION_JSON")
    folder, _, evaluation = rest.partition(":")
    evaluation = pathlib.Path(evaluation) if evaluation else pathlib.Path(folder) / "evaluation.json"
    if not evaluation.exists():
        raise SystemExit(f"{label}: {evaluation} does not exist; run `kzoo evaluate --model {folder} ...` first.")
    return label, pathlib.Path(folder), json.loads(evaluation.read_text()), evaluation


def compare(models, unequal_steps=False, curves=()):
    """Rows of the comparison table and the per-model records; refuses evaluations made differently."""
    from kzoo.metrics.evaluate import COMPARABLE_SETTINGS
    first_label, _, first, _ = models[0]
    records = []
    for label, folder, evaluation, evaluation_path in models:
        for key in COMPARABLE_SETTINGS:
            if evaluation.get(key) != first.get(key):
                raise SystemExit(f"{label}: evaluated with {key} = {evaluation.get(key)!r}, {first_label} with "
                                 f"{first.get(key)!r}; evaluate both the same way.")
        if "prdc" not in evaluation:
            raise SystemExit(f"{label}: {evaluation_path} has no precision/recall; evaluate with --metrics "
                             "fid,prdc,...")
        records.append({"label": label, "folder": str(folder), "evaluation_file": str(evaluation_path),
                        **training_facts(folder), "fid": evaluation["fid"],
                        "classifier_fid": evaluation.get("classifier_fid"),
                        "prdc": {k: evaluation["prdc"][k] for k in ("precision", "recall", "density", "coverage")}})
        if curves:
            if not (folder / "summary.json").exists():
                raise SystemExit(f"{label}: --curves needs a run folder with its history; {folder} has none.")
            records[-1]["curves"] = training_curves(folder, curves, records[-1]["steps"], records[-1]["epochs"])
    steps = {r["steps"] for r in records}
    if len(steps) > 1 and not unequal_steps:
        raise SystemExit("the models trained for different generator steps ("
                         + ", ".join(f"{r['label']}: {r['steps']}" for r in records)
                         + "); compare at equal steps, or pass --unequal-steps to say so in the table.")
    return records


def table(records, published_source=None):
    from kzoo.results import versus_target
    published = any("published_fid" in r for r in records)
    rows = []
    for r in records:
        rows.append([r["label"], f"`{r['preset']}`", r["steps"], r["epochs"], r["precision"],
                     "" if r["wall_time_s"] is None else f"{r['wall_time_s']:,.0f} s", f"**{r['fid']:.2f}**",
                     *(f"{r['prdc'][k]:.3f}" for k in ("precision", "recall", "density", "coverage")),
                     "" if r["classifier_fid"] is None else f"{r['classifier_fid']:.2f}"]
                    + ([f"{r['published_fid']:g}", versus_target(r["fid"], r["published_fid"])]
                       if "published_fid" in r else ["", ""]) * published)
    columns = COLUMNS + [f"published FID ({published_source})", "against it"] * published
    return {"columns": columns, "rows": rows}


def parse_published(items, labels):
    """{label: FID} from "LABEL=FID" items; a label that names no model is refused."""
    published = {}
    for item in items:
        label, sep, value = item.rpartition("=")
        if not sep or label not in labels:
            raise SystemExit(f"--published {item!r}: give LABEL=FID with LABEL one of {', '.join(labels)}.")
        try:
            published[label] = float(value)
        except ValueError:
            raise SystemExit(f"--published {item!r}: {value!r} is not a number.") from None
    return published


def figure(models, path, title):
    from kzoo import visualize
    visualize.side_by_side({
        f"{label}\nFID {e['fid']:.2f}, precision {e['prdc']['precision']:.3f}, recall {e['prdc']['recall']:.3f}":
            sample_grid(folder) for label, folder, e, _ in models}, path, title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="results/comparison_NAME.json and docs/figures/comparison_NAME.png")
    parser.add_argument("models", nargs="+", metavar="LABEL=FOLDER[:EVALUATION_JSON]")
    parser.add_argument("--unequal-steps", action="store_true")
    parser.add_argument("--published", action="append", default=[], metavar="LABEL=FID",
                        help="a published FID to set beside a model (repeatable); needs --published-source")
    parser.add_argument("--published-source", help="where the published figures are from, e.g. a paper and table")
    parser.add_argument("--curves", default="", metavar="QUANTITY,...",
                        help="training quantities to record and plot per model, e.g. wasserstein,penalty,g_loss")
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures"))
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("name at least two models to compare")
    sys.path.insert(0, str(REPO))
    from kzoo import results
    models = [parse_model(m) for m in args.models]
    curves = [q.strip() for q in args.curves.split(",") if q.strip()]
    if args.published and not args.published_source:
        parser.error("--published needs --published-source (the paper and table the figures are from)")
    published = parse_published(args.published, [m[0] for m in models])
    records = compare(models, args.unequal_steps, curves)
    for r in records:
        if r["label"] in published:
            r["published_fid"] = published[r["label"]]
    e = models[0][2]
    protocol = results.protocol(
        command="python tools/compare_runs.py " + " ".join([args.name] + [f'"{m}"' for m in args.models]),
        dataset=e["dataset"], split=e["split"], num_generated=e["num_samples"], num_real=e.get("num_real"),
        seeds=sorted({r["seed"] for r in records}), evaluation_seed=e["seed"], **results.fid_network_record(),
        training_commands={r["label"]: r["command"] for r in records},
        evaluation_files={r["label"]: r["evaluation_file"] for r in records},
        equal_generator_steps=len({r["steps"] for r in records}) == 1,
        **({"published_source": args.published_source} if published else {}))
    name = f"comparison_{args.name}"
    main_table = table(records, args.published_source)
    results.write(args.results, name, "study", protocol, {"models": records, "tables": {"main": main_table}})
    figure(models, pathlib.Path(args.figures) / f"{name}.png",
           f"{e['dataset']}: {', '.join(r['label'] for r in records)} ({' / '.join(str(r['steps']) for r in records)} "
           "generator steps)")
    if curves:
        curves_figure(records, pathlib.Path(args.figures) / f"{name}_curves.png",
                      f"{e['dataset']}: training quantities per epoch (shaded: min to max over the epoch's steps)",
                      curves)
    print(json.dumps(main_table, indent=1))


if __name__ == "__main__":
    main()
