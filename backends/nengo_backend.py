"""Backend ``"nengo"``: nengo's reference ``nengo.Simulator`` (NumPy, float64).

The reference simulator defines what the network *means*; the other backends are
checked against it (``tests/test_conformance.py``). It has no batch dimension, so it
is the slowest backend on large inputs.

``reset``: the network is built once; before each input the simulator is reset
(``Simulator.reset``: neuron, synapse and probe state back to rest, same seed) and the
input node reads the current image. ``sequential``: all inputs in one run, one after
another (``nengo.processes.PresentInput``), read out at the end of each presentation.
"""

from __future__ import annotations

import nengo
import numpy as np
from tqdm.auto import tqdm

from snnkit.build import build_network
from snnkit.cost import fan_out
from snnkit.results import LayerActivity, layer_amplitudes

from .base import Backend
from .registry import register_backend

SEED = 0  # same simulator seed as the "nengo-dl" backend: same initial neuron state


@register_backend
class NengoBackend(Backend):
    """Runs the network in ``nengo.Simulator``; see the module docstring for the
    presentation modes."""

    name = "nengo"

    def _run(self, network, x, n_steps, *, presentation, progress, **options):
        built = build_network(network)
        activity = LayerActivity(layer_amplitudes(network), network.dt, fan_out(network))
        n = x.shape[0]
        bar = tqdm(total=n, desc=f"{self.name} ({presentation})", unit="input",
                   disable=not progress, leave=False)
        if presentation == "sequential":
            with built.net:
                built.input_node.output = nengo.processes.PresentInput(
                    x, presentation_time=n_steps * network.dt)
            with nengo.Simulator(built.net, dt=network.dt, seed=SEED,
                                 progress_bar=False) as sim:
                sim.run_steps(n * n_steps)
                outputs = _probed(sim, built.output_probe, n, n_steps)
                for name, probe in built.probes.items():
                    activity.add(name, _probed(sim, probe, n, n_steps))
            activity.finish_batch(n)
            bar.update(n)
        else:
            current = {"x": x[0]}
            # A callable output is read at every step, so one build serves all inputs.
            built.input_node.output = lambda t: current["x"]
            outputs = np.empty((n, n_steps, built.output_probe.size_in), np.float32)
            with nengo.Simulator(built.net, dt=network.dt, seed=SEED,
                                 progress_bar=False) as sim:
                for i in range(n):
                    current["x"] = x[i]
                    sim.reset(seed=SEED)
                    sim.run_steps(n_steps)
                    outputs[i] = _probed(sim, built.output_probe, 1, n_steps)[0]
                    for name, probe in built.probes.items():
                        activity.add(name, _probed(sim, probe, 1, n_steps))
                    activity.finish_batch(1)
                    bar.update(1)
        bar.close()
        return outputs, activity.summary()


def _probed(sim, probe, n, n_steps) -> np.ndarray:
    return np.asarray(sim.data[probe], dtype=np.float32).reshape(n, n_steps, -1)
