"""Training checkpoints: weights, optimizer state, epoch and history in one ``.npz``.

Layout: ``__snnkit_ckpt__`` holds UTF-8 JSON (as ``uint8``) with the format, the
completed epoch count, the history, callback states and the model's architecture
fingerprint (layer names, classes and weight shapes); ``w/<layer>/<i>`` hold weights;
``opt/<i>`` the optimizer's variables in its own order. Read with
``np.load(allow_pickle=False)``; written atomically (a kill leaves the previous file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._io import read_npz_with_header, write_npz_with_header
from .callbacks import Callback
from .exceptions import CheckpointError, UnknownNameError, ValidationError

FORMAT = "snnkit.Checkpoint"
FORMAT_VERSION = 1
_META_KEY = "__snnkit_ckpt__"


def fingerprint(model) -> list:
    """``[[layer name, class name, [weight shapes]], ...]`` of a Keras model."""
    return [[layer.name, type(layer).__name__,
             [list(np.shape(w)) for w in layer.get_weights()]] for layer in model.layers]


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read. ``epoch`` counts completed epochs."""

    path: Path
    epoch: int
    weights: dict
    optimizer: list
    history: list
    callback_states: dict
    fingerprint: list

    def check_model(self, model) -> None:
        """Raise :class:`CheckpointError` unless ``model`` has the same architecture."""
        mine, theirs = self.fingerprint, fingerprint(model)
        if mine == theirs:
            return
        for a, b in zip(mine + [None] * len(theirs), theirs + [None] * len(mine)):
            if a != b:
                raise CheckpointError(
                    f"ckpt_path: {self.path} was saved from a different model: "
                    f"checkpoint layer {_describe(a)} vs model layer {_describe(b)}")

    def restore_weights(self, model) -> None:
        self.check_model(model)
        for layer in model.layers:
            if layer.name in self.weights:
                layer.set_weights(self.weights[layer.name])


def _describe(entry) -> str:
    if entry is None:
        return "(none)"
    name, cls, shapes = entry
    return f"{name!r} ({cls}, weights {shapes})"


def save_checkpoint(path, model, *, epoch: int, history: list, optimizer=(),
                    callback_states=None) -> Path:
    """Write a checkpoint atomically; returns the path."""
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
        "history": _json_ready(history),
        "callbacks": _json_ready(callback_states or {}),
        "fingerprint": fingerprint(model),
    }
    write_npz_with_header(path, _META_KEY, meta, arrays)
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: no checkpoint file at {path}")
    def error(kind, cause):
        if kind == "no-header":
            return CheckpointError(f"ckpt_path: {path} is not a snnkit checkpoint")
        return CheckpointError(
            f"ckpt_path: {path} is not a readable snnkit checkpoint "
            f"(truncated or corrupt: {type(cause).__name__}: {cause})")

    meta, arrays = read_npz_with_header(path, _META_KEY, error)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or not isinstance(meta.get("format_version"), int):
        raise CheckpointError(f"ckpt_path: {path} is not a snnkit checkpoint")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"ckpt_path: {path} has format version {meta['format_version']}, "
            f"newer than this snnkit reads ({FORMAT_VERSION})")
    try:
        weights = {layer: [arrays[k] for k in ks] for layer, ks in meta["weights"].items()}
        optimizer = [arrays[f"opt/{i}"] for i in range(meta["n_optimizer"])]
    except (KeyError, TypeError, AttributeError) as e:
        raise error("unreadable", e) from e
    return Checkpoint(path=path, epoch=int(meta["epoch"]), weights=weights,
                      optimizer=optimizer, history=list(meta["history"]),
                      callback_states=dict(meta["callbacks"]),
                      fingerprint=meta["fingerprint"])


def _json_ready(value):
    """Floats that JSON can hold (inf/nan become strings and back via float())."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _better(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def check_monitor(owner: str, monitor: str, trainer) -> None:
    """Raise if ``monitor`` is not among the metrics this fit will log."""
    names = trainer.metric_names()
    if monitor not in names:
        raise UnknownNameError(
            f"{owner}.monitor: metric {monitor!r} is not logged by this fit; "
            f"logged metrics are: {', '.join(names)}")


def _check_mode(owner, mode):
    if mode not in ("min", "max"):
        raise ValidationError(f"{owner}.mode: expected 'min' or 'max', got {mode!r}")


class ModelCheckpoint(Callback):
    """Saves ``last.npz`` after every epoch and ``best.npz`` when ``monitor`` improves.

    ``dirpath`` defaults to ``<trainer.default_root_dir>/checkpoints``. ``monitor``
    defaults to ``val_loss`` when validation data is given, else ``loss``. Both files
    are written atomically; ``Trainer.fit(..., ckpt_path="last")`` resumes from
    ``last.npz``.
    """

    def __init__(self, dirpath=None, *, monitor: str | None = None, mode: str = "min",
                 save_last: bool = True, save_best: bool = True):
        _check_mode("ModelCheckpoint", mode)
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.monitor = monitor
        self.mode = mode
        self.save_last = save_last
        self.save_best = save_best
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    def resolve_dir(self, trainer) -> Path:
        return self.dirpath if self.dirpath is not None else \
            Path(trainer.default_root_dir) / "checkpoints"

    @property
    def last_path(self) -> Path | None:
        return None if self.dirpath is None else self.dirpath / "last.npz"

    @property
    def best_path(self) -> Path | None:
        return None if self.dirpath is None else self.dirpath / "best.npz"

    def on_fit_start(self, trainer):
        self.dirpath = self.resolve_dir(trainer)
        if self.monitor is None:
            self.monitor = "val_loss" if "val_loss" in trainer.metric_names() else "loss"
        if self.save_best:
            check_monitor("ModelCheckpoint", self.monitor, trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        improved = False
        if self.save_best:
            value = float(logs[self.monitor])
            improved = _better(self.mode, value, self.best_score)
            if improved:
                self.best_score, self.best_epoch = value, epoch
        # state first, so both files carry the updated best score
        if improved:
            trainer.save_checkpoint(self.best_path)
        if self.save_last:
            trainer.save_checkpoint(self.last_path)

    def state_dict(self):
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best_score = None if state.get("best_score") is None else float(state["best_score"])
        self.best_epoch = state.get("best_epoch")
