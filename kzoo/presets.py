"""Named training settings. Each preset states the published settings it reproduces and nothing more."""

import copy

import keras

from kzoo.datasets import DEFAULT_PIXEL_RANGE

def _vae(design, latent_dim, dataset, learning_rate, batch_size, epochs, about):
    return {
        "family": "vae",
        "model": {"design": design, "latent_dim": latent_dim, "reconstruction": "bce"},
        "optimizer": {"class_name": "Adam", "learning_rate": learning_rate},
        "dataset": dataset, "batch_size": batch_size, "epochs": epochs, "about": about,
    }


PRESETS = {
    "vae_conv_fashion": _vae(
        "conv28", 20, "fashion_mnist", 1e-3, 128, 20,
        "Convolutional VAE (design 1), latent 20, Adam 1e-3, batch 128, 20 epochs; "
        "the reproduced study reports a final training loss of 240.98 on Fashion-MNIST."),
    "vae_conv_mnist": _vae("conv28", 20, "mnist", 1e-3, 128, 20,
                           "Convolutional VAE (design 1) on MNIST with the same settings."),
    "vae_mlp600_fashion": _vae(
        "mlp600", 50, "fashion_mnist", 3e-4, 100, 50,
        "M1 model (design 2): MLP 784-600-600 with batch norm, latent 50, Adam 3e-4, batch 100."),
    "vae_mlp600_mnist": _vae("mlp600", 50, "mnist", 3e-4, 100, 50, "M1 model (design 2) on MNIST."),
    "vae_mlp256_mnist": _vae(
        "mlp256", 10, "mnist", 1e-3, 64, 35,
        "MLP 784-256 VAE (design 3), latent 10, Adam 1e-3, batch 64: the KL baseline of the "
        "Wasserstein-critic VAE study."),
    "vae_convdense_mnist": _vae(
        "convdense28", 10, "mnist", 1e-3, 128, 20,
        "Conv + dense 512/256 VAE with LeakyReLU(0.2) (design 4), latent 10."),
    "vae_mlp_rgb64": _vae(
        "mlp_rgb64", 16, None, 1e-3, 128, 50,
        "MLP VAE for 64x64 RGB (design 5): 12288-512-512, latent 16, LeakyReLU(0.2). "
        "Give a dataset: --dataset folder:PATH or tfds:NAME."),
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
