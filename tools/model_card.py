"""Copy a finished run into saved_models/NAME with its evaluation, and record its result in results/model_NAME.json.

    python tools/model_card.py RUN_DIR NAME EVALUATION_JSON [--target "<= 25"] [--provenance TEXT]
    python tools/model_card.py --reevaluated NAME EVALUATION_JSON
    python tools/model_card.py --seeds NAME RUN_DIR [RUN_DIR ...]
Copies model.keras, saved_model/, the last epoch's sample grid (samples.png), interpolation.png, loss_curve.png,
stability.md, reconstructions.png (VAEs) and the evaluation (evaluation.json); writes model.json (the name's
manifest: weights SHA-256 and headline, see kzoo.registry) and results/model_NAME.json
(protocol: command, data, counts, feature network, seed, precision, epochs, steps, wall time, peak memory) and
prints it. The card's prose (README.md) quotes its tables from that file (`make docs`).
`--seeds` adds runs of the shipped model's recipe with other seeds (each trained with its command and `--seed N`
and evaluated as the shipped model was, into RUN_DIR/evaluation.json) to results/model_NAME.json: every seed's
FID, precision/recall, training time and command, and the FID's mean and standard deviation over the seeds.
"""

import argparse
import json
import pathlib
import re
import shutil
import sys
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def precision_of(keras_file):
    """The dtype policy a `.keras` file's layers were built with (what the run trained in)."""
    config = zipfile.ZipFile(keras_file).read("config.json").decode()
    return "mixed_bfloat16" if "mixed_bfloat16" in config else "mixed_float16" if "mixed_float16" in config \
        else "float32"


def target_with_status(target, fid):
    """A target that starts with an upper bound ("<= 12.6 (source)") gets how the FID stands against it appended
    ("...: met" or "...: +7.2% from it"); other wording is kept as given."""
    from kzoo.results import versus_target
    bound = re.match(r"\s*<=\s*([0-9]+(?:\.[0-9]+)?)", target)
    return f"{target}: {versus_target(fid, float(bound.group(1)))}" if bound and ":" not in target else target


def model_result(name, facts, provenance=None, git_commit=None, family=None):
    """Write results/model_NAME.json from saved_models/NAME (evaluation.json, model.keras) and `facts` (command,
    epochs, steps, wall_time_s, peak_memory_mib, target, ...; ``preset``, whose family is recorded, defaults to
    NAME: give it, or `family`, for a model named otherwise)."""
    import keras

    from kzoo import presets
    from kzoo import results as kresults
    folder = REPO / "saved_models" / name
    e = json.loads((folder / "evaluation.json").read_text())
    facts = dict(facts)
    preset_name = facts.pop("preset", name)
    family = family or presets.get(preset_name)["family"]
    record = kresults.protocol(
        command=facts.pop("command"), dataset=e["dataset"], split=e["split"], num_real=e.get("num_real"),
        num_generated=e.get("num_generated", e["num_samples"]),
        evaluation_command=f"kzoo evaluate --model saved_models/{name} --dataset {e['dataset']}"
                           + (f" --split {e['split']}" if e["split"] != "test" else "")
                           + f" --metrics {','.join(evaluated_metrics(e))} --num-samples {e['num_samples']}",
        seeds=[e["seed"]], precision=precision_of(folder / "model.keras"), **kresults.fid_network_record(), **facts)
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
    return kresults.write(REPO / "results", f"model_{name}", "model", record, result)


# The training facts of a results/model_NAME.json that a new evaluation of the same weights keeps.
TRAINING_FACTS = ("command", "epochs", "steps", "wall_time_s", "peak_memory_mib", "parameters", "final", "target",
                  "trained_as")


def reevaluated(name, evaluation_path):
    """Replace saved_models/NAME/evaluation.json with a new evaluation of the same weights (more metrics, e.g.
    precision/recall) and rewrite results/model_NAME.json, keeping its training facts and provenance.

    The new evaluation must have the old one's data, split, sample count and seed, so the generated images are
    the same and its FID must agree with the recorded one (to 0.05: only the feature pass's float order differs);
    otherwise nothing is replaced."""
    folder = REPO / "saved_models" / name
    old_result = json.loads((REPO / "results" / f"model_{name}.json").read_text())
    old, new = json.loads((folder / "evaluation.json").read_text()), json.loads(pathlib.Path(evaluation_path).read_text())
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
                            family=old_result["results"]["family"])
    except BaseException:
        (folder / "evaluation.json").write_bytes(before)  # nothing replaced unless the record is written too
        raise
    runs = old_result["results"].get("seed_runs")
    if runs:  # the other seeds' runs stay; the shipped one's FID is the new evaluation's
        record = json.loads(path.read_text())
        runs = [dict(run, fid=new["fid"]) if run["shipped"] else run for run in runs]
        record["results"].update(seed_statistics(runs), seed_runs=runs)
        path = kresults.write(REPO / "results", f"model_{name}", "model", record["protocol"], record["results"])
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
    # The shipped run's training seed is in its command (`kzoo train` leaves out the default 0); the protocol's
    # `seeds` are the evaluation's.
    trained_seed = re.search(r"--seed (\d+)", protocol["command"])
    return result.get("seed_runs") or [{
        "seed": int(trained_seed.group(1)) if trained_seed else 0, "shipped": True, "fid": result["fid"], "precision": result.get("precision"),
        "recall": result.get("recall"), "wall_time_s": protocol.get("wall_time_s"), "steps": protocol.get("steps"),
        "command": protocol["command"]}]


def with_seeds(name, run_dirs):
    """Add runs of the shipped model's recipe with other seeds to results/model_NAME.json (see the module's
    docstring). Each run must be the shipped model's preset, epochs, precision and `--set` settings with a seed
    not yet recorded, and its evaluation.json must have the shipped evaluation's data, split, sample count, seed
    and network; otherwise nothing is written and the error says what differs."""
    from kzoo import results as kresults
    from kzoo.metrics.evaluate import COMPARABLE_SETTINGS
    from kzoo.training import reproducing_command
    record = json.loads((REPO / "results" / f"model_{name}.json").read_text())
    protocol, result = record["protocol"], record["results"]
    preset = re.search(r"--preset (\S+)", protocol["command"]).group(1)
    settings = sorted(re.findall(r"--set (\S+)", protocol["command"]))
    runs = recorded_runs(record)
    for folder in map(pathlib.Path, run_dirs):
        summary = json.loads((folder / "summary.json").read_text())
        evaluation = json.loads((folder / "evaluation.json").read_text())
        # A model given its prior by `kzoo prior`, or continued from another run, was made by a chain of commands.
        earlier = earlier_training(summary)
        if summary.get("prior_fit"):
            command = prior_fit_facts(summary, earlier)["command"]
        else:
            command = reproducing_command(folder)
            if earlier is not None:  # the continuation as it ran (a one-command form would hide a precision change)
                if "--init-from" not in command:
                    command = command.replace(" --out ", f" --init-from {summary['init_from']} --out ", 1)
                command = f"{earlier['command'].split(' && ')[0]} && {command}"
        problems = [f"{what} is {mine!r}, the shipped model's {theirs!r}" for what, mine, theirs in (
            ("the preset", summary["preset"], preset), ("the number of epochs", summary["epochs"], protocol["epochs"]),
            ("the precision", summary["precision"], protocol["precision"]),
            ("the --set settings", sorted(re.findall(r"--set (\S+)", command)), settings))
            if mine != theirs]
        problems += [f"the evaluation's {key} is {evaluation.get(key)!r}, the shipped evaluation's "
                     f"{result['evaluation'].get(key)!r}" for key in COMPARABLE_SETTINGS
                     if evaluation.get(key) != result["evaluation"].get(key)]
        if summary["seed"] in [run["seed"] for run in runs]:
            problems.append(f"seed {summary['seed']} is already recorded")
        if problems:
            raise ValueError(f"{folder}: {'; '.join(problems)}. Train with the shipped command and another --seed, "
                             f"and evaluate with its evaluation_command's settings; nothing was written.")
        prdc = evaluation.get("prdc", {})
        runs.append({"seed": summary["seed"], "shipped": False, "fid": evaluation["fid"],
                     "precision": prdc.get("precision"), "recall": prdc.get("recall"),
                     "wall_time_s": summary["wall_time_s"], "steps": summary["steps"], "command": command,
                     "evaluation": evaluation})
    result.update(seed_statistics(runs), seed_runs=runs)
    return kresults.write(REPO / "results", f"model_{name}", "model", protocol, result)


def earlier_training(summary):
    """What the model a run was continued from (``init_from``) was trained by: a shipped model's results protocol,
    or a run folder's command, epochs, steps and precision; None when the run was not continued or neither is
    found."""
    source = summary.get("init_from")
    if not source:
        return None
    shipped = REPO / "results" / f"model_{pathlib.Path(str(source)).name}.json"
    folder = pathlib.Path(source)
    if (folder / "summary.json").exists() and (folder / "config.json").exists():
        from kzoo.training import reproducing_command
        first = json.loads((folder / "summary.json").read_text())
        return {"command": reproducing_command(folder), "epochs": first["epochs"], "steps": first["steps"],
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
                   f"`{first_command}` ({'into' if earlier.get('run_folder') else 'shipped as'} {summary['init_from']}), "
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


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--seeds":
        if len(argv) < 3:
            sys.exit("usage: python tools/model_card.py --seeds NAME RUN_DIR [RUN_DIR ...]")
        print(with_seeds(argv[1], argv[2:]).read_text())
        return
    if argv and argv[0] == "--reevaluated":
        if len(argv) != 3:
            sys.exit("usage: python tools/model_card.py --reevaluated NAME EVALUATION_JSON")
        print(reevaluated(argv[1], argv[2]).read_text())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("evaluation")
    parser.add_argument("--target", help="the project's target for this model, e.g. '<= 25'")
    parser.add_argument("--provenance", help="where the evaluation came from, when not from `kzoo evaluate` of the "
                                             "shipped files")
    args = parser.parse_args(argv)
    run, evaluation = pathlib.Path(args.run), pathlib.Path(args.evaluation)
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    destination = REPO / "saved_models" / args.name
    destination.mkdir(parents=True, exist_ok=True)
    for file in ("model.keras", "interpolation.png", "loss_curve.png", "stability.md", "reconstructions.png"):
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
    from kzoo.training import reproducing_command
    facts = {"preset": config.get("name", args.name), "command": config.get("command") or reproducing_command(run),
             "epochs": summary["epochs"], "steps": summary["steps"], "wall_time_s": summary["wall_time_s"],
             "peak_memory_mib": summary.get("peak_memory_mib"), "parameters": summary["parameters"],
             "final": summary["final"]}
    if summary.get("init_from"):
        # Trained in two parts (the second with --init-from); the command above trains it in one.
        source, p = summary["init_from"], earlier_training(summary)
        first = (f"{p['epochs']} epochs ({p['steps']:,} steps) in {p['precision']} by `{p['command']}` "
                 f"({p['wall_time_s']:,.0f} s), then ") if p else ""
        continued = reproducing_command(run)  # a --new-optimizer run's command names its source already
        continued = continued if "--init-from" in continued else f"{continued} --init-from {source}"
        facts["trained_as"] = (f"{first}continued from {source} to {summary['epochs']} epochs in "
                               f"{summary['precision']} by `{continued}`")
    if summary.get("prior_fit"):
        # A trained VAE given a new latent prior by `kzoo prior`: made by two commands (three if the VAE was itself
        # continued from a shipped model).
        facts.update(prior_fit_facts(summary, earlier_training(summary)))
    if args.target:
        facts["target"] = target_with_status(args.target, json.loads(evaluation.read_text())["fid"])
    print(model_result(args.name, facts, provenance=args.provenance).read_text())


if __name__ == "__main__":
    main()
