"""Study 8 (examples/study_shipped.py): the best shipped model of each family, chosen from the results files."""

import json
import pathlib

import pytest
from helpers import load_script

REPO = pathlib.Path(__file__).resolve().parents[1]


def _study():
    module = load_script("examples/study_shipped.py")
    return module


def test_the_lowest_fid_unconditional_model_of_each_family_is_chosen_and_conditional_ones_apart():
    study = _study()
    records = study.shipped_records(REPO / "results")
    chosen = study.best_models(records, "fashion_mnist")
    fids = {name: r["results"]["fid"] for name, r in records.items()
            if r["results"]["evaluation"]["dataset"] == "fashion_mnist"}
    for label, name in chosen.items():
        family = records[name]["results"]["family"]
        same_kind = [n for n in fids if records[n]["results"]["family"] == family
                     and study._conditional(records[n]) == ("conditional" in label)]
        assert fids[name] == min(fids[n] for n in same_kind)
    assert chosen["GAN (class-conditional)"] == "cdcgan_fashion" and "VAE" in chosen and "GAN" in chosen
    assert study.comparable(records, chosen)["num_samples"] == 10000
    other = json.loads(json.dumps(records))
    other[chosen["GAN"]]["results"]["evaluation"]["seed"] = 7
    with pytest.raises(SystemExit, match="differ"):
        study.comparable(other, chosen)


def test_the_study_writes_its_table_samples_and_sampling_speed(tmp_path):
    study = _study()
    study.main(["--dataset", "mnist", "--models", "vae=vae_conv_gmm_mnist_e40,gan=dcgan_ema_mnist",
                "--timing-samples", "8", "--out", str(tmp_path / "study"), "--results", str(tmp_path)])
    record = json.loads((tmp_path / "study_8_shipped_mnist.json").read_text())
    rows = record["results"]["tables"]["main"]["rows"]
    assert [row[0] for row in rows] == ["VAE", "GAN"]
    models = record["results"]["data"]["models"]
    assert models["GAN"]["fid"] == json.loads((REPO / "results" / "model_dcgan_ema_mnist.json").read_text())[
        "results"]["fid"]
    assert models["GAN"]["sampling"]["images_per_second"] > 0 and models["GAN"]["sampling"]["images"] == 8
    assert (tmp_path / "study" / "samples_side_by_side.png").stat().st_size > 0
