"""Shipping a run as a named model: its files copied into ``saved_models/NAME`` with its evaluation and manifest
(`kzoo.registry` is the read side), and its result recorded in ``results/model_NAME.json``: the protocol (command,
preset, training seed, --set settings, data, counts, feature network, evaluation seed, precision, epochs, steps,
wall time, peak memory) and the results, with every seed's run when more seeds of the recipe were trained.

`ship` does it for a finished run; `reevaluate` records a new evaluation of the same weights; `add_seeds` adds runs
of the recipe with other seeds. `tools/model_card.py` is their command line. Every function takes `root`, the
project folder holding ``saved_models/`` and ``results/`` (default: the current folder).
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil

from kzoo.run.folder import RunFolder
from kzoo.run.report import reproducing_command
from kzoo.run.saving import archive_precision

# Files a shipped model keeps from its run folder (what sampling, evaluation and the card need).
SHIPPED_FILES = ("model.keras", "interpolation.png", "loss_curve.png", "stability.md", "reconstructions.png")


def _root(root):
    return pathlib.Path(root) if root is not None else pathlib.Path.cwd()


def target_with_status(target, fid):
    """A target that starts with an upper bound ("<= 12.6 (source)") gets how the FID stands against it appended
    ("...: met" or "...: +7.2% from it"); other wording is kept as given."""
    from kzoo.results import versus_target
    bound = re.match(r"\s*<=\s*([0-9]+(?:\.[0-9]+)?)", target)
    return f"{target}: {versus_target(fid, float(bound.group(1)))}" if bound and ":" not in target else target


def model_result(name, facts, provenance=None, git_commit=None, family=None, root=None):
    """Write results/model_NAME.json from saved_models/NAME (evaluation.json, model.keras) and `facts` (command,
    epochs, steps, wall_time_s, peak_memory_mib, target, ...; ``preset``, whose family is recorded, defaults to
    NAME: give it, or `family`, for a model named otherwise). `root`: the project folder holding saved_models/ and
    results/ (default: the current folder)."""
    import keras

    from kzoo import presets
    from kzoo import results as kresults
    root = _root(root)
    folder = root / "saved_models" / name
    e = json.loads((folder / "evaluation.json").read_text())
    facts = dict(facts)
    preset_name = facts.pop("preset", name)
    family = family or presets.get(preset_name)["family"]
    if preset_name in presets.PRESETS:  # what trained it, as fields (a seed run is checked against them)
        facts.setdefault("preset", preset_name)
    record = kresults.protocol(
        command=facts.pop("command"), dataset=e["dataset"], split=e["split"], num_real=e.get("num_real"),
        num_generated=e.get("num_generated", e["num_samples"]),
        evaluation_command=f"kzoo evaluate --model saved_models/{name} --dataset {e['dataset']}"
                           + (f" --split {e['split']}" if e["split"] != "test" else "")
                           + f" --metrics {','.join(evaluated_metrics(e))} --num-samples {e['num_samples']}"
                           + (f" --sampler {e['sampler']} --steps {e['sampling_steps']}" if "sampler" in e else ""),
        seeds=[e["seed"]], precision=archive_precision(folder / "model.keras"), **kresults.fid_network_record(),
        **facts)
    if provenance:
        record["provenance"] = provenance
    if git_commit:
        record["git_commit"] = git_commit
    weights = kresults.weights_sha256(keras.models.load_model(folder / "model.keras"))
    from kzoo import registry
    registry.write_manifest(folder, keras.models.load_model(folder / "model.keras"), e["dataset"],
                            f"reference FID ({record['num_generated']:,} generated vs {record['num_real']:,} "
                            f"{e['split']})", round(e["fid"], 2), precision=record["precision"],
                            results=f"results/model_{name}.json")
    result = {"family": family, "weights_sha256": weights, "fid": e["fid"], "classifier_fid": e.get("classifier_fid"),
              "classifier_score": e.get("classifier_score_mean"),
              "classes_covered": e.get("coverage", {}).get("covered"),
              "near_duplicate_share": e.get("diversity", {}).get("share_above"), "evaluation": e}
    if "prdc" in e:
        result.update({k: e["prdc"][k] for k in ("precision", "recall", "density", "coverage")})
    if "class_fidelity" in e:
        result["class_fidelity"] = e["class_fidelity"]["accuracy"]
    return kresults.write(root / "results", f"model_{name}", "model", record, result)


# The training facts of a results/model_NAME.json that a new evaluation of the same weights keeps.
TRAINING_FACTS = ("command", "preset", "training_seed", "settings", "epochs", "steps", "wall_time_s",
                  "peak_memory_mib", "parameters", "final", "target", "trained_as", "fid_by_epoch")


def reevaluate(name, evaluation_path, root=None):
    """Replace saved_models/NAME/evaluation.json with a new evaluation of the same weights (more metrics, e.g.
    precision/recall) and rewrite results/model_NAME.json, keeping its training facts and provenance.

    The new evaluation must have the old one's data, split, sample count and seed, so the generated images are
    the same and its FID must agree with the recorded one (to 0.05: only the feature pass's float order differs);
    otherwise nothing is replaced."""
    root = _root(root)
    folder = root / "saved_models" / name
    old_result = json.loads((root / "results" / f"model_{name}.json").read_text())
    old = json.loads((folder / "evaluation.json").read_text())
    new = json.loads(pathlib.Path(evaluation_path).read_text())
    from kzoo.metrics.evaluate import COMPARABLE_SETTINGS
    for key in COMPARABLE_SETTINGS:
        if old.get(key) != new.get(key):
            raise ValueError(f"{evaluation_path}: {key} is {new.get(key)!r}, the shipped evaluation's is "
                             f"{old.get(key)!r}; evaluate with the same settings (see results/model_{name}.json's "
                             "evaluation_command) so the figures stay comparable.")
    if abs(old["fid"] - new["fid"]) > 0.05:
        raise ValueError(f"{evaluation_path}: FID {new['fid']:.3f} differs from the shipped {old['fid']:.3f}: not an "
                         "evaluation of the same weights and samples; nothing replaced.")
    protocol = old_result["protocol"]
    facts = {key: protocol[key] for key in TRAINING_FACTS if key in protocol}
    from kzoo import results as kresults
    provenance = "; ".join(filter(None, [
        protocol.get("provenance"),
        f"re-evaluated with {', '.join(evaluated_metrics(new))} at commit {kresults.git_commit()} on "
        f"{kresults.protocol()['date'][:10]} (FID then {old['fid']:.4f}, now {new['fid']:.4f})"]))
    before = (folder / "evaluation.json").read_bytes()
    staged = folder / ".evaluation.json.new"
    staged.write_text(json.dumps(new, indent=1))
    staged.replace(folder / "evaluation.json")
    try:
        path = model_result(name, facts, provenance=provenance, git_commit=protocol.get("git_commit"),
                            family=old_result["results"]["family"], root=root)
    except BaseException:
        (folder / "evaluation.json").write_bytes(before)  # nothing replaced unless the record is written too
        raise
    runs = old_result["results"].get("seed_runs")
    if runs:  # the other seeds' runs stay; the shipped one's FID is the new evaluation's
        record = json.loads(path.read_text())
        runs = [dict(run, fid=new["fid"]) if run["shipped"] else run for run in runs]
        record["results"].update(seed_statistics(runs), seed_runs=runs)
        path = kresults.write(root / "results", f"model_{name}", "model", record["protocol"], record["results"])
    return path


def seed_statistics(runs):
    """``seeds``, ``fid_mean`` and ``fid_std`` (sample standard deviation, n - 1) of per-seed rows."""
    import statistics
    fids = [run["fid"] for run in runs]
    return {"seeds": [run["seed"] for run in runs], "fid_mean": statistics.fmean(fids),
            "fid_std": statistics.stdev(fids) if len(fids) > 1 else 0.0}


def recorded_runs(record):
    """The seed runs a results/model_NAME.json record holds: its ``seed_runs``, or the shipped run alone."""
    protocol, result = record["protocol"], record["results"]
    # The protocol's `seeds` are the evaluation's; `training_seed` is the training run's.
    return result.get("seed_runs") or [{
        "seed": protocol.get("training_seed", 0), "shipped": True, "fid": result["fid"],
        "precision": result.get("precision"),
        "recall": result.get("recall"), "wall_time_s": protocol.get("wall_time_s"), "steps": protocol.get("steps"),
        "command": protocol["command"]}]


def add_seeds(name, run_dirs, root=None):
    """Add runs of the shipped model's recipe with other seeds to results/model_NAME.json (see the module's
    docstring). Each run must be the shipped model's preset, epochs, precision and `--set` settings with a seed
    not yet recorded, and its evaluation.json must have the shipped evaluation's data, split, sample count, seed
    and network; otherwise nothing is written and the error says what differs."""
    from kzoo import results as kresults
    from kzoo.metrics.evaluate import COMPARABLE_SETTINGS
    root = _root(root)
    record = json.loads((root / "results" / f"model_{name}.json").read_text())
    protocol, result = record["protocol"], record["results"]
    if "preset" not in protocol:
        raise ValueError(f"results/model_{name}.json records no preset: it was not trained by `kzoo train`, so no "
                         "other seed of its recipe can be checked against it.")
    runs = recorded_runs(record)
    for folder in map(RunFolder, run_dirs):
        summary, config = folder.summary(), folder.config({})
        evaluation = json.loads((folder / "evaluation.json").read_text())
        # A model given its prior by `kzoo prior`, or continued from another run, was made by a chain of commands.
        earlier = earlier_training(summary, root)
        if summary.get("prior_fit"):
            command = prior_fit_facts(summary, earlier)["command"]
        else:
            command = reproducing_command(folder)
            if earlier is not None:  # the continuation as it ran (a one-command form would hide a precision change)
                if "--init-from" not in command:
                    command = command.replace(" --out ", f" --init-from {summary['init_from']} --out ", 1)
                command = f"{earlier['command'].split(' && ')[0]} && {command}"
        problems = [f"{what} is {mine!r}, the shipped model's {theirs!r}" for what, mine, theirs in (
            ("the preset", summary["preset"], protocol["preset"]),
            ("the number of epochs", summary["epochs"], protocol["epochs"]),
            ("the precision", summary["precision"], protocol["precision"]),
            ("the --set settings", config.get("settings") or {}, protocol.get("settings") or {}))
            if mine != theirs]
        problems += [f"the evaluation's {key} is {evaluation.get(key)!r}, the shipped evaluation's "
                     f"{result['evaluation'].get(key)!r}" for key in COMPARABLE_SETTINGS
                     if evaluation.get(key) != result["evaluation"].get(key)]
        if summary["seed"] in [run["seed"] for run in runs]:
            problems.append(f"seed {summary['seed']} is already recorded")
        if problems:
            raise ValueError(f"{folder.path}: {'; '.join(problems)}. Train with the shipped command and another "
                             f"--seed, and evaluate with its evaluation_command's settings; nothing was written.")
        prdc = evaluation.get("prdc", {})
        runs.append({"seed": summary["seed"], "shipped": False, "fid": evaluation["fid"],
                     "precision": prdc.get("precision"), "recall": prdc.get("recall"),
                     "wall_time_s": summary["wall_time_s"], "steps": summary["steps"], "command": command,
                     "evaluation": evaluation})
    result.update(seed_statistics(runs), seed_runs=runs)
    return kresults.write(root / "results", f"model_{name}", "model", protocol, result)


def earlier_training(summary, root=None):
    """What the model a run was continued from (``init_from``) was trained by: a shipped model's results protocol,
    or a run folder's command, epochs, steps and precision; None when the run was not continued or neither is
    found."""
    source = summary.get("init_from")
    if not source:
        return None
    shipped = _root(root) / "results" / f"model_{pathlib.Path(str(source)).name}.json"
    folder = RunFolder(source)
    if folder.is_finished():
        first = folder.summary()
        return {"command": reproducing_command(folder.path), "epochs": first["epochs"], "steps": first["steps"],
                "precision": first["precision"], "wall_time_s": first["wall_time_s"], "run_folder": True}
    return json.loads(shipped.read_text())["protocol"] if shipped.exists() else None


def prior_fit_facts(summary, earlier=None):
    """``command`` and ``trained_as`` of a model written by `kzoo prior` (`summary` its summary.json): the training
    command, then the prior's. `earlier`: how the model the VAE was continued from (``init_from``) was trained
    (`earlier_training`: a shipped model's results protocol or a run folder's facts); its first training command
    goes first."""
    fit = summary["prior_fit"]
    prior = fit["latent_prior"] or {"kind": "standard_normal"}
    what = (f"a {prior['components']}-component Gaussian mixture" if prior["kind"] == "mixture" else
            "a second stage" if prior["kind"] == "second_stage" else "N(0, I)")
    command = f"{fit['train_command']} && {fit['command']}"
    trained = (f"{summary['epochs']} epochs ({summary['steps']:,} steps, {summary['wall_time_s']:,.0f} s) "
               f"by `{fit['train_command']}`")
    if earlier is not None:
        first_command = earlier["command"].split(" && ")[0]  # its own training, not the prior it was shipped with
        how = " with a new optimizer" if "--new-optimizer" in fit["train_command"] else ""
        command = f"{first_command} && {command}"
        trained = (f"{earlier['epochs']} epochs ({earlier['steps']:,} steps) in {earlier['precision']} by "
                   f"`{first_command}` ({'into' if earlier.get('run_folder') else 'shipped as'} "
                   f"{summary['init_from']}), "
                   f"then continued{how} to "
                   f"{summary['epochs']} epochs ({summary['steps']:,} steps, {summary['wall_time_s']:,.0f} s in all) "
                   f"by `{fit['train_command']}`")
    return {"command": command, "trained_as": f"{trained}, then {what} fitted to the codes of {fit['images']:,} "
                                              f"training images in {fit['fit_s']:,.0f} s by `{fit['command']}`"}


def evaluated_metrics(evaluation):
    """The `kzoo evaluate --metrics` an evaluation.json was made with, read from what it holds."""
    present = [("fid", "fid"), ("kid", "kid_mean"), ("prdc", "prdc"), ("classifier", "classifier_fid"),
               ("coverage", "coverage"), ("diversity", "diversity")]
    metrics = [metric for metric, key in present if key in evaluation]
    # classifier and coverage come together; name the one the older evaluations were made with
    return [m for m in metrics if not (m == "classifier" and "coverage" in metrics and "prdc" not in metrics)]


def ship(run, name, evaluation, target=None, provenance=None, root=None):
    """Ship the finished run folder `run` as the named model `name`: copy its model, SavedModel, final sample grid,
    figures and `evaluation` (a `kzoo evaluate` report of it) into ``saved_models/NAME``, write its manifest
    (``model.json``: weights SHA-256 and headline) and ``results/model_NAME.json``. `target`: the project's target
    for it (``"<= 15 (source)"``: how the FID stands against it is appended). Returns the results file's path."""
    root = _root(root)
    run, evaluation = RunFolder(run), pathlib.Path(evaluation)
    summary, config = run.summary(), run.config()
    if summary is None or config is None:
        raise ValueError(f"{run.path} is not a finished run folder (summary.json and config.json); train into it "
                         "first.")
    destination = root / "saved_models" / name
    destination.mkdir(parents=True, exist_ok=True)
    for file in SHIPPED_FILES:
        if (run / file).exists():
            shutil.copy(run / file, destination / file)
    # The run's final grid: the last epoch's, or the one through a fitted latent prior.
    shutil.copy(run / summary["figures"]["samples"], destination / "samples.png")
    shutil.copy(evaluation, destination / "evaluation.json")
    staged = destination / ".saved_model.new"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(run / "saved_model", staged)
    shutil.rmtree(destination / "saved_model", ignore_errors=True)
    staged.rename(destination / "saved_model")
    facts = {"preset": config.get("name", name), "command": config.get("command") or reproducing_command(run.path),
             "training_seed": summary["seed"], "settings": config.get("settings") or {},
             "epochs": summary["epochs"], "steps": summary["steps"], "wall_time_s": summary["wall_time_s"],
             "peak_memory_mib": summary.get("peak_memory_mib"), "parameters": summary["parameters"],
             "final": summary["final"]}
    fid_by_epoch = run.fid_by_epoch()
    if fid_by_epoch:  # the FID-against-epochs curve `--fid-every` measured on the way
        facts["fid_by_epoch"] = fid_by_epoch
    if summary.get("init_from"):
        # Trained in two parts (the second with --init-from); the command above trains it in one.
        source, p = summary["init_from"], earlier_training(summary, root)
        first = (f"{p['epochs']} epochs ({p['steps']:,} steps) in {p['precision']} by `{p['command']}` "
                 f"({p['wall_time_s']:,.0f} s), then ") if p else ""
        continued = reproducing_command(run.path)  # a --new-optimizer run's command names its source already
        continued = continued if "--init-from" in continued else f"{continued} --init-from {source}"
        facts["trained_as"] = (f"{first}continued from {source} to {summary['epochs']} epochs in "
                               f"{summary['precision']} by `{continued}`")
    if summary.get("prior_fit"):
        # A trained VAE given a new latent prior by `kzoo prior`: made by two commands (three if the VAE was itself
        # continued from a shipped model).
        facts.update(prior_fit_facts(summary, earlier_training(summary, root)))
    if target:
        facts["target"] = target_with_status(target, json.loads(evaluation.read_text())["fid"])
    return model_result(name, facts, provenance=provenance, root=root)
