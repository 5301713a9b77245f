"""Checks of single fields of a Keras layer configuration, in pure Python.

Two kinds of fields:

- plain values (ints, sizes, strings from a fixed set), checked for type and range;
- fields Keras turns into objects or code when it rebuilds a layer: ``activation``,
  ``*_initializer``, ``*_regularizer`` and ``*_constraint``. Each is accepted only as
  a built-in Keras name from the allowlists below (a string, or a ``{"class_name",
  "config"}`` dict whose config holds plain numbers); ``module`` and
  ``registered_name`` entries may only point at Keras itself. Nothing here imports
  TensorFlow or runs anything from the configuration.

Every failure raises :class:`~snnkit.exceptions.ValidationError` naming the field,
what was expected and what was received.
"""

from __future__ import annotations

import math

from snnkit.exceptions import ValidationError, shown
from snnkit.utils.validation import fail, is_int, is_number

MAX_DIMENSION = 2 ** 24        # any one size (units, filters, a tensor dimension)
MAX_WINDOW = 2 ** 16           # kernel, pool, stride, dilation, padding sizes
MAX_RANK = 8                   # dimensions of a tensor, without the batch dimension
MAX_NAME_CHARS = 256

# Keras built-in activations that are plain functions of their input.
ACTIVATIONS = frozenset({
    "linear", "relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid", "tanh",
    "softmax", "softplus", "softsign", "swish", "exponential",
})

# class name -> the config keys it may carry; each also accepted as these string ids.
_SEED = ("seed",)
INITIALIZERS = {
    "Zeros": (), "Ones": (), "Constant": ("value",),
    "RandomNormal": ("mean", "stddev") + _SEED,
    "RandomUniform": ("minval", "maxval") + _SEED,
    "TruncatedNormal": ("mean", "stddev") + _SEED,
    "VarianceScaling": ("scale", "mode", "distribution") + _SEED,
    "GlorotUniform": _SEED, "GlorotNormal": _SEED, "HeUniform": _SEED,
    "HeNormal": _SEED, "LecunUniform": _SEED, "LecunNormal": _SEED,
    "Orthogonal": ("gain",) + _SEED, "Identity": ("gain",),
}
REGULARIZERS = {"L1": ("l1",), "L2": ("l2",), "L1L2": ("l1", "l2"),
                "OrthogonalRegularizer": ("factor", "mode")}
CONSTRAINTS = {"MaxNorm": ("max_value", "axis"), "NonNeg": (), "UnitNorm": ("axis",),
               "MinMaxNorm": ("min_value", "max_value", "rate", "axis"),
               "RadialConstraint": ()}
_STRING_IDS = {
    "initializer": {"zeros", "ones", "constant", "random_normal", "random_uniform",
                    "truncated_normal", "variance_scaling", "glorot_uniform",
                    "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                    "lecun_normal", "orthogonal", "identity"} | set(INITIALIZERS),
    "regularizer": {"l1", "l2", "l1_l2", "orthogonal_regularizer"} | set(REGULARIZERS),
    "constraint": {"max_norm", "non_neg", "unit_norm", "min_max_norm",
                   "radial_constraint"} | set(CONSTRAINTS),
}
_CLASSES = {"initializer": INITIALIZERS, "regularizer": REGULARIZERS,
            "constraint": CONSTRAINTS}
_OBJECT_KEYS = frozenset({"class_name", "config", "module", "registered_name",
                          "shared_object_id"})
# string options of initializer/regularizer configs
_WORDS = frozenset({"fan_in", "fan_out", "fan_avg", "truncated_normal",
                    "untruncated_normal", "uniform", "normal", "rows", "columns"})
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
INPUT_DTYPES = FLOAT_DTYPES | {"uint8", "int8", "int16", "int32", "int64"}


def known_keys(field: str, mapping, allowed, hint: str = "") -> None:
    """Raise unless every key of ``mapping`` is in ``allowed``.

    Parameters
    ----------
    field : str
        Names the field in the message.
    mapping : Mapping
        The keys checked.
    allowed : collection of str
        The keys accepted.
    hint : str
        Added to the message (e.g. the valid fields).

    Raises
    ------
    ValidationError
        Naming the other keys (sorted).
    """
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValidationError(
            f"{field}: unknown field(s) {', '.join(map(shown, unknown))}{hint}")


def integer(field, value, low=1, high=MAX_DIMENSION) -> int:
    if not is_int(value) or not low <= value <= high:
        fail(field, f"an int in {low}..{high}", value)
    return value


def number(field, value, low=-math.inf, high=math.inf, low_open=False) -> float:
    ok = is_number(value) and (value > low if low_open else value >= low) \
        and value <= high
    if not ok:
        bounds = [f"> {low}" if low_open else f">= {low}"] if low > -math.inf else []
        bounds += [f"<= {high}"] if high < math.inf else []
        fail(field, "a finite number" + (" " + " and ".join(bounds) if bounds else ""),
             value)
    return float(value)


def boolean(field, value) -> bool:
    if not isinstance(value, bool):
        fail(field, "true or false", value)
    return value


def choice(field, value, options) -> str:
    if not isinstance(value, str) or value.lower() not in options:
        fail(field, f"one of {', '.join(sorted(options))}", value)
    return value.lower()


def name(field, value) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_CHARS:
        fail(field, f"a name of 1..{MAX_NAME_CHARS} characters", value)
    return value


def seed(field, value):
    return None if value is None else integer(field, value, 0, 2 ** 63 - 1)


def int_tuple(field, value, length: int, low=1, high=MAX_WINDOW) -> tuple:
    """A field of ``length`` ints in ``low..high``, as a tuple.

    Parameters
    ----------
    field : str
        Names the field in the message.
    value : int or list of int
        An int (repeated ``length`` times, as Keras' ``normalize_tuple``) or a list
        of ``length`` ints.
    length : int
        How many ints.
    low, high : int
        The bounds of each int.

    Returns
    -------
    tuple of int
    """
    if is_int(value):
        value = [value] * length
    if not isinstance(value, list) or len(value) != length \
            or not all(is_int(v) and low <= v <= high for v in value):
        fail(field, f"an int or a list of {length} ints in {low}..{high}", value)
    return tuple(value)


def pad_pairs(field, value, length: int) -> tuple:
    """ZeroPadding's ``padding`` as ``length`` (before, after) pairs.

    Parameters
    ----------
    field : str
        Names the field in the message.
    value : int or list
        ZeroPadding1D: an int or one pair; ZeroPadding2D: an int, 2 ints (symmetric)
        or 2 pairs.
    length : int
        1 for ZeroPadding1D, 2 for ZeroPadding2D.

    Returns
    -------
    tuple of (int, int)
    """
    if is_int(value):
        value = [value] * length if length > 1 else [value, value]
    if length == 1:
        return (int_tuple(field, value, 2, 0),)
    if isinstance(value, list) and all(is_int(v) for v in value):
        return tuple((s, s) for s in int_tuple(field, value, length, 0))
    if not isinstance(value, list) or len(value) != length:
        fail(field, f"an int, {length} ints or {length} pairs of ints", value)
    return tuple(int_tuple(field, pair, 2, 0) for pair in value)


def shape(field, value, *, allow_none_first=False) -> tuple:
    """A static tensor shape: a list of positive ints.

    Parameters
    ----------
    field : str
        Names the field in the message.
    value : list
        The shape.
    allow_none_first : bool
        The first size is the batch dimension: it may be None, and is left out of
        the result.

    Returns
    -------
    tuple of int
    """
    if not isinstance(value, list) or not 0 < len(value) <= MAX_RANK + 1:
        fail(field, f"a list of 1..{MAX_RANK + 1} sizes", value)
    start = 1 if allow_none_first else 0
    if allow_none_first and value[0] is not None:
        integer(field, value[0])
    dims = value[start:]
    if not all(is_int(d) and 1 <= d <= MAX_DIMENSION for d in dims):
        fail(field, f"sizes that are ints in 1..{MAX_DIMENSION}", value)
    return tuple(dims)


def dtype(field, value, allowed=FLOAT_DTYPES) -> str:
    if not isinstance(value, str) or value not in allowed:
        fail(field, f"one of {', '.join(sorted(allowed))}", value)
    return value


def activation(field, value, allowed=ACTIVATIONS) -> str:
    """A built-in activation by name (None means linear)."""
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in allowed:
        fail(field, f"a built-in activation name ({', '.join(sorted(allowed))})", value)
    return value


def keras_object(field, value, kind: str):
    """An initializer, regularizer or constraint, checked against the built-in ones.

    Parameters
    ----------
    field : str
        Names the field in the message.
    value : None, str or dict
        None (not for initializers), a built-in string id, or
        ``{"class_name": <built-in>, "config": {plain values}}``.
    kind : {"initializer", "regularizer", "constraint"}
        What the field holds.

    Returns
    -------
    None, str or dict
        ``value``, unchanged.
    """
    if value is None and kind != "initializer":
        return None
    if isinstance(value, str):
        if value not in _STRING_IDS[kind]:
            fail(field, f"a built-in {kind} ({', '.join(sorted(_CLASSES[kind]))})",
                 value)
        return value
    classes = _CLASSES[kind]
    if not isinstance(value, dict) or not set(value) <= _OBJECT_KEYS \
            or "config" not in value or not isinstance(value.get("class_name"), str) \
            or value["class_name"] not in classes:
        fail(field, f"a built-in {kind} ({', '.join(sorted(classes))}) as a name or "
             "a {class_name, config} dict", value)
    cls = value["class_name"]
    if value.get("module") not in (None, f"keras.{kind}s"):
        fail(f"{field}.module", f"keras.{kind}s or none", value["module"])
    if value.get("registered_name") not in (None, cls):
        fail(f"{field}.registered_name", f"{cls!r} or none", value["registered_name"])
    if "shared_object_id" in value:
        integer(f"{field}.shared_object_id", value["shared_object_id"], 0, 2 ** 63 - 1)
    config = value["config"]
    if not isinstance(config, dict) or not set(config) <= set(classes[cls]):
        fail(f"{field}.config", f"a dict with keys among {list(classes[cls])}", config)
    for key, item in config.items():
        _plain_option(f"{field}.config.{key}", key, item)
    return value


def _plain_option(field, key, value) -> None:
    if key == "seed":
        seed(field, value)
    elif key == "axis":
        if not (is_int(value) or isinstance(value, list) and len(value) <= MAX_RANK
                and all(is_int(v) for v in value)) \
                or not all(-MAX_RANK - 1 <= v <= MAX_RANK for v in
                           (value if isinstance(value, list) else [value])):
            fail(field, "an axis or a list of axes", value)
    elif key in ("mode", "distribution"):
        choice(field, value, _WORDS)
    elif key == "value" and isinstance(value, list):
        _nested_numbers(field, value)  # a Constant initializer of an array
    else:
        number(field, value)


def _nested_numbers(field, value) -> None:
    """A nested list of finite numbers at most ``MAX_RANK`` deep (an array as JSON);
    its size is bounded by the text it was read from."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, list):
            if depth > MAX_RANK:
                fail(field, f"an array of at most {MAX_RANK} dimensions", value)
            todo.extend((v, depth + 1) for v in item)
        else:
            number(field, item)


def axis(field, value, rank: int) -> int:
    """One axis of a tensor of ``rank`` dims plus the batch dimension.

    Parameters
    ----------
    field : str
        Names the field in the message.
    value : int or list of int
        The axis; Keras stores it as an int or a one-element list.
    rank : int
        Dimensions of the tensor, without the batch dimension.

    Returns
    -------
    int
        The axis as a positive index (1..rank).
    """
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not is_int(value) or not -rank <= value <= rank or value == 0:
        fail(field, f"an axis in 1..{rank} or -{rank}..-1 (not the batch axis 0)", value)
    return value if value > 0 else rank + 1 + value
