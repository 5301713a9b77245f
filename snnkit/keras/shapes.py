"""Output and weight shapes of the supported Keras layers, computed in pure Python
from a checked configuration (:func:`snnkit.keras.layers.check_config`): one shape
rule per layer class, ``rule(config, input shapes, where) -> LayerShapes``. Shapes
exclude the batch dimension and follow Keras 2.12 (``channels_last`` only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snnkit.exceptions import ValidationError
from snnkit.keras import fields as field_checks

MAX_INPUTS = 64  # tensors into one merge layer


@dataclass(frozen=True)
class LayerShapes:
    """A layer's output shape and the shapes of its weights.

    Attributes
    ----------
    output : tuple of int
        The output shape (without the batch dimension).
    weights : tuple of tuple of int
        The shapes of its weights, in ``get_weights()`` order (without the batch
        dimension).
    """

    output: tuple[int, ...]
    weights: tuple[tuple[int, ...], ...]


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


def dense(c, shapes, where):
    shape = _one_input(shapes, where)
    units = c["units"]
    return LayerShapes(shape[:-1] + (units,), ((shape[-1], units),) + _bias(c, units))


def conv(rank):
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


def depthwise(c, shapes, where):
    shape = _one_input(shapes, where, 3)
    _single_group(c, where)
    channels, multiplier = shape[-1], c["depth_multiplier"]
    out = _spatial(c, shape, where, "kernel_size") + (channels * multiplier,)
    kernel = c["kernel_size"] + (channels, multiplier)
    return LayerShapes(out, (kernel,) + _bias(c, channels * multiplier))


def separable(c, shapes, where):
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


def pool(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        return LayerShapes(_spatial(c, shape, where, "pool_size", dilation=False)
                           + shape[-1:], ())
    return rule


def global_pool(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        return LayerShapes((1,) * rank + shape[-1:] if c["keepdims"] else shape[-1:], ())
    return rule


def zero_padding(rank):
    def rule(c, shapes, where):
        shape = _one_input(shapes, where, rank + 1)
        padded = tuple(size + a + b for size, (a, b) in zip(shape, c["padding"]))
        return LayerShapes(padded + shape[-1:], ())
    return rule


def flatten(c, shapes, where):
    return LayerShapes((math.prod(_one_input(shapes, where)),), ())


def reshape(c, shapes, where):
    size = math.prod(_one_input(shapes, where))
    target = c["target_shape"]
    known = math.prod(d for d in target if d != -1)
    if target.count(-1) == 1 and size % known == 0:
        target = tuple(size // known if d == -1 else d for d in target)
    if math.prod(target) != size or -1 in target:
        raise ValidationError(f"{where}: target_shape {list(c['target_shape'])} does "
                              f"not hold the input's {size} numbers")
    return LayerShapes(target, ())


def same_shape(rank=None):
    return lambda c, shapes, where: LayerShapes(_one_input(shapes, where, rank), ())


def batch_norm(c, shapes, where):
    shape = _one_input(shapes, where)
    channels = shape[field_checks.axis(f"{where}: axis", c["axis"], len(shape)) - 1]
    weights = ((channels,),) * (int(c["scale"]) + int(c["center"]) + 2)
    return LayerShapes(shape, weights)


def _merge_inputs(shapes, where):
    if not 2 <= len(shapes) <= MAX_INPUTS:
        raise ValidationError(f"{where}: expected 2..{MAX_INPUTS} input tensors, "
                              f"got {len(shapes)}")
    if len({len(s) for s in shapes}) != 1:
        raise ValidationError(f"{where}: inputs of different ranks: {list(shapes)}")


def concatenate(c, shapes, where):
    _merge_inputs(shapes, where)
    axis = field_checks.axis(f"{where}: axis", c["axis"], len(shapes[0])) - 1
    rest = {s[:axis] + s[axis + 1:] for s in shapes}
    if len(rest) != 1:
        raise ValidationError(f"{where}: inputs must match except on axis "
                              f"{c['axis']}, got {list(shapes)}")
    out = shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]
    return LayerShapes(out, ())


def add(c, shapes, where):
    _merge_inputs(shapes, where)
    out = shapes[0]
    for shape in shapes[1:]:
        if any(a != b and 1 not in (a, b) for a, b in zip(out, shape)):
            raise ValidationError(f"{where}: inputs of incompatible shapes "
                                  f"{list(shapes)}")
        out = tuple(max(a, b) for a, b in zip(out, shape))
    return LayerShapes(out, ())


def input_layer(c, shapes, where):
    if shapes:
        raise ValidationError(f"{where}: an InputLayer takes no inputs")
    return LayerShapes(c["batch_input_shape"], ())
