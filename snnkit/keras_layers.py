"""What each supported Keras layer class may hold in its configuration, and the
output and weight shapes it has, computed in pure Python (no TensorFlow, no layer
built, no weight allocated).

:data:`SUPPORTED_LAYERS` is what this module can check and size; it is the widest
set any snnkit file may contain. Narrower allowlists (what a FrozenNetwork can run,
what a Keras file may hold) live with their readers. Shapes exclude the batch
dimension and follow Keras 2.12 (``channels_last`` only); the tests compare every
layer with Keras' own ``compute_output_shape`` and ``get_weights()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import keras_fields as F
from .exceptions import ValidationError

MAX_LAYER_WEIGHTS = 2 ** 27     # numbers in one layer's weights (512 MB as float32)
MAX_LAYER_OUTPUTS = 2 ** 24     # numbers in one layer's output for one example
MAX_INPUTS = 64                 # tensors into one merge layer
_REQUIRED = object()


@dataclass(frozen=True)
class LayerShapes:
    """A layer's output shape and the shapes of its weights, in ``get_weights()``
    order (both without the batch dimension)."""

    output: tuple
    weights: tuple


# --- field checkers: (field, value) -> normalized value -----------------------
def _int(low=1, high=F.MAX_DIMENSION):
    return lambda f, v: F.integer(f, v, low, high)


def _number(low=-math.inf, high=math.inf, low_open=False):
    return lambda f, v: F.number(f, v, low, high, low_open)


def _window(length, low=1):
    return lambda f, v: F.int_tuple(f, v, length, low)


def _optional(check):
    return lambda f, v: None if v is None else check(f, v)


def _choice(*options):
    return lambda f, v: F.choice(f, v, frozenset(options))


def _object(kind):
    return lambda f, v: F.keras_object(f, v, kind)


def _noise_shape(field, value):
    if value is not None and (not isinstance(value, list) or len(value) > F.MAX_RANK + 1
                              or not all(v is None or F.is_int(v) and v > 0
                                         for v in value)):
        F.fail(field, "none or a list of sizes (ints or none)", value)
    return value


_COMMON = {
    "name": (F.name, _REQUIRED),
    "trainable": (F.boolean, True),
    "dtype": (F.dtype, "float32"),
    # used by Keras only on a Sequential model's first layer
    "batch_input_shape": (_optional(lambda f, v: F.shape(f, v, allow_none_first=True)),
                          None),
}
_CHANNELS_LAST = {"data_format": (_choice("channels_last"), "channels_last")}


def _weighted(*prefixes):
    """activation, use_bias and the initializer/regularizer/constraint of each
    weight (``kernel``, ``bias``, ``depthwise``, ...)."""
    fields = {"activation": (F.activation, None), "use_bias": (F.boolean, True),
              "activity_regularizer": (_object("regularizer"), None)}
    for prefix in prefixes:
        default = "zeros" if prefix == "bias" else "glorot_uniform"
        fields[f"{prefix}_initializer"] = (_object("initializer"), default)
        fields[f"{prefix}_regularizer"] = (_object("regularizer"), None)
        fields[f"{prefix}_constraint"] = (_object("constraint"), None)
    return fields


def _conv_fields(rank, *prefixes, filters=True, depthwise=False):
    fields = {"kernel_size": (_window(rank), _REQUIRED),
              "strides": (_window(rank), 1),
              "padding": (_choice("valid", "same", *(("causal",) if rank == 1 else ())),
                          "valid"),
              "dilation_rate": (_window(rank), 1),
              "groups": (_int(1, F.MAX_DIMENSION), 1),
              **_CHANNELS_LAST, **_weighted(*prefixes)}
    if filters:
        fields["filters"] = (_int(), _REQUIRED)
    if depthwise:
        fields["depth_multiplier"] = (_int(), 1)
    return fields


def _pool_fields(rank):
    return {"pool_size": (_window(rank), 2), "strides": (_optional(_window(rank)), None),
            "padding": (_choice("valid", "same"), "valid"), **_CHANNELS_LAST}


# --- shape rules: (config, input shapes, field prefix) -> LayerShapes ------------
def _one_input(shapes, where, rank=None):
    if len(shapes) != 1:
        raise ValidationError(f"{where}: expected one input tensor, got {len(shapes)}")
    shape = shapes[0]
    if rank is not None and len(shape) != rank:
        raise ValidationError(f"{where}: expected an input of {rank} dimensions "
                              f"(without the batch), got shape {shape}")
    return shape


def _out_length(where, size, window, padding, stride, dilation=1):
    """Keras' ``conv_utils.conv_output_length``; refuses lengths below 1."""
    dilated = window + (window - 1) * (dilation - 1)
    length = size if padding in ("same", "causal") else size - dilated + 1
    length = (length + stride - 1) // stride
    if length < 1:
        raise ValidationError(
            f"{where}: a window of {dilated} does not fit an input of size {size} "
            f"with padding {padding!r}")
    return length


def _spatial(c, shape, where, window_key, dilation=True):
    windows, strides = c[window_key], c["strides"] or c[window_key]
    dilations = c["dilation_rate"] if dilation else (1,) * len(windows)
    if dilation and max(strides) > 1 and max(dilations) > 1:
        raise ValidationError(f"{where}: strides > 1 cannot be combined with "
                              f"dilation_rate > 1 (got {strides} and {dilations})")
    return tuple(_out_length(where, size, w, c["padding"], s, d)
                 for size, w, s, d in zip(shape[:-1], windows, strides, dilations))


def _bias(c, size):
    return ((size,),) if c["use_bias"] else ()


def _dense(c, shapes, where):
    shape = _one_input(shapes, where)
    units = c["units"]
    return LayerShapes(shape[:-1] + (units,), ((shape[-1], units),) + _bias(c, units))


def _conv(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        channels, groups, filters = shape[-1], c["groups"], c["filters"]
        if channels % groups or filters % groups:
            raise ValidationError(
                f"{where}: groups={groups} must divide the input channels "
                f"({channels}) and filters ({filters})")
        out = _spatial(c, shape, where, "kernel_size") + (filters,)
        kernel = c["kernel_size"] + (channels // groups, filters)
        return LayerShapes(out, (kernel,) + _bias(c, filters))
    return rule


def _depthwise(c, shapes, where):
    shape = _one_input(shapes, where, 3)
    _single_group(c, where)
    channels, multiplier = shape[-1], c["depth_multiplier"]
    out = _spatial(c, shape, where, "kernel_size") + (channels * multiplier,)
    kernel = c["kernel_size"] + (channels, multiplier)
    return LayerShapes(out, (kernel,) + _bias(c, channels * multiplier))


def _separable(c, shapes, where):
    shape = _one_input(shapes, where, 3)
    _single_group(c, where)
    channels, multiplier, filters = shape[-1], c["depth_multiplier"], c["filters"]
    out = _spatial(c, shape, where, "kernel_size") + (filters,)
    depthwise = c["kernel_size"] + (channels, multiplier)
    pointwise = (1, 1, channels * multiplier, filters)
    return LayerShapes(out, (depthwise, pointwise) + _bias(c, filters))


def _single_group(c, where):
    if c["groups"] != 1:
        raise ValidationError(f"{where}: groups: expected 1, got {c['groups']}")


def _pool(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        return LayerShapes(_spatial(c, shape, where, "pool_size", dilation=False)
                           + shape[-1:], ())
    return rule


def _global_pool(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        return LayerShapes((1,) * rank + shape[-1:] if c["keepdims"] else shape[-1:], ())
    return rule


def _zero_padding(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        padded = tuple(size + a + b for size, (a, b) in zip(shape, c["padding"]))
        return LayerShapes(padded + shape[-1:], ())
    return rule


def _flatten(c, shapes, where):
    return LayerShapes((math.prod(_one_input(shapes, where)),), ())


def _reshape(c, shapes, where):
    size = math.prod(_one_input(shapes, where))
    target = c["target_shape"]
    known = math.prod(d for d in target if d != -1)
    if target.count(-1) == 1 and size % known == 0:
        target = tuple(size // known if d == -1 else d for d in target)
    if math.prod(target) != size or -1 in target:
        raise ValidationError(f"{where}: target_shape {list(c['target_shape'])} does "
                              f"not hold the input's {size} numbers")
    return LayerShapes(target, ())


def _same_shape(rank=None):
    return lambda c, shapes, where: LayerShapes(_one_input(shapes, where, rank), ())


def _batch_norm(c, shapes, where):
    shape = _one_input(shapes, where)
    channels = shape[F.axis(f"{where}: axis", c["axis"], len(shape)) - 1]
    weights = ((channels,),) * (int(c["scale"]) + int(c["center"]) + 2)
    return LayerShapes(shape, weights)


def _merge_inputs(shapes, where):
    if not 2 <= len(shapes) <= MAX_INPUTS:
        raise ValidationError(f"{where}: expected 2..{MAX_INPUTS} input tensors, "
                              f"got {len(shapes)}")
    if len({len(s) for s in shapes}) != 1:
        raise ValidationError(f"{where}: inputs of different ranks: {list(shapes)}")


def _concatenate(c, shapes, where):
    _merge_inputs(shapes, where)
    axis = F.axis(f"{where}: axis", c["axis"], len(shapes[0])) - 1
    rest = {s[:axis] + s[axis + 1:] for s in shapes}
    if len(rest) != 1:
        raise ValidationError(f"{where}: inputs must match except on axis "
                              f"{c['axis']}, got {list(shapes)}")
    out = shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]
    return LayerShapes(out, ())


def _add(c, shapes, where):
    _merge_inputs(shapes, where)
    out = shapes[0]
    for shape in shapes[1:]:
        if any(a != b and 1 not in (a, b) for a, b in zip(out, shape)):
            raise ValidationError(f"{where}: inputs of incompatible shapes "
                                  f"{list(shapes)}")
        out = tuple(max(a, b) for a, b in zip(out, shape))
    return LayerShapes(out, ())


def _input_layer(c, shapes, where):
    if shapes:
        raise ValidationError(f"{where}: an InputLayer takes no inputs")
    return LayerShapes(c["batch_input_shape"], ())


def _false(field, value):
    if value is not False:
        F.fail(field, "false (sparse and ragged inputs are not supported)", value)
    return value


_DROPOUT = {"rate": (_number(0, 1), _REQUIRED), "noise_shape": (_noise_shape, None),
            "seed": (F.seed, None)}
_SPATIAL_DROPOUT = {**_DROPOUT,
                    "data_format": (_optional(_choice("channels_last")), None)}
_INPUT = {"name": (F.name, _REQUIRED),
          "dtype": (lambda f, v: F.dtype(f, v, F.INPUT_DTYPES), "float32"),
          "batch_input_shape": (lambda f, v: F.shape(f, v, allow_none_first=True),
                                _REQUIRED),
          "sparse": (_false, False), "ragged": (_false, False)}


# class name -> (fields beyond the common ones, shape rule)
_LAYERS = {
    "Dense": ({"units": (_int(), _REQUIRED), **_weighted("kernel", "bias")}, _dense),
    "Conv1D": (_conv_fields(1, "kernel", "bias"), _conv(1)),
    "Conv2D": (_conv_fields(2, "kernel", "bias"), _conv(2)),
    "DepthwiseConv2D": (_conv_fields(2, "depthwise", "bias", filters=False,
                                     depthwise=True), _depthwise),
    "SeparableConv2D": (_conv_fields(2, "kernel", "bias", "depthwise", "pointwise",
                                     depthwise=True), _separable),
    "Flatten": (dict(_CHANNELS_LAST), _flatten),
    "Reshape": ({"target_shape": (lambda f, v: _target_shape(f, v), _REQUIRED)},
                _reshape),
    "AveragePooling1D": (_pool_fields(1), _pool(1)),
    "AveragePooling2D": (_pool_fields(2), _pool(2)),
    "MaxPooling1D": (_pool_fields(1), _pool(1)),
    "MaxPooling2D": (_pool_fields(2), _pool(2)),
    "GlobalAveragePooling1D": ({"keepdims": (F.boolean, False), **_CHANNELS_LAST},
                               _global_pool(1)),
    "GlobalAveragePooling2D": ({"keepdims": (F.boolean, False), **_CHANNELS_LAST},
                               _global_pool(2)),
    "GlobalMaxPooling1D": ({"keepdims": (F.boolean, False), **_CHANNELS_LAST},
                           _global_pool(1)),
    "GlobalMaxPooling2D": ({"keepdims": (F.boolean, False), **_CHANNELS_LAST},
                           _global_pool(2)),
    "ZeroPadding1D": ({"padding": (lambda f, v: F.pad_pairs(f, v, 1), 1)},
                      _zero_padding(1)),
    "ZeroPadding2D": ({"padding": (lambda f, v: F.pad_pairs(f, v, 2), 1),
                       **_CHANNELS_LAST}, _zero_padding(2)),
    "Activation": ({"activation": (F.activation, _REQUIRED)}, _same_shape()),
    "ReLU": ({"max_value": (_optional(_number(0)), None),
              "negative_slope": (_number(0), 0.0), "threshold": (_number(0), 0.0)},
             _same_shape()),
    "BatchNormalization": ({
        "axis": (lambda f, v: v, -1), "momentum": (_number(0, 1), 0.99),
        "epsilon": (_number(0, low_open=True), 1e-3), "center": (F.boolean, True),
        "scale": (F.boolean, True), "synchronized": (F.boolean, False),
        **{f"{w}_initializer": (_object("initializer"), "zeros")
           for w in ("beta", "gamma", "moving_mean", "moving_variance")},
        **{f"{w}_{kind}": (_object(kind), None)
           for w in ("beta", "gamma") for kind in ("regularizer", "constraint")},
    }, _batch_norm),
    "Dropout": (_DROPOUT, _same_shape()),
    "SpatialDropout1D": (_SPATIAL_DROPOUT, _same_shape(2)),
    "SpatialDropout2D": (_SPATIAL_DROPOUT, _same_shape(3)),
    "SpatialDropout3D": (_SPATIAL_DROPOUT, _same_shape(4)),
    "GaussianDropout": ({"rate": _DROPOUT["rate"], "seed": _DROPOUT["seed"]},
                        _same_shape()),
    "AlphaDropout": (_DROPOUT, _same_shape()),
    "GaussianNoise": ({"stddev": (_number(0), _REQUIRED), "seed": (F.seed, None)},
                      _same_shape()),
    "Concatenate": ({"axis": (lambda f, v: v, -1)}, _concatenate),
    "Add": ({}, _add),
}
SUPPORTED_LAYERS = frozenset(_LAYERS) | {"InputLayer"}


def _target_shape(field, value):
    if not isinstance(value, list) or not 0 < len(value) <= F.MAX_RANK \
            or not all(F.is_int(d) and (d == -1 or 1 <= d <= F.MAX_DIMENSION)
                       for d in value) or value.count(-1) > 1:
        F.fail(field, f"a list of 1..{F.MAX_RANK} sizes (at most one -1)", value)
    return tuple(value)


def check_config(class_name: str, config, where: str) -> dict:
    """``config`` with every field checked and every missing optional field set to
    Keras' default. Unknown fields are refused: Keras would pass them to the layer."""
    if class_name == "InputLayer":
        fields = _INPUT
    else:
        fields = {**_COMMON, **_LAYERS[class_name][0]}
    if not isinstance(config, dict):
        F.fail(f"{where}: config", "a dict", config)
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ValidationError(
            f"{where}: config: unknown field(s) {', '.join(map(F.shown, unknown))}; "
            f"a {class_name} has: {', '.join(fields)}")
    out = {}
    for key, (check, default) in fields.items():
        if key in config:
            out[key] = check(f"{where}: {key}", config[key])
        elif default is _REQUIRED:
            raise ValidationError(f"{where}: {key}: missing (required)")
        else:
            out[key] = check(f"{where}: {key}", default) if default is not None else None
    # the activation default (None) means linear
    if "activation" in out and out["activation"] is None:
        out["activation"] = "linear"
    return out


def layer_shapes(class_name: str, config: dict, input_shapes: list,
                 where: str) -> LayerShapes:
    """Output and weight shapes of a layer whose config passed :func:`check_config`,
    fed tensors of ``input_shapes``; refuses sizes beyond the module's bounds."""
    rule = _input_layer if class_name == "InputLayer" else _LAYERS[class_name][1]
    shapes = rule(config, [tuple(s) for s in input_shapes], where)
    for dim in shapes.output:
        if not 1 <= dim <= F.MAX_DIMENSION:
            raise ValidationError(f"{where}: output shape {shapes.output} has a size "
                                  f"outside 1..{F.MAX_DIMENSION}")
    if len(shapes.output) > F.MAX_RANK:
        raise ValidationError(f"{where}: output shape {shapes.output} has more than "
                              f"{F.MAX_RANK} dimensions")
    if math.prod(shapes.output) > MAX_LAYER_OUTPUTS:
        raise ValidationError(f"{where}: output shape {shapes.output} holds more than "
                              f"{MAX_LAYER_OUTPUTS} numbers per example")
    n_weights = sum(math.prod(s) for s in shapes.weights)
    if n_weights > MAX_LAYER_WEIGHTS:
        raise ValidationError(f"{where}: weights of shapes {list(shapes.weights)} hold "
                              f"{n_weights} numbers, more than {MAX_LAYER_WEIGHTS}")
    return shapes
