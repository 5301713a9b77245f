"""A Keras model as :mod:`snnkit.convert.fold` reads it: the layer graph (identity
layers skipped), the layers it refuses and what to use instead, and what each
activation is (identified by the function itself, never by its name)."""

from __future__ import annotations

from dataclasses import dataclass

from snnkit.exceptions import ConversionError
from snnkit.utils.stack import import_tensorflow

IDENTITY_LAYERS = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
})
WEIGHTED_LAYERS = frozenset({"Dense", "Conv1D", "Conv2D", "DepthwiseConv2D",
                             "SeparableConv2D"})
POOLING_LAYERS = frozenset({"AveragePooling1D", "AveragePooling2D"})
MAX_POOLING_LAYERS = {"MaxPooling1D": "AveragePooling1D",
                      "MaxPooling2D": "AveragePooling2D",
                      "GlobalMaxPooling1D": "GlobalAveragePooling1D",
                      "GlobalMaxPooling2D": "GlobalAveragePooling2D"}
MERGE_LAYERS = frozenset({"Add", "Average", "Concatenate"})
REFUSED = {
    "LeakyReLU": "spiking ReLU neurons have no negative slope; use ReLU()",
    "PReLU": "spiking ReLU neurons have no negative slope; use ReLU()",
    "ELU": "use ReLU()",
    "Subtract": "a difference of two layers is not supported; negate one branch's "
                "last weights and use Add",
    "Multiply": "spiking neurons cannot multiply two signals",
    "Lambda": "rewrite it with supported layers (a Lambda runs arbitrary code)",
}
NEGATIVE_SLOPE = "spiking ReLU neurons have no negative slope"


@dataclass
class Node:
    """One layer of the user's model as the fold sees it.

    Attributes
    ----------
    layer : tf.keras.layers.Layer
        The Keras layer.
    inputs : list of str
        Names of the layers feeding it (identity layers skipped).
    """

    layer: object
    inputs: list


def layer_graph(model):
    """The layer graph of ``model``, identity layers (dropout, noise) skipped.

    Parameters
    ----------
    model : tf.keras.Model
        A functional model with one input and one output.

    Returns
    -------
    nodes : dict of str to Node
    order : list of str
        Layer names in model order (a topological order).
    output : str
        The layer whose output is the model's.

    Raises
    ------
    ConversionError
        Several inputs or outputs, a shared layer, a nested model, or a layer with
        several inputs that does not merge them (only Add, Average and Concatenate do).
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConversionError(
            f"model: expected one input and one output, got {len(model.inputs)} inputs "
            f"and {len(model.outputs)} outputs")
    alias = {}
    nodes, order = {}, []
    for layer in model.layers:
        cls = type(layer).__name__
        if len(layer._inbound_nodes) > 1:
            raise ConversionError(f"model: layer {layer.name!r} is used more than once "
                                  "(shared layers are not supported)")
        if cls in ("Functional", "Sequential", "Model"):
            raise ConversionError(
                f"model: layer {layer.name!r} is a nested model; flatten it into one "
                "functional model")
        if cls == "InputLayer":
            sources = []
        else:
            inbound = layer._inbound_nodes[0].inbound_layers
            inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
            sources = [alias.get(src.name, src.name) for src in inbound]
        if cls in IDENTITY_LAYERS:
            alias[layer.name] = sources[0]
            continue
        if cls not in MERGE_LAYERS and len(sources) > 1:
            if cls in REFUSED:
                raise ConversionError(f"model: layer {layer.name!r} is a {cls}; "
                                      f"{REFUSED[cls]}")
            raise ConversionError(f"model: layer {layer.name!r} has {len(sources)} "
                                  "inputs; expected one")
        nodes[layer.name] = Node(layer, sources)
        order.append(layer.name)
    output = model.outputs[0]._keras_history.layer.name
    return nodes, order, alias.get(output, output)


def refuse_relu_options(layer) -> None:
    """Refuse a ``ReLU`` layer with a ceiling, a negative slope or a threshold."""
    cfg = layer.get_config()
    if cfg.get("max_value") is not None:
        raise ConversionError(
            f"model: layer {layer.name!r} is ReLU(max_value={cfg['max_value']}); "
            "spiking ReLU neurons have no ceiling below the hardware's rate limit: "
            "use ReLU() and let calibration bound the rates")
    slope, threshold = (float(cfg.get(key) or 0)
                        for key in ("negative_slope", "threshold"))
    if slope != 0 or threshold != 0:
        raise ConversionError(
            f"model: layer {layer.name!r} is ReLU(negative_slope="
            f"{cfg.get('negative_slope')}, threshold={cfg.get('threshold')}); "
            "spiking ReLU neurons need both 0: use ReLU()")


def activation_kind(layer) -> str:
    """What a layer's activation is: ``"relu"``, ``"identity"``, ``"softmax"``, or the
    name of another activation (refused by the caller).

    A ``ReLU`` layer is ``"relu"``. Otherwise the activation function itself is
    compared with Keras' and TensorFlow's own: a user's function that is merely
    *named* ``relu`` (or ``linear``, ``softmax``) is refused, as it may compute
    anything.

    Raises
    ------
    ConversionError
        The activation is a function of the user's with a built-in activation's name.
    """
    if type(layer).__name__ == "ReLU":
        return "relu"
    function = getattr(layer, "activation", None)
    if function is None:
        return "identity"
    try:
        return _known_activations()[function]
    except (KeyError, TypeError):  # not one of them (or not even hashable)
        pass
    name = getattr(function, "__name__", type(function).__name__)
    if name in ("relu", "linear", "softmax"):
        where = (f"{getattr(function, '__module__', '?')}."
                 f"{getattr(function, '__qualname__', name)}")
        raise ConversionError(
            f"model: layer {layer.name!r} has an activation function named {name!r} "
            f"({where}) that is not Keras' own {name}; snnkit knows an activation by the "
            f"function itself: use activation={name!r} (or tf.nn.{name}), or write the "
            "computation with supported layers")
    return name


def _known_activations() -> dict:
    tf = import_tensorflow()
    activations = tf.keras.activations
    return {activations.relu: "relu", tf.nn.relu: "relu",
            activations.linear: "identity",
            activations.softmax: "softmax", tf.nn.softmax: "softmax"}


def activation_note(layer) -> str:
    """``", activation <kind>"`` for a layer that has an activation, else ``""``."""
    if getattr(layer, "activation", None) is None:
        return ""
    return f", activation {activation_kind(layer)}"


def activation_message(name, kind) -> str:
    """The refusal of layer ``name``'s activation ``kind``."""
    return (f"model: layer {name!r} has activation {kind!r}, which has no spiking "
            "equivalent; use 'relu' (becomes neurons) or no activation"
            + ("; softmax is accepted only on the output layer" if kind == "softmax"
               else ""))
