"""FrozenNetwork -> NIR graph (the Neuromorphic Intermediate Representation, ``nir``).

What the graph means, in NIR's continuous-time equations (times in seconds, a spike a
unit-area Dirac pulse, a layout of ``(channels, height, width)`` as in PyTorch):

- the Input node carries the network input (e.g. pixel values) in NIR layout;
- each Keras ``Conv2D``/``Dense`` becomes ``Conv2d``/``Affine`` (``Linear`` without a
  bias), ``Flatten`` becomes ``Flatten(start_dim=-3, end_dim=-1)`` (negative dims: the
  same for readers that count a batch dimension and those that do not; the next
  ``Affine``'s columns are reordered from Keras' channels-last order) and
  ``AveragePooling2D`` becomes ``AvgPool2d``;
- each neuron layer becomes ``IF`` (``spiking-relu``, ``loihi-relu``) or ``LIF``
  (``lif``, ``loihi-lif``: ``tau`` = ``tau_rc``) with ``r = 1``, ``v_threshold = 1``,
  ``v_reset = 0``, followed by ``LI(tau=synapse, r=1, v_leak=0)``, a unit-gain lowpass,
  when the network has a synapse: snnkit filters every neuron layer's output;
- ``scale_firing_rates`` is folded into the weights as nengo-dl's Converter applies
  it: a layer's weights and bias are multiplied by its scale, and the weights that
  read a neuron layer by that layer's ``amplitude / scale`` (its output per spike).

What NIR cannot say (Loihi's discretization, the neuron type's name, refractory
period, voltage floor, off-chip layers, block shapes, the exact scales) goes into the
graph's metadata under ``"snnkit"`` as one JSON string;
:func:`snnkit.nir.importer.from_nir` uses it to rebuild the identical FrozenNetwork,
other readers can ignore it.

``reader="snntorch"`` or ``"norse"`` writes the form those two torch readers load
unpatched and run batched (:mod:`snnkit.nir.torch_readers`): the same network in their
per-step convention.
"""

from __future__ import annotations

import io
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from snnkit.exceptions import NIRError, ValidationError
from snnkit.utils.files import atomic_write

if TYPE_CHECKING:
    from snnkit.network.frozen import FrozenNetwork

logger = logging.getLogger(__name__)

METADATA_KEY = "snnkit"
FORMAT = "snnkit.nir"
FORMAT_VERSION = 1
IF_NEURONS = ("spiking-relu", "loihi-relu")
LIF_NEURONS = ("lif", "loihi-lif")
NEURONS_SUFFIX = ".neurons"  # node name of a layer's neurons: "<layer>.neurons"
SYNAPSE_SUFFIX = ".synapse"  # node name of a layer's output lowpass: "<layer>.synapse"
_HANDLED = ("InputLayer", "Conv2D", "Dense", "Flatten", "AveragePooling2D",
            "ZeroPadding2D", "ReLU", "Activation")


READERS = ("nir", "snntorch", "norse")


def to_nir(network: FrozenNetwork, reader: str = "nir"):
    """``network`` as a ``nir.NIRGraph`` (see the module docstring for the mapping).

    Parameters
    ----------
    network : FrozenNetwork
        The network to export.
    reader : {"nir", "snntorch", "norse"}
        ``"nir"``: NIR's exact meaning (unit-area spikes, continuous time, an ``LI``
        synapse), with snnkit's metadata for an exact round trip. ``"snntorch"``,
        ``"norse"``: the form those readers load unpatched and run batched, in their
        per-step convention (:mod:`snnkit.nir.torch_readers`; one graph for both).

    Returns
    -------
    nir.NIRGraph
        One ``Input``, then the layers' nodes in one chain (weights, neurons and,
        with a synapse, ``LI`` nodes), then one ``Output``; ``nir.write`` saves it.

    Raises
    ------
    NIRError
        Naming the layer NIR cannot express.
    ValidationError
        ``reader`` is not one of :data:`READERS`.
    """
    import nir

    if reader not in READERS:
        raise ValidationError(f"reader: expected one of {', '.join(READERS)}, got "
                              f"{reader!r}")
    if network.neuron.name not in IF_NEURONS + LIF_NEURONS:
        raise NIRError(
            f"neuron_type: NIR has no rate (non-spiking) neuron; layers "
            f"{', '.join(network.neuron_layers)} use {network.neuron.name!r}; freeze the "
            f"network with one of {', '.join(IF_NEURONS + LIF_NEURONS)}")
    config = json.loads(network.model_json)
    for layer in config["config"]["layers"]:
        if layer["class_name"] not in _HANDLED:
            raise NIRError(
                f"model: layer {layer['config']['name']!r} is a {layer['class_name']}, "
                f"which NIR export does not handle; supported: {', '.join(_HANDLED[1:])} "
                "(ZeroPadding2D before a Conv2D)")
    layers = _chain(config["config"]["layers"])
    builder = _GraphBuilder(network, nir)
    for layer in layers:
        builder.add(layer["class_name"], layer["config"])
    graph = builder.finish(config["config"].get("name"))
    if reader == "nir":
        return graph
    from snnkit.nir.torch_readers import torch_reader_graph

    return torch_reader_graph(graph, dt=network.dt, synapse=network.synapse,
                              readout=network.readout, reader=reader)


def write_nir(network: FrozenNetwork, path, reader: str = "nir") -> Path:
    """Write ``to_nir(network, reader)`` to ``path`` (HDF5, ``nir.write``) atomically.

    Parameters
    ----------
    network : FrozenNetwork
        The network to export.
    path : str or os.PathLike
        The file to write.
    reader : {"nir", "snntorch", "norse"}
        The form (:func:`to_nir`).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    NIRError
        Naming the layer NIR cannot express (:func:`to_nir`).
    """
    import nir

    graph = to_nir(network, reader)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    path = Path(path)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return path


def _chain(layers) -> list:
    """The layers in order, checking each reads exactly the one before it."""
    for previous, layer in zip(layers, layers[1:]):
        inbound = layer.get("inbound_nodes") or []
        sources = [item[0] for node in inbound for item in node]
        if sources != [previous["config"]["name"]]:
            raise NIRError(
                f"model: layer {layer['config']['name']!r} reads {sources or 'nothing'}; "
                f"NIR export handles a chain of layers, each reading the one before it "
                f"({previous['config']['name']!r})")
    return layers


def _pairs(value, argument, layer) -> tuple:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2:
        raise NIRError(f"model: layer {layer!r}: expected 2-D {argument}, got {value}")
    return value


def _same_pads(size, kernel, stride, dilation) -> tuple:
    """TensorFlow's 'same' padding of one dimension: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _GraphBuilder:
    """Adds NIR nodes layer by layer; folds scales into each segment's weights (a
    segment: the weighted layers between two neuron layers)."""

    def __init__(self, network, nir):
        self.network, self.nir = network, nir
        self.nodes, self.edges = {}, []
        self.previous = None
        self.shape = None  # current tensor shape in NIR layout
        self.segment = []  # weighted nodes since the last neuron layer
        self.in_factor = 1.0  # amplitude / scale of the neuron layer feeding this segment
        self.padding = None  # (ZeroPadding2D name, ((top, bottom), (left, right)))
        self.flattened_hwc = None  # (H, W, C) of a Flatten not yet read by a Dense
        self.no_bias, self.standalone_neurons = [], []
        self.amplitude = float(network.neuron.params.get("amplitude", 1.0))

    def _add(self, name, node):
        self.nodes[name] = node
        if self.previous is not None:
            self.edges.append((self.previous, name))
        self.previous = name

    def add(self, cls, cfg):
        name = cfg["name"]
        if self.padding is not None and cls != "Conv2D":
            raise NIRError(f"model: layer {self.padding[0]!r} (ZeroPadding2D) is "
                           f"followed by a {cls}; NIR export folds zero padding into the "
                           "next Conv2D")
        if cfg.get("data_format", "channels_last") not in ("channels_last", None):
            raise NIRError(f"model: layer {name!r} uses data_format "
                           f"{cfg['data_format']!r}; NIR export reads channels_last")
        handlers = {"InputLayer": self._input, "Conv2D": self._conv, "Dense": self._dense,
                    "Flatten": self._flatten, "AveragePooling2D": self._pool,
                    "ZeroPadding2D": self._zero_padding, "ReLU": self._relu,
                    "Activation": self._activation}
        handlers[cls](name, cfg)

    # --- layers ------------------------------------------------------------------
    def _input(self, name, cfg):
        shape = self.network.input_shape
        if len(shape) not in (1, 3):
            raise NIRError(f"model: input {name!r} has shape {shape}; NIR export handles "
                           f"vectors (N,) and images (H, W, C)")
        self.shape = (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)
        self._add(name, self.nir.Input(input_type={"input": np.array(self.shape)}))

    def _zero_padding(self, name, cfg):
        pad = cfg["padding"]
        pad = ((pad, pad), (pad, pad)) if isinstance(pad, int) else tuple(
            _pairs(p, "padding", name) for p in pad)
        self.padding = (name, pad)

    def _conv(self, name, cfg):
        kernel = np.asarray(self.network.weights[name][0], np.float64)
        if cfg.get("groups", 1) != 1:
            raise NIRError(f"model: layer {name!r} has groups={cfg['groups']}; "
                           "NIR export handles groups=1")
        kh, kw = kernel.shape[:2]
        stride = _pairs(cfg["strides"], "strides", name)
        dilation = _pairs(cfg["dilation_rate"], "dilation_rate", name)
        _, height, width = self.shape
        pads = [[0, 0], [0, 0]]
        if self.padding is not None:
            pads = [list(p) for p in self.padding[1]]
            height, width = height + sum(pads[0]), width + sum(pads[1])
        if cfg["padding"] == "same":
            for axis, (size, k) in enumerate(((height, kh), (width, kw))):
                before, after = _same_pads(size, k, stride[axis], dilation[axis])
                pads[axis] = [pads[axis][0] + before, pads[axis][1] + after]
        if any(before != after for before, after in pads):
            source = self.padding[0] if self.padding else name
            raise NIRError(
                f"model: layer {source!r} pads {pads[0][0]} before and {pads[0][1]} "
                f"after in height, {pads[1][0]} and {pads[1][1]} in width; NIR's Conv2d "
                f"pads both sides equally (use odd kernels with stride 1, or 'valid')")
        self.padding = None
        bias = (np.asarray(self.network.weights[name][1], np.float64) if cfg["use_bias"]
                else np.zeros(kernel.shape[3]))
        if not cfg["use_bias"]:
            self.no_bias.append(name)
        node = self.nir.Conv2d(
            input_shape=tuple(int(s) for s in self.shape[1:]),
            weight=kernel.transpose(3, 2, 0, 1), stride=stride,
            padding=(pads[0][0], pads[1][0]), dilation=dilation, groups=1, bias=bias)
        keras = self.network.layer_shape(name)
        self.shape = (keras[2], keras[0], keras[1])
        if tuple(int(s) for s in node.output_type["output"]) != self.shape:
            raise NIRError(f"model: layer {name!r}: NIR's Conv2d gives shape "
                           f"{tuple(node.output_type['output'])}, Keras {self.shape}")
        self._weighted(name, node, cfg)

    def _dense(self, name, cfg):
        kernel = np.asarray(self.network.weights[name][0], np.float64)
        if len(self.shape) != 1:
            raise NIRError(f"model: layer {name!r} (Dense) reads shape {self.shape}; NIR "
                           "export needs a Flatten before it")
        if self.flattened_hwc is not None:
            h, w, c = self.flattened_hwc
            kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(
                h * w * c, -1)
            self.flattened_hwc = None
        if cfg["use_bias"]:
            bias = np.asarray(self.network.weights[name][1], np.float64)
            node = self.nir.Affine(weight=kernel.T.copy(), bias=bias)
        else:
            node = self.nir.Linear(weight=kernel.T.copy())
        self.shape = (kernel.shape[1],)
        self._weighted(name, node, cfg)

    def _weighted(self, name, node, cfg):
        self._add(name, node)
        self.segment.append(node)
        if cfg.get("activation") == "relu":
            self._neurons(name, name + NEURONS_SUFFIX)

    def _flatten(self, name, cfg):
        if len(self.shape) == 1:
            return  # already flat: Keras' Flatten is the identity
        c, h, w = self.shape
        self._add(name, self.nir.Flatten(input_type={"input": np.array(self.shape)},
                                         start_dim=-3, end_dim=-1))
        self.shape = (c * h * w,)
        self.flattened_hwc = (h, w, c)

    def _pool(self, name, cfg):
        size = _pairs(cfg["pool_size"], "pool_size", name)
        stride = _pairs(cfg.get("strides") or size, "strides", name)
        keras = self.network.layer_shape(name)
        c, h, w = self.shape
        valid = ((h - size[0]) // stride[0] + 1, (w - size[1]) // stride[1] + 1)
        if tuple(keras[:2]) != valid:
            raise NIRError(f"model: layer {name!r} pads ({cfg['padding']!r} padding); "
                           "NIR export handles unpadded ('valid') pooling")
        node = self.nir.AvgPool2d(kernel_size=np.array(size), stride=np.array(stride),
                                  padding=np.array([0, 0]))
        self.shape = (c, *valid)
        node.input_type = {"input": np.array((c, h, w))}
        node.output_type = {"output": np.array(self.shape)}
        self._add(name, node)

    def _relu(self, name, cfg):
        if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get(
                "threshold", 0):
            raise NIRError(f"model: layer {name!r} is a ReLU with max_value, "
                           "negative_slope or threshold; NIR export handles a plain ReLU")
        self.standalone_neurons.append(name)
        self._neurons(name, name)

    def _activation(self, name, cfg):
        if cfg["activation"] == "relu":
            self.standalone_neurons.append(name)
            self._neurons(name, name)

    # --- neurons and scales ---------------------------------------------------------
    def _neurons(self, layer, node_name):
        if not self.segment:
            raise NIRError(
                f"model: neuron layer {layer!r} has no Conv2D or Dense since the "
                "previous neuron layer; NIR export folds its scale into those weights")
        self._fold(self.network.scale(layer))
        ones = np.ones(self.shape)
        if self.network.neuron.name in IF_NEURONS:
            node = self.nir.IF(r=ones, v_threshold=ones.copy(),
                               v_reset=np.zeros(self.shape))
        else:
            tau = float(self.network.neuron.params.get("tau_rc", 0.02))
            node = self.nir.LIF(tau=np.full(self.shape, tau), r=ones,
                                v_leak=np.zeros(self.shape), v_threshold=ones.copy(),
                                v_reset=np.zeros(self.shape))
        self._add(node_name, node)
        if self.network.synapse is not None:
            self._add(layer + SYNAPSE_SUFFIX, self.nir.LI(
                tau=np.full(self.shape, self.network.synapse), r=np.ones(self.shape),
                v_leak=np.zeros(self.shape)))
        self.in_factor = self.amplitude / self.network.scale(layer)

    def _fold(self, out_factor):
        """Input factor into the segment's first weights, output factor into its last
        weights and bias (nengo-dl: ``J = scale * (W x + b)``)."""
        first, last = self.segment[0], self.segment[-1]
        first.weight = first.weight * self.in_factor
        last.weight = last.weight * out_factor
        if hasattr(last, "bias"):
            last.bias = last.bias * out_factor
        self.segment = []

    def finish(self, model_name):
        if self.padding is not None:
            raise NIRError(f"model: layer {self.padding[0]!r} (ZeroPadding2D) is last; "
                           "NIR export folds zero padding into the next Conv2D")
        output = self.network.output_layer
        if self.flattened_hwc is not None:
            raise NIRError(f"model: the output reads a Flatten without a Dense after it "
                           f"(layer {output!r}); Keras flattens channels-last, NIR "
                           "channels-first, so the outputs would be reordered")
        if self.segment:
            self._fold(1.0)
        elif output in self.network.neuron_layers and self.in_factor != 1.0:
            raise NIRError(
                f"model: the output layer {output!r} is a neuron layer whose output "
                f"per spike is {self.in_factor:g} (amplitude / scale); NIR spikes have "
                "area 1 and there are no weights after it to fold that into; add a "
                "linear Dense readout")
        name = "output" if "output" not in self.nodes else f"{output}.output"
        self._add(name, self.nir.Output(output_type={"output": np.array(self.shape)}))
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "model_name": model_name, "neuron": self.network.neuron.to_dict(),
            "synapse": self.network.synapse, "dt": self.network.dt,
            "scale_firing_rates": self.network.scale_firing_rates,
            "off_chip": list(self.network.off_chip),
            "block_shapes": {k: list(v) for k, v in self.network.block_shapes.items()},
            "no_bias": self.no_bias, "standalone_neurons": self.standalone_neurons,
            "metadata": self.network.metadata, "readout": self.network.readout,
        }
        logger.info("NIR export: %d nodes, neuron type %s -> %s", len(self.nodes),
                    self.network.neuron.name,
                    "IF" if self.network.neuron.name in IF_NEURONS else "LIF")
        try:
            return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges,
                                     metadata={METADATA_KEY: json.dumps(meta)})
        except ValueError as e:  # nir's own type check: a bug here, not the user's
            raise NIRError(f"model: the NIR graph does not type-check: {e}") from e
