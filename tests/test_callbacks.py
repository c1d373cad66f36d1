"""The callbacks with plain `model.fit`: sample grids (PNG and TensorBoard), interpolation grids."""

import matplotlib.image
import numpy as np
import tensorflow as tf
from helpers import to_uint8_reference

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


def test_reconstruction_grid_and_latent_scatter_follow_the_model(tmp_path):
    """Reconstruction error = numpy MSE of the decoded posterior means; a 2-D latent is plotted as is, a wider one
    through PCA (components uncorrelated, the first with the larger variance)."""
    import keras
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (40, 28, 28, 1)).astype(np.float32)
    labels = np.arange(40) % 4
    for latent_dim in (2, 6):
        keras.utils.set_random_seed(0)
        model = VAE.from_design("mlp256", latent_dim=latent_dim, seed=0)
        model.compile()
        grid = callbacks.ReconstructionGrid(tmp_path / f"r{latent_dim}", images[:8])
        scatter = callbacks.LatentScatter(tmp_path / f"l{latent_dim}", images, labels, epochs=(1, 2))
        history = model.fit(images, batch_size=20, epochs=2, verbose=0, callbacks=[grid, scatter]).history
        expected = np.mean((np.asarray(model.reconstruct(images[:8]), np.float64) - images[:8]) ** 2)
        assert grid.errors[2] == history["reconstruction_mse"][1] == callbacks.reconstruction_error(model, images[:8])
        assert abs(grid.errors[2] - expected) < 1e-7
        assert (tmp_path / f"r{latent_dim}" / "reconstruction_epoch_002.png").exists()
        points = scatter.points[2]
        codes = np.asarray(model.encode(images)[0])
        if latent_dim == 2:
            np.testing.assert_array_equal(points, codes)
            assert scatter.explained[2] == 1.0
        else:
            covariance = np.cov(points.T)
            assert abs(covariance[0, 1]) < 1e-5 * covariance[0, 0] and covariance[0, 0] >= covariance[1, 1]
            assert 0 < scatter.explained[2] <= 1.0
        assert sorted(scatter.points) == [1, 2]
        for name in ("latent_epoch_001.png", "latent_epoch_002.png", "latent_clusters.png"):
            assert (tmp_path / f"l{latent_dim}" / name).exists()
    assert callbacks.latent_epochs(30) == [1, 2, 5, 10, 20, 30] and callbacks.latent_epochs(7) == [1, 2, 5, 7]
