"""The Pareto front of a search: accuracy (maximized) x steps (minimized) x synaptic
operations per input (minimized), computed from every completed trial's reported
metrics after the search (keras-tuner 1.4 has no multi-objective oracle; the oracle
optimizes the scalar ``score``).

Which accuracy and which steps (:func:`front_axes`) follow the objective:

- accuracy: ``accuracy_at_steps/N`` if the objective or a constraint reads one, else
  ``accuracy`` (read out at the trial's last step);
- steps: ``steps_to_accuracy/X`` if read; else N for an ``accuracy_at_steps/N``
  objective (the step the accuracy is read at); else the trial's ``n_steps``.

A point is on the front if no other point is at least as good on all three and
better on one; equal points are all on it. Only completed, feasible trials (within
the constraints, every ``steps_to_accuracy`` target reached) whose output answered
by the step the accuracy is read at can be on it: a trial read out before most
inputs' outputs received a spike (``output_onset_steps``, "no output yet") scores
the output layer's bias, not an answer, and would sit on the front only for being
the cheapest.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

from snnkit.utils.files import atomic_write

from .latency import ACCURACY_AT_STEPS, STEPS_TO_ACCURACY

# the three axes and whether more is better
DIRECTIONS = (("accuracy", "max"), ("steps", "min"), ("synaptic_ops", "min"))


def pareto_mask(points) -> np.ndarray:
    """Which points no other point dominates.

    Parameters
    ----------
    points : array_like
        ``(n, 3)`` (accuracy, steps, synaptic ops).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` bool: which rows of ``points`` no other row dominates.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, len(DIRECTIONS))
    # flip the maximized axes so that smaller is better everywhere
    signs = np.array([-1.0 if d == "max" else 1.0 for _, d in DIRECTIONS])
    costs = points * signs
    no_worse = np.all(costs[:, None, :] <= costs[None, :, :], axis=-1)
    better = np.any(costs[:, None, :] < costs[None, :, :], axis=-1)
    dominated = np.any(no_worse & better, axis=0)  # [i, j]: i dominates j
    return ~dominated


@dataclass(frozen=True)
class FrontAxes:
    """The metrics a trial's point is read from.

    :func:`front_axes` makes them from a search's objective.

    Attributes
    ----------
    accuracy : str
        The accuracy metric's name: ``"accuracy"`` (at the last step) or
        ``"accuracy_at_steps/N"``.
    steps : str or int
        A metric name, or a fixed step for an ``accuracy_at_steps/N`` objective.
    """

    accuracy: str = "accuracy"
    steps: str | int = "n_steps"

    def point(self, metrics: dict) -> tuple[float, float, float]:
        steps = self.steps if isinstance(self.steps, int) else metrics[self.steps]
        return (float(metrics[self.accuracy]), float(steps),
                float(metrics["synaptic_ops"]))

    def readout_step(self, metrics: dict) -> float:
        """The step the accuracy is read at.

        Returns
        -------
        float
            N of ``accuracy_at_steps/N``, else the trial's ``n_steps``.
        """
        if self.accuracy.startswith(ACCURACY_AT_STEPS):
            return float(self.accuracy[len(ACCURACY_AT_STEPS):])
        return float(metrics["n_steps"])

    def answered(self, metrics: dict) -> bool:
        """Whether most inputs' outputs had received spikes by :meth:`readout_step`.

        True for a trial recorded without ``output_onset_steps``.
        """
        onset = metrics.get("output_onset_steps")
        return onset is None or float(onset) <= self.readout_step(metrics)

    def steps_label(self) -> str:
        if isinstance(self.steps, int):
            return f"steps (accuracy read at step {self.steps})"
        if self.steps.startswith(STEPS_TO_ACCURACY):
            return f"steps to {self.steps[len(STEPS_TO_ACCURACY):]}% accuracy"
        return "steps per input (n_steps)"

    def accuracy_label(self) -> str:
        if self.accuracy.startswith(ACCURACY_AT_STEPS):
            return f"accuracy at step {self.accuracy[len(ACCURACY_AT_STEPS):]}"
        return "accuracy at the last step"


def front_axes(objective) -> FrontAxes:
    """The axes of the front of a search with this :class:`SearchObjective`."""
    names = objective.names()
    accuracy = next((n for n in names if n.startswith(ACCURACY_AT_STEPS)), "accuracy")
    steps = next((n for n in names if n.startswith(STEPS_TO_ACCURACY)), None)
    if steps is None:
        steps = (int(accuracy[len(ACCURACY_AT_STEPS):]) if accuracy != "accuracy"
                 else "n_steps")
    return FrontAxes(accuracy, steps)


def pareto_rows(search) -> list[dict]:
    """One row per trial of ``search``, in trial order.

    Parameters
    ----------
    search : SnnSearch
        A :class:`~snnkit.tuning.tuner.SnnSearch`.

    Returns
    -------
    list of dict
        ``trial_id``, ``status``, each hyperparameter, ``accuracy``, ``steps``,
        ``synaptic_ops`` (None unless completed), ``feasible``, ``answered`` (the
        output had received spikes by the readout step, :meth:`FrontAxes.answered`)
        and ``on_front``.
    """
    axes = front_axes(search.objective)
    trials = search.trials()
    names = list(dict.fromkeys(k for t in trials for k in t["hyperparameters"]
                               if not k.startswith("tuner/")))
    rows, points, candidates = [], [], []
    for t in trials:
        row = {"trial_id": t["trial_id"], "status": t["status"]}
        row.update({k: t["hyperparameters"].get(k) for k in names})
        done = t["status"] == "COMPLETED"
        accuracy, steps, synops = axes.point(t["metrics"]) if done else (None,) * 3
        feasible = done and t["metrics"].get("feasible", 1.0) > 0
        answered = done and axes.answered(t["metrics"])
        row.update(accuracy=accuracy, steps=steps, synaptic_ops=synops,
                   feasible=feasible, answered=answered, on_front=False)
        if feasible and answered:
            candidates.append(len(rows))
            points.append((accuracy, steps, synops))
        rows.append(row)
    for i, on in zip(candidates, pareto_mask(points) if points else []):
        rows[i]["on_front"] = bool(on)
    return rows


def write_pareto_csv(rows: list[dict], path) -> str:
    """Write :func:`pareto_rows` as CSV (a header, one line per trial), atomically.

    Returns
    -------
    str
        The path.
    """
    columns = list(dict.fromkeys(k for row in rows for k in row)) or [
        "trial_id", "status", "accuracy", "steps", "synaptic_ops", "feasible", "answered",
        "on_front"]
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return os.fspath(path)
