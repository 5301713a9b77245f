"""An identity spike encoder for models whose only neuron layer would run off-chip."""

from __future__ import annotations

import numpy as np

from snnkit.exceptions import ConversionError

ENCODER_NAME = "to-spikes"


def add_spike_encoder(model, name: str = ENCODER_NAME):
    """``model`` with an identity ReLU layer ``name`` right after its input.

    Loihi receives spikes, so snnkit runs the first neuron layer off-chip (it turns
    input values into spikes). In a model with a single neuron layer that would leave
    nothing on the chip; this layer (a 1×1 convolution, or a dense layer for flat
    inputs, with an identity kernel and no bias) becomes that off-chip encoder
    instead. It is exact in rates for inputs >= 0 (images): ReLU(x) = x.
    """
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    if name in [layer.name for layer in model.layers]:
        raise ConversionError(f"model: cannot add the spike encoder {name!r}: the model "
                              "already has a layer of that name")
    shape = tuple(int(d) for d in model.input_shape[1:])
    channels = shape[-1]
    if len(shape) == 3:
        encoder = tf.keras.layers.Conv2D(channels, 1, activation="relu", use_bias=False,
                                         name=name)
        kernel = np.eye(channels, dtype=np.float32)[None, None]
    elif len(shape) == 2:
        encoder = tf.keras.layers.Conv1D(channels, 1, activation="relu", use_bias=False,
                                         name=name)
        kernel = np.eye(channels, dtype=np.float32)[None]
    elif len(shape) == 1:
        encoder = tf.keras.layers.Dense(channels, activation="relu", use_bias=False,
                                        name=name)
        kernel = np.eye(channels, dtype=np.float32)
    else:
        raise ConversionError(f"model: cannot add a spike encoder for inputs of shape "
                              f"{shape}; expected 1 to 3 dimensions")
    first = model.layers[0]
    inp = tf.keras.Input(shape, name=first.name)
    tensors = {first.name: encoder(inp)}
    for layer in model.layers[1:]:
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
        sources = [tensors[src.name] for src in inbound]
        clone = type(layer).from_config(layer.get_config())
        tensors[layer.name] = clone(sources[0] if len(sources) == 1 else sources)
    output = model.outputs[0]._keras_history.layer.name
    new = tf.keras.Model(inp, tensors[output], name=model.name)
    encoder.set_weights([kernel])
    for layer in model.layers[1:]:
        if layer.get_weights():
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new
