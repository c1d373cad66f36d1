"""VAE loss terms, per example (reduce them with a mean over the batch)."""

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse")


def reconstruction_loss(x, decoder_logits, kind="bce"):
    """Reconstruction term summed over pixels, per example: `[B, ...] -> [B]`.

    ``bce``: Bernoulli negative log-likelihood of `x` in [0, 1] under `sigmoid(decoder_logits)`, computed
    from logits for numerical stability. ``mse``: squared error between `x` and `sigmoid(decoder_logits)`
    (a Gaussian likelihood with unit variance, up to constants and a factor 1/2).
    """
    x = ops.cast(x, decoder_logits.dtype)
    if kind == "bce":
        # max(l, 0) - l*x + log(1 + exp(-|l|)) == -x log s(l) - (1-x) log(1-s(l)), without overflow.
        per_pixel = ops.relu(decoder_logits) - decoder_logits * x + ops.log1p(ops.exp(-ops.abs(decoder_logits)))
    elif kind == "mse":
        per_pixel = ops.square(ops.sigmoid(decoder_logits) - x)
    else:
        raise ValueError(f"reconstruction must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}.")
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) in closed form, summed over latent dimensions: `[B, D] -> [B]`."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
