"""A model family as one unit, and the registry that presets, runs, export, the CLI and the docs consult.

A `Family` holds everything kzoo needs to know about a kind of model beyond the `keras.Model` subclass itself: the
dataclass of its settings (checked when a preset or a ``--set`` is made), the pixel range its data is scaled to,
its optimizer slots, how a preset builds the compiled model, how many images one training step takes, its serving
endpoints, the figures a run draws for it, and its presets (plain keyword data). Registering one with `register`
makes it trainable by name (``kzoo train --preset NAME``), exportable and loadable; a family defined in a user's
module registers the same way (docs/models.md, "Adding a family").
"""

from __future__ import annotations

import dataclasses
import typing

# -- the checks every settings dataclass uses -----------------------------------------------------------------


def fail(field, message):
    raise ValueError(f"{field}: {message}")


def positive_int(field, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(field, f"must be a positive integer, got {value!r}.")


def choice(field, value, choices):
    if value not in choices:
        fail(field, f"unknown value {value!r}; choose one of {', '.join(map(str, choices))}.")


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def decay(field, value):
    """An averaging decay in (0, 1), or None for no average."""
    if value is not None and (not number(value) or not 0 < value < 1):
        fail(field, f"is a decay between 0 and 1 (e.g. 0.999) or null; got {value!r}.")


def num_classes(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        fail("model.num_classes", f"a class-conditional model needs at least 2 classes (or null for an "
                                  f"unconditional one); got {value!r}.")


def lipschitz(field, spec, allow_none=True):
    if spec is None and allow_none:
        return
    from kzoo import constraints
    try:
        constraints.get(spec)
    except (ValueError, TypeError, KeyError) as e:
        fail(field, f"{e} (e.g. {{\"class_name\": \"GradientPenalty\", \"config\": {{\"weight\": 10.0}}}})")


# -- preset data helpers --------------------------------------------------------------------------------------


def adam(learning_rate, beta_1=0.9, beta_2=0.999):
    return {"class_name": "Adam", "learning_rate": learning_rate, "beta_1": beta_1, "beta_2": beta_2}


def derive(base, **changes):
    """A preset dict: `base` with `changes` merged in, nested dicts (``model=dict(...)``) key by key."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "optimizer":
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def make_optimizer(spec):
    """A Keras optimizer from a preset's spec (``{"class_name": "Adam", "learning_rate": 1e-3, ...}``). The learning
    rate may be a schedule of `keras.optimizers.schedules` in the same form (``{"class_name": "CosineDecay",
    "initial_learning_rate": 1e-3, "decay_steps": 7020}``), stepped by the optimizer's iterations."""
    import keras
    spec = dict(spec)
    if isinstance(spec.get("learning_rate"), dict):
        spec["learning_rate"] = learning_rate_schedule(spec["learning_rate"])
    return keras.optimizers.get({"class_name": spec.pop("class_name"), "config": spec})


def learning_rate_schedule(spec):
    import keras
    spec = dict(spec)
    return getattr(keras.optimizers.schedules, spec.pop("class_name"))(**spec)


def unchanged(*networks):
    return list(networks)


# -- the family ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Family:
    """One kind of model and all kzoo needs to train, ship and serve it.

    name: the ``family`` of its presets. settings: a frozen dataclass of the model settings, which checks them in
        ``__post_init__`` (raise ``ValueError("model.FIELD: ...")``). model_class: its `keras.Model` subclass.
    build: ``build(preset, image_shape, seed, wrap, label_distribution) -> model``, compiled; `preset` is the
        preset's dict, `wrap(*networks)` returns the networks to use (batch norm synchronised across replicas
        where asked), `label_distribution` the class frequencies a conditional model draws fake labels from.
    pixel_range: the range its data is scaled to. optimizer_slots: None for one optimizer spec, or the names of
        the specs of a model with one optimizer per network (``("d", "g")``).
    omitted_at_default: model settings a preset records only where they differ from the default (so runs made
        before the setting existed keep their fingerprints). presets: ``{name: dict}`` without ``family``.
    images_per_step: ``preset -> images one training step takes`` (default: the batch size).
    endpoints: ``model -> {name: (function, signature[, other signatures])}`` for export (default: the standard
        ``generate``/``decode``/``encode``/``discriminate`` of `kzoo.export.standard_endpoints`).
    manifest: ``model -> dict`` of further fields for an export's ``kzoo.json``.
    export_arguments: ``model -> {argument name: value}`` used to check an export's further arguments.
    run_callbacks: ``run -> [keras.callbacks.Callback]``: figures a run draws each epoch (before the history
        writer, so what they log is recorded).
    latent_prior: whether its presets may fit a latent prior after training.
    """

    name: str
    settings: type
    model_class: type
    build: typing.Callable
    pixel_range: tuple = (-1.0, 1.0)
    optimizer_slots: tuple | None = None
    omitted_at_default: tuple = ()
    presets: dict = dataclasses.field(default_factory=dict)
    images_per_step: typing.Callable | None = None
    endpoints: typing.Callable | None = None
    manifest: typing.Callable | None = None
    export_arguments: typing.Callable | None = None
    run_callbacks: typing.Callable | None = None
    latent_prior: bool = False
    about: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a family's name is an identifier such as 'flow_matching', got {self.name!r}.")
        if not dataclasses.is_dataclass(self.settings):
            raise TypeError(f"family {self.name!r}: settings must be a dataclass, got {self.settings!r}.")
        fields = {f.name for f in dataclasses.fields(self.settings)}
        missing = [f for f in self.omitted_at_default if f not in fields]
        if missing:
            raise ValueError(f"family {self.name!r}: omitted_at_default names {missing}, which "
                             f"{self.settings.__name__} does not have.")
        if tuple(self.pixel_range) not in ((0.0, 1.0), (-1.0, 1.0)):
            raise ValueError(f"family {self.name!r}: pixel_range is (0, 1) or (-1, 1), got {self.pixel_range!r}.")
        for name, spec in self.presets.items():
            if not isinstance(spec, dict) or "family" in spec:
                raise ValueError(f"family {self.name!r}: preset {name!r} must be a dict without 'family' (the "
                                 "family it is registered with is its family).")

    def batch_images(self, preset):
        """Images one `fit` step takes."""
        return self.images_per_step(preset) if self.images_per_step else preset["batch_size"]

    @staticmethod
    def conditional(preset):
        return bool(preset["model"].get("num_classes"))

    def field_default(self, field):
        return next(f.default for f in dataclasses.fields(self.settings) if f.name == field)


_FAMILIES: dict[str, Family] = {}


def register(family: Family, replace: bool = False) -> Family:
    """Make `family` (and its presets) known to kzoo. A name or preset name already taken by another family is
    refused, unless `replace` (re-registering the same family, e.g. when its module is reloaded)."""
    if not isinstance(family, Family):
        raise TypeError(f"register takes a kzoo.families.Family, got {type(family).__name__}.")
    old = _FAMILIES.get(family.name)
    if old is not None and not replace:
        raise ValueError(f"a family named {family.name!r} is registered already; choose another name, or pass "
                         "replace=True to replace it.")
    taken = {p: f.name for f in _FAMILIES.values() if f.name != family.name for p in f.presets}
    clash = sorted(set(family.presets) & set(taken))
    if clash:
        raise ValueError(f"family {family.name!r}: preset names {clash} belong to family {taken[clash[0]]!r}.")
    _FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    """Forget a registered family (a test's or a notebook's)."""
    _FAMILIES.pop(name, None)


def get(name: str) -> Family:
    if name not in _FAMILIES:
        raise ValueError(f"unknown model family {name!r}; the registered ones are {', '.join(_FAMILIES)}.")
    return _FAMILIES[name]


def names() -> tuple:
    return tuple(_FAMILIES)


def all_families() -> tuple:
    return tuple(_FAMILIES.values())


def of_model(model) -> Family:
    """The family whose model class `model` is (the most derived match: a CriticVAE is not a VAE family model)."""
    matches = [f for f in _FAMILIES.values() if isinstance(model, f.model_class)]
    if not matches:
        raise ValueError(f"{type(model).__name__} belongs to no registered kzoo family.")
    return max(matches, key=lambda f: len(f.model_class.__mro__))


PLUGINS_VARIABLE = "KZOO_FAMILIES"
ENTRY_POINT_GROUP = "kzoo.families"


def load_plugins() -> list[str]:
    """Import the modules that define families outside kzoo, so that the `kzoo` command knows them: those named in
    ``$KZOO_FAMILIES`` (module names separated by commas) and those an installed package declares in the
    ``kzoo.families`` entry-point group. Each module registers its family when imported. Returns their names."""
    import importlib
    import importlib.metadata
    import os
    names = [n.strip() for n in os.environ.get(PLUGINS_VARIABLE, "").split(",") if n.strip()]
    names += [e.value.split(":")[0] for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ImportError(f"${PLUGINS_VARIABLE} or the {ENTRY_POINT_GROUP!r} entry points name module {name!r}, "
                              f"which cannot be imported ({e}); put it on PYTHONPATH or correct the name.") from e
    return names
