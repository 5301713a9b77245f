"""What a search optimizes: one reported metric, a weighted sum of them, and upper or
lower bounds on others (e.g. maximize accuracy subject to <= N synaptic operations).

Every trial reports the same flat, float-valued metrics (a gRPC-safe dict): see
:func:`reported_metrics`. The search's keras-tuner objective is always the metric
``"score"``, computed here from the others, so every oracle (random, Bayesian,
Hyperband) optimizes the same number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from keras_tuner.errors import FailedTrialError

from snnkit.network.results import answered_from_step, output_onset_steps, silent_output
from snnkit.utils.validation import is_number

from .errors import SearchConfigError
from .latency import ACCURACY_AT_STEPS, STEPS_TO_ACCURACY

SCORE = "score"

# Direction of every metric a single-metric objective may name (per-layer ones by
# prefix). Accuracy up; cost and latency down.
_DIRECTIONS = {
    "accuracy": "max",
    "synaptic_ops": "min",
    "time_to_decision_steps": "min",
    "spikes": "min",
    "min_rate_hz": "max",
    "max_saturated_fraction": "min",
    "wall_time_s": "min",
    "n_steps": "min",
    # first step at which most validation inputs' outputs have received spikes
    # (before it the output is the bias: "no output yet"); n_steps + 1 if never
    "output_onset_steps": "min",
}
_UNIT_INTERVAL = {"accuracy", "max_saturated_fraction", "feasible"}
# metrics named with a parameter (tuning/latency.py), reported when an objective
# or a constraint reads them
_PARAMETER_PREFIXES = {ACCURACY_AT_STEPS: "max", STEPS_TO_ACCURACY: "min"}
_LAYER_PREFIXES = {
    "rate_hz/": "max",
    "saturated_fraction/": "min",
    "synaptic_ops/": "min",
    "spikes/": "min",
}


def reported_metrics(neuron_layers) -> tuple[str, ...]:
    """Names of the metrics every trial reports (``"score"`` excluded).

    Parameters
    ----------
    neuron_layers : sequence of str
        The network's neuron layers.

    Returns
    -------
    tuple of str
    """
    names = list(_DIRECTIONS)
    for prefix in _LAYER_PREFIXES:
        names += [prefix + layer for layer in neuron_layers]
    return tuple(names)


def metric_direction(name: str) -> str:
    """``"max"`` or ``"min"``: the direction of metric ``name`` (``"max"`` if unknown)."""
    if name in _DIRECTIONS:
        return _DIRECTIONS[name]
    for prefix, direction in {**_LAYER_PREFIXES, **_PARAMETER_PREFIXES}.items():
        if name.startswith(prefix):
            return direction
    return "max"


@dataclass(frozen=True)
class SearchObjective:
    """The number a search maximizes or minimizes, with optional bounds.

    Parameters
    ----------
    metric : str or dict
        A reported metric name (direction from the metric: ``accuracy`` is
        maximized, ``synaptic_ops`` minimized, ...), or ``{metric: weight}``: the
        weighted sum is maximized (give cost metrics a negative weight).
    constraints : dict
        ``{metric: bound}`` (``metric <= bound``) or ``{metric: (">=", bound)}`` /
        ``("<=", bound)``. A trial that breaks a bound is still recorded with all its
        metrics, but its score is ``-penalty * (1 + relative violation)`` (``+`` when
        minimizing): worse than any feasible value, and worse the further out, so
        oracles steer back to the feasible region.
    direction : {"min", "max"} or None
        Override the direction of a single-metric objective.
    penalty : float or None
        A bound on the magnitude of every feasible objective value. Default: 10 when
        the objective reads only metrics within [0, 1] (accuracy, saturated
        fractions), else 1e12 (e.g. synaptic operations, whose scale is not known in
        advance). A smaller penalty keeps Bayesian optimization informative:
        normalize a cost (``{"synaptic_ops": -1 / reference}``) and set it.

    Raises
    ------
    SearchConfigError
        For an invalid metric, direction, penalty or constraint.
    """

    metric: str | dict = "accuracy"
    constraints: dict = field(default_factory=dict)
    direction: str | None = None
    penalty: float | None = None

    def __post_init__(self):
        if isinstance(self.metric, dict):
            if not self.metric:
                raise SearchConfigError("objective: expected a metric name or a "
                                        "non-empty {metric: weight} dict, got {}")
            for name, weight in self.metric.items():
                if not is_number(weight):
                    raise SearchConfigError(
                        f"objective[{name!r}]: expected a number (weight), "
                        f"got {weight!r}")
            object.__setattr__(self, "metric",
                               {k: float(v) for k, v in self.metric.items()})
        elif not isinstance(self.metric, str):
            raise SearchConfigError(
                f"objective: expected a metric name or {{metric: weight}}, "
                f"got {type(self.metric).__name__}")
        if self.direction is not None and self.direction not in ("min", "max"):
            raise SearchConfigError(
                f"direction: expected 'min', 'max' or None, got {self.direction!r}")
        if self.penalty is None:
            unit = all(n in _UNIT_INTERVAL or n.startswith(("saturated_fraction/",
                                                            ACCURACY_AT_STEPS))
                       for n in (self.metric if isinstance(self.metric, dict)
                                 else [self.metric]))
            weights = self.metric.values() if isinstance(self.metric, dict) else [1.0]
            bounded = unit and sum(abs(w) for w in weights) <= 1.0
            object.__setattr__(self, "penalty", 10.0 if bounded else 1e12)
        if not is_number(self.penalty) or self.penalty <= 0:
            raise SearchConfigError(
                f"penalty: expected a number > 0, got {self.penalty!r}")
        constraints = {}
        for name, bound in dict(self.constraints or {}).items():
            op, value = ("<=", bound) if is_number(bound) else (
                tuple(bound) if isinstance(bound, (tuple, list)) and len(bound) == 2
                else (None, None))
            if op not in ("<=", ">=") or not is_number(value):
                raise SearchConfigError(
                    f"constraints[{name!r}]: expected a number (upper bound) or "
                    f"('<=' | '>=', number), got {bound!r}")
            constraints[name] = (op, float(value))
        object.__setattr__(self, "constraints", constraints)

    @property
    def goal(self) -> str:
        """``"max"`` or ``"min"``: the direction of ``score``."""
        if isinstance(self.metric, dict):
            return "max"
        return self.direction or metric_direction(self.metric)

    def names(self) -> tuple[str, ...]:
        """Every metric this objective reads."""
        return tuple(dict.fromkeys(self._objective_names() + tuple(self.constraints)))

    def check(self, reported) -> None:
        """Check that every metric it reads is reported.

        Parameters
        ----------
        reported : iterable of str
            The metrics the search reports.

        Raises
        ------
        SearchConfigError
            If it reads a metric that is not reported.
        """
        reported = tuple(reported)
        for name in self.names():
            if name not in reported:
                where = "objective" if name in self._objective_names() else "constraints"
                raise SearchConfigError(
                    f"{where}: metric {name!r} is not reported by this search; "
                    f"reported metrics: {', '.join(reported)}")

    def _objective_names(self) -> tuple[str, ...]:
        return tuple(self.metric) if isinstance(self.metric, dict) else (self.metric,)

    def value(self, metrics: dict) -> float:
        if isinstance(self.metric, dict):
            return float(sum(w * metrics[name] for name, w in self.metric.items()))
        return float(metrics[self.metric])

    def violation(self, metrics: dict) -> float:
        """Sum of relative bound violations (0 when feasible)."""
        total = 0.0
        for name, (op, bound) in self.constraints.items():
            value = metrics[name]
            excess = value - bound if op == "<=" else bound - value
            if excess > 0:
                total += excess / max(abs(bound), 1e-12)
        return total

    def score(self, metrics: dict) -> float:
        value = self.value(metrics)
        violation = self.violation(metrics)
        if self.constraints and abs(value) >= self.penalty:
            raise SearchConfigError(
                f"penalty: an objective value of {value:g} reaches the penalty "
                f"({self.penalty:g}) that must rank trials breaking the constraints "
                "below every feasible one; give a larger penalty or normalize the "
                "objective")
        if violation <= 0:
            return value
        # infeasible: worse than any feasible value (they lie within +-penalty), and
        # worse the bigger the violation, so an oracle can steer back
        sign = 1.0 if self.goal == "max" else -1.0
        return -sign * self.penalty * (1.0 + min(violation, 1e6))

    def describe(self) -> str:
        if isinstance(self.metric, dict):
            text = "maximize"
            for i, (n, w) in enumerate(self.metric.items()):
                sign = ("-" if w < 0 else "") if i == 0 else ("- " if w < 0 else "+ ")
                text += f" {sign}{abs(w):g}*{n}"
        else:
            text = f"{'maximize' if self.goal == 'max' else 'minimize'} {self.metric}"
        if self.constraints:
            text += " subject to " + ", ".join(
                f"{n} {op} {b:g}" for n, (op, b) in self.constraints.items())
        return text


def as_objective(objective, constraints=None, direction=None) -> SearchObjective:
    if isinstance(objective, SearchObjective):
        if constraints or direction:
            raise SearchConfigError(
                "constraints/direction: give them inside the SearchObjective, not both")
        return objective
    return SearchObjective(objective, constraints or {}, direction)


def metrics_from_result(result, y, network, latency=None) -> dict:
    """The flat metrics every trial reports, from one backend run.

    Parameters
    ----------
    result : Result
        One backend :class:`~snnkit.Result`.
    y : array_like
        The inputs' labels.
    network : FrozenNetwork
        The network that ran.
    latency : LatencyMetrics or None
        If given, its latency metrics
        (:class:`~snnkit.tuning.latency.LatencyMetrics`) are reported too.

    Returns
    -------
    dict
        ``{metric: float}``.

    Raises
    ------
    FailedTrialError
        If a neuron layer never fired.
    """
    rates = result.layer_rates_hz
    silent = [name for name in network.neuron_layers if rates.get(name, 0.0) <= 0.0]
    if silent:
        raise FailedTrialError(
            f"layer(s) {', '.join(map(repr, silent))} silent: no neuron fired on any of "
            f"the {result.n_inputs} validation inputs in {result.n_steps} steps "
            f"(scales {network.scale_firing_rates})")
    watched = network.on_chip_layers or network.neuron_layers
    synops = result.synaptic_ops_per_input
    metrics = {
        "accuracy": result.accuracy(y),
        "synaptic_ops": synops.get("total", 0.0),
        "time_to_decision_steps": float(np.mean(result.time_to_decision())),
        "spikes": float(sum(result.spikes_per_input.values())),
        "min_rate_hz": min(rates[name] for name in watched),
        "max_saturated_fraction": max(result.saturated_fraction[name]
                                      for name in watched),
        "wall_time_s": result.wall_time_s,
        "n_steps": float(result.n_steps),
        "output_onset_steps": float(answered_from_step(
            output_onset_steps(result.outputs, silent_output(network)), result.n_steps)),
    }
    if latency is not None:
        metrics.update(latency.compute(result.accuracy_by_step(y)))
    for name in network.neuron_layers:
        metrics[f"rate_hz/{name}"] = rates[name]
        metrics[f"saturated_fraction/{name}"] = result.saturated_fraction[name]
        metrics[f"synaptic_ops/{name}"] = synops.get(name, 0.0)
        metrics[f"spikes/{name}"] = result.spikes_per_input[name]
    return metrics
