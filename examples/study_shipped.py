"""Study 8: the best shipped model of each family on one data set, side by side.

For each family (VAE, GAN, diffusion) the shipped unconditional model with the lowest reference FID on the data set
(from results/model_NAME.json, all evaluated the same way: 10,000 generated images against the 10,000 test images,
evaluation seed 0, the FID Inception network), and the best class-conditional model as a separate row where one is
shipped. Their figures (FID, precision/recall, density/coverage, the domain classifier's FID and score, parameters,
training time) come from their results files; the sampling speed is measured here, all models in one process, one
after the other (images per second of `generate`, after one compiling batch); their samples from the same noise
are set side by side.

    python examples/study_shipped.py --dataset fashion_mnist     # runs/shipped_fashion_mnist/report.md
    python examples/study_shipped.py --dataset mnist --models vae=vae_conv_gmm_mnist_e40,gan=dcgan_ema_mnist

Results: results/study_8_shipped_DATASET.json (rendered in docs/comparison.md by `make docs`).
"""

import argparse
import json
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = {"vae": "VAE", "gan": "GAN", "diffusion": "diffusion"}
# What makes two shipped evaluations comparable.
PROTOCOL = ("dataset", "split", "num_samples", "seed", "network")


def shipped_records(results_dir):
    records = {}
    for path in sorted(pathlib.Path(results_dir).glob("model_*.json")):
        record = json.loads(path.read_text())
        if record["results"].get("family") in FAMILIES and "evaluation" in record["results"]:
            records[path.stem.removeprefix("model_")] = record
    return records


def best_models(records, dataset, chosen=None):
    """``{label: name}``: per family the unconditional model with the lowest FID on `dataset` (10,000 samples),
    and the best class-conditional one as "FAMILY (class-conditional)"; or the `chosen` ``{family: name}``."""
    if chosen:
        unknown = sorted(set(chosen.values()) - set(records))
        if unknown:
            raise SystemExit(f"no results file for {', '.join(unknown)}; shipped models: {', '.join(records)}.")
        return {FAMILIES.get(f, f) + (" (class-conditional)" if _conditional(records[n]) else ""): n
                for f, n in chosen.items()}
    best = {}
    for name, record in records.items():
        evaluation = record["results"]["evaluation"]
        if evaluation["dataset"] != dataset or evaluation["num_samples"] < 10000:
            continue
        label = FAMILIES[record["results"]["family"]] + (" (class-conditional)" if _conditional(record) else "")
        if label not in best or record["results"]["fid"] < records[best[label]]["results"]["fid"]:
            best[label] = name
    order = [FAMILIES[f] + suffix for suffix in ("", " (class-conditional)") for f in FAMILIES]
    return {label: best[label] for label in order if label in best}


def _conditional(record):
    return record["results"].get("class_fidelity") is not None


def comparable(records, models):
    """Refuse models whose evaluations differ in data, split, sample count, seed or network."""
    settings = {name: tuple(records[name]["results"]["evaluation"].get(k) for k in PROTOCOL)
                for name in models.values()}
    if len(set(settings.values())) > 1:
        raise SystemExit("the shipped evaluations differ (" + "; ".join(
            f"{n}: {dict(zip(PROTOCOL, s))}" for n, s in settings.items()) + "): re-evaluate them alike first.")
    return dict(zip(PROTOCOL, next(iter(settings.values()))))


def main(argv=None):
    sys.path.insert(0, str(REPO))
    from kzoo import datasets, registry, studies, visualize
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--models", help="FAMILY=NAME,... instead of the best shipped model of each family")
    parser.add_argument("--out", help="the study's folder (default runs/shipped_DATASET)")
    parser.add_argument("--results", default=str(REPO / "results"), help="where the study's result file goes")
    parser.add_argument("--records", default=str(REPO / "results"),
                        help="where the shipped models' results files (model_NAME.json) are read")
    parser.add_argument("--models-dir", default=str(REPO / "saved_models"))
    parser.add_argument("--timing-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    chosen = dict(item.split("=", 1) for item in args.models.split(",")) if args.models else None
    records = shipped_records(args.records)
    models = best_models(records, args.dataset, chosen)
    if not models:
        raise SystemExit(f"no shipped model evaluated on {args.dataset} with 10,000 samples.")
    protocol = comparable(records, models)
    missing = [f for f in FAMILIES.values() if f not in models]
    out = pathlib.Path(args.out or REPO / "runs" / f"shipped_{args.dataset}")
    report = studies.Report(out, f"Study 8: the best shipped model of each family on {args.dataset}",
                            result_name=f"study_8_shipped_{args.dataset}", dataset=args.dataset,
                            split=protocol["split"], num_generated=protocol["num_samples"],
                            evaluation_seed=protocol["seed"], feature_network=protocol["network"],
                            models=models, timing_samples=args.timing_samples, seeds=[args.seed])
    report.results_dir = args.results
    report.text(
        "The lowest-FID shipped model of each family, unconditional (and the best class-conditional one apart), "
        f"each evaluated with {protocol['num_samples']:,} generated images against the {args.dataset} "
        f"{protocol['split']} images (evaluation seed {protocol['seed']}, {protocol['network']}), read from its "
        "results file. " + (f"No {', '.join(missing)} model is shipped for this data set yet. " if missing else ""))
    rows, grids, summary = [], {}, {}
    for label, name in models.items():
        record = records[name]
        p, r = record["protocol"], record["results"]
        model = registry.load_model(pathlib.Path(args.models_dir) / name)
        per_second, seconds, steps = studies.sampling_speed(model, args.timing_samples, seed=args.seed)
        z = np.random.default_rng(args.seed).standard_normal((64, int(model.latent_dim))).astype(np.float32)
        grids[f"{label}: {name} (FID {r['fid']:.2f})"] = visualize.image_grid(
            datasets.to_uint8(np.asarray(model.generate(z)), model.pixel_range), ncols=8)
        parameters = int(model.count_params())
        rows.append([label, f"`{name}`", r["fid"], r.get("precision"), r.get("recall"), r.get("density"),
                     r.get("coverage"), r.get("classifier_fid"), r.get("classifier_score"), parameters,
                     p.get("epochs"), p.get("wall_time_s"), steps, per_second])
        summary[label] = {"name": name, "fid": r["fid"], "precision": r.get("precision"), "recall": r.get("recall"),
                          "density": r.get("density"), "coverage": r.get("coverage"),
                          "classifier_fid": r.get("classifier_fid"), "classifier_score": r.get("classifier_score"),
                          "parameters": parameters, "epochs": p.get("epochs"),
                          "training_s": p.get("wall_time_s"), "command": p.get("command"),
                          "sampling": {"network_passes_per_image": steps, "images_per_second": per_second,
                                       "seconds": seconds, "images": args.timing_samples}}
    report.section("Results")
    report.table(["model", "name", "reference FID", "precision", "recall", "density", "coverage", "classifier FID",
                  "classifier score", "parameters", "epochs", "training time (s)", "network passes per image",
                  "images per second"], rows, name="main")
    figure = report.out / "samples_side_by_side.png"
    visualize.side_by_side(grids, figure, f"64 samples of each on {args.dataset}, the same noise")
    report.figure(figure, "The shipped models' samples")
    report.results["models"] = summary
    report.write()
    return report


if __name__ == "__main__":
    main()
