"""kzoo: a Keras 3 / TensorFlow model zoo of generative image models."""

import os as _os

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI / bfloat16 or AMX. On the others
# (AVX2) they train kzoo's convolutional networks about twice as fast (benchmarks/onednn.py); so kzoo turns them on
# wherever TensorFlow is imported after it. An explicit TF_ENABLE_ONEDNN_OPTS (0 or 1) wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Importing the models registers every serialisable class with Keras, and the families every built-in family.
from kzoo import (  # noqa: E402,F401
                  callbacks,
                  constraints,
                  datasets,
                  distribute,
                  export,
                  families,
                  losses,
                  metrics,
                  networks,
                  presets,
                  registry,
                  results,
)
from kzoo.models import VAE, AdversarialModel, CriticVAE, DiffusionModel  # noqa: E402,F401
from kzoo.registry import load_model  # noqa: E402,F401
from kzoo.version import __version__  # noqa: E402

__all__ = ["AdversarialModel", "CriticVAE", "DiffusionModel", "VAE", "__version__", "callbacks", "constraints",
           "datasets", "distribute", "export", "families", "load_model", "losses", "metrics", "networks", "presets",
           "registry", "results"]
