"""Trainer callbacks: plain objects whose hooks do nothing unless overridden.

The Trainer calls every hook from one place (:meth:`CallbackList.call`), in the order
the callbacks were given.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from snnkit.exceptions import SnnkitWarning, UnknownNameError, ValidationError
from snnkit.utils.files import atomic_write
from snnkit.utils.validation import check_at_least, check_int


class Callback:
    """Override the hooks you need; each receives the :class:`~snnkit.Trainer`.

    Attributes
    ----------
    order : int
        Callbacks with a lower order run first at every hook (stable otherwise);
        metric producers such as :class:`RateMonitor` use -1 so that checkpoints,
        early stopping and loggers see their metrics in the same epoch.
    """

    order = 0

    def metric_names(self, trainer) -> tuple:
        """Metrics this callback adds to the epoch logs.

        Returns
        -------
        tuple of str
            Their names (so monitors can be checked before training starts).
        """
        return ()

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint.

        Its class name plus the arguments that tell two callbacks of one class apart
        (see :meth:`_state_key_fields`), never its position in the list, so
        reordering callbacks does not break resuming.
        """
        fields = self._state_key_fields()
        if not fields:
            return type(self).__qualname__
        inner = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"{type(self).__qualname__}{{{inner}}}"

    def _state_key_fields(self) -> dict:
        return {}

    def state_dict(self) -> dict:
        """JSON-ready state saved in checkpoints and restored on resume."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""

    def on_fit_start(self, trainer) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_batch_start(self, trainer, batch: int) -> None:
        """Before each training minibatch (``batch``: its index in the epoch)."""

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        """After each training minibatch.

        Parameters
        ----------
        trainer : Trainer
        batch : int
            The minibatch's index in the epoch.
        logs : dict
            Running loss/metrics.
        """

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """After epoch ``epoch``.

        Parameters
        ----------
        trainer : Trainer
        epoch : int
            The epoch (0-based).
        logs : dict
            Its metrics (``loss``, ``accuracy``, ``val_*`` when validation data was
            given).
        """

    def on_fit_end(self, trainer) -> None:
        """After the last epoch (also when a callback stopped training early)."""

    def on_evaluate_end(self, trainer, result) -> None:
        """After :meth:`Trainer.evaluate`, with its :class:`~snnkit.Result`."""

    def on_exception(self, trainer, exception: BaseException) -> None:
        """When ``fit`` raises (or is interrupted), before :meth:`teardown`."""

    def teardown(self, trainer) -> None:
        """Last thing ``fit`` does, whether it finished or raised.

        Release resources (files, writers) here.
        """


class CallbackList:
    """Calls one hook on every callback, in order."""

    def __init__(self, callbacks):
        self.callbacks = sorted(callbacks, key=lambda c: c.order)

    def call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def keyed(self) -> dict:
        """The callbacks by :attr:`Callback.state_key`.

        Returns
        -------
        dict
            ``{state_key: callback}`` of the callbacks that have a key.

        Raises
        ------
        ValidationError
            If two callbacks have one key.
        """
        keyed = {}
        for callback in self.callbacks:
            key = callback.state_key
            if key is None:  # keeps no state (a Keras callback)
                continue
            if key in keyed:
                raise ValidationError(
                    f"callbacks: two callbacks have the state key {key!r}; give them "
                    "different arguments (e.g. another dirpath or monitor) so their "
                    "saved states can be told apart")
            keyed[key] = callback
        return keyed


def collect_callbacks(callbacks, logger, progress_bar: bool) -> list:
    """The Trainer's callbacks: the given ones, then loggers, then a progress bar.

    Parameters
    ----------
    callbacks : iterable of Callback or tf.keras.callbacks.Callback
        Come first, in order; Keras callbacks are wrapped in :class:`KerasCallback`.
    logger : None, bool, Callback or list of Callback
        The loggers it asks for come next (True: a :class:`CSVLogger`; or logger
        callbacks, one or a list).
    progress_bar : bool
        Add a :class:`ProgressBar` if none is given.

    Returns
    -------
    list of Callback

    Raises
    ------
    ValidationError
        If a callback is neither an snnkit nor a Keras callback, is a Keras callback
        that cannot work on snnkit's training (``ModelCheckpoint``,
        ``BackupAndRestore``: each message names snnkit's equivalent), or a logger
        is not an snnkit :class:`Callback`.
    """
    callbacks = [_as_snnkit_callback(c) for c in callbacks]
    if logger is True:
        callbacks.append(CSVLogger())
    elif logger not in (None, False):
        loggers = list(logger) if isinstance(logger, (list, tuple)) else [logger]
        for item in loggers:
            if not isinstance(item, Callback):
                raise ValidationError(
                    f"logger: expected None, True or snnkit logger callbacks "
                    f"(CSVLogger, TensorBoardLogger), got {type(item).__name__}")
        callbacks += loggers
    if progress_bar and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(ProgressBar())
    return callbacks


# Keras callbacks that cannot do their job on snnkit's training, and what does it
_KERAS_REFUSED = {
    "ModelCheckpoint": "it would save nengo-dl's internal Keras model, not yours; use "
                       "snnkit.training.callbacks.ModelCheckpoint (best and last "
                       "checkpoints, resumable with fit(ckpt_path='last'))",
    "BackupAndRestore": "snnkit's fit resumes from its own checkpoints; use "
                        "snnkit.training.callbacks.ModelCheckpoint and "
                        "fit(ckpt_path='last')",
}


def _as_snnkit_callback(callback) -> Callback:
    if isinstance(callback, Callback):
        return callback
    keras_base = _keras_callback_class(callback)
    if keras_base is None:
        raise ValidationError(
            f"callbacks: expected snnkit Callback or tf.keras.callbacks.Callback "
            f"objects, got {type(callback).__name__}")
    for name, reason in _KERAS_REFUSED.items():
        if isinstance(callback, getattr(_keras_callbacks(), name)):
            raise ValidationError(
                f"callbacks: tf.keras.callbacks.{name} is not supported: {reason}")
    return KerasCallback(callback)


def _keras_callbacks():
    from snnkit.utils.stack import import_tensorflow

    return import_tensorflow().keras.callbacks


def _keras_callback_class(callback):
    """Keras' ``Callback`` class if ``callback`` is one; None otherwise.

    TensorFlow is imported only for an object that is not an snnkit callback, and
    only if Keras is loaded already (a Keras callback cannot exist without it).
    """
    import sys

    if "keras" not in sys.modules and "tensorflow" not in sys.modules:
        return None
    base = _keras_callbacks().Callback
    return base if isinstance(callback, base) else None


class KerasCallback(Callback):
    """A ``tf.keras.callbacks.Callback`` run by snnkit's Trainer.

    The Trainer wraps each Keras callback it is given in one, in the position it was
    given. The Keras callback sees the model nengo-dl trains (``self.model``, whose
    ``optimizer`` is the one training: ``ReduceLROnPlateau``,
    ``LearningRateScheduler`` and schedules that set its learning rate act on the
    fit), ``params`` with ``epochs`` and ``steps``, and snnkit's epoch logs
    (``loss``, ``accuracy``, ``val_*``, ``rate_loss/*``, ...; what it adds to them,
    such as ``lr``, goes into the history). Setting ``self.model.stop_training``
    stops the fit as snnkit's :class:`EarlyStopping` does. Hooks: ``on_train_begin``
    and ``on_train_end`` once per fit, ``on_epoch_begin``/``on_epoch_end`` and the
    training batch hooks.

    Parameters
    ----------
    callback : tf.keras.callbacks.Callback
        The Keras callback.
    """

    def __init__(self, callback):
        self.callback = callback

    @property
    def state_key(self) -> None:
        """None: a Keras callback's state is not saved in checkpoints (a resumed fit
        starts it afresh)."""
        return None

    @property
    def wants_batches(self) -> bool:
        """Whether the Keras callback implements a training batch hook."""
        base = _keras_callbacks().Callback
        return any(getattr(type(self.callback), hook) is not getattr(base, hook)
                   for hook in ("on_train_batch_begin", "on_train_batch_end",
                                "on_batch_begin", "on_batch_end"))

    def on_fit_start(self, trainer):
        self.callback.set_model(trainer._sim.keras_model)
        self.callback.set_params({"epochs": trainer.max_epochs,
                                  "steps": trainer.steps_per_epoch, "verbose": 0})
        self.callback.on_train_begin({})

    def on_epoch_start(self, trainer, epoch):
        self.callback.on_epoch_begin(epoch, {})

    def on_batch_start(self, trainer, batch):
        self.callback.on_train_batch_begin(batch, {})

    def on_batch_end(self, trainer, batch, logs):
        self.callback.on_train_batch_end(batch, dict(logs))

    def on_epoch_end(self, trainer, epoch, logs):
        # Keras' logs have no "epoch" entry (its CSVLogger would write it twice)
        keras_logs = {k: v for k, v in logs.items() if k != "epoch"}
        self.callback.on_epoch_end(epoch, keras_logs)
        for key, value in keras_logs.items():  # what it added (lr), as plain numbers
            if isinstance(value, np.generic) or getattr(value, "shape", None) == ():
                value = int(value) if isinstance(value, np.integer) else float(value)
            logs[key] = value

    def on_fit_end(self, trainer):
        self.callback.on_train_end({})


class ProgressBar(Callback):
    """A tqdm bar per epoch, showing loss and accuracy."""

    def __init__(self, leave: bool = True):
        self.leave = leave
        self._bar = None

    def on_epoch_start(self, trainer, epoch):
        self._bar = tqdm(total=trainer.steps_per_epoch, unit="batch", leave=self.leave,
                         desc=f"epoch {epoch + 1}/{trainer.max_epochs}")

    def on_batch_end(self, trainer, batch, logs):
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()
                                   if k in ("loss", "accuracy")}, refresh=False)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k in (
                "loss", "accuracy", "val_loss", "val_accuracy")})
            self._bar.close()
            self._bar = None


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has stopped improving, as Keras' does.

    After an epoch that does not improve on the best value so far by more than
    ``min_delta``, a counter goes up; an improvement resets it. Training stops at the
    end of the epoch that brings it to ``patience``: ``patience=1`` stops after the
    first epoch without improvement, ``patience=0`` too (Keras' semantics; snnkit's
    earlier ``EarlyStopping`` waited ``patience + 1`` epochs). A new fit starts
    afresh; a resumed one (``ckpt_path``) continues the saved count.

    Parameters
    ----------
    monitor : str
        The metric watched (a key of the epoch logs, e.g. ``val_loss``).
    patience : int
        Epochs without improvement after which training stops (>= 0).
    mode : {"min", "max"}
        Whether a lower or a higher ``monitor`` is better.
    min_delta : float
        An epoch improves only if it beats the best value by more than this (>= 0).
    restore_best_weights : bool
        When ``fit`` ends (stopped early or not), put the weights of the best epoch
        back into the model. They are kept in memory, not in checkpoints: after a
        resume, an epoch before the checkpoint cannot be restored (a warning says
        so), and a later best one is.

    Attributes
    ----------
    best_score : float or None
        The best value so far.
    best_epoch : int or None
        The epoch (0-based) that reached it.
    wait : int
        Epochs since the last improvement.
    stopped_epoch : int or None
        The epoch (0-based) after which training stopped; None if it did not stop.
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 3, mode: str = "min",
                 min_delta: float = 0.0, restore_best_weights: bool = False):
        _check_mode("EarlyStopping", mode)
        self.patience = check_int("EarlyStopping.patience", patience, low=0)
        self.monitor, self.mode = monitor, mode
        self.min_delta = float(check_at_least("EarlyStopping.min_delta", min_delta, 0))
        if not isinstance(restore_best_weights, bool):
            raise ValidationError(
                f"EarlyStopping.restore_best_weights: expected True or False, got "
                f"{type(restore_best_weights).__name__}")
        self.restore_best_weights = restore_best_weights
        self.best_score = None
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self._best_weights = None
        self._resumed = False

    def _state_key_fields(self):
        return {"monitor": self.monitor, "mode": self.mode}

    def on_fit_start(self, trainer):
        check_monitor("EarlyStopping", self.monitor, trainer)
        self.stopped_epoch = None
        self._best_weights = None
        if not self._resumed:  # one object given to two fits: the second starts afresh
            self.best_score, self.best_epoch, self.wait = None, None, 0
        self._resumed = False
        if self.restore_best_weights and self.best_epoch is not None:
            warnings.warn(
                f"EarlyStopping.restore_best_weights: the best epoch so far "
                f"({self.best_epoch}) is before the checkpoint this fit resumes from, "
                "and checkpoints do not keep its weights; they are restored only if "
                "a later epoch is better", SnnkitWarning, stacklevel=2)

    def on_epoch_end(self, trainer, epoch, logs):
        value = float(logs[self.monitor])
        if _better(self.mode, value, self.best_score, self.min_delta):
            self.best_score, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = [np.array(w) for w in trainer.model.get_weights()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.should_stop = True

    def on_fit_end(self, trainer):
        if self.restore_best_weights and self._best_weights is not None:
            trainer.model.set_weights(self._best_weights)
        self._best_weights = None

    def teardown(self, trainer):
        self._best_weights = None  # a model's worth of arrays

    def state_dict(self):
        return {"best_score": self.best_score, "best_epoch": self.best_epoch,
                "wait": self.wait}

    def load_state_dict(self, state):
        self.best_score = state.get("best_score")
        self.best_epoch = state.get("best_epoch")
        self.wait = int(state.get("wait", 0))
        self._resumed = True


class RateMonitor(Callback):
    """Per-layer firing statistics of the network being trained, after each epoch.

    Measured with its spiking neuron type, on a small fixed subset of inputs. Adds
    ``rate_hz/<layer>`` (mean rate of active neurons, the notebook's measure),
    ``max_rate_hz/<layer>`` and ``saturated/<layer>`` (fraction of neurons at one
    spike per step, Loihi's ceiling) to the epoch logs.

    Parameters
    ----------
    x : array_like or None
        The subset (default: the first ``n_inputs`` training inputs).
    n_inputs : int
        Size of the default subset.
    n_steps : int
        Steps each input runs for.

    Attributes
    ----------
    last : RunSummary or None
        The latest measurement.
    """

    order = -1

    def __init__(self, x=None, *, n_inputs: int = 200, n_steps: int = 30):
        self.n_steps = check_int("RateMonitor.n_steps", n_steps, low=1)
        self.n_inputs = check_int("RateMonitor.n_inputs", n_inputs, low=1)
        self.x = x
        self.last = None  # the latest RunSummary

    needs_layer_probes = True

    def metric_names(self, trainer):
        layers = trainer.network.neuron_layers
        return tuple(f"{kind}/{name}" for kind in ("rate_hz", "max_rate_hz", "saturated")
                     for name in layers)

    def on_fit_start(self, trainer):
        x = trainer.train_x[:self.n_inputs] if self.x is None else self.x
        from snnkit.network.inputs import check_inputs

        self._subset = check_inputs(trainer.network, x)

    def on_epoch_end(self, trainer, epoch, logs):
        summary = trainer.measure_live_rates(self._subset, n_steps=self.n_steps)
        self.last = summary
        for name in trainer.network.neuron_layers:
            logs[f"rate_hz/{name}"] = summary.layer_rates_hz[name]
            logs[f"max_rate_hz/{name}"] = summary.layer_max_rates_hz[name]
            logs[f"saturated/{name}"] = summary.saturated_fraction[name]


class CSVLogger(Callback):
    """Writes the whole history as CSV after every epoch.

    Atomically, so the file is always complete, and a resumed fit rewrites it from the
    restored history.

    Parameters
    ----------
    path : str, Path or None
        Defaults to ``<trainer.default_root_dir>/metrics.csv``.
    """

    def __init__(self, path=None):
        self.path = None if path is None else Path(path)

    def on_fit_start(self, trainer):
        if self.path is None:
            self.path = Path(trainer.default_root_dir) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def on_epoch_end(self, trainer, epoch, logs):
        columns = ["epoch"]
        for row in trainer.history:
            columns += [k for k in row if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(trainer.history)
        with atomic_write(self.path, "w") as f:
            f.write(text.getvalue())


class TensorBoardLogger(Callback):
    """Epoch metrics as TensorBoard scalars (``tf.summary``), step = epoch number.

    Parameters
    ----------
    log_dir : str, Path or None
        Defaults to ``<trainer.default_root_dir>/tensorboard``.
    """

    def __init__(self, log_dir=None):
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._writer = None

    def on_fit_start(self, trainer):
        from snnkit.utils.stack import import_tensorflow

        tf = import_tensorflow()

        if self.log_dir is None:
            self.log_dir = Path(trainer.default_root_dir) / "tensorboard"
        self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_end(self, trainer, epoch, logs):
        from snnkit.utils.stack import import_tensorflow

        tf = import_tensorflow()

        with self._writer.as_default(step=epoch):
            for key, value in logs.items():
                if key != "epoch" and np.isfinite(value):
                    tf.summary.scalar(key, float(value))
        self._writer.flush()

    def teardown(self, trainer):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _state_key_fields(self):
        return {"log_dir": None if self.log_dir is None else str(self.log_dir)}

    def on_fit_end(self, trainer):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _better(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def check_monitor(owner: str, monitor: str, trainer) -> None:
    """Check that ``monitor`` is among the metrics this fit will log.

    Raises
    ------
    UnknownNameError
        If it is not (the message names ``owner`` and the logged metrics).
    """
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

    Both files are written atomically; ``Trainer.fit(..., ckpt_path="last")`` resumes
    from ``last.npz``.

    Parameters
    ----------
    dirpath : str, Path or None
        Defaults to ``<trainer.default_root_dir>/checkpoints``.
    monitor : str or None
        Defaults to ``val_loss`` when validation data is given, else ``loss``.
    mode : {"min", "max"}
        Whether a lower or a higher ``monitor`` is better.
    save_last : bool
        Save ``last.npz`` after every epoch.
    save_best : bool
        Save ``best.npz`` when ``monitor`` improves.
    """

    def __init__(self, dirpath=None, *, monitor: str | None = None, mode: str = "min",
                 save_last: bool = True, save_best: bool = True):
        _check_mode("ModelCheckpoint", mode)
        self.dirpath = None if dirpath is None else Path(dirpath)
        self.monitor = monitor
        self._key_fields = {"dirpath": None if dirpath is None else str(dirpath),
                            "monitor": monitor}
        self.mode = mode
        self.save_last = save_last
        self.save_best = save_best
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    def _state_key_fields(self):
        return self._key_fields

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
        self.best_score = None if state.get("best_score") is None else \
            float(state["best_score"])
        self.best_epoch = state.get("best_epoch")
