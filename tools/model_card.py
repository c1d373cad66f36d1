"""Copy a finished run into saved_models/NAME with its evaluation, and write the model card's figures section.

    python tools/model_card.py RUN_DIR NAME EVALUATION_JSON
Copies model.keras, saved_model/, the last epoch's sample grid (samples.png), interpolation.png, loss_curve.png,
stability.md, reconstructions.png (VAEs) and the evaluation (evaluation.json); prints the figures the card quotes.
The card's prose (README.md) is written by hand from those figures.
"""

import json
import pathlib
import shutil
import sys


def main(run, name, evaluation):
    run, evaluation = pathlib.Path(run), pathlib.Path(evaluation)
    summary = json.loads((run / "summary.json").read_text())
    destination = pathlib.Path("saved_models") / name
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
    e = json.loads(evaluation.read_text())
    print(json.dumps({"epochs": summary["epochs"], "steps": summary["steps"], "wall_time_s": summary["wall_time_s"],
                      "seconds_per_epoch": summary["seconds_per_epoch"], "parameters": summary["parameters"],
                      "final": summary["final"], "fid": e.get("fid"), "classifier_fid": e.get("classifier_fid"),
                      "classifier_score": e.get("classifier_score_mean"), "coverage": e.get("coverage", {}).get("covered"),
                      "label_kl": e.get("coverage", {}).get("kl_from_uniform"),
                      "near_duplicates": e.get("diversity", {}).get("share_above"),
                      "mean_cosine": e.get("diversity", {}).get("mean")}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
