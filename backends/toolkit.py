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

from typing import TYPE_CHECKING

import numpy as np

from snnkit.backends.base import PRESENTATIONS, Backend, PreparedNetwork
from snnkit.backends.registry import register_backend
from snnkit.network.inputs import check_inputs, check_n_steps
from snnkit.network.results import LayerActivity, RunSummary

if TYPE_CHECKING:  # at run time, loaded on first use by __getattr__ below
    from snnkit.convert.to_nengo import build_network

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
    # build_network lives in snnkit.convert.to_nengo, which imports nengo: loaded on
    # first use
    if name == "build_network":
        from snnkit.convert.to_nengo import build_network

        return build_network
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def probe_data(sim, probe, n_inputs: int, n_steps: int, dtype=None) -> np.ndarray:
    """A probe's data of ``n_inputs`` presentations, ``(n_inputs, n_steps, size)``.

    Parameters
    ----------
    sim : nengo.Simulator
        A simulator with nengo's interface (``data``).
    probe : nengo.Probe
        The probe to read.
    n_inputs : int
        Presentations in the probe's data.
    n_steps : int
        Steps per presentation.
    dtype : numpy dtype or None, optional
        None keeps the simulator's (float64 for nengo and nengo-loihi).

    Returns
    -------
    ndarray
    """
    return np.asarray(sim.data[probe], dtype=dtype).reshape(n_inputs, n_steps, -1)


def present_sequentially(built, x, n_steps: int, activity: LayerActivity,
                         open_simulator, *, dtype=None) -> np.ndarray:
    """Show inputs one after another in one simulator and read each presentation out.

    Each input of ``x`` is shown for ``n_steps`` steps, with state carried over.

    Parameters
    ----------
    built : BuiltNetwork
        A :class:`~snnkit.convert.to_nengo.BuiltNetwork`; its input node is set to a
        ``nengo.processes.PresentInput`` of ``x``.
    x : ndarray
        Inputs ``(N, input_size)``.
    n_steps : int
        Steps per input.
    activity : LayerActivity
        Each probed layer is added to it.
    open_simulator : callable
        ``open_simulator(built)``: a new simulator of ``built.net`` usable as a
        context manager.
    dtype : numpy dtype or None, optional
        As in :func:`probe_data`.

    Returns
    -------
    ndarray
        The outputs ``(N, n_steps, n_outputs)``.
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
    """Run inputs ``x`` through ``sim``, one minibatch at a time.

    Parameters
    ----------
    sim : nengo_dl.Simulator
        A simulator of ``built.net`` with a minibatch size of ``minibatch_size``.
    built : BuiltNetwork
        A :class:`~snnkit.convert.to_nengo.BuiltNetwork`.
    x : ndarray
        Inputs ``(N, input_size)``, each held for ``n_steps`` steps.
    n_steps : int
        Steps per input.
    minibatch_size : int
        Inputs per minibatch (the last one padded with zeros).

    Yields
    ------
    count : int
        The real inputs in this minibatch.
    data : dict
        The simulator's probe data, of which the first ``count`` rows are real
        inputs.
    """
    count, batch = len(x), minibatch_size
    padded = np.concatenate([x, np.zeros((-count % batch, x.shape[1]), x.dtype)])
    for start in range(0, len(padded), batch):
        stop = min(start + batch, count)
        if stop <= start:
            break
        chunk = np.tile(padded[start:start + batch, None, :], (1, n_steps, 1))
        yield stop - start, sim.predict_on_batch({built.input_node: chunk})
