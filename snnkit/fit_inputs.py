"""What Trainer.fit accepts: training data (arrays or ``tf.data.Dataset``) and Keras
models that nengo-dl converts natively. Every check names the argument, what was
expected and what was received."""

from __future__ import annotations

import numpy as np

from ._stack import import_tensorflow
from .exceptions import ConversionError, ValidationError
from .frozen import ALLOWED_LAYERS, FrozenNetwork
from .validation import check_labels

tf = import_tensorflow()


def check_data(argument: str, network: FrozenNetwork, data):
    """``(x, y)`` as float32 ``(N, input_size)`` and int32 labels in the model's range."""
    from snnkit.inputs import check_inputs

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValidationError(f"{argument}: expected a pair (x, y), got {type(data).__name__}")
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
    batched = spec.shape.rank is not None and spec.shape.rank > 0 and spec.shape[0] is None
    return np.concatenate(xs) if batched else np.stack(xs)


_ADVICE = {
    "Lambda": "rewrite it with supported layers",
}


def check_convertible(model, *, for_training: bool = True):
    """The :class:`~snnkit.fold.FoldedModel` of ``model`` (what snnkit runs), or a
    :class:`ConversionError` naming the first layer snnkit cannot run and what to use
    instead (:mod:`snnkit.fold` lists what is folded, merged or refused)."""
    from .fold import fold_model

    if not isinstance(model, tf.keras.Model):
        raise ValidationError(f"model: expected a tf.keras.Model, got {type(model).__name__}")
    folded = fold_model(model, for_training=for_training)
    for layer in folded.model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        if cls not in ALLOWED_LAYERS:
            advice = _ADVICE.get(cls, "replace it with a supported layer")
            raise ConversionError(
                f"model: layer {layer.name!r} is a {cls}, which nengo-dl cannot convert "
                f"to a native Nengo network; {advice}. Supported layers: see the "
                "README's table of supported layers")
        activation = getattr(layer, "activation", None)
        act_name = getattr(activation, "__name__", None)
        if activation is not None and act_name not in ("relu", "linear"):
            raise ConversionError(
                f"model: layer {layer.name!r} has activation {act_name!r}, which has no "
                f"spiking equivalent here; use 'relu' (becomes neurons) or no activation")
    return folded
