"""Pure builders of encoders, decoders, generators and critics; no training logic lives here."""

from kzoo.networks.vae import VAE_DESIGNS, build_vae_networks

__all__ = ["VAE_DESIGNS", "build_vae_networks"]
