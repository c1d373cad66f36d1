"""Loss terms shared by every model: VAE terms, adversarial pairs, the gradient penalty."""

from kzoo.losses.adversarial import LOSS_PAIRS, LossPair, get_loss_pair
from kzoo.losses.distribute import scale_for_replicas
from kzoo.losses.penalties import gradient_penalty, r1_penalty
from kzoo.losses.vae import (
                             RECONSTRUCTION_LOSSES,
                             VAE_RECONSTRUCTION_LOSSES,
                             gaussian_kl,
                             gaussian_nll,
                             reconstruction_loss,
)

__all__ = ["LOSS_PAIRS", "LossPair", "RECONSTRUCTION_LOSSES", "VAE_RECONSTRUCTION_LOSSES", "gaussian_kl",
           "gaussian_nll", "get_loss_pair", "gradient_penalty", "r1_penalty", "reconstruction_loss",
           "scale_for_replicas"]
