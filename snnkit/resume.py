"""Resuming :meth:`snnkit.Trainer.fit` from a checkpoint: which file ``ckpt_path``
names, and the callback states saved with it (keyed by each callback's
``state_key``)."""

from __future__ import annotations

import warnings
from pathlib import Path

from .callbacks import CallbackList, ModelCheckpoint
from .checkpoint import Checkpoint, load_checkpoint
from .exceptions import ValidationError


def find_checkpoint(ckpt_path, trainer) -> Checkpoint | None:
    """The checkpoint to resume ``trainer``'s fit from: None for ``ckpt_path=None``;
    for ``"last"`` the ``last.npz`` of its :class:`~snnkit.callbacks.ModelCheckpoint`
    (or of ``<default_root_dir>/checkpoints``), None with a warning if there is none
    yet; else the file ``ckpt_path``."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        dirs = [c.resolve_dir(trainer) for c in trainer.callbacks
                if isinstance(c, ModelCheckpoint)]
        path = (dirs[0] if dirs else trainer.default_root_dir / "checkpoints") / "last.npz"
        if not path.is_file():
            warnings.warn(f"ckpt_path='last': no checkpoint at {path} yet; "
                          "training from scratch")
            return None
        return load_checkpoint(path)
    if not isinstance(ckpt_path, (str, Path)):
        raise ValidationError(f"ckpt_path: expected None, 'last' or a file path, "
                              f"got {type(ckpt_path).__name__}")
    return load_checkpoint(ckpt_path)


def callback_states(callbacks) -> dict:
    """``{state_key: state_dict()}`` of every callback."""
    return {key: c.state_dict() for key, c in CallbackList(callbacks).keyed().items()}


def load_callback_states(callbacks, states: dict) -> None:
    """Give each callback its saved state, if the checkpoint has one."""
    counts = {}
    for key, callback in CallbackList(callbacks).keyed().items():
        # checkpoints before state keys existed keyed states by class and position
        name = type(callback).__name__
        counts[name] = counts.get(name, -1) + 1
        state = states.get(key, states.get(f"{name}.{counts[name]}"))
        if state is not None:
            callback.load_state_dict(state)
