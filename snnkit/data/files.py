"""A user's own images and labels, as one ``.npz`` file of plain arrays: what
``snnkit train``, ``calibrate`` and ``bench`` read with ``--data`` instead of MNIST.

The file holds ``x_train`` and ``y_train`` and/or ``x_test`` and ``y_test``:
images ``(N, ...)`` of numbers (e.g. ``(N, 28, 28, 1)`` or ``(N, features)``, any
scale the model was trained on) and integer class labels ``(N,)``. Write it with
``np.savez("data.npz", x_train=..., y_train=..., x_test=..., y_test=...)``.

Read without pickle, and only the pairs a command needs (``snnkit bench`` reads the
test pair alone): the member names are checked from the archive's directory, then
each needed array's dtype and shape from its header, and their total size against
:data:`MAX_BYTES`, all before any array is read or decompressed; any other member
name is refused. Whether the images fit a network and the labels its outputs is
checked where they meet it (:func:`snnkit.network.inputs.check_inputs`,
:func:`snnkit.utils.validation.check_labels`), before any training or run.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnkit.exceptions import ValidationError, shown
from snnkit.utils.files import open_npz

PAIRS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
# the arrays read, in all: 1 GiB (268M float32 numbers, or 134M float64; CIFAR-10's
# training set is 154 MB as uint8). A file stored compressed could claim more than
# its size suggests: the claim is refused from the arrays' headers, before anything
# is decompressed. Larger data: pass arrays to the Python API.
MAX_BYTES = 2 ** 30


@dataclass(frozen=True)
class DataFile:
    """What :func:`load_data_file` read.

    Attributes
    ----------
    path : Path
        The data file, as given (not resolved).
    train, test : tuple of (ndarray, ndarray) or None
        The ``(x, y)`` pairs (None when the file has no such pair, or it was not
        asked for).
    digest : str
        Identifies the contents (:func:`sha256_of` every array read).
    held : tuple of str
        The pairs the file holds (``"train"``, ``"test"``), read or not.
    """

    path: Path
    train: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    digest: str
    held: tuple[str, ...] = ()

    def pair(self, which: str, argument: str) -> tuple[np.ndarray, np.ndarray]:
        """The ``"train"`` or ``"test"`` pair; a clear error when the file lacks it.

        Parameters
        ----------
        which : {"train", "test"}
            The pair.
        argument : str
            The argument that named the file, named in the error.

        Returns
        -------
        tuple of (ndarray, ndarray)
            ``(x, y)``.

        Raises
        ------
        ValidationError
            When the file lacks the pair.
        """
        pair = getattr(self, which)
        if pair is None:
            x, y = PAIRS[which]
            if which in self.held:
                raise ValidationError(f"{argument}: {self.path}: its {x}/{y} were not "
                                      "read (load_data_file(..., pairs=...))")
            held = [name for held in self.held for name in PAIRS[held]]
            raise ValidationError(
                f"{argument}: {self.path} has no {x}/{y} (the {which} images this "
                f"command needs); it holds: {', '.join(held)}")
        return pair


def load_data_file(path, argument: str = "--data", pairs=("train", "test"),
                   max_bytes: int = MAX_BYTES) -> DataFile:
    """Read and check the data file ``path``: the ``pairs`` it is asked for.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    argument : str
        The argument that named the file, named in every error.
    pairs : collection of {"train", "test"}
        The pairs to read (when the file has them); the others are never read.
    max_bytes : int
        The most bytes the arrays read may hold in all, checked from their
        headers before any is read.

    Returns
    -------
    DataFile
        With the pairs read (None for the others).

    Raises
    ------
    ValidationError
        Every problem, naming ``argument`` and the file.
    """
    path = Path(path)
    where = f"{argument}: {path}"
    pairs = tuple(which for which in PAIRS if which in pairs)

    def error(kind, cause):
        return ValidationError(f"{where} is not a readable .npz file of arrays "
                               f"({type(cause).__name__}: {shown(str(cause), 200)})")

    read = {}
    with open_npz(path, error) as members:
        known = {name for names in PAIRS.values() for name in names}
        unknown = [key for key in members.keys() if key not in known]
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ValidationError(f"{where}: unknown arrays "
                                  f"{', '.join(shown(k, 60) for k in unknown[:5])}{more}"
                                  f"; expected x_train, y_train, x_test, y_test")
        held = []
        for which, (x_key, y_key) in PAIRS.items():
            present = [key in members for key in (x_key, y_key)]
            if present == [False, False]:
                continue
            if present != [True, True]:
                missing = y_key if present[0] else x_key
                raise ValidationError(f"{where}: has {x_key if present[0] else y_key} "
                                      f"but no {missing}")
            held.append(which)
        if not held:
            raise ValidationError(f"{where}: holds no arrays; expected x_train and "
                                  "y_train and/or x_test and y_test")
        wanted = [which for which in pairs if which in held]
        total = 0
        for which in wanted:  # every header first: nothing read until all pass
            total += _check_headers(members, where, *PAIRS[which])
        if total > max_bytes:
            raise ValidationError(
                f"{where}: the arrays this command reads ({', '.join(wanted)}) hold "
                f"{total} bytes, more than {max_bytes} (1 GiB); pass larger data "
                "to the Python API")
        for which in wanted:
            x_key, y_key = PAIRS[which]
            x = members.read(x_key, f"{where}: {x_key}", kinds="iuf")
            y = members.read(y_key, f"{where}: {y_key}", kinds="iu")
            read[which] = _check_pair(where, x_key, x, y_key, y)
    digest = sha256_of(*[a for pair in read.values() for a in pair])
    return DataFile(path, read.get("train"), read.get("test"), digest,
                    tuple(held))


def _check_headers(members, where, x_key, y_key) -> int:
    """The pair's dtypes and shapes from their headers; returns their bytes."""
    x_shape, x_dtype = members.header(x_key, f"{where}: {x_key}")
    y_shape, y_dtype = members.header(y_key, f"{where}: {y_key}")
    for key, dtype, kinds, what in ((x_key, x_dtype, "iuf", "numbers"),
                                    (y_key, y_dtype, "iu", "integers")):
        if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8 \
                or dtype.names is not None or dtype.subdtype is not None:
            raise ValidationError(f"{where}: {key}: archive member {key!r} has dtype "
                                  f"{dtype}, expected {what}")
    if len(x_shape) < 2 or x_shape[0] == 0:
        raise ValidationError(f"{where}: {x_key}: expected images of shape (N, ...) "
                              f"with N >= 1, got shape {shown(x_shape)}")
    if len(y_shape) != 1 or y_shape[0] != x_shape[0]:
        raise ValidationError(f"{where}: {y_key}: expected one label per image "
                              f"({x_shape[0]}), got shape {shown(y_shape)}")
    return math.prod(x_shape) * x_dtype.itemsize + math.prod(y_shape) * y_dtype.itemsize


def _check_pair(where, x_key, x, y_key, y) -> tuple:
    if y.min() < 0:
        raise ValidationError(f"{where}: {y_key}: expected class labels >= 0, got "
                              f"{int(y.min())}")
    return x, y


def sha256_of(*arrays) -> str:
    """``"sha256 <16 hex digits>"`` of arrays: their dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    return f"sha256 {digest.hexdigest()[:16]}"


def data_digest(x, y) -> str:
    """``"<n> images, sha256 <16 hex digits>"`` of images ``x`` and labels ``y``."""
    return f"{len(x)} images, {sha256_of(x, y)}"
