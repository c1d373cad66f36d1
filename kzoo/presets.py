"""Named training settings. Each preset states the published settings it reproduces and nothing more.

A preset is a `Preset` dataclass whose `model` is the dataclass of its family (`VAESettings`, `GANSettings`,
`CriticVAESettings`): types and ranges are checked when it is made, so a bad `--set` value is refused before any
TensorFlow graph exists, with the valid choices. `get` gives a preset as the plain dict a run records in
``config.json`` (its fingerprint), and `preset` the typed object.
"""

from __future__ import annotations

import dataclasses
import typing

import keras

from kzoo.datasets import DEFAULT_PIXEL_RANGE


def _fail(field, message):
    raise ValueError(f"{field}: {message}")


def _positive_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(field, f"must be a positive integer, got {value!r}.")


def _choice(field, value, choices):
    if value not in choices:
        _fail(field, f"unknown value {value!r}; choose one of {', '.join(map(str, choices))}.")


def _lipschitz(field, spec, allow_none=True):
    if spec is None and allow_none:
        return
    from kzoo import constraints
    try:
        constraints.get(spec)
    except (ValueError, TypeError, KeyError) as e:
        _fail(field, f"{e} (e.g. {{\"class_name\": \"GradientPenalty\", \"config\": {{\"weight\": 10.0}}}})")


def _check_classes(num_classes):
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or
                                    num_classes < 2):
        _fail("model.num_classes", f"a class-conditional model needs at least 2 classes (or null for an "
                                   f"unconditional one); got {num_classes!r}.")


@dataclasses.dataclass(frozen=True)
class VAESettings:
    """The VAE family's model settings (`kzoo.models.VAE`)."""

    design: str
    latent_dim: int
    reconstruction: str = "bce"
    beta: float = 1.0
    num_classes: int | None = None

    def __post_init__(self):
        from kzoo.losses.vae import VAE_RECONSTRUCTION_LOSSES
        from kzoo.networks import VAE_DESIGNS
        _choice("model.design", self.design, tuple(VAE_DESIGNS))
        _check_classes(self.num_classes)
        _positive_int("model.latent_dim", self.latent_dim)
        _choice("model.reconstruction", self.reconstruction, VAE_RECONSTRUCTION_LOSSES)
        if not isinstance(self.beta, (int, float)) or isinstance(self.beta, bool) or not self.beta > 0:
            _fail("model.beta", f"the KL weight must be a number above 0, got {self.beta!r}.")


@dataclasses.dataclass(frozen=True)
class GANSettings:
    """The adversarial family's model settings (`kzoo.models.AdversarialModel`)."""

    design: str
    loss: str
    lipschitz: dict | None
    n_critic: int
    discriminator: dict
    latent_dim: int = 100
    generator_ema: float | None = None
    num_classes: int | None = None
    augment: str | None = None
    auxiliary_weight: float | None = None

    def __post_init__(self):
        from kzoo.losses.adversarial import LOSS_PAIRS
        from kzoo.networks import GAN_DESIGNS
        _choice("model.design", self.design, tuple(GAN_DESIGNS))
        if self.auxiliary_weight is not None and (self.num_classes is None or isinstance(self.auxiliary_weight, bool)
                                                  or not isinstance(self.auxiliary_weight, (int, float))
                                                  or self.auxiliary_weight <= 0):
            _fail("model.auxiliary_weight", f"the AC-GAN class-loss weight is a number above 0 for a conditional "
                                            f"model (model.num_classes set); got {self.auxiliary_weight!r}.")
        if self.augment is not None:
            from kzoo.augment import parse_policy
            try:
                parse_policy(self.augment)
            except ValueError as e:
                _fail("model.augment", str(e))
        if self.num_classes is not None:
            _check_classes(self.num_classes)
            if not GAN_DESIGNS[self.design].conditional:
                _fail("model.num_classes", f"design {self.design!r} has no class-conditional form; use one of "
                                           f"{', '.join(n for n, d in GAN_DESIGNS.items() if d.conditional)}.")
        _choice("model.loss", self.loss, tuple(LOSS_PAIRS))
        _lipschitz("model.lipschitz", self.lipschitz)
        _positive_int("model.n_critic", self.n_critic)
        _positive_int("model.latent_dim", self.latent_dim)
        if not isinstance(self.discriminator, dict):
            _fail("model.discriminator", f"must be a dict of the discriminator's options, got {self.discriminator!r}.")
        ema = self.generator_ema
        if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 < ema < 1):
            _fail("model.generator_ema", f"is a decay between 0 and 1 (e.g. 0.999) or null; got {ema!r}.")


@dataclasses.dataclass(frozen=True)
class CriticVAESettings:
    """The latent-critic VAE's model settings (`kzoo.models.CriticVAE`)."""

    design: str
    latent_dim: int
    reconstruction: str
    critic_units: list
    critic_weight: float
    lipschitz: dict
    n_critic: int
    critic_readout: str = "dense"

    def __post_init__(self):
        from kzoo.losses.vae import RECONSTRUCTION_LOSSES
        from kzoo.networks.gan import CRITIC_READOUTS
        _choice("model.critic_readout", self.critic_readout, CRITIC_READOUTS)
        if self.critic_readout == "mean" and len(self.critic_units or ()) < 2:
            _fail("model.critic_units", f"a mean readout reads the last layer as the outputs and needs hidden "
                                        f"layers before it, e.g. [512, 256, 10]; got {self.critic_units!r}.")
        VAESettings(self.design, self.latent_dim, self.reconstruction)
        _choice("model.reconstruction", self.reconstruction, RECONSTRUCTION_LOSSES)
        if not self.critic_units or not all(isinstance(u, int) and u > 0 for u in self.critic_units):
            _fail("model.critic_units", f"must be a list of positive layer widths, got {self.critic_units!r}.")
        if not isinstance(self.critic_weight, (int, float)) or self.critic_weight < 0:
            _fail("model.critic_weight", f"must be a number >= 0, got {self.critic_weight!r}.")
        _lipschitz("model.lipschitz", self.lipschitz, allow_none=False)
        _positive_int("model.n_critic", self.n_critic)


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
        _choice("model.design", self.design, tuple(UNET_DESIGNS))
        _choice("model.schedule", self.schedule, tuple(SCHEDULES))
        _positive_int("model.timesteps", self.timesteps)
        if self.timesteps < 2:
            _fail("model.timesteps", f"a noise schedule needs at least 2 timesteps, got {self.timesteps}.")
        _choice("model.prediction", self.prediction, PREDICTIONS)
        _choice("model.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS)
        _choice("model.sampler", self.sampler, SAMPLERS)
        gamma = self.min_snr_gamma
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
            _fail("model.min_snr_gamma", f"is a number above 0 (the paper's is 5), got {gamma!r}.")
        _positive_int("model.sampling_steps", self.sampling_steps)
        if self.sampling_steps > self.timesteps:
            _fail("model.sampling_steps", f"at most the {self.timesteps} timesteps, got {self.sampling_steps}.")
        eta = self.eta
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 <= eta <= 1:
            _fail("model.eta", f"DDIM's noise scale is a number from 0 to 1, got {eta!r}.")
        ema = self.ema
        if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 < ema < 1):
            _fail("model.ema", f"is a decay between 0 and 1 (e.g. 0.999) or null; got {ema!r}.")


MODEL_SETTINGS = {"vae": VAESettings, "gan": GANSettings, "critic_vae": CriticVAESettings,
                  "diffusion": DiffusionSettings}
# Optimizer slots per family: one optimizer spec, or one per network.
OPTIMIZER_SLOTS = {"vae": None, "gan": ("d", "g"), "critic_vae": ("autoencoder", "critic"), "diffusion": None}
# Model fields a preset states only when it departs from the default (so older runs keep their fingerprints).
_OMITTED_AT_DEFAULT = {"vae": ("beta", "num_classes"),
                       "gan": ("generator_ema", "num_classes", "augment", "auxiliary_weight"),
                       "critic_vae": ("critic_readout",),
                       "diffusion": ("loss_weighting", "min_snr_gamma", "sampler")}


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named training setting: the model family and its settings, optimizer(s), data, batch and epochs."""

    name: str
    family: str
    model: VAESettings | GANSettings | CriticVAESettings | DiffusionSettings
    optimizer: dict
    dataset: str | None
    batch_size: int
    epochs: int
    about: str = ""
    latent_prior: dict | None = None
    # A pinned precision (float32, mixed_bfloat16, ...): its runs then resume on any CPU, where "auto" may resolve
    # differently. None: the run's --precision (auto by default).
    precision: str | None = None

    def __post_init__(self):
        _choice("family", self.family, tuple(MODEL_SETTINGS))
        if self.precision is not None:
            from kzoo.config import PRECISIONS
            _choice("precision", self.precision, tuple(p for p in PRECISIONS if p != "auto"))
        if not isinstance(self.model, MODEL_SETTINGS[self.family]):
            _fail("model", f"a {self.family} preset needs {MODEL_SETTINGS[self.family].__name__}.")
        _positive_int("batch_size", self.batch_size)
        _positive_int("epochs", self.epochs)
        if self.dataset is not None and not isinstance(self.dataset, str):
            _fail("dataset", f"must be a dataset name, got {self.dataset!r}.")
        slots = OPTIMIZER_SLOTS[self.family]
        for slot, spec in ((s, self.optimizer.get(s)) for s in slots) if slots else (("optimizer", self.optimizer),):
            field = f"optimizer.{slot}" if slots else "optimizer"
            if not isinstance(spec, dict) or "class_name" not in spec:
                _fail(field, f"must be an optimizer spec with a class_name (e.g. {{\"class_name\": \"Adam\", "
                             f"\"learning_rate\": 1e-3}}), got {spec!r}.")
            _check_optimizer(field, spec)
        if self.family == "gan" and self.batch_size < 1:
            _fail("batch_size", "must be at least 1.")
        if self.latent_prior is not None:
            _check_latent_prior(self.latent_prior, self.family)

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "Preset":
        """A preset from its dict form; unknown keys (top level or model) are refused with the valid ones."""
        spec = {k: v for k, v in spec.items() if k not in ("name", "pixel_range")}
        _known("", spec, [f.name for f in dataclasses.fields(cls) if f.name != "name"])
        family = spec.get("family")
        _choice("family", family, tuple(MODEL_SETTINGS))
        model_cls = MODEL_SETTINGS[family]
        model = dict(spec.get("model") or {})
        _known("model.", model, [f.name for f in dataclasses.fields(model_cls)])
        try:
            settings = model_cls(**model)
        except TypeError as e:  # a required field missing
            required = [f.name for f in dataclasses.fields(model_cls) if f.default is dataclasses.MISSING]
            raise ValueError(f"preset {name!r}: model needs {', '.join(required)} ({e}).") from None
        return cls(name=name, **{k: v for k, v in spec.items() if k != "model"}, model=settings)

    def to_dict(self) -> dict:
        """The dict form (what `get` returns and a run records), with `name` and the family's pixel range."""
        model = dataclasses.asdict(self.model)
        for field in _OMITTED_AT_DEFAULT[self.family]:
            if model[field] == _field_default(type(self.model), field):
                del model[field]
        out = {"family": self.family, "model": model, "optimizer": _unshared_copy(self.optimizer),
               "dataset": self.dataset, "batch_size": self.batch_size, "epochs": self.epochs, "about": self.about}
        if self.latent_prior:
            out["latent_prior"] = dict(self.latent_prior)
        if self.precision:
            out["precision"] = self.precision
        out["name"] = self.name
        out["pixel_range"] = DEFAULT_PIXEL_RANGE[self.family]
        return out


# The ex-post latent densities a VAE preset can fit after training, with their settings and defaults.
LATENT_PRIORS = {
    "mixture": {"components": None},  # `VAE.fit_latent_prior`: a Gaussian mixture of `components`
    "second_stage": {"epochs": 50, "batch_size": 256, "hidden": 1024, "depth": 3,  # `VAE.fit_second_stage`
                     "learning_rate": 1e-3},
}


def _check_latent_prior(spec, family):
    if family != "vae":
        _fail("latent_prior", f"only a vae preset fits a latent prior; this one is {family}.")
    if not isinstance(spec, dict):
        _fail("latent_prior", f"must be a dict such as {{\"kind\": \"mixture\", \"components\": 10}}, got {spec!r}.")
    kind = spec.get("kind", "mixture")
    _choice("latent_prior.kind", kind, tuple(LATENT_PRIORS))
    _known("latent_prior.", spec, ["kind", *LATENT_PRIORS[kind]])
    for field, default in LATENT_PRIORS[kind].items():
        value = spec.get(field, default)
        if field == "learning_rate":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                _fail("latent_prior.learning_rate", f"must be above 0, got {value!r}.")
        else:
            _positive_int(f"latent_prior.{field}", value)


def latent_prior_settings(spec):
    """A preset's latent prior with its kind and every default filled in."""
    kind = spec.get("kind", "mixture")
    return {"kind": kind, **LATENT_PRIORS[kind], **{k: v for k, v in spec.items() if k != "kind"}}


def _check_optimizer(field, spec):
    """The class is a Keras optimizer, every option one of its arguments, the learning rate above 0 (checked
    without building it: an optimizer made here would create variables outside the run's strategy scope)."""
    import inspect
    cls = getattr(keras.optimizers, str(spec["class_name"]), None)
    if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
        _fail(f"{field}.class_name", f"{spec['class_name']!r} is not a keras.optimizers class (e.g. Adam, RMSprop).")
    _known(f"{field}.", {k: v for k, v in spec.items() if k != "class_name"},
           [p for p in inspect.signature(cls).parameters if p not in ("kwargs", "name")])
    rate = spec.get("learning_rate")
    if isinstance(rate, bool) or (isinstance(rate, (int, float)) and not rate > 0):
        _fail(f"{field}.learning_rate", f"must be above 0, got {rate!r}.")


def _known(prefix, spec, valid):
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(prefix + u for u in unknown)}; the valid ones are "
                         f"{', '.join(prefix + v for v in valid)}.")


def _field_default(cls, name):
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)

def _vae(design, latent_dim, dataset, learning_rate, batch_size, epochs, about, latent_prior=None, beta=1.0,
         num_classes=None, reconstruction="bce"):
    model = {"design": design, "latent_dim": latent_dim, "reconstruction": reconstruction}
    if beta != 1.0:
        model["beta"] = beta
    if num_classes is not None:
        model["num_classes"] = num_classes
    preset = {
        "family": "vae",
        "model": model,
        "optimizer": {"class_name": "Adam", "learning_rate": learning_rate},
        "dataset": dataset, "batch_size": batch_size, "epochs": epochs, "about": about,
    }
    if latent_prior:  # fitted after training (`VAE.fit_latent_prior`); only where used, fingerprints unchanged
        preset["latent_prior"] = latent_prior
    return preset


def _gan(design, loss, lipschitz, n_critic, d_optimizer, g_optimizer, dataset, batch_size, epochs, about,
         latent_dim=100, generator_ema=None, num_classes=None, **discriminator):
    model = {"design": design, "latent_dim": latent_dim, "loss": loss, "lipschitz": lipschitz,
             "n_critic": n_critic, "discriminator": discriminator}
    if generator_ema is not None:  # only where used, so the other presets' run fingerprints stay as they were
        model["generator_ema"] = generator_ema
    if num_classes is not None:
        model["num_classes"] = num_classes
    return {
        "family": "gan",
        "model": model,
        "optimizer": {"d": d_optimizer, "g": g_optimizer},
        "dataset": dataset, "batch_size": batch_size, "epochs": epochs, "about": about,
    }


def _adam(learning_rate, beta_1=0.9, beta_2=0.999):
    return {"class_name": "Adam", "learning_rate": learning_rate, "beta_1": beta_1, "beta_2": beta_2}


def _diffusion(design, dataset, batch_size, epochs, about, learning_rate=1e-3):
    return {"family": "diffusion", "model": dataclasses.asdict(DiffusionSettings(design)),
            "optimizer": {"class_name": "AdamW", "learning_rate": learning_rate, "weight_decay": 1e-4},
            "dataset": dataset, "batch_size": batch_size, "epochs": epochs, "about": about}


def _v_diffusion(dataset, epochs, about):
    """The shipped diffusion recipe: v-prediction with Min-SNR-5 weighting, sampled by DPM-Solver++(2M) in 20
    network evaluations, float32 pinned."""
    model = dataclasses.asdict(DiffusionSettings("unet28", prediction="v", loss_weighting="min_snr",
                                                 sampling_steps=20, sampler="dpmpp_2m"))
    return {"family": "diffusion", "model": model,
            "optimizer": {"class_name": "AdamW", "learning_rate": 1e-3, "weight_decay": 1e-4, "global_clipnorm": 1.0},
            "dataset": dataset, "batch_size": 128, "epochs": epochs, "about": about, "precision": "float32"}


_DCGAN_ADAM = _adam(2e-4, 0.5)
_WGAN_RMSPROP = {"class_name": "RMSprop", "learning_rate": 5e-5}
_WGAN_GP_ADAM = _adam(1e-4, 0.5, 0.9)

_SPECS = {
    "vae_conv_fashion": _vae(
        "conv28", 20, "fashion_mnist", 1e-3, 128, 20,
        "Convolutional VAE (design 1), latent 20, Adam 1e-3, batch 128, 20 epochs; "
        "the reproduced study reports a final training loss of 240.98 on Fashion-MNIST."),
    "vae_conv_gmm_fashion": _vae(
        "conv28", 20, "fashion_mnist", 1e-3, 128, 20,
        "vae_conv_fashion with beta 0.1 (sharper reconstructions, codes spread wider than N(0, I)), then codes "
        "sampled from a 30-component Gaussian mixture fitted to the training images' posterior means (ex-post "
        "density estimation, Ghosh et al. 2020) instead of N(0, I).",
        latent_prior={"components": 30}, beta=0.1),
    "vae_two_stage_fashion": _vae(
        "infogan28", 64, "fashion_mnist", 1e-3, 64, 40,
        "Two-stage VAE (Dai & Wipf 2019): the InfoGAN network of Lucic et al. 2018, latent 64, a Gaussian "
        "likelihood with learned variance, Adam 1e-3, batch 64, 40 epochs; then a second VAE (3 x 1024 units, "
        "learned variance) fitted to the first stage's codes for 50 epochs, through which samples are drawn.",
        latent_prior=latent_prior_settings({"kind": "second_stage"}), reconstruction="gaussian"),
    "vae_two_stage_mnist": _vae(
        "infogan28", 64, "mnist", 1e-3, 64, 40, "Two-stage VAE on MNIST with the settings of vae_two_stage_fashion.",
        latent_prior=latent_prior_settings({"kind": "second_stage"}), reconstruction="gaussian"),
    "vae_conv_mnist": _vae("conv28", 20, "mnist", 1e-3, 128, 20,
                           "Convolutional VAE (design 1) on MNIST with the same settings."),
    "vae_conv_gmm_mnist": _vae(
        "conv28", 20, "mnist", 1e-3, 128, 20,
        "vae_conv_gmm_fashion's recipe on MNIST: beta 0.1, then codes from a 30-component Gaussian mixture fitted "
        "to the training images' posterior means.", latent_prior={"components": 30}, beta=0.1),
    "cvae_conv_fashion": _vae(
        "conv28", 20, "fashion_mnist", 1e-3, 128, 20,
        "Conditional VAE (Sohn et al. 2015) on Fashion-MNIST: vae_conv_fashion with the one-hot class joined to "
        "the encoder's features and to the code before the decoder.", num_classes=10),
    "cvae_conv_mnist": _vae("conv28", 20, "mnist", 1e-3, 128, 20,
                            "Conditional VAE on MNIST with the same settings as cvae_conv_fashion.", num_classes=10),
    "vae_mlp600_fashion": _vae(
        "mlp600", 50, "fashion_mnist", 3e-4, 100, 50,
        "M1 model (design 2): MLP 784-600-600 with batch norm, latent 50, Adam 3e-4, batch 100."),
    "vae_mlp600_mnist": _vae("mlp600", 50, "mnist", 3e-4, 100, 50, "M1 model (design 2) on MNIST."),
    "vae_mlp600_beta01_fashion": _vae(
        "mlp600", 50, "fashion_mnist", 3e-4, 100, 50,
        "vae_mlp600_fashion with beta 0.1: the KL term weighs less, so more latent dimensions carry information "
        "(49 of 50 active instead of 11 on Fashion-MNIST) for the M1 + SVM features.", beta=0.1),
    "vae_mlp600_beta01_mnist": _vae("mlp600", 50, "mnist", 3e-4, 100, 50, "vae_mlp600_mnist with beta 0.1.",
                                    beta=0.1),
    "vae_mlp256_mnist": _vae(
        "mlp256", 10, "mnist", 1e-3, 64, 35,
        "MLP 784-256 VAE (design 3), latent 10, Adam 1e-3, batch 64: the KL baseline of the "
        "Wasserstein-critic VAE study."),
    "vae_convdense_mnist": _vae(
        "convdense28", 10, "mnist", 1e-3, 128, 20,
        "Conv + dense 512/256 VAE with LeakyReLU(0.2) (design 4), latent 10."),
    "vae_convdense_adam2e4_mnist": _vae(
        "convdense28", 10, "mnist", 2e-4, 128, 30,
        "vae_convdense_mnist at the optimizer study 6's source gives both of its models, Adam 2e-4 (instead of "
        "1e-3), for 30 epochs (the study's GAN epochs)."),
    "vae_mlp_rgb64": _vae(
        "mlp_rgb64", 16, None, 1e-4, 128, 50,
        "MLP VAE for 64x64 RGB (design 5): 12288-512-512, latent 16, LeakyReLU(0.2), Adam 1e-4, batch 128 (the "
        "design states no optimizer; at Adam 1e-3 it learnt nothing on the emoji set: every reconstruction the "
        "same blur, then NaN at epoch 9). Give a dataset: --dataset emoji, folder:PATH or tfds:NAME."),
    "dcgan_fashion": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "fashion_mnist", 128, 30,
        "DCGAN 28x28 (Radford et al. 2016): Adam(2e-4, beta1 0.5), batch 128, 30 epochs, data in [-1, 1]."),
    "dcgan_mnist": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "mnist", 128, 30,
        "DCGAN 28x28 on MNIST with the same settings."),
    "dcgan_ema_mnist": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "mnist", 128, 30,
        "DCGAN on MNIST whose samples come from an exponential moving average of the generator's weights "
        "(decay 0.999; Yazici et al. 2019).", generator_ema=0.999),
    "dcgan_ema_fashion": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "fashion_mnist", 128, 30,
        "DCGAN on Fashion-MNIST whose samples come from an exponential moving average of the generator's "
        "weights (decay 0.999; Yazici et al. 2019).", generator_ema=0.999),
    "cdcgan_fashion": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "fashion_mnist", 128, 30,
        "Class-conditional DCGAN on Fashion-MNIST: the dcgan_ema_fashion networks with a 50-d label embedding "
        "joined to z and a projection discriminator (Miyato & Koyama 2018), averaged generator (decay 0.999).",
        generator_ema=0.999, num_classes=10),
    "cdcgan_mnist": _gan(
        "dcgan28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "mnist", 128, 30,
        "Class-conditional DCGAN on MNIST with the same settings as cdcgan_fashion.", generator_ema=0.999,
        num_classes=10),
    "wgan_clip_fashion": _gan(
        "dcgan28", "wasserstein", {"class_name": "WeightClipping", "config": {"clip_value": 0.01}}, 5,
        _WGAN_RMSPROP, _WGAN_RMSPROP, "fashion_mnist", 64, 30,
        "WGAN (Arjovsky et al. 2017): the DCGAN critic without sigmoid, clipping 0.01, RMSprop(5e-5), "
        "n_critic 5, batch 64."),
    "wgan_gp_fashion": _gan(
        "dcgan28", "wasserstein", {"class_name": "GradientPenalty", "config": {"weight": 10.0}}, 5,
        _WGAN_GP_ADAM, _WGAN_GP_ADAM, "fashion_mnist", 64, 30,
        "WGAN-GP (Gulrajani et al. 2017): critic without batch norm, lambda 10, Adam(1e-4, 0.5, 0.9), "
        "n_critic 5, batch 64.", batch_norm=False),
    "sngan_fashion": _gan(
        "dcgan28", "hinge", {"class_name": "SpectralNormalization", "config": {"power_iterations": 1}}, 1,
        _DCGAN_ADAM, _DCGAN_ADAM, "fashion_mnist", 128, 30,
        "SNGAN (Miyato et al. 2018): the DCGAN networks with spectral normalisation on every critic layer (one "
        "power iteration per step) instead of batch norm, hinge loss, Adam(2e-4, 0.5, 0.999), n_critic 1, batch "
        "128, 30 epochs: the same generator steps as dcgan_fashion.", batch_norm=False),
    "dcgan_rgb64": _gan(
        "dcgan64", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, None, 128, 30,
        "DCGAN 64x64 RGB: ConvT+BN+ReLU generator to 64x64x3, mirrored Conv+BN+LeakyReLU discriminator, "
        "Adam(2e-4, 0.5, 0.999), batch 128. Give a dataset: --dataset folder:PATH or tfds:NAME."),
    "dense_gan_mnist": _gan(
        "dense_conv28", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "mnist", 128, 30,
        "Dense+conv GAN on MNIST: Dense(7*7*128), ConvT 64/1 (5x5, s2), LeakyReLU(0.2); Conv 64-512 "
        "discriminator; Adam 2e-4, binary cross-entropy, latent 100."),
    "dense_gan_bn_mnist": _gan(
        "dense_conv28_bn", "non_saturating", None, 1, _DCGAN_ADAM, _DCGAN_ADAM, "mnist", 128, 30,
        "dense_gan_mnist with batch normalisation in the generator (after the Dense and the first ConvT), "
        "as in DCGAN; otherwise the same. Study 6 compares the two."),
    "ddim_fashion": _diffusion(
        "unet28", "fashion_mnist", 128, 30,
        "Denoising diffusion (Ho et al. 2020) on Fashion-MNIST: a 1.8M-parameter U-Net (widths 32-64-128, "
        "attention at 7x7), cosine schedule over 1,000 steps (Nichol & Dhariwal 2021), noise prediction, averaged "
        "weights (decay 0.999), AdamW(1e-3, weight decay 1e-4) as the keras.io DDIM example, batch 128; sampled with "
        "50 DDIM steps (Song et al. 2021)."),
    "ddim_mnist": _diffusion("unet28", "mnist", 128, 30, "Denoising diffusion on MNIST with the settings of "
                                                         "ddim_fashion."),
    "diffusion_fashion": _v_diffusion(
        "fashion_mnist", 15,
        "Diffusion on Fashion-MNIST, the shipped recipe: the unet28 U-Net (1.8M parameters), cosine schedule, "
        "v-prediction (Salimans & Ho 2022) with Min-SNR-5 loss weighting (Hang et al. 2023), averaged weights "
        "(0.999), AdamW(1e-3, weight decay 1e-4, gradient norm clipped at 1), batch 128, float32 pinned; sampled "
        "by DPM-Solver++(2M) (Lu et al. 2022) in 20 network evaluations."),
    "diffusion_mnist": _v_diffusion("mnist", 15, "Diffusion on MNIST with the recipe of diffusion_fashion."),
    "ddim_emoji": _diffusion(
        "unet64", "emoji", 64, 200,
        "Denoising diffusion on the 64x64 RGB emoji set: a 2.5M-parameter U-Net (widths 32-64-96-128, attention at "
        "8x8), otherwise the settings of ddim_fashion, batch 64, 200 epochs of the 3,786 images."),
    "critic_vae_mnist": {
        "family": "critic_vae",
        "model": {"design": "mlp256", "latent_dim": 10, "reconstruction": "bce", "critic_units": [512, 256],
                  "critic_weight": 1.0, "lipschitz": {"class_name": "GradientPenalty", "config": {"weight": 10.0}},
                  "n_critic": 1},
        "optimizer": {"autoencoder": _adam(1e-3), "critic": _adam(1e-3)},
        "dataset": "mnist", "batch_size": 64, "epochs": 35,
        "about": "VAE with a latent Wasserstein critic instead of KL: MLP 784-256, latent 10, critic 512-256-1 "
                 "with gradient penalty, Adam 1e-3 for both, batch 64, 35 epochs.",
    },
}
_SPECS["critic_vae_mnist_mean10"] = {
    **_SPECS["critic_vae_mnist"],
    "model": {**_SPECS["critic_vae_mnist"]["model"], "critic_units": [512, 256, 10], "critic_readout": "mean"},
    "about": "critic_vae_mnist with the critic read as layers of 512, 256 and 10 units: the 10 outputs are linear "
             "and their mean is the Wasserstein score (the same critics as 512-256-1, parametrised differently).",
}


def preset(name) -> Preset:
    """The typed preset `name`; an unknown name lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def get(name, **overrides):
    """Preset `name` as a dict (a fresh copy), with top-level `overrides` applied (None values are ignored) and
    checked: ``get("dcgan_fashion", epochs=0)`` is refused."""
    spec = preset(name).to_dict()
    spec.update({k: v for k, v in overrides.items() if v is not None})
    return validate(spec)


def validate(spec):
    """Check a preset dict through its dataclass (unknown keys, types, ranges); return it unchanged."""
    Preset.from_dict(spec.get("name", "?"), spec)
    return spec


# Fields that describe a preset rather than set it: `--set` cannot change them.
FIXED_FIELDS = ("about", "family", "name", "pixel_range")


# Settings a preset states only when it departs from the model's default (so older runs keep their fingerprints);
# `--set` can still change them.
OPTIONAL_FIELDS = {family: {f"model.{f}": _field_default(MODEL_SETTINGS[family], f) for f in fields}
                   for family, fields in _OMITTED_AT_DEFAULT.items()}


def flatten(preset, prefix=""):
    """``{dotted.key: value}`` of every setting in a preset (nested dicts joined with dots; lists are values)."""
    fields = {} if prefix else dict(OPTIONAL_FIELDS.get(preset.get("family"), {}))
    for key, value in preset.items():
        if not prefix and key in FIXED_FIELDS:
            continue
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            fields.update(flatten(value, path + "."))
        else:
            fields[path] = value
    return fields


def _parse_value(text):
    import json
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word: a string setting (a design or loss name, a dataset)


def apply_settings(preset, assignments):
    """A copy of `preset` with ``KEY=VALUE`` assignments (`kzoo train --set`) applied, and the settings as a dict.

    Keys are the dotted names `flatten` lists (``model.latent_dim``, ``optimizer.learning_rate``, ``epochs``,
    ``optimizer.g.learning_rate`` ...); values are JSON (``8``, ``1e-4``, ``null``, ``[0.5, 0.9]``) or a bare
    word. An unknown key, or a value of another type than the preset's (an integer where a number is expected
    is fine), is refused with the list of valid keys.
    """
    preset = _unshared_copy(preset)  # presets share optimizer dicts (d and g): set one, not both
    fields = flatten(preset)
    settings = {}
    for assignment in assignments or ():
        key, sep, text = str(assignment).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {assignment!r} (e.g. --set model.latent_dim=8).")
        if key not in fields:
            raise ValueError(f"preset {preset.get('name')!r} has no setting {key!r}; the settings are: "
                             f"{', '.join(sorted(fields))}.")
        value, old = _parse_value(text.strip()), fields[key]
        if old is not None and not _same_kind(value, old):
            raise ValueError(f"{key} is {type(old).__name__} in preset {preset.get('name')!r} (now {old!r}); "
                             f"got {value!r}.")
        target = preset
        *parents, leaf = key.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
        settings[key] = value
    try:
        validate(preset)
    except ValueError as e:
        raise ValueError(f"--set {', '.join(f'{k}={v!r}' for k, v in settings.items())}: {e}") from None
    return preset, settings


def _unshared_copy(value):
    """A deep copy in which no two places share an object (`copy.deepcopy` keeps such sharing)."""
    if isinstance(value, dict):
        return {k: _unshared_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshared_copy(v) for v in value]
    return value


def _same_kind(value, old):
    if isinstance(old, bool) or isinstance(value, bool):
        return isinstance(old, bool) and isinstance(value, bool)
    if isinstance(old, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(old))


def make_optimizer(spec):
    spec = dict(spec)
    return keras.optimizers.get({"class_name": spec.pop("class_name"), "config": spec})


def build_model(preset, image_shape=None, seed=None, sync_batch_norm=False, label_distribution=None):
    """The compiled model a preset describes, for images of `image_shape` (a class-conditional GAN draws its fake
    labels from `label_distribution`, uniform by default).

    Build it inside a strategy's `scope()` to distribute it; `sync_batch_norm` makes batch normalisation use
    global-batch statistics across replicas (`kzoo.distribute.synchronize_batch_norm`).
    """
    from kzoo.distribute import synchronize_batch_norm

    def networks(*models):
        return [synchronize_batch_norm(m) for m in models] if sync_batch_norm else list(models)

    family = preset["family"]
    if family == "vae":
        from kzoo.models import VAE
        from kzoo.networks import build_vae_networks
        spec = dict(preset["model"])
        encoder, decoder = networks(*build_vae_networks(spec.pop("design"), spec.pop("latent_dim"), image_shape,
                                                        num_classes=spec.get("num_classes")))
        model = VAE(encoder, decoder, seed=seed, **spec)
        model.compile(optimizer=make_optimizer(preset["optimizer"]))
        return model
    if family == "gan":
        from kzoo import constraints
        from kzoo.models import AdversarialModel
        from kzoo.networks import build_gan_networks
        spec = preset["model"]
        generator, discriminator = networks(*build_gan_networks(
            spec["design"], spec["latent_dim"], image_shape, num_classes=spec.get("num_classes"),
            auxiliary_classifier=spec.get("auxiliary_weight") is not None, **spec["discriminator"]))
        lipschitz = constraints.get(spec["lipschitz"])
        model = AdversarialModel(generator, discriminator, loss=spec["loss"], lipschitz=lipschitz,
                                 n_critic=spec["n_critic"], seed=seed, generator_ema=spec.get("generator_ema"),
                                 num_classes=spec.get("num_classes"), augment=spec.get("augment"),
                                 auxiliary_weight=spec.get("auxiliary_weight"),
                                 label_distribution=label_distribution if spec.get("num_classes") else None)
        model.compile(d_optimizer=make_optimizer(preset["optimizer"]["d"]),
                      g_optimizer=make_optimizer(preset["optimizer"]["g"]))
        return model
    if family == "diffusion":
        from kzoo.models import DiffusionModel, schedules
        from kzoo.networks import build_diffusion_network
        spec = dict(preset["model"])
        network, = networks(build_diffusion_network(spec.pop("design"), image_shape))
        schedule = schedules.get(spec.pop("schedule"), timesteps=spec.pop("timesteps"))
        model = DiffusionModel(network, schedule=schedule, seed=seed, pixel_range=preset["pixel_range"], **spec)
        model.compile(optimizer=make_optimizer(preset["optimizer"]))
        return model
    if family == "critic_vae":
        from kzoo.models import CriticVAE
        from kzoo.networks import build_vae_networks, mlp_critic
        spec = dict(preset["model"])
        encoder, decoder = build_vae_networks(spec.pop("design"), spec.pop("latent_dim"), image_shape)
        critic = mlp_critic(int(decoder.inputs[0].shape[-1]), tuple(spec.pop("critic_units")),
                            readout=spec.pop("critic_readout", "dense"))
        model = CriticVAE(*networks(encoder, decoder, critic), seed=seed, **spec)
        model.compile(optimizer=make_optimizer(preset["optimizer"]["autoencoder"]),
                      critic_optimizer=make_optimizer(preset["optimizer"]["critic"]))
        return model
    raise ValueError(f"preset {preset['name']!r} has unknown family {family!r}.")


def pipeline_batch_size(preset):
    """Images per `fit` step: adversarial models take `n_critic` critic batches per generator step."""
    if preset["family"] == "gan":
        return preset["batch_size"] * preset["model"]["n_critic"]
    return preset["batch_size"]


PRESETS = {name: Preset.from_dict(name, spec) for name, spec in _SPECS.items()}
