"""The adversarial family (`kzoo.models.AdversarialModel`): every GAN loss, Lipschitz constraint, averaged
generator, class conditioning and DiffAugment behind one training loop; its settings and presets."""

from __future__ import annotations

import dataclasses

from kzoo.families import base
from kzoo.families.base import adam, derive


@dataclasses.dataclass(frozen=True)
class GANSettings:
    """The adversarial family's model settings (`kzoo.models.AdversarialModel`)."""

    design: str
    loss: str
    lipschitz: dict | None
    n_critic: int
    discriminator: dict
    latent_dim: int = 100
    generator_ema: float | None = None
    num_classes: int | None = None
    augment: str | None = None
    auxiliary_weight: float | None = None

    def __post_init__(self):
        from kzoo.losses.adversarial import LOSS_PAIRS
        from kzoo.networks import GAN_DESIGNS
        base.choice("model.design", self.design, tuple(GAN_DESIGNS))
        weight = self.auxiliary_weight
        if weight is not None and (self.num_classes is None or not base.number(weight) or weight <= 0):
            base.fail("model.auxiliary_weight", f"the AC-GAN class-loss weight is a number above 0 for a conditional "
                                                f"model (model.num_classes set); got {weight!r}.")
        if self.augment is not None:
            from kzoo.augment import parse_policy
            try:
                parse_policy(self.augment)
            except ValueError as e:
                base.fail("model.augment", str(e))
        if self.num_classes is not None:
            base.num_classes(self.num_classes)
            if not GAN_DESIGNS[self.design].conditional:
                base.fail("model.num_classes", f"design {self.design!r} has no class-conditional form; use one of "
                                               f"{', '.join(n for n, d in GAN_DESIGNS.items() if d.conditional)}.")
        base.choice("model.loss", self.loss, tuple(LOSS_PAIRS))
        base.lipschitz("model.lipschitz", self.lipschitz)
        base.positive_int("model.n_critic", self.n_critic)
        base.positive_int("model.latent_dim", self.latent_dim)
        if not isinstance(self.discriminator, dict):
            base.fail("model.discriminator", f"must be a dict of the discriminator's options, got "
                                             f"{self.discriminator!r}.")
        base.decay("model.generator_ema", self.generator_ema)


def build(preset, image_shape, seed, wrap=base.unchanged, label_distribution=None):
    from kzoo import constraints
    from kzoo.models import AdversarialModel
    from kzoo.networks import build_gan_networks
    spec = preset["model"]
    generator, discriminator = wrap(*build_gan_networks(
        spec["design"], spec["latent_dim"], image_shape, num_classes=spec.get("num_classes"),
        auxiliary_classifier=spec.get("auxiliary_weight") is not None, **spec["discriminator"]))
    model = AdversarialModel(generator, discriminator, loss=spec["loss"], lipschitz=constraints.get(spec["lipschitz"]),
                             n_critic=spec["n_critic"], seed=seed, generator_ema=spec.get("generator_ema"),
                             num_classes=spec.get("num_classes"), augment=spec.get("augment"),
                             auxiliary_weight=spec.get("auxiliary_weight"),
                             label_distribution=label_distribution if spec.get("num_classes") else None)
    model.compile(d_optimizer=base.make_optimizer(preset["optimizer"]["d"]),
                  g_optimizer=base.make_optimizer(preset["optimizer"]["g"]))
    return model


def images_per_step(preset):
    """A generator step takes `n_critic` critic batches."""
    return preset["batch_size"] * preset["model"]["n_critic"]


DCGAN_ADAM = adam(2e-4, 0.5)
SPECTRAL_NORM = {"class_name": "SpectralNormalization", "config": {"power_iterations": 1}}
DCGAN = {"model": {"design": "dcgan28", "latent_dim": 100, "loss": "non_saturating", "lipschitz": None, "n_critic": 1,
                   "discriminator": {}},
         "optimizer": {"d": DCGAN_ADAM, "g": DCGAN_ADAM}, "dataset": "fashion_mnist", "batch_size": 128, "epochs": 30}
EMA = derive(DCGAN, model=dict(generator_ema=0.999))
CONDITIONAL = derive(EMA, model=dict(num_classes=10))
WGAN_RMSPROP = {"class_name": "RMSprop", "learning_rate": 5e-5}
WGAN_GP_ADAM = adam(1e-4, 0.5, 0.9)

PRESETS = {
    "dcgan_fashion": derive(
        DCGAN, about="DCGAN 28x28 (Radford et al. 2016): Adam(2e-4, beta1 0.5), batch 128, 30 epochs, data in "
                     "[-1, 1]."),
    "dcgan_mnist": derive(DCGAN, dataset="mnist", about="DCGAN 28x28 on MNIST with the same settings."),
    "dcgan_ema_mnist": derive(
        EMA, dataset="mnist",
        about="DCGAN on MNIST whose samples come from an exponential moving average of the generator's weights "
              "(decay 0.999; Yazici et al. 2019)."),
    "dcgan_ema_fashion": derive(
        EMA, about="DCGAN on Fashion-MNIST whose samples come from an exponential moving average of the generator's "
                   "weights (decay 0.999; Yazici et al. 2019)."),
    "cdcgan_fashion": derive(
        CONDITIONAL,
        about="Class-conditional DCGAN on Fashion-MNIST: the dcgan_ema_fashion networks with a 50-d label embedding "
              "joined to z and a projection discriminator (Miyato & Koyama 2018), averaged generator (decay 0.999)."),
    "cdcgan_mnist": derive(CONDITIONAL, dataset="mnist",
                           about="Class-conditional DCGAN on MNIST with the same settings as cdcgan_fashion."),
    "wgan_clip_fashion": derive(
        DCGAN, model=dict(loss="wasserstein", n_critic=5,
                          lipschitz={"class_name": "WeightClipping", "config": {"clip_value": 0.01}}),
        optimizer={"d": WGAN_RMSPROP, "g": WGAN_RMSPROP}, batch_size=64,
        about="WGAN (Arjovsky et al. 2017): the DCGAN critic without sigmoid, clipping 0.01, RMSprop(5e-5), "
              "n_critic 5, batch 64."),
    "wgan_gp_fashion": derive(
        DCGAN, model=dict(loss="wasserstein", lipschitz={"class_name": "GradientPenalty", "config": {"weight": 10.0}},
                          n_critic=5, discriminator={"batch_norm": False}),
        optimizer={"d": WGAN_GP_ADAM, "g": WGAN_GP_ADAM}, batch_size=64,
        about="WGAN-GP (Gulrajani et al. 2017): critic without batch norm, lambda 10, Adam(1e-4, 0.5, 0.9), "
              "n_critic 5, batch 64."),
    "sngan_fashion": derive(
        DCGAN, model=dict(loss="hinge", lipschitz=SPECTRAL_NORM, discriminator={"batch_norm": False}),
        about="SNGAN (Miyato et al. 2018): the DCGAN networks with spectral normalisation on every critic layer (one "
              "power iteration per step) instead of batch norm, hinge loss, Adam(2e-4, 0.5, 0.999), n_critic 1, "
              "batch 128, 30 epochs: the same generator steps as dcgan_fashion."),
    "dcgan_rgb64": derive(
        DCGAN, model=dict(design="dcgan64"), dataset=None,
        about="DCGAN 64x64 RGB: ConvT+BN+ReLU generator to 64x64x3, mirrored Conv+BN+LeakyReLU discriminator, "
              "Adam(2e-4, 0.5, 0.999), batch 128. Give a dataset: --dataset folder:PATH or tfds:NAME."),
    "dense_gan_mnist": derive(
        DCGAN, model=dict(design="dense_conv28"), dataset="mnist",
        about="Dense+conv GAN on MNIST: Dense(7*7*128), ConvT 64/1 (5x5, s2), LeakyReLU(0.2); Conv 64-512 "
              "discriminator; Adam 2e-4, binary cross-entropy, latent 100."),
    "dense_gan_bn_mnist": derive(
        DCGAN, model=dict(design="dense_conv28_bn"), dataset="mnist",
        about="dense_gan_mnist with batch normalisation in the generator (after the Dense and the first ConvT), as "
              "in DCGAN; otherwise the same. Study 6 compares the two."),
}


def _model_class():
    from kzoo.models import AdversarialModel
    return AdversarialModel


FAMILY = base.Family(
    name="gan", settings=GANSettings, model_class=_model_class(), build=build, pixel_range=(-1.0, 1.0),
    optimizer_slots=("d", "g"), omitted_at_default=("generator_ema", "num_classes", "augment", "auxiliary_weight"),
    presets=PRESETS, images_per_step=images_per_step,
    about="Generative adversarial networks: non-saturating, Wasserstein (clipping or gradient penalty), hinge and "
          "least-squares losses, spectral norm, R1, an averaged generator, class conditioning and DiffAugment in one "
          "training loop.")
