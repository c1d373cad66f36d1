"""Models by name: lookup order, verification by the SHA-256 of the weights, clear errors, `kzoo models`."""

import json
import pathlib

import numpy as np
import pytest

import kzoo
from kzoo import cli, registry

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def model_home(tmp_path, monkeypatch):
    """An empty KZOO_HOME and a working folder with no saved_models/: only what a test puts there is known."""
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KZOO_MODELS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "home" / "models"


def _tiny_named_model(folder):
    model = kzoo.VAE.from_design("mlp256", latent_dim=2, seed=0)
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    registry.write_manifest(folder, model, "mnist", "test metric", 1.5)
    return model


def test_a_named_model_loads_from_kzoo_home_and_is_verified(model_home, capsys):
    model = _tiny_named_model(model_home / "tiny_vae")
    assert list(registry.known_models()) == ["tiny_vae"]
    loaded = kzoo.load_model("tiny_vae")
    z = np.random.default_rng(0).standard_normal((3, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded.generate(z)), np.asarray(model.generate(z)))
    assert cli.main(["models"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("tiny_vae") and "test metric 1.5" in line and str(model_home / "tiny_vae") in line

    # Other weights under the same name are refused, and the file is left as it is.
    other = kzoo.VAE.from_design("mlp256", latent_dim=2, seed=1)
    other.save(model_home / "tiny_vae" / "model.keras")
    with pytest.raises(ValueError, match="does not hold the weights model.json records"):
        kzoo.load_model("tiny_vae")
    assert cli.main(["sample", "--model", "tiny_vae", "-n", "4", "--out", "grid.png"]) == 2
    assert not pathlib.Path("grid.png").exists()


def test_an_unknown_name_lists_the_known_ones(model_home):
    _tiny_named_model(model_home / "tiny_vae")
    with pytest.raises(ValueError, match=r"no model named 'nope'.*Known models: tiny_vae.*kzoo models"):
        kzoo.load_model("nope")


def test_kzoo_models_folders_come_first(model_home, tmp_path, monkeypatch):
    _tiny_named_model(model_home / "tiny_vae")
    first = tmp_path / "mine"
    _tiny_named_model(first / "tiny_vae")
    monkeypatch.setenv("KZOO_MODELS", str(first))
    assert registry.known_models()["tiny_vae"]["path"] == str(first / "tiny_vae")


def test_shipped_models_resolve_by_name_from_the_clone(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("KZOO_MODELS", raising=False)
    known = registry.known_models()
    shipped = {p.parent.name for p in (REPO / "saved_models").glob("*/model.json")}
    assert shipped <= set(known) and "dcgan_ema_fashion" in shipped
    for name in shipped:
        manifest = json.loads((REPO / "saved_models" / name / "model.json").read_text())
        record = json.loads((REPO / "results" / f"model_{name}.json").read_text())
        assert manifest["weights_sha256"] == record["results"]["weights_sha256"]
        assert manifest["headline"]["value"] == round(record["results"]["fid"], 2)
    assert kzoo.load_model("vae_conv_mnist").latent_dim == 20


def test_evaluate_by_name_writes_beside_the_caller_not_over_the_shipped_report(model_home):
    _tiny_named_model(model_home / "tiny_vae")
    shipped = model_home / "tiny_vae" / "evaluation.json"
    shipped.write_text("{}")
    assert cli.main(["evaluate", "--model", "tiny_vae", "--dataset", "mnist", "--metrics", "diversity",
                     "--num-samples", "20"]) == 0
    assert shipped.read_text() == "{}"
    assert json.loads(pathlib.Path("evaluation_tiny_vae.json").read_text())["num_samples"] == 20


def test_a_truncated_or_foreign_keras_file_is_refused_clearly(tmp_path):
    import keras
    model = kzoo.VAE.from_design("mlp256", latent_dim=2, seed=0)
    model.save(tmp_path / "good.keras")
    data = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable .keras file.*truncated"):
        kzoo.load_model(tmp_path / "cut.keras")
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="not the model of a registered kzoo family"):
        kzoo.load_model(tmp_path / "plain.keras")
