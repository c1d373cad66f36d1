"""Shipping a run (`kzoo.shipping.ship`, the write side of `kzoo.registry`): the named model it writes loads by name,
verified, and its results record holds what trained it as fields."""

import json
import shutil

import numpy as np
import pytest

from kzoo import registry, results, shipping, training


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "vae"
    training.train("vae_conv_mnist", out, take=256, batch_size=64, epochs=1, seed=3,
                   settings=["model.latent_dim=2"], verbose=0, precision="float32")
    # What `kzoo evaluate` writes, with made-up figures: shipping copies and records it, it does not compute it.
    (out / "evaluation.json").write_text(json.dumps({
        "dataset": "mnist", "split": "test", "num_samples": 1000, "num_real": 1000, "seed": 0,
        "network": "fid_inception", "fid": 123.4}))
    return out


def test_a_shipped_run_loads_by_name_verified_and_records_its_recipe_as_fields(finished_run, tmp_path, monkeypatch):
    path = shipping.ship(finished_run, "tiny_vae", finished_run / "evaluation.json", target="<= 200 (a test)",
                         root=tmp_path)
    record = results.read(path)
    protocol = record["protocol"]
    assert (protocol["preset"], protocol["training_seed"], protocol["settings"]) == (
        "vae_conv_mnist", 3, {"model.latent_dim": 2})
    assert protocol["steps"] == 4 and protocol["precision"] == "float32"
    assert record["results"]["fid"] == 123.4 and protocol["target"] == "<= 200 (a test): met"
    assert shipping.recorded_runs(record)[0]["seed"] == 3

    monkeypatch.setenv("KZOO_MODELS", str(tmp_path / "saved_models"))
    model = registry.load_model("tiny_vae")
    z = np.zeros((2, 2), np.float32)
    np.testing.assert_allclose(np.asarray(model.generate(z)),
                               np.asarray(registry.load_model(finished_run).generate(z)), atol=1e-6)
    assert registry.known_models()["tiny_vae"]["headline"]["value"] == 123.4

    # Other weights under the shipped name are refused.
    shutil.copy(finished_run / "checkpoints" / "ckpt-00000004" / "model.keras",
                tmp_path / "saved_models" / "tiny_vae" / "model.keras")
    other = registry.load_model(tmp_path / "saved_models" / "tiny_vae" / "model.keras")  # the file alone loads
    other.set_weights([w + 1 for w in other.get_weights()])
    other.save(tmp_path / "saved_models" / "tiny_vae" / "model.keras")
    with pytest.raises(ValueError, match="does not hold the weights"):
        registry.load_model("tiny_vae")


def test_the_recorded_evaluation_command_names_the_sampler_the_evaluation_used(finished_run, tmp_path):
    evaluation = json.loads((finished_run / "evaluation.json").read_text())
    assert "--sampler" not in results.read(shipping.ship(finished_run, "plain", finished_run / "evaluation.json",
                                                         root=tmp_path))["protocol"]["evaluation_command"]
    sampled = tmp_path / "sampled.json"
    sampled.write_text(json.dumps({**evaluation, "sampler": "dpmpp_2m", "sampling_steps": 20,
                                   "network_evaluations_per_image": 20}))
    command = results.read(shipping.ship(finished_run, "sampled", sampled, root=tmp_path))["protocol"][
        "evaluation_command"]
    assert command.endswith("--metrics fid --num-samples 1000 --sampler dpmpp_2m --steps 20"), command


def test_shipping_refuses_an_unfinished_run(tmp_path):
    with pytest.raises(ValueError, match="not a finished run folder"):
        shipping.ship(tmp_path, "nothing", tmp_path / "evaluation.json", root=tmp_path)
