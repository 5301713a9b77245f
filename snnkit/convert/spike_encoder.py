"""A spike encoder for models whose only neuron layer would run off-chip.

Loihi receives spikes, so snnkit runs the first neuron layer off-chip (it turns input
values into spikes). In a model with a single neuron layer that would leave nothing on
the chip; :func:`add_spike_encoder` puts an off-chip encoder layer ``"to-spikes"``
right after the input instead:

- the identity encoder: a ReLU layer with an identity kernel (a 1x1 convolution, or a
  dense layer for flat inputs). Exact in rates for inputs >= 0 (images): ReLU(x) = x;
  it would clip negative inputs, so a network with it refuses them
  (:func:`snnkit.network.inputs.check_inputs` reads :data:`ENCODER_METADATA_KEY`);
- the signed encoder: an on/off pair of channels, ReLU(x) and ReLU(-x), then a linear
  layer ``"to-spikes.combine"`` that subtracts them, ReLU(x) - ReLU(-x) = x: exact for
  inputs of any sign, at twice the encoder neurons (the Loihi build composes the
  linear layer into the next layer's weights).
"""

from __future__ import annotations

import numpy as np

from snnkit.exceptions import ConversionError
from snnkit.keras.config import with_zero_initializers
from snnkit.utils.stack import import_tensorflow

ENCODER_NAME = "to-spikes"
ENCODER_METADATA_KEY = "spike_encoder"


def encoder_record(signed: bool) -> dict:
    """What a network's metadata says of the encoder snnkit added
    (``metadata[ENCODER_METADATA_KEY]``): its layer and whether it passes negative
    inputs."""
    return {"layer": ENCODER_NAME, "signed": bool(signed)}


def add_spike_encoder(model, name: str = ENCODER_NAME, *, signed: bool = False):
    """``model`` with a spike encoder layer ``name`` right after its input.

    Parameters
    ----------
    model : tf.keras.Model
        A functional model with one input of 1 to 3 dimensions; not changed.
    name : str
        The encoder layer's name (the signed encoder's linear layer adds
        ``".combine"``).
    signed : bool
        The on/off encoder (exact for any sign) instead of the identity (exact for
        inputs >= 0); see the module docstring.

    Returns
    -------
    tf.keras.Model

    Raises
    ------
    ConversionError
        The model has a layer of that name, or an input of another rank.
    """
    tf = import_tensorflow()

    names = {layer.name for layer in model.layers}
    combine_name = f"{name}.combine"
    for taken in [name] + ([combine_name] if signed else []):
        if taken in names:
            raise ConversionError(f"model: cannot add the spike encoder {taken!r}: the "
                                  "model already has a layer of that name")
    shape = tuple(int(d) for d in model.input_shape[1:])
    if not 1 <= len(shape) <= 3:
        raise ConversionError(f"model: cannot add a spike encoder for inputs of shape "
                              f"{shape}; expected 1 to 3 dimensions")
    channels = shape[-1]
    identity = np.eye(channels, dtype=np.float32)
    encode = np.concatenate([identity, -identity], axis=1) if signed else identity
    first = model.layers[0]
    inp = tf.keras.Input(shape, name=first.name)
    encoder = _pointwise(tf, len(shape), encode.shape[1], name, "relu")
    x = encoder(inp)
    combine = None
    if signed:
        combine = _pointwise(tf, len(shape), channels, combine_name, "linear")
        x = combine(x)
    tensors = {first.name: x}
    for layer in model.layers[1:]:
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
        sources = [tensors[src.name] for src in inbound]
        clone = type(layer).from_config(with_zero_initializers(layer.get_config()))
        tensors[layer.name] = clone(sources[0] if len(sources) == 1 else sources)
    output = model.outputs[0]._keras_history.layer.name
    new = tf.keras.Model(inp, tensors[output], name=model.name)
    encoder.set_weights([encode.reshape((1,) * (len(shape) - 1) + encode.shape)])
    if combine is not None:
        decode = np.concatenate([identity, -identity], axis=0)
        combine.set_weights([decode.reshape((1,) * (len(shape) - 1) + decode.shape)])
    for layer in model.layers[1:]:
        if layer.get_weights():
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new


def _pointwise(tf, rank: int, units: int, name: str, activation: str):
    """A layer applying one matrix at every position, without bias: a 1x1
    convolution for maps, a dense layer for vectors."""
    layers = tf.keras.layers
    # zeros: the weights are set right after, and no random number is drawn
    options = dict(activation=activation, use_bias=False, name=name,
                   kernel_initializer="zeros")
    if rank == 3:
        return layers.Conv2D(units, 1, **options)
    if rank == 2:
        return layers.Conv1D(units, 1, **options)
    return layers.Dense(units, **options)
