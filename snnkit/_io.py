"""Atomic file writes (a reader never sees a half-written file, a crash never replaces
a good file with a broken one) and snnkit's container format: an ``.npz`` archive of
arrays plus one JSON header, read with ``allow_pickle=False``."""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

# What a truncated, corrupt or foreign archive raises somewhere inside np.load/json.
UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
              UnicodeDecodeError, TypeError)


TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success, fsync and rename it over
    ``path``. On any exception the temporary file is removed and ``path`` is untouched.

    The temporary file is ``.<name>.<pid>.<random>.tmp``: a process killed mid-write
    leaves it behind, and :func:`remove_stale_temp_files` can tell it from the file of
    a writer that is still alive.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
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
    """Write ``arrays`` and the JSON ``header`` (stored as UTF-8 bytes under
    ``header_key``) to ``path`` atomically."""
    arrays = dict(arrays)
    arrays[header_key] = np.frombuffer(json.dumps(header).encode("utf-8"), np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def read_npz_with_header(path, header_key: str,
                         error: Callable[[str, Exception | None], Exception]):
    """``(header, {key: array})`` from a file written by :func:`write_npz_with_header`.

    Never unpickles. Failures raise ``error(kind, cause)``: kind ``"no-header"`` for an
    archive without ``header_key``, ``"unreadable"`` for a truncated, corrupt or
    non-archive file (``cause`` is the underlying exception).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if header_key not in archive.files:
                raise error("no-header", None)
            header = json.loads(archive[header_key].tobytes().decode("utf-8"))
            arrays = {key: archive[key] for key in archive.files if key != header_key}
    except UNREADABLE as e:
        raise error("unreadable", e) from e
    return header, arrays


def remove_stale_temp_files(directory, names=None, *, recursive: bool = False) -> list:
    """Delete the temporary files :func:`atomic_write` left in ``directory`` when its
    process was killed (the writer's pid is no longer alive; files without a pid, from
    older versions, count as stale). ``names``: only those of these target file names;
    ``recursive``: also in sub-folders. Returns the paths removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = "**/.*" + TEMP_SUFFIX if recursive else ".*" + TEMP_SUFFIX
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
