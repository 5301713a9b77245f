"""The Loihi targets' Nengo build: a FrozenNetwork converted as every backend converts
it (:func:`snnkit.convert.to_nengo.build_network`), then given what nengo-loihi needs:
the off-chip layers marked ``on_chip=False``, block shapes, and convolution biases in
a form nengo-loihi can map."""

from __future__ import annotations

import nengo
import numpy as np

from snnkit.convert import to_nengo
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_nengo_loihi


def build_loihi_network(network: FrozenNetwork, *, probe_layers: bool = True,
                        block_shapes: dict | None = None) -> to_nengo.BuiltNetwork:
    """Convert ``network`` to Nengo with nengo-loihi's settings.

    Parameters
    ----------
    network : FrozenNetwork
    probe_layers : bool
        Probe every neuron layer's output.
    block_shapes : dict, optional
        ``{layer: per-core block shape}``; overrides the network's own.

    Returns
    -------
    BuiltNetwork
    """
    built = to_nengo.build_network(network, probe_layers=probe_layers)
    with built.net:
        _biases_without_sparse(built.net)
        _configure_loihi(built.net, network, built.neurons, block_shapes)
    return built


def _configure_loihi(net, network, neurons, block_shapes) -> None:
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
