"""What a change of kzoo's internals must keep, pinned by fixtures written by an earlier version
(`tests/scripts/make_compat_fixtures.py`): run folders resume, presets keep their recorded form and run
fingerprint (the shipped models' fixed-noise samples: tests/test_saved_models.py, which loads them anyway)."""

import json
import pathlib
import shutil

import keras
import numpy as np
import pytest

from kzoo import checkpoint, presets, training

DATA = pathlib.Path(__file__).resolve().parent / "data"
ROOT = DATA.parent.parent
RECORDED = json.loads((DATA / "preset_fingerprints.json").read_text())
# The diffusion folder traces a U-Net and its sampler for every figure: about a minute, so in the slow suite; the
# VAE folder checks the same resumption in the default suite.
OLD_RUNS = [pytest.param(p.name, marks=pytest.mark.slow) if p.name.startswith("diffusion") else p.name
            for p in sorted((DATA / "old_runs").iterdir())]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_preset_keeps_its_recorded_form_and_run_fingerprint(name):
    """A preset's dict is what a run records in config.json; its fingerprint decides whether a checkpoint
    resumes. A refactoring that changes either would refuse every pending run of that preset."""
    spec = presets.get(name)
    assert json.loads(json.dumps(spec)) == RECORDED[name]["preset"]
    config = dict(spec, take=None, seed=0, precision=spec.get("precision") or "float32", sync_batch_norm=False,
                  strategy="auto", checkpoint_every=None)
    assert training.fingerprint(config) == RECORDED[name]["fingerprint"]


def _close_updates(resumed, reference, start):
    """Two training paths agree: at most 0.1% of the weights differ by more than 2% of the largest update
    (Adam's first steps are sign-like, so a gradient near 0 may round to either sign on another CPU), beyond
    float32 rounding of the weight itself (a variable that barely moved, such as a slow average)."""
    for a, b, s in zip(resumed, reference, start):
        scale = np.max(np.abs(b - s))
        assert np.mean(np.abs(a - b) > 0.02 * scale + 1e-6 * (1 + np.abs(b))) <= 1e-3


@pytest.mark.parametrize("name", OLD_RUNS)
def test_a_run_folder_written_by_an_earlier_version_resumes(tmp_path, name):
    """The fixture stopped after its first epoch; resumed to two, it goes on from its checkpoint (its first
    epoch's history kept) and ends where one uninterrupted two-epoch run ends."""
    fixture = DATA / "old_runs" / name
    args = json.loads((fixture / "command.json").read_text())["args"]
    options = dict(zip(args[::2], args[1::2]))
    run = tmp_path / "resumed"
    shutil.copytree(fixture, run)
    start_step = checkpoint.latest(run / "checkpoints")[1]["step"]
    start = keras.models.load_model(run / "checkpoints" / f"ckpt-{start_step:08d}" / "model.keras").get_weights()
    common = dict(take=int(options["--take"]), batch_size=int(options["--batch-size"]), epochs=2,
                  settings=[options["--set"]], verbose=0, export=False,
                  # As its refusal tells a user on a machine where `auto` resolves otherwise (native bfloat16).
                  precision=json.loads((fixture / "config.json").read_text())["precision"])
    summary = training.train(options["--preset"], run, resume=True, **common)
    training.train(options["--preset"], tmp_path / "reference", **common)
    assert start_step == summary["steps"] // 2 == 4
    old_history = json.loads((fixture / "history.json").read_text())
    new_history = json.loads((run / "history.json").read_text())
    for key, values in old_history.items():
        assert new_history[key][:1] == values and len(new_history[key]) == 2
    _close_updates(keras.models.load_model(run / "model.keras").get_weights(),
                   keras.models.load_model(tmp_path / "reference" / "model.keras").get_weights(), start)
