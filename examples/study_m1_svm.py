"""Study 3: M1 + SVM semi-supervised classification on Fashion-MNIST and MNIST.

The M1 model (Kingma et al. 2014): a VAE (MLP 784-600-600 with batch norm, latent 50; preset `vae_mlp600_*`)
trained on all 60,000 training images without labels; then an RBF SVM on the posterior means of 100, 600, 1,000
or 3,000 labelled images (balanced per class), several random draws of them, tested on the 10,000 test images.
The same SVM on raw pixels shows what the VAE's features add; the same VAE with beta 0.1 (preset
`vae_mlp600_beta01_*`) shows what an information-carrying latent space adds. On Fashion-MNIST a second table reads
the label counts as per class (1,000 to 30,000 labels in all), the reading the reproduced report's figures fit.

    python examples/study_m1_svm.py                        # runs/m1_svm/report.md
    python examples/study_m1_svm.py --quick --out /tmp/q   # a smoke run
"""

import pathlib

import numpy as np

from kzoo import datasets, studies, visualize
from kzoo.semisupervised import LabelPropagation, latent_means, svm_accuracies

# Accuracy of M1 + SVM reported by the study this reproduces (Fashion-MNIST) and by the M1 paper (MNIST, M1 +
# transductive SVM: 100 - error %).
PUBLISHED = {"fashion_mnist": ("the reproduced report", {100: 0.790, 600: 0.823, 1000: 0.831, 3000: 0.843}),
             "mnist": ("Kingma et al. 2014, M1 + TSVM", {100: 0.882, 600: 0.943, 1000: 0.958, 3000: 0.965})}


TRANSDUCTIVE = "M1 + label propagation (transductive)"
# The VAEs whose posterior means are the features: label -> (preset, run folder suffix); {data} is the dataset's
# short name.
VAES = {"M1 + SVM": ("vae_mlp600_{data}", ""), "M1 (beta 0.1) + SVM": ("vae_mlp600_beta01_{data}", "_beta01")}
PIXELS = "SVM on pixels"
# The reproduced report does not say whether its label counts are in all or per class; its accuracies rise only
# 5 points from 100 to 3,000 labels, as a curve over 1,000 to 30,000 labels in all does (measured below).
PER_CLASS_READING = {"fashion_mnist"}


def extra_arguments(parser):
    parser.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mnist"], choices=list(PUBLISHED))
    parser.add_argument("--labels", nargs="+", type=int, default=[100, 600, 1000, 3000])
    parser.add_argument("--draws", type=int, default=10, help="random draws of the labelled set (default 10)")
    parser.add_argument("--svm-c", type=float, default=10.0, help="the SVM's penalty C (default 10)")
    parser.add_argument("--per-class-draws", type=int, default=3,
                        help="draws per size in the per-class table (default 3: an SVM on 30,000 pixel "
                             "vectors takes minutes)")


def main(argv=None):
    args = studies.study_arguments(__doc__.splitlines()[0], "runs/m1_svm", extra_arguments).parse_args(argv)
    take, epochs, _ = studies.scale(args)
    label_counts, draws, num_test = ([100], 2, 1000) if args.quick else (args.labels, args.draws, None)
    per_class_draws = 1 if args.quick else args.per_class_draws
    out = pathlib.Path(args.out)
    report = studies.Report(out, "Study 3: M1 + SVM semi-supervised classification", result_name="study_3_m1_svm",
                            args=args, dataset="fashion_mnist, mnist", split="test")
    report.text(
        "M1: the VAE of preset `vae_mlp600_<data>` (MLP 784-600-600, batch norm after the first layer, latent 50, "
        "Bernoulli likelihood, Adam 3e-4, batch 100) trained on every training image, labels unused; "
        "`vae_mlp600_beta01_<data>` is the same with the KL term weighted 0.1 (a beta-VAE). Features: the "
        "posterior means of the encoder, unscaled (per-dimension standardisation would inflate the VAE's inactive "
        "latent dimensions to the weight of the informative ones; the report counts the active ones). "
        f"Classifier: scikit-learn `SVC(kernel='rbf', gamma='scale', C={args.svm_c:g})` on a labelled subset, the "
        f"same number of images from each class, {draws} random draws per size (seeds fixed; every method sees the "
        f"same labelled sets); accuracy on the {num_test or 10000:,} test images, mean and standard deviation over "
        "the draws. Baseline: the same SVM on raw pixels in [0, 1]. Transductive variant, closer to the M1 paper's "
        "transductive SVM: label propagation (Zhou et al. 2004; `kzoo.semisupervised.LabelPropagation`) over a "
        "10-nearest-neighbour graph of all training images' beta-1 latent means, alpha 0.99; a test image takes "
        "the distance-weighted vote of its 10 nearest training images' propagated labels.")
    curves = {}
    for name in args.datasets:
        short = "fashion" if name == "fashion_mnist" else name
        train, test = datasets.load_arrays(name, "train"), datasets.load_arrays(name, "test")
        train_images, train_labels = train.images[:take], train.labels[:take]
        test_images, test_labels = test.images[:num_test], test.labels[:num_test]
        features, vaes = {}, {}
        for method, (preset, suffix) in VAES.items():
            preset = preset.format(data=short)
            model, summary = studies.train_preset(preset, out / f"{name}{suffix}", epochs=epochs, take=take,
                                                  seed=args.seed, quick=args.quick)
            features[method] = (latent_means(model, datasets.to_pixel_range(train_images)),
                                latent_means(model, datasets.to_pixel_range(test_images)))
            vaes[method] = {"preset": preset, "summary": summary,
                            "active": int(np.sum(features[method][0].var(axis=0) > 0.01))}
        features[PIXELS] = (train_images.reshape(len(train_images), -1).astype(np.float32) / 255,
                            test_images.reshape(len(test_images), -1).astype(np.float32) / 255)
        propagation = LabelPropagation(*features["M1 + SVM"])
        source, published = PUBLISHED[name]
        rows, results = [], {}
        for count in label_counts:
            row = [f"{count:,}", *svm_cells(features, train_labels, test_labels, count, count, draws, args, results)]
            # Same draws (same seed): the transductive variant sees exactly the SVM's labelled sets.
            accuracies = propagation.accuracies(train_labels, test_labels, count, draws, seed=args.seed)
            results.setdefault(TRANSDUCTIVE, {})[count] = accuracies
            row.append(_mean_std(accuracies))
            row.append(f"{published[count]:.3f}" if count in published else "n/a")
            rows.append(row)
        for method, by_count in results.items():
            curves.setdefault(name, {})[method] = (label_counts, [np.mean(by_count[c]) for c in label_counts])
        curves[name][source] = ([c for c in label_counts if c in published],
                                [published[c] for c in label_counts if c in published])
        report.results[name] = {
            "accuracies": {m: {str(k): v for k, v in r.items()} for m, r in results.items()},
            "published": {"source": source, **{str(k): v for k, v in published.items()}},
            "vaes": {method: {"preset": v["preset"], "active_latent_dimensions": v["active"],
                              **{k: v["summary"].get(k) for k in ("epochs", "wall_time_s", "parameters", "final")}}
                     for method, v in vaes.items()}}
        report.section(name)
        report.text(*[f"{method.replace(' + SVM', '')} VAE (`{v['preset']}`): {v['summary']['epochs']} epochs, "
                      f"{v['summary']['wall_time_s']:.0f} s, final training loss "
                      f"{v['summary']['final'].get('loss', float('nan')):.2f} (BCE summed over pixels + beta KL, "
                      f"per image); {v['active']} of {features[method][0].shape[1]} latent dimensions active "
                      "(variance of the posterior means over the training images above 0.01; the others carry no "
                      "information about the image)." for method, v in vaes.items()])
        report.table(["labels", *features, TRANSDUCTIVE, source], rows, name=f"{name}_labels_in_all")
        report.text(*[compare(results, published, source, label_counts, method)
                      for method in (*VAES, TRANSDUCTIVE)])
        if name in PER_CLASS_READING:
            report.results[name]["per_class"] = per_class_table(
                report, features, train_labels, test_labels, label_counts, results, published, source,
                per_class_draws, args)
    visualize.plot_curves(curves, out / "accuracy.png", "labelled images", ncols=2)
    report.section("Accuracy against the number of labels")
    report.figure(out / "accuracy.png", "test accuracy (mean over draws) against the number of labelled images")
    report.write()
    return report


def svm_cells(features, train_labels, test_labels, total, key, draws, args, results):
    """Each feature set's SVM accuracies with `total` labels (balanced, `draws` draws), stored in
    ``results[method][key]``; returns the table cells, mean +- std."""
    cells = []
    for method, (train_features, test_features) in features.items():
        accuracies = svm_accuracies(train_features, train_labels, test_features, test_labels, total, draws,
                                    seed=args.seed, c=args.svm_c)
        results.setdefault(method, {})[key] = accuracies
        cells.append(_mean_std(accuracies))
    return cells


def per_class_table(report, features, train_labels, test_labels, label_counts, results_in_all, published, source,
                    draws, args):
    """The SVMs again with `count` labels per class (10 x `count` in all), against the published figures; and how
    much each reading's accuracy rises from the fewest to the most labels, next to the published rise."""
    num_classes = len(np.unique(train_labels))
    results, rows = {}, []
    for count in label_counts:
        total = num_classes * min(count, len(train_labels) // (2 * num_classes))  # --quick has few images
        row = [f"{total // num_classes:,}", f"{total:,}",
               *svm_cells(features, train_labels, test_labels, total, count, draws, args, results)]
        row.append(f"{published[count]:.3f}" if count in published else "n/a")
        rows.append(row)
    report.text(f"The same SVMs with the label counts read as per class ({draws} draws per size):")
    report.table(["labels per class", "labels in all", *features, source], rows, name="labels_per_class")
    report.text(*[compare(results, published, source, label_counts, method, " labels per class")
                  for method in VAES])
    first, last = label_counts[0], label_counts[-1]
    rise = {"in all": _rise(results_in_all["M1 + SVM"], first, last),
            "per class": _rise(results["M1 + SVM"], first, last)}
    if first != last and first in published and last in published:
        rise["published"] = published[last] - published[first]
        report.text(f"From {first:,} to {last:,} labels {source}'s accuracy rises {100 * rise['published']:.1f} "
                    f"points; M1 + SVM's rises {100 * rise['in all']:.1f} points with the counts in all and "
                    f"{100 * rise['per class']:.1f} points with the counts per class.")
    return {"accuracies": {m: {str(k): v for k, v in r.items()} for m, r in results.items()}, "rise": rise}


def _rise(by_count, first, last):
    return float(np.mean(by_count[last]) - np.mean(by_count[first]))


def _mean_std(accuracies):
    return f"{np.mean(accuracies):.3f} ± {np.std(accuracies):.3f}"


def compare(results, published, source, label_counts, method, unit=" labels"):
    ours = {c: float(np.mean(results[method][c])) for c in label_counts if c in published}
    if not ours:
        return ""
    parts = [f"{c:,}{unit}: {ours[c]:.3f} vs {published[c]:.3f} ({100 * (ours[c] - published[c]):+.1f} points)"
             for c in ours]
    beaten = sum(ours[c] > published[c] for c in ours)
    return (f"{method} against {source}: " + "; ".join(parts) +
            f". Above it at {beaten} of {len(ours)} label counts.")


if __name__ == "__main__":
    main()
