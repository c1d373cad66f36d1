"""The VAE family (`kzoo.models.VAE`): settings, how a preset builds it, its run figures, and its presets."""

from __future__ import annotations

import dataclasses

from kzoo.families import base
from kzoo.families.base import derive


@dataclasses.dataclass(frozen=True)
class VAESettings:
    """The VAE family's model settings (`kzoo.models.VAE`)."""

    design: str
    latent_dim: int
    reconstruction: str = "bce"
    beta: float = 1.0
    num_classes: int | None = None

    def __post_init__(self):
        from kzoo.losses.vae import VAE_RECONSTRUCTION_LOSSES
        from kzoo.networks import VAE_DESIGNS
        base.choice("model.design", self.design, tuple(VAE_DESIGNS))
        base.num_classes(self.num_classes)
        base.positive_int("model.latent_dim", self.latent_dim)
        base.choice("model.reconstruction", self.reconstruction, VAE_RECONSTRUCTION_LOSSES)
        if not base.number(self.beta) or not self.beta > 0:
            base.fail("model.beta", f"the KL weight must be a number above 0, got {self.beta!r}.")


def build(preset, image_shape, seed, wrap=base.unchanged, label_distribution=None):
    from kzoo.models import VAE
    from kzoo.networks import build_vae_networks
    spec = dict(preset["model"])
    encoder, decoder = wrap(*build_vae_networks(spec.pop("design"), spec.pop("latent_dim"), image_shape,
                                                num_classes=spec.get("num_classes")))
    model = VAE(encoder, decoder, seed=seed, **spec)
    model.compile(optimizer=base.make_optimizer(preset["optimizer"]))
    return model


def autoencoder_callbacks(run):
    """Per-epoch figures of a model with an encoder: reconstructions of 16 fixed test images (their error logged as
    ``reconstruction_mse``), and the latent space of 2,000 test images, coloured by class, at chosen epochs."""
    from kzoo import callbacks, datasets
    preset, take = run.preset, run.settings.take
    examples, labels = datasets.first_images(preset["dataset"], preset["pixel_range"], 16, take)
    conditional = run.family.conditional(preset)
    points, point_labels = datasets.first_images(preset["dataset"], preset["pixel_range"], 2000, take)
    return [callbacks.ReconstructionGrid(run.write_dir / "reconstructions", examples, labels if conditional else None),
            callbacks.LatentScatter(run.write_dir / "latent", points, point_labels,
                                    epochs=callbacks.latent_epochs(preset["epochs"]),
                                    labels_of_encoder=point_labels if conditional else None)]


def _preset(design, latent_dim, dataset, learning_rate, batch_size, epochs, about, **options):
    return {"model": {"design": design, "latent_dim": latent_dim, "reconstruction": "bce"},
            "optimizer": {"class_name": "Adam", "learning_rate": learning_rate},
            "dataset": dataset, "batch_size": batch_size, "epochs": epochs, "about": about, **options}


CONV = _preset("conv28", 20, "fashion_mnist", 1e-3, 128, 20, "")
MLP600 = _preset("mlp600", 50, "fashion_mnist", 3e-4, 100, 50, "")
TWO_STAGE = derive(_preset("infogan28", 64, "fashion_mnist", 1e-3, 64, 40, ""),
                   model=dict(reconstruction="gaussian"),
                   latent_prior={"kind": "second_stage", "epochs": 50, "batch_size": 256, "hidden": 1024, "depth": 3,
                                 "learning_rate": 1e-3})
GMM = derive(CONV, model=dict(beta=0.1), latent_prior={"components": 30})
CVAE = derive(CONV, model=dict(num_classes=10))

PRESETS = {
    "vae_conv_fashion": derive(
        CONV, about="Convolutional VAE (design 1), latent 20, Adam 1e-3, batch 128, 20 epochs; the reproduced study "
                    "reports a final training loss of 240.98 on Fashion-MNIST."),
    "vae_conv_gmm_fashion": derive(
        GMM, about="vae_conv_fashion with beta 0.1 (sharper reconstructions, codes spread wider than N(0, I)), then "
                   "codes sampled from a 30-component Gaussian mixture fitted to the training images' posterior means "
                   "(ex-post density estimation, Ghosh et al. 2020) instead of N(0, I)."),
    "vae_two_stage_fashion": derive(
        TWO_STAGE, about="Two-stage VAE (Dai & Wipf 2019): the InfoGAN network of Lucic et al. 2018, latent 64, a "
                         "Gaussian likelihood with learned variance, Adam 1e-3, batch 64, 40 epochs; then a second VAE "
                         "(3 x 1024 units, learned variance) fitted to the first stage's codes for 50 epochs, through "
                         "which samples are drawn."),
    "vae_two_stage_mnist": derive(
        TWO_STAGE, dataset="mnist", about="Two-stage VAE on MNIST with the settings of vae_two_stage_fashion."),
    "vae_conv_mnist": derive(CONV, dataset="mnist",
                             about="Convolutional VAE (design 1) on MNIST with the same settings."),
    "vae_conv_gmm_mnist": derive(
        GMM, dataset="mnist",
        about="vae_conv_gmm_fashion's recipe on MNIST: beta 0.1, then codes from a 30-component Gaussian mixture "
              "fitted to the training images' posterior means."),
    "cvae_conv_fashion": derive(
        CVAE, about="Conditional VAE (Sohn et al. 2015) on Fashion-MNIST: vae_conv_fashion with the one-hot class "
                    "joined to the encoder's features and to the code before the decoder."),
    "cvae_conv_mnist": derive(CVAE, dataset="mnist",
                              about="Conditional VAE on MNIST with the same settings as cvae_conv_fashion."),
    "vae_mlp600_fashion": derive(
        MLP600, about="M1 model (design 2): MLP 784-600-600 with batch norm, latent 50, Adam 3e-4, batch 100."),
    "vae_mlp600_mnist": derive(MLP600, dataset="mnist", about="M1 model (design 2) on MNIST."),
    "vae_mlp600_beta01_fashion": derive(
        MLP600, model=dict(beta=0.1),
        about="vae_mlp600_fashion with beta 0.1: the KL term weighs less, so more latent dimensions carry "
              "information (49 of 50 active instead of 11 on Fashion-MNIST) for the M1 + SVM features."),
    "vae_mlp600_beta01_mnist": derive(MLP600, dataset="mnist", model=dict(beta=0.1),
                                      about="vae_mlp600_mnist with beta 0.1."),
    "vae_mlp256_mnist": _preset(
        "mlp256", 10, "mnist", 1e-3, 64, 35,
        "MLP 784-256 VAE (design 3), latent 10, Adam 1e-3, batch 64: the KL baseline of the Wasserstein-critic VAE "
        "study."),
    "vae_convdense_mnist": _preset(
        "convdense28", 10, "mnist", 1e-3, 128, 20,
        "Conv + dense 512/256 VAE with LeakyReLU(0.2) (design 4), latent 10."),
    "vae_convdense_adam2e4_mnist": _preset(
        "convdense28", 10, "mnist", 2e-4, 128, 30,
        "vae_convdense_mnist at the optimizer study 6's source gives both of its models, Adam 2e-4 (instead of "
        "1e-3), for 30 epochs (the study's GAN epochs)."),
    "vae_mlp_rgb64": _preset(
        "mlp_rgb64", 16, None, 1e-4, 128, 50,
        "MLP VAE for 64x64 RGB (design 5): 12288-512-512, latent 16, LeakyReLU(0.2), Adam 1e-4, batch 128 (the "
        "design states no optimizer; at Adam 1e-3 it learnt nothing on the emoji set: every reconstruction the "
        "same blur, then NaN at epoch 9). Give a dataset: --dataset emoji, folder:PATH or tfds:NAME."),
}

def _model_class():
    from kzoo.models import VAE
    return VAE


FAMILY = base.Family(
    name="vae", settings=VAESettings, model_class=_model_class(), build=build, pixel_range=(0.0, 1.0),
    omitted_at_default=("beta", "num_classes"), presets=PRESETS, run_callbacks=autoencoder_callbacks,
    latent_prior=True,
    about="Variational autoencoders (Kingma & Welling 2014): ELBO training, optional class conditioning (CVAE), "
          "beta, and latent priors fitted after training (a Gaussian mixture or a second-stage VAE).")
