"""Fan-out of each neuron layer, for counting synaptic operations.

A spike of neuron *i* in layer L costs one synaptic operation per nonzero weight from
*i* into the next neuron layer (through any Flatten/Reshape/pooling in between). The
fan-out is read off the linear map between the two layers, computed by pushing the
identity through it: exact for any stride, padding or pooling.
"""

from __future__ import annotations

import numpy as np

from snnkit.convert.keras_model import to_keras
from snnkit.network.frozen import FrozenNetwork

_MAX_MAP_ENTRIES = 64_000_000  # float32 entries: 256 MB at most per layer


def fan_out(network: FrozenNetwork) -> dict:
    """``{neuron layer: fan-out per neuron (n_neurons,)}`` for every neuron layer
    that feeds another neuron layer."""
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    model = to_keras(network)
    by_name = {layer.name: layer for layer in model.layers}
    result = {}
    for name in network.neuron_layers:
        path = _path_to_next_neuron_layer(by_name[name], set(network.neuron_layers))
        if path is None:
            continue
        n_in = int(np.prod(network.layer_shape(name)))
        n_out = int(np.prod(network.layer_shape(path[-1].name)))
        if n_in * n_out > _MAX_MAP_ENTRIES:
            continue  # too large to materialize; synaptic ops are not counted for it
        counts = np.zeros(n_in, dtype=np.float64)
        for start in range(0, n_in, 1024):
            stop = min(start + 1024, n_in)
            eye = np.zeros((stop - start, n_in), np.float32)
            eye[np.arange(stop - start), np.arange(start, stop)] = 1.0
            x = tf.constant(eye.reshape((-1,) + network.layer_shape(name)))
            for layer in path:
                x = _linear_part(layer, x)
            counts[start:stop] = (np.abs(x.numpy().reshape(stop - start, -1)) > 0).sum(axis=1)
        result[name] = counts
    return result


def _path_to_next_neuron_layer(layer, neuron_layers):
    """Layers from ``layer``'s output to the next neuron layer (single consumer chain)."""
    path, current = [], layer
    while True:
        consumers = [node.outbound_layer for node in current.outbound_nodes]
        if len(consumers) != 1:
            return None
        current = consumers[0]
        path.append(current)
        if current.name in neuron_layers:
            return path


def _linear_part(layer, x):
    """The layer's map without bias and activation (weights only)."""
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    if isinstance(layer, tf.keras.layers.Dense):
        return tf.matmul(tf.reshape(x, (x.shape[0], -1)), layer.kernel)
    if isinstance(layer, (tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)):
        return layer.convolution_op(x, layer.kernel)
    if isinstance(layer, tf.keras.layers.ReLU):
        return x
    return layer(x)
