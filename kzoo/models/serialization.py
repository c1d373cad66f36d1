"""Config helpers shared by kzoo's composite models."""

import copy

import keras


def serialize_submodels(model, keys):
    return {key: keras.saving.serialize_keras_object(getattr(model, key)) for key in keys}


def from_config_with_submodels(cls, config, keys):
    """`cls(**config)` with the sub-models named by `keys` deserialized first."""
    config = copy.deepcopy(config)  # deserialization consumes the nested dicts
    for key in keys:
        config[key] = keras.saving.deserialize_keras_object(config[key])
    return cls(**config)


def serialize_optimizers(**optimizers):
    """`get_compile_config` of a model with several optimizers: each by its `compile` argument name."""
    return {name: keras.saving.serialize_keras_object(opt) for name, opt in optimizers.items()}


def deserialize_optimizers(config):
    return {name: keras.saving.deserialize_keras_object(spec) for name, spec in config.items()}
