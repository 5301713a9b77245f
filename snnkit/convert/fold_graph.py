"""A Keras model as :mod:`snnkit.convert.fold` reads it: the layer graph (identity layers
skipped), the layers it refuses and what to use instead, and activation names."""

from __future__ import annotations

from dataclasses import dataclass

from snnkit.exceptions import ConversionError

IDENTITY_LAYERS = frozenset({
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
})
WEIGHTED_LAYERS = frozenset({"Dense", "Conv1D", "Conv2D", "DepthwiseConv2D",
                             "SeparableConv2D"})
POOLING_LAYERS = frozenset({"AveragePooling1D", "AveragePooling2D"})
REFUSED = {
    "MaxPooling1D": "spiking neurons cannot take a maximum; use AveragePooling1D",
    "MaxPooling2D": "spiking neurons cannot take a maximum; use AveragePooling2D",
    "GlobalMaxPooling1D": "use GlobalAveragePooling1D",
    "GlobalMaxPooling2D": "use GlobalAveragePooling2D",
    "LeakyReLU": "spiking ReLU neurons have no negative slope; use ReLU()",
    "PReLU": "spiking ReLU neurons have no negative slope; use ReLU()",
    "ELU": "use ReLU()",
    "Add": "residual sums are not supported yet: NengoDL makes them a passthrough "
           "node that nengo-loihi cannot map between on-chip layers",
    "Concatenate": "concatenation is not supported yet: NengoDL makes it a "
                   "passthrough node that nengo-loihi cannot map between on-chip layers",
    "Lambda": "rewrite it with supported layers (a Lambda runs arbitrary code)",
}


@dataclass
class Node:
    layer: object
    inputs: list  # names of producing nodes (identity layers skipped)


def layer_graph(model):
    """``(nodes, topological order, output name)``; identity layers skipped."""
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
        if cls not in ("Add", "Concatenate") and len(sources) > 1:
            raise ConversionError(f"model: layer {layer.name!r} has {len(sources)} inputs; "
                                  "expected one")
        nodes[layer.name] = Node(layer, sources)
        order.append(layer.name)
    output = model.outputs[0]._keras_history.layer.name
    return nodes, order, alias.get(output, output)


def refuse(layer, cls) -> None:
    if cls in REFUSED:
        raise ConversionError(f"model: layer {layer.name!r} is a {cls}; {REFUSED[cls]}")
    if cls == "ReLU":
        cfg = layer.get_config()
        if cfg.get("max_value") is not None:
            raise ConversionError(
                f"model: layer {layer.name!r} is ReLU(max_value={cfg['max_value']}); "
                "spiking ReLU neurons have no ceiling below the hardware's rate limit: "
                "use ReLU() and let calibration bound the rates")
        if float(cfg.get("negative_slope") or 0) != 0 or float(cfg.get("threshold") or 0) != 0:
            raise ConversionError(
                f"model: layer {layer.name!r} is ReLU(negative_slope="
                f"{cfg.get('negative_slope')}, threshold={cfg.get('threshold')}); "
                "spiking ReLU neurons need both 0: use ReLU()")


def activation_kind(layer) -> str:
    if type(layer).__name__ == "ReLU":
        return "relu"
    return activation_name(layer.get_config().get("activation"))


def activation_name(activation) -> str:
    name = activation if isinstance(activation, str) else getattr(activation, "__name__",
                                                                  str(activation))
    return "identity" if name in ("linear", None, "None") else name


def activation_note(layer) -> str:
    act = layer.get_config().get("activation")
    return f", activation {activation_name(act)}" if act is not None else ""


def activation_message(name, kind) -> str:
    return (f"model: layer {name!r} has activation {kind!r}, which has no spiking "
            "equivalent; use 'relu' (becomes neurons) or no activation"
            + ("; softmax is accepted only on the output layer" if kind == "softmax"
               else ""))
