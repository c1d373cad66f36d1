"""Does mixed bfloat16 change sample quality? Train the same preset, same seed, in float32 and in
mixed_bfloat16, then compare the classifier metrics of 10,000 samples (and, for VAEs, the test-set loss).

    python benchmarks/precision_quality.py --preset vae_conv_fashion --epochs 20
    python benchmarks/precision_quality.py --preset dcgan_fashion --epochs 5

Runs go to runs/precision/<preset>_<precision>/ (resumable: re-running continues them); results are merged into
benchmarks/results/precision_quality.json. Classifier metrics: FID and score in the feature space of kzoo's
shipped domain classifier, and the share of classes covered (see kzoo.metrics.classifier); lower FID is better.
"""

import argparse
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--runs", default="runs/precision")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16",
                        help="comma-separated; a float32 run with another --seed measures seed-to-seed spread")
    args = parser.parse_args(argv)

    from kzoo import datasets, presets, training
    from kzoo.metrics.evaluate import evaluate_model
    preset = presets.get(args.preset, epochs=args.epochs)
    results = {}
    for precision in args.precisions.split(","):
        out = pathlib.Path(args.runs) / f"{args.preset}_{precision}" if args.seed == 0 else \
            pathlib.Path(args.runs) / f"{args.preset}_{precision}_seed{args.seed}"
        summary = training.train(args.preset, out, epochs=args.epochs, seed=args.seed, precision=precision,
                                 verbose=2, export=False)
        import keras
        model = keras.models.load_model(out / "model.keras")
        report = evaluate_model(model, preset["dataset"], ["classifier", "coverage"], args.num_samples, "test",
                                seed=args.seed)
        row = {"wall_time_s": summary["wall_time_s"], "final": summary["final"],
               "classifier_fid": report["classifier_fid"], "classifier_score": report["classifier_score_mean"],
               "coverage": report["coverage"]}
        if preset["family"] == "vae":
            test = datasets.load(preset["dataset"], "test", batch_size=500, pixel_range=(0.0, 1.0), shuffle=False)
            row["test_loss"] = float(model.evaluate(test, verbose=0, return_dict=True)["loss"])
        results[precision] = row
        print(precision, json.dumps(row), flush=True)
    path = HERE / "results" / "precision_quality.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    key = f"{args.preset}_{preset['epochs']}ep" + (f"_seed{args.seed}" if args.seed else "")
    merged[key] = dict(results, num_samples=args.num_samples, seed=args.seed,
                       command=f"python benchmarks/precision_quality.py --preset {args.preset} --epochs "
                               f"{preset['epochs']} --seed {args.seed} --precisions {args.precisions}")
    path.write_text(json.dumps(merged, indent=1))


if __name__ == "__main__":
    main()
