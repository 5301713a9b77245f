"""Fan-out of each neuron layer, for counting synaptic operations.

A spike of neuron *i* in layer L costs one synaptic operation per nonzero weight from
*i* into the neuron layers it reaches through layers without neurons (Flatten,
Reshape, pooling, batch normalization, linear layers, residual sums and
concatenations). The fan-out is read off the linear map from L to those layers,
computed by pushing the identity through it (every other branch at zero): exact for
any stride, padding, pooling or merge.
"""

from __future__ import annotations

import numpy as np

from snnkit.convert.keras_model import to_keras
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_tensorflow

_MAX_MAP_ENTRIES = 64_000_000  # float32 entries: 256 MB at most per layer
_CHUNK = 1024                  # identity rows pushed through at once


def fan_out(network: FrozenNetwork) -> dict:
    """Synaptic operations per spike of each neuron, per neuron layer.

    Parameters
    ----------
    network : FrozenNetwork

    Returns
    -------
    dict of str to ndarray
        ``{neuron layer: fan-out per neuron (n_neurons,)}`` for every neuron layer
        that feeds another neuron layer; a layer whose map would hold more than
        64M entries is left out (its synaptic operations are not counted).
    """
    tf = import_tensorflow()

    model = to_keras(network)
    by_name = {layer.name: layer for layer in model.layers}
    graph, neurons = network.graph, set(network.neuron_layers)
    readers = {name: [] for name in graph.layer_names}
    for layer in graph.layers:
        for source in layer.inputs:
            readers[source].append(layer.name)
    order = list(graph.layer_names)
    result = {}
    for name in network.neuron_layers:
        between, targets = _reach(name, readers, neurons)
        if not targets:
            continue
        n_in = int(np.prod(network.layer_shape(name)))
        n_out = sum(int(np.prod(network.layer_shape(t))) for t in targets)
        if n_in * n_out > _MAX_MAP_ENTRIES:
            continue  # too large to materialize; synaptic ops are not counted for it
        path = [n for n in order if n in between or n in targets]
        counts = np.zeros(n_in, dtype=np.float64)
        for start in range(0, n_in, _CHUNK):
            stop = min(start + _CHUNK, n_in)
            eye = np.zeros((stop - start, n_in), np.float32)
            eye[np.arange(stop - start), np.arange(start, stop)] = 1.0
            values = {name: tf.constant(eye.reshape((-1,) + network.layer_shape(name)))}
            for current in path:
                inputs = [values[s] if s in values else
                          tf.zeros((stop - start,) + network.layer_shape(s))
                          for s in graph.layer(current).inputs]
                values[current] = _linear_part(by_name[current], inputs)
            counts[start:stop] = sum(
                (np.abs(values[t].numpy().reshape(stop - start, -1)) > 0).sum(axis=1)
                for t in targets)
        result[name] = counts
    return result


def _reach(name, readers, neurons):
    """The layers without neurons downstream of ``name`` up to the next neuron
    layers, and those neuron layers."""
    between, targets, todo = set(), set(), list(readers[name])
    while todo:
        current = todo.pop()
        if current in neurons:
            targets.add(current)
        elif current not in between:
            between.add(current)
            todo.extend(readers[current])
    return between, targets


def _linear_part(layer, inputs):
    """The layer's map without bias and activation, applied to ``inputs``."""
    tf = import_tensorflow()

    if isinstance(layer, tf.keras.layers.Add):
        return tf.add_n(inputs)
    if isinstance(layer, tf.keras.layers.Concatenate):
        return tf.concat(inputs, axis=-1)
    (x,) = inputs
    if isinstance(layer, tf.keras.layers.Dense):
        return tf.matmul(tf.reshape(x, (x.shape[0], -1)), layer.kernel)
    if isinstance(layer, (tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)):
        return layer.convolution_op(x, layer.kernel)
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        scale = 1.0 if layer.gamma is None else layer.gamma
        return x * scale / tf.sqrt(layer.moving_variance + layer.epsilon)
    if isinstance(layer, (tf.keras.layers.ReLU, tf.keras.layers.Activation)):
        return x  # the activation is the neurons; their input map is the identity
    return layer(x)
