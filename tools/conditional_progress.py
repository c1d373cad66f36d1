"""Measure a class-conditional run's latest checkpoint (a run still in progress, or stopped) and record it:
class fidelity and per-class classifier FID of 10,000 samples drawn class by class, judged by the domain
classifier, into results/<name>.json; the run's latest epoch grid (one row per class) into docs/figures/<name>.png.

    python tools/conditional_progress.py runs/cdcgan_fashion cdcgan_fashion_progress
"""

import argparse
import json
import pathlib
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the run folder (with checkpoints/ and config.json)")
    parser.add_argument("name", help="the result name (results/NAME.json, docs/figures/NAME.png)")
    parser.add_argument("--num-samples", type=int, default=10000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))

    import keras

    from kzoo import checkpoint, datasets, results
    from kzoo.metrics.evaluate import evaluate_model
    run = pathlib.Path(args.run)
    config = json.loads((run / "config.json").read_text())
    folder, state = checkpoint.latest(run / "checkpoints")
    model = keras.models.load_model(folder / "model.keras")
    if not getattr(model, "num_classes", None):
        raise SystemExit(f"{folder} holds an unconditional model; this tool measures conditional ones.")
    dataset = config["dataset"]
    report = evaluate_model(model, dataset, ("classifier", "coverage"), args.num_samples, "test", seed=0)
    fidelity = report["class_fidelity"]
    names = datasets.CLASS_NAMES.get(dataset) or [str(k) for k in range(model.num_classes)]
    rows = [[names[c["class"]], round(100 * c["accuracy"], 1), round(c["classifier_fid"], 2)]
            for c in fidelity["per_class"]]
    rows.append(["all classes", round(100 * fidelity["accuracy"], 1), round(report["classifier_fid"], 2)])
    steps_per_epoch = state.get("steps_per_epoch")
    grids = sorted((run / "samples").glob("epoch_*.png"))
    if grids:
        shutil.copy(grids[-1], REPO / "docs" / "figures" / f"{args.name}.png")
    protocol = results.protocol(
        command=f"kzoo train --preset {config['name']} --out {args.run} (checkpoint at step {state['step']}); "
                f"python tools/conditional_progress.py {args.run} {args.name}",
        dataset=dataset, split="test", num_generated=args.num_samples, num_real=args.num_samples,
        feature_network=f"kzoo domain classifier for {dataset}", seeds=[config["seed"]], steps=state["step"],
        epochs=round(state["step"] / steps_per_epoch, 2) if steps_per_epoch else None, steps_per_epoch=steps_per_epoch,
        planned_epochs=config["epochs"], precision=config["precision"], wall_time_s=state.get("wall_time_s"),
        grid=grids[-1].name if grids else None)
    results.write(REPO / "results", args.name, "study", protocol, {
        "class_fidelity": fidelity["accuracy"], "real_accuracy": fidelity["real_accuracy"],
        "classifier_fid": report["classifier_fid"], "classes_covered": report["coverage"]["covered"],
        "tables": {"per_class": {"columns": ["class", "samples assigned to the class asked for (%)",
                                             "classifier FID of the class"], "rows": rows}}})
    print(json.dumps({"step": state["step"], "class_fidelity": fidelity["accuracy"],
                      "classifier_fid": report["classifier_fid"]}))


if __name__ == "__main__":
    main()
