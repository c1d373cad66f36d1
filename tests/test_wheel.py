"""kzoo as a user installs it: a wheel built from this checkout, installed into an empty folder, used from another
folder (no repository beside it) through the `kzoo` command. In the slow suite (50-80 s, the largest single test;
`make test-all`): it is the only proof that `pip install` works outside the clone."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installed_elsewhere_samples_and_evaluates_a_shipped_model(tmp_path):
    dist, site, work, models = (tmp_path / d for d in ("dist", "site", "work", "models"))
    for folder in (work, models):
        folder.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True)
    wheel = next(dist.glob("kzoo-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    shutil.copytree(REPO / "saved_models" / "vae_conv_mnist", models / "vae_conv_mnist",
                    ignore=shutil.ignore_patterns("saved_model"))
    env = dict(os.environ, PYTHONPATH=str(site), KZOO_MODELS=str(models), TF_CPP_MIN_LOG_LEVEL="3")

    def kzoo(*args):
        return subprocess.run([sys.executable, "-m", "kzoo", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import kzoo; print(kzoo.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(site)), where                      # the wheel, not the checkout
    listed = kzoo("models")
    assert listed.returncode == 0 and listed.stdout.startswith("vae_conv_mnist"), listed.stderr[-2000:]
    by_path = kzoo("sample", "--model", str(models / "vae_conv_mnist"), "-n", "4", "--out", "path.png")
    by_name = kzoo("sample", "--model", "vae_conv_mnist", "-n", "4", "--out", "name.png")
    assert by_path.returncode == 0 and by_name.returncode == 0, (by_path.stderr + by_name.stderr)[-2000:]
    assert (work / "path.png").read_bytes() == (work / "name.png").read_bytes()
    evaluated = kzoo("evaluate", "--model", "vae_conv_mnist", "--dataset", "mnist", "--num-samples", "20")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((work / "evaluation_vae_conv_mnist.json").read_text())
    assert {"fid", "kid_mean", "classifier_fid", "coverage", "diversity"} <= set(report)  # the default metrics
    assert sorted(p.name for p in work.iterdir()) == ["evaluation_vae_conv_mnist.json", "name.png", "path.png"]
