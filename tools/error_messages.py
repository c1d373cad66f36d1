"""Make each user mistake kzoo guards against and record the error it gets, as results/error_messages.json (the
table of docs/errors.md is rendered from it; tests/test_errors.py checks that the code still says the same).

    python tools/error_messages.py
"""

import pathlib
import re
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def _vae():
    import kzoo
    vae = kzoo.VAE.from_design("mlp256", seed=0)
    vae.compile()
    return vae


def _gan(**kwargs):
    import kzoo
    from kzoo.networks import build_gan_networks
    generator, critic = build_gan_networks("dcgan28", latent_dim=8, batch_norm=not kwargs)
    gan = kzoo.AdversarialModel(generator, critic, seed=0, **kwargs)
    gan.compile()
    return gan


def _conditional_gan():
    import kzoo
    from kzoo.networks import build_gan_networks
    generator, critic = build_gan_networks("dcgan28", latent_dim=8, num_classes=3)
    gan = kzoo.AdversarialModel(generator, critic, num_classes=3, seed=0)
    gan.compile()
    return gan


def _fitted_own_gan(n_critic=1):
    """A notebook user's GAN from their own Sequential networks, fitted once on 28x28 grey images: a second `fit`
    with a mistake must get the same message as a fresh model (the data is checked before any step is traced)."""
    import keras

    import kzoo
    generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(28 * 28, activation="tanh"),
                                  keras.layers.Reshape((28, 28, 1))])
    critic = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    lipschitz = "gp" if n_critic > 1 else None
    gan = kzoo.AdversarialModel(generator, critic, loss="wasserstein" if lipschitz else "non_saturating",
                                lipschitz=lipschitz, n_critic=n_critic, seed=0)
    gan.compile()
    gan.fit(_zeros((4 * n_critic, 28, 28, 1)), batch_size=4 * n_critic, verbose=0)
    return gan


def _zeros(shape, dtype="float32"):
    return np.zeros(shape, dtype)


def _nan_images():
    images = _zeros((8, 28, 28, 1))
    images[5, 3, 3, 0] = np.nan
    return images


def _folder(files):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="kzoo-errors-"))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _truncated_keras():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="kzoo-errors-"))
    path = folder / "model.keras"
    path.write_bytes(b"PK\x03\x04 half of a file")
    return path


def _not_kzoo_keras():
    import keras
    folder = pathlib.Path(tempfile.mkdtemp(prefix="kzoo-errors-"))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.save(folder / "model.keras")
    return folder / "model.keras"


def _saved(model):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="kzoo-errors-"))
    model.save(folder / "model.keras")
    return folder


def cases():
    """``(mistake, call)`` pairs: each call makes the mistake and must raise."""
    from kzoo import datasets, load_model, metrics, presets, training
    png = b"\x89PNG\r\n\x1a\n not really a png"
    return [
        ("images of another size than the networks take (`fit`)",
         lambda: _gan().fit(_zeros((8, 32, 32, 1)), batch_size=8, verbose=0)),
        ("colour images for a grey model (`fit`, `evaluate`)",
         lambda: _vae().fit(_zeros((4, 28, 28, 3)), batch_size=4, verbose=0)),
        ("a batch smaller than `n_critic`",
         lambda: _gan(loss="wasserstein", lipschitz="gp", n_critic=5).fit(_zeros((3, 28, 28, 1)), batch_size=3,
                                                                             verbose=0)),
        ("images of another size, after a first `fit`",
         lambda: _fitted_own_gan().fit(_zeros((8, 32, 32, 1)), batch_size=8, verbose=0)),
        ("colour images for a grey model, after a first `fit`",
         lambda: _fitted_own_gan().fit(_zeros((8, 28, 28, 3)), batch_size=8, verbose=0)),
        ("a batch smaller than `n_critic`, after a first `fit`",
         lambda: _fitted_own_gan(n_critic=4).fit(_zeros((3, 28, 28, 1)), batch_size=3, verbose=0)),
        ("labels passed to an unconditional model",
         lambda: _vae().fit(_zeros((4, 28, 28, 1)), _zeros(4, "int64"), batch_size=4, verbose=0)),
        ("images without labels for a class-conditional model",
         lambda: _conditional_gan().fit(_zeros((4, 28, 28, 1)), batch_size=4, verbose=0)),
        ("a class outside a conditional model's classes",
         lambda: _conditional_gan().generate(_zeros((2, 8)), np.array([0, 3]))),
        ("NaN or infinite values in the training images",
         lambda: _vae().fit(_nan_images(), batch_size=4, verbose=0)),
        ("float images given to FID (uint8 expected)",
         lambda: metrics.fid(_zeros((4, 28, 28, 1)) + 0.5, _zeros((4, 28, 28, 1), "uint8"))),
        ("images with 4 channels given to FID", lambda: metrics.fid(_zeros((4, 28, 28, 4), "uint8"),
                                                                     _zeros((4, 28, 28, 1), "uint8"))),
        ("images with 2 channels given to FID", lambda: metrics.fid(_zeros((4, 28, 28, 2), "uint8"),
                                                                     _zeros((4, 28, 28, 1), "uint8"))),
        ("a dataset smaller than one batch", lambda: datasets.training_stream("mnist", 128, take=100)),
        ("an image folder with no images", lambda: datasets.load_arrays(f"folder:{_folder({'notes.txt': b'x'})}")),
        ("an image folder with unreadable files",
         lambda: datasets.load_arrays(f"folder:{_folder({'a.png': png, 'b.png': png})}")),
        ("a truncated `.keras` file", lambda: load_model(_truncated_keras())),
        ("a `.keras` file that is not a kzoo model", lambda: load_model(_not_kzoo_keras())),
        ("an unknown model name", lambda: load_model("dcgan_fashon")),
        ("an unknown preset setting (`--set`)",
         lambda: presets.apply_settings(presets.get("vae_conv_fashion"), ["model.latent_size=8"])),
        ("a preset setting out of range (`--set`)",
         lambda: presets.apply_settings(presets.get("vae_conv_fashion"), ["model.latent_dim=0"])),
        ("a run option out of range", lambda: training.train("vae_conv_fashion", "unused", take=0)),
        ("an unknown dataset name", lambda: datasets.load("cifar11")),
        ("a latent prior for a model without an encoder (`kzoo prior` on a GAN)",
         lambda: training.refit_latent_prior(_saved(_gan()), "unused", None, dataset="mnist")),
        ("the trained VAE's own folder as `kzoo prior --out`",
         lambda: training.refit_latent_prior(folder := _saved(_vae()), folder, None, dataset="mnist")),
    ]


def normalise(message):
    """Temporary folders, the checkout's path and KZOO_HOME vary from machine to machine; the rest must not."""
    from kzoo.config import kzoo_home
    message = re.sub(r"(/[^\s:;,()']*)?/kzoo-errors-[^/\s:;,()']*", "<folder>", message)
    message = message.replace(str(REPO), "<checkout>").replace(str(kzoo_home()), "<KZOO_HOME>")
    return " ".join(message.split())


def run_case(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 -- recording whatever it raises is the point
        return type(e).__name__, normalise(str(e))
    return None, "no error was raised"


def main():
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    from kzoo import results
    rows = []
    for mistake, call in cases():
        kind, message = run_case(call)
        rows.append([mistake, kind, message])
        print(f"{mistake}: {kind}: {message[:120]}", flush=True)
    results.write(REPO / "results", "error_messages", "study",
                  results.protocol(command="python tools/error_messages.py", cases=len(rows)),
                  {"tables": {"messages": {"columns": ["mistake", "error", "message"], "rows": rows}}})


if __name__ == "__main__":
    main()
