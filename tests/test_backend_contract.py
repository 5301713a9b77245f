"""The public backend contract, as a third party meets it.

``KerasRateBackend`` below is a whole backend written from ``snnkit.backends.toolkit``
alone: it runs the network's rate approximation (the frozen Keras model, ReLU rates)
and reports the same Result as every other backend. Then: prepared networks are
built once, unknown options and settings are refused by name, and the registry
reports collisions and broken plugins without breaking other lookups.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap

import numpy as np
import pytest

from snnkit.backends.toolkit import (
    Backend,
    LayerActivity,
    PreparedNetwork,
    RunSummary,
    register_backend,
)
from snnkit.convert.freeze import from_keras
from snnkit.convert.keras_model import to_keras

# --- a third-party backend in one short class pair ------------------------------------


class KerasRateBackend(Backend):
    """The network as rates: every step outputs the Keras model's output, and each
    neuron layer's rate is its ReLU activation (Hz, scaled by its firing-rate scale)."""

    name = "keras-rates"
    description = "the frozen Keras model evaluated as rates (no spikes, no time)"
    presentations = ("reset",)
    builds = 0  # how many times a network was built, for the tests below

    def build(self, network):
        type(self).builds += 1
        return _KerasRatePrepared(self, network)


class _KerasRatePrepared(PreparedNetwork):
    def __init__(self, backend, network):
        import tensorflow as tf

        super().__init__(backend, network)
        model = to_keras(network)
        layers = [model.get_layer(name).output for name in network.neuron_layers]
        self.model = tf.keras.Model(model.inputs, [model.output] + layers)

    def simulate(self, x, n_steps, *, presentation, progress):
        network = self.network
        outputs, *layers = self.model(x.reshape((-1,) + network.input_shape))
        activity = self.new_activity()
        for name, values in zip(network.neuron_layers, layers):
            rates = np.asarray(values).reshape(len(x), -1) * network.scale(name)
            activity.add_counts(name, rates * n_steps * network.dt, n_steps)
        activity.finish_batch(len(x))
        per_step = np.repeat(np.asarray(outputs)[:, None, :], n_steps, axis=1)
        return per_step, activity.summary()


@pytest.fixture(scope="module")
def dense():
    """A small untrained dense network with ReLU rates and its inputs."""
    import tensorflow as tf


    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((6, 6, 1), name="input")
    h = tf.keras.layers.Flatten(name="flatten")(inp)
    h = tf.keras.layers.Dense(24, activation="relu", name="to-spikes")(h)
    h = tf.keras.layers.Dense(16, activation="relu", name="dense0")(h)
    out = tf.keras.layers.Dense(4, name="out")(h)
    network = from_keras(tf.keras.Model(inp, out), neuron_type="relu",
                                       scale_firing_rates=50.0)
    x = np.random.RandomState(0).uniform(0, 1, (3, 6, 6, 1)).astype(np.float32)
    return network, x


@pytest.fixture
def keras_rates():
    from snnkit.backends import get_backend, unregister_backend

    register_backend(KerasRateBackend)
    yield get_backend("keras-rates")
    unregister_backend("keras-rates")


def test_third_party_backend_runs_like_the_built_ins(keras_rates, dense):
    from snnkit.backends import backend_entries, get_backend, registered_backends

    network, x = dense
    assert "keras-rates" in registered_backends()
    entry = {e.name: e for e in backend_entries()}["keras-rates"]
    assert entry.description == KerasRateBackend.description and entry.is_available
    result = keras_rates.run(network, x, n_steps=5)
    reference = get_backend("nengo").run(network, x, n_steps=5)
    assert result.backend == "keras-rates" and result.outputs.shape == (3, 5, 4)
    # nengo with rate neurons and no synapse gives the Keras output at every step
    np.testing.assert_allclose(result.outputs, reference.outputs, rtol=1e-4, atol=1e-5)
    for layer, rate in reference.layer_rates_hz.items():
        assert rate > 0
        assert result.layer_rates_hz[layer] == pytest.approx(rate, rel=1e-4)
    assert result.synaptic_ops_per_input["total"] == pytest.approx(
        reference.synaptic_ops_per_input["total"], rel=1e-4)
    # the shared checks apply to it too
    with pytest.raises(Exception, match="presentation: backend 'keras-rates' supports "
                                        "reset, not 'sequential'"):
        keras_rates.run(network, x, n_steps=5, presentation="sequential")


def test_a_prepared_network_is_built_once(keras_rates, dense):
    network, x = dense
    before = KerasRateBackend.builds
    with keras_rates.prepare(network) as prepared:
        runs = [prepared.run(x, n_steps=n) for n in (2, 3, 3)]
    assert KerasRateBackend.builds == before + 1
    assert [r.n_steps for r in runs] == [2, 3, 3]
    np.testing.assert_array_equal(runs[1].outputs, runs[2].outputs)
    with pytest.raises(Exception, match="prepared network: closed"):
        prepared.run(x, n_steps=2)


def _count_calls(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("backend_name, presentation", [
    ("nengo", "reset"), ("nengo", "sequential"), ("nengo-dl", "reset"),
    ("nengo-dl", "sequential"), ("loihi-emulator", "reset"),
    ("loihi-emulator-fast", "reset")])
def test_built_ins_build_and_plan_once_per_prepare(backend_name, presentation,
                                                   dense, monkeypatch):
    """Re-running a prepared network converts nothing again, and a Loihi backend
    plans its cores on the same conversion it runs."""
    import snnkit.convert.to_nengo
    from snnkit.backends import get_backend
    from snnkit.backends.loihi import core_mapping

    network, x = dense
    network = network.replace(neuron="loihi-relu", synapse=0.005)
    builds = _count_calls(monkeypatch, snnkit.convert.to_nengo, "build_network")
    plans = _count_calls(monkeypatch, core_mapping, "plan_cores")
    backend = get_backend(backend_name)
    with backend.prepare(network) as prepared:
        first = prepared.run(x, n_steps=6, presentation=presentation)
        again = prepared.run(x, n_steps=6, presentation=presentation)
    assert len(builds) == 1
    assert len(plans) == (1 if "loihi" in backend_name else 0)
    np.testing.assert_array_equal(first.outputs, again.outputs)
    # a one-off run gives the same, with a single conversion too
    fresh = backend.run(network, x, n_steps=6, presentation=presentation)
    assert len(builds) == 2
    np.testing.assert_array_equal(fresh.outputs, first.outputs)


def test_decisions_are_logged(dense, caplog):
    import logging

    from snnkit.backends import get_backend

    network, x = dense
    network = network.replace(neuron="loihi-relu", synapse=0.005)
    with caplog.at_level(logging.INFO, logger="snnkit"):
        get_backend("loihi-emulator-fast", chunk_size=2).run(network, x, n_steps=2)
    messages = {r.name: r.getMessage() for r in caplog.records}
    assert messages["snnkit.backends.loihi.planning"] == (
        "Loihi core plan: 1 core(s); block shapes {'dense0': (16,)}")
    assert messages["snnkit.backends.loihi_emulator_fast"] == (
        "loihi-emulator-fast: 3 input(s) in chunks of 2 on 2 thread(s)")


# --- options and settings ---------------------------------------------------------------


def test_unknown_run_options_are_refused(dense):
    from snnkit.backends import get_backend
    from snnkit.exceptions import SnnkitError, UnknownOptionError

    network, x = dense
    with pytest.raises(UnknownOptionError) as info:
        get_backend("nengo-dl").run(network, x, n_steps=5, foo=1)
    assert str(info.value) == (
        "run: unknown option(s) 'foo'; run takes x, n_steps, presentation, progress; "
        "settings of backend 'nengo-dl' (minibatch_size, chunk_size) go to "
        "get_backend('nengo-dl', ...)")
    assert isinstance(info.value, SnnkitError) and isinstance(info.value, TypeError)
    with get_backend("nengo").prepare(network) as prepared:
        with pytest.raises(UnknownOptionError, match=r"run: unknown option\(s\) "
                                                     r"'chunk_size'; run takes"):
            prepared.run(x, n_steps=5, chunk_size=3)


def test_unknown_backend_settings_are_refused():
    from snnkit.backends import get_backend
    from snnkit.exceptions import UnknownOptionError

    with pytest.raises(UnknownOptionError) as info:
        get_backend("nengo-dl", minibatch=10)
    assert str(info.value) == ("get_backend: backend 'nengo-dl' has no setting(s) "
                               "'minibatch'; its settings are: minibatch_size, chunk_size")
    with pytest.raises(UnknownOptionError, match="backend 'nengo' has no setting"
                                                 r"\(s\) 'seed'; its settings are: none"):
        get_backend("nengo", seed=1)
    assert get_backend("nengo-dl", minibatch_size=10).minibatch_size == 10


@pytest.mark.parametrize("name, setting, value, expected", [
    ("nengo-dl", "minibatch_size", 0, "an int >= 1"),
    ("nengo-dl", "minibatch_size", 2.5, "an int >= 1"),
    ("nengo-dl", "chunk_size", -10, "an int >= 1"),
    ("nengo-dl", "chunk_size", True, "an int >= 1"),
    ("loihi-emulator-fast", "chunk_size", "64", "an int >= 1"),
    ("loihi-emulator-fast", "n_threads", 0, "an int >= 1"),
])
def test_backend_settings_are_range_checked(name, setting, value, expected):
    """A bad setting fails at get_backend, naming the setting, the backend, what was
    expected and what was received; nothing is built first."""
    from snnkit.backends import get_backend
    from snnkit.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        get_backend(name, **{setting: value})
    assert str(info.value) == (f"{setting} (setting of backend {name!r}): expected "
                               f"{expected}, got {value!r}")


def test_good_backend_settings_are_kept_as_ints():
    import numpy as np

    from snnkit.backends import get_backend

    backend = get_backend("loihi-emulator-fast", chunk_size=np.int64(16), n_threads=1)
    assert (backend.chunk_size, backend.n_threads) == (16, 1)
    assert type(backend.chunk_size) is int


def test_simulate_must_return_a_run_summary(dense):
    from snnkit.exceptions import BackendContractError

    class DictSummary(KerasRateBackend):
        name = "dict-summary"

        def build(self, network):
            return _DictPrepared(self, network)

    class _DictPrepared(_KerasRatePrepared):
        def simulate(self, x, n_steps, *, presentation, progress):
            outputs, summary = super().simulate(x, n_steps, presentation=presentation,
                                                progress=progress)
            return outputs, summary.to_dict()

    network, x = dense
    with pytest.raises(BackendContractError, match=r"_DictPrepared.simulate: expected "
                                                   r"\(outputs, RunSummary\), got a dict"):
        DictSummary().run(network, x, n_steps=2)


def test_run_summary_fields_are_result_fields():
    from snnkit.network.results import Result

    summary = {f.name for f in dataclasses.fields(RunSummary)}
    assert summary <= {f.name for f in dataclasses.fields(Result)}
    activity = LayerActivity({"a": 1.0}, 0.001)
    activity.add_counts("a", np.array([[3.0, 0.0]]), 10)
    activity.finish_batch(1)
    assert activity.summary().layer_rates_hz == {"a": pytest.approx(300.0)}


# --- the registry: descriptions, collisions, plugins --------------------------------------


def test_registry_refuses_collisions_and_incomplete_backends():
    from snnkit.backends.registry import BackendRegistry
    from snnkit.exceptions import BackendRegistryError

    registry = BackendRegistry(entry_point_group=None)
    registry.register(KerasRateBackend)
    twin = type("Twin", (KerasRateBackend,), {})
    with pytest.raises(BackendRegistryError, match="a backend named 'keras-rates' is "
                                                   "already registered .from snnkit.; "
                                                   "pass override=True to replace it"):
        registry.register(twin)
    registry.register(twin, override=True)
    assert registry.get("keras-rates").__class__ is twin
    undescribed = type("Undescribed", (KerasRateBackend,), {"name": "x", "description": ""})
    with pytest.raises(BackendRegistryError, match="Undescribed.description: expected a "
                                                   "non-empty string, got ''"):
        registry.register(undescribed)
    abstract = type("Abstract", (Backend,), {"name": "y", "description": "d"})
    with pytest.raises(BackendRegistryError, match="Abstract does not implement build"):
        registry.register(abstract)


PLUGIN = '''
from snnkit.backends.toolkit import Backend


class GoodPlugin(Backend):
    name = "good-plugin"
    description = "a plugin that loads"

    def build(self, network):
        raise NotImplementedError


class Taken(GoodPlugin):
    name = "keras-rates"
'''

ENTRY_POINTS = """
[snnkit.backends.test-contract]
good-plugin = snnkit_test_plugin:GoodPlugin
broken-plugin = snnkit_test_plugin_missing:Backend
keras-rates = snnkit_test_plugin:Taken
"""


def test_plugins_collisions_and_broken_ones_are_reported(tmp_path, monkeypatch):
    from snnkit.backends.registry import BackendRegistry
    from snnkit.exceptions import BackendUnavailable

    (tmp_path / "snnkit_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "snnkit_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: snnkit-test-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "snnkit_test_plugin", raising=False)

    registry = BackendRegistry(entry_point_group="snnkit.backends.test-contract")
    registry.register(KerasRateBackend)
    with pytest.warns(RuntimeWarning) as warned:
        names = registry.names()
    messages = [str(w.message) for w in warned]
    assert names == ("keras-rates", "good-plugin", "broken-plugin")
    assert any(m.startswith("backend 'broken-plugin': plugin failed to load (entry "
                            "point 'broken-plugin'") and "ModuleNotFoundError" in m
               for m in messages), messages
    assert any(m.startswith("backend plugin 'keras-rates' (entry point 'keras-rates'")
               and "the name is taken by the backend from snnkit" in m
               for m in messages), messages
    # the broken one is listed as unavailable, with its error; the others still work
    entries = {e.name: e for e in registry.entries()}
    assert not entries["broken-plugin"].is_available
    assert "snnkit_test_plugin_missing" in entries["broken-plugin"].unavailable_reason()
    assert entries["good-plugin"].source.endswith("of snnkit-test-plugin 1.0")
    assert registry.available() == ("keras-rates", "good-plugin")
    assert registry.get("good-plugin").description == "a plugin that loads"
    assert registry.get("keras-rates").__class__ is KerasRateBackend
    with pytest.raises(BackendUnavailable, match="backend 'broken-plugin' is unavailable: "
                                                 "plugin failed to load"):
        registry.get("broken-plugin")


def test_unsupported_feature_error_is_a_snnkit_error():
    from snnkit.exceptions import SnnkitError, UnsupportedFeatureError

    error = UnsupportedFeatureError("noise", "ensemble 'a'", "no noise")
    assert isinstance(error, SnnkitError) and isinstance(error, NotImplementedError)
    assert str(error).startswith("loihi-emulator-fast does not support noise (found in "
                                 "ensemble 'a'); supported: no noise.")
