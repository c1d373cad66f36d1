"""Adversarial loss pairs: a discriminator (critic) loss and the generator loss it is paired with.

Every function takes the discriminator's raw outputs (logits for the probability losses, scores for the
others) of a batch and returns the batch mean; models divide by the replica count before the gradient
(`scale_for_replicas`), which makes the pairs correct under `tf.distribute`.

- ``minimax``: the original objective (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z))),
  G minimises log(1 - D(G(z))), with D(.) = sigmoid(logit) the published probability output.
- ``non_saturating``: the same D loss; G maximises log D(G(z)) (Goodfellow et al. 2014, sec. 3; DCGAN).
- ``wasserstein``: critic minimises f(G(z)) - f(x), G minimises -f(G(z)) (Arjovsky et al. 2017).
- ``hinge``: D minimises relu(1 - f(x)) + relu(1 + f(G(z))), G minimises -f(G(z)) (Lim & Ye 2017; SAGAN).
- ``least_squares``: D minimises ((f(x) - 1)^2 + f(G(z))^2) / 2, G minimises (f(G(z)) - 1)^2 / 2
  (Mao et al. 2017, with a=0, b=c=1).

The probability losses are computed from logits (log sigmoid(l) = -softplus(-l)), which is the published
sigmoid output without its overflow; `from_logits=False` accepts probabilities instead (clipped like Keras).
"""

import dataclasses

from keras import ops

_EPSILON = 1e-7


def _log_d(x, from_logits):
    """log D and log (1 - D) from logits or from probabilities."""
    if from_logits:
        return -ops.softplus(-x), -ops.softplus(x)
    p = ops.clip(x, _EPSILON, 1.0 - _EPSILON)
    return ops.log(p), ops.log(1.0 - p)


def minimax_discriminator_loss(real_output, fake_output, from_logits=True):
    log_d_real, _ = _log_d(real_output, from_logits)
    _, log_one_minus_d_fake = _log_d(fake_output, from_logits)
    return -ops.mean(log_d_real) - ops.mean(log_one_minus_d_fake)


def minimax_generator_loss(fake_output, from_logits=True):
    return ops.mean(_log_d(fake_output, from_logits)[1])


def non_saturating_generator_loss(fake_output, from_logits=True):
    return -ops.mean(_log_d(fake_output, from_logits)[0])


def wasserstein_critic_loss(real_output, fake_output):
    return ops.mean(fake_output) - ops.mean(real_output)


def wasserstein_generator_loss(fake_output):
    return -ops.mean(fake_output)


def hinge_discriminator_loss(real_output, fake_output):
    return ops.mean(ops.relu(1.0 - real_output)) + ops.mean(ops.relu(1.0 + fake_output))


def least_squares_discriminator_loss(real_output, fake_output):
    return 0.5 * ops.mean(ops.square(real_output - 1.0)) + 0.5 * ops.mean(ops.square(fake_output))


def least_squares_generator_loss(fake_output):
    return 0.5 * ops.mean(ops.square(fake_output - 1.0))


@dataclasses.dataclass(frozen=True)
class LossPair:
    """A discriminator loss and its generator loss.

    `probabilistic`: the discriminator's output is a logit of D(x) = P(real), so D(x) and D(G(z)) are reported.
    `estimates_wasserstein`: mean f(x) - mean f(G(z)) estimates the Wasserstein-1 distance (with a
    Lipschitz critic) and is reported.
    """

    name: str
    discriminator: callable
    generator: callable
    probabilistic: bool = False
    estimates_wasserstein: bool = False


LOSS_PAIRS = {
    "minimax": LossPair("minimax", minimax_discriminator_loss, minimax_generator_loss, probabilistic=True),
    "non_saturating": LossPair("non_saturating", minimax_discriminator_loss, non_saturating_generator_loss,
                               probabilistic=True),
    "wasserstein": LossPair("wasserstein", wasserstein_critic_loss, wasserstein_generator_loss,
                            estimates_wasserstein=True),
    "hinge": LossPair("hinge", hinge_discriminator_loss, wasserstein_generator_loss),
    "least_squares": LossPair("least_squares", least_squares_discriminator_loss, least_squares_generator_loss),
}


def get_loss_pair(identifier):
    """A `LossPair` by name (or the pair itself)."""
    if isinstance(identifier, LossPair):
        return identifier
    if identifier not in LOSS_PAIRS:
        raise ValueError(f"unknown adversarial loss {identifier!r}; choose one of {', '.join(LOSS_PAIRS)}.")
    return LOSS_PAIRS[identifier]
