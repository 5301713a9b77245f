"""A search's saved state (``oracle.json``) is checked field by field before
keras-tuner uses it (snnkit.tuning.state_check): every damaged field is one
SearchStateError naming the file and the field; a state the search wrote itself
always loads; a seeded fuzz of a few hundred damaged states gives only clean errors
or states that load and resume. Searches are :class:`ToySearch` (trials cost
nothing)."""

from __future__ import annotations

import copy
import json
import random
import shutil

import pytest

import snnkit.tuning.state_check as state_check
from snnkit.tuning import SearchStateError
from snnkit.tuning.state import repair_state
from toy_search import ToySearch

ORACLES = ("random", "bayesian", "hyperband")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """``{oracle: project folder}`` of a finished 3-trial search (trial 1 failed)."""
    out = {}
    for oracle in ORACLES:
        directory = tmp_path_factory.mktemp(oracle)
        ToySearch(directory, max_trials=3, oracle=oracle).search()
        out[oracle] = directory
    return out


def copy_of(saved, oracle, tmp_path):
    shutil.copytree(saved[oracle] / "toy", tmp_path / "toy")
    path = tmp_path / "toy" / "oracle.json"
    return path, json.loads(path.read_text())


def refused(tmp_path, oracle, state, *fragments, text=None):
    path = tmp_path / "toy" / "oracle.json"
    path.write_text(text if text is not None else json.dumps(state))
    with pytest.raises(SearchStateError) as info:
        ToySearch(tmp_path, max_trials=3, oracle=oracle)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def _set(state, dotted, value):
    *parents, last = dotted
    node = state
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

# (oracle, field path, new value, fragments the message must hold)
CASES = [
    ("random", ("trials", "0", "status"), "DONE", ["trials['0'].status", "'DONE'"]),
    ("random", ("trials", "0", "score"), "0.5", ["trials['0'].score", "finite number"]),
    ("random", ("trials", "0", "score"), None, ["trials['0'].score"]),
    ("random", ("trials", "2", "score"), 1e999, ["trials['2'].score", "inf"]),
    ("random", ("trials", "0", "hyperparameters", "values", "x"), 5.0,
     ["trials['0'].hyperparameters.values['x']", "[0.0, 1.0]", "5.0"]),
    ("random", ("trials", "0", "hyperparameters", "values", "x"), "0.3",
     ["values['x']", "'0.3'"]),
    ("random", ("trials", "0", "hyperparameters", "values", "y"), 0.5,
     ["trials['0'].hyperparameters.values", "'y'"]),
    ("random", ("trials", "0", "hyperparameters", "values", "x"), _DELETE,
     ["a value for every hyperparameter", "none for x"]),
    ("random", ("trials", "0", "trial_id"), "7", ["trials['0'].trial_id", "'7'"]),
    ("random", ("trials", "0", "best_step"), -1, ["best_step", "-1"]),
    ("random", ("trials", "0", "metrics", "metrics", "score", "observations", 0,
                "value", 0), float("nan"), ["NaN is not a JSON number"]),
    ("random", ("trials", "0", "metrics", "metrics", "score"), _DELETE,
     ["trials['0'].metrics", "none for score"]),
    ("random", ("trials", "0", "metrics", "metrics", "accuracy", "direction"), "up",
     ["direction", "'up'"]),
    ("random", ("trials", "0", "extra"), 1, ["trials['0']", "unknown: extra"]),
    ("random", ("ongoing_trials",), {"tuner0": "9"}, ["ongoing_trials['tuner0']", "'9'"]),
    ("random", ("end_order",), ["0", "5"], ["end_order[1]", "'5'"]),
    ("random", ("retry_queue",), [3], ["retry_queue[0]", "3"]),
    ("random", ("run_times", "0"), -2, ["run_times['0']", ">= 0"]),
    ("random", ("seed",), "1", ["seed", "an int"]),
    ("random", ("display", "search_start"), "yesterday", ["display.search_start",
                                                          "ISO 8601"]),
    ("random", ("hyperparameters", "values", "x"), 2.0, ["hyperparameters.values['x']"]),
    ("random", ("hyperparameters", "space", 0, "config", "max_value"), 9.0,
     ["hyperparameters.space", "did the search's settings change"]),
    ("random", ("trials",), [], ["trials", "a dict of trial id"]),
    ("random", ("display",), _DELETE, ["state", "missing: display"]),
    ("random", ("code",), "__import__('os')", ["state", "unknown: code"]),
    ("bayesian", ("alpha",), -1.0, ["alpha", ">= 0"]),
    ("bayesian", ("num_initial_points",), 0, ["num_initial_points", ">= 1"]),
    ("hyperband", ("brackets", 0, "rounds", 0, 0, "id"), "42",
     ["brackets[0].rounds[0][0].id", "'42'"]),
    ("hyperband", ("factor",), 1, ["factor", ">= 2"]),
    ("hyperband", ("trials", "0", "hyperparameters", "values", "tuner/epochs"), -3,
     ["values['tuner/epochs']", "-3"]),
]


@pytest.mark.parametrize("oracle, field, value, fragments", CASES,
                         ids=[".".join(map(str, c[1])) + (
                             " deleted" if c[2] is _DELETE else f"={c[2]!r}"[:30])
                             for c in CASES])
def test_each_damaged_field_is_named(saved, tmp_path, oracle, field, value, fragments):
    _, state = copy_of(saved, oracle, tmp_path)
    _set(state, field, value)
    # 1e999 is how a file spells an infinity JSON allows (it parses as inf)
    refused(tmp_path, oracle, state, *fragments,
            text=json.dumps(state).replace("Infinity", "1e999"))


@pytest.mark.parametrize("text, fragment", [
    ('{"trials": NaN}', "NaN is not a JSON number"),
    ("[" * 100000, "not a readable search state"),
    ("\xff\xfe", "not a readable search state"),
    ("[1, 2]", "expected an object"),
])
def test_unreadable_state_is_named(saved, tmp_path, text, fragment):
    copy_of(saved, "random", tmp_path)
    refused(tmp_path, "random", None, fragment, text=text)


def test_oversized_state_is_refused_before_it_is_parsed(saved, tmp_path, monkeypatch):
    path, _ = copy_of(saved, "random", tmp_path)
    monkeypatch.setattr(state_check, "MAX_STATE_BYTES", path.stat().st_size - 1)
    with pytest.raises(SearchStateError, match="more than a search state can hold"):
        ToySearch(tmp_path, max_trials=3)


def test_changed_search_space_is_refused_not_mixed(saved, tmp_path):
    """Resuming with other bounds would mix trials of two different searches."""
    copy_of(saved, "random", tmp_path)

    class Wider(ToySearch):
        def __init__(self, directory, **options):
            from keras_tuner import HyperParameters

            import snnkit.tuning.tuner as tuner

            hp = HyperParameters()
            hp.Float("x", 0.0, 2.0)
            tuner.SnnSearch.__init__(self, hyperparameters=hp, reported=("accuracy",),
                                     objective="accuracy", oracle="random",
                                     max_trials=3, directory=directory, **options)

    with pytest.raises(SearchStateError, match="did the search's settings change"):
        Wider(tmp_path)


def test_trial_files_are_not_read_when_the_state_has_the_trials(saved, tmp_path):
    copy_of(saved, "random", tmp_path)
    (tmp_path / "toy" / "trial_0" / "trial.json").write_text("garbage {")
    resumed = ToySearch(tmp_path, max_trials=3).search()
    assert resumed.evaluated == []
    assert [t["status"] for t in resumed.trials()] == ["COMPLETED", "FAILED", "COMPLETED"]


def test_the_tuner_file_is_never_read_back(saved, tmp_path):
    copy_of(saved, "random", tmp_path)
    (tmp_path / "toy" / "tuner0.json").write_text("[" * 100000)
    resumed = ToySearch(tmp_path, max_trials=3).search()
    assert resumed.evaluated == [] and len(resumed.trials()) == 3


def test_older_layout_trial_files_are_checked_and_named(saved, tmp_path):
    path, state = copy_of(saved, "random", tmp_path)
    del state["trials"]
    path.write_text(json.dumps(state))
    trial_path = tmp_path / "toy" / "trial_2" / "trial.json"
    trial = json.loads(trial_path.read_text())
    trial["status"] = "WHATEVER"
    trial_path.write_text(json.dumps(trial))
    with pytest.raises(SearchStateError) as info:
        ToySearch(tmp_path, max_trials=3)
    assert str(trial_path) in str(info.value) and "trial.status" in str(info.value)


def test_every_state_the_search_writes_passes(saved):
    for oracle in ORACLES:
        path = saved[oracle] / "toy" / "oracle.json"
        state = json.loads(path.read_text())
        state_check.check_search_state(
            state, path=path, space_config=state["hyperparameters"]["space"],
            metric_names={"accuracy", "score", "feasible"}, oracle=oracle)


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for key, child in node.items():
            yield prefix + (key,)
            yield from _leaves(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield prefix + (i,)
            yield from _leaves(child, prefix + (i,))


_ODD_VALUES = [None, -1, 0, 1, 10 ** 12, 0.5, -0.0, 1e308, float("inf"), float("nan"),
               "", "0", "RUNNING", "COMPLETED", "x", [], {}, [None], {"x": 1}, True,
               False]


@pytest.mark.parametrize("oracle", ORACLES)
def test_fuzzed_states_give_clean_errors_or_load(saved, oracle):
    """300 seeded mutants per oracle (a field replaced, deleted or added): each is
    refused with SearchStateError, or loads into the oracle and its repair leaves no
    ongoing trial and queues only trials that exist."""
    path = saved[oracle] / "toy" / "oracle.json"
    original = json.loads(path.read_text())
    space = original["hyperparameters"]["space"]
    fields = list(_leaves(original))
    rng = random.Random(oracle)
    oracle_object = ToySearch(saved[oracle], max_trials=3, oracle=oracle).oracle
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(300):
        state = copy.deepcopy(original)
        field = rng.choice(fields)
        action = rng.random()
        try:
            if action < 0.2:
                _set(state, field, _DELETE)
            elif action < 0.3 and isinstance(_get(state, field), dict):
                _get(state, field)["junk"] = rng.choice(_ODD_VALUES)
            else:
                _set(state, field, rng.choice(_ODD_VALUES))
        except (IndexError, KeyError):
            continue
        try:
            state_check.check_search_state(
                state, path=path, space_config=space,
                metric_names={"accuracy", "score", "feasible"}, oracle=oracle)
        except SearchStateError as e:
            assert str(path) in str(e)
            outcomes["refused"] += 1
            continue
        repaired = repair_state(state)
        oracle_object.set_state(copy.deepcopy(repaired))
        assert oracle_object.ongoing_trials == {}
        assert set(repaired["retry_queue"]) <= set(oracle_object.trials)
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 100, outcomes
    assert outcomes["loaded"] > 0, outcomes  # harmless changes (e.g. a message) load


def _get(state, field):
    node = state
    for key in field:
        node = node[key]
    return node
