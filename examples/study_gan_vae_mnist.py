"""Study 6: a GAN against a VAE on MNIST, both with dense + convolutional designs.

The GAN (`dense_gan_mnist`: Dense(7*7*128) and two stride-2 ConvT generator; Conv 64-512 discriminator;
binary cross-entropy), the same GAN with batch normalisation in its generator (`dense_gan_bn_mnist`), against
the VAE (`vae_convdense_mnist`: Conv 32/64 + Dense 512/256 encoder, mirrored
decoder, latent 10; and `vae_convdense_adam2e4_mnist`, the same VAE at the source's own optimizer, Adam 2e-4, for
30 epochs): reference FID (10,000 samples against the 10,000 test images), classifier score and
class coverage, parameters and training time.

    python examples/study_gan_vae_mnist.py                        # runs/gan_vae_mnist/report.md
    python examples/study_gan_vae_mnist.py --epochs 10 --num-samples 5000 --out runs/gan_vae_mnist_e10
    python examples/study_gan_vae_mnist.py --presets dense_gan_bn_mnist,vae_convdense_mnist   # some of the models
    python examples/study_gan_vae_mnist.py --quick --out /tmp/q   # a smoke run

A run with --epochs is recorded as results/study_6_gan_vae_mnist_epochsN.json, beside the presets' own epochs'
results/study_6_gan_vae_mnist.json, and a run of some of the models adds _subset, so neither replaces the whole
study's.
"""

from kzoo import studies

MODELS = {"GAN (dense + conv)": "dense_gan_mnist", "GAN (dense + conv, batch norm)": "dense_gan_bn_mnist",
          "VAE (conv + dense)": "vae_convdense_mnist", "VAE (conv + dense), Adam 2e-4": "vae_convdense_adam2e4_mnist"}


def chosen_models(presets=None):
    """`MODELS`, or those of them whose preset is among the comma-separated `presets`."""
    if not presets:
        return dict(MODELS)
    wanted = [p.strip() for p in presets.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(MODELS.values()))
    if unknown:
        raise SystemExit(f"study 6 has no model with preset {', '.join(unknown)}; its presets are "
                         f"{', '.join(MODELS.values())}.")
    return {label: preset for label, preset in MODELS.items() if preset in wanted}


def result_name(epochs=None, subset=False):
    """The study's result file name: the presets' epochs, or the epochs a run overrode them with; a run of some of
    the models is kept apart from the whole study's."""
    return "study_6_gan_vae_mnist" + (f"_epochs{epochs}" if epochs else "") + ("_subset" if subset else "")


def main(argv=None):
    def presets_option(parser):
        parser.add_argument("--presets", default=None,
                            help=f"comma-separated presets to run (default all: {','.join(MODELS.values())})")
    args = studies.study_arguments(__doc__.splitlines()[0], "runs/gan_vae_mnist", extra=presets_option).parse_args(argv)
    models = chosen_models(args.presets)
    report = studies.Report(args.out, "Study 6: GAN against VAE on MNIST, dense + convolutional designs",
                            result_name=result_name(args.epochs, len(models) < len(MODELS)), args=args,
                            dataset="mnist", split="test")
    report.text(
        "GAN: preset `dense_gan_mnist` (latent 100, LeakyReLU 0.2, Adam(2e-4, beta1 0.5), batch 128, 30 epochs); "
        "the published design has no normalisation, so the study adds the same GAN with batch normalisation after "
        "the generator's two hidden layers (`dense_gan_bn_mnist`, otherwise identical). "
        "VAE: preset `vae_convdense_mnist` (latent 10, Bernoulli likelihood, Adam 1e-3, batch 128, 20 epochs), and "
        "the same VAE at the source's own optimizer for both models, Adam 2e-4, for 30 epochs "
        "(`vae_convdense_adam2e4_mnist`)."
        + (f" Epochs overridden: {args.epochs}." if args.epochs else ""),
        "Reference FID: the FID Inception network (pool3), generated against the first as-many MNIST test images. "
        "Classifier score: the Inception-score formula with kzoo's MNIST classifier (at most 10). A digit is covered "
        "when at least 5% of the samples are classified as it. Precision and recall (k = 3) and density and coverage "
        "(k = 5) of the same Inception features separate fidelity from diversity: a GAN that loses digits keeps "
        "its precision and loses recall and coverage.")
    if len(models) < len(MODELS):
        report.text(f"This run trains {len(models)} of the study's {len(MODELS)} models: "
                    f"{', '.join(f'`{p}`' for p in models.values())}.")
    results = studies.compare_models(report, models, "mnist", args, metrics=("fid", "prdc", "coverage"))
    fid = {k: results[k]["evaluation"]["fid"] for k in models}
    score = {k: results[k]["evaluation"]["classifier_score_mean"] for k in models}
    covered = {k: results[k]["evaluation"]["coverage"]["covered"] for k in models}
    best = min(fid, key=fid.get)
    report.section("Summary")
    def listed(values, form):
        return ", ".join(f"{name} {form.format(value)}" for name, value in values.items())
    report.text(f"Reference FID: {listed(fid, '{:.2f}')}: the {best}'s samples are closest to the test images. "
                f"Classifier score: {listed(score, '{:.2f}')}. Digits covered: {listed(covered, '{}/10')}.")
    report.write()
    return report


if __name__ == "__main__":
    main()
