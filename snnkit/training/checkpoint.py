"""Training checkpoints: weights, optimizer state, epoch and history in one ``.npz``.

Layout: ``__snnkit_ckpt__`` holds UTF-8 JSON (as ``uint8``) with the format, the
completed epoch count, the history, callback states, the model's architecture
fingerprint (layer names, classes and weight shapes) and the settings of the fit that
wrote it (:func:`snnkit.training.resume.training_settings`; format version 2 on);
``w/<layer>/<i>`` hold weights;
``opt/<i>`` the optimizer's variables in its own order. Read with
``np.load(allow_pickle=False)``, one named member at a time, every field checked
(:func:`load_checkpoint`); written atomically (a kill leaves the previous file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from snnkit.exceptions import CheckpointError, ValidationError, shown
from snnkit.keras.config import MAX_LAYERS
from snnkit.keras.fields import MAX_DIMENSION, MAX_RANK
from snnkit.keras.layers import MAX_LAYER_WEIGHTS
from snnkit.utils.files import open_npz_with_header, write_npz_with_header
from snnkit.utils.validation import is_int

if TYPE_CHECKING:
    from snnkit.network.types import KerasModel

FORMAT = "snnkit.Checkpoint"
FORMAT_VERSION = 2
_META_KEY = "__snnkit_ckpt__"
MAX_EPOCH = 10 ** 6
# the header's fields by format version (version 1 recorded no settings)
_HEADER_FIELDS = {1: ("format", "format_version", "epoch", "weights", "n_optimizer",
                      "history", "callbacks", "fingerprint")}
_HEADER_FIELDS[2] = _HEADER_FIELDS[1] + ("settings",)


def fingerprint(model: KerasModel) -> list:
    """``[[layer name, class name, [weight shapes]], ...]`` of a Keras model."""
    return [[layer.name, type(layer).__name__,
             [list(np.shape(w)) for w in layer.get_weights()]] for layer in model.layers]


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read, every field checked.

    ``Trainer.fit(ckpt_path=...)`` resumes from it (:mod:`snnkit.training.resume`):
    the model's weights, the optimizer's variables and the callbacks' states.

    Attributes
    ----------
    path : Path
        The checkpoint file read (e.g. a ``last.npz`` that ``ModelCheckpoint`` wrote).
    epoch : int
        Counts completed epochs.
    weights : dict
        ``{layer name: [arrays]}`` for every layer that has weights.
    optimizer : list of numpy.ndarray
        The optimizer's variables, in its own order.
    history : list of dict
        One log per completed epoch, ``{"epoch": i, metric: number, ...}``.
    callback_states : dict
        ``{state_key: state dict}`` of the callbacks.
    fingerprint : list
        ``[[layer name, class name, [weight shapes]], ...]`` of the model saved.
    settings : dict or None
        The settings of the fit that wrote it (``{name: value}``); None: a version 1
        file, which recorded none.
    """

    path: Path
    epoch: int
    weights: dict
    optimizer: list
    history: list
    callback_states: dict
    fingerprint: list
    settings: dict | None = None  # None: a version 1 file, which recorded none

    def check_model(self, model: KerasModel) -> None:
        """Check that ``model`` has the architecture the checkpoint was saved from.

        Raises
        ------
        CheckpointError
            Unless ``model`` has the same architecture.
        """
        mine, theirs = self.fingerprint, fingerprint(model)
        if mine == theirs:
            return
        for a, b in zip(mine + [None] * len(theirs), theirs + [None] * len(mine)):
            if a != b:
                raise CheckpointError(
                    f"ckpt_path: {self.path} was saved from a different model: "
                    f"checkpoint layer {_describe(a)} vs model layer {_describe(b)}")

    def restore_weights(self, model: KerasModel) -> None:
        """Set every weight of ``model`` from the checkpoint.

        Raises
        ------
        CheckpointError
            (Changing nothing) unless the checkpoint holds exactly the model's
            weights, shape for shape.
        """
        self.check_model(model)
        for layer in model.layers:
            mine = self.weights.get(layer.name, [])
            theirs = layer.get_weights()
            if [np.shape(w) for w in mine] != [np.shape(w) for w in theirs]:
                raise CheckpointError(
                    f"ckpt_path: {self.path} holds weights of shapes "
                    f"{[list(np.shape(w)) for w in mine]} for layer {layer.name!r}, "
                    f"the model has {[list(np.shape(w)) for w in theirs]}")
        extra = sorted(set(self.weights) - {layer.name for layer in model.layers})
        if extra:
            raise CheckpointError(f"ckpt_path: {self.path} holds weights of layer(s) "
                                  f"{', '.join(map(repr, extra))} the model lacks")
        for layer in model.layers:
            if layer.name in self.weights:
                layer.set_weights(self.weights[layer.name])


def _describe(entry) -> str:
    if entry is None:
        return "(none)"
    name, cls, shapes = entry
    return f"{name!r} ({cls}, weights {shapes})"


def save_checkpoint(path, model: KerasModel, *, epoch: int, history: list, optimizer=(),
                    callback_states=None, settings=None) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or Path
        Where to write it.
    model : KerasModel
        The model whose weights are saved.
    epoch : int
        Completed epochs.
    history : list of dict
        One log per completed epoch.
    optimizer : sequence of array_like
        The optimizer's variables, in its own order.
    callback_states : dict or None
        ``{state_key: state dict}`` of the callbacks.
    settings : dict or None
        What a resumed fit must share with the one that wrote it (JSON-ready,
        ``{name: value}``).

    Returns
    -------
    Path
        The path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, keys = {}, {}
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            keys[layer.name] = [f"w/{layer.name}/{i}" for i in range(len(values))]
            arrays.update(zip(keys[layer.name], values))
    for i, value in enumerate(optimizer):
        arrays[f"opt/{i}"] = np.asarray(value)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": int(epoch),
        "weights": keys,
        "n_optimizer": len(optimizer),
        "history": json_ready(history),
        "callbacks": json_ready(callback_states or {}),
        "fingerprint": fingerprint(model),
        "settings": json_ready(settings or {}),
    }
    write_npz_with_header(path, _META_KEY, meta, arrays)
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Never unpickles, reads only the archive members the header names, checks every
    field (epoch range, history, callback states, fingerprint, weights finite and
    shaped as the fingerprint says).

    Parameters
    ----------
    path : str or Path
        The checkpoint file.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        On any problem, naming the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: no checkpoint file at {path}")

    def error(kind, cause):
        if kind == "no-header":
            return CheckpointError(f"ckpt_path: {path} is not a snnkit checkpoint")
        return CheckpointError(
            f"ckpt_path: {path} is not a readable snnkit checkpoint "
            f"(truncated or corrupt: {type(cause).__name__}: {cause})")

    with open_npz_with_header(path, _META_KEY, error) as (meta, members):
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CheckpointError(f"ckpt_path: {path} is not a snnkit checkpoint")
        version = meta.get("format_version")
        if not is_int(version) or version < 1:
            raise CheckpointError(f"ckpt_path: {path}: format_version: expected an int "
                                  f">= 1, got {shown(version)}")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"ckpt_path: {path} has format version {version}, "
                f"newer than this snnkit reads ({FORMAT_VERSION})")
        try:
            return _read(path, meta, members, version)
        except ValidationError as e:
            raise CheckpointError(f"ckpt_path: {path}: invalid checkpoint: {e}") from e


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _read(path, meta, members, version) -> Checkpoint:
    fields = _HEADER_FIELDS[version]
    unknown = sorted(set(meta) - set(fields))
    missing = [key for key in fields if key not in meta]
    if unknown or missing:
        raise ValidationError(
            "header: " + "; ".join(
                ([f"missing field(s) {', '.join(missing)}"] if missing else [])
                + ([f"unknown field(s) {', '.join(map(shown, unknown))}"]
                   if unknown else [])))
    epoch = meta["epoch"]
    if not is_int(epoch) or not 0 <= epoch <= MAX_EPOCH:
        raise ValidationError(f"epoch: expected an int in 0..{MAX_EPOCH}, got "
                              f"{shown(epoch)}")
    prints = _check_fingerprint(meta["fingerprint"])
    history = _check_history(meta["history"], epoch)
    callbacks = meta["callbacks"]
    if not isinstance(callbacks, dict) or not all(
            isinstance(state, dict) and all(_is_scalar(v) for v in state.values())
            for state in callbacks.values()):
        raise ValidationError(f"callbacks: expected a dict of callback -> state dict "
                              f"of numbers, strings or nulls, got {shown(callbacks)}")
    weights = _read_weights(meta["weights"], members, prints)
    shapes = [tuple(s) for _, _, layer_shapes in prints for s in layer_shapes]
    n_optimizer = meta["n_optimizer"]
    limit = 1 + 4 * len(shapes)
    if not is_int(n_optimizer) or not 0 <= n_optimizer <= limit:
        raise ValidationError(f"n_optimizer: expected an int in 0..{limit} (the "
                              f"iteration count and slots per weight), got "
                              f"{shown(n_optimizer)}")
    optimizer = _read_optimizer(members, n_optimizer, shapes)
    settings = meta.get("settings")
    if settings is not None and not (isinstance(settings, dict) and all(
            isinstance(key, str) for key in settings)):
        raise ValidationError(f"settings: expected a dict of setting name -> value, "
                              f"got {shown(settings)}")
    return Checkpoint(path=path, epoch=epoch, weights=weights, optimizer=optimizer,
                      history=history, callback_states=callbacks, fingerprint=prints,
                      settings=settings)


def _check_fingerprint(prints) -> list:
    """``[[layer name, class name, [weight shapes]], ...]`` with unique names and
    bounded shapes."""
    if not isinstance(prints, list) or len(prints) > MAX_LAYERS:
        raise ValidationError(f"fingerprint: expected a list of at most {MAX_LAYERS} "
                              f"layers, got {shown(prints)}")
    names = set()
    for i, entry in enumerate(prints):
        ok = isinstance(entry, list) and len(entry) == 3 \
            and isinstance(entry[0], str) and isinstance(entry[1], str) \
            and isinstance(entry[2], list) and entry[0] not in names \
            and all(_is_shape(s) for s in entry[2])
        if not ok:
            raise ValidationError(
                f"fingerprint[{i}]: expected [unique layer name, class name, [weight "
                f"shapes]] with shapes of at most {MAX_RANK} sizes in 0..{MAX_DIMENSION}"
                f" and {MAX_LAYER_WEIGHTS} numbers, got {shown(entry)}")
        names.add(entry[0])
    return prints


def _is_shape(shape) -> bool:
    if not isinstance(shape, list) or len(shape) > MAX_RANK \
            or not all(is_int(d) and 0 <= d <= MAX_DIMENSION for d in shape):
        return False
    return math.prod(shape) <= MAX_LAYER_WEIGHTS


def _check_history(history, epoch) -> list:
    """One log dict per completed epoch, ``{"epoch": i, metric: number, ...}``."""
    if not isinstance(history, list) or len(history) != epoch:
        raise ValidationError(f"history: expected a list of {epoch} epoch logs (one "
                              f"per completed epoch), got {shown(history)}")
    for i, logs in enumerate(history):
        ok = isinstance(logs, dict) and logs.get("epoch") == i \
            and is_int(logs.get("epoch")) and all(
                isinstance(v, (int, float, str)) and not isinstance(v, bool)
                for v in logs.values())
        if not ok:
            raise ValidationError(f"history[{i}]: expected {{'epoch': {i}, metric: "
                                  f"number, ...}}, got {shown(logs)}")
    return [dict(logs) for logs in history]


def _read_weights(keys, members, prints) -> dict:
    """Exactly the layers the fingerprint gives weights, each array float, finite
    and of the fingerprint's shape (checked before it is read)."""
    expected = {name: shapes for name, _, shapes in prints if shapes}
    if not isinstance(keys, dict) or set(keys) != set(expected):
        raise ValidationError(
            f"weights: expected the layers with weights in the fingerprint "
            f"({', '.join(expected)}), got {shown(keys)}")
    seen, weights = set(), {}
    for layer, shapes in expected.items():
        names = keys[layer]
        if not isinstance(names, list) or len(names) != len(shapes) \
                or not all(isinstance(n, str) for n in names) or seen & set(names) \
                or len(set(names)) != len(names):
            raise ValidationError(f"weights[{layer!r}]: expected {len(shapes)} distinct "
                                  f"archive member names, got {shown(names)}")
        seen.update(names)
        arrays = [members.read(name, f"weights[{layer!r}][{i}]", shape=shape)
                  for i, (name, shape) in enumerate(zip(names, shapes))]
        for i, array in enumerate(arrays):
            if not np.all(np.isfinite(array)):
                raise ValidationError(f"weights[{layer!r}][{i}]: expected finite "
                                      "weights, got NaN or infinite values")
        weights[layer] = arrays
    return weights


def _read_optimizer(members, n_optimizer, shapes) -> list:
    """The optimizer's variables (the iteration count, then slots of nengo-dl's
    trainable variables, whose shapes differ from Keras'): finite numbers, at most
    as many in all as four copies of the weights. ``Trainer`` checks their shapes
    against its optimizer when it restores them."""
    budget = 4 * sum(math.prod(s) for s in shapes) + n_optimizer
    arrays = []
    for i in range(n_optimizer):
        field = f"optimizer[{i}]"
        array = members.read(f"opt/{i}", field, kinds="iuf", max_elements=budget)
        budget -= array.size
        if budget < 0:
            raise ValidationError(f"{field}: the optimizer's variables hold more than "
                                  "four copies of the weights")
        if not np.all(np.isfinite(array)):
            raise ValidationError(f"{field}: expected finite values, got NaN or "
                                  "infinite")
        arrays.append(array)
    return arrays


def json_ready(value):
    """``value`` as JSON can hold it.

    Tuples as lists, NumPy scalars as Python numbers, inf/nan floats as strings (read
    back with ``float()``).
    """
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
