"""Checks on what a caller feeds a network: inputs and step counts.

Shared by every backend, the Trainer's input readers, callbacks and the bench, so the
same bad input gets the same message everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.utils.validation import check_int

if TYPE_CHECKING:
    from snnkit.network.frozen import FrozenNetwork


def check_inputs(network: FrozenNetwork, x, argument: str = "x") -> np.ndarray:
    """Validate inputs against the network.

    Parameters
    ----------
    network : FrozenNetwork
        The network the inputs are for.
    x : array_like
        Images as ``load_mnist`` returns them, ``(N,) + network.input_shape``, or
        flattened ``(N, input_size)``; real and finite.
    argument : str
        Named in every error.

    Returns
    -------
    ndarray
        float32 ``(N, input_size)``.

    Raises
    ------
    ValidationError
        Inputs that are not numeric, real, finite or of one of those shapes (or none
        at all), or negative inputs to a network whose spike encoder passes inputs
        >= 0 only, naming ``argument``.
    """
    shape = tuple(network.input_shape)
    size = int(np.prod(shape))
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValidationError(f"{argument}: expected numeric images, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise ValidationError(
            f"{argument}: expected real-valued images, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValidationError(f"{argument}: expected at least one input of shape "
                              f"{shape}, got shape {x.shape}")
    if x.shape[1:] != shape and x.shape[1:] != (size,):
        raise ValidationError(
            f"{argument}: expected shape (N, {', '.join(map(str, shape))}) or "
            f"(N, {size}), got {x.shape}")
    finite_already = not np.issubdtype(x.dtype, np.inexact)  # ints and bools
    x = x.reshape(x.shape[0], size).astype(np.float32)
    if not finite_already and not np.all(np.isfinite(x)):
        bad = int(np.argmax(~np.isfinite(x).all(axis=1)))
        raise ValidationError(f"{argument}: inputs must be finite; input {bad} has NaN "
                              "or inf")
    _check_encoder_range(network, x, argument)
    return x


def _check_encoder_range(network: FrozenNetwork, x: np.ndarray, argument: str) -> None:
    """A spike encoder that snnkit added as an identity ReLU passes inputs >= 0 only
    (``metadata["spike_encoder"]``, :mod:`snnkit.convert.spike_encoder`): refuse
    negative inputs rather than clip them silently."""
    encoder = network.metadata.get("spike_encoder")
    if not isinstance(encoder, dict) or encoder.get("signed") is not False:
        return
    lowest = x.min(axis=1)
    if lowest.min() < 0:
        bad = int(np.argmin(lowest))
        raise ValidationError(
            f"{argument}: this network's spike encoder {encoder.get('layer')!r} passes "
            "inputs >= 0 only (snnkit added it to a model with one ReLU layer), but "
            f"{argument} has a negative minimum {lowest[bad]:.4g} (input {bad}); "
            "freeze the model with spike_encoder='signed' for inputs of any sign")


def check_n_steps(n_steps) -> int:
    """``n_steps`` (steps of ``dt`` per input) as an int >= 1."""
    return check_int("n_steps", n_steps, low=1)
