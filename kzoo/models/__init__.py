"""kzoo's models: custom `keras.Model` subclasses trained with `fit`."""

from kzoo.models.adversarial import AdversarialModel, critic_update
from kzoo.models.critic_vae import CriticVAE
from kzoo.models.diffusion import DiffusionModel
from kzoo.models.latent_prior import GaussianMixturePrior
from kzoo.models.two_stage import SecondStageVAE
from kzoo.models.vae import VAE

__all__ = ["AdversarialModel", "CriticVAE", "DiffusionModel", "GaussianMixturePrior", "SecondStageVAE", "VAE",
           "critic_update"]
