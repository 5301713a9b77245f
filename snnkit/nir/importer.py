"""NIR graph (file or ``nir.NIRGraph``) -> FrozenNetwork.

snnkit reads feed-forward chains Input -> ... -> Output of ``Conv2d``, ``Affine``,
``Linear``, ``Flatten``, ``AvgPool2d``, ``SumPool2d``, neurons (``IF``, ``LIF``,
``CubaLIF``) and unit-gain lowpass synapses (``LI`` with ``r = 1``, ``v_leak = 0``),
with NIR's continuous-time semantics (seconds; a spike is a unit-area pulse):

- ``IF`` -> ``loihi-relu`` (reset to zero, as NIR's ``v_reset = 0``), ``LIF`` and
  ``CubaLIF`` -> ``loihi-lif`` with ``tau_rc = tau`` and no refractory period
  (``neuron_type`` picks another of the same family);
- a neuron's input gain ``r / v_threshold`` (and ``CubaLIF``'s ``w_in``) and leak
  ``v_leak / v_threshold`` are folded into the weights and bias before it; scales are 1;
- the synapse (``LI``, or ``CubaLIF``'s ``tau_syn``) must be the same after every neuron
  layer (snnkit filters every neuron layer's output) and absent before the first;
- NIR's channels-first tensors become Keras' channels-last ones.

A graph written by :func:`snnkit.nir.export.to_nir` carries snnkit's metadata; it is
used (unless the graph no longer matches it) to restore the neuron type, scales,
off-chip layers and block shapes exactly. Nothing in a file is executed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from pathlib import Path

import numpy as np

from snnkit.convert.freeze import conventional_off_chip
from snnkit.exceptions import NIRError, NIRMeaningWarning, ValidationError
from snnkit.keras.specs import LayerSpec, model_config
from snnkit.network.fields import architecture, neuron_layer_names
from snnkit.network.frozen import FrozenNetwork
from snnkit.nir.export import (
    FORMAT,
    FORMAT_VERSION,
    IF_NEURONS,
    LIF_NEURONS,
    METADATA_KEY,
)
from snnkit.nir.file import check_node_types, nir_text, read_nir
from snnkit.nir.graph import NEURONS, WEIGHTED, GraphWalk, check_chain
from snnkit.nir.torch_readers import FORMAT as READER_FORMAT
from snnkit.nir.torch_readers import METADATA_KEY as READER_KEY
from snnkit.nir.torch_readers import per_step_to_unit_area, snntorch_step

logger = logging.getLogger(__name__)


SPIKES = ("unit-area", "per-step")
READOUT_LAYER = "readout"


def from_nir(source, *, neuron_type=None, dt: float | None = None,
             spikes: str | None = None, dt_graph: float | None = None,
             use_snnkit_metadata: bool = True) -> FrozenNetwork:
    """A FrozenNetwork from a ``nir.NIRGraph`` or a NIR file path (see module doc).

    Parameters
    ----------
    source : nir.NIRGraph, str or Path
        The graph, or the path of a NIR file.
    neuron_type : str, NeuronSpec or None
        snnkit neuron type for the graph's neurons (default ``loihi-relu`` for
        ``IF``, ``loihi-lif`` for ``LIF``/``CubaLIF``, or the type snnkit's metadata
        names).
    dt : float or None
        snnkit's step in seconds (default the metadata's, else 0.001).
    spikes : {"unit-area", "per-step"} or None
        What a spike is in the graph: NIR's unit-area pulse (``1 / dt`` in its step;
        snnkit's own graphs) or 1 in its step (graphs snnTorch and Norse write; one
        graph step is then one snnkit step). None: snnkit's metadata, else the
        per-step signature of snnTorch's exporter, else ``"unit-area"``, with a
        :class:`~snnkit.exceptions.NIRMeaningWarning` saying which was chosen.
    dt_graph : float or None
        With per-step spikes: the step the graph's time constants were written for,
        s (default: snnTorch's signature ``tau / r``, or snnkit's reader metadata;
        Norse writes none: the ``dt`` it ran with, 0.001 by default).
    use_snnkit_metadata : bool
        False ignores snnkit's metadata.

    Returns
    -------
    FrozenNetwork

    Raises
    ------
    NIRError
        A file that is not NIR, or a graph snnkit cannot read or run; a per-step graph
        whose step cannot be inferred (naming the node and ``dt_graph``).
    ValidationError
        ``source`` is neither a ``nir.NIRGraph`` nor a path, ``spikes`` or
        ``dt_graph`` is not valid, or ``neuron_type`` is not of the graph's neuron
        family.

    Warns
    -----
    NIRMeaningWarning
        A reading chosen where the graph does not say (spike amplitude, step, the
        readout added after a neuron layer), or snnkit's metadata disagreeing with the
        graph (the graph wins; the warning names what differs).
    """
    import nir

    if spikes is not None and spikes not in SPIKES:
        raise ValidationError(f"spikes: expected one of {', '.join(SPIKES)}, got "
                              f"{spikes!r}")
    if dt_graph is not None and not (isinstance(dt_graph, (int, float))
                                     and math.isfinite(dt_graph) and dt_graph > 0):
        raise ValidationError(f"dt_graph: expected a step > 0 in seconds, got "
                              f"{dt_graph!r}")
    if isinstance(source, nir.NIRGraph):
        graph, where = source, "graph"
        check_node_types(graph, where)
    elif isinstance(source, (str, Path)):
        graph, where = read_nir(source), str(source)
    else:
        raise ValidationError(f"graph_or_path: expected a nir.NIRGraph or a path to a "
                              f"NIR file, got {type(source).__name__}")
    chain = check_chain(graph, where)
    meta = _snnkit_metadata(graph, where) if use_snnkit_metadata else None
    note = _reader_metadata(graph, where) if use_snnkit_metadata else None
    notes = []
    if spikes is None:
        spikes, dt_graph, dt = _detect_spikes(graph, where, meta, note, dt_graph, dt,
                                              notes)
    elif spikes == "per-step" and note is not None:
        dt_graph = note["dt_graph"] if dt_graph is None else dt_graph
        dt = note["dt"] if dt is None else dt
    if spikes == "per-step":
        meta = None  # snnkit's metadata describes unit-area graphs
        dt = 0.001 if dt is None else dt
        if dt_graph is None:
            leaky = [n for n in chain
                     if type(graph.nodes[n]).__name__ in ("LIF", "CubaLIF")]
            if leaky:
                raise NIRError(
                    f"{where}: node {leaky[0]!r} ({type(graph.nodes[leaky[0]]).__name__})"
                    ": with per-step spikes its time constant needs the step the graph "
                    "was written for, which the graph does not say (snnTorch writes r = "
                    "tau / dt; Norse writes no step); pass dt_graph (--dt-graph), e.g. "
                    "the dt Norse ran with (0.001 by default)")
        synapse = note.get("synapse") if note is not None else None
        graph = per_step_to_unit_area(
            graph, chain, dt_graph=dt_graph, dt=dt, where=where, notes=notes,
            last_synapse=synapse if isinstance(synapse, (int, float)) else None)
        chain = check_chain(graph, where)
    graph, chain, readout = _with_host_readout(graph, chain, where, notes)
    for text in notes:
        warnings.warn(f"{where}: {text}", NIRMeaningWarning, stacklevel=2)
    return _build(graph, chain, where, meta, neuron_type, dt, readout)


def _detect_spikes(graph, where, meta, note, dt_graph, dt, notes):
    """``(spikes, dt_graph, dt)`` read from the graph where it says, else chosen with a
    note saying so."""
    if meta is not None:
        return "unit-area", dt_graph, dt
    if note is not None:
        return ("per-step", note["dt_graph"] if dt_graph is None else dt_graph,
                note["dt"] if dt is None else dt)
    step = snntorch_step(graph, where)
    if step is not None:
        step = step if dt_graph is None else dt_graph
        notes.append(f"read with per-step spikes (1 in the step a neuron fires) and "
                     f"dt_graph {step:g} s: every leaky node has r = tau / {step:g} s, "
                     "the signature of snnTorch's exporter; pass spikes='unit-area' "
                     "(--spikes unit-area) to read it as NIR's unit-area pulses")
        return "per-step", step, dt
    notes.append("read with NIR's unit-area spikes (a spike is 1/dt in its step): the "
                 "graph has no snnkit metadata and no per-step signature; graphs "
                 "written by snnTorch or Norse use per-step spikes: pass "
                 "spikes='per-step' (--spikes per-step) and, for leaky neurons, "
                 "dt_graph (--dt-graph)")
    return "unit-area", dt_graph, dt


def _with_host_readout(graph, chain, where, notes):
    """``(graph, chain, readout)``: a graph whose output is a neuron layer (no weights
    after it) gets an identity ``Linear`` before its Output, a layer the host runs;
    the readout is then ``"mean"`` (the spike count so far, per step) when no synapse
    filters the spikes, else None (the metadata's or ``"last"``)."""
    import nir

    kinds = [type(graph.nodes[n]).__name__ for n in chain]
    neurons = [i for i, k in enumerate(kinds) if k in NEURONS]
    if not neurons or any(k in WEIGHTED for k in kinds[neurons[-1]:]):
        return graph, chain, None
    shape = graph.nodes[chain[-1]].output_type.get("output")
    shape = tuple(int(s) for s in np.atleast_1d(shape)) if shape is not None else ()
    if len(shape) != 1:
        return graph, chain, None  # the walk refuses it, naming the node
    filtered = any(k == "LI" for k in kinds[neurons[-1]:])
    name = READOUT_LAYER
    while name in graph.nodes:
        name += "_"
    nodes = {n: graph.nodes[n] for n in chain[:-1]}
    nodes[name] = nir.Linear(weight=np.eye(shape[0]))
    nodes[chain[-1]] = graph.nodes[chain[-1]]
    names = list(nodes)
    new = nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                       metadata=graph.metadata, type_check=False)
    readout = None if filtered else "mean"
    notes.append(f"node {chain[neurons[-1]]!r} ({kinds[neurons[-1]]}) feeds the output "
                 f"directly: an identity layer {name!r} on the host reads its spikes"
                 + ("" if filtered else " with the 'mean' readout (spike count so far "
                    "per step; pass readout later with network.replace)"))
    return new, names, readout


def _build(graph, chain, where, meta, neuron_type, dt, readout):
    walk = None
    if meta is not None:
        walk = GraphWalk(graph, where,
                         amplitude=float(meta["neuron"].get("params", {})
                                         .get("amplitude", 1.0)),
                         scales=dict(meta["scale_firing_rates"]),
                         standalone=meta["standalone_neurons"], no_bias=meta["no_bias"])
        walk.run(chain)
        differs = _weights_disagree(walk, meta)
        if differs:
            _warn(where, f"snnkit metadata's neuron type and scales ignored ({differs}):"
                         " the weights are read from the graph alone (scales 1)")
            walk = None
        else:
            for layer, largest in walk.biases_kept:
                _warn(where, f"snnkit metadata says layer {layer!r} has no bias; the "
                             f"graph's bias is kept (largest |bias| {largest:g})")
    if walk is None:
        walk = GraphWalk(graph, where)
        walk.run(chain)
    synapse = walk.synapse()
    kwargs = {"dt": 0.001 if dt is None else dt,
              "metadata": {"source": "NIR", "nir_source": where}}
    if meta is not None:
        kwargs.update(_agreeing_fields(walk, meta, where, synapse, dt,
                                       keep_scales=walk.scales is not None))
    if readout is not None:
        kwargs["readout"] = readout
    spec = _neuron_spec(walk, where, meta if walk.scales is not None else None,
                        neuron_type)
    model_json, weights = _layers(walk, (meta or {}).get("model_name") or "nir_graph")
    if "off_chip" not in kwargs:
        graph = architecture(model_json)
        neurons = set(neuron_layer_names(graph))
        kwargs["off_chip"] = conventional_off_chip(
            (layer.name, layer.name in neurons, bool(layer.weight_shapes))
            for layer in graph.layers)
    network = FrozenNetwork(model_json=model_json, weights=weights, neuron=spec,
                            synapse=synapse, **kwargs)
    logger.info("from_nir %s: %d neuron layers, %s, synapse %s", where,
                len(network.neuron_layers), spec.name, network.synapse)
    return network


def _warn(where, text):
    warnings.warn(f"{where}: {text}", NIRMeaningWarning, stacklevel=4)


def _weights_disagree(walk, meta) -> str:
    """What in the graph contradicts the metadata's neuron type, scales and layer
    names (empty when they agree): they are used only then."""
    family = "IF" if meta["neuron"]["name"] in IF_NEURONS else "LIF"
    tau = meta["neuron"].get("params", {}).get("tau_rc", 0.02)
    for name, neuron in walk.neurons.items():
        if neuron["family"] != family:
            return f"node {name!r} is {neuron['type']}, the metadata says " \
                   f"{meta['neuron']['name']}"
        if neuron["gain"] != 1.0 or neuron["leak"] != 0.0:
            return (f"node {name!r} has r / v_threshold {neuron['gain']:g} and v_leak "
                    f"{neuron['leak']:g}, snnkit writes 1 and 0")
        if family == "LIF" and neuron["tau"] != tau:
            return f"node {name!r} has tau {neuron['tau']:g} s, the metadata {tau:g} s"
    layers = set(walk.layer_names())
    named = set(meta["scale_firing_rates"]) - layers
    if named:
        return f"scaled layers {sorted(named)} are not in the graph"
    return ""


def _agreeing_fields(walk, meta, where, synapse, dt, keep_scales) -> dict:
    """The FrozenNetwork fields snnkit's metadata gives that agree with the graph;
    each one that does not is left out with a warning naming what differs."""
    from snnkit.network.readout import READOUTS

    layers = walk.layer_names()
    fields = {"dt": meta["dt"] if dt is None else dt}
    if keep_scales:
        fields["scale_firing_rates"] = meta["scale_firing_rates"]
    if meta["synapse"] != synapse:
        _warn(where, f"the graph's synapse is {synapse} s, snnkit metadata says "
                     f"{meta['synapse']}: the graph's is used")
    off_chip = list(meta["off_chip"])
    unknown = [name for name in off_chip if name not in layers]
    repeated = sorted({name for name in off_chip if off_chip.count(name) > 1})
    if unknown or repeated:
        what = (f"puts layers {unknown} off chip, which are not in the graph" if unknown
                else f"lists layers {repeated} off chip more than once")
        _warn(where, f"snnkit metadata {what}: the conventional placement is used (the "
                     "first neuron layer and layers without neurons on the host)")
    else:
        fields["off_chip"] = tuple(off_chip)
    shapes = dict(meta["block_shapes"])
    unknown = sorted(name for name in shapes if name not in layers
                     or name in off_chip)
    if unknown:
        _warn(where, f"snnkit metadata gives block shapes for {unknown}, which are not "
                     "on-chip layers of the graph: those are planned instead")
    fields["block_shapes"] = {k: v for k, v in shapes.items() if k not in unknown}
    readout = meta.get("readout", "last")  # graphs exported before it existed: last
    if readout not in READOUTS:
        _warn(where, f"snnkit metadata's readout {readout!r} is not one of "
                     f"{', '.join(READOUTS)}: 'last' is used")
        readout = "last"
    fields["readout"] = readout
    if isinstance(meta["metadata"], dict):
        fields["metadata"] = meta["metadata"]
    return fields


def _neuron_spec(walk, where, meta, neuron_type):
    from snnkit.network.neurons import NeuronSpec, neuron_spec

    if not walk.neurons:
        raise NIRError(f"{where}: the graph has no neurons (IF, LIF or CubaLIF nodes)")
    families = {n["family"]: name for name, n in walk.neurons.items()}
    if len(families) > 1:
        raise NIRError(f"{where}: node {families['IF']!r} is IF and node "
                       f"{families['LIF']!r} leaky (LIF/CubaLIF); a snnkit network has "
                       "one neuron type")
    family = next(iter(families))
    taus = {n["tau"]: name for name, n in walk.neurons.items()}
    if len(taus) > 1:
        (t1, n1), (t2, n2) = list(taus.items())[:2]
        raise NIRError(f"{where}: node {n1!r} has tau {t1:g} s and node {n2!r} {t2:g} s; "
                       "a snnkit network has one neuron type (one tau_rc)")
    stored = NeuronSpec.from_dict(meta["neuron"]) if meta is not None else None
    if neuron_type is None and stored is not None:
        return stored
    allowed = (("loihi-relu", "spiking-relu", "relu") if family == "IF"
               else LIF_NEURONS[::-1])
    name = neuron_spec(neuron_type).name if neuron_type is not None else allowed[0]
    if name not in allowed:
        raise ValidationError(
            f"neuron_type: the graph's neurons are {family} ("
            f"{', '.join(sorted({n['type'] for n in walk.neurons.values()}))}); expected "
            f"one of {', '.join(allowed)}, got {name!r}")
    params = {}
    if family == "LIF":
        params = {"tau_rc": next(iter(taus)), "tau_ref": 0.0}
    if stored is not None:  # keep what NIR cannot say (amplitude, refractory period)
        params.update({k: v for k, v in stored.params.items()
                       if family == "LIF" or k == "amplitude"})
    return NeuronSpec(name, params)


def _layers(walk, model_name):
    """The Keras model configuration (JSON text) and weights of a finished
    :class:`GraphWalk`, written from layer specs: no TensorFlow."""
    specs = [LayerSpec("InputLayer", walk.input_name,
                       {"batch_input_shape": [None, *walk.keras_input_shape]})]
    weights = {}

    def add(class_name, name, config=None):
        specs.append(LayerSpec(class_name, name, config or {}, (specs[-1].name,)))

    for spec in walk.specs:
        kind, name = spec["kind"], spec["name"]
        activation = "relu" if spec.get("relu") else "linear"
        if kind == "conv":
            if spec["pad_name"] is not None:
                pad = spec["padding"]
                add("ZeroPadding2D", spec["pad_name"],
                    {"padding": [[pad[0], pad[0]], [pad[1], pad[1]]]})
            kernel = spec["weight"].transpose(2, 3, 1, 0)
            add("Conv2D", name, {
                "filters": kernel.shape[3], "kernel_size": list(kernel.shape[:2]),
                "strides": list(spec["stride"]),
                "padding": "same" if spec["padding"] == "same" else "valid",
                "dilation_rate": list(spec["dilation"]), "activation": activation,
                "use_bias": spec["bias"] is not None})
        elif kind == "dense":
            w = spec["weight"]
            if spec["flatten_chw"] is not None:
                c, h, wd = spec["flatten_chw"]
                kernel = w.reshape(-1, c, h, wd).transpose(2, 3, 1, 0).reshape(
                    h * wd * c, -1)
            else:
                kernel = w.T
            add("Dense", name, {"units": kernel.shape[1], "activation": activation,
                                "use_bias": spec["bias"] is not None})
        elif kind == "flatten":
            add("Flatten", name)
        elif kind == "pool":
            add("AveragePooling2D", name, {"pool_size": list(spec["size"]),
                                           "strides": list(spec["stride"])})
        else:
            add("ReLU", name)
        if kind in ("conv", "dense"):
            weights[name] = tuple(np.asarray(v, np.float32) for v in
                                  [kernel] + ([spec["bias"]] if spec["bias"] is not None
                                              else []))
    config = model_config(specs, re.sub(r"[^A-Za-z0-9_.\-]", "_", model_name))
    return json.dumps(config), weights


def _metadata_json(graph, key):
    """The graph's metadata entry ``key`` parsed as JSON; None when there is none.

    Raises ``ValueError`` (or ``TypeError``, ``NIRError``) for one that is not JSON
    text: the callers warn and read the graph alone.
    """
    raw = (graph.metadata or {}).get(key)
    return None if raw is None else json.loads(nir_text(raw))


def _reader_metadata(graph, where):
    """The note :func:`snnkit.nir.torch_readers.torch_reader_graph` writes, or None."""
    try:
        note = _metadata_json(graph, READER_KEY)
        if note is None:
            return None
        if note.get("format") != READER_FORMAT or note.get("spikes") != "per-step":
            raise ValueError(f"format {note.get('format')!r}")
        for key in ("dt", "dt_graph"):
            if not (isinstance(note[key], (int, float)) and math.isfinite(note[key])
                    and note[key] > 0):
                raise ValueError(f"{key} {note[key]!r}")
    except (ValueError, TypeError, KeyError, AttributeError, NIRError) as e:
        _warn(where, f"unreadable {READER_KEY} metadata ignored ({e})")
        return None
    return note


def _snnkit_metadata(graph, where):
    """The metadata :func:`snnkit.nir.export.to_nir` writes, or None."""
    try:
        meta = _metadata_json(graph, METADATA_KEY)
        if meta is None:
            return None
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        if not isinstance(meta.get("format_version"), int) or \
                meta["format_version"] > FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r} (this "
                             f"snnkit reads up to {FORMAT_VERSION})")
        for key in ("neuron", "scale_firing_rates", "synapse", "dt", "off_chip",
                    "block_shapes", "no_bias", "standalone_neurons", "metadata"):
            meta[key]  # noqa: B018  (presence check)
    except (ValueError, TypeError, KeyError, AttributeError, NIRError) as e:
        _warn(where, f"unreadable snnkit metadata ignored ({e}); the graph alone is "
                     "read")
        return None
    return meta
