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


def test_the_fid_measured_during_training_is_recorded_by_epoch(finished_run, tmp_path):
    """A run trained with `--fid-every` ships its FID-against-epochs curve: the epochs the history measured it at
    (NaN elsewhere) with their values, and the protocol its summary holds; a reevaluation keeps it."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    history = json.loads((run / "history.json").read_text())
    history["loss"] = [0.5, 0.4, 0.3, 0.2]
    history["fid"] = [float("nan"), 61.5, float("nan"), 48.25]
    (run / "history.json").write_text(json.dumps(history))
    summary = json.loads((run / "summary.json").read_text())
    summary["periodic_fid"] = {"every": 2, "num_generated": 2000, "split": "test", "seed": 3}
    (run / "summary.json").write_text(json.dumps(summary))
    expected = {"every": 2, "num_generated": 2000, "split": "test", "seed": 3, "epochs": [2, 4], "fid": [61.5, 48.25]}
    path = shipping.ship(run, "curved", run / "evaluation.json", root=tmp_path)
    assert results.read(path)["protocol"]["fid_by_epoch"] == expected
    again = tmp_path / "again.json"
    again.write_text((run / "evaluation.json").read_text())
    assert results.read(shipping.reevaluate("curved", again, root=tmp_path))["protocol"]["fid_by_epoch"] == expected
    # A run without it records none.
    assert "fid_by_epoch" not in results.read(shipping.ship(finished_run, "flat", finished_run / "evaluation.json",
                                                            root=tmp_path))["protocol"]
