"""VAE loss terms, per example (reduce them with a mean over the batch)."""

import math

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse")
# "gaussian" needs a learned variance, which only `kzoo.models.VAE` holds.
VAE_RECONSTRUCTION_LOSSES = RECONSTRUCTION_LOSSES + ("gaussian",)


def reconstruction_loss(x, decoder_logits, kind="bce", log_gamma=None):
    """Reconstruction term summed over pixels, per example: `[B, ...] -> [B]`.

    ``bce``: Bernoulli negative log-likelihood of `x` in [0, 1] under `sigmoid(decoder_logits)`, computed
    from logits for numerical stability. ``mse``: squared error between `x` and `sigmoid(decoder_logits)`
    (a Gaussian likelihood with unit variance, up to constants and a factor 1/2). ``gaussian``: the negative
    log-likelihood of `x` under N(sigmoid(decoder_logits), gamma I) with the variance gamma = exp(`log_gamma`)
    learned (Dai & Wipf 2019), constants included: ``|x - x_hat|^2 / (2 gamma) + D/2 log(2 pi gamma)``.
    """
    if kind == "gaussian":
        if log_gamma is None:
            raise ValueError("the gaussian reconstruction loss needs the log-variance log_gamma.")
        return gaussian_nll(ops.sigmoid(decoder_logits), x, log_gamma)
    x = ops.cast(x, decoder_logits.dtype)
    if kind == "bce":
        # max(l, 0) - l*x + log(1 + exp(-|l|)) == -x log s(l) - (1-x) log(1-s(l)), without overflow.
        per_pixel = ops.relu(decoder_logits) - decoder_logits * x + ops.log1p(ops.exp(-ops.abs(decoder_logits)))
    elif kind == "mse":
        per_pixel = ops.square(ops.sigmoid(decoder_logits) - x)
    else:
        raise ValueError(f"reconstruction must be one of {VAE_RECONSTRUCTION_LOSSES}, got {kind!r}.")
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) in closed form, summed over latent dimensions: `[B, D] -> [B]`."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def gaussian_nll(prediction, x, log_gamma):
    """Negative log-likelihood of `x` under N(prediction, exp(log_gamma) I), summed per example: `[B, ...] -> [B]`
    (float32; `log_gamma` a scalar)."""
    prediction = ops.cast(prediction, "float32")
    x = ops.cast(x, "float32")
    log_gamma = ops.cast(log_gamma, "float32")
    squared = ops.sum(ops.reshape(ops.square(x - prediction), (ops.shape(x)[0], -1)), axis=-1)
    size = ops.cast(ops.prod(ops.shape(x)[1:]), "float32")
    return 0.5 * squared * ops.exp(-log_gamma) + 0.5 * size * (log_gamma + math.log(2.0 * math.pi))
