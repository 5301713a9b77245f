"""A network's spiking dynamics over time steps, in TensorFlow, with Loihi's timing:
what :func:`snnkit.training.recipes.train_for_latency` trains through (surrogate
gradients).

nengo-dl trains on one step with rate neurons, so it never sees what costs latency on
Loihi: integration to threshold from rest, the reset to zero, one-step transfers and
the synapse. This model steps every neuron layer as nengo-loihi runs it:

- a neuron layer's voltage (threshold 1) grows each step by
  ``scale * dt * (W · input + bias)``, where ``input`` is the previous neuron layer's
  output ``spikes / (scale_pre * dt)`` (nengo's spike amplitude after
  ``scale_firing_rates``), low-pass filtered by the network's synapse; the voltage is
  clipped at 0 from below, a spike is ``voltage > 1`` (at most one per step) and
  resets the voltage to 0 (``LoihiSpikingRectifiedLinear``, Loihi's compartments);
- every connection that touches the chip takes one step (host → chip, chip → chip,
  chip → host: nengo-loihi's ``SpikeInput``, the chip's synaptic delay and
  ``HostReceiveNode``); a synapse on the host adds one (nengo updates a filter's
  output for the next step; the chip filters its input current within the step);
- the output layer (linear, on the host) is read out as the network's ``readout``
  (:data:`snnkit.network.readout.READOUTS`).

Forward passes use exact spikes; gradients use a triangular surrogate of the spike's
derivative, ``max(0, 1 - |v - 1|)``. Weights are floats here while the chip rounds
them to 8 bits, so the bit-exact backends (``loihi-emulator-fast``) remain the judge.

Supported architectures: a chain of Conv2D/Dense layers (ReLU or linear) with
Flatten/Reshape between them, the last layer linear; the seed network is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.readout import check_readout, running_counts
from snnkit.network.types import Scales
from snnkit.utils.stack import import_tensorflow
from snnkit.utils.validation import check_int

tf = import_tensorflow()  # this module is imported only to train through time
_CHAIN_LAYERS = ("InputLayer", "Conv2D", "Dense", "Flatten", "Reshape")


@dataclass(frozen=True)
class _Stage:
    """One weighted layer of the chain and how its input reaches it."""

    name: str
    reshape_before: tuple  # Flatten/Reshape layers applied to its input
    has_neurons: bool
    delay_steps: int  # steps its input takes to arrive (0 or 1)
    filtered: bool  # whether its input passes the synapse (input from neurons)


class UnrolledLoihi:
    """Trainable TensorFlow model of ``network`` run for ``n_steps`` steps.

    ``__call__(x)`` returns the read-out output at every step, ``(batch, n_steps,
    n_out)``, as a Loihi backend's :class:`~snnkit.Result` would hold it.

    Parameters
    ----------
    network : FrozenNetwork
        Of a supported architecture (see the module docstring).
    n_steps : int
        Steps each input runs for.
    train_scales : bool
        Also learn each neuron layer's ``scale_firing_rates`` (as a log).
    """

    def __init__(self, network: FrozenNetwork, n_steps: int, *,
                 train_scales: bool = True):
        self.network = network
        self.n_steps = check_int("n_steps", n_steps, low=1)
        self.model = to_keras(network)
        self.stages = _chain(network, self.model)
        self._layers = {layer.name: layer for layer in self.model.layers}
        self.log_scales = {
            name: tf.Variable(math.log(network.scale(name)), dtype=tf.float32,
                              trainable=train_scales, name=f"log_scale/{name}")
            for name in network.neuron_layers}
        if network.synapse is None:
            self._decay = 0.0
        else:
            self._decay = math.exp(-network.dt / network.synapse)

    def __call__(self, x):
        """The read-out output at every step.

        Parameters
        ----------
        x : array_like
            ``(batch,) + input_shape`` float32 (pixel values as the backends get
            them).

        Returns
        -------
        tf.Tensor
            ``(batch, n_steps, n_out)``.
        """
        return self.simulate(x)[0]

    def simulate(self, x):
        """Run ``x``: the read-out outputs and every neuron layer's spike trains.

        Returns
        -------
        outputs : tf.Tensor
            The read-out outputs ``(batch, n_steps, n_out)``.
        spikes : dict
            Every neuron layer's spike trains ``{layer: [(batch,) + layer shape] *
            n_steps}`` (0/1).
        """
        dt = self.network.dt
        x = tf.reshape(tf.cast(x, tf.float32), (-1,) + tuple(self.network.input_shape))
        first = self.stages[0]
        # the first layer's input is constant: its drive per step is too
        drive0 = self._scale(first.name) * dt * self._affine(first, x)
        voltages = {s.name: None for s in self.stages if s.has_neurons}
        filters = {s.name: None for s in self.stages}
        history = {s.name: [] for s in self.stages if s.has_neurons}
        outputs = []
        for t in range(self.n_steps):
            for i, stage in enumerate(self.stages):
                if i == 0:
                    drive = drive0
                else:
                    pre = self.stages[i - 1]
                    trains = history[pre.name]
                    k = t - stage.delay_steps
                    spikes = trains[k] if k >= 0 else tf.zeros_like(trains[0])
                    value = spikes / (self._scale(pre.name) * dt)
                    if stage.filtered and self._decay > 0:
                        state = filters[stage.name]
                        value = value * (1 - self._decay) if state is None else \
                            state * self._decay + value * (1 - self._decay)
                        filters[stage.name] = value
                    affine = self._affine(stage, value)
                    if not stage.has_neurons:
                        outputs.append(affine)
                        break
                    drive = self._scale(stage.name) * dt * affine
                v = drive if voltages[stage.name] is None else \
                    voltages[stage.name] + drive
                v = tf.nn.relu(v)
                spiked = _spike(v)
                voltages[stage.name] = v * tf.stop_gradient(1.0 - spiked)
                history[stage.name].append(spiked)
        out = tf.stack(outputs, axis=1)
        return apply_readout_tensor(out, self.network.readout), history

    def _scale(self, name):
        return tf.exp(self.log_scales[name])

    def _affine(self, stage, value):
        for reshape in stage.reshape_before:
            value = self._layers[reshape](value)
        layer = self._layers[stage.name]
        if isinstance(layer, tf.keras.layers.Dense):
            out = tf.matmul(tf.reshape(value, (tf.shape(value)[0], -1)), layer.kernel)
        else:
            out = layer.convolution_op(value, layer.kernel)
        if layer.use_bias:
            out = out + layer.bias
        return out

    def scales(self) -> Scales:
        """Current ``scale_firing_rates`` of every neuron layer."""
        return {name: float(np.exp(v.numpy())) for name, v in self.log_scales.items()}

    def export(self, metadata: dict | None = None) -> FrozenNetwork:
        """The trained weights and scales as a FrozenNetwork (otherwise unchanged)."""
        weights = {layer.name: tuple(np.array(w) for w in layer.get_weights())
                   for layer in self.model.layers if layer.get_weights()}
        meta = dict(self.network.metadata)
        meta.update(metadata or {})
        return self.network.replace(weights=weights, scale_firing_rates=self.scales(),
                                    metadata=meta)


def _spike(v):
    """``v > 1`` forward; triangular surrogate derivative backward."""
    @tf.custom_gradient
    def spike(v):
        out = tf.cast(v > 1.0, v.dtype)

        def grad(dy):
            return dy * tf.nn.relu(1.0 - tf.abs(v - 1.0))

        return out, grad

    return spike(v)


def _chain(network: FrozenNetwork, model) -> tuple:
    """The weighted layers in order, or an error naming what is not a chain."""
    stages, pending = [], []
    on_chip = set(network.on_chip_layers)
    previous = None  # previous weighted layer
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in _CHAIN_LAYERS:
            raise ValidationError(
                f"network: layer {layer.name!r} is a {kind}; training over time steps "
                f"supports chains of {', '.join(_CHAIN_LAYERS[1:])}")
        inbound = [n.inbound_layers for n in layer._inbound_nodes]
        if any(isinstance(i, (list, tuple)) and len(i) > 1 for i in inbound):
            raise ValidationError(
                f"network: layer {layer.name!r} has several inputs; training over time "
                "steps supports chains only")
        if kind in ("Flatten", "Reshape"):
            pending.append(layer.name)
        elif kind != "InputLayer":
            has_neurons = layer.name in network.neuron_layers
            delay = 0
            if previous is not None:
                # a transfer to, on or from the chip takes a step; on the host, a
                # synapse's output is nengo's update of the step before
                delay += int(layer.name in on_chip or previous in on_chip)
                delay += int(layer.name not in on_chip and network.synapse is not None)
            stages.append(_Stage(layer.name, tuple(pending), has_neurons, delay,
                                 previous is not None))
            pending = []
            previous = layer.name
    if not stages or stages[-1].has_neurons or \
            any(not s.has_neurons for s in stages[:-1]):
        raise ValidationError(
            "network: training over time steps needs neuron (ReLU) layers followed by "
            "one linear output layer")
    if stages[-1].name != network.output_layer:
        raise ValidationError(
            f"network: the last weighted layer {stages[-1].name!r} is not the output "
            f"layer {network.output_layer!r}")
    return tuple(stages)


def apply_readout_tensor(outputs, readout: str):
    """:func:`snnkit.network.readout.apply_readout` on a TensorFlow tensor.

    Differentiable.

    Parameters
    ----------
    outputs : tf.Tensor
        ``(batch, n_steps, n_out)``.
    readout : str
        A readout of :data:`snnkit.network.readout.READOUTS`.

    Returns
    -------
    tf.Tensor
        Of the same shape.
    """
    check_readout(readout)
    if readout == "last":
        return outputs
    counts = running_counts(outputs.shape[1])
    return tf.cumsum(outputs, axis=1) / tf.constant(counts, dtype=outputs.dtype)
