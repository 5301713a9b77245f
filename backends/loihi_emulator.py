"""Backend ``"loihi-emulator"``: nengo-loihi's chip emulator (``target="sim"``).

The emulator runs the network as nengo-loihi builds it for the chip: discretized
weights, Loihi neurons, host↔chip spike transfer. It has no batch dimension and feeds
synaptic input through a Python loop over spikes: about 1 image/s on the seed network
(``benchmarks/bench_backends.py``).

The network is converted and its cores planned once, when it is prepared
(:func:`~snnkit.backends.loihi.planning.build_for_loihi`). ``sequential``: all inputs
in one run, one after another, read out at the end of each presentation: the
notebook's way. ``reset``: nengo-loihi 1.1.0 has no ``Simulator.reset``, so each input
gets a fresh nengo-loihi simulator of the same converted network (exact, slower).
"""

from __future__ import annotations

import warnings

import numpy as np

from snnkit.backends.base import Backend, PreparedNetwork
from snnkit.backends.loihi.planning import build_for_loihi, check_loihi_network
from snnkit.backends.registry import register_backend
from snnkit.backends.toolkit import present_sequentially


class _PreparedLoihi(PreparedNetwork):
    """The network converted for Loihi and its cores planned once; each run opens
    fresh nengo-loihi simulators of that build (see the module docstring)."""

    def __init__(self, backend, network):
        super().__init__(backend, network)
        self.built, self.core_plan = build_for_loihi(network, probe_layers=True)

    def simulate(self, x, n_steps, *, presentation, progress):
        activity = self.new_activity()
        with self.progress_bar(x.shape[0], presentation, progress) as bar:
            if presentation == "sequential":
                outputs = self._present(x, n_steps, activity)
                bar.update(x.shape[0])
            else:
                outputs = []
                for i in range(x.shape[0]):
                    outputs.append(self._present(x[i:i + 1], n_steps, activity))
                    bar.update(1)
                outputs = np.concatenate(outputs)
        return outputs, activity.summary()

    def _present(self, x, n_steps, activity):
        # nengo-loihi's own float64 outputs, kept: loihi-emulator-fast is compared
        # with them bit for bit
        return present_sequentially(self.built, x, n_steps, activity,
                                    self._open_simulator, dtype=None)

    def _open_simulator(self, built):
        from snnkit.utils.stack import import_nengo_loihi

        nengo_loihi = import_nengo_loihi()
        with warnings.catch_warnings():
            # nengo-loihi fills integer decay arrays with NaN before setting them
            # (emulator/interface.py): a harmless cast warning on every build.
            warnings.filterwarnings("ignore", message="invalid value encountered in cast",
                                    category=RuntimeWarning)
            return nengo_loihi.Simulator(built.net, dt=built.network.dt,
                                         target=self.backend.target, progress_bar=False)


@register_backend
class LoihiEmulatorBackend(Backend):
    """nengo-loihi's emulator; see the module docstring for the presentation modes."""

    name = "loihi-emulator"
    description = ("nengo-loihi's chip emulator (target 'sim'): the chip's integer "
                   "arithmetic, one input at a time (about 1 image/s)")
    target = "sim"

    def check_network(self, network) -> None:
        check_loihi_network(network)

    def build(self, network) -> PreparedNetwork:
        return _PreparedLoihi(self, network)
