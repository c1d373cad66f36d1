"""Class conditioning, in one place: how a discriminator is called with or without labels, and the AC-GAN class
loss. A conditional critic takes ``[images, labels]``; an AC-GAN discriminator (Odena et al. 2017) takes images and
returns ``(score, class logits)``; the Lipschitz penalties differentiate a critic called on images alone, so each
kind is wrapped to look like one."""

import keras
from keras import ops


class WithLabels:
    """A conditional critic with its labels fixed: called on images alone, as the penalties call a critic."""

    def __init__(self, critic, labels):
        self.critic, self.labels = critic, labels

    def __call__(self, images, training=False):
        return self.critic([images, self.labels], training=training)

    @property
    def trainable_variables(self):
        return self.critic.trainable_variables


def with_labels(critic, labels):
    return critic if labels is None else WithLabels(critic, labels)


class ScoreOnly:
    """An AC-GAN discriminator seen through its score alone (the penalties differentiate the score)."""

    def __init__(self, critic):
        self.critic = critic

    def __call__(self, images, training=False):
        return self.critic(images, training=training)[0]

    @property
    def trainable_variables(self):
        return self.critic.trainable_variables


def class_loss(labels, logits):
    """Mean cross-entropy of class `logits` against int `labels` (the AC-GAN term)."""
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.cast(logits, "float32"),
                                                                 from_logits=True))


def critic_outputs(critic, images, labels, auxiliary, training=True):
    """`(score, class logits or None)` of a critic: plain, conditional (labels in), or AC-GAN (logits out)."""
    if auxiliary:
        score, logits = critic(images, training=training)
        return ops.cast(score, "float32"), ops.cast(logits, "float32")
    return ops.cast(with_labels(critic, labels)(images, training=training), "float32"), None


def penalty_view(critic, labels, auxiliary):
    """The critic as the penalties call it, on images alone: its score, given the labels of a conditional one."""
    return ScoreOnly(critic) if auxiliary else with_labels(critic, labels)
