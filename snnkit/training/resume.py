"""Resuming :meth:`snnkit.Trainer.fit` from a checkpoint: which file ``ckpt_path``
names, that the fit resuming it has the settings and data of the fit that wrote it,
and the callback states saved with it (keyed by each callback's ``state_key``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from snnkit.data.files import data_digest
from snnkit.exceptions import CheckpointError, ValidationError, shortened
from snnkit.training.callbacks import CallbackList, ModelCheckpoint
from snnkit.training.checkpoint import Checkpoint, json_ready, load_checkpoint


def find_checkpoint(ckpt_path, trainer) -> Checkpoint | None:
    """The checkpoint to resume ``trainer``'s fit from.

    Parameters
    ----------
    ckpt_path : None, "last", str or Path
        ``"last"``: the ``last.npz`` of its
        :class:`~snnkit.training.callbacks.ModelCheckpoint` (or of
        ``<default_root_dir>/checkpoints``); else the file ``ckpt_path``.
    trainer : Trainer

    Returns
    -------
    Checkpoint or None
        None for ``ckpt_path=None``, and with a warning for ``"last"`` if there is
        none yet.
    """
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        dirs = [c.resolve_dir(trainer) for c in trainer.callbacks
                if isinstance(c, ModelCheckpoint)]
        path = (dirs[0] if dirs else trainer.default_root_dir / "checkpoints") \
            / "last.npz"
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


def training_settings(trainer, x, y, val, optimizer: dict) -> dict:
    """What decides the weights a fit produces, besides the model and the epoch count.

    The Trainer's training settings and a digest of the training and validation data
    (``x``, ``y`` and ``val`` as the fit uses them). A fit resumed with other settings
    would not give the weights an uninterrupted run gives; ``max_epochs`` is left out,
    as resuming with more epochs is how a training is extended. ``optimizer`` is the
    optimizer as resolved for this fit
    (:func:`snnkit.training.nengo_dl_fit.optimizer_settings`: ``optimizer`` and
    ``learning_rate``).
    """
    settings = {
        "minibatch_size": trainer.minibatch_size, "optimizer": optimizer["optimizer"],
        "learning_rate": optimizer["learning_rate"],
        "neuron_type": trainer.neuron_type.to_dict(),
        "scale_firing_rates": trainer.scale_firing_rates, "dt": trainer.dt,
        # the key keeps its old name: checkpoints written before the rename resume
        "off_chip": trainer.off_chip, "rate_target_hz": trainer.rate_reg_hz,
        "rate_weight": trainer.rate_weight, "seed": trainer.seed,
        "deterministic": trainer.deterministic,
        "train_data": data_digest(x, y),
        "val_data": None if val is None else data_digest(*val),
    }
    return json.loads(json.dumps(json_ready(settings)))


def check_same_settings(checkpoint: Checkpoint, settings: dict) -> None:
    """Check that the fit resuming ``checkpoint`` has the settings of its writer.

    Raises
    ------
    CheckpointError
        Naming every setting in which the fit resuming ``checkpoint`` differs from
        the fit that wrote it.

    Warns
    -----
    UserWarning
        For a checkpoint from before settings were recorded (format version 1),
        which is resumed without the check.
    """
    if checkpoint.settings is None:
        warnings.warn(f"ckpt_path: {checkpoint.path} records no training settings "
                      "(written by an older snnkit): resuming without checking that "
                      "they are the same")
        return
    names = sorted(set(settings) | set(checkpoint.settings))
    differ = [f"{name}: {_shortened_json(checkpoint.settings.get(name))} (checkpoint) vs "
              f"{_shortened_json(settings.get(name))} (this fit)"
              for name in names if checkpoint.settings.get(name) != settings.get(name)]
    if differ:
        raise CheckpointError(
            f"ckpt_path: {checkpoint.path} was written by a fit with other settings; "
            f"{'; '.join(differ)}. Resume with the settings and data it was trained "
            "with, or train afresh without ckpt_path")


def _shortened_json(value) -> str:
    """A setting as JSON (how the checkpoint holds it), cut for the message."""
    return shortened(json.dumps(value))
