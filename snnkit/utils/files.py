"""Atomic file writes (a reader never sees a half-written file, a crash never replaces
a good file with a broken one) and snnkit's container format: an ``.npz`` archive of
arrays plus one JSON header, read with ``allow_pickle=False``."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import re
import struct
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from snnkit.exceptions import ValidationError, shown
from snnkit.utils.validation import special_file_kind

# What a truncated, corrupt or foreign archive raises somewhere inside zipfile,
# np.load's member reader, zlib or json.
UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
              UnicodeDecodeError, TypeError, OverflowError, IndexError, struct.error,
              zlib.error, NotImplementedError, RecursionError, SyntaxError,
              tokenize.TokenError)
MAX_HEADER_BYTES = 32 * 2 ** 20     # the JSON header of a snnkit archive
MAX_JSON_DEPTH = 32                 # nesting of free-form JSON values (metadata)
_NPY_HEADER_BYTES = 2 ** 16         # an .npy member's own header, at most
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write ``path`` through a temporary file next to it.

    On success, the temporary file is fsynced and renamed over ``path``. On any
    exception the temporary file is removed and ``path`` is untouched.

    The temporary file is ``.<name>.<pid>.<random>.tmp``: a process killed mid-write
    leaves it behind, and :func:`remove_stale_temp_files` can tell it from the file of
    a writer that is still alive; every write removes those that killed writers
    left for the same ``path``, so the next run of any writer cleans up after a kill.
    An existing ``path`` that is not a regular file (a FIFO, a device such as
    ``/dev/null``) is refused, never replaced.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : str
        The mode the temporary file is opened in.

    Yields
    ------
    IO
        The open temporary file.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    kind = special_file_kind(path)
    if kind is not None:
        raise ValidationError(f"{shown(str(path), 200)} is {kind}, not a regular file: "
                              "snnkit does not replace it")
    remove_stale_temp_files(directory, names=(path.name,))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.",
                                    suffix=TEMP_SUFFIX, dir=directory)
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open()
        # would have, so the user's umask decides, not our temporary-file trick.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_npz_with_header(path, header_key: str, header: dict, arrays: dict) -> None:
    """Write ``arrays`` and a JSON header to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file to write.
    header_key : str
        The member the header is stored under, as UTF-8 bytes.
    header : dict
        The JSON header.
    arrays : dict
        ``{member name: array}``.

    Raises
    ------
    ValidationError
        A header larger than :data:`MAX_HEADER_BYTES`, which no reader would accept
        (nothing is written).
    """
    arrays = dict(arrays)
    text = json.dumps(header).encode("utf-8")
    if len(text) > MAX_HEADER_BYTES:  # never write what the reader refuses
        raise ValidationError(f"{shown(str(path), 200)}: the header would be {len(text)} "
                              f"bytes, more than the {MAX_HEADER_BYTES} a reader accepts "
                              "(the metadata is too large)")
    arrays[header_key] = np.frombuffer(text, np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


class NpzMembers:
    """The arrays of an open ``.npz`` archive, each read only when asked for.

    A member is read only after its ``.npy`` header shows the dtype and shape the
    caller expects.

    Memory stays bounded by what the caller expects (never by what a member claims),
    and a member nobody names is never read. Failures raise
    :class:`~snnkit.exceptions.ValidationError` naming the caller's field.

    Parameters
    ----------
    archive : numpy.lib.npyio.NpzFile
        The open archive (``np.load`` of an ``.npz`` file).
    """

    def __init__(self, archive):
        self._zip = archive.zip
        self._names = set(self._zip.namelist())

    def _member(self, key: str) -> str | None:
        for member in (f"{key}.npy", key):
            if member in self._names:
                return member
        return None

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and self._member(key) is not None

    def keys(self) -> list[str]:
        """The archive's member names (without ``.npy``), sorted."""
        return sorted(name[:-4] if name.endswith(".npy") else name
                      for name in self._names)

    def header(self, key: str, field: str) -> tuple[tuple[int, ...], np.dtype]:
        """``(shape, dtype)`` of the array stored as ``key``, from its header alone.

        Parameters
        ----------
        key : str
            The member's name (without ``.npy``).
        field : str
            Names the array in messages (e.g. ``"weights[0]"``).

        Returns
        -------
        tuple
            ``(shape, dtype)``; nothing of the array's data is read.

        Raises
        ------
        ValidationError
            A missing, encrypted or unreadable member, naming ``field``.
        """
        array_shape, dtype, _, _ = self._member_header(key, field)
        return array_shape, dtype

    def _member_header(self, key, field):
        """``(shape, dtype, data_start, member info)`` of a readable member."""
        member = self._member(key) if isinstance(key, str) else None
        if member is None:
            raise ValidationError(f"{field}: archive member {shown(key)} is missing")
        info = self._zip.getinfo(member)
        if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValidationError(f"{field}: archive member {key!r} is encrypted or "
                                  "uses an unsupported compression")
        try:
            with self._zip.open(member) as f:
                array_shape, dtype, data_start = _npy_header(f)
        except UNREADABLE as e:
            raise _unreadable(field, key, e) from e
        return array_shape, dtype, data_start, info

    def read(self, key: str, field: str, *, kinds: str = "f",
             shape: tuple[int, ...] | None = None,
             max_elements: int | None = None) -> np.ndarray:
        """The array stored as ``key``, read once its header passes the checks.

        Parameters
        ----------
        key, field : str
            As in :meth:`header`.
        kinds : str
            Dtype kinds allowed (numpy's codes: ``f`` float, ``i``/``u`` integers).
        shape : tuple of int or None
            The shape required (when given).
        max_elements : int or None
            The largest size allowed (when given).

        Returns
        -------
        ndarray
            The array as stored (its dtype kept), read without pickle.

        Raises
        ------
        ValidationError
            A missing, unreadable or encrypted member, or one of another dtype kind,
            shape or size, naming ``field``.
        """
        array_shape, dtype, data_start, info = self._member_header(key, field)
        self._check(key, field, array_shape, dtype, kinds, shape, max_elements)
        nbytes = math.prod(array_shape) * dtype.itemsize
        if info.file_size != data_start + nbytes:
            raise ValidationError(
                f"{field}: archive member {key!r} holds {info.file_size} bytes, "
                f"expected {data_start + nbytes} for shape {array_shape}")
        try:
            with self._zip.open(info) as f:  # reads to the end: the CRC is checked
                return np.lib.format.read_array(f, allow_pickle=False)
        except UNREADABLE as e:
            raise _unreadable(field, key, e) from e

    @staticmethod
    def _check(key, field, array_shape, dtype, kinds, shape, max_elements):
        if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8 \
                or dtype.names is not None or dtype.subdtype is not None:
            raise ValidationError(f"{field}: archive member {key!r} has dtype {dtype}, "
                                  f"expected {_KIND_NAMES.get(kinds, kinds)}")
        if shape is not None and tuple(array_shape) != tuple(shape):
            raise ValidationError(f"{field}: expected shape {tuple(shape)}, got "
                                  f"{tuple(array_shape)}")
        if max_elements is not None and math.prod(array_shape) > max_elements:
            raise ValidationError(f"{field}: archive member {key!r} has shape "
                                  f"{array_shape}, more than {max_elements} numbers")


_KIND_NAMES = {"f": "floats", "u": "unsigned integers", "iu": "integers",
               "iuf": "numbers"}


def _unreadable(field, key, error) -> ValidationError:
    return ValidationError(f"{field}: archive member {key!r} is unreadable "
                           f"({type(error).__name__}: {shown(str(error), 200)})")


def _npy_header(f):
    """``(shape, dtype, data offset)`` from the start of an ``.npy`` stream.

    The header's declared length is checked before the header is read (a compressed
    member could otherwise declare a 4 GB header and decompress it)."""
    prefix = f.read(12)
    if len(prefix) >= 10 and prefix[:6] == b"\x93NUMPY":
        size = (struct.unpack("<H", prefix[8:10])[0] if prefix[6] == 1 else
                struct.unpack("<I", prefix[8:12].ljust(4, b"\0"))[0])
        if size > _NPY_HEADER_BYTES:
            raise ValueError(f".npy header of {size} bytes")
    f.seek(0)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        array_shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        array_shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    data_start = f.tell()
    if data_start > _NPY_HEADER_BYTES:
        raise ValueError(f".npy header of {data_start} bytes")
    return tuple(array_shape), dtype, data_start


@contextlib.contextmanager
def open_npz(path, error: Callable[[str, Exception | None], Exception]):
    """Open the ``.npz`` file ``path`` for :class:`NpzMembers` to read.

    Never unpickles; reads nothing until asked.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    error : callable
        ``error(kind, cause)`` makes the exception raised for a bad file.

    Yields
    ------
    NpzMembers
        The archive's arrays.

    Raises
    ------
    Exception
        ``error("unreadable", cause)`` for a truncated, corrupt or non-archive file
        (``cause``: the underlying exception).
    """
    try:
        with open(path, "rb") as f:
            if f.read(4) not in _ZIP_MAGIC:
                raise ValueError("not a zip archive (an .npz file is one)")
        archive = np.load(path, allow_pickle=False)
    except UNREADABLE as e:
        raise error("unreadable", e) from e
    with contextlib.closing(archive):
        yield NpzMembers(archive)


@contextlib.contextmanager
def open_npz_with_header(path, header_key: str,
                         error: Callable[[str, Exception | None], Exception]):
    """Open a file written by :func:`write_npz_with_header`.

    Never unpickles; reads nothing but the header until asked.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    header_key : str
        The member holding the JSON header.
    error : callable
        ``error(kind, cause)`` makes the exception raised for a bad file.

    Yields
    ------
    header : object
        The parsed JSON header.
    members : NpzMembers
        To read the arrays the header names.

    Raises
    ------
    Exception
        ``error(kind, cause)``: kind ``"no-header"`` for an archive without
        ``header_key``, ``"unreadable"`` for a truncated, corrupt or non-archive
        file (``cause`` is the underlying exception).
    """
    with open_npz(path, error) as members:
        if header_key not in members:
            raise error("no-header", None)
        try:
            raw = members.read(header_key, header_key, kinds="u",
                               max_elements=MAX_HEADER_BYTES)
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"header of dtype {raw.dtype} and shape {raw.shape}")
            header = json.loads(raw.tobytes().decode("utf-8"))
        except ValidationError as e:
            raise error("unreadable", e) from e
        except UNREADABLE as e:
            raise error("unreadable", e) from e
        yield header, members


def check_json_value(field: str, value, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise unless ``value`` is plain JSON nested at most ``max_depth`` deep.

    Plain JSON: dicts with string keys, lists, strings, numbers, booleans, None.
    Iterative: a deep value cannot exhaust the stack.

    Parameters
    ----------
    field : str
        Names the value in messages.
    value : object
        The value checked.
    max_depth : int
        The deepest nesting allowed.

    Raises
    ------
    ValidationError
        ``value`` is not plain JSON, or is nested deeper.
    """
    todo = [(value, 0, field)]
    while todo:
        item, depth, where = todo.pop()
        if depth > max_depth:
            raise ValidationError(f"{field}: nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise ValidationError(f"{where}: expected string keys, got "
                                          f"{shown(key)}")
                todo.append((child, depth + 1, f"{where}[{key!r}]"))
        elif isinstance(item, (list, tuple)):
            todo.extend((child, depth + 1, f"{where}[{i}]")
                        for i, child in enumerate(item))
        elif not (item is None or isinstance(item, (str, bool, int, float))):
            raise ValidationError(f"{where}: expected a JSON value (dict, list, string, "
                                  f"number, bool or null), got {type(item).__name__}")


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text, without parsing it.

    Linear in the text's length; brackets inside strings are not counted.

    Parameters
    ----------
    text : str
        JSON text.

    Returns
    -------
    int
    """
    # strings (with their escapes) removed first, then the brackets counted
    brackets = re.sub(r'[^\[\]{}]', "", re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"?', "", text))
    if not brackets:
        return 0
    steps = np.frombuffer(brackets.encode("ascii"), np.uint8)
    depth = np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1))
    return int(max(depth.max(), 0))


def loads_bounded(text: str, max_depth: int):
    """``text`` parsed as JSON, once its nesting is known to be at most ``max_depth``.

    The depth is measured first (:func:`json_depth`), so text nested deep enough to
    exhaust the parser's recursion is refused without being parsed.

    Parameters
    ----------
    text : str
        JSON text (its length bounded by the caller).
    max_depth : int
        The deepest nesting of lists and dicts accepted.

    Returns
    -------
    object
        The parsed value.

    Raises
    ------
    ValidationError
        ``JSON nested <n> deep, more than <max_depth>`` or ``not JSON (<why>)``,
        without an argument's name: the caller adds which file and field.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise ValidationError(f"JSON nested {depth} deep, more than {max_depth}")
    try:
        return json.loads(text)
    except ValueError as e:
        raise ValidationError(f"not JSON ({shown(str(e), 120)})") from None


def remove_stale_temp_files(directory, names=None, *, recursive: bool = False) -> list:
    """Delete the temporary files :func:`atomic_write` left when its process was killed.

    A file is stale when the writer's pid is no longer alive; files without a pid,
    from older versions, count as stale.

    Parameters
    ----------
    directory : str or os.PathLike
        Where to look.
    names : collection of str or None
        Only those of these target file names.
    recursive : bool
        Also in sub-folders.

    Returns
    -------
    list of Path
        The paths removed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = "**/.*" + TEMP_SUFFIX if recursive else ".*" + TEMP_SUFFIX
    if names is not None and len(names) == 1 and not recursive:  # list only its own
        pattern = "." + glob.escape(next(iter(names))) + ".*" + TEMP_SUFFIX
    removed = []
    for candidate in directory.glob(pattern):
        target, pid = _temp_file_owner(candidate.name)
        if names is not None and target not in names:
            continue
        if pid is not None and _process_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def _temp_file_owner(name: str):
    """``(target file name, writer pid or None)`` of ``.<target>.<pid>.<random>.tmp``
    (or the older ``.<target>.<random>.tmp``)."""
    stem = name[1:-len(TEMP_SUFFIX)]
    head, _, _random = stem.rpartition(".")
    target, _, pid = head.rpartition(".")
    if target and pid.isdigit():
        return target, int(pid)
    return head, None


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
