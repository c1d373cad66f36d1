"""Render the tables of README.md and docs/*.md from the result files in results/.

    python tools/render_docs.py            # rewrite the tables in place (`make docs`)
    python tools/render_docs.py --check    # exit 1, naming the files, when a rendered table differs

A table lives between two markers in a markdown file:

    <!-- table: study_1_fashion_vae_gans/main -->      results/study_1_fashion_vae_gans.json, results.tables.main
    <!-- table: @shipped_models -->                    a table computed from several files (see RENDERERS)
    ...rendered table...
    <!-- /table -->

Everything between the markers is replaced; nothing outside them is touched. The test suite runs the check, so a
table can only change by changing its data.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
MARKER = re.compile(r"(<!-- table: (?P<spec>[^ ]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist (named by a table marker)")
    return json.loads(path.read_text())


def markdown_table(columns, rows) -> str:
    from kzoo.visualize import markdown_table as write
    return write([str(c) for c in columns], rows, cell=_cell)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)  # cells are stored as written, with any \| escapes


def _models() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("model_*.json"))
            if json.loads(p.read_text())["results"].get("family") != "classifier"]


def _seconds(s) -> str:
    return "" if s is None else f"{s:,.0f} s"


def shipped_models() -> str:
    """Every shipped generative model: reference FID (10k vs test), classifier metrics, precision, epochs, time."""
    rows = []
    for m in _models():
        r, p = m["results"], m["protocol"]
        rows.append([f"`{m['name'].removeprefix('model_')}`", p["dataset"], r["family"], p["epochs"], p["precision"],
                     _seconds(p.get("wall_time_s")), f"**{r['fid']:.2f}**", _compared_with(p),
                     _optional(r.get("classifier_fid"), "{:.2f}"), _optional(r.get("classifier_score"), "{:.2f}"),
                     _optional(r.get("classes_covered"), "{}/10"),
                     f"{r['precision']:.3f} / {r['recall']:.3f}" if r.get("precision") is not None else "",
                     f"{100 * r['class_fidelity']:.2f}%" if r.get("class_fidelity") is not None else "",
                     p.get("target", "")])
    return markdown_table(["model", "data", "family", "epochs", "precision", "training time", "reference FID",
                           "generated vs real", "classifier FID", "classifier score", "classes covered",
                           "improved precision / recall (k = 3)", "class fidelity", "project target"], rows)


def _optional(value, form):
    """A measured value in `form`, or an empty cell where it was not measured (no domain classifier for the data)."""
    return "" if value is None else form.format(value)


def _compared_with(protocol):
    """What a reference FID compared: '10,000 vs 10,000 test' (a data set without a test split: its train images)."""
    return f"{protocol['num_generated']:,} vs {protocol['num_real']:,} {protocol['split']}"


def headline() -> str:
    """The best GAN and the best VAE per dataset (lowest reference FID among the shipped models)."""
    best = {}
    for m in _models():
        key = (m["protocol"]["dataset"], m["results"]["family"])
        if key not in best or m["results"]["fid"] < best[key]["results"]["fid"]:
            best[key] = m
    rows = []
    for (dataset, family), m in sorted(best.items()):
        r, p = m["results"], m["protocol"]
        seeds = r.get("seeds")
        fid = f"**{r['fid']:.2f}**" if not seeds else f"**{r['fid_mean']:.2f} ± {r['fid_std']:.2f}**"
        # Each seed's training time when there are several: what a reader needs to plan a run of their own.
        times = (" / ".join(_seconds(run["wall_time_s"]) for run in r["seed_runs"]) if r.get("seed_runs")
                 else _seconds(p.get("wall_time_s")))
        rows.append([dataset, family, f"`{m['name'].removeprefix('model_')}`", fid, _compared_with(p),
                     len(seeds) if seeds else 1, p["epochs"], times,
                     f"[{m['name']}.json](results/{m['name']}.json)"])
    return markdown_table(["data", "family", "model", "reference FID", "generated vs real", "seeds", "epochs",
                           "training time", "data file"], rows)


# Published FIDs on the same protocol (10,000 generated vs the 10,000 test images) that the shipped models are held
# against: (data, family, FID, who reported it).
FRONTIER = [
    ("mnist", "gan", 6.7, "Lucic et al. 2018, best GAN after a wide search"),
    ("fashion_mnist", "gan", 15.0, "project target (Lucic et al. 2018 best: 21.5)"),
    ("mnist", "vae", 12.6, "Dai & Wipf 2019, two-stage VAE"),
    ("fashion_mnist", "vae", 29.3, "Dai & Wipf 2019, two-stage VAE"),
]


def frontier() -> str:
    """Each published target beside the best shipped model of its data and family (and the best unconditional one,
    since the published figures are of unconditional models): FID, how far from the target, met or not."""
    rows = []
    for dataset, family, target, source in FRONTIER:
        candidates = [m for m in _models() if m["protocol"]["dataset"] == dataset and m["results"]["family"] == family
                      and m["protocol"]["num_generated"] >= 10000]
        unconditional = [m for m in candidates if m["results"].get("class_fidelity") is None]

        def best(models, with_seeds=False, target=target):
            from kzoo.results import versus_target
            if not models:
                return ["", "", ""] + ([""] if with_seeds else [])
            m = min(models, key=lambda m: m["results"]["fid"])
            fid = m["results"]["fid"]
            cells = [f"`{m['name'].removeprefix('model_')}`", f"**{fid:.2f}**", versus_target(fid, target)]
            if with_seeds:
                cells.append(seeds_against_target(m["results"], target))
            return cells

        rows.append([dataset, family, f"<= {target:g}", source, *best(candidates, with_seeds=True),
                     *best(unconditional)])
    return markdown_table(["data", "family", "target", "source", "best model", "reference FID (shipped seed)",
                           "target", "its seeds", "best unconditional model", "reference FID", "target"], rows)


def seeds_against_target(results, target) -> str:
    """The recorded seeds of one recipe against an upper-bound target: mean ± std, and how many are under it
    (the worst seed's distance when not all are)."""
    from kzoo.results import versus_target
    runs = results.get("seed_runs") or []
    if len(runs) < 2:
        return "one seed"
    fids = [r["fid"] for r in runs]
    under = sum(f <= target for f in fids)
    text = f"{results['fid_mean']:.2f} ± {results['fid_std']:.2f} over {len(runs)}; {under} of {len(runs)} under"
    if under < len(runs):
        text += f" (worst {max(fids):.2f}: {versus_target(max(fids), target)})"
    return text


METRIC_NAMES = {"classifier_fid": "classifier FID", "classifier_score": "classifier score",
                "classes_covered": "classes covered", "test_loss": "test loss (BCE + KL per image)",
                "final_loss": "final training loss"}


def precision_quality() -> str:
    """float32 against mixed bfloat16, mean ± std over seeds, and the gap against the seed spread."""
    record = load("precision_quality")["results"]
    rows = []
    for key, entry in sorted(record.items()):
        seeds = len(entry["protocol"]["seeds"])
        for metric, c in entry["comparison"].items():
            cells = []
            for precision in entry["protocol"]["precisions"]:
                s = entry["by_precision"][precision][metric]
                cells.append(f"{s['mean']:.2f} ± {s['std']:.2f}")
            rows.append([key, seeds, METRIC_NAMES.get(metric, metric)] + cells +
                        [f"{c['gap']:+.2f}", f"{c['seed_std']:.2f}", "yes" if c["within_seed_spread"] else "no"])
    table = markdown_table(["run", "seeds", "metric", "float32 (mean ± std)", "mixed bfloat16 (mean ± std)",
                            "gap", "seed std (larger)", "gap within seed std"], rows)
    lines = []
    for key, entry in sorted(record.items()):
        inside = [METRIC_NAMES.get(m, m) for m, c in entry["comparison"].items() if c["within_seed_spread"]]
        outside = [METRIC_NAMES.get(m, m) for m, c in entry["comparison"].items() if not c["within_seed_spread"]]
        speed = entry["by_precision"]
        ratio = speed["mixed_bfloat16"]["wall_time_s"]["mean"] / speed["float32"]["wall_time_s"]["mean"]
        native = "native" if entry["protocol"].get("native_bfloat16") else "emulated (no AVX512_BF16 or AMX)"
        lines.append(f"- `{key}`: bfloat16 within the seed spread on {', '.join(inside) or 'no metric'}; outside it on "
                     f"{', '.join(outside) or 'no metric'}. Training took {ratio:.1f}x the float32 time (bfloat16 "
                     f"{native} on the machine that ran it).")
    return table + "\n" + "\n".join(lines) + "\n"


def sweep(name) -> str:
    """A `examples/sweep.py` result: each value's metrics, mean ± std over seeds, and the protocol in one line."""
    record = load(name)
    protocol, by_value = record["protocol"], record["results"]["by_value"]
    shown = [("fid", "reference FID", 2), ("classifier_fid", "classifier FID", 2),
             ("classifier_score", "classifier score", 2), ("classes_covered", "classes covered", 1),
             ("test_loss", "test loss (-ELBO)", 2),
             ("test_reconstruction_loss", "test reconstruction", 2), ("test_kl_loss", "test KL", 2),
             ("wall_time_s", "training time (s)", 0)]
    shown = [m for m in shown if all(m[0] in stats for stats in by_value.values())]

    def cell(stats, digits):
        if stats["std"] is None:
            return f"{stats['mean']:.{digits}f}"
        return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"

    rows = [[f"`{value}`"] + [cell(stats[m], d) for m, _, d in shown] for value, stats in by_value.items()]
    table = markdown_table([f"`{protocol['setting']}`"] + [label for _, label, _ in shown], rows)
    return table + (f"\n{len(protocol['seeds'])} seeds per value, {protocol['epochs']} epochs on "
                    f"{protocol['train_images']} training images, {', '.join(protocol['precision'])}; metrics of "
                    f"{protocol['num_generated']:,} samples against the {protocol['num_real']:,} {protocol['split']} "
                    f"images with the {protocol['feature_network']}; `{protocol['command']}` "
                    f"([`results/{name}.json`](../results/{name}.json)).\n")


def conditional_progress(name) -> str:
    """A conditional run's checkpoint measured by tools/conditional_progress.py: the protocol in a sentence, then the
    per-class table."""
    record = load(name)
    p, r = record["protocol"], record["results"]
    table = r["tables"]["per_class"]
    total = p["planned_epochs"] * p["steps_per_epoch"] if p.get("steps_per_epoch") else None
    return (f"Checkpoint after {p['steps']:,} generator steps ({p['epochs']} of {p['planned_epochs']} epochs"
            + (f", {total:,.0f} steps planned" if total else "") + f"; {p['precision']}, seed "
            f"{', '.join(map(str, p['seeds']))}, {p['wall_time_s'] / 60:.0f} minutes of training): "
            f"{r['class_fidelity'] * 100:.1f}% of {p['num_generated']:,} samples drawn class by class are judged to "
            f"be the class asked for by the {p['feature_network']}, which scores {r['real_accuracy'] * 100:.2f}% on "
            f"the real {p['split']} images; {r['classes_covered']} classes covered "
            f"([`results/{name}.json`](../results/{name}.json)).\n\n"
            + markdown_table(table["columns"], table["rows"]))


def class_fidelity(name) -> str:
    """A shipped conditional model's per-class table: the share of each class's samples the domain classifier
    assigns to it, and that class's classifier FID (from its evaluation)."""
    from kzoo.datasets import CLASS_NAMES
    record = load(f"model_{name}")
    e = record["results"]["evaluation"]
    names = CLASS_NAMES.get(e["dataset"]) or []
    rows = [[names[c["class"]] if c["class"] < len(names) else c["class"], f"{100 * c['accuracy']:.2f}",
             f"{c['classifier_fid']:.2f}"] for c in e["class_fidelity"]["per_class"]]
    return markdown_table(["class", "samples assigned to the class asked for (%)", "classifier FID of the class"],
                          rows)


def ci_time() -> str:
    r = load("ci_time")
    res, p = r["results"], r["protocol"]
    machine = p.get("machine", {})
    cpu = f"{machine.get('cpu', '?')}, {machine.get('logical_cores', '?')} cores" + {
        True: ", native bfloat16", False: ", no native bfloat16"}.get(machine.get("cpu_native_bfloat16"), "")
    return markdown_table(["measured", "tests passed", "failed", "deselected", "tests (pytest)", "in all (fresh clone)",
                           "machine", "commit"],
                          [[p["date"][:10], res["passed"], res.get("failed", 0), res.get("deselected"),
                            _seconds(res["pytest_s"]),
                            f"{res['wall_s'] // 60:.0f} min {res['wall_s'] % 60:.0f} s", cpu, p["git_commit"][:7]]])


def main_job() -> str:
    r = load("main_job")
    res, p = r["results"], r["protocol"]
    return markdown_table(["command", "epochs", "precision", "training", "FID time", "reference FID",
                           "real / generated", "commit"],
                          [[f"`{p['command']}`", p["epochs"], p["precision"], _seconds(res["training_s"]),
                            _seconds(res["fid_s"]), f"**{res['fid']:.2f}**",
                            f"{p['num_real']:,} / {p['num_generated']:,}", p["git_commit"][:7]]])


def reference_fid() -> str:
    r = load("benchmark_reference_fid")["results"]
    names = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
    return markdown_table(["dataset", "FID train[:N] vs test[:N]", "N", "time"],
                          [[names.get(k, k), f"{v['fid_train_vs_test']:.2f}", v["count"], _seconds(v["seconds"])]
                           for k, v in r.items()])


def inception_throughput() -> str:
    r = load("benchmark_inception_throughput")["results"]
    rows = [[p, f"{r[p]['kzoo_fid_inception_images_per_s']} images/s",
             f"{r[p]['keras_applications_inceptionv3_images_per_s']} images/s", f"{r[p]['ratio']:.2f}"]
            for p in ("float32", "mixed_bfloat16")]
    table = markdown_table(["precision", "kzoo FID Inception", "keras.applications InceptionV3", "ratio"], rows)
    check = r["fid_check"]
    return table + (f"\nFID of train[:{check['n']}] vs test[:{check['n']}]: {check['fid_float32']:.2f} in float32, "
                    f"{check['fid_mixed_bfloat16']:.2f} in mixed bfloat16 ({check['relative_difference']:.1%} "
                    "apart).\n")


def _throughput_cells(v, rate):
    """Images/s of kzoo and the reference (formatted by `rate`), their ratio, the single rounds' ratio quartiles and
    both peak memories: one row of `benchmarks/training_throughput.py`."""
    return [rate.format(v["kzoo_images_per_s"]), rate.format(v["reference_images_per_s"]), f"{v['ratio']:.2f}",
            " / ".join(f"{q:.2f}" for q in v["round_ratio_quartiles"]), f"{v['kzoo_peak_rss_mib']:,.0f} MiB",
            f"{v['reference_peak_rss_mib']:,.0f} MiB"]


def training_throughput() -> str:
    r = load("benchmark_training_throughput")["results"]
    names = {"dcgan": "DCGAN (`dcgan_fashion`, batch 128)", "wgan_gp": "WGAN-GP (`wgan_gp_fashion`, 5 x 64 per step)",
             "vae": "conv VAE (`vae_conv_fashion`, batch 128)"}
    rows = [[names.get(k, k), *_throughput_cells(v, "{:,.0f}")] for k, v in r["models"].items()]
    return markdown_table(["model", f"kzoo ({r['kzoo_precision']}) images/s", "reference (float32) images/s",
                           "ratio", "ratio of single rounds, quartiles", "kzoo peak memory",
                           "reference peak memory"], rows)


def diffusion_training() -> str:
    """The diffusion U-Net's training throughput against the keras.io-style step (kzoo's default precision, and
    float32 when measured), and what it means for an epoch and for the preset's epochs."""
    rows, notes = [], []
    for name in ("benchmark_training_throughput_diffusion", "benchmark_training_throughput_diffusion_float32"):
        if not (RESULTS / f"{name}.json").exists():
            continue
        record = load(name)
        r, p = record["results"], record["protocol"]
        v = r["models"]["diffusion"]
        epoch_s = v["epoch_images"] / v["kzoo_images_per_s"]
        rows.append([r["kzoo_precision"], *_throughput_cells(v, "{:,.1f}"), f"{epoch_s / 60:,.1f} min",
                     f"{epoch_s * v['preset_epochs'] / 3600:,.1f} h"])
        notes.append(f"`{p['command']}` ({p['rounds']} alternating rounds, commit {str(p.get('git_commit'))[:7]})")
    table = markdown_table(["kzoo precision", "kzoo images/s", "reference (float32) images/s", "ratio",
                            "ratio of single rounds, quartiles", "kzoo peak memory", "reference peak memory",
                            f"kzoo epoch of {v['epoch_images']:,} images", f"the preset's {v['preset_epochs']} epochs"],
                           rows)
    return table + "\n" + "; ".join(notes) + ".\n"


def card(name) -> str:
    """The measured facts of one shipped model, for its card."""
    m = load(f"model_{name}")
    r, p = m["results"], m["protocol"]
    rows = [["precision", p["precision"]], ["epochs", p["epochs"]], ["steps", p.get("steps") or "not recorded"],
            ["training time (2-core CPU)", _seconds(p.get("wall_time_s"))],
            ["peak memory", f"{p['peak_memory_mib']:,.0f} MiB" if p.get("peak_memory_mib") else "not recorded"],
            ["seed", ", ".join(map(str, p["seeds"]))],
            [f"reference FID ({p['num_generated']:,} generated vs {p['num_real']:,} {p['split']})",
             f"**{r['fid']:.2f}**"],
            ["pairs with cosine > 0.9", f"{r['near_duplicate_share']:.2%}" if r.get("near_duplicate_share") is not None
             else ""]]
    if r.get("classifier_fid") is not None:  # data sets with a domain classifier (MNIST, Fashion-MNIST)
        rows[-1:-1] = [["classifier FID", f"{r['classifier_fid']:.2f}"],
                       ["classifier score (at most 10)", f"{r['classifier_score']:.2f}"],
                       ["classes covered", f"{r['classes_covered']}/10"]]
    if r.get("seed_runs"):
        runs = r["seed_runs"]
        rows.append([f"reference FID over seeds {', '.join(str(run['seed']) for run in runs)} (mean ± std)",
                     f"**{r['fid_mean']:.2f} ± {r['fid_std']:.2f}** ("
                     + ", ".join(f"{run['fid']:.2f}" + (" shipped" if run["shipped"] else "") for run in runs)
                     + "; training " + " / ".join(_seconds(run["wall_time_s"]) for run in runs) + ")"])
    if r.get("precision") is not None:
        rows += [["precision / recall (k = 3)", f"{r['precision']:.3f} / {r['recall']:.3f}"],
                 ["density / coverage (k = 5)", f"{r['density']:.3f} / {r['coverage']:.3f}"]]
    if r.get("class_fidelity") is not None:
        real = r["evaluation"]["class_fidelity"]["real_accuracy"]
        rows.append(["class fidelity (classifier agrees with the class asked for)",
                     f"**{r['class_fidelity']:.2%}** (real test images: {real:.2%})"])
    e = r.get("evaluation") or {}
    if e.get("sampler"):  # a diffusion model: how its samples were drawn, and how fast
        rows.append(["sampler", f"`{e['sampler']}`, {e['network_evaluations_per_image']} network evaluations per "
                                f"image"])
        speed = _sampling_speed(name, e["sampler"], e["network_evaluations_per_image"])
        if speed:
            rows.append(["sampling speed (2-core CPU)", speed])
    if p.get("fid_by_epoch"):
        curve = p["fid_by_epoch"]
        rows.append([f"reference FID during training ({curve['num_generated']:,} generated vs "
                     f"{curve['num_generated']:,} {curve['split']}), by epoch",
                     ", ".join(f"{epoch}: {fid:.1f}" for epoch, fid in zip(curve["epochs"], curve["fid"]))])
    rows += [
            ["training command", f"`{p['command']}`"]]
    if p.get("trained_as"):  # trained in parts: the command above trains it in one
        rows.append(["trained as", p["trained_as"]])
    rows += [["evaluation command", f"`{p['evaluation_command']}`"],
            ["data file", f"[results/model_{name}.json](../../results/model_{name}.json)"]]
    return markdown_table(["", "measured"], rows)


def _sampling_speed(name, sampler, steps):
    """The shipped setting's row of the model's sampler table (`tools/sampler_table.py`), if one was measured."""
    if not (RESULTS / f"sampler_table_{name}.json").exists():
        return None
    record = load(f"sampler_table_{name}")
    for row in record["results"]["rows"]:
        if (row["sampler"], row["steps"]) == (sampler, steps):
            return (f"{row['images_per_s']:.1f} images/s ({record['protocol']['num_generated']:,} images in "
                    f"{_seconds(row['sampling_s'])}, batch {record['protocol']['batch_size']}; the sampler table)")
    return None


def classifiers() -> str:
    rows = []
    for p in sorted(RESULTS.glob("model_classifier_*.json")):
        m = json.loads(p.read_text())
        rows.append([f"`{m['name'].removeprefix('model_')}`", m["protocol"]["dataset"],
                     f"{m['results']['test_accuracy']:.2%}", m["protocol"]["epochs"],
                     _seconds(m["protocol"]["wall_time_s"]), f"`{m['protocol']['command']}`"])
    return markdown_table(["classifier", "data", "test accuracy", "epochs", "training time", "command"], rows)


def frechet_distance() -> str:
    r = load("benchmark_frechet_distance")["results"]
    def low_rank(v):
        if "kzoo_low_rank_s" not in v:
            return ["-", "-"]
        return [f"{v['kzoo_low_rank_s']:.2f} s ({v['low_rank_speedup']:.1f}x)",
                f"{v['low_rank_relative_difference']:.1e}"]

    rows = [[case, f"{v['scipy_sqrtm_s']:.2f} s", f"{v['kzoo_s']:.2f} s ({v['speedup']:.1f}x)",
             f"{v['relative_difference']:.1e}", *low_rank(v)] for case, v in r.items()]
    return markdown_table(["2048-d statistics", "scipy.linalg.sqrtm (pytorch-fid)",
                           "kzoo, symmetric eigenvalues (speed-up, median of rounds)", "relative difference",
                           "kzoo, low-rank form (speed-up)", "relative difference"], rows)


def diffusion_sampling() -> str:
    record = load("benchmark_diffusion_sampling")
    r, p = record["results"], record["protocol"]
    rows = [[batch, f"{v['kzoo_images_per_s']:.2f}", f"{v['reference_images_per_s']:.2f}", f"**{v['ratio']:.2f}x**",
             " / ".join(f"{q:.2f}" for q in v["round_ratio_min_median_max"]), f"{v['max_abs_image_difference']:.1e}"]
            for batch, v in r["batches"].items()]
    table = markdown_table(["batch", "kzoo compiled loop, images/s", "Python loop of eager calls, images/s", "ratio",
                            "ratio of single rounds, min / median / max", "largest image difference"], rows)
    return table + f"\n{p['network']}; {p['sampler']}; {p['precision']}; {p['rounds']} alternating rounds; " \
                   f"`{p['command']}` (commit {str(p.get('git_commit'))[:7]}).\n"


def sampler_table(name) -> str:
    """One diffusion model's FID and sampling time per sampler and step count (`tools/sampler_table.py`)."""
    record = load(f"sampler_table_{name}")
    rows, p = record["results"]["rows"], record["protocol"]
    table = markdown_table(
        ["sampler", "steps", "network evaluations per image", "reference FID", "images/s",
         f"time for {p['num_generated']:,} images"],
        [[f"`{r['sampler']}`", r["steps"], r["network_evaluations_per_image"], f"**{r['fid']:.2f}**",
          f"{r['images_per_s']:.1f}", _seconds(r["sampling_s"])] for r in rows])
    return table + f"\n{_compared_with(p)}, seed {p['seeds'][0]}, {p['precision']}, batch {p['batch_size']}; " \
                   f"`{p['command']}` (commit {str(p.get('git_commit'))[:7]}).\n"


def evaluation(name) -> str:
    """One recorded evaluation (results/evaluation_NAME.json, `tools/record_evaluation.py`): its model, counts and
    the metrics it holds."""
    record = load(f"evaluation_{name}")
    e, p = record["results"], record["protocol"]
    columns, row = ["model", "generated vs real", "reference FID"], [
        f"`{p.get('model')}`", _compared_with(p), f"{e['fid']:.2f}"]
    if "prdc" in e:
        columns += ["precision (k = 3)", "recall (k = 3)", "density (k = 5)", "coverage (k = 5)"]
        row += [f"{e['prdc'][k]:.4g}" for k in ("precision", "recall", "density", "coverage")]
    if "coverage" in e:
        columns += ["classifier score", "classes covered"]
        row += [f"{e['classifier_score_mean']:.2f}", f"{e['coverage']['covered']}/{e['coverage']['classes']}"]
    return markdown_table(columns, [row]) + f"\n`{p['command']}`\n"


def onednn() -> str:
    record = load("benchmark_onednn")
    rows = [[name, f"{v['onednn_images_per_s']:.1f}", f"{v['default_images_per_s']:.1f}", f"{v['ratio']:.2f}",
             " / ".join(f"{q:.2f}" for q in v["round_ratios"])] for name, v in record["results"]["presets"].items()]
    return markdown_table(["preset", "oneDNN on (images/s)", "TensorFlow's default here (images/s)", "speed-up",
                           "per round"], rows) + f"\n`{record['protocol']['command']}`\n"


def xla() -> str:
    record = load("benchmark_xla")
    rows = [[name, v["family"], f"{v['xla_images_per_s']:.1f}", f"{v['plain_images_per_s']:.1f}",
             f"{v['speedup']:.2f}", " / ".join(f"{q:.2f}" for q in v["round_speedups"]),
             f"{v['first_step_seconds']['xla']:.1f} s", f"{v['first_step_seconds']['plain']:.1f} s"]
            for name, v in record["results"]["presets"].items()]
    return markdown_table(["preset", "family", "XLA (images/s)", "no XLA (images/s)", "speed-up", "per round",
                           "first step, XLA", "first step, no XLA"], rows) + f"\n`{record['protocol']['command']}`\n"


RENDERERS = {
    "onednn": onednn, "xla": xla, "diffusion_training": diffusion_training, "evaluation": evaluation,
    "class_fidelity": class_fidelity, "diffusion_sampling": diffusion_sampling, "frechet_distance": frechet_distance,
    "card": card, "classifiers": classifiers, "sampler_table": sampler_table, "reference_fid": reference_fid,
    "inception_throughput": inception_throughput, "training_throughput": training_throughput,
    "shipped_models": shipped_models, "headline": headline, "frontier": frontier,
    "precision_quality": precision_quality, "ci_time": ci_time, "main_job": main_job, "sweep": sweep,
    "conditional_progress": conditional_progress,
}


def render_spec(spec: str) -> str:
    if spec.startswith("@"):
        name, _, argument = spec[1:].partition(":")
        if name not in RENDERERS:
            raise KeyError(f"unknown renderer {spec}; known: {', '.join('@' + k for k in RENDERERS)}")
        return RENDERERS[name](argument) if argument else RENDERERS[name]()
    name, _, key = spec.partition("/")
    table = load(name)["results"]["tables"][key]
    return markdown_table(table["columns"], table["rows"])


def render_text(text: str) -> str:
    return MARKER.sub(lambda m: m.group(1) + render_spec(m.group("spec")) + m.group(4), text)


def documents() -> list[pathlib.Path]:
    return ([REPO / "README.md", REPO / "saved_models" / "README.md"] + sorted((REPO / "docs").glob("*.md"))
            + sorted((REPO / "saved_models").glob("*/README.md")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale tables instead of rewriting them")
    args = parser.parse_args(argv)
    stale = []
    for path in documents():
        text = path.read_text()
        rendered = render_text(text)
        if rendered != text:
            stale.append(path.relative_to(REPO))
            if not args.check:
                path.write_text(rendered)
    if args.check and stale:
        print("stale tables (run `make docs`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    print(("rewrote " + ", ".join(map(str, stale))) if stale and not args.check else "tables up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
