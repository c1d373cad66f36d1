"""Shared checks every kzoo model's tests run (in the manner of keras-hub's TestCase)."""

import importlib.util
import pathlib

import keras
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]

# What two computations of the same model may differ by, by the precision the model computes in: float32 rounding;
# bfloat16's 8-bit and float16's 11-bit significands (SavedModel against Keras, XLA against none, other kernels).
TOLERANCE = {"float32": 1e-5, "mixed_float16": 2e-3, "mixed_bfloat16": 2e-2}


def tolerance(precision):
    """`{"rtol": ..., "atol": ...}` for comparing two computations of a model that ran in `precision`: a test
    whose run resolves `precision="auto"` gets float32 on one CPU and mixed_bfloat16 on another."""
    return {"rtol": TOLERANCE[precision], "atol": TOLERANCE[precision]}


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


def run_fit_test(model, data, labels=None, **fit_kwargs):
    """One step of `fit` changes the weights, runs the optimizer once and reports finite metrics."""
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(data, labels, epochs=1, verbose=0, **fit_kwargs)
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "fit changed no weight"
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), f"{name} is not finite: {values}"
    return history


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


# -- Independent references: the textbook formulas in numpy/scipy, sharing no code with kzoo.metrics -------------

def numpy_frechet_distance(features_a, features_b):
    """FID as pytorch-fid computes it: float64 mean and (N - 1)-normalised covariance, scipy's sqrtm of the
    product, an eps offset only if the root is not finite, the real part."""
    import warnings

    from scipy import linalg
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular when N <= dim, as pytorch-fid allows
        root = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(root).all():
        offset = np.eye(len(mu_a)) * 1e-6
        root = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root.real))


def numpy_classifier_score(logits, splits):
    """exp(E_x KL(p(y|x) || p(y))) per split of the rows, averaged (Salimans et al. 2016), from logits."""
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(marginal)), axis=1))))
    return float(np.mean(scores))


def to_uint8_reference(images, pixel_range):
    """Pixels in `pixel_range` to uint8, rounded: written out here rather than taken from kzoo.datasets."""
    lo, hi = pixel_range
    return np.clip(np.rint((np.asarray(images, np.float64) - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def load_script(path):
    """A script of examples/ or tools/ (not a package) as a module; `path` is absolute or relative to the
    repository."""
    path = REPO / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
