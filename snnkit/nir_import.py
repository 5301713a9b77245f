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

A graph written by :func:`snnkit.nir_export.to_nir` carries snnkit's metadata; it is
used (unless the graph no longer matches it) to restore the neuron type, scales,
off-chip layers and block shapes exactly. Nothing in a file is executed.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from .exceptions import NIRError, ValidationError
from .nir_export import FORMAT, FORMAT_VERSION, IF_NEURONS, LIF_NEURONS, METADATA_KEY
from .nir_layers import GraphWalk, check_chain

logger = logging.getLogger(__name__)

SUPPORTED_NODES = ("Input", "Output", "Conv2d", "Affine", "Linear", "Flatten",
                   "AvgPool2d", "SumPool2d", "IF", "LIF", "CubaLIF", "LI")


MAX_NIR_NUMBERS = 64 * 2 ** 20   # entries in one dataset (a 64M-weight layer)
MAX_NIR_DATASETS = 20_000


def read_nir(path):
    """A ``nir.NIRGraph`` from a NIR (HDF5) file, every node checked by name before it
    is built. Raises :class:`~snnkit.exceptions.NIRError` for a file that is not NIR,
    is newer than the installed ``nir``, or holds a node snnkit cannot run."""
    import h5py
    import nir
    from nir.serialization import hdf2dict

    from .exceptions import ValidationError
    from .keras_files import check_hdf5_storage

    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: no such file")
    try:
        # bounded before anything is read: no external links or storage, no dataset
        # over MAX_NIR_NUMBERS entries, at most MAX_NIR_DATASETS datasets
        check_hdf5_storage(path, MAX_NIR_NUMBERS, MAX_NIR_DATASETS, "nir", str(path),
                           text=True)
    except ValidationError as e:
        raise NIRError(str(e)) from e
    except OSError as e:
        raise NIRError(f"{path}: not a NIR file (not readable as HDF5: {e})") from e
    try:
        with h5py.File(path, "r") as f:
            if "version" not in f or "node" not in f:
                raise NIRError(f"{path}: an HDF5 file, but not a NIR graph (no 'version' "
                               "and 'node' entries)")
            version = _text(f["version"][()])
            _check_version(path, version, nir.version)
            data = hdf2dict(f["node"])
    except OSError as e:
        raise NIRError(f"{path}: not a NIR file (not readable as HDF5: {e})") from e
    return _graph_from_dict(nir, data, str(path))


def from_nir(source, *, neuron_type=None, dt=None, use_snnkit_metadata=True):
    """A FrozenNetwork from a ``nir.NIRGraph`` or a NIR file path (see module doc).

    ``neuron_type``: snnkit neuron type for the graph's neurons (default
    ``loihi-relu`` for ``IF``, ``loihi-lif`` for ``LIF``/``CubaLIF``, or the type
    snnkit's metadata names); ``dt``: step in seconds (default the metadata's, else
    0.001); ``use_snnkit_metadata=False`` ignores snnkit's metadata.
    """
    import nir

    if isinstance(source, nir.NIRGraph):
        graph, where = source, "graph"
        _check_node_types(graph, where)
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
        except _StaleMetadata as e:
            logger.warning("%s: snnkit metadata ignored (%s); reading the graph alone",
                           where, e)
    return _build(graph, chain, where, None, neuron_type, dt)


class _StaleMetadata(Exception):
    """snnkit's metadata no longer describes the graph (edited by another tool)."""


def _build(graph, chain, where, meta, neuron_type, dt):
    from .frozen import FrozenNetwork

    if meta is None:
        walk = GraphWalk(graph, where)
        kwargs = {"dt": 0.001 if dt is None else dt,
                  "metadata": {"source": "NIR", "nir_source": where}}
    else:
        walk = GraphWalk(graph, where,
                         amplitude=float(meta["neuron"].get("params", {}).get("amplitude", 1.0)),
                         scales=dict(meta["scale_firing_rates"]),
                         standalone=meta["standalone_neurons"], no_bias=meta["no_bias"])
        kwargs = {"dt": meta["dt"] if dt is None else dt, "metadata": meta["metadata"],
                  "off_chip": tuple(meta["off_chip"]), "block_shapes": meta["block_shapes"],
                  "scale_firing_rates": meta["scale_firing_rates"],
                  # graphs exported before the readout existed read the last value
                  "readout": meta.get("readout", "last")}
    walk.run(chain)
    if meta is not None:
        _check_metadata_matches(walk, meta)
    spec = _neuron_spec(walk, where, meta, neuron_type)
    model = _keras_model(walk, (meta or {}).get("model_name") or "nir_graph")
    # the model is already made of runnable layers: nothing to fold, no encoder added
    network = FrozenNetwork.from_keras(model, neuron_type=spec, fold=False,
                                       spike_encoder=False, synapse=walk.synapse(), **kwargs)
    logger.info("from_nir %s: %d neuron layers, %s, synapse %s", where,
                len(network.neuron_layers), spec.name, network.synapse)
    return network


def _check_metadata_matches(walk, meta):
    family = "IF" if meta["neuron"]["name"] in IF_NEURONS else "LIF"
    for name, neuron in walk.neurons.items():
        if neuron["family"] != family:
            raise _StaleMetadata(f"node {name!r} is {neuron['type']}, metadata says "
                                 f"{meta['neuron']['name']}")
        if neuron["gain"] != 1.0 or neuron["leak"] != 0.0:
            raise _StaleMetadata(f"node {name!r} has r / v_threshold "
                                 f"{neuron['gain']:g}, v_leak {neuron['leak']:g}")
        tau = meta["neuron"].get("params", {}).get("tau_rc", 0.02)
        if family == "LIF" and neuron["tau"] != tau:
            raise _StaleMetadata(f"node {name!r} has tau {neuron['tau']:g}, metadata "
                                 f"{tau:g}")
    layers = set(walk.layer_names())
    named = set(meta["scale_firing_rates"]) | set(meta["off_chip"]) | set(meta["block_shapes"])
    if not named <= layers:
        raise _StaleMetadata(f"layers {sorted(named - layers)} are not in the graph")
    if walk.synapse() != meta["synapse"]:
        raise _StaleMetadata(f"synapse {walk.synapse()} s, metadata {meta['synapse']}")


def _neuron_spec(walk, where, meta, neuron_type):
    from .neurons import NeuronSpec, neuron_spec

    if not walk.neurons:
        raise NIRError(f"{where}: the graph has no neurons (IF, LIF or CubaLIF nodes)")
    families = {n["family"]: name for name, n in walk.neurons.items()}
    if len(families) > 1:
        raise NIRError(f"{where}: node {families['IF']!r} is IF and node "
                       f"{families['LIF']!r} leaky (LIF/CubaLIF); a snnkit network has one "
                       "neuron type")
    family = next(iter(families))
    taus = {n["tau"]: name for name, n in walk.neurons.items()}
    if len(taus) > 1:
        (t1, n1), (t2, n2) = list(taus.items())[:2]
        raise NIRError(f"{where}: node {n1!r} has tau {t1:g} s and node {n2!r} {t2:g} s; "
                       "a snnkit network has one neuron type (one tau_rc)")
    stored = NeuronSpec.from_dict(meta["neuron"]) if meta is not None else None
    if neuron_type is None and stored is not None:
        return stored
    allowed = ("loihi-relu", "spiking-relu", "relu") if family == "IF" else LIF_NEURONS[::-1]
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


def _keras_model(walk, model_name):
    """The Keras functional model of a finished :class:`GraphWalk`, weights set."""
    from ._stack import import_tensorflow

    tf = import_tensorflow()

    layers = tf.keras.layers
    inp = x = tf.keras.Input(shape=walk.keras_input_shape, name=walk.input_name)
    weights = {}
    for spec in walk.specs:
        kind, name = spec["kind"], spec["name"]
        activation = "relu" if spec.get("relu") else None
        if kind == "conv":
            if spec["pad_name"] is not None:
                pad = spec["padding"]
                x = layers.ZeroPadding2D(((pad[0], pad[0]), (pad[1], pad[1])),
                                         name=spec["pad_name"])(x)
            kernel = spec["weight"].transpose(2, 3, 1, 0)
            x = layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=spec["stride"],
                              padding="same" if spec["padding"] == "same" else "valid",
                              dilation_rate=spec["dilation"], activation=activation,
                              use_bias=spec["bias"] is not None, name=name)(x)
        elif kind == "dense":
            w = spec["weight"]
            if spec["flatten_chw"] is not None:
                c, h, wd = spec["flatten_chw"]
                kernel = w.reshape(-1, c, h, wd).transpose(2, 3, 1, 0).reshape(h * wd * c, -1)
            else:
                kernel = w.T
            x = layers.Dense(kernel.shape[1], activation=activation,
                             use_bias=spec["bias"] is not None, name=name)(x)
        elif kind == "flatten":
            x = layers.Flatten(name=name)(x)
        elif kind == "pool":
            x = layers.AveragePooling2D(spec["size"], spec["stride"], name=name)(x)
        else:
            x = layers.ReLU(name=name)(x)
        if kind in ("conv", "dense"):
            weights[name] = [kernel] + ([spec["bias"]] if spec["bias"] is not None else [])
    model = tf.keras.Model(inp, x, name=re.sub(r"[^A-Za-z0-9_.\-]", "_", model_name))
    for name, values in weights.items():
        model.get_layer(name).set_weights([np.asarray(v, np.float32) for v in values])
    return model


def _snnkit_metadata(graph, where):
    raw = (graph.metadata or {}).get(METADATA_KEY)
    if raw is None:
        return None
    try:
        meta = json.loads(_text(raw))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        if not isinstance(meta.get("format_version"), int) or \
                meta["format_version"] > FORMAT_VERSION:
            raise ValueError(f"format_version {meta.get('format_version')!r} (this snnkit "
                             f"reads up to {FORMAT_VERSION})")
        for key in ("neuron", "scale_firing_rates", "synapse", "dt", "off_chip",
                    "block_shapes", "no_bias", "standalone_neurons", "metadata"):
            meta[key]  # noqa: B018  (presence check)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        logger.warning("%s: unreadable snnkit metadata ignored (%s)", where, e)
        return None
    return meta


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    if isinstance(value, str):
        return value
    raise NIRError(f"expected text, got {type(value).__name__}")


def _check_version(path, version, installed):
    def major_minor(text):
        match = re.match(r"^(\d+)\.(\d+)", text)
        if not match:
            raise NIRError(f"{path}: unreadable NIR version {text!r}")
        return int(match.group(1)), int(match.group(2))

    if major_minor(version) > major_minor(installed):
        raise NIRError(f"{path}: written by NIR {version}, newer than the nir {installed} "
                       f"installed here (it reads NIR up to "
                       f"{'.'.join(map(str, major_minor(installed)))}.x); upgrade nir")


def _graph_from_dict(nir, data, where):
    if not isinstance(data, dict) or data.get("type") != "NIRGraph":
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise NIRError(f"{where}: the top node is a {kind}, expected a NIRGraph")
    nodes = {}
    for name, node in (data.get("nodes") or {}).items():
        kind = node.get("type") if isinstance(node, dict) else None
        _check_supported(where, name, kind)
        try:
            nodes[name] = nir.dict2NIRNode(dict(node))
        except (AssertionError, ValueError, KeyError, TypeError, IndexError) as e:
            raise NIRError(f"{where}: node {name!r} ({kind}) is malformed: "
                           f"{type(e).__name__}: {e}") from e
    try:
        edges = [(_text(a), _text(b)) for a, b in data.get("edges", [])]
    except (ValueError, TypeError) as e:
        raise NIRError(f"{where}: the graph's edges are malformed: {e}") from e
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=data.get("metadata") or {},
                        type_check=False)


def _check_node_types(graph, where):
    for name, node in graph.nodes.items():
        _check_supported(where, name, type(node).__name__)


def _check_supported(where, name, kind):
    if kind not in SUPPORTED_NODES:
        raise NIRError(f"{where}: node {name!r} is a {kind}, which snnkit cannot run; "
                       f"supported node types: {', '.join(SUPPORTED_NODES)}")

