"""Turn a FrozenNetwork into a Nengo network (what every backend runs).

Conversion is ``nengo_dl.Converter`` on the frozen Keras architecture and weights, with
ReLU swapped for the network's neuron type, its per-layer ``scale_firing_rates`` and
synapse. For Loihi targets the off-chip layers are marked ``on_chip=False`` and the
block shapes are applied.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import nengo
import numpy as np

from .exceptions import ConversionError
from .frozen import FrozenNetwork


@dataclass(frozen=True)
class BuiltNetwork:
    """A Nengo network converted from a FrozenNetwork, with handles on its parts.

    ``neurons`` and ``probes`` are keyed by Keras layer name; ``probes`` record each
    neuron layer's output (amplitude-scaled spikes or rates) at every step with no
    synapse. ``amplitudes`` are the per-layer neuron amplitudes after scaling
    (``output / amplitude`` is the firing rate in Hz for spiking types, ``/ dt``
    already included by nengo).
    """

    network: FrozenNetwork
    converter: object
    net: nengo.Network
    model: object  # tf.keras.Model
    input_node: nengo.Node
    output_probe: nengo.Probe
    neurons: dict
    probes: dict
    amplitudes: dict

    @property
    def input_size(self) -> int:
        return int(np.prod(self.network.input_shape))


def build_network(network: FrozenNetwork, *, probe_layers: bool = True,
                  loihi: bool = False, block_shapes: dict | None = None) -> BuiltNetwork:
    """Convert ``network`` to Nengo.

    ``loihi=True`` adds nengo-loihi's config (``on_chip``, ``block_shape``);
    ``block_shapes`` overrides the network's own (``{layer: shape}``).
    """
    from ._stack import import_nengo_dl

    nengo_dl = import_nengo_dl()

    model = network.to_keras()
    layers = {layer.name: layer for layer in model.layers}
    scales = {layers[name]: s for name, s in network.scale_firing_rates.items()}
    with warnings.catch_warnings():
        # A model without ReLU layers leaves the swap unused: not worth a warning.
        warnings.filterwarnings("ignore", message="swap_activations contained")
        try:
            converter = nengo_dl.Converter(
                model,
                allow_fallback=False,
                swap_activations={nengo.RectifiedLinear(): network.neuron.build()},
                scale_firing_rates=scales or None,
                synapse=network.synapse,
            )
        except (TypeError, ValueError) as e:
            raise ConversionError(
                f"model: nengo-dl cannot convert this Keras model natively ({e}); "
                "use Conv/Dense/Flatten/AveragePooling layers with ReLU or linear "
                "activations") from e

    neurons = {name: converter.layers[layers[name]] for name in network.neuron_layers}
    probes = {}
    with converter.net:
        if probe_layers:
            for name, obj in neurons.items():
                probes[name] = nengo.Probe(obj, label=f"{name}.spikes")
        if loihi:
            _biases_without_sparse(converter.net)
            _configure_loihi(converter.net, network, neurons, block_shapes)

    return BuiltNetwork(
        network=network,
        converter=converter,
        net=converter.net,
        model=model,
        input_node=converter.inputs[model.inputs[0]],
        output_probe=converter.outputs[model.outputs[0]],
        neurons=neurons,
        probes=probes,
        amplitudes={name: float(obj.ensemble.neuron_type.amplitude)
                    for name, obj in neurons.items()},
    )


def _configure_loihi(net, network, neurons, block_shapes) -> None:
    from ._stack import import_nengo_loihi

    nengo_loihi = import_nengo_loihi()

    nengo_loihi.add_params(net)
    shapes = dict(network.block_shapes)
    shapes.update(block_shapes or {})
    for name, obj in neurons.items():
        ens = obj.ensemble
        if name in network.off_chip:
            net.config[ens].on_chip = False
        elif name in shapes:
            net.config[ens].block_shape = nengo_loihi.BlockShape(
                tuple(shapes[name]), network.layer_shape(name))


def _biases_without_sparse(net) -> None:
    """Give every convolution's bias a form nengo-loihi can map.

    nengo-dl feeds a convolution's per-channel bias from a constant node through a
    relay node and a ``Sparse`` broadcast; nengo-loihi cannot map a ``Sparse``
    host-to-chip connection, and the fast emulator replays no sparse host operator.
    Into neurons, the bias becomes the neurons' own bias (a Loihi compartment's bias,
    as dense layers' neurons already use): the relay's connection is multiplied by
    the ensemble's gain (the layer's scale), so the bias moves over scaled the same.
    Into a linear layer (a node), it becomes one constant node of the broadcast
    values, as nengo-dl builds batch normalization's offset.
    """
    incoming = {}
    for conn in net.all_connections:
        incoming.setdefault(conn.post_obj, []).append(conn)
    relays = [c for c in net.all_connections if isinstance(c.pre_obj, nengo.Node)
              and str(c.pre_obj.label).endswith("bias_relay")]
    for relay_conn in relays:
        relay, target = relay_conn.pre_obj, relay_conn.post_obj
        feeds = incoming.get(relay, [])
        channel_bias = sum(np.asarray(c.transform.init, dtype=np.float64)[:, 0]
                           for c in feeds)
        broadcast = np.asarray(relay_conn.transform.init.toarray(), np.float64) @ channel_bias
        for conn in [relay_conn] + feeds:
            _remove(net, conn)
        for node in [relay] + [c.pre_obj for c in feeds]:
            _remove(net, node)
        if isinstance(target, nengo.ensemble.Neurons):
            ens = target.ensemble
            gain, bias = (np.asarray(v.sample(ens.n_neurons) if hasattr(v, "sample") else v,
                                     dtype=np.float64).reshape(-1)
                          for v in (ens.gain, ens.bias))
            ens.bias = bias + gain * broadcast
        else:
            with net:
                constant = nengo.Node(broadcast, label=f"{relay.label[:-len('_relay')]}")
                nengo.Connection(constant, target, synapse=None)


def _remove(net, obj) -> None:
    """Remove ``obj`` from whichever (sub)network holds it."""
    for sub in [net] + list(net.all_networks):
        container = sub.connections if isinstance(obj, nengo.Connection) else sub.nodes
        if obj in container:
            container.remove(obj)
            return
