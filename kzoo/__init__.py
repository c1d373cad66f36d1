"""kzoo: a Keras 3 / TensorFlow model zoo of generative image models."""

__version__ = "0.1.0"

# Importing the models registers every serialisable class with Keras.
from kzoo import constraints, datasets, distribute, losses, networks, presets  # noqa: E402,F401
from kzoo.models import VAE, AdversarialModel, CriticVAE  # noqa: E402,F401

__all__ = ["AdversarialModel", "CriticVAE", "VAE", "datasets", "distribute", "losses", "networks", "presets",
           "__version__"]
