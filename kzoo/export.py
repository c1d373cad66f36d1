"""SavedModel export with named serving endpoints, and loading kzoo models from any of their saved forms.

`export_saved_model(model, out_dir)` writes a TensorFlow SavedModel through `keras.export.ExportArchive` with
one endpoint per capability of the model:

- ``generate(z)``: images in the model's pixel range from latent vectors `[N, latent_dim]` (every model);
  ``generate(z, labels)`` for a class-conditional model (int32 labels `[N]`); a diffusion model's `z` is its starting
  noise, flat, and ``generate(z, steps)`` takes the number of sampling steps (an int32 scalar; ``generate(z)`` uses
  the model's default), ``generate(z, steps, sampler)`` a sampler too (a string: ddim, ddpm or dpmpp_2m);
- ``decode(z)``: Bernoulli means in [0, 1] (models with a decoder);
- ``encode(x)``: ``{"mean", "log_var"}`` of the posterior (models with an encoder);
- ``discriminate(x)``: D(x), a probability or a critic score (adversarial models; ``discriminate(x, labels)`` when
  conditional).

Load it anywhere TensorFlow runs, without kzoo: ``tf.saved_model.load(out_dir).generate(z)``. The folder also
holds ``kzoo.json`` (endpoints, latent size, image shape, pixel range, and the number of classes of a
conditional model). The export is written beside `out_dir`,
reloaded and checked against the Keras model, and only then moved into place: a failed export never replaces
a good one.
"""

import json
import os
import pathlib
import shutil

import numpy as np

from kzoo import families

MANIFEST = "kzoo.json"


class ExportError(RuntimeError):
    """The SavedModel could not be written or did not reproduce the Keras model."""


def standard_endpoints(model):
    """``generate``, and ``decode``, ``encode``, ``discriminate`` where the model has them; each takes the labels
    too when the model is class-conditional."""
    import tensorflow as tf
    latent = tf.TensorSpec((None, model.latent_dim), tf.float32, name="z")
    images = tf.TensorSpec((None,) + tuple(model.image_shape), tf.float32, name="x")

    def floats(posterior):
        mean, log_var = posterior
        return {"mean": tf.cast(mean, tf.float32), "log_var": tf.cast(log_var, tf.float32)}

    endpoints = {}
    if getattr(model, "num_classes", None):  # every endpoint takes the labels too
        labels = tf.TensorSpec((None,), tf.int32, name="labels")
        endpoints["generate"] = (lambda z, y: model.generate(z, y), [latent, labels])
        if hasattr(model, "decode"):
            endpoints["decode"] = (lambda z, y: model.decode(z, y), [latent, labels])
        if hasattr(model, "encode"):
            endpoints["encode"] = (lambda x, y: floats(model.encode(x, y)), [images, labels])
        if hasattr(model, "discriminate"):
            endpoints["discriminate"] = (lambda x, y: model.discriminate(x, y), [images, labels])
        return endpoints
    endpoints["generate"] = (lambda z: model.generate(z), [latent])
    if hasattr(model, "decode"):
        endpoints["decode"] = (lambda z: model.decode(z), [latent])
    if hasattr(model, "encode"):
        endpoints["encode"] = (lambda x: floats(model.encode(x)), [images])
    if hasattr(model, "discriminate"):
        endpoints["discriminate"] = (lambda x: model.discriminate(x), [images])
    return endpoints


def serving_endpoints(model):
    """``{name: (function, input_signature)}`` of the endpoints `model` serves (its family's, by default the
    standard ones); an endpoint callable in more than one way has a third item, the other signatures (each traced,
    so the SavedModel accepts each)."""
    family = families.of_model(model)
    return (family.endpoints or standard_endpoints)(model)


def manifest(model):
    info = {"class": type(model).__name__, "endpoints": sorted(serving_endpoints(model)),
            "latent_dim": int(model.latent_dim), "image_shape": [int(d) for d in model.image_shape],
            "pixel_range": [float(v) for v in model.pixel_range]}
    if getattr(model, "num_classes", None):
        info["num_classes"] = int(model.num_classes)
    family = families.of_model(model)
    if family.manifest:
        info.update(family.manifest(model))
    return info


# Allowed difference between the SavedModel and the Keras model, |a - b| <= tol * (1 + |b|), by compute dtype: the
# graph may fuse and round low-precision operations differently from eager execution (bfloat16 keeps 8 bits).
EXPORT_TOLERANCE = {"float32": 1e-5, "float16": 5e-3, "bfloat16": 3e-2}


def export_saved_model(model, out_dir, verify=True, atol=None):
    """Write `model` as a SavedModel at `out_dir` (replacing an earlier kzoo export there, atomically).

    With `verify`, the written SavedModel is reloaded with `tf.saved_model.load` and every endpoint's outputs on
    a few inputs must equal the Keras model's within `atol` absolute and relative (default: `EXPORT_TOLERANCE` of
    the model's compute dtype); otherwise `ExportError` and nothing is replaced.
    """
    import keras
    import tensorflow as tf

    out = pathlib.Path(out_dir)
    if out.exists() and not (out / "saved_model.pb").exists():
        raise ExportError(f"{out} exists and is not a SavedModel; choose an empty or new folder for the export.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive = keras.export.ExportArchive()
        # No `archive.track(model)`: the endpoints carry every variable they use, and tracking the model as well
        # writes each variable twice (the Keras variable and the TensorFlow one under it), doubling the files.
        for name, (function, signature, *others) in serving_endpoints(model).items():
            if others:
                function = tf.function(function)
                for each in [signature, *others[0]]:
                    function.get_concrete_function(*each)
                archive.add_endpoint(name=name, fn=function)
            else:
                archive.add_endpoint(name=name, fn=function, input_signature=signature)
        archive.write_out(str(tmp), verbose=False)
        (tmp / MANIFEST).write_text(json.dumps(manifest(model), indent=1))
        if verify:
            tolerance = atol if atol is not None else EXPORT_TOLERANCE.get(model.dtype_policy.compute_dtype, 1e-5)
            check_export(model, tf.saved_model.load(str(tmp)), tolerance)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(f"exporting {type(model).__name__} to {out} failed ({type(error).__name__}: {error}); "
                          f"{'the previous export is unchanged' if out.exists() else 'nothing was written'}.") \
            from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_export(model, loaded, atol=1e-5, count=4, seed=0):
    """Raise `ExportError` unless every endpoint of `loaded` matches `model` on `count` inputs, within
    `atol * (1 + |expected|)`."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((count, model.latent_dim)).astype(np.float32)
    lo, hi = model.pixel_range
    x = rng.uniform(lo, hi, (count,) + tuple(model.image_shape)).astype(np.float32)
    labels = np.arange(count, dtype=np.int32) % max(1, getattr(model, "num_classes", None) or 1)
    # The further arguments of a signature, by name (a family's own, such as a diffusion model's steps and sampler).
    family = families.of_model(model)
    further = {"labels": labels, **(family.export_arguments(model) if family.export_arguments else {})}
    for name, (function, signature, *others) in serving_endpoints(model).items():
        for each in [signature, *(others[0] if others else [])]:
            inputs = [z if each[0].name == "z" else x] + [further[spec.name] for spec in each[1:]]
            expected, got = function(*inputs), getattr(loaded, name)(*inputs)
            for key in (sorted(expected) if isinstance(expected, dict) else [None]):
                e = np.asarray(expected[key] if key else expected)
                g = np.asarray(got[key] if key else got)
                if e.shape != g.shape or not np.allclose(g, e, atol=atol, rtol=atol):
                    raise ExportError(
                        f"the exported endpoint {name}{'/' + key if key else ''} differs from the Keras model (max "
                        f"difference {np.max(np.abs(e - g)) if e.shape == g.shape else 'shape'}).")


def tf_string(value):
    import tensorflow as tf
    return tf.constant(str(value))


class SavedModelGenerator:
    """The `generate` interface of a kzoo SavedModel export (no Keras model needed)."""

    def __init__(self, path):
        import tensorflow as tf
        info_file = pathlib.Path(path) / MANIFEST
        if not info_file.exists():
            raise ValueError(f"{path} is a SavedModel without {MANIFEST}: it was not exported by kzoo.")
        info = json.loads(info_file.read_text())
        self.latent_dim, self.pixel_range = info["latent_dim"], tuple(info["pixel_range"])
        self.image_shape = tuple(info["image_shape"])
        self.num_classes = info.get("num_classes")
        self.sampling_steps = info.get("sampling_steps")  # a diffusion model's default steps (None otherwise)
        self._loaded = tf.saved_model.load(str(path))

    def generate(self, z, labels=None, steps=None, sampler=None):
        z = np.asarray(z, np.float32)
        if sampler is not None:  # a diffusion model's sampler (and steps)
            steps = self.sampling_steps if steps is None else steps
            return self._loaded.generate(z, np.int32(steps), tf_string(sampler))
        if steps is not None:  # a diffusion model's sampling steps
            return self._loaded.generate(z, np.int32(steps))
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("this SavedModel is unconditional: generate(z) takes no labels.")
            return self._loaded.generate(z)
        labels = np.arange(len(z)) % self.num_classes if labels is None else np.asarray(labels)
        return self._loaded.generate(z, labels.astype(np.int32))
