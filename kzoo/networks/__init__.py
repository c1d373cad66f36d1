"""Pure builders of encoders, decoders, generators and critics; no training logic lives here."""

from kzoo.networks.gan import GAN_DESIGNS, build_gan_networks, mlp_critic, mlp_generator
from kzoo.networks.unet import UNET_DESIGNS, build_diffusion_network
from kzoo.networks.vae import VAE_DESIGNS, build_vae_networks

__all__ = ["GAN_DESIGNS", "UNET_DESIGNS", "VAE_DESIGNS", "build_diffusion_network", "build_gan_networks",
           "build_vae_networks", "mlp_critic", "mlp_generator"]
