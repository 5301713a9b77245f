"""Everything a backend author needs, in one import.

>>> from snnkit.backends.toolkit import Backend, PreparedNetwork, register_backend

- the contract: :class:`Backend`, :class:`PreparedNetwork`, :class:`RunSummary`
  (see :mod:`snnkit.backends.base`);
- registration: :func:`register_backend` (or an entry point, see
  :mod:`snnkit.backends.registry`);
- statistics: :class:`LayerActivity` (``PreparedNetwork.new_activity()`` makes one
  for the network) turns probe data or spike counts into a ``RunSummary``;
- input checks (already applied before ``simulate`` is called): :func:`check_inputs`,
  :func:`check_n_steps`;
- conversion to Nengo: :func:`build_network`; presentation helpers for simulators
  with nengo's interface (``run_steps``, ``data``): :func:`present_sequentially`,
  :func:`probe_data`; and for a ``nengo_dl.Simulator`` (the ``nengo-dl`` backend,
  the Trainer's rate measurements and the bench): :func:`predict_minibatches`.

Importing this module imports neither nengo nor TensorFlow.
"""

from __future__ import annotations

import numpy as np

from snnkit.backends.base import PRESENTATIONS, Backend, PreparedNetwork
from snnkit.backends.registry import register_backend
from snnkit.network.inputs import check_inputs, check_n_steps
from snnkit.network.results import LayerActivity, RunSummary

__all__ = [
    "PRESENTATIONS",
    "Backend",
    "LayerActivity",
    "PreparedNetwork",
    "RunSummary",
    "build_network",
    "check_inputs",
    "check_n_steps",
    "predict_minibatches",
    "present_sequentially",
    "probe_data",
    "register_backend",
]


def __getattr__(name: str):
    # build_network lives in snnkit.convert.to_nengo, which imports nengo: loaded on first use
    if name == "build_network":
        from snnkit.convert.to_nengo import build_network

        return build_network
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def probe_data(sim, probe, n_inputs: int, n_steps: int, dtype=None) -> np.ndarray:
    """A probe's data of ``n_inputs`` presentations, ``(n_inputs, n_steps, size)``;
    ``dtype=None`` keeps the simulator's (float64 for nengo and nengo-loihi)."""
    return np.asarray(sim.data[probe], dtype=dtype).reshape(n_inputs, n_steps, -1)


def present_sequentially(built, x, n_steps: int, activity: LayerActivity,
                         open_simulator, *, dtype=None) -> np.ndarray:
    """Show inputs ``x`` one after another in one simulator, each for ``n_steps``
    steps with state carried over, and read every presentation out.

    ``built``: a :class:`~snnkit.convert.to_nengo.BuiltNetwork` (its input node is set to a
    ``nengo.processes.PresentInput`` of ``x``); ``open_simulator(built)``: a new
    simulator of ``built.net`` usable as a context manager. Adds each probed layer
    to ``activity``; returns the outputs ``(N, n_steps, n_outputs)`` (``dtype`` as in
    :func:`probe_data`).
    """
    import nengo

    n = x.shape[0]
    with built.net:
        built.input_node.output = nengo.processes.PresentInput(
            x, presentation_time=n_steps * built.network.dt)
    with open_simulator(built) as sim:
        sim.run_steps(n * n_steps)
        outputs = probe_data(sim, built.output_probe, n, n_steps, dtype)
        for name, probe in built.probes.items():
            activity.add(name, probe_data(sim, probe, n, n_steps, dtype))
    activity.finish_batch(n)
    return outputs


def predict_minibatches(sim, built, x, n_steps: int, minibatch_size: int):
    """Run inputs ``x`` ``(N, input_size)`` through ``sim``, each held for ``n_steps``
    steps, one minibatch of ``minibatch_size`` at a time (the last one padded with
    zeros); yields ``(count, data)`` per minibatch, ``data`` the simulator's probe
    data of which the first ``count`` rows are real inputs."""
    count, batch = len(x), minibatch_size
    padded = np.concatenate([x, np.zeros((-count % batch, x.shape[1]), x.dtype)])
    for start in range(0, len(padded), batch):
        stop = min(start + batch, count)
        if stop <= start:
            break
        chunk = np.tile(padded[start:start + batch, None, :], (1, n_steps, 1))
        yield stop - start, sim.predict_on_batch({built.input_node: chunk})
