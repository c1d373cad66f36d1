"""Named training settings. Each preset states the published settings it reproduces and nothing more.

Presets belong to their family (`kzoo.families`: each family module holds its presets as keyword data); this module
is their schema and the operations on them. A preset is a `Preset` dataclass whose `model` is the settings dataclass
of its family: types and ranges are checked when it is made, so a bad `--set` value is refused before any
TensorFlow graph exists, with the valid choices. `get` gives a preset as the plain dict a run records in
``config.json`` (its fingerprint), and `preset` the typed object.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import json

from kzoo import families
from kzoo.families.base import choice, fail, make_optimizer, positive_int
from kzoo.families.critic_vae import CriticVAESettings
from kzoo.families.diffusion import DiffusionSettings
from kzoo.families.gan import GANSettings
from kzoo.families.vae import VAESettings

__all__ = ["FIXED_FIELDS", "LATENT_PRIORS", "MODEL_SETTINGS", "PRESETS", "Preset", "apply_settings", "build_model",
           "CriticVAESettings", "DiffusionSettings", "GANSettings", "VAESettings", "flatten", "get",
           "latent_prior_settings", "make_optimizer", "pipeline_batch_size", "preset", "validate"]


class _Registered(collections.abc.Mapping):
    """A read-only view of the registered families: what `make(family)` gives for each."""

    def __init__(self, make):
        self._make = make

    def __getitem__(self, name):
        if name not in families.names():
            raise KeyError(name)
        return self._make(families.get(name))

    def __iter__(self):
        return iter(families.names())

    def __len__(self):
        return len(families.names())


MODEL_SETTINGS = _Registered(lambda family: family.settings)
OPTIMIZER_SLOTS = _Registered(lambda family: family.optimizer_slots)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named training setting: the model family and its settings, optimizer(s), data, batch and epochs."""

    name: str
    family: str
    model: object
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
        choice("family", self.family, families.names())
        family = families.get(self.family)
        if self.precision is not None:
            from kzoo.config import PRECISIONS
            choice("precision", self.precision, tuple(p for p in PRECISIONS if p != "auto"))
        if not isinstance(self.model, family.settings):
            fail("model", f"a {self.family} preset needs {family.settings.__name__}.")
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        if self.dataset is not None and not isinstance(self.dataset, str):
            fail("dataset", f"must be a dataset name, got {self.dataset!r}.")
        slots = family.optimizer_slots
        for slot, spec in ((s, self.optimizer.get(s)) for s in slots) if slots else (("optimizer", self.optimizer),):
            field = f"optimizer.{slot}" if slots else "optimizer"
            if not isinstance(spec, dict) or "class_name" not in spec:
                fail(field, f"must be an optimizer spec with a class_name (e.g. {{\"class_name\": \"Adam\", "
                            f"\"learning_rate\": 1e-3}}), got {spec!r}.")
            _check_optimizer(field, spec)
        if self.latent_prior is not None:
            check_latent_prior(self.latent_prior, family)

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> Preset:
        """A preset from its dict form; unknown keys (top level or model) are refused with the valid ones."""
        spec = {k: v for k, v in spec.items() if k not in ("name", "pixel_range")}
        _known("", spec, [f.name for f in dataclasses.fields(cls) if f.name != "name"])
        choice("family", spec.get("family"), families.names())
        model_cls = families.get(spec["family"]).settings
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
        family = families.get(self.family)
        model = dataclasses.asdict(self.model)
        for field in family.omitted_at_default:
            if model[field] == family.field_default(field):
                del model[field]
        out = {"family": self.family, "model": model, "optimizer": _unshared_copy(self.optimizer),
               "dataset": self.dataset, "batch_size": self.batch_size, "epochs": self.epochs, "about": self.about}
        if self.latent_prior:
            out["latent_prior"] = dict(self.latent_prior)
        if self.precision:
            out["precision"] = self.precision
        out["name"] = self.name
        out["pixel_range"] = tuple(family.pixel_range)
        return out


class _PresetTable(collections.abc.Mapping):
    """Every registered family's presets by name, as typed `Preset` objects (made and checked on first use)."""

    def __init__(self):
        self._made = {}

    def _specs(self):
        return {name: (family, spec) for family in families.all_families() for name, spec in family.presets.items()}

    def __getitem__(self, name):
        family, spec = self._specs()[name]
        key = (name, id(family))
        if key not in self._made:
            self._made[key] = Preset.from_dict(name, dict(spec, family=family.name))
        return self._made[key]

    def __iter__(self):
        return iter(self._specs())

    def __len__(self):
        return len(self._specs())


PRESETS = _PresetTable()


# The ex-post latent densities a VAE preset can fit after training, with their settings and defaults.
LATENT_PRIORS = {
    "mixture": {"components": None},  # `VAE.fit_latent_prior`: a Gaussian mixture of `components`
    "second_stage": {"epochs": 50, "batch_size": 256, "hidden": 1024, "depth": 3,  # `VAE.fit_second_stage`
                     "learning_rate": 1e-3},
}


def check_latent_prior(spec, family):
    """Refuse a latent prior a family cannot fit, or settings the prior does not have."""
    family = families.get(family) if isinstance(family, str) else family
    if not family.latent_prior:
        fail("latent_prior", f"only a family whose models have a latent prior (vae) fits one; this one is "
                             f"{family.name}.")
    if not isinstance(spec, dict):
        fail("latent_prior", f"must be a dict such as {{\"kind\": \"mixture\", \"components\": 10}}, got {spec!r}.")
    kind = spec.get("kind", "mixture")
    choice("latent_prior.kind", kind, tuple(LATENT_PRIORS))
    _known("latent_prior.", spec, ["kind", *LATENT_PRIORS[kind]])
    for field, default in LATENT_PRIORS[kind].items():
        value = spec.get(field, default)
        if field == "learning_rate":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                fail("latent_prior.learning_rate", f"must be above 0, got {value!r}.")
        else:
            positive_int(f"latent_prior.{field}", value)


_check_latent_prior = check_latent_prior  # the name earlier versions used


def latent_prior_settings(spec):
    """A preset's latent prior with its kind and every default filled in."""
    kind = spec.get("kind", "mixture")
    return {"kind": kind, **LATENT_PRIORS[kind], **{k: v for k, v in spec.items() if k != "kind"}}


def _check_optimizer(field, spec):
    """The class is a Keras optimizer, every option one of its arguments, the learning rate above 0 (checked
    without building it: an optimizer made here would create variables outside the run's strategy scope)."""
    import keras
    cls = getattr(keras.optimizers, str(spec["class_name"]), None)
    if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
        fail(f"{field}.class_name", f"{spec['class_name']!r} is not a keras.optimizers class (e.g. Adam, RMSprop).")
    _known(f"{field}.", {k: v for k, v in spec.items() if k != "class_name"},
           [p for p in inspect.signature(cls).parameters if p not in ("kwargs", "name")])
    rate = spec.get("learning_rate")
    if isinstance(rate, dict):
        _check_schedule(f"{field}.learning_rate", rate)
    elif isinstance(rate, bool) or (isinstance(rate, (int, float)) and not rate > 0):
        fail(f"{field}.learning_rate", f"must be above 0, got {rate!r}.")


def _check_schedule(field, spec):
    """A learning-rate schedule of `keras.optimizers.schedules`, with only its own arguments and an initial rate
    above 0."""
    import keras
    cls = getattr(keras.optimizers.schedules, str(spec.get("class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.schedules.LearningRateSchedule)):
        fail(f"{field}.class_name", f"{spec.get('class_name')!r} is not a keras.optimizers.schedules class (e.g. "
                                    "CosineDecay, PolynomialDecay), or give a number.")
    _known(f"{field}.", {k: v for k, v in spec.items() if k != "class_name"},
           [p for p in inspect.signature(cls).parameters if p not in ("kwargs", "name")])
    initial = spec.get("initial_learning_rate")
    if isinstance(initial, bool) or not isinstance(initial, (int, float)) or not initial > 0:
        fail(f"{field}.initial_learning_rate", f"must be above 0, got {initial!r}.")


def _known(prefix, spec, valid):
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(prefix + u for u in unknown)}; the valid ones are "
                         f"{', '.join(prefix + v for v in valid)}.")


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


def optional_fields(family):
    """``{"model.FIELD": default}`` of the settings a family's presets state only when they depart from the default
    (so older runs keep their fingerprints); `--set` can still change them."""
    family = families.get(family)
    return {f"model.{f}": family.field_default(f) for f in family.omitted_at_default}


def flatten(preset, prefix=""):
    """``{dotted.key: value}`` of every setting in a preset (nested dicts joined with dots; lists are values)."""
    family = preset.get("family")
    fields = {} if prefix or family not in families.names() else optional_fields(family)
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
        schedule = key.endswith("learning_rate") and isinstance(value, dict)  # a schedule where a rate was
        if old is not None and not schedule and not _same_kind(value, old):
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


def build_model(preset, image_shape=None, seed=None, sync_batch_norm=False, label_distribution=None):
    """The compiled model a preset describes, for images of `image_shape` (a class-conditional GAN draws its fake
    labels from `label_distribution`, uniform by default).

    Build it inside a strategy's `scope()` to distribute it; `sync_batch_norm` makes batch normalisation use
    global-batch statistics across replicas (`kzoo.distribute.synchronize_batch_norm`).
    """
    from kzoo.distribute import synchronize_batch_norm

    def wrap(*networks):
        return [synchronize_batch_norm(n) for n in networks] if sync_batch_norm else list(networks)

    return families.get(preset["family"]).build(preset, image_shape, seed, wrap=wrap,
                                                 label_distribution=label_distribution)


def pipeline_batch_size(preset):
    """Images per `fit` step (an adversarial model takes `n_critic` critic batches per generator step)."""
    return families.get(preset["family"]).batch_images(preset)
