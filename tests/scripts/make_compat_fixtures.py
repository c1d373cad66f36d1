"""Write the compatibility fixtures in tests/data/ with the code of the current commit.

They pin what a change of kzoo's internals must keep: run folders written by this version resume (`old_runs/`),
every preset's recorded form and run fingerprint (`preset_fingerprints.json`), and what each shipped model samples
from fixed noise (`shipped_samples.npz`). Re-run only on purpose (a deliberate, documented change):

    python tests/scripts/make_compat_fixtures.py
    python tests/scripts/make_compat_fixtures.py new_shipped_samples   # a newly shipped model: adds its samples,
                                                                      # keeps every recorded one
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

# Small runs, stopped after their first epoch: a test resumes each to a second epoch.
OLD_RUNS = {
    "vae_conv_mnist": ["--preset", "vae_conv_mnist", "--set", "model.latent_dim=2"],
    "diffusion_fashion": ["--preset", "diffusion_fashion", "--set", "model.design=unet_tiny"],
}
COMMON = ["--take", "256", "--batch-size", "64", "--epochs", "1", "--deterministic", "--verbose", "0",
          "--no-export"]
KEEP = ("config.json", "history.json", "checkpoints")


def old_runs():
    for name, args in OLD_RUNS.items():
        target = DATA / "old_runs" / name
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / name
            subprocess.run([sys.executable, "-m", "kzoo.cli", "train", *args, *COMMON, "--out", str(out)],
                           check=True)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for item in KEEP:
                source = out / item
                (shutil.copytree if source.is_dir() else shutil.copy)(source, target / item)
        (target / "command.json").write_text(json.dumps({"args": args + COMMON}, indent=1) + "\n")


def preset_fingerprints():
    from kzoo import presets, training
    records = {}
    for name in sorted(presets.PRESETS):
        spec = presets.get(name)
        config = dict(spec, take=None, seed=0, precision=spec.get("precision") or "float32", sync_batch_norm=False,
                      strategy="auto", checkpoint_every=None)
        records[name] = {"preset": spec, "fingerprint": training.fingerprint(config)}
    (DATA / "preset_fingerprints.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")


def shipped_samples(keep_recorded=False):
    from kzoo import registry
    arrays = {}
    if keep_recorded:
        with np.load(DATA / "shipped_samples.npz") as recorded:
            arrays = {key: recorded[key] for key in recorded.files}
    for folder in sorted((ROOT / "saved_models").iterdir()):
        if not (folder / "saved_model").is_dir() or folder.name in arrays:
            continue
        model = registry.load_generator(folder)
        z = np.random.default_rng(0).standard_normal((4, model.latent_dim)).astype("float32")
        arrays[folder.name] = np.asarray(model.generate(z), np.float32)
        arrays[folder.name + ".weights_sha256"] = np.array(
            json.loads((folder / "model.json").read_text())["weights_sha256"])
    np.savez_compressed(DATA / "shipped_samples.npz", **arrays)


def new_shipped_samples():
    shipped_samples(keep_recorded=True)


if __name__ == "__main__":
    what = sys.argv[1:] or ["old_runs", "preset_fingerprints", "shipped_samples"]
    for part in what:
        globals()[part]()
        print("written:", part)
