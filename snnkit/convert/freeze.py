"""A Keras model frozen into a :class:`~snnkit.network.frozen.FrozenNetwork`: the
model rewritten into runnable layers (:mod:`snnkit.convert.fold`), checked to be one
snnkit runs, given a spike encoder where it needs one, and its layers placed on or off
chip by snnkit's convention (:func:`default_off_chip`): the first layer with neurons
turns input values into spikes and runs off-chip (Loihi only receives spikes), and
layers without neurons (a linear output) run off-chip as plain computation on the
host.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from snnkit.convert.fold import FoldedModel, fold_model
from snnkit.convert.fold_graph import activation_kind
from snnkit.convert.spike_encoder import (
    ENCODER_METADATA_KEY,
    ENCODER_NAME,
    add_spike_encoder,
    encoder_record,
)
from snnkit.exceptions import ConversionError, ValidationError
from snnkit.network.fields import ALLOWED_LAYERS
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.stack import import_nengo_dl, import_tensorflow

SPIKE_ENCODERS = ("auto", True, False, "signed")
# layers whose weights are a kernel (a weighted computation, not a normalization)
_KERNEL_LAYERS = ("Dense", "Conv1D", "Conv2D")


def from_keras(model, neuron_type="relu", *, fold: bool = True, spike_encoder="auto",
               max_pool: str = "refuse", **kwargs) -> FrozenNetwork:
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
        removed, pooling folded into the next weighted layer, ...) and check that
        every backend can run it (:func:`check_convertible`); what was changed is
        listed in ``metadata["folded"]``.
    spike_encoder : {"auto", True, False, "signed"}
        Add a spike encoder after the input (:mod:`snnkit.convert.spike_encoder`):
        an identity ReLU layer ``"to-spikes"``, exact for inputs >= 0 (the network
        then refuses negative inputs, naming them); ``"signed"`` an on/off pair of
        channels, exact for inputs of any sign. ``"auto"`` adds the first when the
        model has a single neuron layer, which would otherwise run off-chip and
        leave the chip empty.
    max_pool : {"refuse", "average"}
        Refuse max pooling, or replace it by average pooling (the function changes:
        fine-tune); see :func:`snnkit.convert.fold.fold_model`.
    **kwargs
        Other :class:`FrozenNetwork` fields; ``off_chip`` defaults to
        :func:`default_off_chip` of the resulting model.

    Returns
    -------
    FrozenNetwork

    Raises
    ------
    ConversionError
        A layer snnkit cannot run, named with what to use instead.
    """
    tf = import_tensorflow()

    if spike_encoder not in SPIKE_ENCODERS:
        raise ValidationError(f"spike_encoder: expected 'auto', True, False or "
                              f"'signed', got {spike_encoder!r}")
    if fold:
        folded = check_convertible(model, for_training=False, max_pool=max_pool)
        model = folded.model
        changes = list(folded.changes)
        n_neuron_layers = len(neuron_layers(model))
        if n_neuron_layers == 0:
            raise ValidationError(
                "model: no layer has ReLU neurons, so there is nothing to spike; "
                "give a hidden layer activation='relu'")
        metadata = dict(kwargs.get("metadata") or {})
        signed = spike_encoder == "signed"
        if signed or spike_encoder is True or (spike_encoder == "auto"
                                               and n_neuron_layers == 1):
            model = add_spike_encoder(model, signed=signed)
            kind = "signed (on/off)" if signed else "identity"
            changes.append(f"{ENCODER_NAME}: {kind} spike encoder added after the input "
                           "(runs off-chip)")
            metadata[ENCODER_METADATA_KEY] = encoder_record(signed)
        if changes:
            metadata["folded"] = changes
        if metadata:
            kwargs["metadata"] = metadata
    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    kwargs.setdefault("off_chip", default_off_chip(model))
    weights = {
        layer.name: tuple(np.array(w) for w in layer.get_weights())
        for layer in model.layers if layer.get_weights()
    }
    return FrozenNetwork(model_json=model.to_json(), weights=weights, neuron=neuron_type,
                         **kwargs)


def check_convertible(model, *, for_training: bool = True,
                      max_pool: str = "refuse") -> FoldedModel:
    """What snnkit runs of ``model``, every refusal made now, before any training.

    The model is folded (:func:`snnkit.convert.fold.fold_model`), then every layer is
    checked against what a FrozenNetwork holds and what nengo-dl (through which
    snnkit trains and runs) builds of it, to train (``for_training``) or to run.

    Parameters
    ----------
    model : tf.keras.Model
    for_training : bool
        Check for training with :meth:`snnkit.Trainer.fit` (stricter).
    max_pool : {"refuse", "average"}
        As :func:`snnkit.convert.fold.fold_model`.

    Returns
    -------
    FoldedModel

    Raises
    ------
    ConversionError
        Naming the first layer snnkit cannot run and what to use instead.
    """
    tf = import_tensorflow()

    if not isinstance(model, tf.keras.Model):
        raise ValidationError(f"model: expected a tf.keras.Model, got "
                              f"{type(model).__name__}")
    folded = fold_model(model, for_training=for_training, max_pool=max_pool)
    for layer in folded.model.layers:
        cls = type(layer).__name__
        if cls not in ALLOWED_LAYERS:
            raise ConversionError(
                f"model: layer {layer.name!r} is a {cls}, which snnkit does not run; "
                "see the README's table of supported layers")
    _check_nengo_dl_builds(folded.model, inference_only=not for_training)
    return folded


def _check_nengo_dl_builds(model, *, inference_only: bool) -> None:
    """Ask nengo-dl's own per-layer test (``LayerConverter.convertible``) whether it
    builds each layer as snnkit will convert it, so that no refusal waits until a
    backend runs."""
    nengo_dl = import_nengo_dl()

    converter = SimpleNamespace(inference_only=inference_only, max_to_avg_pool=False,
                                allow_fallback=False, split_shared_weights=False)
    for layer in model.layers:
        layer_converter = nengo_dl.Converter.converters.get(type(layer))
        if layer_converter is None:
            raise ConversionError(f"model: layer {layer.name!r} is a "
                                  f"{type(layer).__name__}, which nengo-dl does not "
                                  "build")
        convertible, reason = layer_converter.convertible(layer, converter)
        if not convertible:
            raise ConversionError(f"model: layer {layer.name!r} "
                                  f"({type(layer).__name__}): nengo-dl does not build "
                                  f"it as it is ({reason})")


def neuron_layers(model) -> list[str]:
    """Names of the layers that become neurons (ReLU activation), in model order."""
    return [layer.name for layer in model.layers if _has_relu(layer)]


def default_off_chip(model) -> tuple[str, ...]:
    """Layers of a Keras model that run off-chip by snnkit's convention
    (:func:`conventional_off_chip`)."""
    neurons = set(neuron_layers(model))
    return conventional_off_chip(
        (layer.name, layer.name in neurons,
         type(layer).__name__ in _KERNEL_LAYERS and bool(layer.get_weights()))
        for layer in model.layers)


def conventional_off_chip(layers) -> tuple[str, ...]:
    """snnkit's convention for where layers run: the first neuron layer (it turns input
    values into spikes) and every layer with a kernel (Dense, Conv) but without
    neurons (the linear output) run off-chip.

    Parameters
    ----------
    layers : iterable of (str, bool, bool)
        ``(name, has neurons, has a kernel)`` of each layer, in model order.

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
    return (type(layer).__name__ == "ReLU" or getattr(layer, "activation", None)
            is not None) and activation_kind(layer) == "relu"
