"""The latent-critic VAE family (`kzoo.models.CriticVAE`): a VAE whose KL term is replaced by a Wasserstein
critic on its codes."""

from __future__ import annotations

import dataclasses

from kzoo.families import base
from kzoo.families.base import adam, derive
from kzoo.families.vae import VAESettings, autoencoder_callbacks


@dataclasses.dataclass(frozen=True)
class CriticVAESettings:
    """The latent-critic VAE's model settings (`kzoo.models.CriticVAE`)."""

    design: str
    latent_dim: int
    reconstruction: str
    critic_units: list
    critic_weight: float
    lipschitz: dict
    n_critic: int
    critic_readout: str = "dense"

    def __post_init__(self):
        from kzoo.losses.vae import RECONSTRUCTION_LOSSES
        from kzoo.networks.gan import CRITIC_READOUTS
        base.choice("model.critic_readout", self.critic_readout, CRITIC_READOUTS)
        if self.critic_readout == "mean" and len(self.critic_units or ()) < 2:
            base.fail("model.critic_units", f"a mean readout reads the last layer as the outputs and needs hidden "
                                            f"layers before it, e.g. [512, 256, 10]; got {self.critic_units!r}.")
        VAESettings(self.design, self.latent_dim, self.reconstruction)
        base.choice("model.reconstruction", self.reconstruction, RECONSTRUCTION_LOSSES)
        if not self.critic_units or not all(isinstance(u, int) and u > 0 for u in self.critic_units):
            base.fail("model.critic_units", f"must be a list of positive layer widths, got {self.critic_units!r}.")
        if not isinstance(self.critic_weight, (int, float)) or self.critic_weight < 0:
            base.fail("model.critic_weight", f"must be a number >= 0, got {self.critic_weight!r}.")
        base.lipschitz("model.lipschitz", self.lipschitz, allow_none=False)
        base.positive_int("model.n_critic", self.n_critic)


def build(preset, image_shape, seed, wrap=base.unchanged, label_distribution=None):
    from kzoo.models import CriticVAE
    from kzoo.networks import build_vae_networks, mlp_critic
    spec = dict(preset["model"])
    encoder, decoder = build_vae_networks(spec.pop("design"), spec.pop("latent_dim"), image_shape)
    critic = mlp_critic(int(decoder.inputs[0].shape[-1]), tuple(spec.pop("critic_units")),
                        readout=spec.pop("critic_readout", "dense"))
    model = CriticVAE(*wrap(encoder, decoder, critic), seed=seed, **spec)
    model.compile(optimizer=base.make_optimizer(preset["optimizer"]["autoencoder"]),
                  critic_optimizer=base.make_optimizer(preset["optimizer"]["critic"]))
    return model


MNIST = {
    "model": {"design": "mlp256", "latent_dim": 10, "reconstruction": "bce", "critic_units": [512, 256],
              "critic_weight": 1.0, "lipschitz": {"class_name": "GradientPenalty", "config": {"weight": 10.0}},
              "n_critic": 1},
    "optimizer": {"autoencoder": adam(1e-3), "critic": adam(1e-3)},
    "dataset": "mnist", "batch_size": 64, "epochs": 35,
    "about": "VAE with a latent Wasserstein critic instead of KL: MLP 784-256, latent 10, critic 512-256-1 with "
             "gradient penalty, Adam 1e-3 for both, batch 64, 35 epochs.",
}

PRESETS = {
    "critic_vae_mnist": MNIST,
    "critic_vae_mnist_mean10": derive(
        MNIST, model=dict(critic_units=[512, 256, 10], critic_readout="mean"),
        about="critic_vae_mnist with the critic read as layers of 512, 256 and 10 units: the 10 outputs are linear "
              "and their mean is the Wasserstein score (the same critics as 512-256-1, parametrised differently)."),
}


def _model_class():
    from kzoo.models import CriticVAE
    return CriticVAE


FAMILY = base.Family(
    name="critic_vae", settings=CriticVAESettings, model_class=_model_class(), build=build, pixel_range=(0.0, 1.0),
    optimizer_slots=("autoencoder", "critic"), omitted_at_default=("critic_readout",), presets=PRESETS,
    run_callbacks=autoencoder_callbacks,
    about="A VAE whose KL term is replaced by a Wasserstein critic on its codes (a latent adversarial "
          "autoencoder with gradient penalty).")
