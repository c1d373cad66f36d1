"""Shared checks every kzoo model's tests run (in the manner of keras-hub's TestCase)."""

import keras
import numpy as np


def run_serialization_test(model):
    """get_config -> from_config gives the same config, and the class is registered with Keras."""
    config = model.get_config()
    restored = model.__class__.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(model)
    assert serialized["registered_name"].startswith("kzoo>")
    return restored


def run_model_saving_test(model, tmp_path, inputs, outputs_of):
    """`.keras` save/load gives a model of the same class whose `outputs_of(model, inputs)` are identical."""
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    for a, b in zip(_as_list(outputs_of(model, inputs)), _as_list(outputs_of(loaded, inputs))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return loaded


def run_fit_test(model, data, **fit_kwargs):
    """One step of `fit` changes the weights, runs the optimizer once and reports finite metrics."""
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(data, epochs=1, verbose=0, **fit_kwargs)
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "fit changed no weight"
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), f"{name} is not finite: {values}"
    return history


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]
