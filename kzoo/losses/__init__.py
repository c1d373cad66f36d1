"""Loss terms shared by every model: VAE terms here; adversarial pairs and penalties join them."""

from kzoo.losses.distribute import scale_for_replicas
from kzoo.losses.vae import RECONSTRUCTION_LOSSES, gaussian_kl, reconstruction_loss

__all__ = ["RECONSTRUCTION_LOSSES", "gaussian_kl", "reconstruction_loss", "scale_for_replicas"]
