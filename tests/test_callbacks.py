"""The callbacks with plain `model.fit`: sample grids (PNG and TensorBoard), interpolation grids."""

import matplotlib.image
import numpy as np
import tensorflow as tf

from kzoo import callbacks, visualize
from kzoo.datasets import to_uint8
from kzoo.models import VAE


def tensorboard_images(log_dir, tag):
    images = {}
    for event_file in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == tag:
                    encoded = tf.make_ndarray(value.tensor)[2]  # [width, height, png]
                    images[event.step] = tf.io.decode_png(encoded).numpy()
    return images


def test_sample_grid_writes_the_same_noise_every_epoch_to_png_and_tensorboard(tmp_path):
    model = VAE.from_design("mlp256", latent_dim=3, seed=0)
    model.compile()
    data = np.random.default_rng(0).uniform(0, 1, (32, 28, 28, 1)).astype("float32")
    grid = callbacks.SampleGrid(tmp_path / "samples", num_images=9, seed=5, log_dir=tmp_path / "tb")
    interpolation = callbacks.InterpolationGrid(tmp_path / "interp", examples=data[:8], every=2, rows=2, steps=5)
    model.fit(data, batch_size=16, epochs=2, verbose=0, callbacks=[grid, interpolation])

    expected_z = np.random.default_rng(5).standard_normal((9, 3)).astype("float32")
    np.testing.assert_array_equal(grid.z, expected_z)
    final = visualize.image_grid(to_uint8(np.asarray(model.generate(expected_z))))
    logged = tensorboard_images(tmp_path / "tb", "samples")
    assert sorted(logged) == [1, 2]
    np.testing.assert_array_equal(logged[2], final)
    png = (matplotlib.image.imread(tmp_path / "samples" / "epoch_002.png")[..., :1] * 255).round()
    assert png.shape[0] == 2 * final.shape[0]  # saved at scale 2

    assert sorted(p.name for p in (tmp_path / "interp").iterdir()) == ["interpolation_002.png"]
    path = callbacks.latent_interpolation(model, data[:8], rows=2, steps=5)
    means = np.asarray(model.encode(data[:4])[0])
    # Row ends decode the posterior means of the example pairs.
    np.testing.assert_allclose(path[0], np.asarray(model.decode(means[:1]))[0], atol=1e-6)
    np.testing.assert_allclose(path[9], np.asarray(model.decode(means[3:4]))[0], atol=1e-6)
