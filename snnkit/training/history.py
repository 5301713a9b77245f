"""What :meth:`snnkit.Trainer.fit` returns: the per-epoch logs, read as Keras reads a
``History`` (``history.history["loss"]``, ``history.epoch``) or as a list of one dict
per epoch (``history[-1]["accuracy"]``, ``len(history)``), as snnkit returned before."""

from __future__ import annotations

import math


class History(list):
    """The logs of a fit: a list with one dict per epoch, plus Keras' attributes.

    Each item is ``{"epoch": i, metric: value, ...}`` (what callbacks received in
    ``on_epoch_end``), so ``history[-1]["accuracy"]``, ``len(history)``, iteration
    and ``json.dumps(history)`` work as on a list. Keras users read it as
    ``tf.keras.callbacks.History``: :attr:`history` (metric -> list of values, one
    per epoch) and :attr:`epoch` (the epoch numbers).

    Parameters
    ----------
    rows : iterable of dict
        One log per epoch, in order.
    params : dict or None
        The fit's parameters (``epochs``, ``steps``), as Keras' ``History.params``.
    """

    def __init__(self, rows=(), params: dict | None = None):
        super().__init__(dict(row) for row in rows)
        self.params = dict(params or {})

    @property
    def epoch(self) -> list[int]:
        """The epoch number (0-based) of each log, as Keras' ``History.epoch``."""
        return [int(row["epoch"]) for row in self]

    @property
    def history(self) -> dict[str, list[float]]:
        """``{metric: [value of each epoch]}``, as Keras' ``History.history``.

        Metrics in the order they first appear; an epoch that did not log one has
        NaN there (e.g. ``lr`` before a learning-rate callback was added on resume),
        so every list has one value per epoch.
        """
        names = list(dict.fromkeys(k for row in self for k in row if k != "epoch"))
        return {name: [row.get(name, math.nan) for row in self] for name in names}

    def __repr__(self) -> str:
        metrics = ", ".join(self.history) or "no metrics"
        return f"<History: {len(self)} epoch{'s' if len(self) != 1 else ''}; {metrics}>"
