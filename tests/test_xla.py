"""The path every GPU user takes: on one GPU, Keras compiles `train_step` with XLA (`jit_compile="auto"` resolves
to True when a GPU is present and no distribution strategy is set). Each family's step, from its preset with a
small batch, is compiled with XLA on the CPU and must train as the step without XLA does: same losses and the same
weight updates, to a tolerance that allows for XLA's fused, reordered float arithmetic (stated per case).

TensorFlow's stateless generators give other numbers under XLA than its CPU/GPU kernels for the same key, even
with `alg="philox"` (tensorflow/tensorflow#117644): a step under XLA draws other noise than the same step without
it. Within one path the draws stay a function of (seed, step, draw), so resumed runs still equal uninterrupted ones
on the same path. To compare the arithmetic of the two paths, these tests make `StepNoise` draw from a
counter-based hash in integer arithmetic (the same numbers everywhere)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from portable_noise import use_portable_noise

from kzoo import distribute, presets
from kzoo.networks.unet import UNET_DESIGNS, UNetDesign


@pytest.fixture(autouse=True)
def portable_noise(monkeypatch):
    use_portable_noise(monkeypatch)
    # The diffusion step's path is the subject, not the network's size: a one-level U-Net traces and compiles in
    # about half the time of the smallest built-in design.
    monkeypatch.setitem(UNET_DESIGNS, "unet_one_level", UNetDesign((8,), 1, False, "one level of width 8 (tests)"))


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
    "gan_diffaugment": ("dcgan_fashion", ["model.augment=color,translation,cutout"], 8, (-1, 1)),
    "vae_two_stage": ("vae_two_stage_fashion", [], 8, (0, 1)),
    "diffusion": ("diffusion_fashion", ["model.design=unet_one_level"], 8, (-1, 1)),
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


def one_step(case, jit_compile, precision="float32", steps=1):
    model, images, labels = build(case, jit_compile, precision)
    before = [np.array(w) for w in model.trainable_weights]
    data = tf.data.Dataset.from_tensors(images if labels is None else (images, labels)).repeat(steps)
    logs = model.fit(data, epochs=1, verbose=0).history
    after = [np.array(w) for w in model.trainable_weights]
    return {k: v[-1] for k, v in logs.items()}, [a - b for a, b in zip(after, before)], model


# The default suite runs one case per training loop and constraint kind (VAE, non-saturating + EMA, gradient
# penalty, spectral norm, projection conditioning, diffusion); the cases whose train_step path these share run in
# the slow suite, to keep the default suite within its time. (DiffAugment's ops under XLA are compared alone in
# tests/test_augment.py; the GAN step with them is slow.)
SLOW_CASES = ("cvae", "critic_vae", "gan_wasserstein_clip", "gan_least_squares_r1", "gan_auxiliary_classifier",
              "vae_two_stage", "gan_diffaugment")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c
                                  for c in sorted(CASES)])
def test_the_xla_step_trains_as_the_plain_step(case):
    plain_logs, plain_updates, plain = one_step(case, False)
    xla_logs, xla_updates, xla = one_step(case, True)
    assert xla.jit_compile is True and plain.jit_compile is False
    assert sorted(xla_logs) == sorted(plain_logs)
    for key, value in plain_logs.items():
        # XLA's fused reductions and its own convolutions (oneDNN's without XLA) round differently: 2e-4 seen.
        assert xla_logs[key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
    _assert_same_updates(xla_updates, plain_updates, share=1e-3)


def _assert_same_updates(got, want, share):
    """Adam's first update is about the learning rate times the gradient's sign, so a weight whose gradient is near
    0 may move the other way when the rounding differs: at most `share` of the weights may differ by more than 2% of
    the largest update (a wrong step changes most of them)."""
    largest = max(np.abs(u).max() for u in want)
    assert largest > 0
    differing = sum(int((np.abs(a - b) > 0.02 * largest).sum()) for a, b in zip(got, want))
    total = sum(u.size for u in want)
    assert differing <= share * total, f"{differing} of {total} weights moved differently"


def _loss_scale_optimizers(model):
    """Every LossScaleOptimizer of a model: a GAN's two, the others' one."""
    found = [v for v in vars(model).values() if isinstance(v, keras.optimizers.LossScaleOptimizer)]
    return list({id(o): o for o in found}.values())


def _scaled_model(case, jit_compile):
    """The case's model under mixed float16, its loss-scale optimizers, and its batch."""
    model, images, labels = build(case, jit_compile, "mixed_float16")
    # Plain SGD, so an update is the unscaled gradient itself (Adam's would hide a wrong scale), built again under
    # the float16 policy so that the model wraps it in loss scaling as the preset's optimizer was.
    with _policy("mixed_float16"):
        if hasattr(model, "d_optimizer"):
            model.compile(d_optimizer=keras.optimizers.SGD(1e-2), g_optimizer=keras.optimizers.SGD(1e-2),
                          jit_compile=jit_compile)
        else:
            model.compile(optimizer=keras.optimizers.SGD(1e-2), jit_compile=jit_compile)
    optimizers = _loss_scale_optimizers(model)
    assert optimizers, "mixed_float16 wraps the optimizers in loss scaling"
    return model, optimizers, images if labels is None else (images, labels)


def _scaled_steps(model, optimizers, batch, scale, steps):
    """`steps` steps from a loss scale of `scale`: the last logs, the weights' updates, the scales after."""
    for optimizer in optimizers:
        optimizer.dynamic_scale.assign(scale)
    before = [np.array(w) for w in model.trainable_weights]
    logs = model.fit(tf.data.Dataset.from_tensors(batch).repeat(steps), epochs=1, verbose=0).history
    updates = [np.array(w) - b for w, b in zip(model.trainable_weights, before)]
    return {k: v[-1] for k, v in logs.items()}, updates, [float(o.dynamic_scale.numpy()) for o in optimizers]


@pytest.mark.parametrize("case", [pytest.param("gan_wasserstein_gp", marks=pytest.mark.slow),
                                  pytest.param("diffusion", marks=pytest.mark.slow), "vae"])
def test_the_xla_step_in_mixed_float16_with_loss_scaling(case):
    """Float16 with dynamic loss scaling, as `precision="mixed_float16"` sets it up. At a scale of 2^8 no gradient
    overflows: two SGD steps under XLA apply the same updates as without it (to 5% in norm: float16 rounding). At
    2^60 every scaled loss overflows: both paths skip the step (no weight moves) and halve the scale alike. (Near
    the overflow threshold the two paths may disagree about a step, since XLA fuses the float16 arithmetic
    differently: the VAE overflows at 2^15 without XLA and not with it.)"""
    plain, xla = _scaled_model(case, False), _scaled_model(case, True)
    plain_logs, plain_updates, plain_scales = _scaled_steps(*plain, 2.0 ** 8, 2)
    xla_logs, xla_updates, xla_scales = _scaled_steps(*xla, 2.0 ** 8, 2)
    assert plain_scales == xla_scales == [2.0 ** 8] * len(plain_scales)
    for key, value in plain_logs.items():
        assert xla_logs[key] == pytest.approx(value, rel=1e-2, abs=1e-3), key
    norm = np.sqrt(sum(float(np.sum(u.astype(np.float64) ** 2)) for u in plain_updates))
    difference = np.sqrt(sum(float(np.sum((a.astype(np.float64) - b) ** 2))
                             for a, b in zip(xla_updates, plain_updates)))
    assert norm > 0 and difference <= 0.05 * norm, (difference, norm)  # a wrong scale would be off by 2^8
    # The same models (their compiled steps reused) one step further, at a scale that overflows.
    skipped = []
    for jit_compile, (model, optimizers, batch) in ((False, plain), (True, xla)):
        _, updates, scales = _scaled_steps(model, optimizers, batch, 2.0 ** 60, 1)
        assert all(not np.any(u) for u in updates) and max(scales) < 2.0 ** 60, jit_compile
        skipped.append(scales)  # halved once per optimizer update skipped (a critic's n_critic times)
    assert skipped[0] == skipped[1]
