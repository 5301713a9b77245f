"""What Trainer.fit accepts as data: arrays or a ``tf.data.Dataset`` of ``(x, y)``
pairs, checked against the network. Every check names the argument, what was expected
and what was received."""

from __future__ import annotations

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_tensorflow
from snnkit.utils.validation import check_labels

tf = import_tensorflow()


def check_data(argument: str, network: FrozenNetwork, data):
    """Check one data argument against ``network``.

    Parameters
    ----------
    argument : str
        The argument's name, which every message names.
    network : FrozenNetwork
    data : tuple
        ``(x, y)``.

    Returns
    -------
    x : numpy.ndarray
        float32 ``(N, input_size)``.
    y : numpy.ndarray
        int32 labels in the model's range.

    Raises
    ------
    ValidationError
        Naming ``argument``, what was expected and what was received.
    """
    from snnkit.network.inputs import check_inputs

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValidationError(f"{argument}: expected a pair (x, y), "
                              f"got {type(data).__name__}")
    x, y = data
    if len(x) == 0:
        raise ValidationError(f"{argument}: expected at least one example, got none")
    x = check_inputs(network, x, argument)
    n_classes = network.layer_shape(network.output_layer)[-1]
    y = check_labels(argument, y, len(x), n_classes)
    return x, y.astype(np.int32)


def read_data(argument: str, data):
    """``(x, y)`` arrays from a pair or a ``tf.data.Dataset`` of pairs."""
    if not isinstance(data, tf.data.Dataset):
        return data
    xs, ys = [], []
    for element in data.as_numpy_iterator():
        if not isinstance(element, tuple) or len(element) != 2:
            raise ValidationError(f"{argument}: expected a Dataset of (x, y) pairs, "
                                  f"got elements of type {type(element).__name__}")
        xs.append(np.asarray(element[0]))
        ys.append(np.asarray(element[1]))
    if not xs:
        raise ValidationError(f"{argument}: expected at least one example, got none")
    if ys[0].ndim == 0:  # unbatched: one example per element
        return np.stack(xs), np.stack(ys)
    return np.concatenate(xs), np.concatenate(ys)


def read_inputs(dataset) -> np.ndarray:
    """Inputs from a Dataset of ``x`` or of ``(x, y)`` pairs (batched or not)."""
    xs = [np.asarray(e[0] if isinstance(e, tuple) else e)
          for e in dataset.as_numpy_iterator()]
    if not xs:
        raise ValidationError("x: expected at least one input, got none")
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    batched = spec.shape.rank is not None and spec.shape.rank > 0 \
        and spec.shape[0] is None
    return np.concatenate(xs) if batched else np.stack(xs)
