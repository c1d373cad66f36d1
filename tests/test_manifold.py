"""Precision, recall, density and coverage against the reference implementation `prdc` (NAVER, 0.2)."""

import contextlib
import io

import numpy as np
import pytest

from kzoo.metrics.manifold import nearest_neighbour_radii, precision_recall_density_coverage


def reference(real, fake, k):
    import prdc
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        return prdc.compute_prdc(real, fake, nearest_k=k)


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.7, 1.0), (0.0, 0.3), (1.5, 2.0)])
def test_equal_to_prdc_with_blocks_smaller_than_the_sets(shift, scale):
    rng = np.random.default_rng(0)
    real = rng.standard_normal((700, 16)).astype(np.float32)
    fake = (shift + scale * rng.standard_normal((500, 16))).astype(np.float32)
    ours = precision_recall_density_coverage(real, fake, 3, 5, block_size=128)
    at3, at5 = reference(real, fake, 3), reference(real, fake, 5)
    for name, expected in (("precision", at3["precision"]), ("recall", at3["recall"]),
                           ("density", at5["density"]), ("coverage", at5["coverage"])):
        assert ours[name] == pytest.approx(expected, abs=1e-6), name


def test_the_metrics_separate_fidelity_from_diversity():
    """A generator that covers one mode of two: high precision, recall and coverage near one half."""
    rng = np.random.default_rng(1)
    centres = np.array([[-5.0] * 8, [5.0] * 8])
    real = centres[rng.integers(0, 2, 2000)] + rng.standard_normal((2000, 8))
    collapsed = centres[0] + rng.standard_normal((2000, 8))
    result = precision_recall_density_coverage(real, collapsed, block_size=300)
    assert result["precision"] > 0.9 and 0.4 < result["recall"] < 0.6 and 0.4 < result["coverage"] < 0.6
    full = precision_recall_density_coverage(real, centres[rng.integers(0, 2, 2000)] + rng.standard_normal((2000, 8)))
    assert full["recall"] > 0.8 and full["coverage"] > 0.8 and 0.8 < full["density"] < 1.2  # same distribution


def test_radii_are_the_kth_neighbour_excluding_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(nearest_neighbour_radii(points, 1, block_size=2), [1.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(nearest_neighbour_radii(points, 2, block_size=3), [3.0, 2.0, 3.0, 6.0])
    with pytest.raises(ValueError, match="no 3-th nearest neighbour"):
        nearest_neighbour_radii(points[:3], 3)


def test_one_feature_pass_serves_fid_kid_and_prdc(isolated_home, monkeypatch):
    """evaluate_generator runs the feature network once over each set, and the four metrics of that run equal
    the reference's on the same features."""
    from kzoo.metrics import evaluate, features
    from kzoo.metrics.fid import fid_from_features
    from kzoo.metrics.kid import kid

    class PatchMeans:  # a stand-in network: mean of each 4x4 patch, 49 features
        batch_size = 50
        calls = 0

        def __call__(self, images):
            PatchMeans.calls += 1
            x = features.check_uint8_images(images).astype(np.float32)
            return x.reshape(len(x), 7, 4, 7, 4).mean(axis=(2, 4)).reshape(len(x), 49)

    class TinyGenerator:
        latent_dim, pixel_range = 49, (-1.0, 1.0)

        def generate(self, z):
            return np.tanh(np.repeat(np.repeat(z.reshape(-1, 7, 7, 1), 4, axis=1), 4, axis=2))

    real_images = np.random.default_rng(3).integers(0, 256, (300, 28, 28, 1), dtype=np.uint8)
    monkeypatch.setattr(evaluate, "get_extractor", lambda network: PatchMeans())
    monkeypatch.setattr("kzoo.datasets.load_arrays", lambda *a, **k: type("A", (), {"images": real_images})())
    report = evaluate.evaluate_generator(TinyGenerator(), "fake_set", "test", 300, ("fid", "kid", "prdc"),
                                         progress=False, batch_size=100)
    assert PatchMeans.calls == 6 + 6  # one pass over each set: 300 real and 300 generated images, 50 at a time
    real = PatchMeans()(real_images)
    fake = np.concatenate([PatchMeans()(b) for b in features.generated_batches(TinyGenerator(), 300, 100, 0)])
    at3, at5 = reference(real, fake, 3), reference(real, fake, 5)
    assert report["prdc"]["precision"] == pytest.approx(at3["precision"], abs=1e-6)
    assert report["prdc"]["recall"] == pytest.approx(at3["recall"], abs=1e-6)
    assert report["prdc"]["density"] == pytest.approx(at5["density"], abs=1e-6)
    assert report["prdc"]["coverage"] == pytest.approx(at5["coverage"], abs=1e-6)
    assert report["fid"] == pytest.approx(fid_from_features(real, fake), rel=1e-9)
    assert report["kid_mean"] == pytest.approx(kid(real, fake, seed=0)[0], rel=1e-9)
