"""Named training settings. Each preset states the published settings it reproduces and nothing more."""

import copy

import keras

from kzoo.datasets import DEFAULT_PIXEL_RANGE

PRESETS = {
    "vae_conv_fashion": {
        "family": "vae",
        "model": {"design": "conv28", "latent_dim": 20, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 1e-3},
        "dataset": "fashion_mnist", "batch_size": 128, "epochs": 20,
        "about": "Convolutional VAE (design 1), latent 20, Adam 1e-3, batch 128, 20 epochs; "
                 "the reproduced study reports a final training loss of 240.98 on Fashion-MNIST.",
    },
    "vae_conv_mnist": {
        "family": "vae",
        "model": {"design": "conv28", "latent_dim": 20, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 1e-3},
        "dataset": "mnist", "batch_size": 128, "epochs": 20,
        "about": "Convolutional VAE (design 1) on MNIST with the same settings.",
    },
    "vae_mlp600_fashion": {
        "family": "vae",
        "model": {"design": "mlp600", "latent_dim": 50, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 3e-4},
        "dataset": "fashion_mnist", "batch_size": 100, "epochs": 50,
        "about": "M1 model (design 2): MLP 784-600-600 with batch norm, latent 50, Adam 3e-4, batch 100.",
    },
    "vae_mlp600_mnist": {
        "family": "vae",
        "model": {"design": "mlp600", "latent_dim": 50, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 3e-4},
        "dataset": "mnist", "batch_size": 100, "epochs": 50,
        "about": "M1 model (design 2) on MNIST.",
    },
    "vae_mlp256_mnist": {
        "family": "vae",
        "model": {"design": "mlp256", "latent_dim": 10, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 1e-3},
        "dataset": "mnist", "batch_size": 64, "epochs": 35,
        "about": "MLP 784-256 VAE (design 3), latent 10, Adam 1e-3, batch 64: the KL baseline of the "
                 "Wasserstein-critic VAE study.",
    },
    "vae_convdense_mnist": {
        "family": "vae",
        "model": {"design": "convdense28", "latent_dim": 10, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 1e-3},
        "dataset": "mnist", "batch_size": 128, "epochs": 20,
        "about": "Conv + dense 512/256 VAE with LeakyReLU(0.2) (design 4), latent 10.",
    },
    "vae_mlp_rgb64": {
        "family": "vae",
        "model": {"design": "mlp_rgb64", "latent_dim": 16, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": 1e-3},
        "dataset": None, "batch_size": 128, "epochs": 50,
        "about": "MLP VAE for 64x64 RGB (design 5): 12288-512-512, latent 16, LeakyReLU(0.2). "
                 "Give a dataset: --dataset folder:PATH or tfds:NAME.",
    },
}


def get(name, **overrides):
    """A copy of preset `name` with top-level `overrides` applied (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    preset = copy.deepcopy(PRESETS[name])
    preset["name"] = name
    preset.update({k: v for k, v in overrides.items() if v is not None})
    preset["pixel_range"] = DEFAULT_PIXEL_RANGE[preset["family"]]
    return preset


def make_optimizer(spec):
    spec = dict(spec)
    return keras.optimizers.get({"class_name": spec.pop("class_name"), "config": spec})


def build_model(preset, image_shape=None, seed=None):
    """The compiled model a preset describes, for images of `image_shape`."""
    family = preset["family"]
    if family == "vae":
        from kzoo.models import VAE
        model = VAE.from_design(image_shape=image_shape, seed=seed, **preset["model"])
        model.compile(optimizer=make_optimizer(preset["optimizer"]))
        return model
    raise ValueError(f"preset {preset['name']!r} has unknown family {family!r}.")
