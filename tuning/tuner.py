"""The search engine shared by :class:`ScaleSearch` and :class:`RateTargetSearch`: a
keras-tuner ``BaseTuner`` whose ``run_trial`` returns a flat dict of float metrics.

keras-tuner's Oracle (random, Bayesian optimization, Hyperband) picks hyperparameter
values and records every trial in ``<directory>/<project_name>`` (which is what makes
resume and distribution work); this class runs keras-tuner's trial loop through the
oracle's public methods and evaluates one configuration. Subclasses implement
:meth:`evaluate_trial`. Results: :mod:`snnkit.tuning.results`, and keras-tuner's
``get_best_hyperparameters`` / ``oracle.get_best_trials``.

State: the whole search is one atomic file, and one process at a time may run it
(:mod:`snnkit.tuning.state`); a search killed at any instant resumes without running
a finished trial again. Distributed mode: :mod:`snnkit.tuning.distributed`.

keras-tuner is used through its public API only (``tests/test_keras_tuner_public.py``
checks the source: no ``keras_tuner.src``, no private attribute or method).

Failures: a configuration that does not fit on Loihi cores
(:class:`~snnkit.exceptions.LoihiMappingError`) or that leaves a neuron layer
silent becomes keras-tuner's ``FailedTrialError`` with the reason; the search goes
on. An invalid search configuration raises :class:`SearchConfigError` (a
``FatalValueError``) at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import traceback

from keras_tuner import HyperParameters
from keras_tuner.engine.base_tuner import BaseTuner
from keras_tuner.engine.trial import TrialStatus
from keras_tuner.errors import FailedTrialError, FatalError
from keras_tuner.oracles import (
    BayesianOptimizationOracle,
    HyperbandOracle,
    RandomSearchOracle,
)

from snnkit.exceptions import LoihiMappingError
from snnkit.utils.validation import check_int

from . import distributed
from .distributed import ServedOracle
from .errors import SearchConfigError
from .latency import LatencyMetrics, expand_pareto, latency_names, latency_parameter
from .objective import SCORE, SearchObjective, as_objective
from .results import SearchResults
from .state import (
    STATE_FILE,
    OneFileState,
    SearchLock,
    clear_project,
    remove_stale_files,
    write_json,
)

ORACLES = ("random", "bayesian", "hyperband")


class SnnSearch(SearchResults, BaseTuner):
    """Common machinery; use :class:`ScaleSearch` or :class:`RateTargetSearch`.

    The parameters below are shared by every search; ``hyperparameters``,
    ``reported`` and ``steps_range`` are set by the subclass.

    Parameters
    ----------
    hyperparameters : keras_tuner.HyperParameters
        The search space.
    reported : tuple of str
        The metrics every trial reports.
    objective, constraints
        See :class:`~snnkit.tuning.SearchObjective`.
    oracle : {"random", "bayesian", "hyperband"}
        The keras-tuner oracle.
    max_trials : int
        Trials in total (>= 1), counting trials of an earlier run of the same
        directory; Hyperband stops at its own schedule or here, whichever is first.
    hyperband_max_budget : int
        Hyperband's ``max_epochs``: the largest budget one trial gets (see the
        subclass for what a budget unit is).
    seed : int
        Oracle seed (same seed, same sequence of configurations).
    directory, project_name, overwrite
        Where keras-tuner keeps the search (``overwrite=False`` resumes an existing
        one). A second search on the same project while one runs raises
        :class:`SearchLockedError`.
    max_consecutive_failed_trials : int or None
        Stop after this many failed trials in a row (default: never; a failed trial
        is a result, not an accident).
    chief_timeout_s : float
        In a distributed worker, how long the chief oracle may stay unreachable
        (when the worker starts, or later while it waits for an answer) before
        :class:`ChiefUnreachableError` is raised; a call it does not answer within
        ``max(chief_timeout_s, 300)`` s raises it too.
    expected_workers : int or None
        In the chief, how many workers to wait for: after the last trial it keeps
        answering (up to 120 s) until that many have been told the search is over,
        so a late worker ends cleanly (default: end once every worker heard from is
        done).
    oracle_options : dict or None
        More keras-tuner oracle arguments (e.g. ``num_initial_points`` for Bayesian
        optimization, ``factor`` for Hyperband).
    verbose : int
        keras-tuner's per-trial display (0: quiet).
    steps_range : tuple of (int, int) or None
        ``(smallest, largest)`` ``n_steps`` a trial can run; enables the latency
        metrics and objectives of :mod:`snnkit.tuning.latency`
        (``accuracy_at_steps/N``, ``steps_to_accuracy/X``, ``"pareto"``,
        ``"pareto/X"``).

    Raises
    ------
    SearchConfigError
        For an invalid argument (a ``FatalValueError``).
    """

    default_project_name = "snn_search"

    def __init__(self, *, hyperparameters: HyperParameters, reported: tuple,
                 objective="accuracy", constraints=None, oracle: str = "bayesian",
                 max_trials: int = 20, hyperband_max_budget: int = 9, seed: int = 0,
                 directory=None, project_name: str | None = None, overwrite: bool = False,
                 max_consecutive_failed_trials: int | None = None,
                 chief_timeout_s: float = 120.0, expected_workers: int | None = None,
                 oracle_options=None, verbose: int = 0, steps_range=None):
        if steps_range is not None:
            objective = expand_pareto(objective, max_steps=steps_range[1])
        self.objective = as_objective(objective, constraints)
        self.latency = _latency_metrics(self.objective, steps_range)
        reported = tuple(reported) + (self.latency.names if self.latency else ())
        self.objective.check(reported)
        self.reported = reported
        check_int("max_trials", max_trials, low=1, error=SearchConfigError)
        if oracle not in ORACLES:
            raise SearchConfigError(
                f"oracle: expected one of {', '.join(ORACLES)}, got {oracle!r}")
        check_int("hyperband_max_budget", hyperband_max_budget, low=1,
                  error=SearchConfigError)
        if expected_workers is not None:
            check_int("expected_workers", expected_workers, low=1,
                      error=SearchConfigError)
        self.expected_workers = expected_workers
        if max_consecutive_failed_trials is None:
            max_consecutive_failed_trials = 10 ** 9
        check_int("max_consecutive_failed_trials", max_consecutive_failed_trials, low=1,
                  error=SearchConfigError)
        self.oracle_name = oracle
        self.max_trials = max_trials
        self.hyperband_max_budget = hyperband_max_budget
        self.verbose = verbose
        self.run_trial_calls = 0  # in this process; tests count them
        check_int("seed", seed, low=0, error=SearchConfigError)
        kt_objective = _kt_objective(self.objective)
        # keras-tuner takes seed 0 for "no seed" (a random one): shift by one
        common = dict(objective=kt_objective, hyperparameters=hyperparameters,
                      seed=seed + 1,
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
                kt_oracle = _BayesianOptimizationOracle(max_trials=max_trials,
                                                        **common)
            else:
                common.setdefault("factor", 3)
                kt_oracle = _HyperbandOracle(max_epochs=hyperband_max_budget, **common)
                # the base Oracle stops at max_trials: the same cap for every oracle
                kt_oracle.max_trials = max_trials
        except (TypeError, ValueError) as e:
            raise SearchConfigError(f"oracle_options: {e}") from e
        directory = os.fspath(directory or ".")
        project_name = project_name or self.default_project_name
        if distributed.is_worker():
            distributed.wait_for_chief(chief_timeout_s)
        project_dir = os.path.join(directory, project_name)
        kt_oracle.state_path = os.path.join(project_dir, STATE_FILE)
        kt_oracle.oracle_kind = oracle
        kt_oracle.metric_names = frozenset(self.reported) | {SCORE, "feasible"}
        # the chief (or a local search) owns the project; a worker sharing its
        # directory neither locks nor deletes it
        self._lock = None if distributed.is_worker() else SearchLock(project_dir)
        with self._holding_lock():
            if overwrite and self._lock is not None:
                clear_project(project_dir)
            super().__init__(kt_oracle, directory=directory, project_name=project_name,
                             overwrite=False)
        if distributed.is_worker():  # keras-tuner made self.oracle its gRPC client
            self.oracle = distributed.BoundedOracleClient(
                self.oracle, chief_timeout_s=chief_timeout_s,
                call_timeout_s=max(chief_timeout_s, 300.0))

    # --- one trial -------------------------------------------------------------
    def run_trial(self, trial, *args, **kwargs) -> dict:
        """Evaluate one configuration (called by :meth:`search`).

        Returns
        -------
        dict
            Its metrics (floats) with ``score``.

        Raises
        ------
        FailedTrialError
            If the configuration does not fit on Loihi cores or its objective is not
            finite.
        """
        self.run_trial_calls += 1
        try:
            metrics = self.evaluate_trial(trial)
        except LoihiMappingError as e:
            raise FailedTrialError(
                f"configuration does not fit on Loihi cores: {e}") from e
        metrics = {k: float(v) for k, v in metrics.items()}
        reached = self.latency is None or self.latency.reached(metrics)
        metrics["feasible"] = float(self.objective.violation(metrics) <= 0 and reached)
        metrics[SCORE] = self.objective.score(metrics)
        if not math.isfinite(metrics[SCORE]):
            raise FailedTrialError(f"objective is not finite ({metrics[SCORE]})")
        return metrics

    def evaluate_trial(self, trial) -> dict:
        """Run the configuration of ``trial``.

        Returns
        -------
        dict
            The reported metrics.
        """
        raise NotImplementedError

    def trial_budget(self, trial) -> float:
        """Fraction of the full budget Hyperband gives this trial (1 otherwise)."""
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        return 1.0 if epochs is None else float(epochs) / self.hyperband_max_budget

    # --- search ----------------------------------------------------------------
    def search(self, *args, **kwargs):
        """Run trials until ``max_trials`` have finished.

        Resumes an earlier run of the same directory: finished trials are kept, an
        interrupted one runs again. In distributed mode the chief serves the oracle
        until every worker is done; workers run trials.

        Holds the project's lock while it runs; first re-reads the project's state
        (another process may have run trials since this object was made) and deletes
        temporary files left by killed processes.

        Returns
        -------
        SnnSearch
            ``self``.
        """
        verbose = kwargs.pop("verbose", self.verbose)
        with self._holding_lock():
            if self._lock is not None:
                if os.path.isfile(self.oracle.state_path):
                    self.oracle.reload()
                remove_stale_files(self.project_dir)
                self.oracle.verbose = verbose
                # the tuner file exists before any trial is recorded: keras-tuner's
                # constructor reloads a project only when it finds that file
                self.save()
            if distributed.is_chief():
                distributed.serve_search(self, expected_workers=self.expected_workers)
            else:
                self._run_trials(verbose, *args, **kwargs)
        return self

    def _run_trials(self, verbose, *args, **kwargs) -> None:
        """keras-tuner's trial loop (``BaseTuner.search``) through the oracle's public
        methods, recording a failed trial's reason without printing its traceback
        unless ``verbose``."""
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:  # the oracle is busy: ask again
                continue
            self.on_trial_begin(trial)
            try:
                metrics = self.run_trial(trial, *args, **kwargs)
                # a flat dict of floats: what keras-tuner sends over gRPC
                self.oracle.update_trial(trial.trial_id, metrics)
                trial.status = TrialStatus.COMPLETED
            except FatalError:
                raise
            except Exception as e:
                if verbose:
                    traceback.print_exc()
                trial.status = TrialStatus.FAILED if isinstance(e, FailedTrialError) \
                    else TrialStatus.INVALID
                trial.message = traceback.format_exc()
            self.on_trial_end(trial)
        self.on_search_end()

    def save(self):
        """keras-tuner's save: the oracle's state, then this tuner's file.

        The oracle's state is one atomic file with every trial; this tuner's file is
        atomic too.
        """
        if not distributed.is_worker():
            self.oracle.save()
        state = self.get_state()
        if state != getattr(self, "_saved_tuner_state", None):
            write_json(os.path.join(self.project_dir, f"{self.tuner_id}.json"), state)
            self._saved_tuner_state = state

    def reload(self):
        """The oracle's state, checked field by field (:mod:`snnkit.tuning.state_check`).

        The tuner's own file (``tuner0.json``) is written for keras-tuner's layout but
        never read back: its state is empty, so a damaged one cannot stop a resume.
        """
        if not distributed.is_worker():
            self.oracle.reload()

    @contextlib.contextmanager
    def _holding_lock(self):
        if self._lock is None:
            yield
            return
        with self._lock:
            yield


class _RandomSearchOracle(ServedOracle, OneFileState, RandomSearchOracle):
    pass


class _BayesianOptimizationOracle(ServedOracle, OneFileState,
                                  BayesianOptimizationOracle):
    pass


class _HyperbandOracle(ServedOracle, OneFileState, HyperbandOracle):
    pass


def _kt_objective(objective: SearchObjective):
    import keras_tuner

    return keras_tuner.Objective(SCORE, direction=objective.goal)


def _latency_metrics(objective: SearchObjective, steps_range) -> LatencyMetrics | None:
    """The latency metrics ``objective`` reads, checked against the step range (None
    when the search has no step range: they are then not reported)."""
    names = latency_names(objective.metric, objective.constraints)
    if steps_range is None:
        return None
    low, high = steps_range
    for name in names:
        where = "constraints" if name in objective.constraints else "objective"
        latency_parameter(name, where=where, min_steps=low)
    return LatencyMetrics(names, int(low), int(high))
