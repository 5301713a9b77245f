"""Search dimensions: how a user gives one (a fixed value, ``(low, high)`` bounds or a
list of choices), checked, and added to keras-tuner's ``HyperParameters``."""

from __future__ import annotations

from keras_tuner import HyperParameters

from snnkit.exceptions import shown
from snnkit.utils.validation import is_int, is_number

from .errors import SearchConfigError


def check_bounds(argument: str, value, *, integer: bool = False):
    """A search dimension, checked.

    Parameters
    ----------
    argument : str
        The argument's name, for the messages.
    value : float, tuple or list
        A number (fixed), ``(low, high)`` with ``0 < low < high`` (searched, log
        scale), or a list of values (one is chosen).
    integer : bool
        Whether the values are ints.

    Returns
    -------
    tuple
        ``("fixed", value)``, ``("range", (low, high))`` or ``("choice", values)``.

    Raises
    ------
    SearchConfigError
        For anything else.
    """
    kind = "int" if integer else "number"
    if isinstance(value, list):
        if not value or not all(_positive(v, integer) for v in value):
            raise SearchConfigError(
                f"{argument}: expected a non-empty list of {kind}s > 0, got "
                f"{shown(value)}")
        return ("choice", [int(v) if integer else float(v) for v in value])
    if isinstance(value, tuple):
        if len(value) != 2 or not all(_positive(v, integer) for v in value):
            raise SearchConfigError(
                f"{argument}: expected (low, high) {kind}s with 0 < low < high, "
                f"got {shown(value)}")
        low, high = value
        if not low < high:
            raise SearchConfigError(
                f"{argument}: bounds reversed or empty: expected low < high, got "
                f"(low={low!r}, high={high!r})")
        return ("range", (int(low), int(high)) if integer else (float(low), float(high)))
    if _positive(value, integer):
        return ("fixed", int(value) if integer else float(value))
    raise SearchConfigError(
        f"{argument}: expected a {kind} > 0, (low, high) bounds or a list of values, "
        f"got {shown(value)}")


def add_dimension(hp: HyperParameters, name: str, spec, *, integer: bool = False):
    """Add the dimension ``spec`` (from :func:`check_bounds`) to ``hp`` as ``name``."""
    kind, value = spec
    if kind == "fixed":
        hp.Fixed(name, value)
    elif kind == "choice":
        hp.Choice(name, value)
    elif integer:
        hp.Int(name, value[0], value[1])
    else:
        hp.Float(name, value[0], value[1], sampling="log")


def spec_range(spec) -> tuple:
    """``(smallest, largest)`` value a checked dimension can take."""
    kind, value = spec
    if kind == "fixed":
        return value, value
    return (min(value), max(value)) if kind == "choice" else tuple(value)


def _positive(value, integer):
    return (is_int(value) if integer else is_number(value)) and value > 0
