"""Class-conditional generation on the one adversarial loop: labels through `fit`, fake labels from the class
frequencies, a projection discriminator, sampling and export by class, class-per-row grids, class fidelity."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import cli, datasets
from kzoo import noise as knoise
from kzoo.models import AdversarialModel
from kzoo.networks import build_gan_networks


def conditional_gan(latent_dim=8, classes=3, **kwargs):
    generator, critic = build_gan_networks("dcgan28", latent_dim, (28, 28, 1), num_classes=classes)
    gan = AdversarialModel(generator, critic, num_classes=classes, seed=0, **kwargs)
    gan.compile()
    return gan


def test_fake_labels_follow_the_class_frequencies():
    probabilities = [0.6, 0.3, 0.1, 0.0]
    labels = knoise.categorical(40000, knoise.StepNoise(3, 7), probabilities).numpy()
    shares = np.bincount(labels, minlength=4) / len(labels)
    assert np.all(np.abs(shares - probabilities) < 0.01) and shares[3] == 0
    again = knoise.categorical(40000, knoise.StepNoise(3, 7), probabilities).numpy()
    np.testing.assert_array_equal(labels, again)  # a function of (seed, step): resumable


def test_the_projection_discriminator_scores_with_the_label():
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: the label changes the score exactly by the projection term."""
    _, critic = build_gan_networks("dcgan28", 8, (28, 28, 1), num_classes=3)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    score = np.asarray(keras.Model(critic.inputs[0], critic.get_layer("score").output)(x))[:, 0]   # psi(phi(x))
    phi = np.asarray(keras.Model(critic.inputs[0], critic.get_layer("dot").input[0])(x))          # phi(x), flat
    embedding = np.asarray(critic.get_layer("label_projection").kernel)                           # [classes, dim]
    for label in range(3):
        got = np.asarray(critic([x, np.full(4, label, np.int32)]))[:, 0]
        np.testing.assert_allclose(got, score + phi @ embedding[label], rtol=1e-4, atol=1e-4)


def test_fit_needs_labels():
    gan = conditional_gan(latent_dim=4, classes=2)
    with pytest.raises(ValueError, match=r"class-conditional \(2 classes\) and takes \(images, labels\)"):
        gan.fit(np.zeros((8, 28, 28, 1), "float32"), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="one integer class label per image"):
        gan.fit(np.zeros((8, 28, 28, 1), "float32"), np.eye(2)[np.arange(8) % 2], batch_size=8, verbose=0)


@pytest.mark.slow
def test_a_conditional_gan_learns_each_class():
    """Two classes of constant images (-0.9 and +0.9): after 96 steps the generator draws dark images for class
    0 and light ones for class 1 (about 20 s)."""
    gan = conditional_gan(latent_dim=4, classes=2)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3, 0.5), g_optimizer=keras.optimizers.Adam(1e-3, 0.5))
    labels = np.arange(256) % 2
    images = np.where(labels[:, None, None, None] == 0, -0.9, 0.9).astype("float32") * np.ones((1, 28, 28, 1))
    gan.fit(images, labels, batch_size=32, epochs=12, verbose=0)
    z = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")
    dark = np.asarray(gan.generate(z, np.zeros(64, np.int32))).mean()
    light = np.asarray(gan.generate(z, np.ones(64, np.int32))).mean()
    assert dark < -0.3 and light > 0.3, (dark, light)


def test_labels_are_checked_and_default_to_classes_in_turn():
    gan = conditional_gan()
    z = np.zeros((4, 8), "float32")
    with pytest.raises(ValueError, match=r"labels must be 4 integers in \[0, 3\)"):
        gan.generate(z, np.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(np.asarray(gan.generate(z)), np.asarray(gan.generate(z, np.array([0, 1, 2, 0]))))
    with pytest.raises(ValueError, match="pass num_classes"):
        generator, critic = build_gan_networks("dcgan28", 8, (28, 28, 1), num_classes=3)
        AdversarialModel(generator, critic)
    with pytest.raises(ValueError, match="no class-conditional form"):
        build_gan_networks("dense_conv28", 8, num_classes=3)


def test_training_stream_keeps_each_label_with_its_image():
    ds, _ = datasets.training_stream("mnist", 64, (0.0, 1.0), seed=2, take=640, with_labels=True)
    arrays = datasets.load_arrays("mnist", "train")
    index = {arrays.images[i].tobytes(): arrays.labels[i] for i in range(640)}
    for x, y in ds.take(3):
        assert y.dtype == tf.int32
        assert [index[datasets.to_uint8(img).tobytes()] for img in x.numpy()] == y.numpy().tolist()


def test_save_export_sample_and_grid_by_class(tmp_path):
    from kzoo.callbacks import SampleGrid
    from kzoo.export import SavedModelGenerator, export_saved_model
    gan = conditional_gan(generator_ema=0.9, label_distribution=[0.5, 0.25, 0.25])
    gan.fit(np.zeros((8, 28, 28, 1), "float32"), np.array([0, 1, 2, 0, 1, 2, 0, 0]), batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.num_classes == 3 and loaded.label_distribution == (0.5, 0.25, 0.25)
    z = np.random.default_rng(0).standard_normal((6, 8)).astype("float32")
    y = np.array([2, 2, 1, 0, 1, 2], np.int32)
    np.testing.assert_array_equal(np.asarray(loaded.generate(z, y)), np.asarray(gan.generate(z, y)))
    out = export_saved_model(gan, tmp_path / "saved")
    assert json.loads((out / "kzoo.json").read_text())["num_classes"] == 3
    exported = SavedModelGenerator(out)
    np.testing.assert_allclose(np.asarray(exported.generate(z, y)), np.asarray(gan.generate(z, y)), atol=1e-5)
    saved = tf.saved_model.load(str(out))
    assert np.asarray(saved.discriminate(np.asarray(gan.generate(z, y)), y)).shape == (6, 1)
    # The epoch grid: one row per class, class 0 at the top.
    grid = SampleGrid(tmp_path / "samples", num_images=12, seed=0)
    grid.set_model(gan)
    grid.on_train_begin()
    assert grid.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and grid.ncols == 4
    assert grid.save(1).exists()
    # The command line: rows of the classes asked for.
    assert cli.main(["sample", "--model", str(path), "--labels", "2,0", "-n", "6", "--out",
                     str(tmp_path / "rows.png")]) == 0
    assert cli.main(["sample", "--model", str(path), "--labels", "5", "--out", str(tmp_path / "x.png")]) == 2


def test_class_fidelity_of_real_images_is_the_classifier_accuracy():
    """Real test images given as 'generated' with their true labels score the classifier's accuracy; with labels
    shifted by one class, almost nothing."""
    from kzoo.metrics.classifier import DomainClassifier, class_fidelity
    test = datasets.load_arrays("fashion_mnist", "test")
    images, labels = test.images[:2000], test.labels[:2000]
    classifier = DomainClassifier.load("fashion_mnist")
    honest = class_fidelity(classifier, images, labels, images, labels)
    assert honest["accuracy"] == pytest.approx(honest["real_accuracy"]) and honest["accuracy"] > 0.9
    assert all(c["classifier_fid"] == pytest.approx(0.0, abs=1e-4) for c in honest["per_class"])  # rounding
    shifted = class_fidelity(classifier, images, labels, images, (labels + 1) % 10)
    assert shifted["accuracy"] < 0.1 and all(c["classifier_fid"] > 10 for c in shifted["per_class"])


@pytest.mark.slow  # 17 s of training; the CVAE's labels, round trips and export are tested in the default suite
def test_a_cvae_draws_the_class_it_is_asked_for(tmp_path):
    """A conditional VAE (VAE family) trained for 2 epochs on 12,000 Fashion-MNIST images: the domain classifier
    assigns its samples to the class requested well above chance (10%; measured 31% after 2 epochs, 40% after 4,
    rising with training), and it survives `.keras` and SavedModel."""
    from kzoo import presets
    from kzoo.export import SavedModelGenerator, export_saved_model
    from kzoo.metrics.classifier import DomainClassifier, class_fidelity
    model = presets.build_model(presets.get("cvae_conv_fashion"), image_shape=(28, 28, 1), seed=0)
    with pytest.raises(ValueError, match="takes \\(images, labels\\)"):
        model.fit(np.zeros((4, 28, 28, 1), "float32"), batch_size=4, verbose=0)
    train = datasets.load_arrays("fashion_mnist", "train")
    model.fit(datasets.to_pixel_range(train.images[:12000]), train.labels[:12000], batch_size=128, epochs=2,
              verbose=0)
    labels = np.repeat(np.arange(10, dtype=np.int32), 50)
    z = np.random.default_rng(0).standard_normal((500, model.latent_dim)).astype("float32")
    samples = datasets.to_uint8(np.asarray(model.generate(z, labels)))
    test = datasets.load_arrays("fashion_mnist", "test")
    fidelity = class_fidelity(DomainClassifier.load("fashion_mnist"), test.images[:1000], test.labels[:1000],
                              samples, labels)
    assert fidelity["accuracy"] > 0.22, fidelity["accuracy"]
    shuffled = class_fidelity(DomainClassifier.load("fashion_mnist"), test.images[:1000], test.labels[:1000],
                              samples, (labels + 5) % 10)
    assert shuffled["accuracy"] < fidelity["accuracy"] / 2  # the samples follow their label, not another
    model.save(tmp_path / "cvae.keras")
    loaded = keras.models.load_model(tmp_path / "cvae.keras")
    np.testing.assert_array_equal(np.asarray(loaded.generate(z[:8], labels[:8])), np.asarray(model.generate(z[:8],
                                                                                                              labels[:8])))
    exported = SavedModelGenerator(export_saved_model(model, tmp_path / "saved"))
    np.testing.assert_allclose(np.asarray(exported.generate(z[:8], labels[:8])),
                               np.asarray(model.generate(z[:8], labels[:8])), atol=1e-5)
    saved = tf.saved_model.load(str(tmp_path / "saved"))
    encoded = saved.encode(np.asarray(model.generate(z[:8], labels[:8])), labels[:8])
    assert encoded["mean"].shape == (8, model.latent_dim)


def test_a_cvae_fits_with_labels_round_trips_and_follows_its_labels(tmp_path):
    """The CVAE in the default suite: one fit step with labels moves the weights; `.keras` and SavedModel give the
    same images; the label changes the image (a decoder that ignored it would pass every other check)."""
    from kzoo import presets
    from kzoo.export import SavedModelGenerator, export_saved_model
    model = presets.build_model(presets.get("cvae_conv_fashion"), image_shape=(28, 28, 1), seed=0)
    images = np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    labels = np.arange(8, dtype=np.int32) % 10
    before = [np.array(w) for w in model.decoder.weights]
    logs = model.fit(images, labels, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and model.optimizer.iterations.numpy() == 1
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(before, model.decoder.weights))
    z = np.random.default_rng(1).standard_normal((4, model.latent_dim)).astype("float32")
    first, other = np.asarray(model.generate(z, labels[:4])), np.asarray(model.generate(z, (labels[:4] + 3) % 10))
    assert np.abs(first - other).mean() > 1e-3, "the same codes with other labels must give other images"
    model.save(tmp_path / "cvae.keras")
    loaded = keras.models.load_model(tmp_path / "cvae.keras")
    np.testing.assert_array_equal(np.asarray(loaded.generate(z, labels[:4])), first)
    exported = SavedModelGenerator(export_saved_model(model, tmp_path / "saved"))
    np.testing.assert_allclose(np.asarray(exported.generate(z, labels[:4])), first, atol=1e-5)
    np.testing.assert_allclose(np.asarray(exported.generate(z, (labels[:4] + 3) % 10)), other, atol=1e-5)


def test_acgan_adds_the_class_loss_to_both_players(tmp_path):
    """With an auxiliary classifier the discriminator sees images only and also outputs class logits; the
    reported class loss is the cross-entropy of its logits on the real and fake batches, and the option goes
    through presets (`--set model.auxiliary_weight=1`) and `.keras`."""
    from kzoo import presets
    from kzoo.models.conditioning import class_loss
    preset, applied = presets.apply_settings(presets.get("cdcgan_fashion"), ["model.auxiliary_weight=1.0"])
    gan = presets.build_model(preset, image_shape=(28, 28, 1), seed=0)
    assert len(gan.discriminator.inputs) == 1 and gan.discriminator.outputs[1].shape[-1] == 10
    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    labels = np.arange(16) % 10
    state = gan.seed_generator.state.numpy()
    logs = gan.evaluate(images, labels, batch_size=16, verbose=0, return_dict=True)
    # The class loss is the cross-entropy of the real batch with its labels plus that of the step's fakes with
    # theirs: replay the step's draws from the seed state it started with.
    gan.seed_generator.state.assign(state)
    fake, fake_labels = gan._fakes(16, gan.seed_generator, training=False)
    _, real_logits = gan.discriminator(images, training=False)
    _, fake_logits = gan.discriminator(fake, training=False)
    expected = float(class_loss(labels, real_logits)) + float(class_loss(fake_labels, fake_logits))
    assert logs["class_loss"] == pytest.approx(expected, rel=1e-5)
    assert float(class_loss(labels, real_logits)) > 0.5 and float(class_loss(fake_labels, fake_logits)) > 0.5
    history = gan.fit(images, labels, batch_size=16, epochs=2, verbose=0).history
    assert "class_loss" in history and all(np.isfinite(history["class_loss"]))
    gan.save(tmp_path / "acgan.keras")
    assert keras.models.load_model(tmp_path / "acgan.keras").auxiliary_weight == 1.0
    with pytest.raises(ValueError, match="model.auxiliary_weight"):
        presets.apply_settings(presets.get("dcgan_fashion"), ["model.auxiliary_weight=1.0"])


def test_kzoo_train_runs_a_conditional_preset_end_to_end(tmp_path):
    """`kzoo train` on a conditional preset: the stream carries labels, the fakes' labels follow the training
    data's class frequencies, the epoch grid has one row per class, and the export takes labels."""
    from kzoo import training
    out = tmp_path / "run"
    summary = training.train("cdcgan_mnist", out, epochs=1, take=256, batch_size=64, verbose=0)
    model = keras.models.load_model(out / "model.keras")
    counts = np.bincount(datasets.load_arrays("mnist", "train").labels[:256], minlength=10)
    np.testing.assert_allclose(model.label_distribution, counts / counts.sum(), rtol=1e-6)
    assert summary["steps"] == 4 and (out / "samples" / "epoch_001.png").exists()
    assert json.loads((out / "saved_model" / "kzoo.json").read_text())["num_classes"] == 10
