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

import json
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
        layers = ", ".join(repr(name) for name in network.on_chip_layers)
        raise BackendCapabilityError(
            f"neuron_type: on-chip layer(s) {layers} use {network.neuron.name!r}, "
            f"which Loihi cannot run; allowed on chip: {', '.join(LOIHI_NEURON_TYPES)} "
            "(or list the layer in off_chip)")
    _check_pooling(network)


_POOLING = ("AveragePooling1D", "AveragePooling2D")


def _check_pooling(network) -> None:
    """nengo-loihi 1.1.0 builds nengo-dl's average pooling (a convolution into a
    passthrough node) only on the host: next to an on-chip layer it fails with
    "Mergeable transforms must be Dense" or "Conv2D transforms not supported for
    off-chip to on-chip connections". Say so before building, in our words."""
    layers = json.loads(network.model_json)["config"]["layers"]
    inbound = {}
    for layer in layers:
        nodes = layer.get("inbound_nodes") or []
        inbound[layer["config"]["name"]] = [n[0] for node in nodes for n in node]
    outbound = {name: [] for name in inbound}
    for name, sources in inbound.items():
        for source in sources:
            outbound[source].append(name)
    neurons = set(network.neuron_layers)

    def nearest(name, edges):
        found, todo = set(), list(edges[name])
        while todo:
            current = todo.pop()
            if current in neurons:
                found.add(current)
            else:
                todo.extend(edges[current])
        return found

    for layer in layers:
        if layer["class_name"] not in _POOLING:
            continue
        name = layer["config"]["name"]
        on_chip = sorted((nearest(name, inbound) | nearest(name, outbound))
                         & set(network.on_chip_layers))
        if on_chip:
            raise BackendCapabilityError(
                f"model: pooling layer {name!r} is next to on-chip layer(s) "
                f"{', '.join(map(repr, on_chip))}; nengo-loihi 1.1.0 can run average "
                "pooling only between off-chip layers (e.g. on the input, before the "
                "first neuron layer); move the pooling there, use a strided "
                "convolution instead, or list those layers in off_chip")


def plan_loihi_cores(network, block_shapes: dict | None = None):
    """The core plan (:class:`~snnkit.backends.core_mapping.CorePlan`) of every
    on-chip layer: the network's own block shapes and ``block_shapes`` (``{layer:
    shape}``, these win) are kept as given, the rest are chosen to fit Loihi's
    per-core limits with as few cores as possible. ``plan.table()`` prints it."""
    from .core_mapping import plan_cores

    check_loihi_network(network)
    given = dict(network.block_shapes)
    given.update(block_shapes or {})
    # Built whole (no block shapes): the planner cuts each layer itself.
    built = build_network(network.replace(block_shapes={}), probe_layers=False,
                          loihi=True)
    layers = {name: built.neurons[name].ensemble for name in network.on_chip_layers}
    shapes = {name: network.layer_shape(name) for name in network.on_chip_layers}
    return plan_cores(built.net, layers, shapes, given=given)


def loihi_block_shapes(network, block_shapes: dict | None = None) -> dict:
    """A block shape for every on-chip layer: given ones (the network's, then
    ``block_shapes``) as they are, missing ones planned by :func:`plan_loihi_cores`."""
    return dict(plan_loihi_cores(network, block_shapes).block_shapes)


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
        # Planned once per run: every simulator below gets the same cores.
        shapes = loihi_block_shapes(network)
        activity = LayerActivity(layer_amplitudes(network), network.dt, fan_out(network))
        n = x.shape[0]
        bar = tqdm(total=n, desc=f"{self.name} ({presentation})", unit="input",
                   disable=not progress, leave=False)
        if presentation == "sequential":
            outputs = self._run_stream(network, x, n_steps, activity, shapes)
            bar.update(n)
        else:
            outputs = []
            for i in range(n):
                outputs.append(
                    self._run_stream(network, x[i:i + 1], n_steps, activity, shapes))
                bar.update(1)
            outputs = np.concatenate(outputs)
        bar.close()
        return outputs, activity.summary()

    def _run_stream(self, network, x, n_steps, activity, block_shapes):
        """Present ``x`` one after another in one simulator; fills ``activity``."""
        n = x.shape[0]
        built = build_network(network, loihi=True, block_shapes=block_shapes)
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
