"""SavedModel export: endpoints reloaded in a fresh process, atomic replacement, `kzoo export` / `kzoo sample`."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

from kzoo import cli, export, presets, registry
from kzoo.networks import mlp_critic

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

RELOAD = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    folder, inputs = sys.argv[1], np.load(sys.argv[2])
    loaded = tf.saved_model.load(folder)
    out = {}
    for name in ("generate", "decode", "discriminate"):
        if hasattr(loaded, name):
            out[name] = getattr(loaded, name)(inputs["z" if name != "discriminate" else "x"]).numpy()
    if hasattr(loaded, "encode"):
        encoded = loaded.encode(inputs["x"])
        out["encode_mean"], out["encode_log_var"] = encoded["mean"].numpy(), encoded["log_var"].numpy()
    np.savez(sys.argv[3], **out)
""")


def small_models():
    vae = presets.build_model(presets.get("vae_mlp256_mnist"), image_shape=(28, 28, 1), seed=0)
    gan = presets.build_model(presets.get("dcgan_fashion"), image_shape=(28, 28, 1), seed=0)
    critic_vae = presets.build_model(presets.get("critic_vae_mnist"), image_shape=(28, 28, 1), seed=0)
    return {"vae": vae, "gan": gan, "critic_vae": critic_vae}


def keras_outputs(model, z, x):
    out = {"generate": model.generate(z)}
    if hasattr(model, "decode"):
        out["decode"] = model.decode(z)
    if hasattr(model, "encode"):
        out["encode_mean"], out["encode_log_var"] = model.encode(x)
    if hasattr(model, "discriminate"):
        out["discriminate"] = model.discriminate(x)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.subprocess
@pytest.mark.parametrize("kind", ["vae", "gan", "critic_vae"])
def test_saved_model_reloaded_in_a_fresh_process_matches_keras(kind, tmp_path):
    model = small_models()[kind]
    folder = export.export_saved_model(model, tmp_path / "saved_model")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, model.latent_dim)).astype("float32")
    x = rng.uniform(*model.pixel_range, (5, 28, 28, 1)).astype("float32")
    np.savez(tmp_path / "inputs.npz", z=z, x=x)
    result = subprocess.run([sys.executable, "-c", RELOAD, str(folder), str(tmp_path / "inputs.npz"),
                             str(tmp_path / "outputs.npz")], env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    served = dict(np.load(tmp_path / "outputs.npz"))
    expected = keras_outputs(model, z, x)
    assert sorted(served) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(served[name], expected[name], atol=1e-6, rtol=0, err_msg=name)
    info = json.loads((folder / "kzoo.json").read_text())
    assert info["latent_dim"] == model.latent_dim and info["pixel_range"] == list(model.pixel_range)
    # Each variable is stored once: tracking the model as well as the endpoints doubled the files.
    stored = sum(int(np.prod(shape)) for name, shape in tf.train.list_variables(str(folder / "variables" /
                                                                                    "variables"))
                 if name != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert stored <= sum(int(np.prod(w.shape)) for w in model.weights)
    # The .keras round trip of the same model.
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    for name, value in keras_outputs(reloaded, z, x).items():
        np.testing.assert_array_equal(value, expected[name])


def test_bfloat16_models_export_within_bfloat16_rounding(tmp_path):
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        model = presets.build_model(presets.get("vae_conv_fashion"), image_shape=(28, 28, 1), seed=0)
    finally:
        keras.config.set_dtype_policy(previous)
    folder = export.export_saved_model(model, tmp_path / "sm")  # verifies within EXPORT_TOLERANCE["bfloat16"]
    x = np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    loaded = tf.saved_model.load(str(folder))  # keep a reference: its functions use its variables
    served = loaded.encode(x)["log_var"].numpy()
    expected = np.asarray(model.encode(x)[1], np.float32)
    assert np.all(np.abs(served - expected) <= 3e-2 * (1 + np.abs(expected)))
    assert export.EXPORT_TOLERANCE[model.dtype_policy.compute_dtype] == 3e-2


def test_a_failed_export_keeps_the_good_one(tmp_path, monkeypatch):
    models = small_models()
    folder = export.export_saved_model(models["vae"], tmp_path / "saved_model")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def broken_write_out(self, *args, **kwargs):
        raise OSError("disk full")

    # ExportArchive() returns an instance of a backend-specific class: patch that class.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", broken_write_out)
    with pytest.raises(export.ExportError, match="disk full.*previous export is unchanged"):
        export.export_saved_model(models["gan"], folder)
    monkeypatch.undo()

    # An export that does not reproduce the model is refused too.
    real_load = tf.saved_model.load

    class OffByOne:
        def __init__(self, loaded):
            self.loaded = loaded

        def __getattr__(self, name):
            function = getattr(self.loaded, name)
            return (lambda z: function(z) + 1.0) if name == "generate" else function

    monkeypatch.setattr(tf.saved_model, "load", lambda path: OffByOne(real_load(path)))
    with pytest.raises(export.ExportError, match="generate differs from the Keras model"):
        export.export_saved_model(models["gan"], folder)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]  # no temporary folder left
    with pytest.raises(export.ExportError, match="not a SavedModel"):
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "a.txt").write_text("mine")
        export.export_saved_model(models["gan"], tmp_path / "notes")


def test_cli_export_and_sample_from_keras_and_saved_model(tmp_path, capsys):
    model = presets.build_model(presets.get("dcgan_fashion"), image_shape=(28, 28, 1), seed=0)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    assert cli.main(["export", str(run), str(tmp_path / "sm")]) == 0
    assert "generate" in capsys.readouterr().out
    grids = []
    for source in (run, tmp_path / "sm"):
        out = tmp_path / f"grid_{source.name}.png"
        assert cli.main(["sample", "--model", str(source), "-n", "16", "--out", str(out), "--seed", "4"]) == 0
        grids.append(matplotlib.image.imread(out))
    assert grids[0].shape == grids[1].shape
    np.testing.assert_allclose(grids[0], grids[1], atol=1 / 255)
    assert cli.main(["sample", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.png")]) == 2
    assert "no model named" in capsys.readouterr().err


def test_export_refuses_non_generative_models(tmp_path):
    critic = mlp_critic(2)
    critic.save(tmp_path / "critic.keras")
    with pytest.raises(ValueError, match="not the model of a registered kzoo family"):
        registry.load_generator(tmp_path / "critic.keras")
