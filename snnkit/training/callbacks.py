"""Trainer callbacks: plain objects whose hooks do nothing unless overridden.

The Trainer calls every hook from one place (:meth:`CallbackList.call`), in the order
the callbacks were given.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from snnkit.exceptions import UnknownNameError, ValidationError
from snnkit.utils.files import atomic_write
from snnkit.utils.validation import check_int


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
            ``{state_key: callback}``.

        Raises
        ------
        ValidationError
            If two callbacks have one key.
        """
        keyed = {}
        for callback in self.callbacks:
            key = callback.state_key
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
    callbacks : iterable of Callback
        Come first.
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
        If a callback or logger is not a :class:`Callback`.
    """
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise ValidationError(f"callbacks: expected snnkit Callback objects, "
                                  f"got {type(callback).__name__}")
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
    """Stops training when ``monitor`` has stopped improving.

    Parameters
    ----------
    monitor : str
        The metric watched.
    patience : int
        Training stops when ``monitor`` has not improved by ``min_delta`` for
        ``patience`` epochs.
    mode : {"min", "max"}
        Whether a lower or a higher ``monitor`` is better.
    min_delta : float
        The smallest change that counts as an improvement.
    """

    def __init__(self, monitor: str = "val_loss", *, patience: int = 3, mode: str = "min",
                 min_delta: float = 0.0):
        _check_mode("EarlyStopping", mode)
        self.patience = check_int("EarlyStopping.patience", patience, low=0)
        self.monitor, self.mode = monitor, mode
        self.min_delta = float(min_delta)
        self.best_score = None
        self.wait = 0
        self.stopped_epoch = None

    def _state_key_fields(self):
        return {"monitor": self.monitor, "mode": self.mode}

    def on_fit_start(self, trainer):

        check_monitor("EarlyStopping", self.monitor, trainer)

    def on_epoch_end(self, trainer, epoch, logs):

        value = float(logs[self.monitor])
        if _better(self.mode, value, self.best_score, self.min_delta):
            self.best_score, self.wait = value, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            trainer.should_stop = True

    def state_dict(self):
        return {"best_score": self.best_score, "wait": self.wait}

    def load_state_dict(self, state):
        self.best_score = state.get("best_score")
        self.wait = int(state.get("wait", 0))


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
