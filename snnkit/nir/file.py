"""A NIR file read safely into a checked ``nir.NIRGraph``.

- Bounded before anything is read, and nothing read from outside the file: the HDF5
  walk of :mod:`snnkit.utils.hdf5` (no virtual dataset, no external link or storage,
  no soft link, each object reached by one link and read once, at most
  :data:`MAX_NIR_DEPTH` groups deep, :data:`MAX_NIR_OBJECTS` objects,
  :data:`MAX_NIR_NUMBERS` entries per dataset and :data:`MAX_NIR_BYTES` in all,
  strings by their bytes), in time linear in the number of objects.
- Every node checked by type, fields and values (:func:`snnkit.nir.graph.
  check_node_values`: integral strides and groups, finite weights, sizes and time
  constants in range) before ``nir`` builds it; at most :data:`MAX_NIR_NODES` nodes.
- snnkit's own metadata (one JSON string under ``"snnkit"``) at most
  :data:`MAX_METADATA_BYTES` long and :data:`MAX_METADATA_DEPTH` deep before it is
  parsed, then its fields checked by type and range (``dt`` a time step of
  :func:`~snnkit.nir.graph.check_dt`, scales and the neuron's amplitude finite and
  > 0); what the metadata *means* next to the graph is the importer's business.
- The NIR version compared with the installed one.

Every problem is one :class:`~snnkit.exceptions.NIRError` naming the file and the node
or field, its message bounded in length. Nothing in a file is executed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np

from snnkit.exceptions import NIRError, ValidationError, shortened, shown
from snnkit.keras.fields import MAX_NAME_CHARS
from snnkit.nir.export import FORMAT, METADATA_KEY
from snnkit.nir.graph import (
    NODE_FIELDS,
    check_dt,
    check_node_values,
    node_values,
)
from snnkit.utils.files import MAX_JSON_DEPTH, check_json_value, loads_bounded
from snnkit.utils.hdf5 import HDF5Limits, read_hdf5_tree

SUPPORTED_NODES = ("Input", "Output", "Conv2d", "Affine", "Linear", "Flatten",
                   "AvgPool2d", "SumPool2d", "IF", "LIF", "CubaLIF", "LI")

MAX_NIR_NUMBERS = 64 * 2 ** 20   # entries in one dataset (a 64M-weight layer)
MAX_NIR_BYTES = 512 * 2 ** 20    # bytes of data in all datasets
MAX_NIR_DATASETS = 20_000
MAX_NIR_OBJECTS = 40_000         # groups and datasets
MAX_NIR_DEPTH = 16               # the file's groups (a graph: /node/nodes/x/metadata)
MAX_NIR_NODES = 4_000            # 1,000 layers with their neurons and synapses
MAX_METADATA_BYTES = 4 * 2 ** 20  # snnkit's metadata JSON string
MAX_METADATA_DEPTH = MAX_JSON_DEPTH + 4
LIMITS = HDF5Limits(max_entries=MAX_NIR_NUMBERS, max_bytes=MAX_NIR_BYTES,
                    max_datasets=MAX_NIR_DATASETS, max_objects=MAX_NIR_OBJECTS,
                    max_depth=MAX_NIR_DEPTH, text=True,
                    max_text_bytes=MAX_METADATA_BYTES)
_GRAPH_KEYS = {"type", "nodes", "edges", "metadata"}


def read_nir(path):
    """A checked ``nir.NIRGraph`` from a NIR (HDF5) file (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The NIR file.

    Returns
    -------
    nir.NIRGraph
        The graph as ``nir.read`` would give it, read only after every bound held.

    Raises
    ------
    NIRError
        Naming the file (and the node or field): a file that is not a regular file,
        not NIR, newer than the installed ``nir``, over a limit, or holding a node
        snnkit cannot run or a value out of range.
    """
    import h5py
    import nir

    path = Path(path)
    where = str(path)
    _check_regular_file(path)
    try:
        with h5py.File(path, "r") as f:
            tree = read_hdf5_tree(f, LIMITS, "nir", where)
    except ValidationError as e:
        raise NIRError(str(e)) from e
    except Exception as e:  # noqa: BLE001  (HDF5 on a corrupt file raises anything)
        raise NIRError(f"{where}: not a NIR file (not readable as HDF5: "
                       f"{type(e).__name__}: {shown(str(e), 200)})") from e
    version, node = tree.get("version"), tree.get("node")
    if not isinstance(version, str) or not isinstance(node, dict):
        raise NIRError(f"{where}: an HDF5 file, but not a NIR graph (expected a "
                       "'version' text and a 'node' group)")
    _check_version(where, version, nir.version)
    graph = _graph_from_dict(nir, node, where)
    check_graph(graph, where, values_checked=True)
    return graph


def _check_regular_file(path: Path) -> None:
    """A regular file (not a FIFO, device or folder, which could block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NIRError(f"{path}: no such file") from None
    except OSError as e:
        raise NIRError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        raise NIRError(f"{path}: not a regular file")


def nir_text(value) -> str:
    """A text value as HDF5 stores it (bytes, a 0-d array or str), as str."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NIRError(f"expected UTF-8 text, got bytes ({e.reason})") from None
    if isinstance(value, np.ndarray) and value.shape == ():
        return nir_text(value.item())
    if isinstance(value, str):
        return value
    raise NIRError(f"expected text, got {type(value).__name__}")


def _check_version(where, version, installed):
    def major_minor(text):
        match = re.match(r"^(\d{1,6})\.(\d{1,6})", text)
        if not match:
            raise NIRError(f"{where}: unreadable NIR version {shown(text)}")
        return int(match.group(1)), int(match.group(2))

    if major_minor(version) > major_minor(installed):
        raise NIRError(f"{where}: written by NIR {shortened(version)}, newer than the "
                       f"nir {installed} installed here (it reads NIR up to "
                       f"{'.'.join(map(str, major_minor(installed)))}.x); upgrade nir")


def _graph_from_dict(nir, data, where):
    kind = data.get("type")
    if kind != "NIRGraph":
        raise NIRError(f"{where}: the top node is a {shown(kind)}, expected a NIRGraph")
    unknown = sorted(set(data) - _GRAPH_KEYS)
    if unknown:
        raise NIRError(f"{where}: the graph has unknown field(s) "
                       f"{shown(unknown, 200)}; expected "
                       f"{', '.join(sorted(_GRAPH_KEYS))}")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict):
        raise NIRError(f"{where}: the graph's 'nodes' is not a group of nodes")
    if len(raw_nodes) > MAX_NIR_NODES:
        raise NIRError(f"{where}: the graph has {len(raw_nodes)} nodes, more than "
                       f"{MAX_NIR_NODES}")
    nodes = {}
    for name, node in raw_nodes.items():
        nodes[name] = _node_from_dict(nir, node, where, name)
    edges = _edges(data.get("edges"), where)
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NIRError(f"{where}: the graph's metadata is not a group")
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata,
                            type_check=False)
    except Exception as e:  # noqa: BLE001  (nir's own code on checked values)
        raise NIRError(f"{where}: nir cannot build the graph ({type(e).__name__}: "
                       f"{shown(str(e), 200)})") from e


def _node_from_dict(nir, node, where, name):
    _check_name(where, name)
    kind = node.get("type") if isinstance(node, dict) else None
    if not isinstance(node, dict) or not isinstance(kind, str):
        raise NIRError(f"{where}: node {shown(name)} is not a group with a 'type' text")
    _check_supported(where, name, kind)
    required, optional = NODE_FIELDS[kind]
    unknown = sorted(set(node) - required - optional - {"type", "metadata"})
    if unknown:
        raise NIRError(f"{where}: node {shown(name)} ({kind}): unknown field(s) "
                       f"{shown(unknown, 200)}")
    if not isinstance(node.get("metadata", {}), dict):
        raise NIRError(f"{where}: node {shown(name)} ({kind}): metadata is not a group")
    fields = {k: v for k, v in node.items() if k not in ("type", "metadata")}
    check_node_values(where, name, kind, fields)
    fields = {k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0
                  and k in ("groups", "start_dim", "end_dim") else v)
              for k, v in fields.items()}
    try:
        return nir.dict2NIRNode({"type": kind, "metadata": node.get("metadata", {}),
                                 **fields})
    except Exception as e:  # noqa: BLE001  (nir's own code on checked values)
        raise NIRError(f"{where}: node {shown(name)} ({kind}) is malformed: "
                       f"{type(e).__name__}: {shown(str(e), 200)}") from e


def _edges(value, where) -> list:
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.size == 0:
        return []
    if not (isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == 2
            and value.shape[0] <= 4 * MAX_NIR_NODES
            and all(isinstance(v, str) for v in value.ravel().tolist())):
        raise NIRError(f"{where}: the graph's edges: expected pairs of node names "
                       f"(at most {4 * MAX_NIR_NODES}), got "
                       f"{_described(value)}")
    return [(a, b) for a, b in value.tolist()]


def _described(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return shown(value)


def _check_name(where, name) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise NIRError(f"{where}: node name {shown(name)}: expected 1..{MAX_NAME_CHARS} "
                       "characters")


def check_graph(graph, where: str, *, values_checked: bool = False) -> None:
    """Check a ``nir.NIRGraph`` before snnkit reads it.

    Its node count, every node's type and values
    (:func:`~snnkit.nir.graph.check_node_values`), and snnkit's metadata in it (size,
    nesting, field types and ranges; see the module docstring).

    Parameters
    ----------
    graph : nir.NIRGraph
        The graph (read from a file, or made in Python).
    where : str
        Names the graph (its file) in messages.
    values_checked : bool
        The nodes' values were checked already (as :func:`read_nir` does).

    Raises
    ------
    NIRError
        Naming the file and the node or field.
    """
    nodes = getattr(graph, "nodes", None)
    if not isinstance(nodes, dict):
        raise NIRError(f"{where}: expected a nir.NIRGraph with a dict of nodes, got "
                       f"{type(graph).__name__}")
    if len(nodes) > MAX_NIR_NODES:
        raise NIRError(f"{where}: the graph has {len(nodes)} nodes, more than "
                       f"{MAX_NIR_NODES}")
    for name, node in nodes.items():
        _check_name(where, name)
        _check_supported(where, name, type(node).__name__)
        if not values_checked:
            check_node_values(where, name, type(node).__name__, node_values(node))
    metadata = getattr(graph, "metadata", None) or {}
    if isinstance(metadata, dict) and metadata.get(METADATA_KEY) is not None:
        check_snnkit_metadata(metadata[METADATA_KEY], where)


def check_node_types(graph, where):
    """Check a graph made in Python as :func:`check_graph` does (kept for callers)."""
    check_graph(graph, where)


def _check_supported(where, name, kind):
    if kind not in SUPPORTED_NODES:
        kind = kind if isinstance(kind, str) and len(kind) <= 64 else shown(kind)
        raise NIRError(f"{where}: node {shown(name)} is a {kind}, which snnkit "
                       f"cannot run; supported node types: {', '.join(SUPPORTED_NODES)}")


# --- snnkit's metadata ----------------------------------------------------------------
def check_snnkit_metadata(raw, where: str) -> dict | None:
    """snnkit's metadata (a JSON string), bounded before it is parsed, then checked.

    Size and nesting are checked on the text, so parsing can neither exhaust memory
    nor the stack; then every field the importer reads is checked by type and range.
    Metadata of another format is returned as None (the importer ignores it).

    Parameters
    ----------
    raw : str, bytes or 0-d array
        The value under ``"snnkit"`` in the graph's metadata.
    where : str
        Names the graph (its file).

    Returns
    -------
    dict or None
        The parsed metadata (None: not snnkit's format).

    Raises
    ------
    NIRError
        Naming the file and the field.
    """
    field = f"metadata[{METADATA_KEY!r}]"
    try:
        text = nir_text(raw)
    except NIRError as e:
        raise NIRError(f"{where}: {field}: {e}") from None
    if len(text) > MAX_METADATA_BYTES:
        raise NIRError(f"{where}: {field}: {len(text)} characters, more than "
                       f"{MAX_METADATA_BYTES}")
    try:
        meta = loads_bounded(text, MAX_METADATA_DEPTH)
    except ValidationError as e:
        raise NIRError(f"{where}: {field}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None

    def fail(key, expected, value):
        keys = "".join(f"[{k!r}]" for k in (key if isinstance(key, tuple) else (key,)))
        raise NIRError(f"{where}: {field}{keys}: expected {expected}, got "
                       f"{shown(value)}")

    def positive(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and np.isfinite(value) and value > 0

    def names(key):
        value = meta.get(key, [])
        if not isinstance(value, list) or not all(
                isinstance(v, str) and len(v) <= MAX_NAME_CHARS for v in value):
            fail(key, "a list of layer names", value)

    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        fail("format_version", "an int >= 1", version)
    if "dt" in meta:
        check_dt(meta["dt"], f"{field}['dt']", where)
    synapse = meta.get("synapse")
    if synapse is not None and not (positive(synapse) and synapse <= 1e4):
        fail("synapse", "null or a time constant in (0, 10000] s", synapse)
    scales = meta.get("scale_firing_rates", {})
    if not isinstance(scales, dict) or not all(
            positive(v) and v <= 1e12 for v in scales.values()):
        fail("scale_firing_rates", "{layer: a finite number > 0}", scales)
    neuron = meta.get("neuron", {"name": "loihi-relu"})
    if not isinstance(neuron, dict) or not isinstance(neuron.get("name"), str) \
            or not isinstance(neuron.get("params", {}), dict):
        fail("neuron", "{name: text, params: {...}}", neuron)
    for key, value in neuron.get("params", {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not np.isfinite(value):
            fail(("neuron", "params", key), "a finite number", value)
    amplitude = neuron.get("params", {}).get("amplitude", 1.0)
    if not positive(amplitude):
        fail(("neuron", "params", "amplitude"), "a finite number > 0", amplitude)
    from snnkit.network.neurons import NeuronSpec

    try:
        NeuronSpec.from_dict(neuron)
    except (ValidationError, KeyError, TypeError, ValueError) as e:
        raise NIRError(f"{where}: {field}['neuron']: {shown(str(e), 200)}") from None
    for key in ("off_chip", "no_bias", "standalone_neurons"):
        names(key)
    blocks = meta.get("block_shapes", {})
    if not isinstance(blocks, dict) or not all(
            isinstance(v, list) and 0 < len(v) <= 8 and all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 2 ** 24
                for d in v) for v in blocks.values()):
        fail("block_shapes", "{layer: a list of sizes}", blocks)
    for key in ("model_name", "readout"):
        if key in meta and not (isinstance(meta[key], str)
                                and len(meta[key]) <= MAX_NAME_CHARS):
            fail(key, f"a text of at most {MAX_NAME_CHARS} characters", meta[key])
    inner = meta.get("metadata", {})
    if not isinstance(inner, dict):
        fail("metadata", "a JSON object", inner)
    try:
        check_json_value(f"{field}['metadata']", inner)
    except ValidationError as e:
        raise NIRError(f"{where}: {e}") from None
    return meta
