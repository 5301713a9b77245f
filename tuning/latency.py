"""Latency objectives: accuracy read out after N steps, steps needed to reach X%
accuracy, and the ``"pareto"`` scalarization of accuracy against steps.

Two families of metrics, named with their parameter, computed from a trial's
:meth:`~snnkit.Result.accuracy_by_step` and reported only when the objective or a
constraint reads them:

- ``accuracy_at_steps/N``: the accuracy if the output is read after N of the run's
  steps (1 <= N <= the smallest ``n_steps`` the search runs). Maximized.
- ``steps_to_accuracy/X``: the first step (1-based) at which the accuracy read out
  there is >= X% (0 < X <= 100). Minimized. A trial that never reaches X% gets
  ``max_steps + 1`` (one more than the largest ``n_steps`` the search can run, so it
  ranks behind every trial that does, whatever its own ``n_steps``) and is not
  feasible (``best_trial()`` skips it, the Pareto front leaves it out).

``"pareto"`` and ``"pareto/X"`` are objectives, not metrics: keras-tuner 1.4 has no
multi-objective oracle, so the oracle maximizes the scalarization
``accuracy - PARETO_STEPS_WEIGHT * steps / max_steps`` (steps: the trial's
``n_steps`` for ``"pareto"``, ``steps_to_accuracy/X`` for ``"pareto/X"``), and the
front of accuracy x steps x synaptic operations is computed afterwards from every
completed trial (:mod:`snnkit.tuning.pareto`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SearchConfigError

ACCURACY_AT_STEPS = "accuracy_at_steps/"
STEPS_TO_ACCURACY = "steps_to_accuracy/"
PARETO = "pareto"
# accuracy given up for using the whole step budget, in the "pareto" scalarization
PARETO_STEPS_WEIGHT = 0.1


def parse_latency_metric(name) -> tuple[str, str] | None:
    """``(prefix, parameter text)`` of a latency metric name, or None."""
    if not isinstance(name, str):
        return None
    for prefix in (ACCURACY_AT_STEPS, STEPS_TO_ACCURACY):
        if name.startswith(prefix):
            return prefix, name[len(prefix):]
    return None


def latency_parameter(name: str, *, where: str, min_steps: int) -> float:
    """The parameter of a latency metric's name.

    Parameters
    ----------
    name : str
        ``accuracy_at_steps/N`` or ``steps_to_accuracy/X``.
    where : str
        The argument named in the message.
    min_steps : int
        The smallest ``n_steps`` the search runs.

    Returns
    -------
    float
        The N of ``accuracy_at_steps/N`` (an int in 1..min_steps) or the X of
        ``steps_to_accuracy/X`` (a percentage in (0, 100]).

    Raises
    ------
    SearchConfigError
        Naming ``where``, for any other parameter.
    """
    prefix, text = parse_latency_metric(name)
    if prefix == ACCURACY_AT_STEPS:
        try:
            steps = int(text)
        except ValueError:
            steps = None
        if steps is None or str(steps) != text or not 1 <= steps <= min_steps:
            raise SearchConfigError(
                f"{where}: {name!r}: expected accuracy_at_steps/N with N an int from 1 "
                f"to {min_steps} (the smallest n_steps this search runs), got {text!r}")
        return float(steps)
    return _percent(text, name, "steps_to_accuracy/X", where)


def _percent(text: str, name: str, form: str, where: str) -> float:
    try:
        percent = float(text)
    except ValueError:
        percent = float("nan")
    if not 0 < percent <= 100:
        raise SearchConfigError(
            f"{where}: {name!r}: expected {form} with X a percentage in (0, 100], "
            f"got {text!r}")
    return percent


def steps_to_accuracy(accuracy_by_step, percent: float, max_steps: int) -> int:
    """First step (1-based) whose accuracy is >= ``percent`` %.

    Returns
    -------
    int
        The step; ``max_steps + 1`` if none is.
    """
    reached = np.flatnonzero(np.asarray(accuracy_by_step) >= percent / 100.0 - 1e-12)
    return int(reached[0]) + 1 if reached.size else int(max_steps) + 1


@dataclass(frozen=True)
class LatencyMetrics:
    """The latency metrics one search reports, checked against its step range.

    Attributes
    ----------
    names : tuple of str
        The ``accuracy_at_steps/N`` and ``steps_to_accuracy/X`` metrics to report.
    min_steps, max_steps : int
        The smallest and largest ``n_steps`` a trial can run.
    """

    names: tuple = ()
    min_steps: int = 1
    max_steps: int = 1

    def __post_init__(self):
        self.parameters()  # raises on a bad name

    def parameters(self) -> dict:
        return {name: latency_parameter(name, where="objective",
                                        min_steps=self.min_steps)
                for name in self.names}

    def compute(self, accuracy_by_step) -> dict:
        """Every metric of :attr:`names` from one trial's accuracy curve."""
        curve = np.asarray(accuracy_by_step, dtype=np.float64)
        metrics = {}
        for name, value in self.parameters().items():
            if name.startswith(ACCURACY_AT_STEPS):
                metrics[name] = float(curve[int(value) - 1])
            else:
                metrics[name] = float(steps_to_accuracy(curve, value, self.max_steps))
        return metrics

    def reached(self, metrics: dict) -> bool:
        """Whether every ``steps_to_accuracy`` target was reached within the run."""
        return all(metrics[name] <= self.max_steps for name in self.names
                   if name.startswith(STEPS_TO_ACCURACY))


def latency_names(objective, constraints) -> tuple[str, ...]:
    """The latency metrics an objective and its constraints read.

    Parameters
    ----------
    objective : str or dict
        A metric name or ``{metric: weight}``.
    constraints : dict or None
        ``{metric: bound}``.

    Returns
    -------
    tuple of str
    """
    names = []
    if isinstance(objective, dict):
        names += list(objective)
    elif isinstance(objective, str):
        names.append(objective)
    names += list(constraints or {})
    return tuple(dict.fromkeys(n for n in names if parse_latency_metric(n)))


def expand_pareto(objective, *, max_steps: int):
    """The weighted objective that ``"pareto"`` or ``"pareto/X"`` stands for.

    Returns
    -------
    str or dict
        ``"pareto"`` -> ``{"accuracy": 1, "n_steps": -w / max_steps}``;
        ``"pareto/X"`` -> ``{"accuracy": 1, "steps_to_accuracy/X": -w / max_steps}``
        (w: :data:`PARETO_STEPS_WEIGHT`); anything else unchanged.
    """
    if not (isinstance(objective, str) and
            (objective == PARETO or objective.startswith(PARETO + "/"))):
        return objective
    steps = "n_steps"
    if objective != PARETO:
        text = objective[len(PARETO) + 1:]
        _percent(text, objective, "pareto/X", "objective")
        steps = STEPS_TO_ACCURACY + text
    return {"accuracy": 1.0, steps: -PARETO_STEPS_WEIGHT / max_steps}
