"""A NIR file read safely: bounded in memory before anything is read, every node
checked by type before ``nir`` builds it, the NIR version compared with the installed
one. Nothing in a file is executed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from snnkit.exceptions import NIRError, ValidationError
from snnkit.utils.hdf5 import check_hdf5_storage

SUPPORTED_NODES = ("Input", "Output", "Conv2d", "Affine", "Linear", "Flatten",
                   "AvgPool2d", "SumPool2d", "IF", "LIF", "CubaLIF", "LI")


MAX_NIR_NUMBERS = 64 * 2 ** 20   # entries in one dataset (a 64M-weight layer)
MAX_NIR_DATASETS = 20_000


def read_nir(path):
    """A ``nir.NIRGraph`` from a NIR (HDF5) file.

    Every node is checked by name before it is built.

    Parameters
    ----------
    path : str or os.PathLike
        The NIR file.

    Returns
    -------
    nir.NIRGraph

    Raises
    ------
    NIRError
        For a file that is not NIR, is newer than the installed ``nir``, or holds a
        node snnkit cannot run.
    """
    import h5py
    import nir
    from nir.serialization import hdf2dict

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
            version = nir_text(f["version"][()])
            _check_version(path, version, nir.version)
            data = hdf2dict(f["node"])
    except OSError as e:
        raise NIRError(f"{path}: not a NIR file (not readable as HDF5: {e})") from e
    return _graph_from_dict(nir, data, str(path))


def nir_text(value) -> str:
    """A text value as HDF5 stores it (bytes, a 0-d array or str), as str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return nir_text(value.item())
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
        raise NIRError(f"{path}: written by NIR {version}, newer than the nir "
                       f"{installed} installed here (it reads NIR up to "
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
        edges = [(nir_text(a), nir_text(b)) for a, b in data.get("edges", [])]
    except (ValueError, TypeError) as e:
        raise NIRError(f"{where}: the graph's edges are malformed: {e}") from e
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=data.get("metadata") or {},
                        type_check=False)


def check_node_types(graph, where):
    for name, node in graph.nodes.items():
        _check_supported(where, name, type(node).__name__)


def _check_supported(where, name, kind):
    if kind not in SUPPORTED_NODES:
        raise NIRError(f"{where}: node {name!r} is a {kind}, which snnkit cannot run; "
                       f"supported node types: {', '.join(SUPPORTED_NODES)}")
