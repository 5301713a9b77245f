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

from .exceptions import ValidationError

READOUTS = ("last", "mean")


def check_readout(readout) -> str:
    if readout not in READOUTS:
        raise ValidationError(
            f"readout: expected one of {', '.join(READOUTS)}, got {readout!r}")
    return readout


def apply_readout(outputs, readout: str):
    """``outputs``: ``(batch, n_steps, n_out)``, a NumPy array or a TensorFlow tensor
    (same type back)."""
    check_readout(readout)
    if readout == "last":
        return outputs
    n_steps = outputs.shape[1]
    steps = np.arange(1, n_steps + 1, dtype=np.float64).reshape(1, -1, 1)
    if isinstance(outputs, np.ndarray):
        return np.cumsum(outputs, axis=1) / steps.astype(outputs.dtype)
    from ._stack import import_tensorflow

    tf = import_tensorflow()

    return tf.cumsum(outputs, axis=1) / tf.constant(steps, dtype=outputs.dtype)
