"""Rewrites of a converted Nengo network that let nengo-loihi 1.1.0 build what
nengo-dl makes of ordinary Keras models. Each is exact: the network computes the same
function, and its chip part is what nengo-loihi then builds and the fast emulator
replays bit for bit.

- :func:`conv1d_as_conv2d`: nengo-loihi builds only 2-D convolutions; every 1-D
  ``nengo.Convolution`` (``Conv1D``, 1-D pooling) becomes the 2-D convolution of
  height 1.
- :func:`collapse_linear`: nengo-dl makes ``Add``, ``Concatenate``, linear
  ``Conv``/``Dense`` layers, batch normalization and pooling passthrough nodes, which
  nengo-loihi cannot place between chip layers (it merges only dense matrices).
  Every connection that reaches an on-chip neuron layer through such nodes is
  replaced by direct connections from each source layer, the transforms composed
  exactly (:mod:`.linear_maps`), each path keeping its one synapse; constants met on
  the way (biases) become the target neurons' own bias. A residual sum is then
  several weighted connections into the next neuron layer, a concatenation the next
  layer's kernel split by input channel.
- :func:`host_relays`: a convolution or pooling that reads on-chip neurons from the
  host (a convolutional head, global average pooling before the output) cannot be a
  chip-to-host connection; the host receives the spikes through an identity
  connection into a relay node and applies the convolution itself.

- :func:`biases_without_sparse` (first): nengo-dl broadcasts a convolution's bias
  through a ``Sparse`` transform, which nengo-loihi cannot map; it becomes the neurons'
  own bias.

All take the :class:`~snnkit.convert.to_nengo.BuiltNetwork` of a FrozenNetwork
converted by nengo-dl; :func:`snnkit.backends.loihi.build.build_loihi_network` runs
them in order.
"""

from __future__ import annotations

import nengo
import numpy as np

from snnkit.backends.loihi import linear_maps as maps
from snnkit.exceptions import LoihiMappingError

# --- convolution biases ----------------------------------------------------------------

def biases_without_sparse(built) -> None:
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
    net = built.net
    incoming = _incoming(net)
    relays = [c for c in net.all_connections if isinstance(c.pre_obj, nengo.Node)
              and str(c.pre_obj.label).endswith("bias_relay")]
    for relay_conn in relays:
        relay, target = relay_conn.pre_obj, relay_conn.post_obj
        feeds = incoming.get(relay, [])
        channel_bias = sum(np.asarray(c.transform.init, dtype=np.float64)[:, 0]
                           for c in feeds)
        broadcast = np.asarray(relay_conn.transform.init.toarray(),
                               np.float64) @ channel_bias
        for conn in [relay_conn] + feeds:
            remove(net, conn)
        for node in [relay] + [c.pre_obj for c in feeds]:
            remove(net, node)
        if isinstance(target, nengo.ensemble.Neurons):
            gain, bias = _gain_bias(target.ensemble)
            target.ensemble.bias = bias + gain * broadcast
        else:
            with net:
                constant = nengo.Node(broadcast, label=f"{relay.label[:-len('_relay')]}")
                nengo.Connection(constant, target, synapse=None)


# --- 1-D convolutions -----------------------------------------------------------------

def conv1d_as_conv2d(built) -> int:
    """Write every 1-D convolution transform as the 2-D one of height 1: input
    ``(1, L, C)``, kernel ``(1, k, C, F)``, strides ``(1, s)``, the same padding.
    Returns how many were rewritten."""
    net, n = built.net, 0
    for conn in list(net.all_connections):
        t = conn.transform
        if not isinstance(t, nengo.Convolution) or t.dimensions != 1:
            continue
        length, channels = t.input_shape.shape
        as_2d = nengo.Convolution(
            n_filters=t.n_filters, input_shape=(1, length, channels),
            kernel_size=(1, t.kernel_size[0]), strides=(1, t.strides[0]),
            padding=t.padding, channels_last=True, init=np.asarray(t.init)[None])
        with net:
            nengo.Connection(conn.pre, conn.post, transform=as_2d, synapse=conn.synapse,
                             label=conn.label)
        remove(net, conn)
        n += 1
    return n


# --- passthrough chains into on-chip layers -------------------------------------------

def collapse_linear(built) -> list[tuple[str, str, str]]:
    """Replace every connection into an on-chip neuron layer that comes from a
    passthrough node by direct, composed connections (see the module docstring).

    Returns
    -------
    list of (str, str, str)
        ``(target layer, source, kind of transform)`` of each connection made.

    Raises
    ------
    LoihiMappingError
        A path with two synapses in series, inputs of one on-chip layer with
        different synapses, or a composition too large to write (naming the layer).
    """
    net, network = built.net, built.network
    input_node = built.input_node
    on_chip = {built.neurons[name].ensemble: name for name in network.on_chip_layers}
    layer_of = {obj.ensemble: name for name, obj in built.neurons.items()}
    made = []
    incoming = _incoming(net)
    for ensemble, name in on_chip.items():
        neurons = ensemble.neurons
        gain, bias = _gain_bias(ensemble)
        bias_changed = False
        for conn in list(incoming.get(neurons, [])):
            if not _is_passthrough(conn.pre_obj) or conn.pre_obj is input_node:
                continue
            try:
                terms = _terms(conn, incoming, input_node)
            except LoihiMappingError as e:
                raise LoihiMappingError(f"layer {name!r}: {e}") from e
            new = []
            for source, pre_slice, chain, synapse in terms:
                if _is_constant(source, input_node):
                    if synapse is not None:
                        raise LoihiMappingError(
                            f"layer {name!r}: a constant input reaches it filtered")
                    value = np.asarray(source.output, np.float64)[pre_slice]
                    bias = bias + gain * maps.apply(chain, value)
                    bias_changed = True
                    continue
                source_layer = layer_of.get(getattr(source, "ensemble", None))
                if source_layer is not None and maps.is_full(pre_slice):
                    chain = [_as_pointwise_conv(chain[0],
                                                network.layer_shape(source_layer))] \
                        + chain[1:]
                try:
                    ops = maps.simplify(chain)
                    if len(ops) != 1 or isinstance(ops[0], (maps.Scatter, maps.Gather)):
                        ops = [maps.Dense(maps.to_matrix(ops))]
                except LoihiMappingError as e:
                    raise LoihiMappingError(
                        f"layer {name!r} reads {source_layer or source.label!r} through "
                        f"linear layers that Loihi cannot take as connections: {e}; "
                        "use 'valid' padding on linear convolutions, or give the linear "
                        "layer neurons (a ReLU)") from e
                pre = source if maps.is_full(pre_slice) else source[pre_slice]
                new.append((pre, maps.to_transform(ops[0]), synapse))
                made.append((name, source_layer or str(source.label),
                             type(ops[0]).__name__))
            remove(net, conn)
            with net:
                for pre, transform, synapse in new:
                    options = {} if transform is None else {"transform": transform}
                    nengo.Connection(pre, neurons, synapse=synapse, **options)
        if bias_changed:
            ensemble.bias = bias
    _prune(net, input_node)
    _check_one_synapse(net, built)
    return made


def _terms(conn, incoming, input_node, seen=()):
    """``conn`` expanded back through passthrough nodes: a list of ``(source object,
    pre slice, chain of ops into conn.post_obj's input, synapse)``."""
    pre = conn.pre_obj
    own = maps.ops_of_connection(conn)
    if not _is_passthrough(pre) or pre is input_node:
        return [(pre, conn.pre_slice, own, conn.synapse)]
    if pre in seen:
        raise LoihiMappingError(f"a loop of passthrough nodes through {pre.label!r}")
    terms = []
    for inner in incoming.get(pre, []):
        mid = maps.gather_of_slice(pre.size_out, conn.pre_slice)
        for source, sl, chain, synapse in _terms(inner, incoming, input_node,
                                                 seen + (pre,)):
            terms.append((source, sl, chain + mid + own,
                          _in_series(synapse, conn.synapse, pre)))
    return terms


def _in_series(first, second, node):
    if first is None:
        return second
    if second is None:
        return first
    raise LoihiMappingError(f"two synapses in series ({first}, {second}) through "
                            f"{node.label!r}")


def _as_pointwise_conv(op, shape):
    """An identity or per-channel scaling between maps of ``shape`` ``(H, W, C)`` as a
    1x1 convolution: Loihi then shares the ``C x C`` kernel over positions (one input
    axon per position instead of one per neuron)."""
    if len(shape) != 3 or op.n_in != int(np.prod(shape)):
        return op
    if isinstance(op, maps.Ident):
        per_channel = np.ones(shape[-1])
    elif isinstance(op, maps.Diag):
        per_channel = maps._per_channel(op.v, shape)
        if per_channel is None:
            return op
    else:
        return op
    return maps.Conv(np.diag(per_channel)[None, None], tuple(shape), (1, 1), "valid")


def _check_one_synapse(net, built) -> None:
    """Loihi filters a compartment's whole input with one synapse (nengo-loihi keeps
    the largest, with a warning): every input of an on-chip layer needs the same."""
    network = built.network
    for name in network.on_chip_layers:
        neurons = built.neurons[name]
        synapses = {repr(c.synapse) for c in net.all_connections if c.post_obj == neurons}
        if len(synapses) > 1:
            raise LoihiMappingError(
                f"layer {name!r}: its inputs have different synapses "
                f"({', '.join(sorted(synapses))}); Loihi filters all of a layer's input "
                "with one synapse")


def check_host_inputs(built) -> None:
    """Refuse, before nengo-loihi builds it, an on-chip layer that reads a host value
    (not spikes) through a convolution: nengo-loihi encodes host values into spikes
    for the chip only through dense weights, and fails deep in its builder
    otherwise."""
    for name in built.network.on_chip_layers:
        neurons = built.neurons[name]
        for conn in built.net.all_connections:
            if conn.post_obj == neurons and not isinstance(conn.pre_obj,
                                                           nengo.ensemble.Neurons) \
                    and isinstance(conn.transform, nengo.Convolution):
                raise LoihiMappingError(
                    f"model: on-chip layer {name!r} reads {conn.pre_obj.label!r}, a "
                    "value on the host, through a convolution; Loihi receives spikes, "
                    "and nengo-loihi encodes host values only through dense weights: "
                    f"list {name!r} in off_chip, or put a neuron layer (ReLU) on that "
                    "path")


# --- chip layers read by host convolutions --------------------------------------------

def host_relays(built) -> list[tuple[str, str, str]]:
    """Send on-chip spikes to the host through a relay before a convolution: chip
    neurons -> relay node (identity, the connection's synapse) -> the convolution on
    the host. Returns ``(source layer, target, transform kind)`` of each one moved."""
    net, network = built.net, built.network
    on_chip = {built.neurons[name].ensemble: name for name in network.on_chip_layers}
    relays, made = {}, []
    for conn in list(net.all_connections):
        pre, post = conn.pre_obj, conn.post_obj
        if not isinstance(pre, nengo.ensemble.Neurons) or pre.ensemble not in on_chip:
            continue
        if getattr(post, "ensemble", post) in on_chip:
            continue
        if not isinstance(conn.transform, nengo.Convolution):
            continue
        key = (pre, repr(conn.pre_slice), repr(conn.synapse))
        if key not in relays:
            with net:
                relays[key] = nengo.Node(size_in=conn.size_in,
                                         label=f"{on_chip[pre.ensemble]}.host_relay")
                nengo.Connection(conn.pre, relays[key], synapse=conn.synapse)
        with net:
            nengo.Connection(relays[key], conn.post, transform=conn.transform,
                             synapse=None)
        remove(net, conn)
        made.append((on_chip[pre.ensemble], str(post.label),
                     type(conn.transform).__name__))
    return made


# --- helpers ----------------------------------------------------------------------------

def _is_passthrough(obj) -> bool:
    return isinstance(obj, nengo.Node) and obj.output is None


def _is_constant(obj, input_node) -> bool:
    return (isinstance(obj, nengo.Node) and obj is not input_node
            and isinstance(obj.output, np.ndarray) and obj.size_in == 0)


def _incoming(net) -> dict:
    incoming = {}
    for conn in net.all_connections:
        incoming.setdefault(conn.post_obj, []).append(conn)
    return incoming


def _gain_bias(ensemble):
    def per_neuron(value):
        value = value.sample(ensemble.n_neurons) if hasattr(value, "sample") else value
        return np.asarray(value, np.float64).reshape(-1) * np.ones(ensemble.n_neurons)

    return per_neuron(ensemble.gain), per_neuron(ensemble.bias)


def _prune(net, input_node) -> None:
    """Remove passthrough and constant nodes that feed nothing (and are not probed),
    with their incoming connections, until none is left."""
    probed = {p.target.obj if isinstance(p.target, nengo.base.ObjView) else p.target
              for p in net.all_probes}
    while True:
        used = {c.pre_obj for c in net.all_connections}
        dead = [n for n in net.all_nodes
                if n not in used and n not in probed and n is not input_node
                and (_is_passthrough(n) or _is_constant(n, input_node))]
        if not dead:
            return
        for node in dead:
            for conn in [c for c in net.all_connections if c.post_obj is node]:
                remove(net, conn)
            remove(net, node)


def remove(net, obj) -> None:
    """Remove ``obj`` (a connection or node) from whichever (sub)network holds it."""
    for sub in [net] + list(net.all_networks):
        container = sub.connections if isinstance(obj, nengo.Connection) else sub.nodes
        if obj in container:
            container.remove(obj)
            return
    raise KeyError(obj)
