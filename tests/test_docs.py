"""The README and docs/ as rendered views of results/*.json: every table is what its data renders to, every result
file carries its protocol, every link resolves, and the README stays a front page."""

import importlib.util
import json
import pathlib
import re

import pytest

from kzoo import results
from kzoo.metrics import inception

REPO = pathlib.Path(__file__).resolve().parents[1]


def _render_docs():
    spec = importlib.util.spec_from_file_location("render_docs", REPO / "tools" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
    record = json.loads((tmp_path / "model_dcgan_ema_mnist.json").read_text())
    record["results"]["fid"] += 1.0
    (tmp_path / "model_dcgan_ema_mnist.json").write_text(json.dumps(record))
    changed = render_docs.render_text(readme)
    assert changed != readme and f"**{record['results']['fid']:.2f}**" in changed


def test_markers_without_data_are_refused():
    with pytest.raises(FileNotFoundError, match="no_such_result"):
        render_docs.render_text("<!-- table: no_such_result/main -->\n<!-- /table -->")
    with pytest.raises(KeyError, match="unknown renderer"):
        render_docs.render_text("<!-- table: @no_such_renderer -->\n<!-- /table -->")


@pytest.mark.parametrize("path", sorted((REPO / "results").glob("*.json")), ids=lambda p: p.stem)
def test_every_result_file_has_its_protocol(path):
    record = results.read(path)
    assert record["name"] == path.stem and record["kind"] in ("study", "model", "benchmark", "run")
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
    import importlib.util
    spec = importlib.util.spec_from_file_location("model_card", REPO / "tools" / "model_card.py")
    model_card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_card)
    shipped = json.loads((REPO / "saved_models" / "dcgan_ema_fashion" / "evaluation.json").read_text())
    # The shipped cards' recorded commands are what their evaluations hold.
    recorded = json.loads((REPO / "results" / "model_dcgan_ema_fashion.json").read_text())["protocol"]
    assert f"--metrics {','.join(model_card.evaluated_metrics(shipped))} " in recorded["evaluation_command"]
    with_prdc = {**shipped, "prdc": {"precision": 0.7, "recall": 0.5, "density": 0.9, "coverage": 0.8}}
    assert model_card.evaluated_metrics(with_prdc) == ["fid", "prdc", "classifier", "coverage", "diversity"]
