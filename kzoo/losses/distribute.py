"""Loss scaling under `tf.distribute`."""

import tensorflow as tf


def scale_for_replicas(loss):
    """Divide a per-replica mean loss by the number of replicas in sync.

    Optimizers sum gradients across replicas, so a hand-written batch mean in a custom `train_step`
    must be scaled this way to give the gradient of the global-batch mean (a no-op on one device).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)
