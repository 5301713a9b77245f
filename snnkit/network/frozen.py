"""FrozenNetwork: a converted network with its trained weights, in one file.

It describes; it does not run. Backends build it (``snnkit.convert.to_nengo``) and run
it.

File format (version 1): a numpy ``.npz`` archive holding

- ``__snnkit__``: UTF-8 JSON (as a ``uint8`` array) with ``format``,
  ``format_version``, the Keras architecture (``model.to_json()``), neuron type,
  per-layer scales, synapse, dt, off-chip layers, block shapes, metadata, and the
  archive key of every weight array;
- one array per weight (``w/<layer>/<index>``).

It is read with ``np.load(allow_pickle=False)``, one named member at a time, and
checked completely before use: the header's fields (types, ranges, names), the Keras
architecture (parsed in pure Python by :mod:`snnkit.keras.config`: only layer classes
from :data:`~snnkit.network.fields.ALLOWED_LAYERS`, only built-in activations and
initializers, a DAG of bounded size), and every weight array (float, finite, exactly
the shape the architecture gives it). Reading a file never builds a Keras model and
never runs code from it; any problem is a :class:`FrozenNetworkFileError` naming the
file and the field. Writes are atomic: temporary file, then rename.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from snnkit.exceptions import (
    FrozenNetworkFileError,
    UnknownNameError,
    ValidationError,
    shown,
)
from snnkit.keras.config import ModelGraph
from snnkit.network import fields as checks
from snnkit.network.neurons import NeuronSpec, neuron_spec
from snnkit.network.readout import check_readout
from snnkit.network.types import BlockShapes, Scales, Weights
from snnkit.utils.files import (
    check_json_value,
    open_npz_with_header,
    write_npz_with_header,
)
from snnkit.utils.validation import check_output_file, check_positive

FORMAT = "snnkit.FrozenNetwork"
FORMAT_VERSION = 1
_META_KEY = "__snnkit__"


@dataclass(frozen=True)
class FrozenNetwork:
    """A trained network ready to run on any backend.

    Attributes
    ----------
    model_json : str
        Keras architecture, as ``tf.keras.Model.to_json()``.
    weights : Weights
        ``{layer name: (array, ...)}`` as ``layer.get_weights()``.
    neuron : NeuronSpec
        Neuron type of every ReLU layer.
    scale_firing_rates : Scales
        ``{neuron layer: scale}``; inputs of a layer's neurons are multiplied by the
        scale and outputs divided by it (missing layers: 1).
    synapse : float or None
        Lowpass time constant on every neuron output, in seconds (None: none).
    dt : float
        Simulation time step, in seconds.
    off_chip : tuple of str
        Layers that run on the host rather than on Loihi.
    block_shapes : BlockShapes
        ``{layer: per-core block shape}`` for on-chip layers (optional; the Loihi
        backends plan any that are missing).
    metadata : dict
        Free JSON-compatible facts (training settings, accuracy, versions).
    readout : {"last", "mean"}
        How the host reads the output layer out over time
        (:mod:`snnkit.network.readout`): ``"last"`` (its value at each step) or
        ``"mean"`` (its running mean since the input's onset). With spiking neurons
        and no ``synapse``, ``"last"`` reads each step's output from that step's
        spikes alone: noisy, and different between backends (spike phases differ);
        use ``"mean"`` or a synapse (the ``snnkit`` commands that save such a network
        say so).
    """

    model_json: str
    weights: Weights
    neuron: NeuronSpec
    scale_firing_rates: Scales = field(default_factory=dict)
    synapse: float | None = None
    dt: float = 0.001
    off_chip: tuple[str, ...] = ()
    block_shapes: BlockShapes = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    readout: str = "last"

    def __post_init__(self):
        graph = checks.architecture(self.model_json)
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_neuron_layers", checks.neuron_layer_names(graph))
        object.__setattr__(self, "neuron", neuron_spec(self.neuron))
        object.__setattr__(self, "weights", checks.check_weights(self.weights, graph))
        object.__setattr__(
            self, "scale_firing_rates",
            checks.check_scales(self.scale_firing_rates, self.neuron_layers))
        if self.synapse is not None:
            check_positive("synapse", self.synapse, "seconds")
            object.__setattr__(self, "synapse", float(self.synapse))
        check_positive("dt", self.dt, "seconds")
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "off_chip", checks.check_off_chip(self.off_chip, graph))
        object.__setattr__(self, "block_shapes", checks.check_block_shapes(
            self.block_shapes, self.on_chip_layers, graph))
        if not isinstance(self.metadata, dict):
            raise ValidationError(f"metadata: expected a dict of JSON values, got "
                                  f"{type(self.metadata).__name__}")
        check_json_value("metadata", self.metadata)
        check_readout(self.readout)

    # --- what the network is -------------------------------------------------
    @property
    def graph(self) -> ModelGraph:
        """The checked architecture: layers, their inputs, output and weight shapes."""
        return self._graph

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self._graph.layer_names

    @property
    def neuron_layers(self) -> tuple[str, ...]:
        """Layers that become neurons (their Keras activation is ReLU), in order."""
        return self._neuron_layers

    @property
    def on_chip_layers(self) -> tuple[str, ...]:
        """Neuron layers that run on Loihi."""
        return tuple(n for n in self.neuron_layers if n not in self.off_chip)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch dimension (e.g. (28, 28, 1))."""
        return self._graph.input_shape

    @property
    def output_layer(self) -> str:
        return self._graph.output_layer

    def layer_shape(self, name: str) -> tuple[int, ...]:
        """Output shape of a layer, without the batch dimension."""
        return self._graph.layer(name).output_shape

    def scale(self, layer: str) -> float:
        return self.scale_firing_rates.get(layer, 1.0)

    def amplitude(self, layer: str) -> float:
        """Output per spike of a layer's neurons after scaling (amplitude / scale).

        ``output / amplitude`` is the firing rate in Hz.
        """
        return float(self.neuron.params.get("amplitude", 1.0)) / self.scale(layer)

    def replace(self, **changes) -> "FrozenNetwork":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # --- file ----------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the network to ``path`` atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.

        Returns
        -------
        Path
            The path written.
        """
        path = check_output_file("path", path)
        arrays, keys = {}, {}
        for layer, values in self.weights.items():
            keys[layer] = []
            for i, value in enumerate(values):
                key = f"w/{layer}/{i}"
                arrays[key] = np.asarray(value)
                keys[layer].append(key)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_json": json.loads(self.model_json),
            "weights": keys,
            "neuron": self.neuron.to_dict(),
            "scale_firing_rates": self.scale_firing_rates,
            "synapse": self.synapse,
            "dt": self.dt,
            "off_chip": list(self.off_chip),
            "block_shapes": {k: list(v) for k, v in self.block_shapes.items()},
            "metadata": self.metadata,
            "readout": self.readout,
        }
        write_npz_with_header(path, _META_KEY, meta, arrays)
        return path

    @classmethod
    def load(cls, path) -> "FrozenNetwork":
        """Read a file written by :meth:`save`.

        Never unpickles, never runs code, never reads an archive member the header
        does not name.

        Parameters
        ----------
        path : str or os.PathLike
            The file.

        Returns
        -------
        FrozenNetwork

        Raises
        ------
        FrozenNetworkFileError
            Any problem, naming the file and the field.
        """
        path = Path(path)
        if not path.is_file():
            what = ("a folder, not a file" if path.is_dir()
                    else "not a regular file" if path.exists() else "no such file")
            raise FrozenNetworkFileError(f"{path}: {what}")

        def error(kind, cause):
            if kind == "no-header":
                return FrozenNetworkFileError(
                    f"{path}: not a snnkit FrozenNetwork file "
                    f"(an .npz archive without the {_META_KEY!r} entry)")
            return FrozenNetworkFileError(
                f"{path}: not a readable snnkit FrozenNetwork file "
                f"(truncated or corrupt: {type(cause).__name__}: {cause})")

        with open_npz_with_header(path, _META_KEY, error) as (meta, members):
            _check_format(path, meta)
            try:
                checks.check_header(meta)
                model_json = json.dumps(meta["model_json"])
                # parsed once: the constructor finds this text's graph remembered
                graph = checks.architecture(model_json)
                weights = checks.read_weights(meta["weights"], members, graph)
                return cls(
                    model_json=model_json,
                    weights=weights,
                    neuron=NeuronSpec.from_dict(meta["neuron"]),
                    scale_firing_rates=meta["scale_firing_rates"],
                    synapse=meta["synapse"],
                    dt=meta["dt"],
                    off_chip=meta["off_chip"],
                    block_shapes=meta["block_shapes"],
                    metadata=meta.get("metadata", {}),
                    # files written before the readout existed read the last value
                    readout=meta.get("readout", "last"),
                )
            except (ValidationError, UnknownNameError) as e:
                raise FrozenNetworkFileError(f"{path}: invalid FrozenNetwork file: "
                                             f"{e}") from e

    def summary(self, print_fn=None) -> None:
        """Print the network as Keras' ``model.summary()`` prints a model.

        Layers (shape, neurons and scale, on or off chip), neuron type, synapse,
        dt, readout, parameter count, and the figures its metadata carries, each
        marked with whether it was measured on this network
        (:mod:`snnkit.network.measured`). ``str(network)`` is the same text.

        Parameters
        ----------
        print_fn : callable or None
            Called with each line (default: ``print``); e.g. ``lines.append`` or a
            logger's ``info``.

        Raises
        ------
        ValidationError
            If ``print_fn`` is not callable.
        """
        if print_fn is None:
            print_fn = print
        elif not callable(print_fn):
            raise ValidationError(f"print_fn: expected a callable or None, got "
                                  f"{type(print_fn).__name__}")
        for line in self._summary_lines():
            print_fn(line)

    def _summary_lines(self) -> list[str]:
        from snnkit.network.measured import measurements
        from snnkit.utils.text_table import text_table

        rows = []
        for name in self.layer_names:
            if name in self.neuron_layers:
                where = "off-chip" if name in self.off_chip else "on-chip"
                what = f"neurons scale {self.scale(name):.4g}  {where}"
            elif name in self.weights:
                what = "linear " + ("off-chip" if name in self.off_chip else "")
            else:
                continue
            rows.append((name, str(self.layer_shape(name)), what))
        lines = [f"FrozenNetwork: neuron type {self.neuron.name}, synapse "
                 f"{self.synapse} s, dt {self.dt} s, readout {self.readout}, "
                 f"{self.n_parameters:,} parameters"]
        lines += ["  " + line for line in text_table(rows, "<<<", widths=(12, 16, 0))]
        figures = measurements(self)
        if figures:
            lines.append("measured:")
            lines += ["  " + m.describe() for m in figures]
        return lines

    @property
    def n_parameters(self) -> int:
        """Weights and biases, all layers."""
        return int(sum(np.size(w) for values in self.weights.values() for w in values))

    def __str__(self) -> str:
        return "\n".join(self._summary_lines())

    def __repr__(self) -> str:
        n_outputs = self.layer_shape(self.output_layer)[-1]
        synapse = "no synapse" if self.synapse is None else f"synapse {self.synapse} s"
        n_layers = len(self.neuron_layers)
        return (f"<FrozenNetwork {self.neuron.name}: {n_layers} neuron "
                f"layer{'s' if n_layers != 1 else ''} ({len(self.on_chip_layers)} on "
                f"chip), input "
                f"{self.input_shape} -> {n_outputs} outputs, {synapse}, dt {self.dt} s, "
                f"readout {self.readout!r}, {self.n_parameters:,} parameters>")


def _check_format(path, meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FrozenNetworkFileError(f"{path}: not a snnkit FrozenNetwork file")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FrozenNetworkFileError(f"{path}: format_version: expected an int >= 1, "
                                     f"got {shown(version)}")
    if version > FORMAT_VERSION:
        raise FrozenNetworkFileError(
            f"{path}: format version {version} is newer than this snnkit reads "
            f"(up to {FORMAT_VERSION}); upgrade snnkit")
