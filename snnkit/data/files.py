"""A user's own images and labels, as one ``.npz`` file of plain arrays: what
``snnkit train``, ``calibrate`` and ``bench`` read with ``--data`` instead of MNIST.

The file holds ``x_train`` and ``y_train`` and/or ``x_test`` and ``y_test``:
images ``(N, ...)`` of numbers (e.g. ``(N, 28, 28, 1)`` or ``(N, features)``, any
scale the model was trained on) and integer class labels ``(N,)``. Write it with
``np.savez("data.npz", x_train=..., y_train=..., x_test=..., y_test=...)``.

Read without pickle, one named array at a time, each array's dtype and shape checked
from its header before it is read (a member claiming more than :data:`MAX_NUMBERS`
numbers is refused, never allocated); any other member name is refused. Whether the
images fit a network and the labels its outputs is checked where they meet it
(:func:`snnkit.network.inputs.check_inputs`,
:func:`snnkit.utils.validation.check_labels`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.utils.files import open_npz

PAIRS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
# per array: 268M numbers (1 GB as float32; CIFAR-10's training set is 154M). A file
# stored compressed could claim more than its size suggests: the claim is refused
# from the array's header, before anything is decompressed. Larger data: pass arrays
# to the Python API.
MAX_NUMBERS = 2 ** 28


@dataclass(frozen=True)
class DataFile:
    """What :func:`load_data_file` read.

    Attributes
    ----------
    path : Path
        The data file.
    train, test : tuple of (ndarray, ndarray) or None
        The ``(x, y)`` pairs (None when the file has no such pair).
    digest : str
        Identifies the contents (:func:`sha256_of` every array).
    """

    path: Path
    train: tuple[np.ndarray, np.ndarray] | None
    test: tuple[np.ndarray, np.ndarray] | None
    digest: str

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
            raise ValidationError(
                f"{argument}: {self.path} has no {x}/{y} (the {which} images this "
                f"command needs); it holds: {', '.join(self._held())}")
        return pair

    def _held(self) -> list:
        return [name for which in PAIRS if getattr(self, which) is not None
                for name in PAIRS[which]]


def load_data_file(path, argument: str = "--data") -> DataFile:
    """Read and check the data file ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    argument : str
        The argument that named the file, named in every error.

    Returns
    -------
    DataFile

    Raises
    ------
    ValidationError
        Every problem, naming ``argument`` and the file.
    """
    path = Path(path)
    where = f"{argument}: {path}"

    def error(kind, cause):
        return ValidationError(f"{where} is not a readable .npz file of arrays "
                               f"({type(cause).__name__}: {cause})")

    pairs = {}
    with open_npz(path, error) as members:
        known = {name for names in PAIRS.values() for name in names}
        unknown = [key for key in members.keys() if key not in known]
        if unknown:
            raise ValidationError(f"{where}: unknown arrays "
                                  f"{', '.join(map(repr, unknown))}; "
                                  f"expected x_train, y_train, x_test, y_test")
        for which, (x_key, y_key) in PAIRS.items():
            present = [key in members for key in (x_key, y_key)]
            if present == [False, False]:
                continue
            if present != [True, True]:
                missing = y_key if present[0] else x_key
                raise ValidationError(f"{where}: has {x_key if present[0] else y_key} "
                                      f"but no {missing}")
            x = members.read(x_key, f"{where}: {x_key}", kinds="iuf",
                             max_elements=MAX_NUMBERS)
            y = members.read(y_key, f"{where}: {y_key}", kinds="iu",
                             max_elements=MAX_NUMBERS)
            pairs[which] = _check_pair(where, x_key, x, y_key, y)
    if not pairs:
        raise ValidationError(f"{where}: holds no arrays; expected x_train and y_train "
                              "and/or x_test and y_test")
    digest = sha256_of(*[a for pair in pairs.values() for a in pair])
    return DataFile(path, pairs.get("train"), pairs.get("test"), digest)


def _check_pair(where, x_key, x, y_key, y) -> tuple:
    if x.ndim < 2 or len(x) == 0:
        raise ValidationError(f"{where}: {x_key}: expected images of shape (N, ...) "
                              f"with N >= 1, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValidationError(f"{where}: {y_key}: expected one label per image "
                              f"({len(x)}), got shape {y.shape}")
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
