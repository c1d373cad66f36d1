"""What a finished run says about itself: the FID report and the command that trains it again."""

from __future__ import annotations

from kzoo import datasets, presets
from kzoo.run.folder import RunFolder


def write_report(out, summary, fid_samples, seed=0, num_real=10000):
    """Compute the reference FID of the run's model and write ``report.md``; returns the summary with it."""
    import time

    from kzoo.metrics.evaluate import evaluate_generator
    from kzoo.registry import load_generator
    name = summary["dataset"]
    split = "test" if name in datasets.BUILTIN else "train"
    num_real = min(num_real, len(datasets.load_arrays(name, split).images))
    start = time.perf_counter()
    print(f"kzoo: reference FID of {fid_samples} generated images against {num_real} {name} {split} images")
    report = evaluate_generator(load_generator(out), name, split, fid_samples, ("fid",), num_real=num_real, seed=seed)
    fid_seconds = time.perf_counter() - start
    summary = dict(summary, fid=report["fid"], fid_num_generated=fid_samples, fid_num_real=num_real,
                   fid_split=split, fid_wall_time_s=round(fid_seconds, 1))
    folder = RunFolder(out)
    folder.write_summary(summary)
    folder.write_report(report_markdown(summary))
    return summary


def report_markdown(summary):
    last = summary.get("stability_last_epoch") or {}
    losses = ", ".join(f"{k} {v['mean']:.4g} [{v['min']:.4g}, {v['max']:.4g}]" for k, v in last.items()
                       if isinstance(v, dict))
    fid_note = ("comparable with published values at the same sample sizes" if summary["fid_num_generated"] >= 10000
                else "biased upwards by the small sample: compare only with FIDs at the same sample sizes")
    lines = [
        f"# {summary['preset']} on {summary['dataset']}", "",
        f"- Training: {summary['epochs']} epochs ({summary['steps']} steps, batch {summary['batch_size']}, seed "
        f"{summary['seed']}, {summary['precision']}), {summary['wall_time_s']:.0f} s "
        f"({summary['seconds_per_epoch']:.1f} s per epoch), {summary['parameters']:,} parameters.",
        f"- Reference FID (FID Inception network, pool3): **{summary['fid']:.2f}**, {summary['fid_num_generated']:,} "
        f"generated images against {summary['fid_num_real']:,} {summary['fid_split']} images; {fid_note}. "
        f"Computed in {summary['fid_wall_time_s']:.0f} s.",
        f"- Last epoch, per-step mean [min, max]: {losses}." if losses else "",
        "", "## Samples (fixed latent vectors, last epoch)", "", f"![samples]({summary['figures']['samples']})",
        "", "## Loss curves", "", "![loss curves](loss_curve.png)",
        "", "## Latent interpolation", "", "![interpolation](interpolation.png)", "",
        "Per-epoch stability: [stability.md](stability.md). Model: `model.keras`, `saved_model/`.", ""]
    return "\n".join(line for line in lines if line is not None)


def reproducing_command(folder):
    """The `kzoo train` command that trains the run in `folder` again, read from its summary.json and config.json:
    preset, data, epochs, precision, every `--set`, and the batch, take and seed where they differ from the
    defaults (a run resumed to more epochs, or continued with ``--init-from`` from a model trained with the same
    settings, is reproduced by one command with the final number; one continued with ``--new-optimizer`` is not,
    and its command keeps ``--init-from MODEL --new-optimizer``)."""
    folder = RunFolder(folder)
    summary, config = folder.summary(), folder.config()
    if summary is None or config is None:
        raise ValueError(f"{folder} is not a finished run folder (summary.json and config.json); train into it first.")
    parts = [f"kzoo train --preset {summary['preset']}", f"--dataset {summary['dataset']}",
             f"--epochs {summary['epochs']}", f"--precision {summary['precision']}"]
    if summary["batch_size"] != presets.get(summary["preset"])["batch_size"]:
        parts.append(f"--batch-size {summary['batch_size']}")
    if summary.get("take"):
        parts.append(f"--take {summary['take']}")
    if summary.get("seed"):
        parts.append(f"--seed {summary['seed']}")
    parts += [f"--set {key}={value}" for key, value in (config.get("settings") or {}).items()]
    if config.get("new_optimizer"):  # a continuation with a restarted optimizer: no single run trains it again
        parts.append(f"--init-from {config['init_from']} --new-optimizer")
    if summary.get("prior_skipped"):
        parts.append("--no-prior")
    return " ".join(parts + [f"--out {folder.path}"])
