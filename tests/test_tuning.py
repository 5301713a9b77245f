"""snnkit.tuning: ScaleSearch and RateTargetSearch on keras-tuner, objectives, failed
trials, bad input, resume. Searches run a tiny network on nengo's reference
simulator (well under a second per trial); one test uses the seed network."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from keras_tuner.errors import FatalValueError
from tiny_networks import tiny_network

from snnkit.convert.keras_model import to_keras
from snnkit.network.frozen import FrozenNetwork
from snnkit.tuning import (
    ChiefUnreachableError,
    RateTargetSearch,
    ScaleSearch,
    SearchConfigError,
    SearchObjective,
    reported_metrics,
)

N_VAL = 30
GOOD = {"a": (60.0, 400.0), "b": (60.0, 400.0)}


@pytest.fixture(scope="module")
def tiny(mnist_small):
    (x_train, y_train), _ = mnist_small
    return tiny_network(x_train, y_train)


@pytest.fixture(scope="module")
def val(mnist_small):
    _, (x_test, y_test) = mnist_small
    return x_test[:N_VAL], y_test[:N_VAL]


def search(tiny, val, tmp_path, **options):
    options.setdefault("scales", GOOD)
    options.setdefault("backend", "nengo")
    options.setdefault("n_steps", 20)
    options.setdefault("oracle", "random")
    options.setdefault("max_trials", 3)
    return ScaleSearch(tiny, *val, directory=tmp_path, **options)


# --- one search, end to end ----------------------------------------------------------
def test_scale_search_reports_every_metric_and_exports_best(tiny, val, tmp_path, capsys):
    s = search(tiny, val, tmp_path, max_trials=3).search()
    trials = s.trials()
    assert [t["status"] for t in trials] == ["COMPLETED"] * 3
    for t in trials:
        metrics = t["metrics"]
        for name in reported_metrics(tiny.neuron_layers):
            assert name in metrics, name
        assert 0 <= metrics["accuracy"] <= 1
        assert metrics["synaptic_ops"] > 0
        assert 1 <= metrics["time_to_decision_steps"] <= 20
        assert metrics["score"] == metrics["accuracy"]
        for layer in ("a", "b"):
            assert 60 <= t["hyperparameters"][f"scale/{layer}"] <= 400
    best = s.best_trial()
    assert best["score"] == max(t["score"] for t in trials)

    text = s.results_summary()
    assert "maximize accuracy" in text and "3 completed" in capsys.readouterr().out

    path = s.export_best(tmp_path / "best.snn.npz")
    network = FrozenNetwork.load(path)
    assert network.scale_firing_rates == {
        "a": best["hyperparameters"]["scale/a"], "b": best["hyperparameters"]["scale/b"]}
    assert network.metadata["tuning"]["trial_id"] == best["trial_id"]
    assert network.metadata["tuning"]["metrics"]["accuracy"] == best["metrics"]["accuracy"]
    summary = json.loads(s.write_summary(tmp_path / "s.json") and
                         (tmp_path / "s.json").read_text())
    assert summary["counts"] == {"COMPLETED": 3} and len(summary["trials"]) == 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bayesian_search_also_tunes_synapse_and_n_steps(tiny, val, tmp_path):
    s = search(tiny, val, tmp_path, oracle="bayesian", max_trials=4,
               synapse=(0.001, 0.01), n_steps=[10, 20],
               oracle_options={"num_initial_points": 2}).search()
    trials = s.trials()
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    for t in trials:
        assert 0.001 <= t["hyperparameters"]["synapse_s"] <= 0.01
        assert t["hyperparameters"]["n_steps"] in (10, 20)
    best = s.best_network()
    assert best.synapse == s.best_trial()["hyperparameters"]["synapse_s"]


def test_hyperband_budget_is_a_share_of_the_validation_set(tiny, val, tmp_path):
    s = search(tiny, val, tmp_path, oracle="hyperband", max_trials=5,
               hyperband_max_budget=3).search()
    sizes = {t["metrics"]["n_val"] for t in s.trials() if t["status"] == "COMPLETED"}
    assert min(sizes) == N_VAL // 3 and len(s.trials()) == 5


def test_keras_model_is_frozen_and_searched_around_its_calibration(tiny, val, tmp_path,
                                                                   mnist_small):
    (x_train, _), _ = mnist_small
    s = ScaleSearch(to_keras(tiny), *val, neuron_type="loihi-relu", synapse=0.002,
                    layers=["a", "b"], calibrate_to_hz=150.0, x_calibrate=x_train,
                    n_calibrate=20,
                    scale_range=(2.0, 2.0), backend="nengo", n_steps=20, oracle="random",
                    max_trials=1, directory=tmp_path).search()
    calibrated = s.network.scale_firing_rates
    assert set(calibrated) == {"a", "b"} and s.network.metadata["calibration"]
    values = s.trials()[0]["hyperparameters"]
    for layer in ("a", "b"):
        assert calibrated[layer] / 2 <= values[f"scale/{layer}"] <= calibrated[layer] * 2
    assert s.best_network().neuron.name == "loihi-relu"


# --- objectives ----------------------------------------------------------------------
def test_constrained_objective_prefers_feasible_trials(tiny, val, tmp_path):
    probe = search(tiny, val, tmp_path / "probe", max_trials=4).search()
    ops = sorted(t["metrics"]["synaptic_ops"] for t in probe.trials())
    bound = (ops[0] + ops[1]) / 2  # exactly one of the four fits
    s = search(tiny, val, tmp_path / "constrained", max_trials=4,
               constraints={"synaptic_ops": bound}).search()
    feasible = [t for t in s.trials() if t["metrics"]["feasible"] == 1.0]
    assert len(feasible) == 1  # same seed, same four configurations
    assert s.best_trial()["trial_id"] == feasible[0]["trial_id"]
    # keras-tuner's own results API ranks the same way
    assert s.get_best_hyperparameters()[0].values == feasible[0]["hyperparameters"]
    assert s.oracle.get_best_trials()[0].trial_id == feasible[0]["trial_id"]
    for t in s.trials():
        if t not in feasible:
            assert t["score"] < -10  # below every feasible accuracy
            assert t["metrics"]["accuracy"] >= 0  # figures are still recorded


def test_objective_scores():
    weighted = SearchObjective({"accuracy": 1.0, "synaptic_ops": -1e-6})
    assert weighted.goal == "max"
    assert weighted.score({"accuracy": 0.9, "synaptic_ops": 1e5}) == pytest.approx(0.8)
    cheap = SearchObjective("synaptic_ops", constraints={"accuracy": (">=", 0.9)})
    assert cheap.goal == "min"
    assert cheap.score({"accuracy": 0.95, "synaptic_ops": 10.0}) == 10.0
    worse = cheap.score({"accuracy": 0.45, "synaptic_ops": 1.0})
    assert worse == pytest.approx(1e12 * 1.5) and worse > cheap.score(
        {"accuracy": 0.85, "synaptic_ops": 1.0})
    # a feasible trial with a million synaptic ops still beats every infeasible one
    assert cheap.score({"accuracy": 0.95, "synaptic_ops": 1e6}) < cheap.score(
        {"accuracy": 0.89, "synaptic_ops": 1.0})
    assert SearchObjective("accuracy", {"synaptic_ops": 5}).penalty == 10
    with pytest.raises(SearchConfigError, match="penalty: an objective value of 20 "
                                                "reaches the penalty \\(5\\)"):
        SearchObjective("synaptic_ops", {"accuracy": (">=", 0.9)}, penalty=5).score(
            {"accuracy": 0.95, "synaptic_ops": 20.0})
    assert SearchObjective({"synaptic_ops": -1e-6}, {"accuracy": (">=", 0.9)},
                           penalty=5).score({"accuracy": 0.45, "synaptic_ops": 1}) == 5 * -1.5
    assert "minimize synaptic_ops subject to accuracy >= 0.9" == cheap.describe()
    assert SearchObjective({"accuracy": 1, "n_steps": -0.0025}).describe() == \
        "maximize 1*accuracy - 0.0025*n_steps"
    assert SearchObjective({"synaptic_ops": -1e-6, "accuracy": 2}).describe() == \
        "maximize -1e-06*synaptic_ops + 2*accuracy"


# --- failures do not stop a search ---------------------------------------------------
def test_silent_layer_is_a_failed_trial_and_the_search_goes_on(tiny, val, tmp_path):
    s = search(tiny, val, tmp_path, scales={"a": [1e-4, 200.0], "b": [200.0]},
               max_trials=2).search()
    by_scale = {t["hyperparameters"]["scale/a"]: t for t in s.trials()}
    assert by_scale[1e-4]["status"] == "FAILED"
    assert "silent" in by_scale[1e-4]["reason"] and "'a'" in by_scale[1e-4]["reason"]
    assert by_scale[200.0]["status"] == "COMPLETED"
    assert s.best_trial()["hyperparameters"]["scale/a"] == 200.0


def test_configuration_that_does_not_fit_on_cores_is_a_failed_trial(tiny, val, tmp_path,
                                                                     monkeypatch):
    from snnkit.exceptions import LoihiMappingError

    s = search(tiny, val, tmp_path, scales={"a": [100.0, 200.0, 300.0], "b": [200.0]},
               max_trials=3)
    real_run = s.backend.run

    def run(network, x, **kwargs):
        if network.scale("a") == 200.0:
            raise LoihiMappingError("'a': Synapse bits (2000000) exceeded max (1048576)")
        return real_run(network, x, **kwargs)

    monkeypatch.setattr(s.backend, "run", run)
    s.search()
    statuses = {t["hyperparameters"]["scale/a"]: t for t in s.trials()}
    assert statuses[200.0]["status"] == "FAILED"
    assert "does not fit on Loihi cores" in statuses[200.0]["reason"]
    assert "Synapse bits" in statuses[200.0]["reason"]
    assert statuses[100.0]["status"] == statuses[300.0]["status"] == "COMPLETED"


def test_check_cores_plans_loihi_cores_on_any_backend(tiny, val, tmp_path, monkeypatch):
    import snnkit.backends.loihi.planning as planning

    planned = []
    real_plan = planning.plan_loihi_cores
    monkeypatch.setattr(planning, "plan_loihi_cores",
                        lambda network: planned.append(real_plan(network)))
    s = search(tiny, val, tmp_path, max_trials=1, check_cores=True).search()
    assert s.trials()[0]["status"] == "COMPLETED"
    assert set(planned[0].block_shapes) == {"a", "b"}


# --- bad input: at once, with a clear message ----------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"scales": {"a": (400.0, 60.0)}},
     "scales['a']: bounds reversed or empty: expected low < high, got (low=400.0, "
     "high=60.0)"),
    ({"scales": {"a": (0.0, 60.0)}},
     "scales['a']: expected (low, high) numbers with 0 < low < high, got (0.0, 60.0)"),
    ({"scales": {"a": -3}}, "scales['a']: expected a number > 0"),
    ({"scales": {"conv9": (1.0, 2.0)}},
     "scales: unknown layer 'conv9'; neuron layers are: a, b"),
    ({"layers": ["flatten"]}, "layers: unknown layer 'flatten'; neuron layers are: a, b"),
    ({"objective": "acuracy"}, "objective: metric 'acuracy' is not reported by this "
                               "search; reported metrics: accuracy, synaptic_ops,"),
    ({"constraints": {"synops": 10}}, "constraints: metric 'synops' is not reported by "
                                      "this search; reported metrics: accuracy,"),
    ({"max_trials": 0}, "max_trials: expected an int >= 1, got 0"),
    ({"oracle": "grid"}, "oracle: expected one of random, bayesian, hyperband, got 'grid'"),
    ({"backend": "loihi-9"}, "backend: 'loihi-9' not found; registered backends:"),
    ({"n_steps": (20, 10)}, "n_steps: bounds reversed"),
    ({"synapse": (0.0, 0.01)}, "synapse: expected (low, high) numbers with 0 < low"),
    ({"backend": "nengo-dl", "backend_options": {"minibatch_size": 0}},
     "backend_options: minibatch_size (setting of backend 'nengo-dl'): expected an int "
     ">= 1, got 0"),
])
def test_bad_search_configuration_fails_at_once(tiny, val, tmp_path, options, message):
    with pytest.raises(SearchConfigError) as info:
        search(tiny, val, tmp_path, **options)
    assert message in str(info.value)
    assert isinstance(info.value, FatalValueError) and isinstance(info.value, ValueError)
    assert not (tmp_path / "scale_search").exists()


@pytest.mark.parametrize("x, y, options, message", [
    (np.zeros((10, 28, 28)), np.zeros(10, int), {},
     "x_val: expected shape (N, 28, 28, 1) or (N, 784), got (10, 28, 28)"),
    (np.zeros((10, 28, 28, 1), complex), np.zeros(10, int), {},
     "x_val: expected real-valued images, got dtype complex128"),
    (np.zeros((10, 784)), np.zeros(9, int), {},
     "y_val: expected one integer label per image (10), got labels of shape (9,)"),
    (np.zeros((10, 784)), np.full(10, 42), {},
     "y_val: labels must be in 0..9 (the model has 10 outputs), got 42..42"),
    (np.zeros((10, 784)), np.zeros(10), {},
     "y_val: expected integer labels, got dtype float64"),
    (np.zeros((10, 784)), np.zeros(10, int), {"n_val": 11},
     "n_val: expected an int from 1 to 10 (len(x_val)), got 11"),
])
def test_bad_validation_set_fails_at_construction(tiny, tmp_path, x, y, options, message):
    with pytest.raises(SearchConfigError) as info:
        ScaleSearch(tiny, x, y, scales=GOOD, backend="nengo", directory=tmp_path,
                    **options)
    assert str(info.value) == message
    assert not (tmp_path / "scale_search").exists()


def test_flattened_validation_images_are_accepted(tiny, val, tmp_path):
    x, y = val
    s = search(tiny, (x.reshape(len(x), -1), y), tmp_path, max_trials=1).search()
    assert s.trials()[0]["status"] == "COMPLETED"


def test_unknown_layer_is_reported_with_real_names_for_rate_search(tiny, val, tmp_path,
                                                                    mnist_small):
    (x, y), _ = mnist_small
    with pytest.raises(SearchConfigError, match="rate_targets: unknown layer 'c'; neuron "
                                                "layers are: a, b"):
        RateTargetSearch(to_keras(tiny), (x[:100], y[:100]), *val,
                         rate_targets={"c": (10, 100)}, directory=tmp_path)


def test_unreachable_chief_names_address_and_port(tiny, val, tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker1")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    with pytest.raises(ChiefUnreachableError) as info:
        search(tiny, val, tmp_path, chief_timeout_s=1.0)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert f"port {port}" in str(info.value) and "'127.0.0.1'" in str(info.value)


# --- resume ----------------------------------------------------------------------------
def test_resume_runs_only_the_missing_trials(tiny, val, tmp_path):
    first = search(tiny, val, tmp_path, max_trials=3).search()
    assert first.run_trial_calls == 3
    before = {t["trial_id"]: t for t in first.trials()}

    again = search(tiny, val, tmp_path, max_trials=5).search()
    assert again.run_trial_calls == 2
    after = {t["trial_id"]: t for t in again.trials()}
    assert len(after) == 5 and all(t["status"] == "COMPLETED" for t in after.values())
    for trial_id, trial in before.items():
        assert after[trial_id]["metrics"] == trial["metrics"]
        assert after[trial_id]["hyperparameters"] == trial["hyperparameters"]


class _Killed(BaseException):
    """Stands in for SIGKILL/KeyboardInterrupt: not an Exception, keras-tuner does not
    catch it, the process 'dies' in the middle of a trial."""


def test_search_killed_mid_trial_resumes_without_repeating_or_losing(tiny, val, tmp_path):
    class Dies(ScaleSearch):
        def run_trial(self, trial, *args, **kwargs):
            if self.run_trial_calls == 2:
                raise _Killed()
            return super().run_trial(trial, *args, **kwargs)

    s = Dies(tiny, *val, scales=GOOD, backend="nengo", n_steps=20, oracle="random",
             max_trials=4, directory=tmp_path)
    with pytest.raises(_Killed):
        s.search()
    done = {t["trial_id"]: t["metrics"] for t in s.trials() if t["status"] == "COMPLETED"}
    assert len(done) == 2

    resumed = search(tiny, val, tmp_path, max_trials=4).search()
    assert resumed.run_trial_calls == 2  # the interrupted trial and one new one
    trials = resumed.trials()
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    for trial_id, metrics in done.items():
        assert {t["trial_id"]: t for t in trials}[trial_id]["metrics"] == metrics


# --- training search ---------------------------------------------------------------------
@pytest.mark.slow
def test_rate_target_search_trains_each_trial(mnist_small, tiny, val, tmp_path):
    (x, y), _ = mnist_small
    model = to_keras(tiny)
    s = RateTargetSearch(
        model, (x[:400], y[:400]), *val, rate_targets={"a": (50, 300), "b": (50, 300)},
        rate_weight=(0.1, 10.0), trainer_options={"max_epochs": 1, "minibatch_size": 100},
        neuron_type="loihi-relu", synapse=0.002, n_steps=20, backend="nengo",
        oracle="random", max_trials=2, directory=tmp_path,
        objective={"accuracy": 1.0, "synaptic_ops": -1e-5})
    s.search()
    trials = s.trials()
    assert [t["status"] for t in trials] == ["COMPLETED"] * 2, [t["reason"] for t in trials]
    for t in trials:
        assert 50 <= t["hyperparameters"]["rate_hz/a"] <= 300
        assert 0.1 <= t["hyperparameters"]["rate_weight"] <= 10
        assert 0 <= t["metrics"]["train_accuracy"] <= 1
    best = s.best_network()
    hp = s.best_trial()["hyperparameters"]
    assert best.metadata["tuning"]["rate_target_hz"] == {"a": hp["rate_hz/a"],
                                                         "b": hp["rate_hz/b"]}
    assert best.neuron.name == "loihi-relu" and best.synapse == 0.002
    # weights were trained in the trial, not the untrained starting point
    assert not np.allclose(best.weights["b"][0], tiny.weights["b"][0])
    assert os.path.isfile(tmp_path / "rate_target_search" /
                          f"trial_{s.best_trial()['trial_id']}" / "network.snn.npz")


# --- the seed network --------------------------------------------------------------------
@pytest.mark.slow
def test_scale_search_on_the_seed_network(trained_seed_loihi, mnist_small, tmp_path):
    _, (x_test, y_test) = mnist_small
    s = ScaleSearch(trained_seed_loihi, x_test[:20], y_test[:20], backend="nengo-dl",
                    scale_range=(2.0, 2.0), oracle="random", max_trials=2,
                    directory=tmp_path).search()
    assert s.layers == trained_seed_loihi.on_chip_layers == ("conv0", "conv1", "dense0")
    trials = s.trials()
    assert all(t["status"] == "COMPLETED" for t in trials), [t["reason"] for t in trials]
    for layer in s.layers:
        start = trained_seed_loihi.scale(layer)
        for t in trials:
            assert start / 2 <= t["hyperparameters"][f"scale/{layer}"] <= start * 2
            assert t["metrics"][f"rate_hz/{layer}"] > 0
    assert s.best_network().scale("to-spikes") == trained_seed_loihi.scale("to-spikes")


# --- configuration files ---------------------------------------------------------------
@pytest.mark.parametrize("config, message", [
    ({"search": "grid"}, "config['search']: expected one of scale, rate, got 'grid'"),
    ({"search": "scale", "netwrok": "x"}, "config: unknown key(s) netwrok; known:"),
    ({"search": "rate", "data": {"n_val": 0}}, "config['data']['n_val']: expected an "
                                               "int from 1 to 60000"),
    ({"search": "scale", "data": {"n_val": 70000, "val_from": "train"}},
     "config['data']['n_val']: expected an int from 1 to 60000 (MNIST training images, "
     "val_from 'train'), got 70000"),
    ({"search": "scale", "data": {"n_val": 20000, "val_from": "test"}},
     "config['data']['n_val']: expected an int from 1 to 10000 (MNIST test images, "
     "val_from 'test'), got 20000"),
    ({"search": "scale", "data": {"n_train": 70000, "n_val": 10, "val_from": "test"}},
     "config['data']['n_train']: expected an int from 1 to 60000 (MNIST training "
     "images), got 70000"),
    ({"search": "rate", "data": {"n_train": 59990, "n_val": 20}},
     "n_train + n_val must be <= 60000"),
    ({"search": "scale"}, "config['network']: a scale search needs the path"),
])
def test_bad_configuration_file(config, message, tmp_path):
    from snnkit.tuning.config import build_search

    path = tmp_path / "search.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SearchConfigError) as info:
        build_search(path)
    assert message in str(info.value)


def test_configuration_ranges_and_unknown_options(tiny, tmp_path):
    from snnkit.tuning.config import build_search

    network = tiny.save(tmp_path / "tiny.snn.npz")
    config = {"search": "scale", "network": str(network),
              "data": {"n_train": 1, "n_val": 10, "val_from": "test"},
              "options": {"scales": {"a": {"low": 50, "high": 300}, "b": [100, 200]},
                          "constraints": {"accuracy": [">=", 0.5]}, "backend": "nengo",
                          "directory": str(tmp_path)}}
    s = build_search(config)
    space = {hp.name: hp.get_config() for hp in s.oracle.get_space().space}
    assert (space["scale/a"]["min_value"], space["scale/a"]["max_value"]) == (50, 300)
    assert space["scale/a"]["sampling"] == "log"
    assert space["scale/b"]["values"] == [100.0, 200.0]
    assert s.objective.constraints == {"accuracy": (">=", 0.5)}
    config["options"]["scale_ranges"] = [2, 2]
    with pytest.raises(SearchConfigError, match="config\\['options'\\]: .*scale_ranges"):
        build_search(config)
