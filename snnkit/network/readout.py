"""How the host reads the output layer out over time.

- ``"last"``: the output layer's value at each step, as the simulator gives it (with
  the network's synapse on its input): the seed notebook's readout.
- ``"mean"``: the running mean of that value over the steps since the input's onset,
  ``mean(output[1..t])``. The output layer runs on the host, so this is host
  arithmetic on what the chip sent; the chip part stays exactly as simulated. With
  no synapse it is the output layer applied to each neuron's spike count so far,
  which removes the step-to-step noise of reading single spikes.
"""

from __future__ import annotations

import numpy as np

from snnkit.utils.validation import check_choice

READOUTS = ("last", "mean")


def check_readout(readout) -> str:
    """``readout`` if it is one of :data:`READOUTS`."""
    return check_choice("readout", readout, READOUTS)


def apply_readout(outputs: np.ndarray, readout: str) -> np.ndarray:
    """``outputs`` read out as ``readout``.

    :mod:`snnkit.training.unrolled` has the TensorFlow twin it trains through.

    Parameters
    ----------
    outputs : ndarray
        ``(batch, n_steps, n_out)``.
    readout : {"last", "mean"}
        The readout.

    Returns
    -------
    ndarray
        ``(batch, n_steps, n_out)``.
    """
    check_readout(readout)
    if readout == "last":
        return outputs
    return np.cumsum(outputs, axis=1) / running_counts(outputs.shape[1], outputs.dtype)


def running_counts(n_steps: int, dtype=np.float64) -> np.ndarray:
    """What a running sum over steps is divided by to give the running mean.

    Parameters
    ----------
    n_steps : int
        The number of steps.
    dtype : numpy dtype
        The result's dtype.

    Returns
    -------
    ndarray
        ``1, 2, ..., n_steps`` shaped ``(1, n_steps, 1)``.
    """
    return np.arange(1, n_steps + 1, dtype=np.float64).reshape(1, -1, 1).astype(dtype)
