"""HDF5 files read with bounded time and memory, and nothing read from outside them
(used by the Keras file and NIR file readers).

One walk over the file's links, before any value is read, checks every object:

- a group or a dataset, reached by one hard link only: soft links, external links,
  user-defined links, a second hard link to an object (a cycle, or one large
  dataset read once per link) are refused;
- a dataset stored in the file: no virtual dataset (its values come from other
  files, or a FIFO that blocks forever), no external storage, no filter but
  HDF5's built-in ones (a filter plugin would be loaded from the machine);
- numbers (or, where allowed, strings), at most ``max_entries`` per dataset and
  ``max_bytes`` over all datasets, counted by their declared size before any is
  read or decompressed (numbers and fixed-length strings by dtype size x entries;
  variable-length strings are stored unfiltered in the file, so their bytes are
  bounded by its size, and they are counted again once read);
- at most ``max_depth`` groups deep and ``max_objects`` objects in all.

The walk opens each object from its parent (never by its full path, which costs
its depth) and visits each once, so its time is linear in the number of objects;
nothing recurses, so no depth exhausts the stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from snnkit.exceptions import ValidationError, shortened, shown

# HDF5's own filters (deflate, shuffle, fletcher32, szip, nbit, scale-offset) and
# LZF, which h5py compiles in: no plugin is ever loaded
BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


@dataclass(frozen=True)
class HDF5Limits:
    """What an HDF5 file may hold, checked before anything in it is read.

    Attributes
    ----------
    max_entries : int
        Entries (numbers, or strings) in one dataset.
    max_bytes : int
        Bytes of data over all datasets (numbers and fixed-length strings: dtype size
        x entries; variable-length strings: their bytes once read).
    max_datasets : int
        Datasets in the file.
    max_objects : int
        Groups and datasets in the file.
    max_depth : int
        Groups nested in one another.
    text : bool
        Whether datasets of strings are allowed.
    max_text_bytes : int
        Bytes of one dataset of strings (fixed-length: checked before reading;
        variable-length: 8 per entry before, their bytes once read).
    """

    max_entries: int
    max_bytes: int
    max_datasets: int
    max_objects: int
    max_depth: int = 32
    text: bool = False
    max_text_bytes: int = 2 ** 24


@dataclass(frozen=True)
class _Dataset:
    path: str       # from the file's root, without the leading "/"
    string: bool
    variable: bool


class HDF5Problem(ValidationError):
    """An HDF5 file holding something the limits do not allow."""


def check_hdf5_storage(source, largest: int, max_datasets: int, argument: str,
                       label: str, text: bool = False) -> None:
    """Check that an HDF5 file can be read in bounded memory, before anything is read.

    Every object is a group or a dataset of numbers (or strings, with ``text``)
    stored in the file, reached by one hard link; no dataset holds more entries than
    ``largest``; the walk is the one of the module docstring.

    Parameters
    ----------
    source : str, os.PathLike or file-like
        The HDF5 file, as ``h5py.File`` opens it.
    largest : int
        The most numbers (or text entries) one dataset may hold.
    max_datasets : int
        The most datasets the file may hold.
    argument : str
        Starts every error message.
    label : str
        Names the file in messages.
    text : bool
        Allow datasets of strings too, of at most ``largest`` entries.

    Raises
    ------
    ValidationError
        A file holding anything else, or more.
    """
    import h5py

    limits = HDF5Limits(max_entries=largest, max_bytes=8 * largest * max_datasets,
                        max_datasets=max_datasets,
                        # groups: a few per layer and weight
                        max_objects=8 * max_datasets + 256, text=text)
    with h5py.File(source, "r") as f:
        walk_hdf5(f, limits, argument, label)


def walk_hdf5(group, limits: HDF5Limits, argument: str, label: str):
    """Every group and dataset under ``group`` (an open h5py Group or File), checked.

    Through h5py's low-level API: each link is listed from its group, each object
    opened from its parent, nothing is read.

    Parameters
    ----------
    group : h5py.Group
        Where the walk starts (a file is its root group).
    limits : HDF5Limits
        What the file may hold.
    argument, label : str
        Start every message, and name the file in it.

    Returns
    -------
    groups : list of str
        The groups' paths, each after its parent's.
    datasets : list
        The datasets found (for :func:`read_hdf5_tree`).

    Raises
    ------
    ValidationError
        Naming the file and the object, for anything the module docstring refuses,
        or an object HDF5 cannot open.
    """
    from h5py import h5l, h5o

    def refuse(what):
        return HDF5Problem(f"{argument}: {label!r} has {what}; snnkit reads HDF5 groups "
                           "and datasets stored inside the file, each reached by one "
                           "link, within its limits")

    groups, datasets, total = [], [], [0]
    objects = 0
    todo = [(group.id, _path_of(group), 0)]
    while todo:
        parent, where, depth = todo.pop()
        if depth > limits.max_depth:
            raise refuse(f"groups nested deeper than {limits.max_depth} levels (at "
                         f"{shown(where)})")
        links = []

        def listed(name, info, links=links, seen=objects):
            links.append((name, info.type))
            # stop listing a group of too many links
            return True if seen + len(links) > limits.max_objects else None

        try:
            parent.links.iterate(listed, info=True)
        except Exception as e:  # noqa: BLE001  (HDF5 on a corrupt file)
            raise refuse(f"a group {shown(where)} HDF5 cannot list ({_cause(e)})") \
                from e
        for raw, kind in links:
            objects += 1
            if objects > limits.max_objects:
                raise refuse(f"more than {limits.max_objects} objects")
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise refuse(f"a link {shown(raw)} in {shown(where)} whose name is not "
                             "UTF-8") from None
            path = f"{where}/{name}" if where else name
            if kind == h5l.TYPE_EXTERNAL:
                raise refuse(f"an external link {shortened(path, 200)}")
            if kind == h5l.TYPE_SOFT:
                raise refuse(f"a soft link {shortened(path, 200)} (to "
                             f"{shortened(_soft_target(parent, raw), 200)})")
            if kind != h5l.TYPE_HARD:
                raise refuse(f"a link {shown(path)} of type {kind}")
            try:
                item = h5o.open(parent, raw)
                info = h5o.get_info(item)
            except Exception as e:  # noqa: BLE001  (HDF5 on a corrupt file)
                raise refuse(f"an object {shown(path)} HDF5 cannot open ({_cause(e)})") \
                    from e
            if info.rc != 1:
                raise refuse(f"an object linked more than once ({shown(path)}: a cycle "
                             "or a shared object)")
            if info.type == h5o.TYPE_GROUP:
                groups.append(path)
                todo.append((item, path, depth + 1))
            elif info.type == h5o.TYPE_DATASET:
                datasets.append(_check_dataset(item, path, limits, total, refuse))
                if len(datasets) > limits.max_datasets:
                    raise refuse(f"more than {limits.max_datasets} datasets")
            else:
                raise refuse(f"an object {shown(path)} of HDF5 type {info.type} (not a "
                             "group or a dataset)")
    return groups, datasets


def _soft_target(parent, raw) -> str:
    try:
        return parent.links.get_val(raw).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001  (only for the message)
        return "?"


def _cause(error) -> str:
    return f"{type(error).__name__}: {shortened(str(error), 200)}"


def _path_of(group) -> str:
    """The group's path without the leading ``/`` (``""`` for the root)."""
    name = group.name
    return name.strip("/") if isinstance(name, str) else ""


def _check_dataset(item, path, limits, total, refuse) -> _Dataset:
    import h5py
    from h5py import h5d, h5s

    try:
        plist = item.get_create_plist()
        layout = plist.get_layout()
        external = plist.get_external_count() if layout != h5d.VIRTUAL else 0
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())] \
            if layout == h5d.CHUNKED else []
        dtype = item.get_type().dtype
        space = item.get_space()
        empty = space.get_simple_extent_type() == h5s.NULL
        shape = () if empty else space.shape
    except Exception as e:  # noqa: BLE001  (HDF5 on a corrupt file, a foreign type)
        raise refuse(f"a dataset {shown(path)} HDF5 cannot describe ({_cause(e)})") \
            from e
    if layout == h5d.VIRTUAL:
        raise refuse(f"a virtual dataset {shown(path)} (its values come from other "
                     "files)")
    if external:
        raise refuse(f"a dataset {shown(path)} stored outside the file")
    for code in filters:
        if code not in BUILTIN_FILTERS:
            raise refuse(f"a dataset {shown(path)} with filter {code}, not one of "
                         "HDF5's own")
    if empty:
        raise refuse(f"a dataset {shown(path)} with no dataspace")
    entries = math.prod(shape)
    string = h5py.check_string_dtype(dtype)
    variable = string is not None and string.length is None
    numeric = dtype.kind in "fiub" and dtype.itemsize <= 8 and dtype.names is None \
        and dtype.subdtype is None and not dtype.hasobject
    size = entries * (8 if variable else dtype.itemsize)
    if not (numeric or string is not None and limits.text) \
            or entries > limits.max_entries \
            or string is not None and size > limits.max_text_bytes:
        raise refuse(f"a dataset {shown(path)} of dtype {dtype} and shape {shape}, "
                     f"where plain {'numbers or strings' if limits.text else 'numbers'}"
                     f" of at most {limits.max_entries} entries (text: "
                     f"{limits.max_text_bytes} bytes) are expected")
    total[0] += size
    if total[0] > limits.max_bytes:
        raise refuse(f"more than {limits.max_bytes} bytes of data (at {shown(path)})")
    return _Dataset(path, string is not None, variable)


def read_hdf5_tree(group, limits: HDF5Limits, argument: str, label: str) -> dict:
    """The groups under ``group`` as nested dicts of their datasets' values.

    The whole tree is checked by :func:`walk_hdf5` first; then each dataset is read
    once. Numbers come as arrays (0-d for scalars), strings as ``str`` (an array of
    ``str`` for several).

    Parameters
    ----------
    group : h5py.Group
        The group read (a file is its root group).
    limits, argument, label
        As in :func:`walk_hdf5`, which checks the tree with them.

    Returns
    -------
    dict
        ``{name: dict or value}``.

    Raises
    ------
    ValidationError
        Naming the file and the dataset, for anything refused, strings that are
        not UTF-8, or more string bytes than ``limits.max_bytes``.
    """
    groups, datasets = walk_hdf5(group, limits, argument, label)
    root = _path_of(group)
    tree: dict = {}

    def parts(path):
        return path[len(root):].strip("/").split("/")

    for path in groups:  # each after its parent
        *above, name = parts(path)
        node = tree
        for part in above:
            node = node[part]
        node[name] = {}
    text_bytes = 0
    root_group = group.file["/"]
    for item in datasets:  # opened one at a time (an open dataset keeps its caches)
        value = root_group[item.path][()]
        if item.string:
            value, size = _decoded(value, item.path, argument, label)
            if size > limits.max_text_bytes:
                raise HDF5Problem(f"{argument}: {label!r}: {shown(item.path)} holds "
                                  f"{size} bytes of text, more than "
                                  f"{limits.max_text_bytes}")
            text_bytes += size
            if text_bytes > limits.max_bytes:
                raise HDF5Problem(f"{argument}: {label!r} holds more than "
                                  f"{limits.max_bytes} bytes of text (at "
                                  f"{shown(item.path)})")
        *above, name = parts(item.path)
        node = tree
        for part in above:
            node = node[part]
        node[name] = value
    return tree


def _decoded(value, path, argument, label):
    """A string dataset's value as str (or an array of str), and its size in bytes."""
    def text(raw):
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise HDF5Problem(f"{argument}: {label!r}: {shown(path)} is not UTF-8 text "
                              f"({e.reason} at byte {e.start})") from None

    if isinstance(value, np.ndarray) and value.ndim > 0:
        flat = [text(v) for v in value.ravel().tolist()]
        size = sum(len(v) for v in flat)
        return np.array(flat, dtype=object).reshape(value.shape), size
    raw = value.item() if isinstance(value, np.ndarray) else value
    decoded = text(raw)
    return decoded, len(decoded)
