"""Number and path checks shared by the whole package: each raises an error that names
the argument, what was expected and what was received.

Every check takes ``error``, what makes the exception from the message: an exception
class (default :class:`~snnkit.exceptions.ValidationError`; the tuning package passes
its ``SearchConfigError``) or a function returning one (the search-state checks add
the file and what to do). Refused values are shown by
:func:`~snnkit.exceptions.shown`, so a megabyte value read from a file makes a short
message. Imports nothing heavy: any module may use it.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

from snnkit.exceptions import ValidationError, shown


def is_number(value) -> bool:
    """A real, finite number (int, float or a NumPy scalar of either); not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        math.isfinite(value)


def is_int(value) -> bool:
    """An int or NumPy integer; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def fail(argument: str, expected: str, value, *, error=ValidationError):
    """Raise ``argument: expected <expected>, got <value>``."""
    raise error(f"{argument}: expected {expected}, got {shown(value)}")


def check_int(argument: str, value, *, low: int | None = None, high: int | None = None,
              what: str = "", error=ValidationError) -> int:
    """``value`` as an int in ``[low, high]``.

    Parameters
    ----------
    argument : str
        Named in the message.
    value : object
        The value checked: an int or NumPy integer (a bool or a float is refused).
    low, high : int or None
        The inclusive bounds (either optional).
    what : str
        Says where a bound comes from (e.g. ``"len(x_val)"``).
    error : type or callable
        Makes the exception from the message (see the module docstring).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    ValidationError
        For a value that is not an int or lies outside the bounds (or the exception
        ``error`` makes).
    """
    note = f" ({what})" if what else ""
    if low is not None and high is not None:
        expected = f"an int from {low} to {high}{note}"
    elif low is not None:
        expected = f"an int >= {low}{note}"
    elif high is not None:
        expected = f"an int <= {high}{note}"
    else:
        expected = "an int"
    if not is_int(value) or (low is not None and value < low) or \
            (high is not None and value > high):
        fail(argument, expected, value, error=error)
    return int(value)


def check_number(argument: str, value, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False, unit: str = "",
                 error=ValidationError) -> float:
    """``value`` as a finite float in ``[low, high]``.

    Parameters
    ----------
    argument : str
        Named in the message.
    value : object
        The value checked: a real number (a bool, NaN or infinity is refused).
    low, high : float or None
        The inclusive bounds (either optional).
    low_open : bool
        ``(low, high]`` instead.
    unit : str
        The value's unit, named in the message (e.g. ``"seconds"``).
    error : type or callable
        Makes the exception from the message (see the module docstring).

    Returns
    -------
    float
        ``value`` converted to a Python float (a NumPy scalar or an int too).

    Raises
    ------
    ValidationError
        For anything else (or the exception ``error`` makes).
    """
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"<= {high:g}")
    ok = is_number(value) \
        and (low is None or (value > low if low_open else value >= low)) \
        and (high is None or value <= high)
    if not ok:
        unit = f" ({unit})" if unit else ""
        expected = " and ".join(["a finite number " + bounds[0]] + bounds[1:]) if bounds \
            else "a finite number"
        fail(argument, expected + unit, value, error=error)
    return float(value)


def check_positive(argument: str, value, unit: str = "", *,
                   error=ValidationError) -> float:
    """``value`` as a finite float > 0: :func:`check_number` with ``low=0`` open.

    ``argument``, ``unit`` and ``error`` are as in :func:`check_number`; a value
    that is not a real number, or is 0 or less, raises ``ValidationError`` (or the
    exception ``error`` makes).
    """
    return check_number(argument, value, low=0, low_open=True, unit=unit, error=error)


def check_at_least(argument: str, value, low: float, unit: str = "", *,
                   error=ValidationError) -> float:
    """``value`` as a finite float >= ``low``."""
    return check_number(argument, value, low=low, unit=unit, error=error)


def check_fraction(argument: str, value, *, error=ValidationError) -> float:
    """``value`` as a float strictly between 0 and 1."""
    if not is_number(value) or not 0 < value < 1:
        fail(argument, "a fraction in (0, 1)", value, error=error)
    return float(value)


def check_choice(argument: str, value, choices, *, error=ValidationError):
    """``value`` if it is one of ``choices``; else ``argument: expected one of a, b,
    got 'c'``."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value
        known = False
    if not known:
        raise error(f"{argument}: expected one of {', '.join(map(str, choices))}, "
                    f"got {shown(value)}")
    return value


def check_finite(argument: str, value, *, error=ValidationError) -> float:
    """``value`` as a finite float."""
    return check_number(argument, value, error=error)


def check_labels(argument: str, y, n_inputs: int, n_classes: int, *,
                 error=ValidationError) -> np.ndarray:
    """``y`` as ``(n_inputs,)`` integer class labels in ``0..n_classes - 1``.

    Parameters
    ----------
    argument : str
        Named in the message.
    y : array_like
        The labels.
    n_inputs : int
        One label per input.
    n_classes : int
        The model's outputs.
    error : type or callable
        Makes the exception from the message (see the module docstring).

    Returns
    -------
    ndarray
        ``y`` as an array, unchanged (its integer dtype kept).

    Raises
    ------
    ValidationError
        For labels of another shape, not integers, or out of range (or the
        exception ``error`` makes).
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_inputs:
        raise error(f"{argument}: expected one integer label per image ({n_inputs}), "
                    f"got labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise error(f"{argument}: expected integer labels, got dtype {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise error(f"{argument}: labels must be in 0..{n_classes - 1} (the model has "
                    f"{n_classes} outputs), got {int(y.min())}..{int(y.max())}")
    return y


def check_output_file(argument: str, path, *, inputs=(),
                      error=ValidationError) -> Path:
    """A path a file can be written to: not a folder, in a folder that exists.

    Parameters
    ----------
    argument : str
        Named in the message.
    path : str or os.PathLike
        The file to write.
    inputs : iterable of (str, path)
        ``(argument, path)`` of the files the work reads: ``path`` must be none of
        them (not the same file, nor a hard or symbolic link to it).
    error : type or callable
        Makes the exception from the message (see the module docstring).

    Returns
    -------
    Path
        ``path`` as a ``Path`` (not resolved: a link stays a link).

    Raises
    ------
    ValidationError
        For a folder, a FIFO, device or socket (a write would block, or replace it
        with a file), a missing folder, or one of ``inputs`` (or the exception
        ``error`` makes).
    """
    try:
        path = Path(os.fspath(path))
    except TypeError:
        raise error(f"{argument}: expected a file path, got "
                    f"{type(path).__name__}") from None
    check_not_input(argument, path, inputs, error=error)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise error(f"{argument}: cannot write {shown(str(path), 200)}: its folder "
                    f"{shown(str(folder), 200)} does not exist")
    return path


def check_not_input(argument: str, path, inputs=(), *, error=ValidationError) -> None:
    """``path`` may be written: not a folder, FIFO, device or socket, and none of
    ``inputs`` (the same file, a hard or a symbolic link).

    Parameters
    ----------
    argument : str
        Named in the message.
    path : str or os.PathLike
        The file to write (it need not exist yet).
    inputs : iterable of (str, path or None)
        ``(argument, path)`` of the files the work reads; a None path is skipped.
    error : type or callable
        Makes the exception from the message (see the module docstring).

    Raises
    ------
    ValidationError
        Naming ``argument`` (or the exception ``error`` makes).
    """
    shown_path = shown(str(path), 200)
    if os.path.isdir(path):
        raise error(f"{argument}: expected a file path, got a folder: {shown_path}")
    kind = special_file_kind(path)
    if kind is not None:
        raise error(f"{argument}: {shown_path} is {kind}, not a regular file; snnkit "
                    "writes new or regular files only")
    for name, other in inputs:
        if other is not None and same_file(path, other):
            raise error(f"{argument}: {shown_path} is the input {name} "
                        f"({shown(str(other), 200)}), or a link to it; writing it would "
                        "destroy the input: give another path")


def special_file_kind(path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a folder
    (``"a FIFO"``, ``"a device"``, ``"a socket"``); None otherwise."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` both exist and are one file (same device and inode:
    the same path, a hard link or a symbolic link)."""
    try:
        first, second = os.stat(a), os.stat(b)
    except (OSError, ValueError, TypeError):
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def renamed(owner: str, old: str, old_value, new: str, new_value):
    """The value of an argument that has a deprecated old name.

    Parameters
    ----------
    owner : str
        The function or class, named in the messages.
    old, new : str
        The old and the new name.
    old_value, new_value
        What each was given (None: not given).

    Returns
    -------
    object
        ``new_value``, or ``old_value`` (with a DeprecationWarning) if only it was
        given.

    Raises
    ------
    ValidationError
        If both were given.
    """
    if old_value is None:
        return new_value
    if new_value is not None:
        raise ValidationError(f"{owner}: {old} is the deprecated name of {new}; give "
                              f"{new} only, got both")
    warnings.warn(f"{owner}: {old} is deprecated and will be removed after the next "
                  f"release; use {new}", DeprecationWarning, stacklevel=3)
    return old_value
