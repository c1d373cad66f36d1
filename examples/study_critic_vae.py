"""Study 5: the VAE with its KL term against the VAE with a latent Wasserstein critic instead, on MNIST.

Both use the MLP 784-256 encoder/decoder with a 10-d latent (presets `vae_mlp256_mnist`, `critic_vae_mnist`).
Compared on the 10,000 test images: reconstruction errors, how the encoded test set fills the latent space
(per-dimension histograms against the N(0, 1) prior, the first two dimensions, t-SNE), reconstructions,
interpolations, and the reference FID and classifier metrics of samples decoded from the prior.

    python examples/study_critic_vae.py                        # runs/critic_vae/report.md
    python examples/study_critic_vae.py --quick --out /tmp/q   # a smoke run
"""

import pathlib

import numpy as np

from kzoo import callbacks, datasets, studies, visualize
from kzoo.semisupervised import latent_means

MODELS = {"KL VAE": "vae_mlp256_mnist", "critic VAE": "critic_vae_mnist",
          "critic VAE, 10 outputs": "critic_vae_mnist_mean10"}


def extra_arguments(parser):
    parser.add_argument("--tsne-points", type=int, default=2000, help="test images in the t-SNE plots")


def per_image_errors(model, images):
    """Per-image reconstruction errors of images in [0, 1] through the posterior mean: binary cross-entropy
    summed over pixels (the training loss's term, in nats) and mean squared error."""
    recon = np.concatenate([np.asarray(model.reconstruct(images[i:i + 1000])) for i in range(0, len(images), 1000)])
    recon = np.clip(recon.astype(np.float64), 1e-7, 1 - 1e-7)
    x = images.astype(np.float64)
    bce = -(x * np.log(recon) + (1 - x) * np.log(1 - recon)).reshape(len(x), -1).sum(axis=1)
    mse = ((x - recon) ** 2).reshape(len(x), -1).mean(axis=1)
    return bce, mse


def gaussian_fit_kl(codes):
    """KL(N(m, S) || N(0, I)) for the Gaussian fitted to `codes` `[N, d]`: how far the encoded data's spread is
    from the prior the decoder samples (0 when mean 0 and covariance I)."""
    m, s = codes.mean(axis=0), np.cov(codes, rowvar=False)
    sign, logdet = np.linalg.slogdet(s)
    return float(0.5 * (np.trace(s) + m @ m - len(m) - logdet)) if sign > 0 else float("inf")


def main(argv=None):
    args = studies.study_arguments(__doc__.splitlines()[0], "runs/critic_vae", extra_arguments).parse_args(argv)
    take, epochs, num_samples = studies.scale(args)
    num_test, tsne_points = (500, 200) if args.quick else (None, args.tsne_points)
    out = pathlib.Path(args.out)
    test = datasets.load_arrays("mnist", "test")
    images, labels = datasets.to_pixel_range(test.images[:num_test]), test.labels[:num_test]
    report = studies.Report(out, "Study 5: KL VAE against the Wasserstein-critic VAE on MNIST",
                            result_name="study_5_critic_vae", args=args, dataset="mnist", split="test")
    report.text(
        "Both models: MLP 784-256-(10 + 10) encoder, MLP 10-256-784 decoder with Bernoulli likelihood, Adam 1e-3, "
        "batch 64. The KL VAE (`vae_mlp256_mnist`) adds the closed-form KL to N(0, I); the critic VAE "
        "(`critic_vae_mnist`) replaces it with a Wasserstein critic (MLP 512-256-1, gradient penalty 10) between "
        "prior samples and posterior samples, as in WAE-GAN. The third model (`critic_vae_mnist_mean10`) reads "
        "the critic as layers of 512, 256 and 10 units: 10 linear outputs whose mean is the score. "
        "Reconstruction errors and latent codes: the "
        f"{len(images):,} MNIST test images, through the posterior mean. Samples: decoded N(0, I) vectors; "
        f"reference FID of {num_samples:,} samples against the first {num_samples:,} test images, classifier metrics "
        "with kzoo's MNIST classifier.")
    rows, codes, errors, recons, interpolations, tsne = [], {}, {}, [images[:16]], [], {}
    for label, preset in MODELS.items():
        folder = out / preset
        model, summary = studies.train_preset(preset, folder, epochs=epochs, take=take, seed=args.seed,
                                              quick=args.quick)
        bce, mse = per_image_errors(model, images)
        errors[label] = (bce, mse)
        codes[label] = latent_means(model, images).astype(np.float64)
        recons.append(np.asarray(model.reconstruct(images[:16])))
        interpolations.append(callbacks.latent_interpolation(model, images, args.seed, rows=3))
        evaluation = studies.evaluate_cached(model, folder, "mnist", ("fid", "coverage"), num_samples, seed=args.seed)
        from sklearn.manifold import TSNE
        tsne[label] = TSNE(2, init="pca", random_state=args.seed, perplexity=min(30, tsne_points // 4)).fit_transform(
            codes[label][:tsne_points])
        rows.append([label, summary["epochs"], summary["wall_time_s"], summary["parameters"], float(np.mean(bce)),
                     float(np.median(bce)), float(np.mean(mse)), gaussian_fit_kl(codes[label]),
                     evaluation["fid"], evaluation["classifier_fid"], evaluation["classifier_score_mean"],
                     f"{evaluation['coverage']['covered']}/10"])
        report.results[label] = {"summary": summary, "evaluation": evaluation,
                                 "bce_mean": float(np.mean(bce)), "mse_mean": float(np.mean(mse)),
                                 "latent_mean": codes[label].mean(axis=0), "latent_std": codes[label].std(axis=0),
                                 "gaussian_fit_kl": gaussian_fit_kl(codes[label])}

    visualize.plot_histograms({"BCE, summed over pixels (nats)": {k: v[0] for k, v in errors.items()},
                               "mean squared error": {k: v[1] for k, v in errors.items()}},
                              out / "reconstruction_errors.png", "per-image error", ncols=2)
    dims = next(iter(codes.values())).shape[1]
    visualize.plot_histograms({f"z[{d}]": {k: v[:, d] for k, v in codes.items()} for d in range(dims)},
                              out / "latent_histograms.png", "posterior mean", bins=40, ncols=5,
                              reference=lambda x: np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi))
    visualize.scatter_panels({f"{k}: z[0], z[1]": [(v[:, :2], labels, k)] for k, v in codes.items()},
                             out / "latent_scatter.png", ncols=2, equal=False)
    visualize.scatter_panels({f"{k}: t-SNE of the latent means": [(v, labels[:len(v)], k)] for k, v in tsne.items()},
                             out / "latent_tsne.png", ncols=2)
    visualize.save_grid(out / "reconstructions.png", datasets.to_uint8(np.concatenate(recons)), ncols=16)
    visualize.save_grid(out / "interpolations.png", datasets.to_uint8(np.concatenate(interpolations)), ncols=10)
    for label, preset in MODELS.items():
        epochs = report.results[label]["summary"]["epochs"]
        report.results[label]["samples"] = f"{preset}/samples/epoch_{epochs:03d}.png"

    report.section("Results")
    report.table(["model", "training time", "parameters", "test BCE (nats/image)", "test MSE",
                  "Gaussian-fit KL of the codes from N(0, I)", f"reference FID ({num_samples:,})", "classifier FID",
                  "classifier score", "digits covered"], main_rows(rows), name="main")
    report.text(
        "Gaussian-fit KL: KL(N(m, S) || N(0, I)) for the mean m and covariance S of the test set's posterior "
        "means, i.e. how far the region the encoder uses is from where the decoder's samples come from. "
        "Classifier score: the Inception-score formula with kzoo's MNIST classifier (at most 10); a digit is "
        "covered when at least 5% of the samples are classified as it.", describe(rows))
    report.section("Reconstruction errors")
    report.figure(out / "reconstruction_errors.png", "per-image reconstruction errors on the test set")
    report.figure(out / "reconstructions.png", "test images (top), then one row per model: " + ", ".join(MODELS))
    report.section("Latent space")
    report.figure(out / "latent_histograms.png", "each latent dimension's test posterior means; dashed: the prior")
    report.figure(out / "latent_scatter.png", "the first two latent dimensions, coloured by digit")
    report.figure(out / "latent_tsne.png", f"t-SNE of {tsne_points:,} test posterior means, coloured by digit")
    report.section("Interpolations and samples")
    report.figure(out / "interpolations.png",
                  "between the codes of test-image pairs, 3 rows per model: " + ", ".join(MODELS))
    for label in MODELS:
        report.figure(out / report.results[label]["samples"], f"{label}: 64 samples from N(0, I)")
    report.write()
    return report


def main_rows(rows):
    """The results table's cells: the preset beside each model, the time per epoch, the best value of each
    measured column in bold (lowest, but highest for the classifier score)."""
    columns = {4: (min, "{:.2f}"), 6: (min, "{:.4f}"), 7: (min, "{:.2f}"), 8: (min, "{:.2f}"), 9: (min, "{:.2f}"),
               10: (max, "{:.2f}")}
    best = {i: pick(row[i] for row in rows) for i, (pick, _) in columns.items()}
    out = []
    for row in rows:
        label, epochs, wall, parameters = row[:4]
        cells = {i: fmt.format(row[i]) for i, (_, fmt) in columns.items()}
        cells = {i: f"**{c}**" if row[i] == best[i] else c for i, c in cells.items()}
        out.append([f"{label} (`{MODELS[label]}`)", f"{wall:,.0f} s ({wall / epochs:.1f} s/epoch)", f"{parameters:,}",
                    cells[4], cells[6], cells[7], cells[8], cells[9], cells[10], row[11]])
    return out


def describe(rows):
    (a, *_, a_bce, _, a_mse, a_kl, a_fid, _, a_score, _) = rows[0]
    (b, *_, b_bce, _, b_mse, b_kl, b_fid, _, b_score, _) = rows[1]
    better_recon = a if a_bce < b_bce else b
    better_fid = a if a_fid < b_fid else b
    text = (f"The {better_recon} reconstructs better (test BCE {min(a_bce, b_bce):.1f} against "
            f"{max(a_bce, b_bce):.1f} nats); the {better_fid} has the better samples by reference FID "
            f"({min(a_fid, b_fid):.2f} against {max(a_fid, b_fid):.2f}). Its codes' Gaussian fit is "
            f"{a_kl:.2f} nats from the prior for the {a}, {b_kl:.2f} for the {b}.")
    for c, *_, c_bce, _, _c_mse, c_kl, c_fid, _, _c_score, _ in rows[2:]:
        text += (f" Reading the critic as 512-256-10 with the mean of the 10 outputs as the score ({c}) changes "
                 f"test BCE by {c_bce - b_bce:+.1f} nats, the Gaussian-fit KL by {c_kl - b_kl:+.2f} and reference FID "
                 f"by {c_fid - b_fid:+.2f} against the 512-256-1 critic.")
    return text


if __name__ == "__main__":
    main()
