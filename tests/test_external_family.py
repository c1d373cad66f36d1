"""A model family defined outside `kzoo/` (here, in this file) registers itself and goes through presets,
`kzoo train`, `kzoo sample`, a `.keras` round trip and export, with no edit to kzoo (docs/models.md, "Adding a
family", walks through this file)."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from kzoo import cli, export, families, presets, registry
from kzoo.families.base import adam, positive_int

# -- the family: a generator trained to match the data's per-pixel mean and standard deviation ---------------


@keras.saving.register_keras_serializable(package="kzoo_example")
class MomentMatcher(keras.Model):
    """x = tanh(W z + b), trained so that a batch of samples has the per-pixel mean and standard deviation of a
    batch of data: a generative model in 30 lines, enough to show what a family needs."""

    def __init__(self, latent_dim=8, image_shape=(28, 28, 1), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.image_shape = int(latent_dim), tuple(image_shape)
        self.pixel_range = (-1.0, 1.0)
        self.seed = seed
        self.generator = keras.Sequential([keras.Input((self.latent_dim,)),
                                           keras.layers.Dense(int(np.prod(self.image_shape)), activation="tanh"),
                                           keras.layers.Reshape(self.image_shape)])
        self.noise = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, z):
        return self.generator(z)

    def generate(self, z):
        return self.generator(z, training=False)

    def train_step(self, x):
        import tensorflow as tf
        z = keras.random.normal((tf.shape(x)[0], self.latent_dim), seed=self.noise)
        with tf.GradientTape() as tape:
            # Under a mixed precision policy the layers compute in (b)float16; the loss is taken in float32.
            fake = tf.cast(self.generator(z, training=True), "float32")
            loss = (tf.reduce_mean(tf.square(tf.reduce_mean(fake, 0) - tf.reduce_mean(x, 0))) +
                    tf.reduce_mean(tf.square(tf.math.reduce_std(fake, 0) - tf.math.reduce_std(x, 0))))
        weights = self.generator.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "image_shape": list(self.image_shape),
                "seed": self.seed}


@dataclasses.dataclass(frozen=True)
class MomentSettings:
    latent_dim: int = 8

    def __post_init__(self):
        positive_int("model.latent_dim", self.latent_dim)


def build(preset, image_shape, seed, wrap=None, label_distribution=None):
    model = MomentMatcher(preset["model"]["latent_dim"], image_shape, seed=seed)
    model.build((None, preset["model"]["latent_dim"]))
    model.compile(optimizer=keras.optimizers.get({"class_name": "Adam", "config": {"learning_rate": 1e-2}}))
    return model


FAMILY = families.Family(
    name="moment_matching", settings=MomentSettings, model_class=MomentMatcher, build=build,
    pixel_range=(-1.0, 1.0),
    presets={"moments_mnist": {"model": {"latent_dim": 8}, "optimizer": adam(1e-2), "dataset": "mnist",
                               "batch_size": 128, "epochs": 2, "about": "Per-pixel moment matching on MNIST."}})


@pytest.fixture
def family():
    families.register(FAMILY)
    yield FAMILY
    families.unregister(FAMILY.name)


# -- the tests ------------------------------------------------------------------------------------------------


def test_a_registered_family_has_presets_that_are_checked_like_the_built_in_ones(family):
    assert "moments_mnist" in presets.PRESETS and presets.get("moments_mnist")["family"] == "moment_matching"
    assert presets.get("moments_mnist")["pixel_range"] == (-1.0, 1.0)
    changed, applied = presets.apply_settings(presets.get("moments_mnist"), ["model.latent_dim=4"])
    assert changed["model"]["latent_dim"] == 4 and applied == {"model.latent_dim": 4}
    with pytest.raises(ValueError, match="model.latent_dim: must be a positive integer"):
        presets.apply_settings(presets.get("moments_mnist"), ["model.latent_dim=0"])
    with pytest.raises(ValueError, match="registered already"):
        families.register(FAMILY)
    clash = dataclasses.replace(FAMILY, name="other", presets={"dcgan_fashion": {}})
    with pytest.raises(ValueError, match="belong to family 'gan'"):
        families.register(clash)


def test_unregistered_the_family_and_its_presets_are_gone():
    assert "moment_matching" not in families.names() and "moments_mnist" not in presets.PRESETS


def test_an_external_family_trains_samples_round_trips_and_exports_through_the_cli(family, tmp_path):
    run = tmp_path / "run"
    # In mixed precision, as `auto` trains on a CPU with native bfloat16: the step must cope with either policy.
    assert cli.main(["train", "--preset", "moments_mnist", "--take", "1024", "--epochs", "2", "--verbose", "0",
                     "--precision", "mixed_bfloat16", "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    history = json.loads((run / "history.json").read_text())
    assert summary["steps"] == 16 and history["loss"][1] < history["loss"][0]
    assert (run / "samples" / "epoch_002.png").exists() and (run / "saved_model" / "saved_model.pb").exists()

    model = registry.load_model(run)  # the .keras round trip
    z = np.random.default_rng(0).standard_normal((4, 8)).astype("float32")
    served = export.SavedModelGenerator(run / "saved_model")
    assert model.dtype_policy.compute_dtype == "bfloat16"
    tolerance = export.EXPORT_TOLERANCE["bfloat16"]
    np.testing.assert_allclose(np.asarray(served.generate(z)), np.asarray(model.generate(z)), atol=tolerance)
    assert json.loads((run / "saved_model" / export.MANIFEST).read_text())["class"] == "MomentMatcher"

    assert cli.main(["sample", "--model", str(run), "--out", str(tmp_path / "grid.png"), "-n", "16"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert cli.main(["export", str(run), str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "saved_model.pb").exists()


PLUGIN = """
import dataclasses

import keras

from kzoo import families


@dataclasses.dataclass(frozen=True)
class Settings:
    width: int = 1


families.register(families.Family(
    name="plugin_family", settings=Settings, model_class=keras.Model, build=None,
    presets={"plugin_preset": {"model": {}, "optimizer": {"class_name": "Adam"}, "dataset": "mnist",
                               "batch_size": 8, "epochs": 1, "about": "registered by a plugin module"}}))
"""


def test_the_command_line_loads_the_families_named_in_kzoo_families(monkeypatch, tmp_path, capsys):
    (tmp_path / "kzoo_plugin_example.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("KZOO_FAMILIES", "kzoo_plugin_example")
    try:
        assert cli.main(["presets"]) == 0
        assert "plugin_preset" in capsys.readouterr().out
    finally:
        families.unregister("plugin_family")
    monkeypatch.setenv("KZOO_FAMILIES", "no_such_module_kzoo")
    assert cli.main(["presets"]) == 2
    assert "no_such_module_kzoo" in capsys.readouterr().err
