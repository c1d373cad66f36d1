"""Sample one trained VAE through different latent priors and compare them on one protocol: N(0, I), a Gaussian
mixture fitted to the training images' codes (ex-post density estimation, Ghosh et al. 2020; the prior of
`vae_conv_gmm_fashion`) and the model's own fitted prior (the second stage of a two-stage VAE, Dai & Wipf 2019).
The decoder is the same in every row, so the differences in FID, precision and recall are the prior's alone.

    python tools/compare_latent_priors.py two_stage_fashion runs/two_stage_fashion --components 30 \\
        --save-own-evaluation

Writes results/latent_priors_NAME.json (protocol and rows) and docs/figures/latent_priors_NAME.png (the same noise
through each prior). Each prior is evaluated as `kzoo evaluate --metrics fid,prdc,classifier,coverage,diversity`
would, and its report kept in the model's folder, so that running again with more `--priors` evaluates only the
new ones; `--save-own-evaluation` writes the report of the model as trained to MODEL/evaluation.json (what
tools/model_card.py ships).
"""

import argparse
import json
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = ("fid", "prdc", "classifier", "coverage", "diversity")  # what `kzoo evaluate` ships a model with


def prior_label(prior, components=None):
    if prior is None:
        return "N(0, I)"
    kind = type(prior).__name__
    if kind == "GaussianMixturePrior":
        return f"Gaussian mixture ({components or prior.components} components)"
    if kind == "SecondStageVAE":
        return "second stage (two-stage VAE)"
    return kind


PRIORS = ("own", "standard_normal", "mixture")


def compare(model, train_images, evaluate, components=30, seed=0, grid_noise=None, priors=PRIORS):
    """One row per prior named in `priors`, in that order: ``own`` (the model's prior as trained), ``standard_normal``
    (N(0, I)) and ``mixture`` (a `components`-Gaussian mixture fitted to the codes of `train_images`); a prior that
    is the model's own is evaluated once, as its own. `evaluate(model)` returns a report with ``fid`` (and
    ``prdc``, ...) for the model with the prior in use (and ``wall_time_s`` if it was timed before). The model keeps
    its own prior afterwards. Returns the rows and, per row, the images decoded from `grid_noise` (if given)."""
    import numpy as np
    unknown = sorted(set(priors) - set(PRIORS))
    if unknown:
        raise ValueError(f"unknown priors {unknown}; choose from {', '.join(PRIORS)}.")
    own = model.latent_prior
    own_kind = "standard_normal" if own is None else "mixture" if type(own).__name__ == "GaussianMixturePrior" \
        else "own"
    kinds = list(dict.fromkeys("own" if kind == own_kind else kind for kind in priors))
    rows, grids = [], []
    try:
        for kind in kinds:
            fit_s = None
            if kind == "own":
                model.set_latent_prior(prior := own)
            elif kind == "standard_normal":
                model.set_latent_prior(prior := None)
            else:
                start = time.perf_counter()
                model.fit_latent_prior(train_images, components=components, seed=seed)
                fit_s = round(time.perf_counter() - start, 1)
                prior = model.latent_prior
            start = time.perf_counter()
            report = evaluate(model)
            rows.append({"prior": prior_label(prior, components), "own": prior is own, "fit_s": fit_s,
                         "evaluation_s": report.get("wall_time_s", round(time.perf_counter() - start, 1)),
                         "fid": float(report["fid"]),
                         "prdc": {k: float(v) for k, v in report.get("prdc", {}).items()},
                         "classifier_fid": report.get("classifier_fid"),
                         "classes_covered": (f"{report['coverage']['covered']}/{report['coverage']['classes']}"
                                             if "coverage" in report else None),
                         "report": report})
            if grid_noise is not None:
                grids.append(np.asarray(model.generate(grid_noise)))
    finally:
        model.set_latent_prior(own)
    return rows, grids


def table(rows, target=None):
    """The comparison as a table; with a `target` FID, a column says how far each row is from it."""
    from kzoo.results import versus_target
    columns = ["latent prior", "reference FID", "precision (k = 3)", "recall (k = 3)", "density (k = 5)",
               "coverage (k = 5)", "classifier FID", "classes covered", "fitting time"]
    columns += [f"target FID <= {target:g}"] if target is not None else []
    body = []
    for r in rows:
        p = r["prdc"]
        body.append([r["prior"] + (" (as trained)" if r["own"] else ""), f"**{r['fid']:.2f}**",
                     *(f"{p[k]:.3f}" if k in p else "" for k in ("precision", "recall", "density", "coverage")),
                     "" if r.get("classifier_fid") is None else f"{r['classifier_fid']:.2f}",
                     r.get("classes_covered") or "", "" if r["fit_s"] is None else f"{r['fit_s']:,.0f} s"]
                    + ([versus_target(r["fid"], target)] if target is not None else []))
    return {"columns": columns, "rows": body}


def figure(rows, grids, pixel_range, path, title):
    from kzoo import datasets, visualize
    visualize.side_by_side({
        f"{row['prior']}\nFID {row['fid']:.2f}" + (
            f", precision {row['prdc']['precision']:.3f}, recall {row['prdc']['recall']:.3f}" if row["prdc"] else ""):
            visualize.image_grid(datasets.to_uint8(images, pixel_range), ncols=8) for row, images in zip(rows, grids)},
        path, title)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="results/latent_priors_NAME.json and docs/figures/latent_priors_NAME.png")
    parser.add_argument("model", help="a run folder, .keras file or shipped model name of a VAE")
    parser.add_argument("--dataset", help="default: the run's dataset")
    parser.add_argument("--components", type=int, default=30)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--priors", default=",".join(PRIORS),
                        help=f"comma-separated, in table order (default {','.join(PRIORS)})")
    parser.add_argument("--target", type=float, help="a published FID to hold each prior against, e.g. 29.3")
    parser.add_argument("--save-own-evaluation", action="store_true",
                        help="write the own prior's report to MODEL/evaluation.json, as `kzoo evaluate` would")
    parser.add_argument("--results", default=str(REPO / "results"))
    parser.add_argument("--figures", default=str(REPO / "docs" / "figures"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import numpy as np

    from kzoo import datasets, registry, results, studies
    from kzoo.config import atomic_write_bytes
    from kzoo.registry import find_model_file
    model_file = find_model_file(registry.resolve(args.model))
    model = registry.load_model(args.model, compile=False)
    if not hasattr(model, "fit_latent_prior"):
        raise SystemExit(f"{args.model} is a {type(model).__name__}; latent priors are compared on a VAE.")
    folder = pathlib.Path(args.model)
    from kzoo.run.folder import RunFolder
    summary = RunFolder(folder).summary({})
    dataset = args.dataset or summary.get("dataset")
    if not dataset:
        raise SystemExit("name the data with --dataset (the model is not a run folder with summary.json).")
    train = datasets.to_pixel_range(datasets.load_arrays(dataset, "train").images, model.pixel_range)
    noise = np.random.default_rng(args.seed).standard_normal((64, model.latent_dim)).astype(np.float32)
    start = time.perf_counter()
    # Each prior's report is kept in the model's folder under a key of its weights (the prior's among them), so a
    # second run, with more priors, evaluates only the new ones.
    rows, grids = compare(
        model, train, lambda m: studies.evaluate_cached(m, model_file.parent, dataset, METRICS, args.num_samples,
                                                        "test", seed=args.seed),
        components=args.components, seed=args.seed, grid_noise=noise, priors=args.priors.split(","))
    own_row = next((row for row in rows if row["own"]), None)
    if args.save_own_evaluation and own_row:
        report = {**own_row["report"], "model": str(model_file)}
        atomic_write_bytes(model_file.parent / "evaluation.json", json.dumps(report, indent=1).encode())
    command = "python tools/compare_latent_priors.py " + " ".join(
        [args.name, args.model, "--components", str(args.components)]
        + (["--priors", args.priors] if args.priors != ",".join(PRIORS) else [])
        + (["--target", f"{args.target:g}"] if args.target is not None else [])
        + (["--save-own-evaluation"] if args.save_own_evaluation else []))
    from kzoo.training import reproducing_command
    # How the model was trained (a run folder knows; a continued model's command keeps its --init-from).
    trained_by = reproducing_command(folder) if RunFolder(folder).is_finished() else None
    if trained_by and summary.get("init_from") and "--init-from" not in trained_by:
        trained_by += f" (continued from {summary['init_from']} with --init-from)"
    protocol = results.protocol(
        command=command, model=args.model, training_command=trained_by, preset=summary.get("preset"),
        dataset=dataset, split="test",
        num_generated=args.num_samples, num_real=args.num_samples, seeds=[args.seed], evaluation_seed=args.seed,
        mixture_fitted_on=f"{dataset} train ({len(train):,} images), posterior means",
        training_epochs=summary.get("epochs"), training_steps=summary.get("steps"),
        training_wall_time_s=summary.get("wall_time_s"), precision=summary.get("precision"),
        target_fid=args.target, wall_time_s=round(time.perf_counter() - start, 1),
        # the evaluations' own times, also when this run read them from the cache
        evaluations_wall_time_s=round(sum(r["evaluation_s"] or 0 for r in rows), 1),
        **results.fid_network_record())
    name = f"latent_priors_{args.name}"
    results.write(args.results, name, "study", protocol, {"rows": rows, "tables": {"main": table(rows, args.target)}})
    figure(rows, grids, model.pixel_range, pathlib.Path(args.figures) / f"{name}.png",
           f"{dataset}: one decoder, {len(rows)} latent priors (the same noise in each panel)")
    print(json.dumps(table(rows, args.target), indent=1))


if __name__ == "__main__":
    main()
