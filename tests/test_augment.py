"""DiffAugment on keras-cv: which keras-cv layers pass gradients, the transformations' ranges, per-image and
per-step randomness, the generator's gradient through the augmentation, and the adversarial loop with it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import noise as knoise
from kzoo.augment import DiffAugment, parse_policy


def gradient_to_input(layer, images):
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.reshape(tf.range(tf.size(y), dtype=tf.float32) % 7, tf.shape(y)))
    return tape.gradient(loss, x)


def test_which_keras_cv_layers_pass_gradients():
    """The layers kzoo builds on pass a gradient to their input; RandomSaturation does not (so kzoo writes the
    saturation op itself)."""
    import keras_cv
    images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    for layer in (keras_cv.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=1),
                  keras_cv.layers.RandomCutout(0.5, 0.5, fill_mode="constant", seed=1),
                  keras_cv.layers.RandomBrightness(0.125, value_range=(-2, 2), seed=1),
                  keras_cv.layers.RandomContrast(value_range=(-4, 4), factor=0.5, seed=1)):
        grad = gradient_to_input(layer, images)
        assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0, type(layer).__name__
    assert gradient_to_input(keras_cv.layers.RandomSaturation((0.0, 1.0), seed=1), images) is None


def test_keras_cv_translation_does_not_compile_under_xla_and_kzoos_does():
    """keras-cv's RandomTranslation resamples with ImageProjectiveTransformV3, which XLA cannot compile (every GPU
    user's `fit` compiles the step with XLA), so kzoo translates by gathering rows and columns."""
    import keras_cv
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32"))
    layer = keras_cv.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="ImageProjectiveTransformV3"):
        tf.function(lambda x: layer(x, training=True), jit_compile=True)(images)
    augment = DiffAugment()
    compiled = tf.function(lambda x: augment(x, knoise.StepNoise(1, 2)), jit_compile=True)(images)
    assert compiled.shape == images.shape and np.all(np.isfinite(compiled.numpy()))


def test_the_whole_policy_under_xla_equals_it_without_xla_with_its_gradient(monkeypatch):
    """Every transformation of DiffAugment compiled with XLA (what a GPU user's `fit` does) gives the images and
    the gradient to its input that it gives without XLA, given the same random draws (integer-arithmetic noise:
    TF's stateless kernels draw other numbers under XLA). With this and the non-saturating GAN's XLA step
    (tests/test_xla.py), the GAN step with DiffAugment under XLA is in the default suite in parts; whole, in the
    slow suite."""
    from portable_noise import use_portable_noise
    use_portable_noise(monkeypatch)
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (6, 16, 16, 3)).astype("float32"))
    weights = tf.reshape(tf.range(tf.size(images), dtype=tf.float32) % 7, images.shape)
    augment = DiffAugment("color,translation,cutout")

    def augmented_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = augment(x, knoise.StepNoise(3, 5))
            loss = tf.reduce_sum(y * weights)
        return y, tape.gradient(loss, x)

    plain = tf.function(augmented_and_gradient, jit_compile=False)(images)
    xla = tf.function(augmented_and_gradient, jit_compile=True)(images)
    assert float(tf.reduce_max(tf.abs(plain[0] - images))) > 0.1  # it did transform
    for a, b in zip(xla, plain):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_same_seed_same_augmentation_new_step_new_one_each_image_its_own():
    images = np.tile(np.random.default_rng(0).uniform(-1, 1, (1, 28, 28, 3)).astype("float32"), (8, 1, 1, 1))
    a = DiffAugment()(images, knoise.StepNoise(3, 10)).numpy()
    b = DiffAugment()(images, knoise.StepNoise(3, 10)).numpy()   # a new augmenter, the same (seed, step)
    c = DiffAugment()(images, knoise.StepNoise(3, 11)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({a[i].tobytes() for i in range(8)}) == 8          # identical inputs, eight different draws
    graph = tf.function(lambda x, step: DiffAugment()(x, knoise.StepNoise(3, step)))
    np.testing.assert_allclose(graph(images, tf.constant(10, tf.int64)).numpy(), a, atol=1e-6)


def test_each_transformation_has_the_published_range():
    zeros, ones = np.zeros((64, 28, 28, 1), "float32"), np.ones((64, 28, 28, 1), "float32")
    colour = DiffAugment("color")(zeros, knoise.StepNoise(0, 1)).numpy()
    shifts = colour.reshape(64, -1)
    assert np.allclose(shifts, shifts[:, :1], atol=1e-6)                 # a constant image stays constant
    assert shifts.min() >= -0.5 - 1e-6 and shifts.max() <= 0.5 + 1e-6 and shifts[:, 0].std() > 0.2  # U(-.5, .5)
    cut = DiffAugment("cutout")(ones, knoise.StepNoise(0, 1)).numpy()
    zeroed = (cut == 0).reshape(64, -1).sum(axis=1)
    assert zeroed.max() == 14 * 14 and zeroed.min() > 0                  # a half-size square, clipped at edges
    # Translation: each image is the input shifted by whole pixels (dy, dx), uniform in [-4, 4] (1/8 of 28,
    # rounded), zeros shifted in. Every pixel of the input has its own value, so the shift can be read off.
    numbered = np.tile(np.arange(1, 28 * 28 + 1, dtype="float32").reshape(1, 28, 28, 1), (512, 1, 1, 1))
    moved = DiffAugment("translation")(numbered, knoise.StepNoise(0, 1)).numpy()
    shifts = []
    for image in moved[..., 0]:
        i, j = np.argwhere(image > 0)[0]
        r, c = divmod(int(image[i, j]) - 1, 28)
        dy, dx = i - r, j - c
        expected = np.zeros((28, 28), "float32")
        expected[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
            numbered[0, max(-dy, 0):28 + min(-dy, 0), max(-dx, 0):28 + min(-dx, 0), 0]
        np.testing.assert_array_equal(image, expected)
        shifts.append((dy, dx))
    for axis in range(2):
        counts = np.bincount(np.array(shifts)[:, axis] + 4, minlength=9)
        assert len(counts) == 9 and counts.min() > 30, counts                # all of -4..4, about 57 each
    with pytest.raises(ValueError, match="unknown DiffAugment transformation.*color, translation, cutout"):
        parse_policy("color,flip")


def test_contrast_and_saturation_have_the_published_ranges_on_images_they_change():
    """On grey images with spatial detail, saturation is a no-op and the contrast factor is std(out) / std(in),
    U(0.5, 1.5); on flat colour images, contrast (about each channel's mean) is a no-op and the saturation factor is
    each pixel's deviation from its channel mean, out over in, U(0, 2). Brightness is the change of the mean."""
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.uniform(-0.4, 0.4, (256, 8, 8, 1)), 3, axis=-1).astype("float32")
    out = DiffAugment("color")(grey, knoise.StepNoise(2, 3)).numpy()
    contrast = out.reshape(256, -1).std(1) / grey.reshape(256, -1).std(1)
    assert 0.5 - 1e-4 <= contrast.min() < 0.6 and 1.4 < contrast.max() <= 1.5 + 1e-4, contrast
    brightness = out.reshape(256, -1).mean(1) - grey.reshape(256, -1).mean(1)
    assert -0.5 - 1e-4 <= brightness.min() < -0.4 and 0.4 < brightness.max() <= 0.5 + 1e-4
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-5)        # still grey: saturation changed nothing

    colour = np.broadcast_to(rng.uniform(-0.4, 0.4, (256, 1, 1, 3)), (256, 8, 8, 3)).astype("float32")
    out = DiffAugment("color")(colour, knoise.StepNoise(4, 5)).numpy()
    assert np.allclose(out, out[:, :1, :1, :], atol=1e-5)                  # still flat: contrast changed nothing
    deviation_in = colour[:, 0, 0, :] - colour[:, 0, 0, :].mean(-1, keepdims=True)
    deviation_out = out[:, 0, 0, :] - out[:, 0, 0, :].mean(-1, keepdims=True)
    saturation = (deviation_out * deviation_in).sum(-1) / (deviation_in ** 2).sum(-1)
    np.testing.assert_allclose(deviation_out, saturation[:, None] * deviation_in, atol=1e-4)
    assert -1e-4 <= saturation.min() < 0.1 and 1.9 < saturation.max() <= 2 + 1e-4, saturation


def test_generator_gradient_through_the_augmentation_equals_finite_differences():
    """A tiny generator (z -> 8x8x3 images); the gradient of a fixed linear read-out of the augmented images
    with respect to one generator weight equals the central finite difference (the augmentation of a fixed
    (seed, step) is linear in the pixels) and is not zero."""
    keras.utils.set_random_seed(0)
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8 * 8 * 3, activation="tanh"),
                                  keras.layers.Reshape((8, 8, 3))])
    z = tf.constant(np.random.default_rng(1).standard_normal((4, 2)).astype("float32"))
    readout = tf.constant(np.random.default_rng(2).standard_normal((4, 8, 8, 3)).astype("float32"))
    augment = DiffAugment()

    def loss():
        return tf.reduce_sum(readout * augment(generator(z), knoise.StepNoise(5, 2)))

    kernel = generator.layers[0].kernel
    with tf.GradientTape() as tape:
        value = loss()
    grad = tape.gradient(value, kernel).numpy()
    assert np.abs(grad).sum() > 0
    for index in [(0, 0), (1, 17), (0, 101)]:
        original = kernel.numpy()
        eps = 1e-2
        for sign in (+1, -1):
            changed = original.copy()
            changed[index] += sign * eps
            kernel.assign(changed)
            if sign > 0:
                up = float(loss())
            else:
                down = float(loss())
        kernel.assign(original)
        assert (up - down) / (2 * eps) == pytest.approx(grad[index], rel=2e-2, abs=2e-3), index


class Recorder(keras.layers.Layer):
    """Keeps every batch the discriminator is called on during a step (in a variable, so a compiled step can)."""

    def __init__(self, calls, shape, **kwargs):
        super().__init__(**kwargs)
        self.buffer = self.add_weight(shape=(calls, *shape), initializer="zeros", trainable=False, name="seen")
        self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="count")

    def call(self, x):
        self.buffer.assign(tf.tensor_scatter_nd_update(self.buffer, tf.reshape(self.count, (1, 1)), x[None]))
        self.count.assign_add(1)
        return x


def test_the_discriminator_sees_the_augmented_batches_in_both_updates():
    """What the discriminator is called on in a compiled step equals DiffAugment of the real batch and of the
    fakes with that step's noise: in the critic's update (real, then fake) and in the generator's (new fakes).
    A loop that skipped the augmentation in either update would show here; a finite loss would not."""
    from kzoo.models import AdversarialModel
    batch, latent, shape = 4, 3, (8, 8, 1)
    rng = np.random.default_rng(0)
    z_in = keras.Input((latent,))
    generator = keras.Model(z_in, keras.layers.Reshape(shape)(keras.layers.Dense(64, activation="tanh")(z_in)))
    recorder = Recorder(3, (batch, *shape))
    x_in = keras.Input(shape)
    critic = keras.Model(x_in, keras.layers.Dense(1)(keras.layers.Flatten()(recorder(x_in))))
    gan = AdversarialModel(generator, critic, seed=5, augment="color,translation,cutout")
    gan.compile()
    real = rng.uniform(-1, 1, (batch, *shape)).astype("float32")

    # The step's draws, in the loop's order: the critic's fakes, their and the real batch's augmentation, the
    # generator's fakes and theirs (with the generator before its update).
    noise, augment = knoise.StepNoise(5, 0), DiffAugment("color,translation,cutout")
    fakes = generator(noise.normal((batch, latent)))
    expected_real, expected_fake = augment(real, noise).numpy(), augment(fakes, noise).numpy()
    expected_generator = augment(generator(noise.normal((batch, latent))), noise).numpy()

    gan.fit(real, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    seen = recorder.buffer.numpy()
    assert int(recorder.count.numpy()) == 3
    for got, want, what in zip(seen, (expected_real, expected_fake, expected_generator),
                               ("real (critic)", "fake (critic)", "fake (generator)")):
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=what)
    assert np.abs(seen[0] - real).max() > 0.1  # the augmentation changed the batch


def test_the_adversarial_loop_trains_with_diffaugment_and_keeps_it():
    from kzoo.models import AdversarialModel
    from kzoo.networks import build_gan_networks
    generator, critic = build_gan_networks("dcgan28", 8, (28, 28, 1))
    gan = AdversarialModel(generator, critic, seed=0, augment="translation,cutout")
    gan.compile()
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    history = gan.fit(images, batch_size=8, epochs=1, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, gan.generator.trainable_weights))
    config = gan.get_config()
    assert config["augment"] == "translation,cutout"
    assert AdversarialModel.from_config(config).augment_policy == "translation,cutout"
    assert "augment" not in AdversarialModel(*build_gan_networks("dcgan28", 8)).get_config()


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_augments_in_float32_as_float32_does(precision):
    """Under a mixed policy (`kzoo train` picks mixed_bfloat16 on CPUs with native bfloat16) the keras-cv layers
    would compute in the low precision while their factors are float32; the augmentation stays float32 and
    equals the float32 policy's for the same seed, and a GAN with DiffAugment trains a step."""
    images = tf.random.stateless_uniform((4, 16, 16, 3), (1, 2), -1.0, 1.0)
    expected = DiffAugment()(images, 5).numpy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        got = DiffAugment()(tf.cast(images, keras.mixed_precision.global_policy().compute_dtype), 5)
        assert got.dtype == tf.float32
        # The low-precision input rounds the images: agreement to that rounding, not beyond.
        np.testing.assert_allclose(got.numpy(), expected, atol=4e-2 if precision == "mixed_bfloat16" else 4e-3)
        from kzoo.models import AdversarialModel
        from kzoo.networks import build_gan_networks
        gan = AdversarialModel(*build_gan_networks("dcgan28", 8, (28, 28, 1)), seed=0,
                               augment="color,translation,cutout")
        gan.compile()
        batch = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
        history = gan.fit(batch, batch_size=8, epochs=1, verbose=0)
        assert all(np.isfinite(v).all() for v in history.history.values())
    finally:
        keras.mixed_precision.set_global_policy("float32")
