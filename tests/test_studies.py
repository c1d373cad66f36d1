"""The study scripts of examples/ in --quick mode, and the library code they share (kzoo.studies,
kzoo.semisupervised, the figures). Quick runs prove every line runs and the reports hold what they claim to;
the maths is checked against analytic values and independent computations."""

import json
import pathlib
import re

import keras
import numpy as np
import pytest
from helpers import load_script

from kzoo import datasets, studies, visualize
from kzoo.semisupervised import LabelPropagation, balanced_label_subset, svm_accuracies

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    module = load_script(EXAMPLES / f"{name}.py")
    return module


def assert_report_complete(out):
    """report.md exists, every figure it links exists and is a PNG, and results.json parses."""
    text = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links, "the report has no figures"
    for link in links:
        assert (out / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    json.loads((out / "results.json").read_text())
    return text


# ---- shared pieces ------------------------------------------------------------------------------------------------

def test_balanced_label_subset_takes_the_same_number_from_each_class():
    labels = np.repeat(np.arange(10), 50)
    picked = balanced_label_subset(labels, 100, np.random.default_rng(0))
    assert len(np.unique(picked)) == 100
    np.testing.assert_array_equal(np.bincount(labels[picked]), np.full(10, 10))
    with pytest.raises(ValueError, match="multiple of 10"):
        balanced_label_subset(labels, 105, np.random.default_rng(0))
    with pytest.raises(ValueError, match="class 0 has 50"):
        balanced_label_subset(labels, 600, np.random.default_rng(0))


def test_svm_separates_separable_clusters_and_is_at_chance_on_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (10, 5))
    labels = np.repeat(np.arange(10), 200)
    features = centres[labels] + rng.normal(0, 0.1, (2000, 5))
    test_labels = np.repeat(np.arange(10), 30)
    test = centres[test_labels] + rng.normal(0, 0.1, (300, 5))
    assert svm_accuracies(features, labels, test, test_labels, 100, draws=2) == [1.0, 1.0]
    noise = svm_accuracies(rng.normal(size=(2000, 5)), labels, rng.normal(size=(3000, 5)),
                           np.repeat(np.arange(10), 300), 100, draws=3)
    assert abs(np.mean(noise) - 0.1) < 0.04


def test_label_propagation_follows_the_data_manifold_from_one_label_per_class():
    # Two concentric rings: one label each is enough when the unlabelled points are used (the rings are
    # connected chains in the neighbour graph), and an SVM on the two labelled points alone cannot know that.
    from sklearn.datasets import make_circles
    x, y = make_circles(3000, noise=0.03, factor=0.5, random_state=0)
    x_test, y_test = make_circles(600, noise=0.03, factor=0.5, random_state=1)
    propagation = LabelPropagation(x, x_test, n_neighbors=10)
    assert min(propagation.accuracies(y, y_test, 2, draws=3)) > 0.98
    assert np.mean(svm_accuracies(x, y, x_test, y_test, 2, draws=3)) < 0.9


def test_collapse_verdict_follows_its_stated_rule():
    full = {"covered": 10, "classes": 10}
    assert studies.collapse_verdict(full, 0.001, 0.001).startswith("no collapse")
    assert "covers 7 of 10" in studies.collapse_verdict({"covered": 7, "classes": 10}, 0.001, 0.001)
    assert "near-duplicates" in studies.collapse_verdict(full, 0.0021, 0.001)
    assert studies.collapse_verdict(None, 0.0019, 0.001).startswith("no collapse")


def test_report_writes_tables_figures_and_results(tmp_path):
    report = studies.Report(tmp_path / "r", "Title", command="python x.py")
    visualize.plot_curves({"a": {"x": ([0, 1, 2], [3.0, 2.0, 1.0])}}, tmp_path / "r" / "fig.png", "step")
    report.table(["name", "value", "count"], [["a", 0.123456, 12345], ["b", None, 3], ["|x|", 1.5, 0]])
    report.figure(tmp_path / "r" / "fig.png", "a figure")
    report.results["x"] = {"array": np.arange(3), "scalar": np.float32(0.5)}
    report.write()
    text = assert_report_complete(tmp_path / "r")
    assert "| a | 0.1235 | 12,345 |" in text and "| b | n/a | 3 |" in text
    assert "| \\|x\\| | 1.5 | 0 |" in text                       # pipes inside a cell are escaped
    assert json.loads((tmp_path / "r" / "results.json").read_text())["x"] == {"array": [0, 1, 2], "scalar": 0.5}


def test_gaussian_fit_kl_is_zero_for_the_prior_and_analytic_otherwise():
    kl = load_example("study_critic_vae").gaussian_fit_kl
    rng = np.random.default_rng(0)
    assert kl(rng.standard_normal((200000, 4))) < 1e-3
    # N(m, s^2 I) in d dimensions: 0.5 * (d s^2 + |m|^2 - d - d log s^2)
    d, s, m = 3, 2.0, np.array([1.0, -1.0, 0.5])
    expected = 0.5 * (d * s ** 2 + m @ m - d - d * np.log(s ** 2))
    assert kl(m + s * rng.standard_normal((400000, d))) == pytest.approx(expected, rel=1e-2)


# ---- the studies, --quick ----------------------------------------------------------------------------------------

def test_ring_convergence_rule():
    settled = load_example("study_ring_gan").settled
    assert settled([1.0, 0.5, 0.2, 0.11, 0.10, 0.10, 0.11, 0.10])
    assert not settled([1.0, 0.5, 0.2, 0.1, 0.4, 0.1, 0.4, 0.1])       # still oscillating
    assert not settled([0.5, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7])        # flat, but it never came down


@pytest.mark.study
def test_ring_study_records_divergences_from_the_floor(tmp_path):
    from kzoo.metrics.divergences import sample_divergences
    report = load_example("study_ring_gan").main(["--quick", "--variants", "GAN", "WGAN-GP", "--out",
                                                    str(tmp_path / "ring"), "--results", str(tmp_path / "results")])
    runs = {k: v for k, v in report.results.items() if k != "study_wall_time_s"}
    assert set(runs) == {"ring GAN", "ring WGAN-GP", "ring_mog GAN", "ring_mog WGAN-GP"}
    for result in runs.values():
        assert result["steps"] == [0, 10, 20, 30, 40]
        first = result["divergences"][0]
        # An untrained generator puts its points near the origin: far from the ring, well above the floor.
        assert first["js"] > 3 * result["floor"]["js"] and first["w1"] > 3 * result["floor"]["w1"]
        assert all(0 <= d["js"] <= np.log(2) + 1e-12 and np.isfinite(d["kl"]) for d in result["divergences"])
    # The floor is what the shared estimator gives two real samples.
    real = datasets.toy_2d("ring", 500, seed=1)
    assert sample_divergences(real, datasets.toy_2d("ring", 500, seed=2), 40, pseudo_count=0.5)["js"] < 0.1
    text = assert_report_complete(tmp_path / "ring")
    assert "ring_mog_WGAN-GP_snapshots.png" in text and "floor" in text
    # The result file: the report's table, cell for cell, its numbers, and the protocol of the run.
    from kzoo import results
    record = results.read(tmp_path / "results" / "study_4_ring_gan.json")
    assert record["protocol"]["seeds"] == [0] and record["protocol"]["quick"] is True
    table = next(iter(record["results"]["tables"].values()))
    assert "| " + " | ".join(table["rows"][0]) + " |" in text
    assert record["results"]["data"]["ring GAN"]["steps"] == runs["ring GAN"]["steps"]


@pytest.mark.study
def test_m1_svm_study_beats_chance_and_reports_every_draw(tmp_path):
    module = load_example("study_m1_svm")
    report = module.main(["--quick", "--datasets", "fashion_mnist", "--out", str(tmp_path)])
    accuracies = report.results["fashion_mnist"]["accuracies"]
    assert len(accuracies["M1 + SVM"]["100"]) == 2 and len(accuracies["SVM on pixels"]["100"]) == 2
    assert min(accuracies["M1 + SVM"]["100"]) > 0.3           # chance is 0.1
    assert len(accuracies["M1 + label propagation (transductive)"]["100"]) == 2
    assert len(accuracies["M1 (beta 0.1) + SVM"]["100"]) == 2
    vaes = report.results["fashion_mnist"]["vaes"]
    assert [v["preset"] for v in vaes.values()] == ["vae_mlp600_fashion", "vae_mlp600_beta01_fashion"]
    assert all(0 <= v["active_latent_dimensions"] <= 50 for v in vaes.values())
    trained = keras.models.load_model(tmp_path / "fashion_mnist_beta01" / "model.keras")
    assert trained.beta == 0.1 and trained.latent_dim == 50
    # Fashion-MNIST is also read with its counts per class; --quick's 512 images allow 25 per class.
    per_class = report.results["fashion_mnist"]["per_class"]["accuracies"]
    assert set(per_class) == {"M1 + SVM", "M1 (beta 0.1) + SVM", "SVM on pixels"}
    assert len(per_class["M1 + SVM"]["100"]) == 1 and min(per_class["M1 + SVM"]["100"]) > 0.3
    text = assert_report_complete(tmp_path)
    published = module.PUBLISHED["fashion_mnist"][1][100]       # the published figure it is compared with
    assert f"{published:.3f}" in text and "labels per class" in text


@pytest.mark.study
def test_critic_vae_study_compares_the_models(tmp_path):
    report = load_example("study_critic_vae").main(["--quick", "--out", str(tmp_path)])
    for label in ("KL VAE", "critic VAE", "critic VAE, 10 outputs"):
        result = report.results[label]
        assert result["summary"]["epochs"] == 1 and result["summary"]["peak_memory_mib"] > 100
        assert np.isfinite(result["evaluation"]["fid"]) and result["bce_mean"] > 0
        assert len(result["latent_mean"]) == 10
    text = assert_report_complete(tmp_path)
    for figure in ("latent_tsne.png", "latent_histograms.png", "reconstruction_errors.png", "interpolations.png"):
        assert figure in text
    assert "512-256-10 with the mean of the 10 outputs" in text


@pytest.mark.study
def test_fashion_study_measures_three_models_and_rereads_its_evaluations(tmp_path, monkeypatch):
    module = load_example("study_fashion_vae_gans")
    report = module.main(["--quick", "--out", str(tmp_path)])
    models = report.results["models"]
    assert list(models) == ["VAE", "DCGAN", "WGAN (clipping)"]
    for result in models.values():
        evaluation = result["evaluation"]
        assert evaluation["num_generated"] == 64 and evaluation["kid_std"] >= 0
        assert sum(evaluation["coverage"]["shares"]) == pytest.approx(1.0)
        assert result["collapse_verdict"].startswith(("collapsed", "no collapse"))
    text = assert_report_complete(tmp_path)
    assert "The mode-collapse claim" in text and "peak memory" in text
    # A second run resumes the finished runs and reads the stored evaluations back: nothing is recomputed.
    import kzoo.metrics.evaluate
    monkeypatch.setattr(kzoo.metrics.evaluate, "evaluate_model",
                        lambda *a, **k: pytest.fail("an evaluation was recomputed"))
    again = module.main(["--quick", "--out", str(tmp_path)])
    assert again.results["models"]["DCGAN"]["evaluation"] == models["DCGAN"]["evaluation"]


@pytest.mark.study
def test_gan_vae_mnist_study(tmp_path):
    report = load_example("study_gan_vae_mnist").main(["--quick", "--out", str(tmp_path)])
    models = report.results["models"]
    gan, gan_bn = models["GAN (dense + conv)"], models["GAN (dense + conv, batch norm)"]
    vae = models["VAE (conv + dense)"]
    assert gan["summary"]["parameters"] > 0 and vae["summary"]["parameters"] > 0
    assert gan["preset"] == "dense_gan_mnist" and vae["preset"] == "vae_convdense_mnist"
    assert gan_bn["preset"] == "dense_gan_bn_mnist" and gan_bn["summary"]["parameters"] > gan["summary"]["parameters"]
    assert all(0 <= m["evaluation"]["prdc"][k] for m in models.values() for k in ("recall", "coverage"))
    report_text = assert_report_complete(tmp_path)
    assert "classifier score" in report_text and "recall (k = 3)" in report_text


def test_gan_vae_mnist_study_keeps_runs_of_other_epochs_apart():
    name = load_example("study_gan_vae_mnist").result_name
    assert name() == "study_6_gan_vae_mnist" and name(10) == "study_6_gan_vae_mnist_epochs10" != name(30)
    assert name(10, subset=True) == "study_6_gan_vae_mnist_epochs10_subset"


def test_gan_vae_mnist_study_runs_the_presets_asked_for_and_refuses_others():
    module = load_example("study_gan_vae_mnist")
    assert module.chosen_models() == module.MODELS
    assert list(module.chosen_models("vae_convdense_mnist, dense_gan_bn_mnist").values()) == [
        "dense_gan_bn_mnist", "vae_convdense_mnist"]
    with pytest.raises(SystemExit, match="no model with preset dcgan_mnist"):
        module.chosen_models("dcgan_mnist")


@pytest.mark.study
def test_rgb64_study_on_an_image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for i in range(256):  # coloured discs at random places: a tiny image set with some structure
        cy, cx, r = rng.integers(16, 48, 2).tolist() + [int(rng.integers(6, 16))]
        image = np.full((64, 64, 3), 255, np.uint8)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(0, 255, 3)
        visualize.save_png(folder / f"{i:03d}.png", image)
    report = load_example("study_rgb64").main(["--quick", "--dataset", f"folder:{folder}", "--out",
                                                str(tmp_path / "study")])
    models = report.results["models"]
    assert set(models) == {"DCGAN", "MLP VAE"}
    assert all(m["evaluation"]["num_generated"] == 64 for m in models.values())
    assert all(0 <= m["evaluation"]["prdc"]["precision"] <= 1 for m in models.values())
    assert 0 <= report.results["real_diversity"]["share_above"] <= 1
    assert_report_complete(tmp_path / "study")


def test_another_rgb_set_writes_results_and_runs_of_its_own():
    module = load_example("study_rgb64")
    assert module.result_name("emoji") == "study_2_rgb64"
    assert module.result_name("folder:~/data/cats/") == "study_2_rgb64_folder_cats"
    assert module.result_name("tfds:celeb_a") == "study_2_rgb64_tfds_celeb_a"


def test_families_study_picks_one_preset_per_family_and_times_each_sampler_after_compiling():
    module = load_example("study_families")
    assert module.chosen_models("mnist") == {"VAE": "vae_conv_gmm_mnist", "GAN": "dcgan_ema_mnist",
                                             "diffusion": "ddim_mnist"}
    assert module.chosen_models("emoji", "ddim_emoji, dcgan_rgb64") == {"diffusion": "ddim_emoji",
                                                                        "GAN": "dcgan_rgb64"}
    with pytest.raises(SystemExit, match="two GAN presets"):
        module.chosen_models("mnist", "dcgan_mnist,dcgan_ema_mnist")
    with pytest.raises(SystemExit, match="no default models for 'emoji'"):
        module.chosen_models("emoji")
    with pytest.raises(ValueError, match="dcgan_mnst"):
        module.chosen_models("mnist", "dcgan_mnst")
    assert module.result_name("mnist") == "study_7_families_mnist"
    assert module.result_name("mnist", 5) == "study_7_families_mnist_epochs5"

    class Sampler:
        latent_dim, sampling_steps = 3, 7

        def __init__(self):
            self.batches = []

        def generate(self, z):
            self.batches.append(z.shape)
            return np.zeros((len(z), 2, 2, 1))

    sampler = Sampler()
    per_second, seconds, steps = studies.sampling_speed(sampler, 600)
    # One batch to compile, then 600 images in batches of at most 250, each of the model's latent size.
    assert sampler.batches == [(250, 3), (250, 3), (250, 3), (100, 3)]
    assert steps == 7 and per_second == pytest.approx(600 / seconds)


@pytest.mark.study
def test_families_study_compares_the_three_families(tmp_path):
    report = load_example("study_families").main(["--quick", "--out", str(tmp_path)])
    models = report.results["models"]
    assert [m["preset"] for m in models.values()] == ["vae_conv_gmm_fashion", "dcgan_ema_fashion", "ddim_fashion"]
    assert models["diffusion"]["sampling"]["steps"] == 50 and models["GAN"]["sampling"]["steps"] == 1
    assert all(m["sampling"]["images"] == 64 and m["sampling"]["images_per_second"] > 0 for m in models.values())
    text = assert_report_complete(tmp_path)
    assert "images per second" in text and "samples_side_by_side.png" in text
