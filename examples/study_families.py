"""Study 7: a VAE, a GAN and a diffusion model on the same data, measured the same way.

Each family's recipe (unconditional, so the three answer the same question) is trained with `kzoo train` into
the study's folder and evaluated on one protocol: reference FID, precision/recall (k = 3) and density/coverage
(k = 5) of the same Inception features, the domain classifier's FID, score and class coverage; beside them the
parameters, the training time and the sampling time (images per second of `generate`, each model's own
sampler: one decoder or generator pass for the VAE and the GAN, the diffusion model's DDIM steps inside one
compiled loop), and the three models' samples from the same seed side by side.

    python examples/study_families.py --dataset fashion_mnist      # runs/families_fashion_mnist/report.md
    python examples/study_families.py --dataset mnist --presets vae_conv_gmm_mnist,dcgan_ema_mnist,ddim_mnist
    python examples/study_families.py --dataset fashion_mnist --quick --out /tmp/q   # a smoke run

Results: results/study_7_families_DATASET.json (a run with --epochs adds _epochsN).
"""


import numpy as np

from kzoo import studies

# Each family's recipe per data set: the latent-mixture VAE, the DCGAN with an averaged generator, DDIM.
DEFAULTS = {
    "fashion_mnist": {"VAE": "vae_conv_gmm_fashion", "GAN": "dcgan_ema_fashion", "diffusion": "ddim_fashion"},
    "mnist": {"VAE": "vae_conv_gmm_mnist", "GAN": "dcgan_ema_mnist", "diffusion": "ddim_mnist"},
}
FAMILY_LABELS = {"vae": "VAE", "gan": "GAN", "diffusion": "diffusion"}


def chosen_models(dataset, presets=None):
    """``{label: preset}``: the data set's defaults, or the comma-separated `presets` (one per family, labelled by
    family; any preset trains on `dataset`)."""
    from kzoo import presets as kpresets
    if dataset not in DEFAULTS and not presets:
        raise SystemExit(f"no default models for {dataset!r}: name one preset per family with --presets "
                         f"(the defaults cover {', '.join(DEFAULTS)}).")
    if not presets:
        return dict(DEFAULTS[dataset])
    models = {}
    for name in (p.strip() for p in presets.split(",") if p.strip()):
        family = kpresets.get(name)["family"]  # an unknown preset name raises with the known ones
        label = FAMILY_LABELS.get(family, family)
        if label in models:
            raise SystemExit(f"two {label} presets ({models[label]}, {name}): the study compares one per family.")
        models[label] = name
    return models


def result_name(dataset, epochs=None):
    return f"study_7_families_{dataset}" + (f"_epochs{epochs}" if epochs else "")


def main(argv=None):
    import keras

    from kzoo import datasets, visualize
    from kzoo import presets as kpresets

    def options(parser):
        parser.add_argument("--dataset", default="fashion_mnist", help="the data all three train and are measured on")
        parser.add_argument("--presets", default=None, help="comma-separated, one per family (default: "
                            + "; ".join(f"{d}: {','.join(m.values())}" for d, m in DEFAULTS.items()) + ")")
        parser.add_argument("--timing-samples", type=int, default=1000,
                            help="images generated to time each sampler (default 1000)")
    parser = studies.study_arguments(__doc__.splitlines()[0], None, extra=options)
    args = parser.parse_args(argv)
    args.out = args.out or f"runs/families_{args.dataset}"
    models = chosen_models(args.dataset, args.presets)
    report = studies.Report(args.out, f"Study 7: VAE, GAN and diffusion on {args.dataset}",
                            result_name=result_name(args.dataset, args.epochs), args=args, dataset=args.dataset,
                            split="test", presets=models, timing_samples=args.timing_samples)
    report.text(
        "One preset per family, each at its own epochs unless --epochs overrides them: "
        + ", ".join(f"{label} `{preset}`" for label, preset in models.items()) + ". "
        "Reference FID: the FID Inception network (pool3), generated images against as many test images. "
        "Precision and recall (k = 3) and density and coverage (k = 5) of the same features separate fidelity from "
        "diversity; the classifier columns use kzoo's domain classifier. Parameters count every weight a model "
        "holds, its averaged copy (GAN, diffusion) and fitted prior (VAE) included.")
    # A smoke run's 512 images are too few codes for a 30-component mixture; two components exercise the same path.
    quick_mixture = {p: ["--set", "latent_prior.components=2"] for p in models.values()
                     if args.quick and (kpresets.get(p).get("latent_prior") or {}).get("components")}
    results = studies.compare_models(report, models, args.dataset, args, metrics=("fid", "prdc", "coverage"),
                                     extra_args=quick_mixture)

    count = 64 if args.quick else args.timing_samples
    speed_rows, grids = [], {}
    for label, r in results.items():
        model = keras.models.load_model(r["folder"] / "model.keras")
        per_second, seconds, steps = studies.sampling_speed(model, count, seed=args.seed)
        r["sampling"] = {"images_per_second": per_second, "seconds": seconds, "images": count, "steps": steps}
        speed_rows.append([label, r["summary"]["parameters"], steps, count, seconds, per_second,
                           10000 / per_second])
        z = np.random.default_rng(args.seed).standard_normal((64, int(model.latent_dim))).astype(np.float32)
        grids[label] = datasets.to_uint8(np.asarray(model.generate(z)), model.pixel_range)
    report.section("Sampling time")
    report.table(["model", "parameters", "network passes per image", "images timed", "seconds",
                  "images per second", "seconds per 10,000 images (from the rate)"], speed_rows, name="sampling")
    report.text("Timed after one batch that compiles the sampler, batches of 250 (or fewer), on this machine; the "
                "training times are in the first table.")

    figure = report.out / "samples_side_by_side.png"
    visualize.side_by_side({f"{label} (FID {results[label]['evaluation']['fid']:.2f})":
                            visualize.image_grid(images, ncols=8)
                            for label, images in grids.items()}, figure,
                           f"64 samples of each family on {args.dataset}")
    report.figure(figure, "The three families' samples")
    for label, r in results.items():
        report.results["models"][label]["sampling"] = r["sampling"]
    report.write()
    return report


if __name__ == "__main__":
    main()
