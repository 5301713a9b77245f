"""A Keras model frozen into a :class:`~snnkit.network.frozen.FrozenNetwork`: the
model rewritten into runnable layers (:mod:`snnkit.convert.fold`), checked to be one
snnkit runs, given a spike encoder where it needs one, and its layers placed on or off
chip by snnkit's convention (:func:`default_off_chip`): the first layer with neurons
turns input values into spikes and runs off-chip (Loihi only receives spikes), and
layers without neurons (a linear output) run off-chip as plain computation on the
host.
"""

from __future__ import annotations

import numpy as np

from snnkit.convert.fold import FoldedModel, fold_model
from snnkit.convert.spike_encoder import ENCODER_NAME, add_spike_encoder
from snnkit.exceptions import ConversionError, ValidationError
from snnkit.network.fields import ALLOWED_LAYERS
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_tensorflow


def from_keras(model, neuron_type="relu", *, fold: bool = True, spike_encoder="auto",
               **kwargs) -> FrozenNetwork:
    """Freeze a Keras model's architecture and current weights.

    Parameters
    ----------
    model : tf.keras.Model
        The model; it is not changed.
    neuron_type : str or NeuronSpec
        Neuron type of every ReLU layer (:mod:`snnkit.network.neurons`).
    fold : bool
        First rewrite the model into runnable layers with
        :func:`snnkit.convert.fold.fold_model` (batch normalization folded, dropout
        removed, pooling folded into the next weighted layer, ...); what it changed
        is listed in ``metadata["folded"]``.
    spike_encoder : {"auto", True, False}
        Add an identity ReLU layer ``"to-spikes"`` after the input
        (:func:`snnkit.convert.spike_encoder.add_spike_encoder`); ``"auto"`` adds it
        when the model has a single neuron layer, which would otherwise run off-chip
        and leave the chip empty.
    **kwargs
        Other :class:`FrozenNetwork` fields; ``off_chip`` defaults to
        :func:`default_off_chip` of the resulting model.

    Returns
    -------
    FrozenNetwork
    """
    tf = import_tensorflow()

    if spike_encoder not in ("auto", True, False):
        raise ValidationError(f"spike_encoder: expected 'auto', True or False, "
                              f"got {spike_encoder!r}")
    if fold:
        folded = check_convertible(model, for_training=False)
        model = folded.model
        changes = list(folded.changes)
        n_neuron_layers = len(neuron_layers(model))
        if n_neuron_layers == 0:
            raise ValidationError(
                "model: no layer has ReLU neurons, so there is nothing to spike; "
                "give a hidden layer activation='relu'")
        if spike_encoder is True or (spike_encoder == "auto" and n_neuron_layers == 1):
            model = add_spike_encoder(model)
            changes.append(f"{ENCODER_NAME}: identity spike encoder added after the "
                           "input (runs off-chip)")
        if changes:
            kwargs["metadata"] = dict(kwargs.get("metadata") or {}, folded=changes)
    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    kwargs.setdefault("off_chip", default_off_chip(model))
    weights = {
        layer.name: tuple(np.array(w) for w in layer.get_weights())
        for layer in model.layers if layer.get_weights()
    }
    return FrozenNetwork(model_json=model.to_json(), weights=weights, neuron=neuron_type,
                         **kwargs)


_ADVICE = {
    "Lambda": "rewrite it with supported layers",
}


def check_convertible(model, *, for_training: bool = True) -> FoldedModel:
    """The :class:`~snnkit.convert.fold.FoldedModel` of ``model`` (what snnkit runs), or a
    :class:`ConversionError` naming the first layer snnkit cannot run and what to use
    instead (:mod:`snnkit.convert.fold` lists what is folded, merged or refused)."""
    tf = import_tensorflow()

    if not isinstance(model, tf.keras.Model):
        raise ValidationError(f"model: expected a tf.keras.Model, got {type(model).__name__}")
    folded = fold_model(model, for_training=for_training)
    for layer in folded.model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        if cls not in ALLOWED_LAYERS:
            advice = _ADVICE.get(cls, "replace it with a supported layer")
            raise ConversionError(
                f"model: layer {layer.name!r} is a {cls}, which nengo-dl cannot convert "
                f"to a native Nengo network; {advice}. Supported layers: see the "
                "README's table of supported layers")
        activation = getattr(layer, "activation", None)
        act_name = getattr(activation, "__name__", None)
        if activation is not None and act_name not in ("relu", "linear"):
            raise ConversionError(
                f"model: layer {layer.name!r} has activation {act_name!r}, which has no "
                f"spiking equivalent here; use 'relu' (becomes neurons) or no activation")
    return folded


def neuron_layers(model) -> list[str]:
    """Names of the layers that become neurons (ReLU activation), in model order."""
    return [layer.name for layer in model.layers if _has_relu(layer)]


def default_off_chip(model) -> tuple[str, ...]:
    """Layers of a Keras model that run off-chip by snnkit's convention
    (:func:`conventional_off_chip`)."""
    neurons = set(neuron_layers(model))
    return conventional_off_chip((layer.name, layer.name in neurons,
                                  bool(layer.get_weights())) for layer in model.layers)


def conventional_off_chip(layers) -> tuple[str, ...]:
    """snnkit's convention for where layers run: the first neuron layer (it turns input
    values into spikes) and every weighted layer without neurons run off-chip.

    Parameters
    ----------
    layers : iterable of (str, bool, bool)
        ``(name, has neurons, has weights)`` of each layer, in model order.

    Returns
    -------
    tuple of str
        The off-chip layers, in model order.
    """
    off, first_neurons_seen = [], False
    for name, has_neurons, has_weights in layers:
        if has_neurons and not first_neurons_seen:
            off.append(name)
            first_neurons_seen = True
        elif has_weights and not has_neurons:
            off.append(name)
    return tuple(off)


def _has_relu(layer) -> bool:
    tf = import_tensorflow()

    if isinstance(layer, tf.keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "relu"
