"""The README and docs/ as rendered views of results/*.json: every table is what its data renders to, every result
file carries its protocol, every link resolves, and the README stays a front page."""

import json
import pathlib
import re
import statistics

import pytest
from helpers import load_script

from kzoo import results
from kzoo.metrics import inception

REPO = pathlib.Path(__file__).resolve().parents[1]


def _render_docs():
    module = load_script("tools/render_docs.py")
    return module


render_docs = _render_docs()


@pytest.mark.parametrize("path", render_docs.documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_rendered_table_equals_what_its_data_renders_to(path):
    text = path.read_text()
    assert render_docs.render_text(text) == text, f"{path.relative_to(REPO)} is stale: run `make docs`"


def test_a_changed_number_in_a_result_file_changes_the_rendered_table(tmp_path, monkeypatch):
    for source in (REPO / "results").glob("*.json"):
        (tmp_path / source.name).write_text(source.read_text())
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    readme = (REPO / "README.md").read_text()
    assert render_docs.render_text(readme) == readme
    # Each model the README's headline table shows (the best of its family and data set): its one FID, or the mean
    # over its seeds where it has several, is the number shown.
    shown = [p for p in sorted(tmp_path.glob("model_*.json")) if f"`{p.stem.removeprefix('model_')}` | **" in readme]
    assert shown
    for path in shown:
        original = path.read_text()
        record = json.loads(original)
        results = record["results"]
        key = "fid_mean" if results.get("seed_runs") else "fid"
        results[key] -= 1.0
        path.write_text(json.dumps(record))
        expected = (f"**{results['fid_mean']:.2f} ± {results['fid_std']:.2f}**" if key == "fid_mean"
                    else f"**{results['fid']:.2f}**")
        changed = render_docs.render_text(readme)
        assert changed != readme and expected in changed, path.name
        path.write_text(original)


def test_the_frontier_table_says_how_many_seeds_are_under_the_target():
    fids = [6.27, 6.72, 6.5]
    runs = [{"seed": s, "fid": f} for s, f in enumerate(fids)]
    results = {"seed_runs": runs, "fid_mean": statistics.fmean(fids), "fid_std": statistics.stdev(fids)}
    cell = render_docs.seeds_against_target(results, 6.7)
    assert cell.startswith("6.50 ± 0.23 over 3")
    assert "2 of 3 under (worst 6.72: +0.3% from it)" in cell
    assert render_docs.seeds_against_target(results, 7.0).endswith("3 of 3 under")
    assert render_docs.seeds_against_target({"seed_runs": runs[:1]}, 7.0) == "one seed"


def test_a_model_of_data_without_a_classifier_or_test_split_renders_what_was_measured(tmp_path, monkeypatch):
    for source in (REPO / "results").glob("model_*.json"):
        (tmp_path / source.name).write_text(source.read_text())
    record = json.loads((tmp_path / "model_dcgan_fashion.json").read_text())
    record["name"] = "model_dcgan_rgb_set"
    record["protocol"].update(dataset="rgb_set", split="train", num_generated=3786, num_real=3786)
    record["results"].update(classifier_fid=None, classifier_score=None, classes_covered=None)
    (tmp_path / "model_dcgan_rgb_set.json").write_text(json.dumps(record))
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    card = render_docs.card("dcgan_rgb_set")
    assert "3,786 generated vs 3,786 train" in card and "classifier FID" not in card and "None" not in card
    row = next(line for line in render_docs.shipped_models().splitlines() if "`dcgan_rgb_set`" in line)
    assert "3,786 vs 3,786 train" in row and "None" not in row and "/10" not in row


def test_an_evaluation_is_recorded_with_the_protocol_its_report_holds(tmp_path):
    tool = load_script("tools/record_evaluation.py")
    report = {"dataset": "mnist", "split": "test", "num_samples": 5000, "num_real": 5000, "seed": 0, "fid": 12.5,
              "prdc": {"precision": 0.5, "recall": 0.6, "density": 0.7, "coverage": 0.8}, "model": "m.keras"}
    (tmp_path / "e.json").write_text(json.dumps(report))
    written = results.read(tool.record(tmp_path / "e.json", "toy", "kzoo evaluate ...", tmp_path))
    assert written["name"] == "evaluation_toy" and written["results"] == report
    assert (written["protocol"]["num_generated"], written["protocol"]["num_real"], written["protocol"]["split"]) == (
        5000, 5000, "test")
    (tmp_path / "bad.json").write_text(json.dumps({"fid": 1.0}))
    with pytest.raises(SystemExit, match="lacks dataset, split, num_samples, seed"):
        tool.record(tmp_path / "bad.json", "bad", "kzoo evaluate ...", tmp_path)


def test_markers_without_data_are_refused():
    with pytest.raises(FileNotFoundError, match="no_such_result"):
        render_docs.render_text("<!-- table: no_such_result/main -->\n<!-- /table -->")
    with pytest.raises(KeyError, match="unknown renderer"):
        render_docs.render_text("<!-- table: @no_such_renderer -->\n<!-- /table -->")


@pytest.mark.parametrize("path", sorted((REPO / "results").glob("*.json")), ids=lambda p: p.stem)
def test_every_result_file_has_its_protocol(path):
    record = results.read(path)
    assert record["name"] == path.stem and record["kind"] in ("study", "model", "benchmark", "run", "evaluation")
    protocol = record["protocol"]
    assert protocol["command"] and protocol["git_commit"]
    if "feature_network_sha256" in protocol:
        assert protocol["feature_network_sha256"] == inception.WEIGHTS_SHA256
    if record["kind"] == "model" and record["results"].get("family") != "classifier":
        for key in ("dataset", "split", "num_real", "num_generated", "seeds", "precision", "epochs", "resize"):
            assert protocol.get(key) is not None, f"{path.name}: protocol lacks {key}"


def test_result_writer_refuses_a_record_without_protocol(tmp_path):
    with pytest.raises(ValueError, match="protocol lacks"):
        results.write(tmp_path, "x", "study", {"command": "c"}, {})
    path = results.write(tmp_path, "x", "study", results.protocol(command="c", seeds=[0]), {"v": 1.5})
    assert results.read(path)["results"] == {"v": 1.5} and not list(tmp_path.glob(".*tmp"))


def test_readme_is_a_front_page_and_every_local_link_resolves():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    assert readme.index("make run") < readme.index("make test") < readme.index("## Quick start")
    for path in render_docs.documents():
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (path.parent / target).exists(), f"{path.relative_to(REPO)} links to missing {target}"


def test_readme_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The README's Python block, run with fewer images, epochs and samples (the only edits), from an empty folder."""
    import warnings
    block = re.search(r"## Quick start\n\n```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    edits = {"epochs=20": "epochs=1", "epochs=30": "epochs=1", "num_samples=10000": "num_samples=20",
             "pixel_range=(0, 1))": "pixel_range=(0, 1), take=256)",
             "pixel_range=(-1, 1))": "pixel_range=(-1, 1), take=256)"}
    for old, new in edits.items():
        assert old in block, f"the quick start no longer has {old!r}: update this test"
        block = block.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 20 samples: the small-N bias warning
        exec(compile(block, "README quick start", "exec"), namespace)
    assert namespace["images"].shape == (64, 28, 28, 1) and namespace["report"]["num_generated"] == 20
    assert (tmp_path / "dcgan_savedmodel" / "saved_model.pb").exists() and (tmp_path / "vae.keras").exists()


def test_a_card_names_the_metrics_its_evaluation_holds():
    from kzoo import shipping
    shipped = json.loads((REPO / "saved_models" / "dcgan_ema_fashion" / "evaluation.json").read_text())
    # The shipped cards' recorded commands are what their evaluations hold.
    recorded = json.loads((REPO / "results" / "model_dcgan_ema_fashion.json").read_text())["protocol"]
    assert f"--metrics {','.join(shipping.evaluated_metrics(shipped))} " in recorded["evaluation_command"]
    with_prdc = {**shipped, "prdc": {"precision": 0.7, "recall": 0.5, "density": 0.9, "coverage": 0.8}}
    assert shipping.evaluated_metrics(with_prdc) == ["fid", "prdc", "classifier", "coverage", "diversity"]


def test_a_card_of_a_continued_vae_with_a_new_prior_lists_every_command_in_order():
    from kzoo import shipping
    train = "kzoo train --preset p --epochs 40 --init-from m --new-optimizer --out run"
    prior = "kzoo prior --model run --out gmm --components 30 --seed 0"
    summary = {"epochs": 40, "steps": 400, "wall_time_s": 900.0, "init_from": "m", "prior_fit": {
        "latent_prior": {"kind": "mixture", "components": 30}, "train_command": train, "command": prior,
        "images": 60000, "fit_s": 120.0}}
    alone = shipping.prior_fit_facts(summary)
    assert alone["command"] == f"{train} && {prior}"
    assert alone["trained_as"].startswith(f"40 epochs (400 steps, 900 s) by `{train}`, then a 30-component")
    earlier = {"command": "kzoo train --preset p --epochs 12 --out first && kzoo prior --model first --out x",
               "epochs": 12, "steps": 120, "precision": "float32"}
    chained = shipping.prior_fit_facts(summary, earlier)
    # The earlier model's own training (not the prior it was shipped with), then this run, then this prior.
    assert chained["command"] == f"kzoo train --preset p --epochs 12 --out first && {train} && {prior}"
    assert chained["trained_as"].startswith(
        "12 epochs (120 steps) in float32 by `kzoo train --preset p --epochs 12 --out first` (shipped as m), then "
        f"continued with a new optimizer to 40 epochs (400 steps, 900 s in all) by `{train}`, then a 30-component "
        "Gaussian mixture fitted to the codes of 60,000 training images in 120 s by")


def test_a_seed_run_of_a_continued_recipe_records_its_whole_chain_of_commands(tmp_path, monkeypatch):
    from kzoo import shipping
    first = _fake_run(tmp_path / "first", "vae_two_stage_fashion", 120, 30.0, {}, seed=1, batch_size=64)
    (first / "config.json").write_text(json.dumps({"seed": 1}))
    from kzoo.training import reproducing_command
    first_command = reproducing_command(first)
    assert first_command.startswith("kzoo train --preset vae_two_stage_fashion") and "--seed 1" in first_command
    prior = "kzoo prior --model second --out third --components 30 --seed 1"
    summary = {"epochs": 40, "steps": 400, "wall_time_s": 900.0, "init_from": str(first), "prior_fit": {
        "latent_prior": {"kind": "mixture", "components": 30}, "train_command": "kzoo train ... --new-optimizer",
        "command": prior, "images": 60000, "fit_s": 120.0}}
    earlier = shipping.earlier_training(summary, root=tmp_path)
    assert earlier["epochs"] == 2 and earlier["steps"] == 120 and earlier["run_folder"]
    facts = shipping.prior_fit_facts(summary, earlier)
    assert facts["command"] == f"{first_command} && kzoo train ... --new-optimizer && {prior}"
    assert f"(into {first}), then continued with a new optimizer to 40 epochs" in facts["trained_as"]
    assert shipping.earlier_training({"epochs": 40}, root=tmp_path) is None


def _shipped_copy(tmp_path, name):
    """saved_models/NAME's weights and evaluation and results/model_NAME.json, in a repository-shaped tmp folder."""
    import shutil
    (tmp_path / "saved_models" / name).mkdir(parents=True)
    (tmp_path / "results").mkdir()
    for file in ("model.keras", "evaluation.json"):
        shutil.copy(REPO / "saved_models" / name / file, tmp_path / "saved_models" / name / file)
    shutil.copy(REPO / "results" / f"model_{name}.json", tmp_path / "results" / f"model_{name}.json")
    return json.loads((tmp_path / "saved_models" / name / "evaluation.json").read_text())


def test_a_reevaluation_must_match_the_shipped_settings_and_fid(tmp_path, monkeypatch):
    from kzoo import shipping
    shipped = _shipped_copy(tmp_path, "dcgan_fashion")
    before = (tmp_path / "saved_models" / "dcgan_fashion" / "evaluation.json").read_text()
    cases = {"seed": {**shipped, "seed": shipped["seed"] + 1},
             "num_samples": {**shipped, "num_samples": 2000},
             "FID": {**shipped, "fid": shipped["fid"] + 0.5}}
    for what, evaluation in cases.items():
        path = tmp_path / f"{what}.json"
        path.write_text(json.dumps(evaluation))
        with pytest.raises(ValueError, match=what):
            shipping.reevaluate("dcgan_fashion", path, root=tmp_path)
    # A refused evaluation replaces nothing.
    assert (tmp_path / "saved_models" / "dcgan_fashion" / "evaluation.json").read_text() == before


def test_a_reevaluation_adds_metrics_and_keeps_the_training_facts(tmp_path, monkeypatch):
    from kzoo import shipping
    shipped = _shipped_copy(tmp_path, "dcgan_fashion")
    old = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())
    prdc = {"precision": 0.61, "recall": 0.42, "density": 0.83, "coverage": 0.71}
    new = tmp_path / "new.json"
    new.write_text(json.dumps({**shipped, "fid": shipped["fid"] + 0.01, "prdc": prdc}))
    shipping.reevaluate("dcgan_fashion", new, root=tmp_path)
    assert json.loads((tmp_path / "saved_models" / "dcgan_fashion" / "evaluation.json").read_text())["prdc"] == prdc
    record = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())
    for key in ("command", "epochs", "steps", "wall_time_s", "git_commit"):
        assert record["protocol"][key] == old["protocol"][key], key
    assert "--metrics fid,prdc," in record["protocol"]["evaluation_command"]
    assert "re-evaluated with fid, prdc" in record["protocol"]["provenance"]
    assert {k: record["results"][k] for k in prdc} == prdc
    assert record["results"]["weights_sha256"] == old["results"]["weights_sha256"]


def _compare_runs_tool():
    module = load_script("tools/compare_runs.py")
    return module


def _fake_run(folder, preset, steps, fid, prdc, seed=0, evaluation_seed=0, batch_size=128, take=None):
    """A finished run folder as `kzoo train` and `kzoo evaluate` leave it, with made-up figures."""
    import matplotlib.pyplot as plt
    import numpy as np
    (folder / "samples").mkdir(parents=True)
    plt.imsave(folder / "samples" / "epoch_002.png", np.zeros((8, 8)), cmap="gray")
    (folder / "summary.json").write_text(json.dumps({
        "preset": preset, "dataset": "fashion_mnist", "epochs": 2, "steps": steps, "precision": "float32",
        "wall_time_s": 12.5, "batch_size": batch_size, "take": take, "seed": seed,
        "figures": {"samples": "samples/epoch_002.png"}}))
    (folder / "config.json").write_text(json.dumps({"seed": seed, "settings": {"model.augment": "cutout"}}))
    (folder / "evaluation.json").write_text(json.dumps({
        "dataset": "fashion_mnist", "split": "test", "num_samples": 10000, "num_real": 10000,
        "seed": evaluation_seed, "network": "fid_inception", "fid": fid, "classifier_fid": 3.0, "prdc": prdc}))
    return folder


def test_a_comparison_tabulates_same_protocol_runs_and_refuses_others(tmp_path):
    compare_runs = _compare_runs_tool()
    a = _fake_run(tmp_path / "a", "dcgan_fashion", 100, 22.5,
                  {"precision": 0.6, "recall": 0.4, "density": 0.9, "coverage": 0.7})
    b = _fake_run(tmp_path / "b", "sngan_fashion", 100, 19.25,
                  {"precision": 0.65, "recall": 0.45, "density": 0.95, "coverage": 0.75})
    compare_runs.main(["toy", f"DCGAN={a}", f"SNGAN={b}", "--results", str(tmp_path), "--figures", str(tmp_path)])
    written = json.loads((tmp_path / "comparison_toy.json").read_text())
    rows = written["results"]["tables"]["main"]["rows"]
    assert rows[0][:7] == ["DCGAN", "`dcgan_fashion`", 100, 2, "float32", "12 s", "**22.50**"]
    assert rows[1][6:11] == ["**19.25**", "0.650", "0.450", "0.950", "0.750"]
    assert written["protocol"]["equal_generator_steps"] is True
    assert written["protocol"]["training_commands"]["SNGAN"] == (
        f"kzoo train --preset sngan_fashion --dataset fashion_mnist --epochs 2 --precision float32 --set "
        f"model.augment=cutout --out {b}")
    assert (tmp_path / "comparison_toy.png").exists()
    other_steps = _fake_run(tmp_path / "c", "sngan_fashion", 150, 19.0, {"precision": 0.6, "recall": 0.4,
                                                                        "density": 0.9, "coverage": 0.7})
    with pytest.raises(SystemExit, match="different generator steps"):
        compare_runs.main(["toy2", f"DCGAN={a}", f"SNGAN={other_steps}", "--results", str(tmp_path)])
    other_seed = _fake_run(tmp_path / "d", "sngan_fashion", 100, 19.0, {"precision": 0.6, "recall": 0.4,
                                                                       "density": 0.9, "coverage": 0.7},
                           evaluation_seed=3)
    with pytest.raises(SystemExit, match="seed = 3"):
        compare_runs.main(["toy3", f"DCGAN={a}", f"SNGAN={other_seed}", "--results", str(tmp_path)])
    assert not (tmp_path / "comparison_toy2.json").exists() and not (tmp_path / "comparison_toy3.json").exists()


def test_a_comparison_records_training_curves_against_the_generator_step(tmp_path):
    compare_runs = _compare_runs_tool()
    prdc = {"precision": 0.6, "recall": 0.4, "density": 0.9, "coverage": 0.7}
    a = _fake_run(tmp_path / "a", "wgan_clip_fashion", 100, 150.0, prdc)
    b = _fake_run(tmp_path / "b", "wgan_gp_fashion", 100, 40.0, prdc)
    # a: per-step spread of both epochs; b: only the epoch means of history.json, and a penalty a lacks.
    (a / "stability.json").write_text(json.dumps([
        {"epoch": 1, "wasserstein": {"mean": 0.02, "min": 0.01, "max": 0.05}},
        {"epoch": 2, "wasserstein": {"mean": 0.03, "min": 0.02, "max": 0.04}}]))
    (b / "history.json").write_text(json.dumps({"wasserstein": [3.5, 2.5], "penalty": [0.3, 0.2]}))
    compare_runs.main(["wg", f"WGAN={a}", f"WGAN-GP={b}", "--curves", "wasserstein,penalty",
                       "--published", "WGAN=120", "--published-source", "a paper",
                       "--results", str(tmp_path), "--figures", str(tmp_path)])
    written = json.loads((tmp_path / "comparison_wg.json").read_text())
    models = written["results"]["models"]
    main = written["results"]["tables"]["main"]
    assert main["columns"][-2:] == ["published FID (a paper)", "against it"]
    # 150 against a published 120 is 25% above it; a model without a published figure gets blank cells.
    assert main["rows"][0][-2:] == ["120", "+25.0% from it"] and main["rows"][1][-2:] == ["", ""]
    assert written["protocol"]["published_source"] == "a paper"
    # 100 generator steps over 2 epochs: the epochs end at steps 50 and 100.
    assert models[0]["curves"] == {"wasserstein": {"generator_step": [50, 100], "mean": [0.02, 0.03],
                                                   "min": [0.01, 0.02], "max": [0.05, 0.04]}}
    assert models[1]["curves"]["penalty"] == {"generator_step": [50, 100], "mean": [0.3, 0.2], "min": None,
                                              "max": None}
    assert (tmp_path / "comparison_wg_curves.png").stat().st_size > 0
    with pytest.raises(SystemExit, match="LABEL one of WGAN, WGAN-GP"):
        compare_runs.main(["wg3", f"WGAN={a}", f"WGAN-GP={b}", "--published", "SNGAN=20", "--published-source",
                           "a paper", "--results", str(tmp_path), "--figures", str(tmp_path)])
    with pytest.raises(SystemExit, match="none of d_real"):
        compare_runs.main(["wg2", f"WGAN={a}", f"WGAN-GP={b}", "--curves", "d_real", "--results", str(tmp_path),
                           "--figures", str(tmp_path)])


def test_a_run_folder_names_the_command_that_trains_it_again(tmp_path):
    from kzoo.training import reproducing_command
    prdc = {"precision": 0.6, "recall": 0.4, "density": 0.9, "coverage": 0.7}
    plain = _fake_run(tmp_path / "plain", "dcgan_fashion", 100, 22.5, prdc)
    assert reproducing_command(plain) == ("kzoo train --preset dcgan_fashion --dataset fashion_mnist --epochs 2 "
                                          f"--precision float32 --set model.augment=cutout --out {plain}")
    changed = _fake_run(tmp_path / "changed", "dcgan_fashion", 100, 22.5, prdc, seed=3, batch_size=64, take=500)
    assert reproducing_command(changed) == (
        "kzoo train --preset dcgan_fashion --dataset fashion_mnist --epochs 2 --precision float32 --batch-size 64 "
        f"--take 500 --seed 3 --set model.augment=cutout --out {changed}")
    with pytest.raises(ValueError, match="not a finished run folder"):
        reproducing_command(tmp_path)


def test_seed_runs_join_a_shipped_model_with_mean_and_spread_only_when_they_are_its_recipe(tmp_path, monkeypatch):
    import statistics

    from kzoo import shipping
    _shipped_copy(tmp_path, "dcgan_fashion")  # kzoo train --preset dcgan_fashion --epochs 20, float32, seed 0
    shipped = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())
    prdc = {"precision": 0.5, "recall": 0.4, "density": 0.9, "coverage": 0.7}

    def seed_run(seed, fid, epochs=20, settings=None, evaluation_seed=0):
        folder = _fake_run(tmp_path / f"run{len(list(tmp_path.glob('run*')))}_seed{seed}", "dcgan_fashion", 9360,
                           fid, prdc, seed=seed, evaluation_seed=evaluation_seed)
        summary = json.loads((folder / "summary.json").read_text())
        (folder / "summary.json").write_text(json.dumps({**summary, "epochs": epochs, "wall_time_s": 1500.0 + seed}))
        (folder / "config.json").write_text(json.dumps({"seed": seed, "settings": settings or {}}))
        return folder

    record_before = (tmp_path / "results" / "model_dcgan_fashion.json").read_text()
    for run, message in ((seed_run(1, 21.0, epochs=30), "number of epochs is 30"),
                         (seed_run(1, 21.5, settings={"model.augment": "cutout"}), "--set settings"),
                         (seed_run(1, 21.7, evaluation_seed=2), "evaluation's seed is 2"),
                         (seed_run(0, 21.9), "seed 0 is already recorded")):
        with pytest.raises(ValueError, match=message):
            shipping.add_seeds("dcgan_fashion", [run], root=tmp_path)
    assert (tmp_path / "results" / "model_dcgan_fashion.json").read_text() == record_before
    shipping.add_seeds("dcgan_fashion", [seed_run(1, 21.0), seed_run(2, 25.0)], root=tmp_path)
    result = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())["results"]
    fids = [shipped["results"]["fid"], 21.0, 25.0]
    assert result["seeds"] == [0, 1, 2] and [run["shipped"] for run in result["seed_runs"]] == [True, False, False]
    assert result["fid_mean"] == pytest.approx(statistics.fmean(fids))
    assert result["fid_std"] == pytest.approx(np_std := float(__import__("numpy").std(fids, ddof=1)))
    assert np_std > 0 and result["fid"] == shipped["results"]["fid"]  # the shipped model's own FID stays
    assert [run["wall_time_s"] for run in result["seed_runs"]] == [1467, 1501.0, 1502.0]
    assert result["seed_runs"][1]["command"].endswith("--seed 1 --out " + str(tmp_path / "run4_seed1"))
    with pytest.raises(ValueError, match="seed 2 is already recorded"):
        shipping.add_seeds("dcgan_fashion", [seed_run(2, 23.0)], root=tmp_path)
    # A re-evaluation of the shipped model keeps the other seeds and moves the shipped seed's FID with it.
    evaluation = json.loads((tmp_path / "saved_models" / "dcgan_fashion" / "evaluation.json").read_text())
    (tmp_path / "new.json").write_text(json.dumps({**evaluation, "fid": evaluation["fid"] + 0.01, "prdc": prdc}))
    shipping.reevaluate("dcgan_fashion", tmp_path / "new.json", root=tmp_path)
    again = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())["results"]
    assert [run["fid"] for run in again["seed_runs"]] == [evaluation["fid"] + 0.01, 21.0, 25.0]
    assert again["fid_mean"] == pytest.approx(statistics.fmean([evaluation["fid"] + 0.01, 21.0, 25.0]))


def test_a_reevaluation_of_a_model_named_unlike_its_preset_keeps_its_family_and_a_failure_replaces_nothing(
        tmp_path, monkeypatch):
    from kzoo import shipping
    shipped = _shipped_copy(tmp_path, "dcgan_fashion")
    (tmp_path / "saved_models" / "dcgan_fashion").rename(tmp_path / "saved_models" / "renamed")
    (tmp_path / "results" / "model_dcgan_fashion.json").rename(tmp_path / "results" / "model_renamed.json")
    new = tmp_path / "new.json"
    new.write_text(json.dumps({**shipped, "fid": shipped["fid"] + 0.01}))
    before = (tmp_path / "saved_models" / "renamed" / "evaluation.json").read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    with monkeypatch.context() as patched:
        patched.setattr(shipping, "model_result", broken)
        with pytest.raises(OSError, match="disk full"):
            shipping.reevaluate("renamed", new, root=tmp_path)
    assert (tmp_path / "saved_models" / "renamed" / "evaluation.json").read_text() == before
    shipping.reevaluate("renamed", new, root=tmp_path)  # "renamed" is no preset: the family comes from the record
    record = json.loads((tmp_path / "results" / "model_renamed.json").read_text())
    assert record["results"]["family"] == "gan" and record["results"]["fid"] == shipped["fid"] + 0.01


def test_a_target_is_met_at_or_below_it_and_otherwise_the_distance_is_relative():
    from kzoo.results import versus_target
    assert versus_target(29.3, 29.3) == "met" and versus_target(10.0, 15.0) == "met"
    assert versus_target(32.5, 29.3) == "+10.9% from it"  # the Fashion-MNIST VAE row of docs/results.md


def test_a_shipped_models_upper_bound_target_gets_its_status_appended():
    from kzoo import shipping
    assert shipping.target_with_status("<= 12.6 (Dai & Wipf 2019)", 12.4993) == "<= 12.6 (Dai & Wipf 2019): met"
    assert shipping.target_with_status("<= 12.6 (Dai & Wipf 2019)", 13.5) == \
        "<= 12.6 (Dai & Wipf 2019): +7.1% from it"
    # wording that already says how it stands, or that is no bound, is kept
    assert shipping.target_with_status("<= 25: met", 30.0) == "<= 25: met"
    assert shipping.target_with_status("class fidelity >= 98%", 5.0) == "class fidelity >= 98%"


def _seed_run_tool():
    module = load_script("tools/seed_run.py")
    return module


def _recipe_key(argv):
    """What makes a step the same recipe: the command, preset, epochs, --set settings, prior components and
    whether it continues a model with a new optimizer (not the seed, folders or the preset's own dataset)."""
    def value(flag):
        return argv[argv.index(flag) + 1] if flag in argv else None
    return (argv[1], value("--preset"), value("--epochs"), value("--components"),
            sorted(argv[i + 1] for i, a in enumerate(argv) if a == "--set"),
            "--init-from" in argv, "--new-optimizer" in argv)


@pytest.mark.parametrize("name", sorted(_seed_run_tool().RECIPES))
def test_a_seed_recipe_is_the_shipped_models_chain_of_commands(name):
    import shlex
    seed_run = _seed_run_tool()
    protocol = json.loads((REPO / "results" / f"model_{name}.json").read_text())["protocol"]
    # A continued model's card quotes each command in order in `trained_as`; a single run's is its command.
    shipped = (re.findall(r"`(kzoo [^`]+)`", protocol["trained_as"]) if protocol.get("trained_as")
               else protocol["command"].split(" && "))
    planned = seed_run.steps(name, 7, "somewhere")
    training, evaluation = planned[:-1], planned[-1]
    assert [_recipe_key(argv) for _, argv in training] == [_recipe_key(shlex.split(c)) for c in shipped]
    assert all(argv[argv.index("--seed") + 1] == "7" for _, argv in training if argv[1] == "train")
    # Precision is pinned: the last training step's is the shipped model's, an earlier step's the one its card names.
    trains = [argv for _, argv in training if argv[1] == "train"]
    assert trains[-1][trains[-1].index("--precision") + 1] == protocol["precision"]
    for argv in trains[:-1]:
        precision, epochs = argv[argv.index("--precision") + 1], argv[argv.index("--epochs") + 1]
        assert re.search(rf"in {precision} by `kzoo train [^`]*--epochs {epochs} ", protocol["trained_as"])
    # Each step reads the folder the step before wrote; the evaluation is the shipped one on the final folder.
    for (before, _), (_, argv) in zip(training, training[1:]):
        assert before in argv
    expected = shlex.split(protocol["evaluation_command"])
    expected[expected.index("--model") + 1] = training[-1][0]
    assert evaluation == (training[-1][0], expected)


def test_seed_run_refuses_a_recorded_seed_before_training_anything(capsys):
    seed_run = _seed_run_tool()
    with pytest.raises(SystemExit, match="seed 1 of vae_conv_gmm_mnist_e40 is already recorded"):
        seed_run.main(["vae_conv_gmm_mnist_e40", "1", "--runs", "nowhere"])
    with pytest.raises(SystemExit, match="no recipe for 'dcgan_rgb64'"):
        seed_run.steps("dcgan_rgb64", 1)


def test_a_seed_run_continued_from_a_run_folder_records_both_commands(tmp_path, monkeypatch):
    from kzoo import shipping
    _shipped_copy(tmp_path, "dcgan_fashion")
    first = _fake_run(tmp_path / "first", "dcgan_fashion", 4680, 30.0, {}, seed=1)
    (first / "config.json").write_text(json.dumps({"seed": 1, "settings": {}}))
    second = _fake_run(tmp_path / "second", "dcgan_fashion", 9360, 21.0, {"precision": 0.5, "recall": 0.4}, seed=1)
    summary = json.loads((second / "summary.json").read_text())
    (second / "summary.json").write_text(json.dumps({**summary, "epochs": 20, "init_from": str(first)}))
    (second / "config.json").write_text(json.dumps({"seed": 1, "settings": {}, "init_from": str(first)}))
    from kzoo.training import reproducing_command
    shipping.add_seeds("dcgan_fashion", [second], root=tmp_path)
    run = json.loads((tmp_path / "results" / "model_dcgan_fashion.json").read_text())["results"]["seed_runs"][1]
    # The continuation as it ran: from the first run's folder (the first run's precision may differ from its own).
    continued = reproducing_command(second).replace(" --out ", f" --init-from {first} --out ")
    assert run["command"] == f"{reproducing_command(first)} && {continued}"
    assert run["command"].startswith("kzoo train --preset dcgan_fashion") and run["command"].count("--seed 1") == 2
    assert f"--init-from {first}" in run["command"]


def _table_specs():
    specs = set()
    for path in render_docs.documents():
        specs.update(re.findall(r"<!-- table: (\S+) -->", path.read_text()))
    return sorted(specs)


def _scaled_floats(value, factor):
    """Every float in a JSON value times `factor` (integers, counts and strings unchanged)."""
    if isinstance(value, dict):
        return {k: _scaled_floats(v, factor) for k, v in value.items()}
    if isinstance(value, list):
        return [_scaled_floats(v, factor) for v in value]
    if isinstance(value, float) and value not in (0.0, 1.0):
        return value * factor
    return value


DECIMAL = re.compile(r"(?<![\w.])-?\d[\d,]*\.\d+(?![\w.])")


def _decimals(text):
    """The decimal numbers of a table, by row (version strings such as 2.21.0, and 0, 1 or 100 (%), which scaling
    keeps, aside)."""
    return [[m for m in DECIMAL.findall(line) if float(m.replace(",", "")) not in (0.0, 1.0, 100.0)]
            for line in text.splitlines()]


@pytest.mark.parametrize("spec", _table_specs())
def test_every_renderer_shows_the_numbers_of_the_files_it_reads(spec, tmp_path, monkeypatch):
    """For each table of the README and docs/: scale every measured number (float) of the result files by 1.37;
    then every decimal number the table shows must change. A number typed into a renderer, or left over from an
    older file, would stay as it was. (Stored tables, whose rows are their file's cells, are checked cell-wise.)"""
    for source in (REPO / "results").glob("*.json"):
        (tmp_path / source.name).write_text(source.read_text())
    monkeypatch.setattr(render_docs, "RESULTS", tmp_path)
    original_text = render_docs.render_spec(spec)
    if not spec.startswith("@"):
        name, _, key = spec.partition("/")
        record = json.loads((tmp_path / f"{name}.json").read_text())
        record["results"]["tables"][key]["rows"][-1][-1] = "MUTATED-CELL"
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
        assert "MUTATED-CELL" in render_docs.render_spec(spec), spec
        return
    quoted = set()  # numbers the data holds as text (targets, commands), which scaling leaves as they are
    for path in tmp_path.glob("*.json"):
        record = json.loads(path.read_text())
        quoted.update(DECIMAL.findall(json.dumps(_strings(record))))
        path.write_text(json.dumps(_scaled_floats(record, 1.37)))
    quoted.update(f"{figure}" for _, _, figure, _ in render_docs.FRONTIER)  # published figures, cited
    changed = render_docs.render_spec(spec)
    assert changed != original_text, f"{spec}: no number of its data reaches the table"
    before, after = _decimals(original_text), _decimals(changed)
    unchanged = [a for row_a, row_b in zip(before, after) if len(row_a) == len(row_b)
                 for a, b in zip(row_a, row_b) if a == b and a not in quoted and a not in LABELS]
    assert not unchanged, f"{spec}: these numbers do not come from its data: {unchanged[:10]}"


# Numbers that are part of a row's label, not a measurement.
LABELS = {"0.9"}  # "pairs with cosine > 0.9": kzoo.metrics.diversity's near-duplicate threshold


def _strings(value):
    if isinstance(value, dict):
        return [_strings(v) for v in value.values()]
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value if isinstance(value, str) else None
