"""The path every GPU user takes: on one GPU, Keras compiles `train_step` with XLA (`jit_compile="auto"` resolves
to True when a GPU is present and no distribution strategy is set). Each family's step, from its preset with a
small batch, is compiled with XLA on the CPU and must train as the step without XLA does: same losses and the same
weight updates, to a tolerance that allows for XLA's fused, reordered float arithmetic (stated per case)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import distribute, presets

# (preset, --set settings, images per batch (a GAN's n_critic batches), data range)
CASES = {
    "vae": ("vae_conv_fashion", [], 8, (0, 1)),
    "cvae": ("cvae_conv_fashion", [], 8, (0, 1)),
    "critic_vae": ("critic_vae_mnist", [], 8, (0, 1)),
    "gan_non_saturating_ema": ("dcgan_ema_fashion", [], 8, (-1, 1)),
    "gan_wasserstein_clip": ("wgan_clip_fashion", ["model.n_critic=2"], 8, (-1, 1)),
    "gan_wasserstein_gp": ("wgan_gp_fashion", ["model.n_critic=2"], 8, (-1, 1)),
    "gan_hinge_spectral_norm": ("sngan_fashion", [], 8, (-1, 1)),
    "gan_least_squares_r1": ("dcgan_fashion", ["model.loss=least_squares",
                                               'model.lipschitz={"class_name": "R1Penalty", "config": {}}'], 8,
                             (-1, 1)),
    "gan_conditional_projection": ("cdcgan_fashion", [], 8, (-1, 1)),
    "gan_auxiliary_classifier": ("cdcgan_fashion", ["model.auxiliary_weight=1.0"], 8, (-1, 1)),
    "diffusion": ("diffusion_fashion", ["model.design=unet_tiny"], 8, (-1, 1)),
}


def build(case, jit_compile, precision="float32"):
    name, settings, batch, value_range = CASES[case]
    preset, _ = presets.apply_settings(presets.get(name), settings)
    keras.utils.set_random_seed(0)
    with _policy(precision):
        model = presets.build_model(preset, image_shape=(28, 28, 1), seed=0,
                                    label_distribution=[0.1] * 10 if preset["model"].get("num_classes") else None)
    model.jit_compile = jit_compile
    rng = np.random.default_rng(1)
    images = rng.uniform(*value_range, (batch, 28, 28, 1)).astype("float32")
    labels = (np.arange(batch) % 10).astype("int32") if preset["model"].get("num_classes") else None
    return model, images, labels


class _policy:
    def __init__(self, precision):
        self.precision = precision

    def __enter__(self):
        self.previous = keras.config.dtype_policy()
        distribute.set_precision(self.precision)

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.previous)


def one_step(case, jit_compile, precision="float32"):
    model, images, labels = build(case, jit_compile, precision)
    before = [np.array(w) for w in model.trainable_weights]
    data = tf.data.Dataset.from_tensors(images if labels is None else (images, labels))
    logs = model.fit(data, epochs=1, verbose=0).history
    after = [np.array(w) for w in model.trainable_weights]
    return {k: v[-1] for k, v in logs.items()}, [a - b for a, b in zip(after, before)], model


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_xla_step_trains_as_the_plain_step(case):
    plain_logs, plain_updates, plain = one_step(case, False)
    xla_logs, xla_updates, xla = one_step(case, True)
    assert xla.jit_compile is True and plain.jit_compile is False
    assert sorted(xla_logs) == sorted(plain_logs)
    for key, value in plain_logs.items():
        assert xla_logs[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    # Adam's first update is about the learning rate times the gradient's sign: a tolerance of 2% of the largest
    # update allows for the few weights whose gradient is near 0 (where the rounding decides the sign).
    largest = max(np.abs(u).max() for u in plain_updates)
    assert largest > 0
    mismatched = [np.abs(a - b).max() for a, b in zip(xla_updates, plain_updates)]
    assert max(mismatched) <= 0.02 * largest, (max(mismatched), largest)


@pytest.mark.parametrize("case", ["gan_wasserstein_gp", "diffusion", "vae"])
def test_the_xla_step_in_mixed_float16_with_loss_scaling(case):
    plain_logs, plain_updates, plain = one_step(case, False, "mixed_float16")
    xla_logs, xla_updates, _ = one_step(case, True, "mixed_float16")
    optimizer = plain.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    for key, value in plain_logs.items():
        assert xla_logs[key] == pytest.approx(value, rel=1e-2, abs=1e-3), key
    largest = max(np.abs(u).max() for u in plain_updates)
    mismatched = max(np.abs(a - b).max() for a, b in zip(xla_updates, plain_updates))
    assert largest > 0 and mismatched <= 0.05 * largest, (mismatched, largest)
