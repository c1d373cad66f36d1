"""Ship a finished run as a named model: `kzoo.shipping`'s command line.

    python tools/model_card.py RUN_DIR NAME EVALUATION_JSON [--target "<= 25"] [--provenance TEXT]
    python tools/model_card.py --reevaluated NAME EVALUATION_JSON
    python tools/model_card.py --seeds NAME RUN_DIR [RUN_DIR ...]

The first form copies model.keras, saved_model/, the last epoch's sample grid (samples.png), interpolation.png,
loss_curve.png, stability.md, reconstructions.png (VAEs) and the evaluation (evaluation.json) into
saved_models/NAME, writes model.json (the name's manifest: weights SHA-256 and headline, see kzoo.registry) and
results/model_NAME.json (protocol: command, preset, training seed, settings, data, counts, feature network, seed,
precision, epochs, steps, wall time, peak memory) and prints it (`kzoo.shipping.ship`). The card's prose
(README.md) quotes its tables from that file (`make docs`). `--reevaluated` records a new evaluation of the same
weights (`kzoo.shipping.reevaluate`); `--seeds` adds runs of the shipped model's recipe with other seeds, each
trained with its command and `--seed N` and evaluated as the shipped model was, into RUN_DIR/evaluation.json
(`kzoo.shipping.add_seeds`): every seed's FID, precision/recall, training time and command, and the FID's mean and
standard deviation over the seeds.
"""

import argparse
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kzoo import shipping  # noqa: E402


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--seeds":
        if len(argv) < 3:
            sys.exit("usage: python tools/model_card.py --seeds NAME RUN_DIR [RUN_DIR ...]")
        print(shipping.add_seeds(argv[1], argv[2:], root=REPO).read_text())
        return
    if argv and argv[0] == "--reevaluated":
        if len(argv) != 3:
            sys.exit("usage: python tools/model_card.py --reevaluated NAME EVALUATION_JSON")
        print(shipping.reevaluate(argv[1], argv[2], root=REPO).read_text())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("evaluation")
    parser.add_argument("--target", help="the project's target for this model, e.g. '<= 25'")
    parser.add_argument("--provenance", help="where the evaluation came from, when not from `kzoo evaluate` of the "
                                             "shipped files")
    args = parser.parse_args(argv)
    print(shipping.ship(args.run, args.name, args.evaluation, target=args.target, provenance=args.provenance,
                        root=REPO).read_text())


if __name__ == "__main__":
    main()
