"""The reference the fast emulator must equal: nengo-loihi's own emulator, one input at
a time, each from rest (:func:`reference_run`). Slow; for tests and benchmarks."""

import warnings

from snnkit.utils.stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["reference_run"]


def reference_run(network, input_node, output_probe, x, n_steps, layers=None):
    """nengo-loihi's emulator, one input at a time, each from rest.

    Builds a fresh ``nengo_loihi.Simulator(network, target="sim")`` per row of
    ``x`` (``Simulator.reset`` is not implemented in nengo-loihi 1.1.0), with the
    input node's output set to that row. Slow: seconds per input.

    Parameters
    ----------
    network : nengo.Network
        The network to run.
    input_node : nengo.Node
        The node whose output is set to each row of ``x``.
    output_probe : nengo.Probe
        The probe whose data is returned as the outputs.
    x : array_like, shape (batch, input_size)
        One input per row.
    n_steps : int
        Steps per input.
    layers : dict of str to nengo.ensemble.Neurons, optional
        A probe per entry is added to ``network`` (they do not change the dynamics).

    Returns
    -------
    outputs : ndarray
        ``(batch, n_steps, out_dim)``.
    spikes : dict of str to ndarray
        ``{layer name: uint8 (batch, n_steps, n_neurons)}``.
    """
    layers = dict(layers or {})
    with network:
        probes = {name: nengo.Probe(neurons) for name, neurons in layers.items()}
    original = input_node.output
    outputs, spikes = [], {name: [] for name in layers}
    try:
        for row in np.asarray(x):
            input_node.output = np.array(row, dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with nengo_loihi.Simulator(network, target="sim") as sim:
                    sim.run_steps(n_steps)
            outputs.append(np.array(sim.data[output_probe]))
            for name, p in probes.items():
                spikes[name].append((np.asarray(sim.data[p]) != 0).astype(np.uint8))
    finally:
        input_node.output = original
    return np.stack(outputs), {k: np.stack(v) for k, v in spikes.items()}
