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
import re
from pathlib import Path

import numpy as np

from snnkit.convert.freeze import conventional_off_chip
from snnkit.exceptions import NIRError, StaleNIRMetadata, ValidationError
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
from snnkit.nir.graph import GraphWalk, check_chain

logger = logging.getLogger(__name__)


def from_nir(source, *, neuron_type=None, dt: float | None = None,
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
        Step in seconds (default the metadata's, else 0.001).
    use_snnkit_metadata : bool
        False ignores snnkit's metadata.

    Returns
    -------
    FrozenNetwork

    Raises
    ------
    NIRError
        A file that is not NIR, or a graph snnkit cannot read or run.
    ValidationError
        ``source`` is neither a ``nir.NIRGraph`` nor a path, or ``neuron_type`` is not
        of the graph's neuron family.
    """
    import nir

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
    if meta is not None:
        try:
            return _build(graph, chain, where, meta, neuron_type, dt)
        except StaleNIRMetadata as e:
            logger.warning("%s: snnkit metadata ignored (%s); reading the graph alone",
                           where, e)
    return _build(graph, chain, where, None, neuron_type, dt)


def _build(graph, chain, where, meta, neuron_type, dt):
    if meta is None:
        walk = GraphWalk(graph, where)
        kwargs = {"dt": 0.001 if dt is None else dt,
                  "metadata": {"source": "NIR", "nir_source": where}}
    else:
        walk = GraphWalk(graph, where,
                         amplitude=float(meta["neuron"].get("params", {})
                                         .get("amplitude", 1.0)),
                         scales=dict(meta["scale_firing_rates"]),
                         standalone=meta["standalone_neurons"], no_bias=meta["no_bias"])
        kwargs = {"dt": meta["dt"] if dt is None else dt, "metadata": meta["metadata"],
                  "off_chip": tuple(meta["off_chip"]),
                  "block_shapes": meta["block_shapes"],
                  "scale_firing_rates": meta["scale_firing_rates"],
                  # graphs exported before the readout existed read the last value
                  "readout": meta.get("readout", "last")}
    walk.run(chain)
    if meta is not None:
        _check_metadata_matches(walk, meta)
    spec = _neuron_spec(walk, where, meta, neuron_type)
    model_json, weights = _layers(walk, (meta or {}).get("model_name") or "nir_graph")
    if "off_chip" not in kwargs:
        graph = architecture(model_json)
        neurons = set(neuron_layer_names(graph))
        kwargs["off_chip"] = conventional_off_chip(
            (layer.name, layer.name in neurons, bool(layer.weight_shapes))
            for layer in graph.layers)
    network = FrozenNetwork(model_json=model_json, weights=weights, neuron=spec,
                            synapse=walk.synapse(), **kwargs)
    logger.info("from_nir %s: %d neuron layers, %s, synapse %s", where,
                len(network.neuron_layers), spec.name, network.synapse)
    return network


def _check_metadata_matches(walk, meta):
    family = "IF" if meta["neuron"]["name"] in IF_NEURONS else "LIF"
    for name, neuron in walk.neurons.items():
        if neuron["family"] != family:
            raise StaleNIRMetadata(f"node {name!r} is {neuron['type']}, metadata says "
                                 f"{meta['neuron']['name']}")
        if neuron["gain"] != 1.0 or neuron["leak"] != 0.0:
            raise StaleNIRMetadata(f"node {name!r} has r / v_threshold "
                                 f"{neuron['gain']:g}, v_leak {neuron['leak']:g}")
        tau = meta["neuron"].get("params", {}).get("tau_rc", 0.02)
        if family == "LIF" and neuron["tau"] != tau:
            raise StaleNIRMetadata(f"node {name!r} has tau {neuron['tau']:g}, metadata "
                                 f"{tau:g}")
    layers = set(walk.layer_names())
    named = (set(meta["scale_firing_rates"]) | set(meta["off_chip"])
             | set(meta["block_shapes"]))
    if not named <= layers:
        raise StaleNIRMetadata(f"layers {sorted(named - layers)} are not in the graph")
    if walk.synapse() != meta["synapse"]:
        raise StaleNIRMetadata(f"synapse {walk.synapse()} s, metadata {meta['synapse']}")


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


def _snnkit_metadata(graph, where):
    raw = (graph.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None
    try:
        meta = json.loads(nir_text(raw))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        if not isinstance(meta.get("format_version"), int) or \
                meta["format_version"] > FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r} (this "
                             f"snnkit reads up to {FORMAT_VERSION})")
        for key in ("neuron", "scale_firing_rates", "synapse", "dt", "off_chip",
                    "block_shapes", "no_bias", "standalone_neurons", "metadata"):
            meta[key]  # noqa: B018  (presence check)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        logger.warning("%s: unreadable snnkit metadata ignored (%s)", where, e)
        return None
    return meta
