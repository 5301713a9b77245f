"""The search engine shared by :class:`ScaleSearch` and :class:`RateTargetSearch`: a
keras-tuner ``BaseTuner`` whose ``run_trial`` returns a flat dict of float metrics.

keras-tuner runs the loop: the Oracle (random, Bayesian optimization, Hyperband)
picks hyperparameter values and records every trial as JSON in
``<directory>/<project_name>`` (which is what makes resume and distribution work);
this class evaluates one configuration. Subclasses implement :meth:`evaluate_trial`.

Failures: a configuration that does not fit on Loihi cores
(:class:`~snnkit.exceptions.LoihiMappingError`) or that leaves a neuron layer
silent becomes keras-tuner's ``FailedTrialError`` with the reason; the search goes
on. An invalid search configuration raises :class:`SearchConfigError` (a
``FatalValueError``) at once.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
from keras_tuner import HyperParameters
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.errors import FailedTrialError
from keras_tuner.oracles import (
    BayesianOptimizationOracle,
    HyperbandOracle,
    RandomSearchOracle,
)

from snnkit._io import atomic_write
from snnkit.exceptions import LoihiMappingError, SnnkitError

from . import distributed
from .errors import SearchConfigError
from .objective import SCORE, SearchObjective, as_objective

ORACLES = ("random", "bayesian", "hyperband")


class SnnSearch(BaseTuner):
    """Common machinery; use :class:`ScaleSearch` or :class:`RateTargetSearch`.

    Parameters (shared)
    -------------------
    objective, constraints : see :class:`~snnkit.tuning.SearchObjective`.
    oracle : ``"random"``, ``"bayesian"`` or ``"hyperband"``.
    max_trials : trials in total (>= 1), counting trials of an earlier run of the same
        directory; Hyperband stops at its own schedule or here, whichever is first.
    hyperband_max_budget : Hyperband's ``max_epochs``: the largest budget one trial
        gets (see the subclass for what a budget unit is).
    seed : oracle seed (same seed, same sequence of configurations).
    directory, project_name, overwrite : where keras-tuner keeps the search
        (``overwrite=False`` resumes an existing one).
    max_consecutive_failed_trials : stop after this many failed trials in a row
        (default: never; a failed trial is a result, not an accident).
    chief_timeout_s : in a distributed worker, how long to wait for the chief oracle
        to answer before raising :class:`ChiefUnreachableError`.
    expected_workers : in the chief, how many workers to wait for: after the last
        trial it keeps answering (up to 120 s) until that many have been told the
        search is over, so a late worker ends cleanly (default: stop at once).
    oracle_options : more keras-tuner oracle arguments (e.g. ``num_initial_points``
        for Bayesian optimization, ``factor`` for Hyperband).
    verbose : keras-tuner's per-trial display (0: quiet).
    """

    default_project_name = "snn_search"

    def __init__(self, *, hyperparameters: HyperParameters, reported: tuple,
                 objective="accuracy", constraints=None, oracle: str = "bayesian",
                 max_trials: int = 20, hyperband_max_budget: int = 9, seed: int = 0,
                 directory=None, project_name: str | None = None, overwrite: bool = False,
                 max_consecutive_failed_trials: int | None = None,
                 chief_timeout_s: float = 120.0, expected_workers: int | None = None,
                 oracle_options=None, verbose: int = 0):
        self.objective = as_objective(objective, constraints)
        self.objective.check(reported)
        self.reported = tuple(reported)
        _check_int("max_trials", max_trials, 1)
        if oracle not in ORACLES:
            raise SearchConfigError(
                f"oracle: expected one of {', '.join(ORACLES)}, got {oracle!r}")
        _check_int("hyperband_max_budget", hyperband_max_budget, 1)
        if expected_workers is not None:
            _check_int("expected_workers", expected_workers, 1)
        self.expected_workers = expected_workers
        if max_consecutive_failed_trials is None:
            max_consecutive_failed_trials = 10 ** 9
        _check_int("max_consecutive_failed_trials", max_consecutive_failed_trials, 1)
        self.oracle_name = oracle
        self.max_trials = max_trials
        self.hyperband_max_budget = hyperband_max_budget
        self.verbose = verbose
        self.run_trial_calls = 0  # in this process; tests count them
        _check_int("seed", seed, 0)
        kt_objective = _kt_objective(self.objective)
        # keras-tuner takes seed 0 for "no seed" (a random one): shift by one
        common = dict(objective=kt_objective, hyperparameters=hyperparameters, seed=seed + 1,
                      allow_new_entries=False, tune_new_entries=True,
                      max_consecutive_failed_trials=max_consecutive_failed_trials)
        extra = dict(oracle_options or {})
        clash = sorted(set(extra) & (set(common) | {"max_trials", "max_epochs"}))
        if clash:
            raise SearchConfigError(
                f"oracle_options: {', '.join(clash)} are set by the search itself; "
                "use its own arguments")
        common.update(extra)
        try:
            if oracle == "random":
                kt_oracle = _RandomSearchOracle(max_trials=max_trials, **common)
            elif oracle == "bayesian":
                kt_oracle = _BayesianOptimizationOracle(max_trials=max_trials, **common)
            else:
                common.setdefault("factor", 3)
                kt_oracle = _HyperbandOracle(max_epochs=hyperband_max_budget, **common)
                # the base Oracle stops at max_trials: the same cap for every oracle
                kt_oracle.max_trials = max_trials
        except (TypeError, ValueError) as e:
            raise SearchConfigError(f"oracle_options: {e}") from e
        if distributed.is_worker():
            distributed.wait_for_chief(chief_timeout_s)
            distributed.bound_client_wait(max(chief_timeout_s, 300.0))
            # the chief owns the project: a worker sharing its directory must never
            # delete it
            overwrite = False
        super().__init__(kt_oracle, directory=os.fspath(directory or "."),
                         project_name=project_name or self.default_project_name,
                         overwrite=overwrite)

    # --- one trial -------------------------------------------------------------
    def run_trial(self, trial, *args, **kwargs) -> dict:
        """Evaluate one configuration; returns its metrics (floats) with ``score``."""
        self.run_trial_calls += 1
        try:
            metrics = self.evaluate_trial(trial)
        except LoihiMappingError as e:
            raise FailedTrialError(f"configuration does not fit on Loihi cores: {e}") from e
        metrics = {k: float(v) for k, v in metrics.items()}
        metrics["feasible"] = float(self.objective.violation(metrics) <= 0)
        metrics[SCORE] = self.objective.score(metrics)
        if not math.isfinite(metrics[SCORE]):
            raise FailedTrialError(f"objective is not finite ({metrics[SCORE]})")
        return metrics

    def evaluate_trial(self, trial) -> dict:
        """Run the configuration of ``trial``; return the reported metrics."""
        raise NotImplementedError

    def trial_budget(self, trial) -> float:
        """Fraction of the full budget Hyperband gives this trial (1 otherwise)."""
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        return 1.0 if epochs is None else float(epochs) / self.hyperband_max_budget

    # --- search ----------------------------------------------------------------
    def search(self, *args, **kwargs):
        """Run trials until ``max_trials`` exist (resuming an earlier run of the same
        directory). In distributed mode the chief serves the oracle until every
        worker is done; workers run trials. Returns ``self``."""
        kwargs.setdefault("verbose", self.verbose)
        if distributed.is_chief():
            self.oracle.verbose = kwargs["verbose"]
            self.save()
            distributed.serve_oracle(self.oracle, expected_workers=self.expected_workers)
            return self
        from keras_tuner.src import config as kt_config

        # keras-tuner prints the traceback of every failed trial when DEBUG is on
        # (its default); the reason is kept in the trial record either way
        debug, kt_config.DEBUG = kt_config.DEBUG, bool(kwargs["verbose"])
        try:
            super().search(*args, **kwargs)
        finally:
            kt_config.DEBUG = debug
        return self

    def save(self):
        """keras-tuner's save (oracle state, then this tuner's file), both atomic."""
        if not self._is_worker():
            self.oracle.save()
        _write_json(self._get_tuner_fname(), self.get_state())

    # --- results ---------------------------------------------------------------
    def trials(self) -> list[dict]:
        """Every recorded trial, in the order they started: ``trial_id``,
        ``status`` (COMPLETED, FAILED, RUNNING, ...), ``hyperparameters``,
        ``metrics`` (empty unless completed), ``score`` and ``reason`` (why it
        failed)."""
        oracle = self._local_oracle("trials")
        records = []
        for trial_id in sorted(oracle.trials, key=int):
            trial = oracle.trials[trial_id]
            metrics = {name: trial.metrics.get_last_value(name)
                       for name in trial.metrics.metrics}
            records.append({
                "trial_id": trial.trial_id,
                "status": trial.status,
                "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items()},
                "metrics": metrics,
                "score": trial.score,
                "reason": _reason(trial.message) if trial.status != "COMPLETED" else None,
            })
        return records

    def best_trial(self, *, require_feasible: bool = True) -> dict:
        """The completed trial with the best score (by default only among trials that
        meet the constraints)."""
        done = [t for t in self.trials() if t["status"] == "COMPLETED"
                and (not require_feasible or t["metrics"].get("feasible", 1.0) > 0)]
        if not done:
            statuses = ", ".join(
                f"{t['trial_id']}: {t['status']}" + (
                    " but breaks the constraints"
                    if t["status"] == "COMPLETED" and t["metrics"].get("feasible") == 0
                    else "") for t in self.trials())
            raise SnnkitError(
                "best_trial: no completed trial"
                + (" meets the constraints" if require_feasible else "")
                + f" ({statuses or 'no trials yet'})")
        sign = 1 if self.objective.goal == "max" else -1
        return max(done, key=lambda t: sign * t["score"])

    def best_hyperparameters_dict(self) -> dict:
        return self.best_trial()["hyperparameters"]

    def best_metrics(self) -> dict:
        return self.best_trial()["metrics"]

    def best_network(self):
        """The best configuration as a :class:`~snnkit.FrozenNetwork`."""
        raise NotImplementedError

    def export_best(self, path):
        """Write :meth:`best_network` to ``path`` (atomically); returns the path."""
        return self.best_network().save(path)

    def summary_dict(self) -> dict:
        """JSON-ready: objective, counts, the best trial and every trial."""
        records = self.trials()
        try:
            best = self.best_trial()
        except SnnkitError:
            best = None
        counts = {}
        for t in records:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        return {"objective": self.objective.describe(), "oracle": self.oracle_name,
                "project_dir": self.project_dir, "counts": counts, "best": best,
                "trials": records}

    def write_summary(self, path) -> str:
        """Write :meth:`summary_dict` as JSON, atomically; returns the path."""
        with atomic_write(path, "w") as f:
            json.dump(self.summary_dict(), f, indent=2, default=float)
        return os.fspath(path)

    def results_summary(self, num_trials: int = 10) -> str:
        """Print (and return) the best ``num_trials`` trials with their figures, then
        every failed trial with its reason."""
        records = self.trials()
        sign = 1 if self.objective.goal == "max" else -1
        done = sorted((t for t in records if t["status"] == "COMPLETED"),
                      key=lambda t: (-t["metrics"].get("feasible", 1.0), -sign * t["score"]))
        failed = [t for t in records if t["status"] != "COMPLETED"]
        lines = [f"Search in {self.project_dir}: {self.objective.describe()}",
                 f"oracle {self.oracle_name}; {len(done)} completed, "
                 f"{len(failed)} failed or unfinished, of max_trials {self.max_trials}"]
        header = (f"{'trial':>6} {'score':>10} {'accuracy':>9} {'synops/input':>13} "
                  f"{'decision':>9} {'min rate':>9} {'sat':>6} {'ok':>3}  configuration")
        lines += [header, "-" * len(header)]
        for t in done[:num_trials]:
            m = t["metrics"]
            config = " ".join(f"{k}={_fmt(v)}" for k, v in t["hyperparameters"].items()
                              if not k.startswith("tuner/"))
            lines.append(
                f"{t['trial_id']:>6} {t['score']:>10.4g} {m.get('accuracy', float('nan')):>9.4f} "
                f"{m.get('synaptic_ops', float('nan')):>13.4g} "
                f"{m.get('time_to_decision_steps', float('nan')):>9.2f} "
                f"{m.get('min_rate_hz', float('nan')):>7.1f}Hz "
                f"{m.get('max_saturated_fraction', float('nan')):>6.3f} "
                f"{'yes' if m.get('feasible', 1) > 0 else 'no':>3}  {config}")
        for t in failed:
            lines.append(f"{t['trial_id']:>6} {t['status']}: {t['reason']}")
        text = "\n".join(lines)
        print(text)
        return text

    # --- helpers -----------------------------------------------------------------
    def _local_oracle(self, what):
        if distributed.is_worker():
            raise SnnkitError(
                f"{what}: a distributed worker does not hold the search's records; "
                "ask the chief (its directory has every trial)")
        return self.oracle


class _AtomicSaves:
    """keras-tuner writes ``oracle.json`` and each ``trial.json`` in place: a process
    killed mid-write would leave a truncated file that breaks resuming. Same files,
    same JSON, written through a temporary file and a rename."""

    def save(self):
        _write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        _write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                    trial.get_state())


class _RandomSearchOracle(_AtomicSaves, RandomSearchOracle):
    pass


class _BayesianOptimizationOracle(_AtomicSaves, BayesianOptimizationOracle):
    pass


class _HyperbandOracle(_AtomicSaves, HyperbandOracle):
    pass


def _write_json(path, state) -> None:
    text = json.dumps(state)
    with atomic_write(path, "w") as f:
        f.write(text)


def metrics_from_result(result, y, network) -> dict:
    """The flat metrics every trial reports, from one backend :class:`Result`;
    raises ``FailedTrialError`` if a neuron layer never fired."""
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
        "max_saturated_fraction": max(result.saturated_fraction[name] for name in watched),
        "wall_time_s": result.wall_time_s,
    }
    for name in network.neuron_layers:
        metrics[f"rate_hz/{name}"] = rates[name]
        metrics[f"saturated_fraction/{name}"] = result.saturated_fraction[name]
        metrics[f"synaptic_ops/{name}"] = synops.get(name, 0.0)
        metrics[f"spikes/{name}"] = result.spikes_per_input[name]
    return metrics


def check_bounds(argument: str, value, *, integer: bool = False):
    """A search dimension: a number (fixed), ``(low, high)`` with ``0 < low < high``
    (searched, log scale), or a list of values (one is chosen)."""
    kind = "int" if integer else "number"
    if isinstance(value, list):
        if not value or not all(_positive(v, integer) for v in value):
            raise SearchConfigError(
                f"{argument}: expected a non-empty list of {kind}s > 0, got {value!r}")
        return ("choice", [int(v) if integer else float(v) for v in value])
    if isinstance(value, tuple):
        if len(value) != 2 or not all(_positive(v, integer) for v in value):
            raise SearchConfigError(
                f"{argument}: expected (low, high) {kind}s with 0 < low < high, "
                f"got {value!r}")
        low, high = value
        if not low < high:
            raise SearchConfigError(
                f"{argument}: bounds reversed or empty: expected low < high, got "
                f"(low={low!r}, high={high!r})")
        return ("range", (int(low), int(high)) if integer else (float(low), float(high)))
    if _positive(value, integer):
        return ("fixed", int(value) if integer else float(value))
    raise SearchConfigError(
        f"{argument}: expected a {kind} > 0, (low, high) bounds or a list of values, "
        f"got {value!r}")


def add_dimension(hp: HyperParameters, name: str, spec, *, integer: bool = False):
    kind, value = spec
    if kind == "fixed":
        hp.Fixed(name, value)
    elif kind == "choice":
        hp.Choice(name, value)
    elif integer:
        hp.Int(name, value[0], value[1])
    else:
        hp.Float(name, value[0], value[1], sampling="log")


def _positive(value, integer):
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, (int, np.integer)) and value > 0
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        math.isfinite(value) and value > 0


def _check_int(argument, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SearchConfigError(f"{argument}: expected an int >= {minimum}, got {value!r}")


def _kt_objective(objective: SearchObjective):
    import keras_tuner

    return keras_tuner.Objective(SCORE, direction=objective.goal)


def _reason(message) -> str:
    if not message:
        return "no reason recorded (the trial did not finish)"
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":")[0]
        if "Error" in head or "Exception" in head:
            kind, _, text = line.strip().partition(":")
            return f"{kind.rsplit('.', 1)[-1]}:{text}"
    return lines[-1].strip()


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

