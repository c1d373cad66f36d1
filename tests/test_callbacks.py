"""The callbacks with plain `model.fit`: sample grids (PNG and TensorBoard), interpolation grids."""

import matplotlib.image
import numpy as np
import tensorflow as tf

from kzoo import callbacks, visualize
from kzoo.datasets import to_uint8
from kzoo.models import VAE

from helpers import to_uint8_reference


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
    # The PNG (saved at scale 2) shows the same pixels as the model's images for the fixed noise.
    reference = visualize.image_grid(to_uint8_reference(model.generate(expected_z), (0, 1)))
    png = (matplotlib.image.imread(tmp_path / "samples" / "epoch_002.png")[..., 0] * 255).round()
    assert png.shape == (2 * reference.shape[0], 2 * reference.shape[1])
    assert np.abs(png[::2, ::2] - reference[..., 0]).max() <= 1 and reference.std() > 1

    # The interpolation PNG: each row decodes the straight line between the posterior means of an example pair.
    assert sorted(p.name for p in (tmp_path / "interp").iterdir()) == ["interpolation_002.png"]
    means = np.asarray(model.encode(data[:4])[0], np.float64)
    t = np.linspace(0.0, 1.0, 5)[:, None]
    codes = np.concatenate([means[0] + t * (means[1] - means[0]), means[2] + t * (means[3] - means[2])])
    expected = visualize.image_grid(to_uint8_reference(model.decode(codes.astype("float32")), (0, 1)), ncols=5)
    png = (matplotlib.image.imread(tmp_path / "interp" / "interpolation_002.png")[..., 0] * 255).round()
    assert np.abs(png[::2, ::2] - expected[..., 0]).max() <= 1
