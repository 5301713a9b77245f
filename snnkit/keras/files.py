"""Saved Keras models (``.h5``, ``.keras``) loaded without running code stored in them.

Keras 2.12's ``safe_mode`` does not stop a ``Lambda`` layer in a legacy-format file,
a nested model's layers, a ``module`` entry that makes it import a module, or a
``.keras`` archive whose weights are a pickled ``.npz``. So before Keras reads
anything, :func:`checked_keras_file` works on a private copy of the file (nothing can
swap it between the check and the load) and

1. decides the format exactly as Keras will: a zip archive when the name ends in
   ``.keras`` and zipfile recognizes it, otherwise HDF5 (whose signature may sit at
   byte 0, 512, 1024, 2048, ... after a user block). A file that is both (a
   polyglot) or neither is refused;
2. reads the configuration Keras will read (the HDF5 ``model_config`` attribute or
   the archive's ``config.json``) and checks it completely with
   :func:`snnkit.keras.config.parse_model_config` against
   :data:`KERAS_FILE_LAYERS`, at every depth;
3. bounds the weight storage: only the members Keras' own format has, no HDF5
   external links or external storage, no dataset larger than the largest weight
   of the architecture.

Only then does Keras load the copy (``compile=False``, ``safe_mode=True``, no custom
objects): :func:`snnkit.convert.keras_model.load_keras_model`, the one step that
needs TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

from snnkit.exceptions import ValidationError
from snnkit.keras.config import ModelGraph, parse_model_config
from snnkit.keras.layers import SUPPORTED_LAYERS
from snnkit.utils.hdf5 import check_hdf5_storage

KERAS_SUFFIXES = (".h5", ".keras")
# Layer classes a Keras file may contain: every built-in layer snnkit can check and
# size, including training-time layers (BatchNormalization, Dropout, ...) that are
# folded away or dropped before a FrozenNetwork is made. Wider than
# snnkit.network.frozen.ALLOWED_LAYERS, which is what a FrozenNetwork can run.
KERAS_FILE_LAYERS = SUPPORTED_LAYERS
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_BYTES = 16 * 2 ** 20
_ZIP_MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})
_REFUSAL = "which snnkit does not load (no custom or code-carrying layers)"


def _path_and_label(path, label) -> tuple[Path, str]:
    """``path`` as a Path, and how messages name it (``path`` unless ``label``)."""
    path = Path(path)
    return path, str(path) if label is None else label


def keras_file_error(argument, label, message) -> ValidationError:
    """``argument: 'file' message``: how every refusal of a Keras file reads."""
    return ValidationError(f"{argument}: {label!r} {message}")


def hdf5_signature_offset(path) -> int | None:
    """Where the HDF5 signature is in the file ``path``.

    Returns
    -------
    int or None
        Byte 0 or, after a user block, 512, 1024, 2048, ... (the offsets the HDF5
        library searches); None if at none of them.
    """
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return offset
            offset = 512 if offset == 0 else offset * 2
    return None


def keras_file_format(path, argument: str = "model", label=None) -> str:
    """What Keras 2.12's ``load_model`` will read ``path`` as.

    Parameters
    ----------
    path : str or os.PathLike
        The saved model, under any name (the ``.keras`` suffix decides only between
        the two formats a file can be).
    argument : str
        Starts every error message (the caller's argument, e.g. ``"model"``).
    label : str or None
        Names the file in messages (default: ``path``; :func:`checked_keras_file`
        passes the user's path while ``path`` is its private copy).

    Returns
    -------
    {"zip", "hdf5"}

    Raises
    ------
    ValidationError
        A file that is both or neither, or a zip archive not named ``.keras``.
    """
    import h5py

    path, label = _path_and_label(path, label)
    is_hdf5 = hdf5_signature_offset(path) is not None or h5py.is_hdf5(str(path))
    is_zip = zipfile.is_zipfile(path)
    if is_hdf5 and is_zip:
        raise keras_file_error(argument, label, "is both an HDF5 file and a zip archive "
                               "(a polyglot); refusing an ambiguous file")
    if is_zip and str(path).endswith(".keras"):
        return "zip"
    if is_hdf5:
        return "hdf5"
    if is_zip:
        raise keras_file_error(argument, label, "is a zip archive, but Keras reads a "
                               "file not named .keras as HDF5; rename it to .keras")
    raise keras_file_error(argument, label, "is neither an HDF5 (.h5) nor a zip (.keras) "
                           "Keras model file")


def keras_model_config(path, argument: str = "model", label=None) -> dict:
    """The architecture stored in a Keras file, exactly as Keras will read it.

    The model is not built. The architecture is not checked: see
    :func:`check_keras_file`.

    Parameters
    ----------
    path, argument, label
        As in :func:`keras_file_format`.

    Returns
    -------
    dict
        The configuration, parsed from JSON (from a ``.keras`` archive, with
        ``compile_config`` cleared, as Keras does with ``compile=False``).

    Raises
    ------
    ValidationError
        The file is unreadable or holds no architecture.
    """
    path, label = _path_and_label(path, label)
    try:
        if keras_file_format(path, argument, label) == "zip":
            with zipfile.ZipFile(path) as archive:
                _zip_member_info(archive, "config.json", MAX_CONFIG_BYTES, argument,
                                 label)
                config = json.loads(archive.read("config.json"))
            if isinstance(config, dict):
                config["compile_config"] = None  # what Keras does with compile=False
            return config
        import h5py

        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
        if config is None:
            raise keras_file_error(argument, label, "holds weights only (no "
                                   "model_config); save the whole model with "
                                   "model.save()")
        if isinstance(config, bytes):
            config = config.decode("utf-8")
        if not isinstance(config, str) or len(config) > MAX_CONFIG_BYTES:
            raise keras_file_error(argument, label, "has a model_config that is not JSON "
                                   f"text of at most {MAX_CONFIG_BYTES} bytes")
        return json.loads(config)
    except ValidationError:
        raise
    except _UNREADABLE as e:
        raise keras_file_error(argument, label, f"is not a readable Keras model file "
                               f"({type(e).__name__}: {e})") from e


_UNREADABLE = (OSError, KeyError, ValueError, RecursionError, zipfile.BadZipFile,
               EOFError, NotImplementedError, RuntimeError)


def _zip_member_info(archive, name, limit, argument, label):
    info = archive.getinfo(name)
    if info.file_size > limit or info.flag_bits & 0x1:
        raise keras_file_error(argument, label, f"has a {name} of {info.file_size} bytes "
                               f"(at most {limit} expected) or an encrypted one")
    return info


def check_keras_file(path, argument: str = "model", label=None) -> ModelGraph:
    """Check a Keras file as described in the module docstring.

    Parameters
    ----------
    path, argument, label
        As in :func:`keras_file_format`: the file, the start of every message and
        the name the messages give the file.

    Returns
    -------
    ModelGraph
        Its parsed architecture, every layer (at every depth) one of
        :data:`KERAS_FILE_LAYERS`.

    Raises
    ------
    ValidationError
        A file that does not pass the checks.
    """
    path, label = _path_and_label(path, label)
    config = keras_model_config(path, argument, label)
    try:
        graph = parse_model_config(config, allowed_layers=KERAS_FILE_LAYERS,
                                   argument=argument, refusal=_REFUSAL,
                                   kinds=("Functional", "Model", "Sequential"))
    except ValidationError as e:
        raise ValidationError(f"{e} (in {label!r})") from e
    shapes = [s for layer in graph.layers for s in layer.weight_shapes]
    largest = max((math.prod(s) for s in shapes), default=1)
    # the optimizer's variables (at most three slots per weight) may be stored too
    max_datasets = 4 * len(shapes) + 16
    try:
        if keras_file_format(path, argument, label) == "zip":
            with zipfile.ZipFile(path) as archive:
                _check_zip_members(archive, argument, label)
                limit = 8 * max_datasets * largest + 2 ** 20
                _zip_member_info(archive, "model.weights.h5", limit, argument, label)
                with archive.open("model.weights.h5") as stream:
                    check_hdf5_storage(stream, largest, max_datasets, argument, label)
        else:
            check_hdf5_storage(str(path), largest, max_datasets, argument, label)
    except ValidationError:
        raise
    except _UNREADABLE as e:
        raise keras_file_error(argument, label, f"has unreadable weights "
                               f"({type(e).__name__}: {e})") from e
    return graph


def _check_zip_members(archive, argument, label) -> None:
    names = set(archive.namelist())
    if not names <= _ZIP_MEMBERS or not {"config.json", "model.weights.h5"} <= names:
        raise keras_file_error(argument, label, f"holds {sorted(names)[:10]}; a "
                               ".keras file snnkit loads holds config.json, "
                               "model.weights.h5 and optionally metadata.json (no "
                               "pickled .npz weights, no assets)")


@contextlib.contextmanager
def checked_keras_file(path, argument: str = "model") -> Iterator[tuple[Path, str]]:
    """A private copy of the saved Keras model at ``path``, checked as the module says.

    Parameters
    ----------
    path : str or os.PathLike
        The saved model (``.h5`` or ``.keras``).
    argument : str
        Named in every error message.

    Yields
    ------
    copy : Path
        The checked copy, removed on exit.
    label : str
        The file's label for messages.

    Raises
    ------
    ValidationError
        Naming ``argument``, for a missing, unreadable, ambiguous or refused file.
    """
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise keras_file_error(argument, label, "is not a file" if path.exists()
                               else "does not exist")
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES:
        raise keras_file_error(argument, label,
                               f"is not a {' or '.join(KERAS_SUFFIXES)} file")
    with tempfile.TemporaryDirectory(prefix="snnkit-keras-") as folder:
        copy = Path(folder) / f"model{suffix}"
        try:
            shutil.copyfile(path, copy)
        except OSError as e:
            raise keras_file_error(argument, label,
                                   f"cannot be read ({e.strerror or e})") from e
        check_keras_file(copy, argument, label)
        yield copy, label
