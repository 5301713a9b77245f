"""Trainer callbacks: plain objects whose hooks do nothing unless overridden.

The Trainer calls every hook from one place (:meth:`CallbackList.call`), in the order
the callbacks were given.
"""

from __future__ import annotations

from tqdm.auto import tqdm


class Callback:
    """Override the hooks you need; each receives the :class:`~snnkit.Trainer`."""

    def on_fit_start(self, trainer) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_batch_end(self, trainer, batch: int, logs: dict) -> None:
        """After each training minibatch; ``logs`` holds running loss/metrics."""

    def on_epoch_end(self, trainer, epoch: int, logs: dict) -> None:
        """After epoch ``epoch``; ``logs`` holds its metrics (``loss``, ``accuracy``,
        ``val_*`` when validation data was given)."""

    def on_fit_end(self, trainer) -> None:
        """After the last epoch (also when a callback stopped training early)."""

    def on_evaluate_end(self, trainer, result) -> None:
        """After :meth:`Trainer.evaluate`, with its :class:`~snnkit.Result`."""


class CallbackList:
    """Calls one hook on every callback, in order."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)


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
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
            self._bar.close()
            self._bar = None
