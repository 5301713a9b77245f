"""What each supported Keras layer class may hold in its configuration, and the
output and weight shapes it has, computed in pure Python (no TensorFlow, no layer
built, no weight allocated).

:data:`SUPPORTED_LAYERS` is what this module can check and size; it is the widest
set any snnkit file may contain. Narrower allowlists (what a FrozenNetwork can run,
what a Keras file may hold) live with their readers. Shapes exclude the batch
dimension and follow Keras 2.12 (``channels_last`` only); the tests compare every
layer with Keras' own ``compute_output_shape`` and ``get_weights()``. The shape rule
of each class is in :mod:`snnkit.keras.shapes`.
"""

from __future__ import annotations

import math

from snnkit.exceptions import ValidationError
from snnkit.keras import fields as field_checks
from snnkit.keras import shapes as shape_rules

MAX_LAYER_WEIGHTS = 2 ** 27     # numbers in one layer's weights (512 MB as float32)
MAX_LAYER_OUTPUTS = 2 ** 24     # numbers in one layer's output for one example
_REQUIRED = object()


# --- field checkers: (field, value) -> normalized value -----------------------
def _int(low=1, high=field_checks.MAX_DIMENSION):
    return lambda f, v: field_checks.integer(f, v, low, high)


def _number(low=-math.inf, high=math.inf, low_open=False):
    return lambda f, v: field_checks.number(f, v, low, high, low_open)


def _window(length, low=1):
    return lambda f, v: field_checks.int_tuple(f, v, length, low)


def _optional(check):
    return lambda f, v: None if v is None else check(f, v)


def _choice(*options):
    return lambda f, v: field_checks.choice(f, v, frozenset(options))


def _object(kind):
    return lambda f, v: field_checks.keras_object(f, v, kind)


def _noise_shape(field, value):
    if value is not None and (not isinstance(value, list)
                              or len(value) > field_checks.MAX_RANK + 1
                              or not all(v is None or field_checks.is_int(v) and v > 0
                                         for v in value)):
        field_checks.fail(field, "none or a list of sizes (ints or none)", value)
    return value


_COMMON = {
    "name": (field_checks.name, _REQUIRED),
    "trainable": (field_checks.boolean, True),
    "dtype": (field_checks.dtype, "float32"),
    # used by Keras only on a Sequential model's first layer
    "batch_input_shape": (
        _optional(lambda f, v: field_checks.shape(f, v, allow_none_first=True)), None),
}
_CHANNELS_LAST = {"data_format": (_choice("channels_last"), "channels_last")}


def _weighted(*prefixes):
    """activation, use_bias and the initializer/regularizer/constraint of each
    weight (``kernel``, ``bias``, ``depthwise``, ...)."""
    fields = {"activation": (field_checks.activation, None),
              "use_bias": (field_checks.boolean, True),
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
              "groups": (_int(1, field_checks.MAX_DIMENSION), 1),
              **_CHANNELS_LAST, **_weighted(*prefixes)}
    if filters:
        fields["filters"] = (_int(), _REQUIRED)
    if depthwise:
        fields["depth_multiplier"] = (_int(), 1)
    return fields


def _pool_fields(rank):
    return {"pool_size": (_window(rank), 2), "strides": (_optional(_window(rank)), None),
            "padding": (_choice("valid", "same"), "valid"), **_CHANNELS_LAST}


def _false(field, value):
    if value is not False:
        field_checks.fail(field, "false (sparse and ragged inputs are not supported)",
                          value)
    return value


_DROPOUT = {"rate": (_number(0, 1), _REQUIRED), "noise_shape": (_noise_shape, None),
            "seed": (field_checks.seed, None)}
_SPATIAL_DROPOUT = {**_DROPOUT,
                    "data_format": (_optional(_choice("channels_last")), None)}
_INPUT = {"name": (field_checks.name, _REQUIRED),
          "dtype": (lambda f, v: field_checks.dtype(f, v, field_checks.INPUT_DTYPES),
                    "float32"),
          "batch_input_shape": (
              lambda f, v: field_checks.shape(f, v, allow_none_first=True), _REQUIRED),
          "sparse": (_false, False), "ragged": (_false, False)}


# class name -> (fields beyond the common ones, shape rule)
_LAYERS = {
    "Dense": ({"units": (_int(), _REQUIRED), **_weighted("kernel", "bias")},
              shape_rules.dense),
    "Conv1D": (_conv_fields(1, "kernel", "bias"), shape_rules.conv(1)),
    "Conv2D": (_conv_fields(2, "kernel", "bias"), shape_rules.conv(2)),
    "DepthwiseConv2D": (_conv_fields(2, "depthwise", "bias", filters=False,
                                     depthwise=True), shape_rules.depthwise),
    "SeparableConv2D": (_conv_fields(2, "kernel", "bias", "depthwise", "pointwise",
                                     depthwise=True), shape_rules.separable),
    "Flatten": (dict(_CHANNELS_LAST), shape_rules.flatten),
    "Reshape": ({"target_shape": (lambda f, v: _target_shape(f, v), _REQUIRED)},
                shape_rules.reshape),
    "AveragePooling1D": (_pool_fields(1), shape_rules.pool(1)),
    "AveragePooling2D": (_pool_fields(2), shape_rules.pool(2)),
    "MaxPooling1D": (_pool_fields(1), shape_rules.pool(1)),
    "MaxPooling2D": (_pool_fields(2), shape_rules.pool(2)),
    "GlobalAveragePooling1D": ({"keepdims": (field_checks.boolean, False),
                                **_CHANNELS_LAST}, shape_rules.global_pool(1)),
    "GlobalAveragePooling2D": ({"keepdims": (field_checks.boolean, False),
                                **_CHANNELS_LAST}, shape_rules.global_pool(2)),
    "GlobalMaxPooling1D": ({"keepdims": (field_checks.boolean, False),
                            **_CHANNELS_LAST}, shape_rules.global_pool(1)),
    "GlobalMaxPooling2D": ({"keepdims": (field_checks.boolean, False),
                            **_CHANNELS_LAST}, shape_rules.global_pool(2)),
    "ZeroPadding1D": ({"padding": (lambda f, v: field_checks.pad_pairs(f, v, 1), 1)},
                      shape_rules.zero_padding(1)),
    "ZeroPadding2D": ({"padding": (lambda f, v: field_checks.pad_pairs(f, v, 2), 1),
                       **_CHANNELS_LAST}, shape_rules.zero_padding(2)),
    "Activation": ({"activation": (field_checks.activation, _REQUIRED)},
                   shape_rules.same_shape()),
    "ReLU": ({"max_value": (_optional(_number(0)), None),
              "negative_slope": (_number(0), 0.0), "threshold": (_number(0), 0.0)},
             shape_rules.same_shape()),
    "BatchNormalization": ({
        "axis": (lambda f, v: v, -1), "momentum": (_number(0, 1), 0.99),
        "epsilon": (_number(0, low_open=True), 1e-3),
        "center": (field_checks.boolean, True), "scale": (field_checks.boolean, True),
        "synchronized": (field_checks.boolean, False),
        **{f"{w}_initializer": (_object("initializer"), "zeros")
           for w in ("beta", "gamma", "moving_mean", "moving_variance")},
        **{f"{w}_{kind}": (_object(kind), None)
           for w in ("beta", "gamma") for kind in ("regularizer", "constraint")},
    }, shape_rules.batch_norm),
    "Dropout": (_DROPOUT, shape_rules.same_shape()),
    "SpatialDropout1D": (_SPATIAL_DROPOUT, shape_rules.same_shape(2)),
    "SpatialDropout2D": (_SPATIAL_DROPOUT, shape_rules.same_shape(3)),
    "SpatialDropout3D": (_SPATIAL_DROPOUT, shape_rules.same_shape(4)),
    "GaussianDropout": ({"rate": _DROPOUT["rate"], "seed": _DROPOUT["seed"]},
                        shape_rules.same_shape()),
    "AlphaDropout": (_DROPOUT, shape_rules.same_shape()),
    "GaussianNoise": ({"stddev": (_number(0), _REQUIRED),
                       "seed": (field_checks.seed, None)}, shape_rules.same_shape()),
    "Concatenate": ({"axis": (lambda f, v: v, -1)}, shape_rules.concatenate),
    "Add": ({}, shape_rules.add),
}
SUPPORTED_LAYERS = frozenset(_LAYERS) | {"InputLayer"}


def _target_shape(field, value):
    largest = field_checks.MAX_DIMENSION
    if not isinstance(value, list) or not 0 < len(value) <= field_checks.MAX_RANK \
            or not all(field_checks.is_int(d) and (d == -1 or 1 <= d <= largest)
                       for d in value) or value.count(-1) > 1:
        field_checks.fail(field,
                          f"a list of 1..{field_checks.MAX_RANK} sizes (at most one -1)",
                          value)
    return tuple(value)


def check_config(class_name: str, config, where: str) -> dict:
    """A layer's configuration checked, with Keras' defaults filled in.

    Parameters
    ----------
    class_name : str
        The layer class (one of :data:`SUPPORTED_LAYERS`).
    config : dict
        The layer's configuration.
    where : str
        Names the layer in messages.

    Returns
    -------
    dict
        ``config`` with every field checked and every missing optional field set to
        Keras' default.

    Raises
    ------
    ValidationError
        A field is invalid or missing (required). Unknown fields are refused: Keras
        would pass them to the layer.
    """
    if class_name == "InputLayer":
        fields = _INPUT
    else:
        fields = {**_COMMON, **_LAYERS[class_name][0]}
    if not isinstance(config, dict):
        field_checks.fail(f"{where}: config", "a dict", config)
    field_checks.known_keys(f"{where}: config", config, fields,
                              hint=f"; a {class_name} has: {', '.join(fields)}")
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
                 where: str) -> shape_rules.LayerShapes:
    """Output and weight shapes of a layer whose config passed :func:`check_config`.

    Parameters
    ----------
    class_name : str
        The layer class.
    config : dict
        Its configuration, as :func:`check_config` returned it.
    input_shapes : list of tuple of int
        The shapes of the tensors fed to it (without the batch dimension).
    where : str
        Names the layer in messages.

    Returns
    -------
    LayerShapes

    Raises
    ------
    ValidationError
        Sizes beyond the module's bounds, or inputs the layer cannot take.
    """
    rule = (shape_rules.input_layer if class_name == "InputLayer"
            else _LAYERS[class_name][1])
    shapes = rule(config, [tuple(s) for s in input_shapes], where)
    for dim in shapes.output:
        if not 1 <= dim <= field_checks.MAX_DIMENSION:
            raise ValidationError(f"{where}: output shape {shapes.output} has a size "
                                  f"outside 1..{field_checks.MAX_DIMENSION}")
    if len(shapes.output) > field_checks.MAX_RANK:
        raise ValidationError(f"{where}: output shape {shapes.output} has more than "
                              f"{field_checks.MAX_RANK} dimensions")
    if math.prod(shapes.output) > MAX_LAYER_OUTPUTS:
        raise ValidationError(f"{where}: output shape {shapes.output} holds more than "
                              f"{MAX_LAYER_OUTPUTS} numbers per example")
    n_weights = sum(math.prod(s) for s in shapes.weights)
    if n_weights > MAX_LAYER_WEIGHTS:
        raise ValidationError(f"{where}: weights of shapes {list(shapes.weights)} hold "
                              f"{n_weights} numbers, more than {MAX_LAYER_WEIGHTS}")
    return shapes
