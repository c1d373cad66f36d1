"""kzoo: a Keras 3 / TensorFlow model zoo of generative image models."""

__version__ = "0.1.0"

# Importing the models registers every serialisable class with Keras.
from kzoo import (callbacks, constraints, datasets, distribute, export, losses, metrics, networks,  # noqa: E402,F401
                  presets, registry, results)
from kzoo.models import VAE, AdversarialModel, CriticVAE, DiffusionModel  # noqa: E402,F401
from kzoo.registry import load_model  # noqa: E402,F401

__all__ = ["AdversarialModel", "CriticVAE", "DiffusionModel", "VAE", "callbacks", "constraints", "datasets", "distribute", "export",
           "load_model", "losses", "metrics", "networks", "presets", "registry", "results", "__version__"]
