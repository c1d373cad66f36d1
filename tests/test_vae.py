import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import run_fit_test, run_model_saving_test, run_serialization_test

from kzoo import datasets
from kzoo.models import VAE
from kzoo.models.vae import LOG_VAR_RANGE
from kzoo.networks import VAE_DESIGNS, build_vae_networks

DESIGNS = sorted(VAE_DESIGNS)


def small_images(model, n=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, *model.image_shape)).astype("float32")


def encode_decode(model, inputs):
    images, z = inputs
    mean, log_var = model.encode(images)
    return [mean, log_var, model.decode(z), model.reconstruct(images)]


@pytest.mark.parametrize("design", DESIGNS)
def test_serialization_round_trip(design):
    model = VAE.from_design(design, reconstruction="mse", beta=2.5, seed=7)
    restored = run_serialization_test(model)
    assert (restored.reconstruction, restored.beta, restored.seed) == ("mse", 2.5, 7)
    assert restored.latent_dim == VAE_DESIGNS[design].latent_dim
    assert restored.count_params() == model.count_params()


@pytest.mark.parametrize("design", DESIGNS)
def test_keras_file_round_trip_after_training(design, tmp_path):
    model = VAE.from_design(design, seed=3)
    model.compile()
    images = small_images(model)
    model.fit(images, epochs=1, batch_size=4, verbose=0)
    z = np.random.default_rng(1).standard_normal((5, model.latent_dim)).astype("float32")
    loaded = run_model_saving_test(model, tmp_path, (images, z), encode_decode)
    # The optimizer comes back with its state, so training can go on where it stopped.
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("design", DESIGNS)
def test_one_step_fit_on_arrays_and_on_tf_data(design):
    model = VAE.from_design(design, seed=0)
    model.compile()
    images = small_images(model, n=4)
    history = run_fit_test(model, images, batch_size=4)
    assert set(history.history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert int(model.optimizer.iterations) == 1
    run_fit_test(model, tf.data.Dataset.from_tensor_slices(images).batch(4))
    assert int(model.optimizer.iterations) == 2
    # A labelled dataset is refused (an unconditional VAE would ignore the labels without a word).
    labelled = tf.data.Dataset.from_tensor_slices((images, np.zeros(4))).batch(4)
    with pytest.raises(ValueError, match="unconditional"):
        model.fit(labelled, verbose=0)
    assert int(model.optimizer.iterations) == 2


def test_reported_loss_is_reconstruction_plus_beta_kl():
    model = VAE.from_design("mlp256", beta=0.3, seed=0)
    model.compile()
    images = small_images(model, n=6)
    logs = model.evaluate(images, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + 0.3 * logs["kl_loss"], rtol=1e-5)


def test_epoch_figure_is_the_mean_over_images_with_a_short_last_batch():
    model = VAE.from_design("mlp256", seed=0)
    model.compile()
    images = small_images(model, n=5)
    # Encoder means only (no noise) are not what test_step uses, so compare with the same noise stream.
    per_image = []
    model.seed_generator = keras.random.SeedGenerator(11)
    for batch in (images[:4], images[4:]):
        per_image.append(np.asarray(model.compute_vae_losses(batch)[0]))
    model.seed_generator = keras.random.SeedGenerator(11)
    logs = model.evaluate(images, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], np.concatenate(per_image).mean(), rtol=1e-5)


def test_loss_terms_equal_the_formulas_in_numpy():
    """Per-image BCE summed over pixels and the closed-form KL, written out in numpy on the same draw of z."""
    from kzoo.noise import StepNoise
    model = VAE.from_design("conv28", seed=5, beta=0.3)
    images = small_images(model, n=3)
    total, rec, kl = [np.asarray(t, np.float64) for t in model.compute_vae_losses(images, noise=StepNoise(9, 4))]
    mean, log_var = [np.asarray(t, np.float64) for t in model.encode(images)]
    eps = StepNoise(9, 4).normal(mean.shape).numpy()  # the same first draw of the same step
    z = mean + np.exp(0.5 * log_var) * eps
    p = 1.0 / (1.0 + np.exp(-np.asarray(model.decoder(z.astype("float32")), np.float64)))
    x = images.astype(np.float64)
    expected_rec = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    expected_kl = 0.5 * np.sum(np.exp(log_var) + mean ** 2 - 1.0 - log_var, axis=1)
    np.testing.assert_allclose(rec, expected_rec, rtol=1e-4)
    np.testing.assert_allclose(kl, expected_kl, rtol=1e-4)
    np.testing.assert_allclose(total, expected_rec + 0.3 * expected_kl, rtol=1e-4)
    assert expected_kl.min() > 0 and expected_rec.min() > 0


def test_extreme_posterior_log_variances_are_bounded_and_keep_the_loss_finite():
    model = VAE.from_design("mlp256", seed=3)
    images = small_images(model, n=4)
    bias = model.encoder.get_layer("log_var").bias
    natural = np.asarray(model.encoder(images)[1])
    assert np.all(np.asarray(model.encode(images)[1]) == natural)   # identity inside the bounds
    for offset, bound in ((1e4, LOG_VAR_RANGE[1]), (-1e4, LOG_VAR_RANGE[0])):
        bias.assign(np.full(bias.shape, offset, "float32"))
        log_var = np.asarray(model.encode(images)[1])
        np.testing.assert_array_equal(log_var, np.full_like(log_var, bound))
        total, _, kl = [np.asarray(t) for t in model.compute_vae_losses(images)]
        assert np.all(np.isfinite(total)) and np.all(np.isfinite(kl))
        # The closed-form KL at the bound: 0.5 * (exp(b) - 1 - b) per dimension, means unchanged.
        mean = np.asarray(model.encode(images)[0], np.float64)
        expected = 0.5 * np.sum(np.exp(bound) - 1 - bound + mean ** 2, axis=-1)
        np.testing.assert_allclose(kl, expected, rtol=1e-5)


def test_generation_interfaces():
    model = VAE.from_design("conv28", seed=0)
    samples = np.asarray(model.sample(6, seed=1))
    assert samples.shape == (6, 28, 28, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, np.asarray(model.sample(6, seed=1)))
    z = np.zeros((2, model.latent_dim), "float32")
    np.testing.assert_array_equal(np.asarray(model.generate(z)), np.asarray(model.decode(z)))
    images = small_images(model, n=2)
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(model.reconstruct(images)))


def test_reparameterisation_noise_is_seeded():
    a, b = VAE.from_design("mlp256", seed=9), VAE.from_design("mlp256", seed=9)
    b.set_weights(a.get_weights())
    images = small_images(a, n=4)
    np.testing.assert_array_equal(np.asarray(a.compute_vae_losses(images)[0]),
                                  np.asarray(b.compute_vae_losses(images)[0]))


def test_bad_construction_is_refused():
    encoder, _ = build_vae_networks("mlp256", latent_dim=10)
    _, decoder = build_vae_networks("mlp256", latent_dim=12)
    with pytest.raises(ValueError, match="latent size 10 differs"):
        VAE(encoder, decoder)
    with pytest.raises(ValueError, match="reconstruction"):
        VAE.from_design("mlp256", reconstruction="l1")
    with pytest.raises(ValueError, match="built for 28x28"):
        build_vae_networks("conv28", image_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="unknown VAE design"):
        build_vae_networks("resnet")


def test_mlp_designs_follow_the_data_shape():
    model = VAE.from_design("mlp_rgb64", image_shape=(32, 32, 3))
    assert model.image_shape == (32, 32, 3)
    assert np.asarray(model.sample(2, seed=0)).shape == (2, 32, 32, 3)


def test_published_layer_sizes():
    enc, dec = build_vae_networks("conv28")
    assert [layer.filters for layer in enc.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 64]
    assert enc.outputs[0].shape[-1] == 20 and dec.outputs[0].shape[1:] == (28, 28, 1)
    enc, _ = build_vae_networks("mlp600")
    assert [layer.units for layer in enc.layers if isinstance(layer, keras.layers.Dense)] == [600, 600, 50, 50]
    assert isinstance(enc.layers[3], keras.layers.BatchNormalization)
    enc, _ = build_vae_networks("mlp_rgb64")
    assert [layer.units for layer in enc.layers if isinstance(layer, keras.layers.Dense)] == [512, 512, 16, 16]
    enc, dec = build_vae_networks("infogan28")
    assert [layer.filters for layer in enc.layers if isinstance(layer, keras.layers.Conv2D)] == [64, 128]
    assert [layer.units for layer in dec.layers if isinstance(layer, keras.layers.Dense)] == [1024, 7 * 7 * 128]
    assert enc.outputs[0].shape[-1] == 64 and dec.outputs[0].shape[1:] == (28, 28, 1)


def test_a_mean_readout_critic_scores_the_mean_of_its_linear_outputs():
    from kzoo import presets
    from kzoo.networks import mlp_critic
    critic = mlp_critic(10, (512, 256, 10), readout="mean")
    assert [layer.units for layer in critic.layers if isinstance(layer, keras.layers.Dense)] == [512, 256, 10]
    codes = np.random.default_rng(0).standard_normal((6, 10)).astype("float32")
    hidden = keras.Model(critic.inputs[0], critic.get_layer("outputs").input)(codes)
    kernel, bias = critic.get_layer("outputs").get_weights()
    # The same score as one linear unit with the averaged weights: both readouts span the same critics.
    np.testing.assert_allclose(np.asarray(critic(codes)), np.asarray(hidden) @ kernel.mean(1, keepdims=True)
                               + bias.mean(), rtol=1e-5, atol=1e-6)
    reloaded = keras.Model.from_config(critic.get_config())
    reloaded.set_weights(critic.get_weights())
    np.testing.assert_array_equal(np.asarray(reloaded(codes)), np.asarray(critic(codes)))
    model = presets.build_model(presets.get("critic_vae_mnist_mean10"), seed=0)
    assert model.latent_critic.outputs[0].shape[-1] == 1
    assert "critic_readout" not in presets.get("critic_vae_mnist")["model"]  # older runs keep their fingerprints
    with pytest.raises(ValueError, match="readout"):
        mlp_critic(10, (512, 256), readout="max")
    with pytest.raises(ValueError, match="hidden layers"):
        presets.Preset.from_dict("x", {**presets.get("critic_vae_mnist_mean10"), "model": {
            **presets.get("critic_vae_mnist_mean10")["model"], "critic_units": [10]}})


def test_loss_decreases_on_a_small_real_subset():
    model = VAE.from_design("conv28", seed=0)
    model.compile()
    ds = datasets.load("fashion_mnist", batch_size=64, take=2048, seed=0)
    history = model.fit(ds, epochs=4, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history
    # Reconstructing held-out images beats reconstructing with an untrained model by a wide margin.
    test = datasets.to_pixel_range(datasets.load_arrays("fashion_mnist", "test").images[:256])
    fresh = VAE.from_design("conv28", seed=0)
    trained_error = np.mean((np.asarray(model.reconstruct(test)) - test) ** 2)
    fresh_error = np.mean((np.asarray(fresh.reconstruct(test)) - test) ** 2)
    assert trained_error < 0.5 * fresh_error


@pytest.mark.slow
def test_conv_vae_reaches_the_published_fashion_mnist_loss(tmp_path):
    """Design 1 with its published settings: final-epoch training loss <= 240.98 (BCE + KL per image)."""
    from kzoo import training
    summary = training.train("vae_conv_fashion", tmp_path / "run", verbose=0)
    assert summary["epochs"] == 20
    assert summary["final"]["loss"] <= 240.98, summary["final"]


def test_encode_returns_float32_under_mixed_bfloat16():
    import keras
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        vae = VAE.from_design("mlp256", latent_dim=4, seed=0)
    finally:
        keras.config.set_dtype_policy(previous)
    mean, log_var = vae.encode(np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32"))
    assert keras.backend.standardize_dtype(mean.dtype) == keras.backend.standardize_dtype(log_var.dtype) == "float32"
    assert vae.encoder.compute_dtype == "bfloat16"
