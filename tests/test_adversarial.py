import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_model_saving_test, run_serialization_test

from kzoo import constraints
from kzoo.losses import LOSS_PAIRS, adversarial, get_loss_pair, gradient_penalty
from kzoo.models import AdversarialModel
from kzoo.networks import mlp_critic, mlp_generator

REAL = np.array([[2.0], [-1.0], [0.5], [3.0]], "float32")
FAKE = np.array([[-2.0], [0.3], [1.5], [-0.7]], "float32")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_each_loss_pair_equals_its_formula():
    r, f = REAL.astype(np.float64), FAKE.astype(np.float64)
    expected = {
        "minimax": (-np.mean(np.log(sigmoid(r))) - np.mean(np.log(1 - sigmoid(f))), np.mean(np.log(1 - sigmoid(f)))),
        "non_saturating": (-np.mean(np.log(sigmoid(r))) - np.mean(np.log(1 - sigmoid(f))),
                           -np.mean(np.log(sigmoid(f)))),
        "wasserstein": (np.mean(f) - np.mean(r), -np.mean(f)),
        "hinge": (np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)), -np.mean(f)),
        "least_squares": (0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2), 0.5 * np.mean((f - 1) ** 2)),
    }
    assert set(expected) == set(LOSS_PAIRS)
    for name, (d, g) in expected.items():
        pair = get_loss_pair(name)
        np.testing.assert_allclose(float(pair.discriminator(REAL, FAKE)), d, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(float(pair.generator(FAKE)), g, rtol=1e-5, err_msg=name)


def test_sigmoid_probability_form_agrees_with_the_logit_form():
    p_real, p_fake = sigmoid(REAL).astype("float32"), sigmoid(FAKE).astype("float32")
    np.testing.assert_allclose(float(adversarial.minimax_discriminator_loss(p_real, p_fake, from_logits=False)),
                               float(adversarial.minimax_discriminator_loss(REAL, FAKE)), rtol=1e-5)
    np.testing.assert_allclose(float(adversarial.minimax_generator_loss(p_fake, from_logits=False)),
                               float(adversarial.minimax_generator_loss(FAKE)), rtol=1e-5)
    np.testing.assert_allclose(float(adversarial.non_saturating_generator_loss(p_fake, from_logits=False)),
                               float(adversarial.non_saturating_generator_loss(FAKE)), rtol=1e-5)
    # And the logit form stays finite where the probability saturates to exactly 0 or 1 in float32.
    extreme = np.array([[-120.0], [120.0]], "float32")
    assert np.isfinite(float(adversarial.minimax_discriminator_loss(extreme, extreme)))
    np.testing.assert_allclose(float(adversarial.non_saturating_generator_loss(extreme)), 60.0, rtol=1e-6)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="non_saturating"):
        get_loss_pair("relativistic")


def linear_critic(w, bias=0.3):
    """f(x) = w . flatten(x) + b, whose gradient is w everywhere."""
    w = np.asarray(w, "float32")
    inputs = keras.Input((len(w),))
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w[:, None], np.array([bias], "float32")])
    return model


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.6, 0.8], [0.1, -0.2], [1.0, 0.0]])
def test_gradient_penalty_of_a_linear_critic_is_exact(w):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(16, 2)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    penalty = float(gradient_penalty(linear_critic(w), real, fake, seed=1, weight=10.0))
    np.testing.assert_allclose(penalty, 10.0 * (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_is_finite_at_a_zero_gradient():
    critic = linear_critic([0.0, 0.0])
    x = np.ones((4, 2), "float32")
    with tf.GradientTape() as tape:
        penalty = gradient_penalty(critic, x, x, seed=0, weight=10.0)
    grads = tape.gradient(penalty, critic.trainable_variables)
    np.testing.assert_allclose(float(penalty), 10.0, rtol=1e-5)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)


def test_gradient_penalty_interpolates_uniformly_per_example():
    # f(x) = |x|^2 / 2 has gradient x; with fake = 0, ||grad|| = a * |real| for a ~ U[0, 1], so
    # E[(a r - 1)^2] = r^2 / 3 - r + 1 (a normal weight would give r^2 - 0 + 1 instead).
    inputs = keras.Input((1,))
    critic = keras.Model(inputs, keras.layers.Lambda(lambda x: 0.5 * tf.reduce_sum(x ** 2, 1, keepdims=True))(inputs))
    r = 2.0
    real, fake = np.full((20000, 1), r, "float32"), np.zeros((20000, 1), "float32")
    penalty = float(gradient_penalty(critic, real, fake, seed=3, weight=1.0))
    assert abs(penalty - (r * r / 3 - r + 1)) < 0.02


def test_weight_clip_constraint_and_strategy_registry():
    clip = constraints.WeightClip(0.05)
    np.testing.assert_array_equal(np.asarray(clip(np.array([-1.0, 0.01, 0.3], "float32"))),
                                  np.array([-0.05, 0.01, 0.05], "float32"))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(clip))
    assert isinstance(restored, constraints.WeightClip) and restored.clip_value == 0.05
    assert isinstance(constraints.get(None), constraints.NoLipschitz)
    assert constraints.get("clip").clip_value == 0.01 and constraints.get("gp").weight == 10.0
    assert constraints.get(constraints.serialize(constraints.GradientPenalty(3.0))).weight == 3.0
    assert constraints.get({"class_name": "WeightClipping", "config": {"clip_value": 0.2}}).clip_value == 0.2
    with pytest.raises(ValueError, match="gp"):
        constraints.get("orthogonal")
    with pytest.raises(ValueError, match="positive"):
        constraints.WeightClip(0.0)


class RecordingClipping(constraints.WeightClipping):
    """Weight clipping that records, after each critic update, the largest weight and the real batch seen."""

    def __init__(self, clip_value):
        super().__init__(clip_value)
        self.after_update_max, self.real_batches = [], []

    def penalty(self, critic, real, fake, seed=None):
        self.real_batches.append(np.array(real))
        return super().penalty(critic, real, fake, seed)

    def after_update(self, critic):
        super().after_update(critic)
        self.after_update_max.append(max(float(np.abs(v.numpy()).max()) for v in critic.trainable_variables))


def toy_model(n_critic, lipschitz, loss="wasserstein"):
    return AdversarialModel(mlp_generator(4, 2, (16,)), mlp_critic(2, (16,), name="critic"), loss=loss,
                            lipschitz=lipschitz, n_critic=n_critic, seed=0)


def test_clipping_after_every_critic_update_and_n_critic_counts():
    strategy = RecordingClipping(0.01)
    model = toy_model(3, strategy)
    # A large learning rate pushes weights far past the clip value before each clipping.
    model.compile(d_optimizer=keras.optimizers.SGD(1.0), g_optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    data = np.arange(2 * 12 * 2, dtype="float32").reshape(24, 2) / 10.0
    model.fit(data, batch_size=12, epochs=1, shuffle=False, verbose=0)
    # 2 generator steps of 12 real points = 3 critic batches of 4 each.
    assert int(model.d_optimizer.iterations) == 6 and int(model.optimizer.iterations) == 2
    assert len(strategy.after_update_max) == 6
    assert all(m <= 0.01 + 1e-9 for m in strategy.after_update_max)
    # Critic update i of a step saw real points i, i + 3, i + 6, i + 9 of that step's 12: every point once.
    expected = np.concatenate([data[s * 12:(s + 1) * 12][i::3] for s in range(2) for i in range(3)])
    np.testing.assert_array_equal(np.concatenate(strategy.real_batches), expected)


def test_trackers_follow_the_configuration():
    names = lambda m: [t.name for t in m.metrics]  # noqa: E731
    assert names(toy_model(1, None, "non_saturating")) == ["d_loss", "g_loss", "d_real", "d_fake"]
    assert names(toy_model(5, "clip")) == ["d_loss", "g_loss", "wasserstein"]
    assert names(toy_model(5, "gp")) == ["d_loss", "g_loss", "wasserstein", "penalty"]
    assert names(toy_model(1, None, "hinge")) == ["d_loss", "g_loss"]


def test_reported_probabilities_and_wasserstein_estimate_are_the_definitions():
    model = toy_model(1, None, "non_saturating")
    model.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    real = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    logs = model.evaluate(real, batch_size=8, verbose=0, return_dict=True)
    d_real = float(np.mean(np.asarray(model.discriminate(real))))
    np.testing.assert_allclose(logs["d_real"], d_real, rtol=1e-5)
    model = toy_model(1, "clip")
    model.compile()
    model.seed_generator = keras.random.SeedGenerator(5)
    logs = model.evaluate(real, batch_size=8, verbose=0, return_dict=True)
    model.seed_generator = keras.random.SeedGenerator(5)
    fake = model.generate(keras.random.normal((8, 4), seed=model.seed_generator))
    estimate = np.mean(np.asarray(model.discriminator(real))) - np.mean(np.asarray(model.discriminator(fake)))
    np.testing.assert_allclose(logs["wasserstein"], estimate, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logs["d_loss"], -logs["wasserstein"], rtol=1e-5, atol=1e-7)


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match="one value per image"):
        AdversarialModel(mlp_generator(4, 2), mlp_generator(2, 3))
    with pytest.raises(ValueError, match="differs from discriminator input"):
        AdversarialModel(mlp_generator(4, 3), mlp_critic(2))
    with pytest.raises(ValueError, match="n_critic"):
        toy_model(0, None)
    model = toy_model(1, None)
    with pytest.raises(ValueError, match="d_optimizer= and g_optimizer="):
        model.compile(optimizer="adam")


class RecordGeneratorWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after_step = []

    def on_train_batch_end(self, batch, logs=None):
        self.after_step.append([np.array(w) for w in self.model.generator.weights])


def test_averaged_generator_follows_the_moving_average_and_survives_saving(tmp_path):
    model = AdversarialModel(mlp_generator(4, 2, (16,)), mlp_critic(2, (16,)), seed=0, generator_ema=0.9)
    model.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1))
    expected = [np.array(w) for w in model.generator.weights]
    record = RecordGeneratorWeights()
    data = np.random.default_rng(0).normal(size=(40, 2)).astype("float32")
    model.fit(data, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    for t, live in enumerate(record.after_step, start=1):
        decay = min(0.9, (1 + t) / (10 + t))
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, live)]
    for average, value in zip(model.averaged_generator.weights, expected):
        np.testing.assert_allclose(np.asarray(average), value, rtol=1e-5, atol=1e-6)
    # Samples come from the average; training-mode generation and the live generator differ from them.
    z = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.generate(z)), np.asarray(model.averaged_generator(z)), rtol=1e-6)
    assert not np.allclose(np.asarray(model.generate(z)), np.asarray(model.generator(z)))
    assert not model.averaged_generator.trainable_weights
    run_serialization_test(model)
    loaded = run_model_saving_test(model, tmp_path, z, lambda m, x: m.generate(x))
    for a, b in zip(loaded.generator.weights, model.generator.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="between 0 and 1"):
        AdversarialModel(mlp_generator(4, 2), mlp_critic(2), generator_ema=1.0)


@pytest.mark.parametrize("w", [[3.0, 4.0], [0.6, 0.8], [0.0, 0.0]])
def test_r1_penalty_of_a_linear_critic_is_exact(w):
    """R1 = gamma / 2 * E ||grad f(x)||^2 on real data: for f(x) = w.x + b, gamma / 2 * |w|^2 whatever the data."""
    from kzoo.losses import r1_penalty
    real = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    np.testing.assert_allclose(float(r1_penalty(linear_critic(w), real, weight=10.0)),
                               5.0 * float(np.dot(w, w)), rtol=1e-5, atol=1e-7)
    strategy = constraints.get("r1")
    fake = np.full((16, 2), 1e3, "float32")  # R1 looks at real data only
    np.testing.assert_allclose(float(strategy.penalty(linear_critic(w), real, fake)), 5.0 * float(np.dot(w, w)),
                               rtol=1e-5, atol=1e-7)


def test_r1_penalty_of_a_quadratic_critic_follows_the_data():
    """f(x) = |x|^2 / 2 has gradient x, so R1 = gamma / 2 * mean |x|^2."""
    from kzoo.losses import r1_penalty
    inputs = keras.Input((3,))
    critic = keras.Model(inputs, keras.layers.Lambda(lambda x: 0.5 * tf.reduce_sum(x ** 2, 1, keepdims=True))(inputs))
    real = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    np.testing.assert_allclose(float(r1_penalty(critic, real, weight=2.0)),
                               float(np.mean(np.sum(real ** 2, axis=1))), rtol=1e-5)


def test_spectral_normalisation_makes_every_kernel_1_lipschitz():
    """Each wrapped kernel's largest singular value (kernel reshaped to [-1, out]) is 1 to 1e-2 after 60
    training calls (one power iteration each); the strategy survives a `.keras` round trip without wrapping twice."""
    from kzoo.networks import build_gan_networks
    generator, critic = build_gan_networks("dcgan28", latent_dim=8, batch_norm=False)
    gan = AdversarialModel(generator, critic, loss="hinge", lipschitz="spectral", seed=0)
    wrapped = [layer for layer in gan.discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 3
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in critic.layers)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype("float32")
    for _ in range(60):  # one power iteration per training call, as in training (Miyato et al.)
        gan.discriminator(images, training=True)
    for layer in wrapped:
        kernel = np.asarray(layer.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert abs(sigma - 1.0) < 1e-2, (layer.name, sigma)
    gan.compile()
    gan.fit(images, batch_size=8, epochs=1, verbose=0)
    import tempfile
    path = tempfile.mkdtemp() + "/gan.keras"
    gan.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.lipschitz, constraints.SpectralNormalization)
    assert sum(isinstance(layer, keras.layers.SpectralNormalization) for layer in restored.discriminator.layers) == 3
    np.testing.assert_allclose(np.asarray(restored.discriminator(images)), np.asarray(gan.discriminator(images)),
                               rtol=1e-5, atol=1e-6)
