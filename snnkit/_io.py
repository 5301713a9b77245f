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


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success, fsync and rename it over
    ``path``. On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
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
