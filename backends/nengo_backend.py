"""Backend ``"nengo"``: nengo's reference ``nengo.Simulator`` (NumPy, float64).

The reference simulator defines what the network *means*; the other backends are
checked against it (``tests/test_conformance.py``). It has no batch dimension, so it
is the slowest backend on large inputs.

``reset``: one simulator, built on the first reset run and kept by the prepared
network; before each input it is reset (``Simulator.reset``: neuron, synapse and
probe state back to rest, same seed) and the input node reads the current image.
``sequential``: all inputs in one run, one after another
(:func:`~snnkit.backends.toolkit.present_sequentially`), read out at the end of each
presentation.
"""

from __future__ import annotations

import numpy as np

from snnkit.backends.base import Backend, PreparedNetwork
from snnkit.backends.registry import register_backend
from snnkit.backends.toolkit import present_sequentially, probe_data

SEED = 0  # same simulator seed as the "nengo-dl" backend: same initial neuron state


class _PreparedNengo(PreparedNetwork):
    """The network built for nengo once; one reset simulator kept across runs."""

    def __init__(self, backend, network):
        from snnkit.convert.to_nengo import build_network

        super().__init__(backend, network)
        self.built = build_network(network)
        self._current = np.zeros(self.built.input_size, np.float32)
        self._reset_sim = None

    def simulate(self, x, n_steps, *, presentation, progress):
        activity = self.new_activity()
        n = x.shape[0]
        with self.progress_bar(n, presentation, progress) as bar:
            if presentation == "sequential":
                outputs = present_sequentially(self.built, x, n_steps, activity,
                                               self._open_simulator, dtype=np.float32)
                bar.update(n)
                return outputs, activity.summary()
            sim, built = self._reset_simulator(), self.built
            outputs = np.empty((n, n_steps, built.output_probe.size_in), np.float32)
            for i in range(n):
                self._current[:] = x[i]
                sim.reset(seed=SEED)
                sim.run_steps(n_steps)
                outputs[i] = probe_data(sim, built.output_probe, 1, n_steps,
                                        np.float32)[0]
                for name, probe in built.probes.items():
                    activity.add(name, probe_data(sim, probe, 1, n_steps, np.float32))
                activity.finish_batch(1)
                bar.update(1)
        return outputs, activity.summary()

    def _reset_simulator(self):
        if self._reset_sim is None:
            # A callable output is read at every step, so one build serves all inputs.
            self.built.input_node.output = lambda t: self._current
            self._reset_sim = self._open_simulator(self.built)
        return self._reset_sim

    @staticmethod
    def _open_simulator(built):
        import nengo

        return nengo.Simulator(built.net, dt=built.network.dt, seed=SEED,
                               progress_bar=False)

    def close(self):
        if self._reset_sim is not None:
            self._reset_sim.close()
            self._reset_sim = None
        super().close()


@register_backend
class NengoBackend(Backend):
    """Runs the network in ``nengo.Simulator``.

    See the module docstring for the presentation modes.
    """

    name = "nengo"
    description = ("nengo's reference simulator (NumPy, float64): defines what the "
                   "network means; one input at a time, the slowest")

    def build(self, network) -> PreparedNetwork:
        return _PreparedNengo(self, network)
