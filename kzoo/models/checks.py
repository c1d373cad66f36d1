"""Checks of what users pass to a model's `fit`/`evaluate`, made while the step is traced: a wrong input gets a
ValueError naming what was wrong and what to do, before any TensorFlow graph runs, instead of a shape error from
deep inside a layer."""


def check_image_batch(images, expected_shape, model_name, network):
    """`images` (a symbolic batch) must have the per-image shape `expected_shape` that `network` takes."""
    got = tuple(images.shape[1:])
    expected = tuple(expected_shape)
    if len(got) != len(expected) or any(g is not None and e is not None and g != e for g, e in zip(got, expected)):
        hint = ""
        if len(got) == len(expected) and got[:-1] == expected[:-1]:
            hint = (f" The channel counts differ ({got[-1]} vs {expected[-1]}): use colour data with a colour design "
                    "and grey data with a grey one, or convert the images.")
        elif len(got) == len(expected):
            hint = (" Resize the data (e.g. kzoo.datasets.load(..., image_size=N)) or build the networks for this "
                    "image shape (image_shape= in the design builders).")
        raise ValueError(f"{model_name} got images of shape {got}, but its {network} takes {expected}.{hint}")


def check_critic_batch(images, n_critic, model_name):
    """A training batch must hold at least `n_critic` images: it is dealt into `n_critic` critic batches."""
    batch = images.shape[0]
    if batch is not None and batch < n_critic:
        raise ValueError(f"{model_name} deals each training batch into n_critic={n_critic} critic batches, but got a "
                         f"batch of {batch} images. Pass a batch of n_critic * B images (batch_size={n_critic} * B), "
                         f"or lower n_critic.")


def check_no_labels(labels, model_name):
    """Unconditional models learn from images alone: labels passed to `fit` would be ignored without a word."""
    if labels is not None:
        raise ValueError(f"{model_name} is unconditional and takes images only, but got labels too: call fit(images) "
                         "(a dataset of image batches; kzoo.datasets.load(..., with_labels=False), the default).")


def check_finite(data, what):
    """Concrete input arrays (numpy, eager tensors) must hold finite numbers: a NaN or infinity would make the
    loss NaN at the first step, which would then read as a diverged training."""
    import numpy as np
    if data is None or hasattr(data, "element_spec"):  # a tf.data pipeline: checked per batch by the guard
        return
    if isinstance(data, (tuple, list)):
        for item in data:
            check_finite(item, what)
        return
    try:
        array = np.asarray(data)
    except (TypeError, ValueError):
        return
    if array.dtype.kind == "f" and array.size and not np.isfinite(array).all():
        bad = array.reshape(len(array), -1) if array.ndim > 1 else array.reshape(-1, 1)
        rows = np.flatnonzero(~np.isfinite(bad).all(axis=1))
        raise ValueError(f"{what} holds NaN or infinite values ({int(np.size(array) - np.isfinite(array).sum())} "
                         f"of {array.size} numbers, in {len(rows)} examples, the first at index {int(rows[0])}). "
                         "Remove or repair those examples (np.isfinite finds them) before training or evaluating.")


class CheckedInputs:
    """Mixin for kzoo's models: `fit` and `evaluate` check the data itself before anything is traced: NaN or
    infinite arrays, and the model's own checks (`_check_batch(images, labels)`: image shape, labels given or not;
    for `fit`, a batch large enough for `n_critic`) on the concrete shapes of the arrays, of a dataset's
    `element_spec`, or of its first batch where the spec leaves them unknown.

    The same checks also run while a step is traced, but only there on a fresh model: once `fit` has traced a step,
    Keras retraces with relaxed shapes (`None` dimensions) and a second `fit` with a mistake would otherwise end
    in a shape error from deep inside the graph."""

    def fit(self, x=None, y=None, *args, **kwargs):
        check_finite(x, f"{type(self).__name__}.fit: x")
        self._check_data(x, y, kwargs.get("batch_size"), training=True)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        check_finite(x, f"{type(self).__name__}.evaluate: x")
        self._check_data(x, y, kwargs.get("batch_size"), training=False)
        return super().evaluate(x, y, *args, **kwargs)

    def _check_data(self, x, y, batch_size, training):
        n_critic = int(getattr(self, "n_critic", 1) or 1) if training else 1
        for images, labels in data_probes(x, y, batch_size, need_batch=n_critic > 1):
            self._check_batch(images, labels)
            if n_critic > 1:
                check_critic_batch(images, n_critic, type(self).__name__)


class _Shape:
    """Stands for a batch in the checks: only its shape is read."""

    def __init__(self, shape):
        import tensorflow as tf
        self.shape = tf.TensorShape(shape)


def data_probes(x, y=None, batch_size=None, need_batch=False):
    """``[(images, labels)]`` standing for the batches `fit(x, y, batch_size=...)` will see, each with a `.shape`
    (labels None when there are none); one per distinct batch size of an array (a smaller last batch); a dataset's
    `element_spec`, or its first batch where the spec leaves the image shape (or, with `need_batch`, the batch size)
    unknown. Empty where the data cannot be looked at without consuming it (a Python generator, a PyDataset)."""
    import tensorflow as tf
    if x is None:
        return []
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        images, labels = _split_element(spec)
        if not isinstance(images, tf.TensorSpec) or (labels is not None and not isinstance(labels, tf.TensorSpec)):
            return []
        unknown = any(d is None for d in images.shape[1:]) or images.shape.rank is None
        if unknown or (need_batch and images.shape[0] is None):
            first = next(iter(x.take(1)), None)
            if first is None:
                return []
            images, labels = _split_element(first)
        return [(_Shape(images.shape), None if labels is None else _Shape(labels.shape))]
    if isinstance(x, (tuple, list)) and y is None and len(x) in (2, 3) and all(hasattr(v, "shape") for v in x[:2]):
        x, y = x[0], x[1]
    if not hasattr(x, "shape") or getattr(x, "ndim", len(x.shape)) < 1:
        return []
    count = int(x.shape[0])
    batch = min(int(batch_size or 32), count)
    sizes = sorted({batch, count % batch} - {0}, reverse=True) if batch else [0]
    return [(_Shape((size,) + tuple(x.shape[1:])), None if y is None else _Shape((size,) + tuple(y.shape[1:])))
            for size in sizes]


def _split_element(element):
    """(images, labels) of a dataset element or its spec: x, (x,), (x, y) or (x, y, w)."""
    if isinstance(element, (tuple, list)):
        return element[0], (element[1] if len(element) > 1 else None)
    return element, None


def check_labels_given(labels, model_name, num_classes):
    """A class-conditional model learns from (images, labels): images alone would leave it nothing to condition on."""
    if labels is None:
        raise ValueError(f"{model_name} is class-conditional ({num_classes} classes) and takes (images, labels): call "
                         "fit(images, labels) or fit on a dataset of (images, labels) batches "
                         "(kzoo.datasets.load(..., with_labels=True)).")
    if labels.shape.rank not in (None, 1):
        raise ValueError(f"{model_name} takes one integer class label per image, shape [batch]; got labels of shape "
                         f"{tuple(labels.shape)} (one-hot labels: pass labels.argmax(-1)).")


def check_conditional_networks(generator, discriminator, num_classes, label_distribution, auxiliary=False):
    """`(num_classes, label_distribution)` checked against the networks: two inputs each (the second the labels)
    for a conditional model (an AC-GAN discriminator: the image only, and two outputs, the second `num_classes`
    logits), one for an unconditional one; the distribution sums to 1 (default: uniform)."""
    import numpy as np
    if auxiliary:
        if num_classes is None or len(generator.inputs) != 2 or len(discriminator.inputs) != 1 or \
                len(discriminator.outputs) != 2 or discriminator.outputs[1].shape[-1] != int(num_classes):
            raise ValueError("an auxiliary-classifier GAN needs num_classes, a generator taking [z, labels] and a "
                             "discriminator taking images with two outputs, [score, class logits] "
                             "(build_gan_networks(..., num_classes=K, auxiliary_classifier=True)).")
    # An AC-GAN discriminator sees the images only; it counts as conditional through its class logits.
    inputs = (len(generator.inputs), 2 if auxiliary else len(discriminator.inputs))
    if num_classes is None:
        if inputs != (1, 1):
            raise ValueError(f"networks with label inputs (generator {inputs[0]} inputs, discriminator {inputs[1]}) "
                             "make a class-conditional model: pass num_classes.")
        return None, None
    if int(num_classes) < 2 or inputs != (2, 2):
        raise ValueError(f"a class-conditional model needs num_classes >= 2 and networks taking [z, labels] and "
                         f"[images, labels] (build_gan_networks(..., num_classes=K)); got num_classes={num_classes}, "
                         f"generator with {inputs[0]} inputs, discriminator with {inputs[1]}.")
    if label_distribution is None:
        label_distribution = np.full(int(num_classes), 1.0 / int(num_classes))
    distribution = np.asarray(label_distribution, np.float64)
    if distribution.shape != (int(num_classes),) or np.any(distribution < 0) or not \
            np.isclose(distribution.sum(), 1.0, atol=1e-6):
        raise ValueError(f"label_distribution must be {num_classes} non-negative class probabilities summing to 1; "
                         f"got {label_distribution!r}.")
    return int(num_classes), tuple(float(p) for p in distribution)


def class_labels(labels, count, num_classes, what="latent vector"):
    """`labels` as int32 class indices for `count` inputs of a conditional model (classes in turn, 0, 1, ..., when
    None); concrete labels of another shape, type or range are refused."""
    import numpy as np
    import tensorflow as tf
    from keras import ops
    if labels is None:
        return ops.cast(ops.arange(count) % num_classes, "int32")
    if tf.executing_eagerly():  # concrete values are checked; traced ones (a SavedModel endpoint) cannot be
        values = np.asarray(labels)
        if values.shape != (int(count),) or values.dtype.kind not in "iu" or \
                (values.size and (values.min() < 0 or values.max() >= num_classes)):
            raise ValueError(f"labels must be {int(count)} integers in [0, {num_classes}), one per {what}; got "
                             f"{values.dtype} values of shape {values.shape}"
                             + (f" in [{values.min()}, {values.max()}]" if values.size else "") + ".")
    return ops.cast(labels, "int32")
