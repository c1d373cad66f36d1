"""Record a `kzoo evaluate` report as a result file: results/evaluation_NAME.json.

    python tools/record_evaluation.py runs/reeval/dcgan_mnist_5000.json dcgan_mnist_mnist_test_5000 \
        --command "kzoo evaluate --model saved_models/dcgan_mnist --dataset mnist --metrics fid,prdc,coverage \
                   --num-samples 5000"
For an evaluation that documents quote but that is not a shipped model's own (e.g. a shipped model measured at
another sample count, to sit beside a study run at that count). The protocol (data, split, counts, seed, feature
network) is read from the report; the command is the one that wrote it.
"""

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def record(evaluation_path, name, command, results_dir=REPO / "results"):
    """Write `results_dir`/evaluation_NAME.json from a `kzoo evaluate` report; returns its path."""
    from kzoo import results
    e = json.loads(pathlib.Path(evaluation_path).read_text())
    missing = [key for key in ("dataset", "split", "num_samples", "seed", "fid") if key not in e]
    if missing:
        raise SystemExit(f"{evaluation_path} is not a kzoo evaluate report (it lacks {', '.join(missing)}).")
    protocol = results.protocol(command=command, dataset=e["dataset"], split=e["split"], num_real=e.get("num_real"),
                                num_generated=e["num_samples"], seeds=[e["seed"]], model=e.get("model"),
                                **results.fid_network_record())
    return results.write(results_dir, f"evaluation_{name}", "evaluation", protocol, e)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", help="the evaluation.json `kzoo evaluate` wrote")
    parser.add_argument("name")
    parser.add_argument("--command", required=True, help="the kzoo evaluate command that wrote it")
    args = parser.parse_args(argv)
    print(record(args.evaluation, args.name, args.command).read_text())


if __name__ == "__main__":
    main()
