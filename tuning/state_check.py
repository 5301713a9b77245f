"""Check a search's saved state (``oracle.json``) field by field before keras-tuner
uses any of it.

keras-tuner's own reload trusts the file: a trial status it does not know, a NaN
score, a hyperparameter value outside the search space, an ``ongoing_trials`` entry
naming no trial all load, and then steer the search or fail deep inside it. Here the
whole state is checked against the schema keras-tuner 1.4 writes and against the
search itself (its space, its metrics, its oracle), in time linear in the file's size.
Every failure is one :class:`~snnkit.tuning.errors.SearchStateError` naming the file
and the field, with what was expected and what was found.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from keras_tuner.engine.trial import TrialStatus

from snnkit.exceptions import shown
from snnkit.utils.validation import check_int, check_number, fail

from .errors import SearchStateError

MAX_STATE_BYTES = 256 * 2 ** 20  # a search of 10^5 trials takes a few tens of MB
STATUSES = (TrialStatus.RUNNING, TrialStatus.IDLE, TrialStatus.INVALID,
            TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED)
# keras-tuner's Hyperband writes these beside the search's own hyperparameters
HYPERBAND_VALUES = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket",
                    "tuner/round", "tuner/trial_id")
_BASE_KEYS = ("ongoing_trials", "hyperparameters", "start_order", "end_order",
              "run_times", "retry_queue", "seed", "seed_state", "tried_so_far",
              "id_to_hash", "display", "trials")
_ORACLE_KEYS = {
    "random": (),
    "bayesian": ("num_initial_points", "alpha", "beta"),
    "hyperband": ("hyperband_iterations", "max_epochs", "min_epochs", "factor",
                  "brackets", "current_bracket", "current_iteration"),
}
_TRIAL_KEYS = ("trial_id", "hyperparameters", "metrics", "score", "best_step",
               "status", "message")


def read_search_state(path, *, space_config: list, metric_names, oracle: str,
                      trial_files=None) -> dict:
    """The JSON state in ``path``, checked by :func:`check_search_state`.

    Parameters
    ----------
    path : str or os.PathLike
        The state file.
    space_config, metric_names, oracle
        What the state is checked against (see :func:`check_search_state`).
    trial_files : callable or None
        A state without ``trials`` (keras-tuner's own layout) gets them from the
        files that ``trial_files(project_dir)`` lists, each checked and named on
        failure.

    Returns
    -------
    dict
        The state.

    Raises
    ------
    SearchStateError
        Naming the file and the field.
    """
    path = os.fspath(path)
    state = _read_json(path)
    sources = {}
    if isinstance(state, dict) and "trials" not in state and trial_files is not None:
        state["trials"] = {}
        for trial_path in trial_files(os.path.dirname(path)):
            trial = _read_json(trial_path)
            trial_id = trial.get("trial_id") if isinstance(trial, dict) else None
            if not isinstance(trial_id, str) or trial_id in state["trials"]:
                _Checker(trial_path).fail("trial_id", "a trial id no other file has",
                                          trial_id)
            state["trials"][trial_id], sources[trial_id] = trial, trial_path
    check_search_state(state, path=path, space_config=space_config,
                       metric_names=metric_names, oracle=oracle, trial_sources=sources)
    return state


def _read_json(path: str):
    size = os.path.getsize(path)
    if size > MAX_STATE_BYTES:
        raise SearchStateError(f"{path}: {size} bytes, more than a search state can hold "
                               f"({MAX_STATE_BYTES}); not a search state file")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise SearchStateError(f"{path}: not a readable search state ({e}); pass "
                               "overwrite=True (or another project_name) to start "
                               "afresh") from e


def check_search_state(state, *, path, space_config: list, metric_names,
                       oracle: str, trial_sources=None) -> None:
    """Check that ``state`` is a state this search wrote.

    keras-tuner 1.4's schema for ``oracle`` plus snnkit's ``trials``; every trial id
    it refers to exists; every trial's hyperparameters use this search's space with
    values inside it; a completed trial reports every metric in ``metric_names``;
    scores, metric values, counts and times are finite and in range.

    Parameters
    ----------
    state : dict
        The state read.
    path : str or os.PathLike
        The file it came from.
    space_config : list
        This search's space: the ``"space"`` list of
        ``HyperParameters.get_config()``.
    metric_names : iterable of str
        The metrics every completed trial reports.
    oracle : {"random", "bayesian", "hyperband"}
        The oracle whose schema the state follows.
    trial_sources : dict or None
        Maps a trial id to the file it came from, if not ``path``.

    Raises
    ------
    SearchStateError
        Unless ``state`` is a state this search wrote.
    """
    c = _Checker(os.fspath(path))
    trial_sources = trial_sources or {}
    c.keys("state", state, _BASE_KEYS + _ORACLE_KEYS[oracle])
    trials = state["trials"]
    c.kind("trials", trials, dict, "a dict of trial id -> trial")
    ids = set(trials)
    space = c.space("hyperparameters", state["hyperparameters"], space_config)
    for name, value in state["hyperparameters"]["values"].items():
        if name not in space:
            c.fail("hyperparameters.values", "names of this search's hyperparameters: "
                   + ", ".join(space), name)
        _check_value(c, f"hyperparameters.values[{name!r}]", value, space[name])
    for trial_id, trial in trials.items():
        source = trial_sources.get(trial_id)
        _check_trial(_Checker(source) if source else c,
                     "trial" if source else f"trials[{trial_id!r}]", trial_id, trial,
                     space, space_config, set(metric_names), ids, oracle)
    c.kind("ongoing_trials", state["ongoing_trials"], dict, "a dict")
    for tuner_id, trial_id in state["ongoing_trials"].items():
        c.trial_id(f"ongoing_trials[{tuner_id!r}]", trial_id, ids)
    for key in ("start_order", "end_order", "retry_queue"):
        for where, trial_id in c.items(key, state[key]):
            c.trial_id(where, trial_id, ids)
    c.kind("run_times", state["run_times"], dict, "a dict of trial id -> count")
    for trial_id, count in state["run_times"].items():
        c.trial_id(f"run_times key {trial_id!r}", trial_id, ids)
        c.integer(f"run_times[{trial_id!r}]", count, 0)
    c.integer("seed", state["seed"], 0)
    c.integer("seed_state", state["seed_state"], 0)
    for where, digest in c.items("tried_so_far", state["tried_so_far"]):
        c.kind(where, digest, str, "a hash string")
    c.kind("id_to_hash", state["id_to_hash"], dict, "a dict of trial id -> hash")
    for trial_id, digest in state["id_to_hash"].items():
        c.trial_id(f"id_to_hash key {trial_id!r}", trial_id, ids)
        if digest is not None:
            c.kind(f"id_to_hash[{trial_id!r}]", digest, str, "a hash string or null")
    _check_display(c, state["display"])
    if oracle == "bayesian":
        if state["num_initial_points"] is not None:
            c.integer("num_initial_points", state["num_initial_points"], 1)
        c.number("alpha", state["alpha"], 0)
        c.number("beta", state["beta"], 0)
    elif oracle == "hyperband":
        _check_hyperband(c, state, ids)


def _check_trial(c, where, trial_id, trial, space, space_config, metric_names, ids,
                 oracle):
    c.keys(where, trial, _TRIAL_KEYS)
    if trial["trial_id"] != trial_id:
        c.fail(f"{where}.trial_id", f"{trial_id!r} (its key)", trial["trial_id"])
    status = trial["status"]
    if status not in STATUSES:
        c.fail(f"{where}.status", "one of " + ", ".join(STATUSES), status)
    score = trial["score"]
    if status == TrialStatus.COMPLETED or score is not None:
        c.number(f"{where}.score", score)
    if trial["best_step"] is not None:
        c.integer(f"{where}.best_step", trial["best_step"], 0)
    if trial["message"] is not None:
        c.kind(f"{where}.message", trial["message"], str, "a string or null")
    hp = trial["hyperparameters"]
    c.space(f"{where}.hyperparameters", hp, space_config)
    values = hp["values"]
    extra = HYPERBAND_VALUES if oracle == "hyperband" else ()
    for name, value in values.items():
        if name in space:
            _check_value(c, f"{where}.hyperparameters.values[{name!r}]", value,
                         space[name])
        elif name in extra:
            if name == "tuner/trial_id":
                c.trial_id(f"{where}.hyperparameters.values[{name!r}]", value, ids)
            else:
                c.integer(f"{where}.hyperparameters.values[{name!r}]", value, 0)
        else:
            c.fail(f"{where}.hyperparameters.values",
                   "names of this search's hyperparameters: " + ", ".join(space),
                   name)
    if status in (TrialStatus.COMPLETED, TrialStatus.RUNNING):
        missing = sorted(set(space) - set(values))
        if missing:
            c.fail(f"{where}.hyperparameters.values",
                   "a value for every hyperparameter", f"none for {', '.join(missing)}")
    metrics = trial["metrics"]
    c.keys(f"{where}.metrics", metrics, ("metrics",))
    c.kind(f"{where}.metrics.metrics", metrics["metrics"], dict, "a dict")
    if status == TrialStatus.COMPLETED:
        missing = sorted(set(metric_names) - set(metrics["metrics"]))
        if missing:
            c.fail(f"{where}.metrics", "the metrics every finished trial reports",
                   f"none for {', '.join(missing)}")
    for name, tracker in metrics["metrics"].items():
        m = f"{where}.metrics[{name!r}]"
        if not 0 < len(name) <= 200:
            c.fail(f"{where}.metrics", "metric names of 1 to 200 characters", name)
        c.keys(m, tracker, ("direction", "observations"))
        if tracker["direction"] not in ("min", "max"):
            c.fail(f"{m}.direction", "'min' or 'max'", tracker["direction"])
        for o, observation in c.items(f"{m}.observations", tracker["observations"]):
            c.keys(o, observation, ("value", "step"))
            c.integer(f"{o}.step", observation["step"], 0)
            for v, value in c.items(f"{o}.value", observation["value"]):
                c.number(v, value)


def _check_value(c, where, value, hp: dict) -> None:
    """``value`` inside the hyperparameter ``hp`` (a ``get_config()`` entry)."""
    kind, config = hp["class_name"], hp["config"]
    if kind == "Float":
        c.number(where, value)
        if not config["min_value"] <= value <= config["max_value"]:
            c.fail(where, f"a number in [{config['min_value']}, {config['max_value']}]",
                   value)
    elif kind == "Int":
        c.integer(where, value)
        if not config["min_value"] <= value <= config["max_value"]:
            c.fail(where, f"an int in [{config['min_value']}, {config['max_value']}]",
                   value)
    elif kind == "Choice":
        if not any(type(value) is type(v) and value == v for v in config["values"]):
            c.fail(where, f"one of {config['values']}", value)
    elif kind == "Fixed":
        if not (type(value) is type(config["value"]) and value == config["value"]):
            c.fail(where, f"the fixed value {config['value']!r}", value)
    elif kind == "Boolean":
        c.kind(where, value, bool, "true or false")
    else:  # the search's own space holds no other kind
        c.fail(where, "a Float, Int, Choice, Fixed or Boolean hyperparameter", kind)


def _check_display(c, display) -> None:
    c.keys("display", display, ("search_start", "trial_start", "trial_number"))
    if display["search_start"] is not None:
        c.timestamp("display.search_start", display["search_start"])
    c.kind("display.trial_start", display["trial_start"], dict, "a dict")
    for key, value in display["trial_start"].items():
        c.timestamp(f"display.trial_start[{key!r}]", value)
    c.kind("display.trial_number", display["trial_number"], dict, "a dict")
    for key, value in display["trial_number"].items():
        c.integer(f"display.trial_number[{key!r}]", value, 0)


def _check_hyperband(c, state, ids) -> None:
    c.integer("hyperband_iterations", state["hyperband_iterations"], 1)
    c.integer("min_epochs", state["min_epochs"], 1)
    c.integer("max_epochs", state["max_epochs"], state["min_epochs"])
    c.integer("factor", state["factor"], 2)
    c.integer("current_bracket", state["current_bracket"], 0)
    c.integer("current_iteration", state["current_iteration"], 0)
    for b, bracket in c.items("brackets", state["brackets"]):
        c.keys(b, bracket, ("bracket_num", "rounds"))
        c.integer(f"{b}.bracket_num", bracket["bracket_num"], 0)
        for r, entries in c.items(f"{b}.rounds", bracket["rounds"]):
            for e, entry in c.items(r, entries):
                c.keys(e, entry, ("past_id", "id"))
                c.trial_id(f"{e}.id", entry["id"], ids)
                if entry["past_id"] is not None:
                    c.trial_id(f"{e}.past_id", entry["past_id"], ids)


class _Checker:
    """Field checks that raise :class:`SearchStateError` naming the file and field
    (the package's own checks of :mod:`snnkit.utils.validation`, given :meth:`error`)."""

    def __init__(self, path: str):
        self.path = path

    def error(self, message: str) -> SearchStateError:
        """``message`` about a field, with the file and what to do."""
        return SearchStateError(
            f"{self.path}: {message}; the search state is damaged: pass overwrite=True "
            "(or another project_name) to start afresh")

    def fail(self, field, expected, got):
        fail(field, expected, got, error=self.error)

    def kind(self, field, value, kind, expected):
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.fail(field, expected, value)

    def items(self, field, value):
        """``(field[i], item)`` for each item of the list ``value``."""
        self.kind(field, value, list, "a list")
        return ((f"{field}[{i}]", item) for i, item in enumerate(value))

    def keys(self, field, value, keys):
        self.kind(field, value, dict, "an object")
        missing = [k for k in keys if k not in value]
        unknown = [k for k in value if k not in keys]
        if missing or unknown:
            self.fail(field, "the keys " + ", ".join(keys),
                      "missing: " + ", ".join(missing) if missing
                      else "unknown: " + ", ".join(map(str, unknown)))

    def integer(self, field, value, low=None):
        check_int(field, value, low=low, error=self.error)

    def number(self, field, value, low=None):
        check_number(field, value, low=low, error=self.error)

    def trial_id(self, field, value, ids):
        if not isinstance(value, str) or value not in ids:
            self.fail(field, "the id of a trial in 'trials'", value)

    def timestamp(self, field, value):
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(field, "an ISO 8601 time", value)

    def space(self, field, config, space_config) -> dict:
        """Check a ``HyperParameters.get_config()`` against the search's own space.

        Returns
        -------
        dict
            ``{name: hyperparameter config}``.
        """
        self.keys(field, config, ("space", "values"))
        self.kind(f"{field}.values", config["values"], dict, "a dict")
        if config["space"] != space_config:
            raise SearchStateError(
                f"{self.path}: {field}.space: the saved search space is not this "
                "search's (did the search's settings change? this search's: "
                f"{shown(json.dumps(space_config), 300)}; saved: "
                f"{shown(json.dumps(config['space']), 300)}); resume with the same "
                "settings, or pass overwrite=True (or another project_name) to start "
                "afresh")
        return {hp["config"]["name"]: hp for hp in space_config}


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")
