"""kzoo's models: custom `keras.Model` subclasses trained with `fit`."""

from kzoo.models.vae import VAE

__all__ = ["VAE"]
