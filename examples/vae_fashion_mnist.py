"""Train the convolutional VAE on Fashion-MNIST with the Python API (what `kzoo train` does, by hand).

    python examples/vae_fashion_mnist.py --out runs/example_vae            # published settings, 20 epochs
    python examples/vae_fashion_mnist.py --out /tmp/quick --quick          # a few seconds
"""

import argparse
import pathlib

import keras
import numpy as np

import kzoo
from kzoo import callbacks, datasets, visualize


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example_vae")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 1,024 images")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    epochs, take = (1, 1024) if args.quick else (args.epochs, None)

    keras.utils.set_random_seed(0)
    train = datasets.load("fashion_mnist", batch_size=128, pixel_range=(0, 1), take=take)
    test = datasets.load("fashion_mnist", split="test", batch_size=128, shuffle=False, take=take)
    model = kzoo.VAE.from_design("conv28", latent_dim=20, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(train, validation_data=test, epochs=epochs, shuffle=False,
              callbacks=[callbacks.HistoryWriter(out), callbacks.SampleGrid(out / "samples")])

    x = datasets.to_pixel_range(datasets.load_arrays("fashion_mnist", "test").images[:16])
    pair = np.concatenate([x, np.asarray(model.reconstruct(x))])
    visualize.save_grid(out / "reconstructions.png", datasets.to_uint8(pair), ncols=16)
    model.save(out / "model.keras")
    print(f"written to {out}")
    return model


if __name__ == "__main__":
    main()
