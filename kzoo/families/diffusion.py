"""The diffusion family (`kzoo.models.DiffusionModel`): settings, serving endpoints with the sampler and the number
of steps as arguments, and its presets."""

from __future__ import annotations

import dataclasses

from kzoo.families import base
from kzoo.families.base import derive


@dataclasses.dataclass(frozen=True)
class DiffusionSettings:
    """The diffusion family's model settings (`kzoo.models.DiffusionModel`)."""

    design: str
    schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "epsilon"
    ema: float | None = 0.999
    sampling_steps: int = 50
    eta: float = 0.0
    loss_weighting: str = "none"
    min_snr_gamma: float = 5.0
    sampler: str = "ddim"

    def __post_init__(self):
        from kzoo.models.diffusion import LOSS_WEIGHTINGS, PREDICTIONS, SAMPLERS
        from kzoo.models.schedules import SCHEDULES
        from kzoo.networks import UNET_DESIGNS
        base.choice("model.design", self.design, tuple(UNET_DESIGNS))
        base.choice("model.schedule", self.schedule, tuple(SCHEDULES))
        base.positive_int("model.timesteps", self.timesteps)
        if self.timesteps < 2:
            base.fail("model.timesteps", f"a noise schedule needs at least 2 timesteps, got {self.timesteps}.")
        base.choice("model.prediction", self.prediction, PREDICTIONS)
        base.choice("model.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)
        base.choice("model.sampler", self.sampler, SAMPLERS)
        if not base.number(self.min_snr_gamma) or not self.min_snr_gamma > 0:
            base.fail("model.min_snr_gamma", f"is a number above 0 (the paper's is 5), got {self.min_snr_gamma!r}.")
        base.positive_int("model.sampling_steps", self.sampling_steps)
        if self.sampling_steps > self.timesteps:
            base.fail("model.sampling_steps", f"at most the {self.timesteps} timesteps, got {self.sampling_steps}.")
        if not base.number(self.eta) or not 0 <= self.eta <= 1:
            base.fail("model.eta", f"DDIM's noise scale is a number from 0 to 1, got {self.eta!r}.")
        base.decay("model.ema", self.ema)


def build(preset, image_shape, seed, wrap=base.unchanged, label_distribution=None):
    from kzoo.models import DiffusionModel, schedules
    from kzoo.networks import build_diffusion_network
    spec = dict(preset["model"])
    network, = wrap(build_diffusion_network(spec.pop("design"), image_shape))
    schedule = schedules.get(spec.pop("schedule"), timesteps=spec.pop("timesteps"))
    model = DiffusionModel(network, schedule=schedule, seed=seed, pixel_range=preset["pixel_range"], **spec)
    model.compile(optimizer=base.make_optimizer(preset["optimizer"]))
    return model


def endpoints(model):
    """``generate(z)``, ``generate(z, steps)`` and ``generate(z, steps, sampler)``: the number of sampling steps
    (an int32 scalar) and the sampler (a string) are serving arguments."""
    import tensorflow as tf
    latent = tf.TensorSpec((None, model.latent_dim), tf.float32, name="z")
    steps = tf.TensorSpec((), tf.int32, name="steps")
    sampler = tf.TensorSpec((), tf.string, name="sampler")
    return {"generate": (lambda z, steps=None, sampler=None: model.generate(z, steps, sampler=sampler),
                         [latent], [[latent, steps], [latent, steps, sampler]])}


def manifest(model):
    from kzoo.models.diffusion import SAMPLERS
    return {"sampling_steps": int(model.sampling_steps), "timesteps": int(model.timesteps), "sampler": model.sampler,
            "samplers": list(SAMPLERS)}


def export_arguments(model):
    """Two steps, and a sampler that is not the model's default: the export must select samplers by its string
    argument."""
    import numpy as np
    import tensorflow as tf
    return {"steps": np.int32(2), "sampler": tf.constant("dpmpp_2m" if model.sampler != "dpmpp_2m" else "ddim")}


DDIM = {"model": {"design": "unet28"},
        "optimizer": {"class_name": "AdamW", "learning_rate": 1e-3, "weight_decay": 1e-4},
        "dataset": "fashion_mnist", "batch_size": 128, "epochs": 30}
# The shipped recipe: v-prediction with Min-SNR-5 weighting, sampled by DPM-Solver++(2M) in 20 network
# evaluations, float32 pinned (so its runs resume on any CPU).
V_MIN_SNR = {"model": {"design": "unet28", "prediction": "v", "loss_weighting": "min_snr", "sampling_steps": 20,
                       "sampler": "dpmpp_2m"},
             "optimizer": {"class_name": "AdamW", "learning_rate": 1e-3, "weight_decay": 1e-4,
                           "global_clipnorm": 1.0},
             "dataset": "fashion_mnist", "batch_size": 128, "epochs": 30, "precision": "float32"}

PRESETS = {
    "ddim_fashion": derive(
        DDIM, about="Denoising diffusion (Ho et al. 2020) on Fashion-MNIST: a 1.8M-parameter U-Net (widths 32-64-128, "
                    "attention at 7x7), cosine schedule over 1,000 steps (Nichol & Dhariwal 2021), noise prediction, "
                    "averaged weights (decay 0.999), AdamW(1e-3, weight decay 1e-4) as the keras.io DDIM example, "
                    "batch 128; sampled with 50 DDIM steps (Song et al. 2021)."),
    "ddim_mnist": derive(DDIM, dataset="mnist",
                         about="Denoising diffusion on MNIST with the settings of ddim_fashion."),
    "diffusion_fashion": derive(
        V_MIN_SNR,
        about="Diffusion on Fashion-MNIST, the shipped recipe: the unet28 U-Net (1.8M parameters), cosine schedule, "
              "v-prediction (Salimans & Ho 2022) with Min-SNR-5 loss weighting (Hang et al. 2023), averaged weights "
              "(0.999), AdamW(1e-3, weight decay 1e-4, gradient norm clipped at 1), batch 128, 30 epochs, float32 "
              "pinned; sampled by DPM-Solver++(2M) (Lu et al. 2022) in 20 network evaluations."),
    "diffusion_mnist": derive(V_MIN_SNR, dataset="mnist",
                              about="Diffusion on MNIST with the recipe of diffusion_fashion."),
    "ddim_emoji": derive(
        DDIM, model=dict(design="unet64"), dataset="emoji", batch_size=64, epochs=200,
        about="Denoising diffusion on the 64x64 RGB emoji set: a 2.5M-parameter U-Net (widths 32-64-96-128, "
              "attention at 8x8), otherwise the settings of ddim_fashion, batch 64, 200 epochs of the 3,786 images."),
}


def _model_class():
    from kzoo.models import DiffusionModel
    return DiffusionModel


FAMILY = base.Family(
    name="diffusion", settings=DiffusionSettings, model_class=_model_class(), build=build, pixel_range=(-1.0, 1.0),
    omitted_at_default=("loss_weighting", "min_snr_gamma", "sampler"), presets=PRESETS, endpoints=endpoints,
    manifest=manifest, export_arguments=export_arguments,
    about="Denoising diffusion (DDPM training; DDIM, DDPM and DPM-Solver++(2M) sampling in one compiled loop), "
          "epsilon or v prediction, Min-SNR weighting, averaged weights.")
