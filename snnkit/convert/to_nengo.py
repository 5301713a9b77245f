"""Turn a FrozenNetwork into a Nengo network (what every backend runs).

Conversion is ``nengo_dl.Converter`` on the frozen Keras architecture and weights, with
ReLU swapped for the network's neuron type, its per-layer ``scale_firing_rates`` and
synapse. The Loihi targets add nengo-loihi's settings to it
(:mod:`snnkit.backends.loihi.build`).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass

import nengo
import numpy as np

from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import ConversionError
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.neurons import NEURON_CLASSES, NeuronSpec
from snnkit.utils.stack import import_nengo_dl, import_nengo_loihi


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
                  inference_only: bool = True) -> BuiltNetwork:
    """Convert ``network`` to Nengo (the Loihi targets then add nengo-loihi's
    settings: :func:`snnkit.backends.loihi.build.build_loihi_network`).

    Parameters
    ----------
    network : FrozenNetwork
    probe_layers : bool
        Probe every neuron layer's output (``BuiltNetwork.probes``).
    inference_only : bool
        Build for running only (nengo-dl then also converts batch normalization
        that is not folded away); ``False`` to train the network in nengo-dl.

    Returns
    -------
    BuiltNetwork
    """
    nengo_dl = import_nengo_dl()

    model = to_keras(network)
    layers = {layer.name: layer for layer in model.layers}
    scales = {layers[name]: s for name, s in network.scale_firing_rates.items()}
    with warnings.catch_warnings():
        # A model without ReLU layers leaves the swap unused: not worth a warning.
        warnings.filterwarnings("ignore", message="swap_activations contained")
        try:
            converter = nengo_dl.Converter(
                model,
                allow_fallback=False,
                inference_only=inference_only,
                swap_activations={
                    nengo.RectifiedLinear(): nengo_neuron_type(network.neuron)},
                scale_firing_rates=scales or None,
                synapse=network.synapse,
            )
        except (TypeError, ValueError) as e:
            raise ConversionError(
                f"model: nengo-dl cannot convert this network natively ({e})") from e

    neurons = {name: converter.layers[layers[name]] for name in network.neuron_layers}
    probes = {}
    with converter.net:
        if probe_layers:
            for name, obj in neurons.items():
                probes[name] = nengo.Probe(obj, label=f"{name}.spikes")

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


def nengo_neuron_type(spec: NeuronSpec):
    """A fresh nengo neuron type object (a ``nengo.neurons.NeuronType``) of ``spec``."""
    module, cls = NEURON_CLASSES[spec.name]
    if module.startswith("nengo_loihi"):
        import_nengo_loihi()  # nengo-loihi imports nengo-dl and TensorFlow: quietly
    return getattr(importlib.import_module(module), cls)(**spec.params)
