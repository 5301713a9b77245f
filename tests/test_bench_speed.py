"""snnkit bench times a backend's build apart from its run: images/s is the run's."""

import json
import time

import numpy as np
import pytest

from snnkit.backends.toolkit import Backend, PreparedNetwork, register_backend
from snnkit.bench import BenchConfig, run_bench
from snnkit.keras.specs import LayerSpec, model_config
from snnkit.network.frozen import FrozenNetwork

BUILD_S = 0.5


class SlowBuildBackend(Backend):
    """Builds in half a second, then runs at once: silent outputs."""

    name = "slow-build"
    description = "a test backend: a slow build and an instant run"
    presentations = ("reset",)

    def build(self, network):
        time.sleep(BUILD_S)
        return _Instant(self, network)


class _Instant(PreparedNetwork):
    def simulate(self, x, n_steps, *, presentation, progress):
        activity = self.new_activity()
        for name in self.network.neuron_layers:
            size = int(np.prod(self.network.layer_shape(name)))
            activity.add_counts(name, np.zeros((len(x), size)), n_steps)
        activity.finish_batch(len(x))
        n_outputs = self.network.layer_shape(self.network.output_layer)[-1]
        return np.zeros((len(x), n_steps, n_outputs), np.float32), activity.summary()


@pytest.fixture
def slow_build():
    from snnkit.backends import unregister_backend

    register_backend(SlowBuildBackend)
    yield "slow-build"
    unregister_backend("slow-build")


def _network():
    config = model_config([
        LayerSpec("InputLayer", "input", {"batch_input_shape": [None, 4]}),
        LayerSpec("Dense", "hidden", {"units": 3, "activation": "relu"}, ("input",)),
        LayerSpec("Dense", "out", {"units": 3}, ("hidden",)),
    ])
    weights = {"hidden": (np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
               "out": (np.ones((3, 3), np.float32), np.zeros(3, np.float32))}
    return FrozenNetwork(model_json=json.dumps(config), weights=weights, neuron="relu")


def test_images_per_s_leaves_the_build_out(slow_build, tmp_path):
    x = np.zeros((20, 4), np.float32)
    report = run_bench(_network(), x, np.zeros(20, int), tmp_path,
                       BenchConfig(backends=(slow_build,), n_steps=5, n_hist=0,
                                   plots=False, progress=False))
    case = report["cases"][0]
    assert case["build_time_s"] >= BUILD_S
    assert case["wall_time_s"] == pytest.approx(case["build_time_s"] + case["run_time_s"])
    assert case["images_per_s"] == pytest.approx(20 / case["run_time_s"])
    # the time images/s stands for leaves the build's half second out (it used to be
    # the whole wall time)
    assert 20 / case["images_per_s"] <= case["wall_time_s"] - BUILD_S + 1e-6
    assert report["timing"]["stack_import_s"] >= 0
    # and the throughput's context: which BLAS, kernel and threads
    assert report["environment"]["blas"][0]["threads"] >= 1
