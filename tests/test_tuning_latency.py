"""Latency-aware searches: the latency metrics on hand-made Results, the Pareto front
on hand-made points, bad latency objectives, held-out validation images, and one
``snnkit tune`` run with a latency objective on the Loihi-exact fast emulator that
writes pareto.csv and pareto.png."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from tiny_networks import tiny_network

from snnkit.network.results import Result
from snnkit.tuning import ScaleSearch, SearchConfigError
from snnkit.tuning.latency import LatencyMetrics, expand_pareto, steps_to_accuracy
from snnkit.tuning.objective import SearchObjective
from snnkit.tuning.pareto import FrontAxes, front_axes, pareto_mask

N_STEPS = 20


def _result(predictions_by_step: np.ndarray, n_classes: int = 3) -> Result:
    """A Result whose argmax at step t for input i is ``predictions_by_step[i, t]``."""
    n, steps = predictions_by_step.shape
    outputs = np.zeros((n, steps, n_classes), np.float32)
    np.put_along_axis(outputs, predictions_by_step[..., None], 1.0, axis=-1)
    return Result(backend="hand-made", outputs=outputs, layer_rates_hz={},
                  layer_max_rates_hz={}, spikes_per_input={}, saturated_fraction={},
                  synaptic_ops_per_input={}, n_steps=steps, dt=0.001, wall_time_s=1.0)


# four inputs, label 0; input i answers 0 from step i + 2 on (1-based), except the
# last one, which never does: accuracy by step 0, .25, .5, .75, .75
HAND = _result(np.array([[1, 0, 0, 0, 0],
                         [1, 1, 0, 0, 0],
                         [1, 1, 1, 0, 0],
                         [2, 2, 2, 2, 2]]))
LABELS = np.zeros(4, int)


def test_latency_metrics_on_a_hand_made_result():
    np.testing.assert_allclose(HAND.accuracy_by_step(LABELS), [0, .25, .5, .75, .75])
    latency = LatencyMetrics(("accuracy_at_steps/1", "accuracy_at_steps/3",
                              "accuracy_at_steps/5", "steps_to_accuracy/50",
                              "steps_to_accuracy/75", "steps_to_accuracy/76",
                              "steps_to_accuracy/100"), min_steps=5, max_steps=8)
    metrics = latency.compute(HAND.accuracy_by_step(LABELS))
    assert metrics == {"accuracy_at_steps/1": 0.0, "accuracy_at_steps/3": 0.5,
                       "accuracy_at_steps/5": 0.75, "steps_to_accuracy/50": 3.0,
                       "steps_to_accuracy/75": 4.0,
                       # never reached: one more than the longest run of the search
                       "steps_to_accuracy/76": 9.0, "steps_to_accuracy/100": 9.0}
    assert not latency.reached(metrics)
    assert LatencyMetrics(("steps_to_accuracy/75", "accuracy_at_steps/2"), 5, 8).reached(
        metrics)
    assert steps_to_accuracy([0.1, 0.2], 30, max_steps=2) == 3


def test_latency_objectives_rank_and_scalarize():
    fast = {"steps_to_accuracy/50": 3.0, "accuracy": 0.7, "n_steps": 20.0}
    slow = {"steps_to_accuracy/50": 9.0, "accuracy": 0.8, "n_steps": 20.0}
    steps_to = SearchObjective("steps_to_accuracy/50")
    assert steps_to.goal == "min" and steps_to.score(fast) < steps_to.score(slow)
    assert SearchObjective("accuracy_at_steps/10").goal == "max"
    assert SearchObjective("accuracy_at_steps/10", {"synaptic_ops": 1}).penalty == 10
    pareto = SearchObjective(expand_pareto("pareto/50", max_steps=20))
    # accuracy - 0.1 * steps / max_steps
    assert pareto.score(fast) == pytest.approx(0.7 - 0.1 * 3 / 20)
    assert pareto.score(slow) == pytest.approx(0.8 - 0.1 * 9 / 20)
    assert expand_pareto("pareto", max_steps=40) == {"accuracy": 1.0, "n_steps": -0.1 / 40}
    assert expand_pareto("accuracy", max_steps=40) == "accuracy"
    # as a constraint: at most 5 steps to 50%
    bounded = SearchObjective("accuracy", {"steps_to_accuracy/50": 5})
    assert bounded.violation(fast) == 0 and bounded.violation(slow) > 0
    assert bounded.score(slow) < 0 < bounded.score(fast)


def test_front_axes_follow_the_objective():
    assert front_axes(SearchObjective("accuracy")) == FrontAxes("accuracy", "n_steps")
    assert front_axes(SearchObjective("accuracy_at_steps/12")) == FrontAxes(
        "accuracy_at_steps/12", 12)
    assert front_axes(SearchObjective("steps_to_accuracy/98")) == FrontAxes(
        "accuracy", "steps_to_accuracy/98")
    assert front_axes(SearchObjective("synaptic_ops", {"steps_to_accuracy/90": 10})) == \
        FrontAxes("accuracy", "steps_to_accuracy/90")
    assert FrontAxes("accuracy_at_steps/12", 12).point(
        {"accuracy_at_steps/12": 0.5, "synaptic_ops": 7.0}) == (0.5, 12.0, 7.0)


def test_answered_from_step_is_when_most_outputs_have_received_spikes():
    from snnkit.network.results import answered_from_step

    # per input the step its output first moved off the bias (0: never)
    assert answered_from_step([3, 5, 0, 4], n_steps=6) == 4   # 2 of 4 by step 4
    assert answered_from_step([1, 1, 1, 1], n_steps=6) == 1
    assert answered_from_step([0, 0, 0, 6], n_steps=6) == 7   # never half: n_steps + 1


class _Trials:
    """The two things pareto_rows reads from a search: its objective and trials."""

    def __init__(self, objective, trials):
        self.objective, self._trials = SearchObjective(objective), trials

    def trials(self):
        return self._trials


def _trial(trial_id, accuracy, n_steps, synops, onset, **more):
    return {"trial_id": trial_id, "status": "COMPLETED", "hyperparameters": {},
            "metrics": dict({"accuracy": accuracy, "n_steps": float(n_steps),
                             "synaptic_ops": synops, "output_onset_steps": float(onset),
                             "feasible": 1.0}, **more)}


def test_a_trial_read_out_before_its_output_answered_is_not_on_the_front():
    from snnkit.tuning.pareto import pareto_rows

    trials = [_trial("0", 0.97, 14, 5e5, onset=13),
              _trial("1", 0.98, 20, 6e5, onset=13),
              # cheapest and shortest, but read at step 10 with no output until 11:
              # its 9% is the output layer's bias
              _trial("2", 0.09, 10, 2e5, onset=11),
              # answered from its last step on: a real (poor) answer, on the front
              _trial("3", 0.50, 12, 1e5, onset=12)]
    rows = pareto_rows(_Trials("accuracy", trials))
    assert [r["answered"] for r in rows] == [True, True, False, True]
    assert [r["on_front"] for r in rows] == [True, True, False, True]
    # read at step 12 (accuracy_at_steps/12), whatever n_steps: trial 2 has answered
    # by then (onset 11), trials 0 and 1 (onset 13) have not
    at_12 = pareto_rows(_Trials("accuracy_at_steps/12", [
        dict(t, metrics=dict(t["metrics"], **{"accuracy_at_steps/12": 0.5}))
        for t in trials]))
    assert [r["answered"] for r in at_12] == [False, False, True, True]
    # a trial recorded before output_onset_steps existed counts as answered
    old = _trial("4", 0.5, 10, 1.0, onset=0)
    del old["metrics"]["output_onset_steps"]
    assert pareto_rows(_Trials("accuracy", [old]))[0]["on_front"]


def test_pareto_plot_draws_a_front_with_an_unanswered_trial(tmp_path):
    from snnkit.plots import plot_pareto

    rows = [dict(trial_id=i, accuracy=a, steps=s, synaptic_ops=o, feasible=f,
                 answered=ans, on_front=front)
            for i, (a, s, o, f, ans, front) in enumerate([
                (0.974, 14, 5.3e5, True, True, True), (0.98, 16, 5.6e5, True, True, True),
                (0.976, 18, 5.0e5, True, True, True), (0.96, 22, 9.8e5, True, True, False),
                (0.95, 25, 1e6, False, True, False), (0.092, 10, 2.2e5, True, False, False)])]
    plot_pareto(rows, title="t", path=tmp_path / "front.png")
    png = (tmp_path / "front.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_pareto_front_of_hand_made_points():
    points = [(0.90, 10, 100.0),   # 0: on the front
              (0.90, 12, 100.0),   # 1: dominated by 0 (more steps, same otherwise)
              (0.95, 20, 100.0),   # 2: on it (most accurate)
              (0.80, 5, 300.0),    # 3: on it (fewest steps)
              (0.85, 10, 50.0),    # 4: on it (cheapest)
              (0.85, 10, 50.0),    # 5: a tie with 4: neither dominates, both on it
              (0.80, 10, 100.0)]   # 6: dominated by 0 and 4
    np.testing.assert_array_equal(pareto_mask(points),
                                  [True, False, True, True, True, True, False])
    assert pareto_mask([(0.5, 3, 1.0)]).tolist() == [True]
    # one axis worse and one better: neither dominates
    assert pareto_mask([(0.9, 10, 1.0), (0.8, 10, 0.5)]).tolist() == [True, True]


# --- bad latency objectives ------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(mnist_small):
    (x_train, y_train), _ = mnist_small
    return tiny_network(x_train, y_train)


@pytest.mark.parametrize("objective, constraints, message", [
    ("accuracy_at_steps/21", None, "objective: 'accuracy_at_steps/21': expected "
     "accuracy_at_steps/N with N an int from 1 to 20 (the smallest n_steps this search "
     "runs), got '21'"),
    ("accuracy_at_steps/0", None, "got '0'"),
    ("accuracy_at_steps/2.5", None, "with N an int from 1 to 20"),
    ("steps_to_accuracy/0", None, "objective: 'steps_to_accuracy/0': expected "
     "steps_to_accuracy/X with X a percentage in (0, 100], got '0'"),
    ("steps_to_accuracy/100.5", None, "got '100.5'"),
    ("steps_to_accuracy/ninety", None, "got 'ninety'"),
    ("pareto/120", None, "objective: 'pareto/120': expected pareto/X with X a "
     "percentage in (0, 100], got '120'"),
    ("latency", None, "objective: metric 'latency' is not reported by this search; "
     "reported metrics: accuracy,"),
    ("accuracy", {"accuracy_at_steps/30": (">=", 0.9)},
     "constraints: 'accuracy_at_steps/30': expected accuracy_at_steps/N"),
])
def test_bad_latency_objective_fails_at_once(tiny, mnist_small, tmp_path, objective,
                                             constraints, message):
    _, (x, y) = mnist_small
    with pytest.raises(SearchConfigError) as info:
        ScaleSearch(tiny, x[:10], y[:10], scales={"a": [100.0], "b": [100.0]},
                    backend="nengo", n_steps=(20, 40), objective=objective,
                    constraints=constraints, directory=tmp_path)
    assert message in str(info.value)


# --- held-out validation ----------------------------------------------------------------
def _rows(x) -> set:
    return {row.tobytes() for row in np.asarray(x).reshape(len(x), -1)}


@pytest.mark.parametrize("data", [{"n_train": 2000, "n_val": 100},
                                  {"n_train": 2000, "n_val": 100, "val_from": "test"}])
def test_rate_search_validation_images_are_not_training_images(data):
    from snnkit.tuning.data_split import data_split

    split = data_split(data, search="rate", n_calibrate=200)
    (x_train, _), (x_val, _) = split.load()
    assert len(x_train) == 2000 and len(x_val) == 100
    # calibration takes the first training images: a subset of x_train
    assert split.calibrate == (0, 200)
    assert not _rows(x_val) & _rows(x_train)


def _network_file(tiny, tmp_path, train, name="tiny.snn.npz"):
    from snnkit.data.datasets import mnist_record

    metadata = {} if train is None else {"data": mnist_record(train, (0, 100))}
    return str(tiny.replace(metadata=metadata).save(tmp_path / name))


def test_scale_search_validation_is_held_out_from_the_networks_images(tiny, tmp_path,
                                                                     monkeypatch):
    import snnkit
    from snnkit.tuning.config import build_search

    def config(network, **data):
        return {"search": "scale", "network": network,
                "data": dict({"n_val": 50}, **data),
                "options": {"scales": {"a": [100.0], "b": [100.0]}, "backend": "nengo",
                            "calibrate_to_hz": 100.0, "n_calibrate": 20,
                            "directory": str(tmp_path)}}

    import snnkit.tuning.scale_search as scale_search

    calibrated_on = []
    real_calibrate = scale_search._calibrate

    def calibrate(network, x, *args):
        calibrated_on.append(x)
        return real_calibrate(network, x, *args)

    monkeypatch.setattr(scale_search, "_calibrate", calibrate)
    (x_all, _), _ = snnkit.load_mnist()
    # trained on the first 2,000 training images: the last 50 are held out
    s = build_search(config(_network_file(tiny, tmp_path, (0, 2000)), val_from="train"))
    assert not _rows(s.x_val) & _rows(x_all[:2000])
    # the search calibrated on 20 training images, none of them a validation image
    assert len(calibrated_on[0]) == 20 and _rows(calibrated_on[0]) <= _rows(x_all)
    assert not _rows(calibrated_on[0]) & _rows(s.x_val)
    # default for a scale search: test images
    s = build_search(config(_network_file(tiny, tmp_path, (0, 60000))))
    assert not _rows(s.x_val) & _rows(x_all)
    # a network trained on every training image leaves none to validate on
    with pytest.raises(SearchConfigError, match="overlap the network's training images "
                                                "\\(metadata\\['data'\\]\\) 0..60000"):
        build_search(config(_network_file(tiny, tmp_path, (0, 60000)), val_from="train"))
    with pytest.raises(SearchConfigError, match="the network does not record which "
                                                "training images it saw"):
        build_search(config(_network_file(tiny, tmp_path, None), val_from="train"))
    bad = tiny.replace(metadata={"data": {"dataset": "mnist", "train_images": [5, 2]}})
    with pytest.raises(SearchConfigError, match="train_images'\\]: expected \\[start, "
                                                "stop\\] with 0 <= start <= stop"):
        build_search(config(str(bad.save(tmp_path / "bad.snn.npz"))))


def test_scale_search_calibrates_on_training_images_only(tiny, mnist_small, tmp_path):
    _, (x, y) = mnist_small
    with pytest.raises(SearchConfigError, match="x_calibrate: calibrate_to_hz needs "
                                                "images to calibrate on"):
        ScaleSearch(tiny, x[:10], y[:10], backend="nengo", calibrate_to_hz=100.0,
                    directory=tmp_path)


# --- snnkit tune, end to end --------------------------------------------------------------
def test_snnkit_tune_with_a_latency_objective_writes_the_front(mnist_small, tmp_path,
                                                               capsys):
    """Three trials of a scale search on the fast Loihi emulator (the default
    backend), validated on the last 40 MNIST training images, which the network (it
    records the first 2,000) never saw."""
    from snnkit.cli import main
    from snnkit.network.frozen import FrozenNetwork

    (x_train, y_train), _ = mnist_small
    network = tiny_network(x_train, y_train, off_chip=("a", "out"))
    path = _network_file(network, tmp_path, (0, len(x_train)), "loihi_tiny.snn.npz")
    config = {"search": "scale", "network": path,
              "data": {"n_val": 40, "val_from": "train"},
              "options": {"scales": {"a": (50.0, 400.0), "b": (50.0, 400.0)},
                          "n_steps": N_STEPS, "objective": "accuracy",
                          "oracle": "random", "max_trials": 3, "seed": 0,
                          "directory": str(tmp_path / "tune"), "project_name": "lat"},
              "export": str(tmp_path / "best.snn.npz")}
    for key in ("a", "b"):
        low, high = config["options"]["scales"][key]
        config["options"]["scales"][key] = {"low": low, "high": high}
    (tmp_path / "search.json").write_text(json.dumps(config))
    code = main(["tune", str(tmp_path / "search.json"),
                 "--objective", "steps_to_accuracy/66"])
    out = capsys.readouterr().out
    assert code == 0
    project = tmp_path / "tune" / "lat"
    assert f"wrote {project / 'pareto.csv'}" in out
    assert "minimize steps_to_accuracy/66" in out
    best = FrozenNetwork.load(tmp_path / "best.snn.npz")
    assert best.metadata["tuning"]["backend"] == "loihi-emulator-fast"

    with open(project / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"trial_id", "status", "scale/a", "scale/b", "n_steps",
                            "accuracy", "steps", "synaptic_ops", "feasible", "answered",
                            "on_front"}
    done = [r for r in rows if r["status"] == "COMPLETED"]
    assert done, rows
    for row in done:
        steps, accuracy = float(row["steps"]), float(row["accuracy"])
        assert 1 <= steps <= N_STEPS + 1 and 0 <= accuracy <= 1
        # not reaching 66% in the run is the penalty n_steps + 1, and not feasible
        assert (row["feasible"] == "True") == (steps <= N_STEPS)
        assert 50 <= float(row["scale/a"]) <= 400
        assert float(row["synaptic_ops"]) > 0
    feasible = [r for r in done if r["feasible"] == "True"]
    # this seed's three trials: two reach 66%, one does not (steps = the penalty)
    assert len(feasible) == 2 and [float(r["steps"]) for r in done
                                   if r not in feasible] == [N_STEPS + 1]
    mask = pareto_mask([(float(r["accuracy"]), float(r["steps"]),
                         float(r["synaptic_ops"])) for r in feasible])
    assert [r["on_front"] == "True" for r in feasible] == mask.tolist()
    assert all(r["on_front"] == "False" for r in rows if r not in feasible)
    png = (project / "pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_validation_on_test_images_takes_the_last_ones():
    """Figures are reported on the first test images (bench --n-test, the demo): a
    search validating on test images takes the last ones, disjoint from those."""
    import snnkit
    from snnkit.tuning.data_split import data_split

    split = data_split({"n_train": 100, "n_val": 50, "val_from": "test"}, search="scale")
    assert split.val == (9950, 10000)
    _, (x_val, y_val) = split.load()
    _, (x_test, y_test) = snnkit.load_mnist(100, 10_000)
    np.testing.assert_array_equal(x_val, x_test[-50:])
    np.testing.assert_array_equal(y_val, y_test[-50:])
    assert not _rows(x_val) & _rows(x_test[:9950])


def test_the_latency_front_example_configuration_builds(mnist_small, tmp_path):
    """tuning/examples/latency_front.json (the measured search in tuning/README.md)
    is a valid configuration: built, not run, with a small network in place of the
    one it names (same on-chip layers searched around their scales)."""
    from pathlib import Path

    from snnkit.tuning.config import build_search
    from snnkit.tuning.config_check import read_config_file

    example = Path(__file__).resolve().parents[1] / "tuning" / "examples" / \
        "latency_front.json"
    config = read_config_file(example)  # (its network is checked once replaced)
    (x_train, y_train), _ = mnist_small
    network = tiny_network(x_train, y_train, off_chip=("a", "out"))
    config["network"] = _network_file(network, tmp_path, (0, 50_000))
    config["options"] = dict(config["options"], directory=str(tmp_path / "tune"))
    s = build_search(config)
    assert s.backend_name == "loihi-emulator-fast" and s.max_trials == 16
    assert s.oracle_name == "bayesian"
    # "pareto": accuracy - 0.1 * n_steps / (largest n_steps, 30)
    assert s.objective.metric == {"accuracy": 1.0, "n_steps": -0.1 / 30}
    space = {hp.name: hp.get_config() for hp in s.oracle.get_space().space}
    assert (space["n_steps"]["min_value"], space["n_steps"]["max_value"]) == (8, 30)
    assert (space["synapse_s"]["min_value"], space["synapse_s"]["max_value"]) == (
        0.001, 0.005)
    scale = network.scale("b")
    assert space["scale/b"]["min_value"] == pytest.approx(scale / 2)
    assert space["scale/b"]["max_value"] == pytest.approx(scale * 4)
    # validation: the last 500 training images, which the network (first 50,000) and
    # the search never fit on
    (x_all, y_all), _ = snnkit_mnist()
    np.testing.assert_array_equal(s.x_val.reshape(500, -1),
                                  x_all[-500:].reshape(500, -1).astype(np.float32))
    np.testing.assert_array_equal(s.y_val, y_all[-500:])


def snnkit_mnist():
    import snnkit

    return snnkit.load_mnist()
