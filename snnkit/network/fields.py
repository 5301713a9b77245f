"""Checks of a FrozenNetwork's fields, shared by its constructor and its file reader.

Each raises :class:`~snnkit.exceptions.ValidationError` (or
:class:`~snnkit.exceptions.UnknownNameError`) naming the field, what was expected
and what was received; :meth:`snnkit.FrozenNetwork.load` adds the file's name.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from snnkit.exceptions import UnknownNameError, ValidationError, shown
from snnkit.keras.config import ModelGraph, parse_model_config
from snnkit.keras.fields import known_keys
from snnkit.utils.validation import check_positive

# The layer classes a FrozenNetwork may contain: what snnkit's backends run. Each
# must have shape rules in snnkit.keras.layers.SUPPORTED_LAYERS.
ALLOWED_LAYERS = frozenset({
    "InputLayer", "Dense", "Conv1D", "Conv2D",
    "Flatten", "Reshape", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "Activation",
    "ReLU", "ZeroPadding1D", "ZeroPadding2D",
    "Add", "Concatenate", "BatchNormalization",
})
_ALLOWED_ACTIVATIONS = frozenset({"relu", "linear"})
MAX_MODEL_JSON_CHARS = 16 * 2 ** 20
# header field -> whether a file must have it
HEADER_FIELDS = {"format": True, "format_version": True, "model_json": True,
                 "weights": True, "neuron": True, "scale_firing_rates": True,
                 "synapse": True, "dt": True, "off_chip": True, "block_shapes": True,
                 "metadata": False, "readout": False}
_JSON_TYPES = {"model_json": dict, "weights": dict, "neuron": dict,
               "scale_firing_rates": dict, "off_chip": list, "block_shapes": dict,
               "metadata": dict}


def check_header(meta) -> None:
    """The header's fields and their JSON types (values are checked by the
    FrozenNetwork constructor)."""
    known_keys("header", meta, HEADER_FIELDS,
               hint=f"; fields are: {', '.join(HEADER_FIELDS)}")
    missing = [k for k, required in HEADER_FIELDS.items() if required and k not in meta]
    if missing:
        raise ValidationError(f"header: missing field(s) {', '.join(missing)}")
    for key, kind in _JSON_TYPES.items():
        if key in meta and not isinstance(meta[key], kind):
            what = "object" if kind is dict else "list"
            raise ValidationError(f"{key}: expected a JSON {what}, got "
                                  f"{shown(meta[key])}")


def architecture(model_json) -> ModelGraph:
    """Parse and check the Keras JSON of a FrozenNetwork (layers of
    :data:`ALLOWED_LAYERS`) without building the model: no TensorFlow, no code run,
    bounded time and memory.

    The last few texts parsed are remembered (the result is a function of the text
    alone), so a network's :meth:`~snnkit.network.frozen.FrozenNetwork.replace`, or the
    constructor called by ``load`` after it has parsed the header, does not parse the
    same architecture again. The returned graph is shared: treat it as read-only.
    """
    if not isinstance(model_json, str) or len(model_json) > MAX_MODEL_JSON_CHARS:
        raise ValidationError(f"model_json: expected Keras model JSON of at most "
                              f"{MAX_MODEL_JSON_CHARS} characters, got "
                              f"{shown(model_json)}")
    return _parse_text(model_json)


@functools.lru_cache(maxsize=16)
def _parse_text(model_json: str) -> ModelGraph:
    try:
        config = json.loads(model_json)
    except (ValueError, RecursionError) as e:
        raise ValidationError(f"model_json: expected Keras model JSON, got "
                              f"{type(e).__name__}: {e}") from e
    return _parse(config)


def _parse(config) -> ModelGraph:
    graph = parse_model_config(
        config, allowed_layers=ALLOWED_LAYERS, argument="model_json",
        refusal="which snnkit cannot run natively",
        kinds=("Functional",))
    for layer in graph.layers:
        activation = layer.config.get("activation", "linear")
        if activation not in _ALLOWED_ACTIVATIONS:
            raise ValidationError(
                f"model_json: layer {layer.name!r} has activation {activation!r}; "
                f"supported: relu (becomes neurons) or linear")
        if layer.class_name == "ReLU" and (
                layer.config["max_value"] is not None or layer.config["negative_slope"]
                or layer.config["threshold"]):
            raise ValidationError(
                f"model_json: layer {layer.name!r} is a ReLU with max_value, "
                "negative_slope or threshold set; snnkit runs only the plain ReLU")
    return graph


def neuron_layer_names(graph) -> tuple:
    return tuple(layer.name for layer in graph.layers
                 if layer.class_name == "ReLU"
                 or layer.config.get("activation") == "relu")


def read_weights(keys, members, graph) -> dict:
    """Read exactly the arrays the header names, each checked against the shape the
    architecture gives it before it is read."""
    _check_weight_layers("weights", keys, graph)
    seen, weights = set(), {}
    for layer, names in keys.items():
        shapes = graph.layer(layer).weight_shapes
        if not isinstance(names, list) or len(names) != len(shapes) \
                or not all(isinstance(n, str) for n in names):
            raise ValidationError(f"weights[{layer!r}]: expected a list of "
                                  f"{len(shapes)} archive member names, got "
                                  f"{shown(names)}")
        if seen & set(names) or len(set(names)) != len(names):
            raise ValidationError(f"weights[{layer!r}]: an archive member is named twice")
        seen.update(names)
        weights[layer] = tuple(
            members.read(name, f"weights[{layer!r}][{i}]", shape=shape)
            for i, (name, shape) in enumerate(zip(names, shapes)))
    return weights


def _check_weight_layers(argument, weights, graph) -> None:
    if not isinstance(weights, dict):
        raise ValidationError(f"{argument}: expected a dict of layer name -> arrays, "
                              f"got {type(weights).__name__}")
    weighted = [layer.name for layer in graph.layers if layer.weight_shapes]
    for name in weights:
        if name not in weighted:
            raise UnknownNameError(
                f"{argument}: layer {shown(name)} has no weights in this architecture; "
                f"layers with weights are: {', '.join(weighted)}")
    missing = [name for name in weighted if name not in weights]
    if missing:
        raise ValidationError(f"{argument}: missing the weights of layer(s) "
                              f"{', '.join(map(repr, missing))}")


def check_weights(weights, graph) -> dict:
    """``{layer: tuple of arrays}``: every layer with weights, each array float,
    finite and exactly the shape the architecture gives it."""
    _check_weight_layers("weights", weights, graph)
    out = {}
    for layer, values in weights.items():
        shapes = graph.layer(layer).weight_shapes
        if not isinstance(values, (list, tuple)) or len(values) != len(shapes):
            raise ValidationError(
                f"weights[{layer!r}]: expected {len(shapes)} arrays of shapes "
                f"{', '.join(map(str, shapes))}, got {shown(values)}")
        arrays = []
        for i, (value, shape) in enumerate(zip(values, shapes)):
            field = f"weights[{layer!r}][{i}]"
            try:
                array = np.asarray(value)
            except (ValueError, TypeError) as e:
                raise ValidationError(f"{field}: expected an array, got {e}") from e
            if array.dtype.kind != "f" or array.dtype.itemsize > 8:
                raise ValidationError(f"{field}: expected float weights, got dtype "
                                      f"{array.dtype}")
            if array.shape != tuple(shape):
                raise ValidationError(f"{field}: expected shape {tuple(shape)}, got "
                                      f"{array.shape}")
            if not np.all(np.isfinite(array)):
                raise ValidationError(f"{field}: expected finite weights, got NaN or "
                                      "infinite values")
            arrays.append(array)
        out[layer] = tuple(arrays)
    return out


def _check_layer_names(argument, names, valid) -> list:
    names = list(names)
    for name in names:
        if name not in valid:
            raise UnknownNameError(
                f"{argument}: unknown layer {shown(name)}; layers are: "
                f"{', '.join(valid)}")
    return names


def check_off_chip(off_chip, graph) -> tuple:
    if isinstance(off_chip, str) or not isinstance(off_chip, (list, tuple)):
        raise ValidationError(f"off_chip: expected a list of layer names, got "
                              f"{shown(off_chip)}")
    names = _check_layer_names("off_chip", off_chip, graph.layer_names)
    if len(set(names)) != len(names):
        raise ValidationError(f"off_chip: a layer is listed twice: {names}")
    return tuple(names)


def check_block_shapes(block_shapes, on_chip, graph) -> dict:
    """``{on-chip layer: per-core block shape}``: as many positive sizes as the
    layer has dimensions, none larger than the layer."""
    if not isinstance(block_shapes, dict):
        raise ValidationError(f"block_shapes: expected a dict of layer -> shape, got "
                              f"{shown(block_shapes)}")
    shapes = {}
    for name, shape in block_shapes.items():
        _check_layer_names("block_shapes", [name], on_chip)
        full = graph.layer(name).output_shape
        ok = isinstance(shape, (list, tuple)) and len(shape) == len(full) and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 1 <= s <= f
            for s, f in zip(shape, full))
        if not ok:
            raise ValidationError(
                f"block_shapes[{name!r}]: expected {len(full)} ints, each in 1..the "
                f"layer's size {full}, got {shown(shape)}")
        shapes[name] = tuple(int(s) for s in shape)
    return shapes


def check_scales(scales, neuron_layers) -> dict:
    if isinstance(scales, (int, float)) and not isinstance(scales, bool):
        scales = {name: scales for name in neuron_layers}
    if not isinstance(scales, dict):
        raise ValidationError(
            f"scale_firing_rates: expected a positive number or a dict of neuron layer "
            f"-> positive number, got {type(scales).__name__}")
    _check_layer_names("scale_firing_rates", scales, neuron_layers)
    out = {}
    for name, value in scales.items():
        check_positive(f"scale_firing_rates[{name!r}]", value, "")
        out[name] = float(value)
    return out
