"""Backend ``"loihi-emulator"``: nengo-loihi's chip emulator (``target="sim"``).

The emulator runs the network as nengo-loihi builds it for the chip: discretized
weights, Loihi neurons, host↔chip spike transfer. It has no batch dimension and feeds
synaptic input through a Python loop over spikes: about 1 image/s on the seed network
(BASELINE.md).

``sequential``: all inputs in one run, one after another (``PresentInput``), read out
at the end of each presentation: the notebook's way. ``reset``: nengo-loihi 1.1.0 has
no ``Simulator.reset``, so each input gets a freshly built simulator (exact, slower).
"""

from __future__ import annotations

import warnings

import nengo
import numpy as np
from tqdm.auto import tqdm

from snnkit.build import build_network
from snnkit.cost import fan_out
from snnkit.exceptions import BackendCapabilityError, LoihiMappingError
from snnkit.neurons import LOIHI_NEURON_TYPES
from snnkit.results import LayerActivity, layer_amplitudes

from .base import Backend
from .registry import register_backend


def check_loihi_network(network) -> None:
    """Loihi runs only Loihi neuron types, and something must be on the chip."""
    if not network.on_chip_layers:
        raise LoihiMappingError(
            "network: no layer is on chip (off_chip lists every neuron layer: "
            f"{', '.join(network.off_chip)}); Loihi needs at least one on-chip layer")
    if not network.neuron.runs_on_loihi:
        raise BackendCapabilityError(
            f"neuron_type: on-chip layer {network.on_chip_layers[0]!r} uses "
            f"{network.neuron.name!r}, which Loihi cannot run; allowed on chip: "
            f"{', '.join(LOIHI_NEURON_TYPES)}")


def loihi_block_shapes(network) -> dict:
    """The network's block shapes, with any missing ones planned automatically when
    the core mapper is installed (``snnkit.backends.core_mapping``)."""
    return dict(network.block_shapes)


@register_backend
class LoihiEmulatorBackend(Backend):
    """nengo-loihi's emulator; see the module docstring for the presentation modes."""

    name = "loihi-emulator"
    target = "sim"

    def check_network(self, network) -> None:
        check_loihi_network(network)

    def _simulator(self, built):
        import nengo_loihi

        with warnings.catch_warnings():
            # nengo-loihi fills integer decay arrays with NaN before setting them
            # (emulator/interface.py): a harmless cast warning on every build.
            warnings.filterwarnings("ignore", message="invalid value encountered in cast",
                                    category=RuntimeWarning)
            return nengo_loihi.Simulator(built.net, dt=built.network.dt,
                                         target=self.target, progress_bar=False)

    def _run(self, network, x, n_steps, *, presentation, progress, **options):
        activity = LayerActivity(layer_amplitudes(network), network.dt, fan_out(network))
        n = x.shape[0]
        bar = tqdm(total=n, desc=f"{self.name} ({presentation})", unit="input",
                   disable=not progress, leave=False)
        if presentation == "sequential":
            outputs = self._run_stream(network, x, n_steps, activity)
            bar.update(n)
        else:
            outputs = []
            for i in range(n):
                outputs.append(self._run_stream(network, x[i:i + 1], n_steps, activity))
                bar.update(1)
            outputs = np.concatenate(outputs)
        bar.close()
        return outputs, activity.summary()

    def _run_stream(self, network, x, n_steps, activity):
        """Present ``x`` one after another in one simulator; fills ``activity``."""
        n = x.shape[0]
        built = build_network(network, loihi=True, block_shapes=loihi_block_shapes(network))
        with built.net:
            built.input_node.output = nengo.processes.PresentInput(
                x, presentation_time=n_steps * network.dt)
        with self._simulator(built) as sim:
            sim.run_steps(n * n_steps)
            outputs = np.asarray(sim.data[built.output_probe]).reshape(n, n_steps, -1)
            for name, probe in built.probes.items():
                activity.add(name, np.asarray(sim.data[probe]).reshape(n, n_steps, -1))
        activity.finish_batch(n)
        return outputs
