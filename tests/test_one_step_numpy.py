"""One training step of each family against the same step computed by hand in numpy.

Tiny linear networks make the gradients writable in closed form, so each test checks the whole `train_step`
(losses, their reductions, which networks each update touches, the order of the updates, the replica scaling on
one device) against independent arithmetic: the weights after one SGD update must agree to 1e-5. The training
noise is the model's own `StepNoise` draws (the random numbers are an input here, not what is under test).
"""

import keras
import numpy as np
import pytest
from keras import layers

import kzoo
from kzoo.noise import StepNoise

PIXELS, LATENT, BATCH, LR, SEED = 4, 2, 6, 0.1, 7


def _images(rng):
    return rng.uniform(0.05, 0.95, (BATCH, 2, 2, 1)).astype(np.float32)


def _linear_encoder(rng):
    x = keras.Input((2, 2, 1))
    h = layers.Flatten()(x)
    mean = layers.Dense(LATENT, name="mean")(h)
    log_var = layers.Dense(LATENT, name="log_var")(h)
    encoder = keras.Model(x, [mean, log_var])
    _randomise(encoder, rng)
    return encoder


def _linear_decoder(rng):
    z = keras.Input((LATENT,))
    decoder = keras.Model(z, layers.Reshape((2, 2, 1))(layers.Dense(PIXELS, name="logits")(z)))
    _randomise(decoder, rng)
    return decoder


def _randomise(model, rng, scale=0.5):
    # Non-zero biases too, so a wrong bias gradient shows.
    model.set_weights([rng.normal(0, scale, w.shape).astype(np.float32) for w in model.get_weights()])


def _draws(*shapes, step=0):
    """The model's noise for step `step`: its draws in the order `train_step` makes them."""
    noise = StepNoise(SEED, step)
    return [noise.normal(shape).numpy().astype(np.float64) for shape in shapes]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _vae_backward(x, eps, wm, bm, wv, bv, wd, bd, beta, extra_dz=None):
    """Gradients of mean(BCE_sum + beta * KL) through a linear encoder and decoder; returns (grads, z)."""
    mean, log_var = x @ wm + bm, x @ wv + bv
    z = mean + np.exp(0.5 * log_var) * eps
    logits = z @ wd + bd
    d_logits = (_sigmoid(logits) - x) / BATCH              # d BCE_sum / d logits, batch mean
    dz = d_logits @ wd.T + (0.0 if extra_dz is None else extra_dz)
    d_mean = dz + beta * mean / BATCH                      # d KL / d mean = mean
    d_log_var = dz * eps * 0.5 * np.exp(0.5 * log_var) + beta * -0.5 * (1.0 - np.exp(log_var)) / BATCH
    grads = [x.T @ d_mean, d_mean.sum(0), x.T @ d_log_var, d_log_var.sum(0), z.T @ d_logits, d_logits.sum(0)]
    return grads, z


def test_vae_step_equals_the_numpy_step():
    rng = np.random.default_rng(0)
    encoder, decoder = _linear_encoder(rng), _linear_decoder(rng)
    model = kzoo.VAE(encoder, decoder, beta=0.7, seed=SEED)
    model.compile(optimizer=keras.optimizers.SGD(LR))
    images = _images(rng)
    before = [w.astype(np.float64) for w in encoder.get_weights() + decoder.get_weights()]
    model.fit(images, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    x = images.reshape(BATCH, PIXELS).astype(np.float64)
    (eps,) = _draws((BATCH, LATENT))
    grads, _ = _vae_backward(x, eps, *before, beta=0.7)
    expected = [w - LR * g for w, g in zip(before, grads)]
    for got, want in zip(encoder.get_weights() + decoder.get_weights(), expected):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert not np.allclose(expected[0], before[0], atol=1e-3), "the step must move the weights"


def _linear_gan(rng):
    z = keras.Input((LATENT,))
    generator = keras.Model(z, layers.Reshape((2, 2, 1))(layers.Dense(PIXELS, name="g")(z)))
    x = keras.Input((2, 2, 1))
    critic = keras.Model(x, layers.Dense(1, name="d")(layers.Flatten()(x)))
    _randomise(generator, rng)
    _randomise(critic, rng)
    return generator, critic


# d loss / d output, per output, for the loss pairs written out (batch means).
LOSS_GRADIENTS = {
    "non_saturating": dict(real=lambda r: -_sigmoid(-r) / BATCH, fake=lambda f: _sigmoid(f) / BATCH,
                           gen=lambda f: -_sigmoid(-f) / BATCH),
    "wasserstein": dict(real=lambda r: -np.ones_like(r) / BATCH, fake=lambda f: np.ones_like(f) / BATCH,
                        gen=lambda f: -np.ones_like(f) / BATCH),
    "hinge": dict(real=lambda r: -(r < 1.0).astype(float) / BATCH, fake=lambda f: (f > -1.0).astype(float) / BATCH,
                  gen=lambda f: -np.ones_like(f) / BATCH),
}


@pytest.mark.parametrize("loss", sorted(LOSS_GRADIENTS))
def test_adversarial_step_equals_the_numpy_step(loss):
    rng = np.random.default_rng(1)
    generator, critic = _linear_gan(rng)
    model = kzoo.AdversarialModel(generator, critic, loss=loss, seed=SEED, pixel_range=(0.0, 1.0))
    model.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    real = _images(rng)
    wg, bg = [w.astype(np.float64) for w in generator.get_weights()]
    wd, bd = [w.astype(np.float64) for w in critic.get_weights()]
    model.fit(real, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    g = LOSS_GRADIENTS[loss]
    z_critic, z_generator = _draws((BATCH, LATENT), (BATCH, LATENT))
    x = real.reshape(BATCH, PIXELS).astype(np.float64)
    fake = z_critic @ wg + bg
    d_real, d_fake = g["real"](x @ wd + bd), g["fake"](fake @ wd + bd)
    wd2 = wd - LR * (x.T @ d_real + fake.T @ d_fake)
    bd2 = bd - LR * (d_real.sum(0) + d_fake.sum(0))
    # The generator's step sees the critic after its update.
    d_out = g["gen"]((z_generator @ wg + bg) @ wd2 + bd2)
    d_fake_images = d_out @ wd2.T
    wg2, bg2 = wg - LR * z_generator.T @ d_fake_images, bg - LR * d_fake_images.sum(0)

    for got, want in zip(critic.get_weights() + generator.get_weights(), [wd2, bd2, wg2, bg2]):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_critic_vae_step_equals_the_numpy_step():
    rng = np.random.default_rng(2)
    encoder, decoder = _linear_encoder(rng), _linear_decoder(rng)
    c = keras.Input((LATENT,))
    latent_critic = keras.Model(c, layers.Dense(1, name="c")(c))
    _randomise(latent_critic, rng)
    model = kzoo.CriticVAE(encoder, decoder, latent_critic, critic_weight=2.0, lipschitz=None, seed=SEED)
    model.compile(optimizer=keras.optimizers.SGD(LR), critic_optimizer=keras.optimizers.SGD(LR))
    images = _images(rng)
    autoencoder = [w.astype(np.float64) for w in encoder.get_weights() + decoder.get_weights()]
    wc, bc = [w.astype(np.float64) for w in latent_critic.get_weights()]
    model.fit(images, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    x = images.reshape(BATCH, PIXELS).astype(np.float64)
    eps_critic, prior_critic, eps_autoencoder, _ = _draws(*[(BATCH, LATENT)] * 4)
    wm, bm, wv, bv = autoencoder[:4]
    z_q = x @ wm + bm + np.exp(0.5 * (x @ wv + bv)) * eps_critic
    # Critic: minimise mean f(posterior codes) - mean f(prior codes); prior codes are its "real" inputs.
    wc2 = wc - LR * (z_q.T @ np.full((BATCH, 1), 1.0 / BATCH) - prior_critic.T @ np.full((BATCH, 1), 1.0 / BATCH))
    bc2 = bc  # the two means' bias terms cancel
    # Autoencoder: mean BCE + 2 * (mean f(prior) - mean f(z_q)); d/dz_q of the second term is -2 wc2^T / B.
    grads, _ = _vae_backward(x, eps_autoencoder, *autoencoder, beta=0.0,
                             extra_dz=np.tile(-2.0 * wc2.T / BATCH, (BATCH, 1)))
    expected = [w - LR * g for w, g in zip(autoencoder, grads)]

    np.testing.assert_allclose(latent_critic.get_weights()[0], wc2, atol=1e-5, rtol=0)
    np.testing.assert_allclose(latent_critic.get_weights()[1], bc2, atol=1e-5, rtol=0)
    for got, want in zip(encoder.get_weights() + decoder.get_weights(), expected):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("penalty", ["r1", "gp"])
def test_a_penalised_step_equals_the_numpy_step(penalty):
    """R1 and the gradient penalty on a linear critic f(x) = x w + b, whose input gradient is w for every x:
    R1 adds weight/2 ||w||^2 (gradient weight * w), the penalty weight (||w|| - 1)^2 (gradient 2 weight (||w|| - 1)
    w / ||w||). The penalty's part of the update is checked, not only its value; the penalty's draw (the
    interpolation weights) comes between the critic's and the generator's latent draws."""
    rng = np.random.default_rng(5)
    generator, critic = _linear_gan(rng)
    lipschitz = kzoo.constraints.R1Penalty(weight=3.0) if penalty == "r1" else kzoo.constraints.GradientPenalty(3.0)
    model = kzoo.AdversarialModel(generator, critic, loss="non_saturating", lipschitz=lipschitz, seed=SEED,
                                  pixel_range=(0.0, 1.0))
    model.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    real = _images(rng)
    wg, bg = [w.astype(np.float64) for w in generator.get_weights()]
    wd, bd = [w.astype(np.float64) for w in critic.get_weights()]
    logs = model.fit(real, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history

    noise = StepNoise(SEED, 0)
    z_critic = noise.normal((BATCH, LATENT)).numpy().astype(np.float64)
    if penalty == "gp":
        noise.uniform((BATCH, 1, 1, 1))  # the interpolation weights: no part in a linear critic's gradient
    z_generator = noise.normal((BATCH, LATENT)).numpy().astype(np.float64)
    g = LOSS_GRADIENTS["non_saturating"]
    x = real.reshape(BATCH, PIXELS).astype(np.float64)
    fake = z_critic @ wg + bg
    d_real, d_fake = g["real"](x @ wd + bd), g["fake"](fake @ wd + bd)
    norm = np.linalg.norm(wd)
    if penalty == "r1":
        value, d_penalty = 0.5 * 3.0 * norm ** 2, 3.0 * wd
    else:
        value, d_penalty = 3.0 * (norm - 1) ** 2, 2 * 3.0 * (norm - 1) * wd / norm
    assert logs["penalty"][0] == pytest.approx(value, rel=1e-5)
    wd2 = wd - LR * (x.T @ d_real + fake.T @ d_fake + d_penalty)
    bd2 = bd - LR * (d_real.sum(0) + d_fake.sum(0))
    d_fake_images = g["gen"]((z_generator @ wg + bg) @ wd2 + bd2) @ wd2.T
    wg2, bg2 = wg - LR * z_generator.T @ d_fake_images, bg - LR * d_fake_images.sum(0)
    for got, want in zip(critic.get_weights() + generator.get_weights(), [wd2, bd2, wg2, bg2]):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


CLASSES, HIDDEN = 3, 3


def _conditional_generator(rng):
    """[z, label] -> [z, one_hot(label)] W + b."""
    z, y = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    joined = layers.Concatenate()([z, layers.CategoryEncoding(CLASSES, output_mode="one_hot")(y)])
    generator = keras.Model([z, y], layers.Reshape((2, 2, 1))(layers.Dense(PIXELS, name="g")(joined)))
    _randomise(generator, rng)
    return generator


def _softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _one_hot(labels):
    return np.eye(CLASSES)[labels]


def _fake_draws(noise):
    labels = kzoo.noise.categorical(BATCH, noise, [1.0 / CLASSES] * CLASSES).numpy()
    return labels, noise.normal((BATCH, LATENT)).numpy().astype(np.float64)


def test_an_auxiliary_classifier_step_equals_the_numpy_step():
    """AC-GAN: the critic outputs [score, class logits]; both players add auxiliary_weight times the
    cross-entropy of the logits (the critic on real and fake batches, the generator on its fakes) with their labels."""
    rng = np.random.default_rng(2)
    generator = _conditional_generator(rng)
    x_in = keras.Input((2, 2, 1))
    flat = layers.Flatten()(x_in)
    critic = keras.Model(x_in, [layers.Dense(1, name="score")(flat), layers.Dense(CLASSES, name="classes")(flat)])
    _randomise(critic, rng)
    model = kzoo.AdversarialModel(generator, critic, loss="non_saturating", seed=SEED, pixel_range=(0.0, 1.0),
                                  num_classes=CLASSES, auxiliary_weight=0.5)
    model.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    real, real_labels = _images(rng), np.array([0, 1, 2, 2, 1, 0], np.int32)
    wg, bg = [w.astype(np.float64) for w in generator.get_weights()]
    ws, bs = [critic.get_layer("score").get_weights()[i].astype(np.float64) for i in (0, 1)]
    wc, bc = [critic.get_layer("classes").get_weights()[i].astype(np.float64) for i in (0, 1)]
    logs = model.fit(real, real_labels, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history

    noise = StepNoise(SEED, 0)
    fake_labels, z = _fake_draws(noise)
    gen_labels, z2 = _fake_draws(noise)
    g = LOSS_GRADIENTS["non_saturating"]
    x = real.reshape(BATCH, PIXELS).astype(np.float64)
    fake = np.concatenate([z, _one_hot(fake_labels)], 1) @ wg + bg
    real_logits, fake_logits = x @ wc + bc, fake @ wc + bc
    cross_entropy = lambda logits, y: -np.mean(np.log(_softmax(logits)[np.arange(BATCH), y]))  # noqa: E731
    classes = cross_entropy(real_logits, real_labels) + cross_entropy(fake_logits, fake_labels)
    assert logs["class_loss"][0] == pytest.approx(classes, rel=1e-5)  # exactly, not only "above half of one term"
    d_real, d_fake = g["real"](x @ ws + bs), g["fake"](fake @ ws + bs)
    d_real_logits = 0.5 * (_softmax(real_logits) - _one_hot(real_labels)) / BATCH
    d_fake_logits = 0.5 * (_softmax(fake_logits) - _one_hot(fake_labels)) / BATCH
    ws2, bs2 = ws - LR * (x.T @ d_real + fake.T @ d_fake), bs - LR * (d_real.sum(0) + d_fake.sum(0))
    wc2 = wc - LR * (x.T @ d_real_logits + fake.T @ d_fake_logits)
    bc2 = bc - LR * (d_real_logits.sum(0) + d_fake_logits.sum(0))
    # The generator: its score loss plus 0.5 x the cross-entropy of its fakes' logits with their labels.
    joined = np.concatenate([z2, _one_hot(gen_labels)], 1)
    fake2 = joined @ wg + bg
    d_images = (g["gen"](fake2 @ ws2 + bs2) @ ws2.T
                + 0.5 * (_softmax(fake2 @ wc2 + bc2) - _one_hot(gen_labels)) / BATCH @ wc2.T)
    wg2, bg2 = wg - LR * joined.T @ d_images, bg - LR * d_images.sum(0)
    got = [*critic.get_layer("score").get_weights(), *critic.get_layer("classes").get_weights(),
           *generator.get_weights()]
    for have, want in zip(got, [ws2, bs2, wc2, bc2, wg2, bg2]):
        np.testing.assert_allclose(have, want, atol=1e-5, rtol=0)


def test_a_projection_conditional_step_equals_the_numpy_step():
    """A projection discriminator f(x, y) = h w + b + <E one_hot(y), h>, h = x W_h + b_h (Miyato & Koyama 2018),
    with R1 on the real images with their own labels, and a generator conditioned on its labels: the labels' part
    of both updates and of the penalty against numpy. The input gradient of f is W_h u with u = w + E one_hot(y),
    so R1 = weight/2 mean_i ||W_h u_i||^2."""
    rng = np.random.default_rng(3)
    generator = _conditional_generator(rng)
    x_in, y_in = keras.Input((2, 2, 1)), keras.Input((), dtype="int32")
    h = layers.Dense(HIDDEN, name="h")(layers.Flatten()(x_in))
    embedded = layers.Dense(HIDDEN, use_bias=False, name="embed")(layers.CategoryEncoding(CLASSES, "one_hot")(y_in))
    score = layers.Add()([layers.Dense(1, name="d")(h), layers.Dot(axes=1)([embedded, h])])
    critic = keras.Model([x_in, y_in], score)
    _randomise(critic, rng)
    model = kzoo.AdversarialModel(generator, critic, loss="hinge", seed=SEED, pixel_range=(0.0, 1.0),
                                  num_classes=CLASSES, lipschitz=kzoo.constraints.R1Penalty(weight=2.0))
    model.compile(d_optimizer=keras.optimizers.SGD(LR), g_optimizer=keras.optimizers.SGD(LR))
    real, real_labels = _images(rng), np.array([2, 0, 1, 1, 2, 2], np.int32)
    wg, bg = [w.astype(np.float64) for w in generator.get_weights()]
    wh, bh = [w.astype(np.float64) for w in critic.get_layer("h").get_weights()]
    (we,) = [w.astype(np.float64) for w in critic.get_layer("embed").get_weights()]
    wd, bd = [w.astype(np.float64) for w in critic.get_layer("d").get_weights()]
    logs = model.fit(real, real_labels, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history

    noise = StepNoise(SEED, 0)
    fake_labels, z = _fake_draws(noise)
    gen_labels, z2 = _fake_draws(noise)
    g = LOSS_GRADIENTS["hinge"]
    x = real.reshape(BATCH, PIXELS).astype(np.float64)
    fake = np.concatenate([z, _one_hot(fake_labels)], 1) @ wg + bg

    def forward(images, labels, wh, bh, we, wd, bd):
        hidden, e = images @ wh + bh, _one_hot(labels) @ we
        return hidden, e, hidden @ wd + bd + (hidden * e).sum(1, keepdims=True)

    grads = {k: 0.0 for k in ("wh", "bh", "we", "wd", "bd")}
    for images, labels, d_score in ((x, real_labels, g["real"]), (fake, fake_labels, g["fake"])):
        hidden, e, s = forward(images, labels, wh, bh, we, wd, bd)
        ds = d_score(s)
        dh = ds @ wd.T + ds * e
        grads["wd"] += hidden.T @ ds
        grads["bd"] += ds.sum(0)
        grads["we"] += _one_hot(labels).T @ (ds * hidden)
        grads["wh"] += images.T @ dh
        grads["bh"] += dh.sum(0)
    u = wd[:, 0] + _one_hot(real_labels) @ we  # [batch, hidden]: the input gradient of example i is W_h u_i
    input_grads = u @ wh.T
    assert logs["penalty"][0] == pytest.approx(0.5 * 2.0 * np.mean((input_grads ** 2).sum(1)), rel=1e-5)
    d_u = 2.0 * (u @ wh.T @ wh) / BATCH  # d(weight/2 mean_i ||W_h u_i||^2) / d u_i, weight 2
    grads["wh"] += 2.0 * wh @ (u.T @ u) / BATCH
    grads["wd"] += d_u.sum(0)[:, None]
    grads["we"] += _one_hot(real_labels).T @ d_u
    new = {k: v - LR * grads[k] for k, v in dict(wh=wh, bh=bh, we=we, wd=wd, bd=bd).items()}
    joined = np.concatenate([z2, _one_hot(gen_labels)], 1)
    fake2 = joined @ wg + bg
    hidden, e, s = forward(fake2, gen_labels, new["wh"], new["bh"], new["we"], new["wd"], new["bd"])
    ds = g["gen"](s)
    d_images = (ds @ new["wd"].T + ds * e) @ new["wh"].T
    wg2, bg2 = wg - LR * joined.T @ d_images, bg - LR * d_images.sum(0)
    got = [*critic.get_layer("h").get_weights(), *critic.get_layer("embed").get_weights(),
           *critic.get_layer("d").get_weights(), *generator.get_weights()]
    for have, want in zip(got, [new["wh"], new["bh"], new["we"], new["wd"], new["bd"], wg2, bg2]):
        np.testing.assert_allclose(have, want, atol=1e-5, rtol=0)
