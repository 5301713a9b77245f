"""Backend conformance: one table of networks, every backend, one fixture.

Like nengo's ``Simulator`` fixture and optax's ``_OPTIMIZERS_UNDER_TEST``: the
``backend`` fixture is parametrized over every registered backend, and each test runs
the same networks (``CASES``) on it. A backend that is not usable here is skipped with
its own reason ("requires nxsdk" for Loihi hardware); a case a backend cannot run is
listed in ``LIMITS`` with the reason, and the test checks that the backend refuses it
with a clear error rather than skipping it.

Neuron type: ``loihi-relu`` everywhere (it runs on every backend). Its dynamics are
deterministic, so ``nengo`` and ``nengo-dl`` agree to float precision; nengo's
``SpikingRectifiedLinear`` starts from random voltages drawn by each simulator's own
random generator, so it is not used for exact comparisons.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import snnkit
from snnkit.backends import available_backends, get_backend, registered_backends
from snnkit.backends.loihi.nxsdk import HAS_NXSDK
from snnkit.backends.loihi.planning import plan_loihi_cores
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import (
    BackendCapabilityError,
    BackendUnavailable,
    BlockShapeDoesNotFit,
    LoihiMappingError,
    UnknownNameError,
    ValidationError,
)
from snnkit.models import seed_convnet
from snnkit.network.neurons import LOIHI_NEURON_TYPES

# Backends that run only Loihi neuron types and need something on chip.
LOIHI_BACKENDS = {"loihi", "loihi-emulator", "loihi-emulator-fast"}

# --- the table of networks -------------------------------------------------------


def _randomize(model, seed):
    """Seeded weights, mostly positive, so every layer of an untrained net fires."""
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        fan_in = int(np.prod(weights[0].shape[:-1]))
        new = [rng.uniform(-0.6, 1.0, weights[0].shape) * 2.5 / np.sqrt(fan_in)]
        new += [rng.uniform(0.0, 0.3, w.shape) for w in weights[1:]]
        layer.set_weights([w.astype(np.float32) for w in new])
    return model


def _model(input_shape, layers, seed):
    """The Keras model running ``layers`` one after another on an input named
    'input' of ``input_shape``, with seeded weights (``_randomize``)."""
    inp = tf.keras.Input(input_shape, name="input")
    x = inp
    for layer in layers:
        x = layer(x)
    return _randomize(tf.keras.Model(inp, x), seed)


def _relu_conv(filters, kernel, name, **options):
    """A ReLU convolution without bias, the neuron layer of the convolutional cases."""
    return tf.keras.layers.Conv2D(filters, kernel, activation="relu", use_bias=False,
                                  name=name, **options)


def _dense_head(units, n_out):
    """``flatten`` -> ReLU ``dense0`` of ``units`` -> linear ``out`` of ``n_out``."""
    return [tf.keras.layers.Flatten(name="flatten"),
            tf.keras.layers.Dense(units, activation="relu", name="dense0"),
            tf.keras.layers.Dense(n_out, name="out")]


def _dense():
    return _model((6, 6, 1), [
        tf.keras.layers.Flatten(name="flatten"),
        tf.keras.layers.Dense(24, activation="relu", name="to-spikes"),
        tf.keras.layers.Dense(20, activation="relu", name="dense0"),
        tf.keras.layers.Dense(16, activation="relu", name="dense1"),
        tf.keras.layers.Dense(4, name="out"),
    ], seed=1)


def _conv():
    return _model((10, 10, 1), [
        _relu_conv(3, 1, "to-spikes"),
        _relu_conv(6, 3, "conv0", strides=2),
        _relu_conv(8, 3, "conv1"),
        *_dense_head(12, 5),
    ], seed=2)


def _pool():
    """Average pooling on the host, before the first neuron layer: the place
    nengo-loihi 1.1.0 can run it (see ``_pool_on_chip``)."""
    return _model((12, 12, 1), [
        tf.keras.layers.AveragePooling2D(2, name="pool"),
        _relu_conv(3, 1, "to-spikes"),
        _relu_conv(6, 3, "conv0"),
        *_dense_head(10, 3),
    ], seed=3)


def _pool_on_chip():
    """Average pooling between two on-chip convolutions."""
    return _model((10, 10, 1), [
        _relu_conv(2, 1, "to-spikes"),
        _relu_conv(4, 3, "conv0", padding="same"),
        tf.keras.layers.AveragePooling2D(2, name="pool"),
        _relu_conv(4, 3, "conv1"),
        *_dense_head(8, 3),
    ], seed=4)


def _residual():
    """A residual block (identity skip around two convolutions, the second linear) and
    a channel concatenation with a 1x1-convolution branch."""
    layers = tf.keras.layers
    inp = tf.keras.Input((8, 8, 1), name="input")
    x = _relu_conv(3, 1, "to-spikes")(inp)
    c1 = _relu_conv(4, 3, "conv0", padding="same")(x)
    c2 = layers.Conv2D(4, 3, padding="same", name="conv1")(
        _relu_conv(4, 3, "conv1a", padding="same")(c1))
    s = layers.Activation("relu", name="sum")(layers.Add(name="add")([c1, c2]))
    cat = layers.Concatenate(name="cat")([s, _relu_conv(2, 1, "branch")(c1)])
    head = _dense_head(8, 3)
    out = head[2](head[1](head[0](_relu_conv(4, 3, "conv2", strides=2)(cat))))
    return _randomize(tf.keras.Model(inp, out), seed=5)


def _all_conv():
    """An all-convolutional classifier: the last convolution is linear and global
    average pooling is the output, read from the chip by the host."""
    return _model((8, 8, 1), [
        _relu_conv(3, 1, "to-spikes"),
        _relu_conv(4, 3, "conv0"),
        tf.keras.layers.Conv2D(3, 3, name="classes"),
        tf.keras.layers.GlobalAveragePooling2D(name="gap"),
    ], seed=6)


def _random_images(shape, n, seed=0):
    return np.random.RandomState(seed).uniform(0, 1, (n,) + shape).astype(np.float32)


def _mnist_images(shape, n, seed=0):
    return snnkit.load_mnist(0, n)[1][0]


# name -> (Keras model builder, inputs builder, per-layer scales, inputs, steps).
# Untrained weights: the scales are chosen so that every layer fires within the run.
CASES = {
    "dense": (_dense, _random_images, 150.0, 3, 20),
    "conv": (_conv, _random_images,
             {"to-spikes": 300, "conv0": 1000, "conv1": 2000, "dense0": 2000}, 3, 20),
    "seed-convnet": (seed_convnet, _mnist_images,
                     {"to-spikes": 2, "conv0": 100, "conv1": 500, "dense0": 2000}, 2, 20),
    "pool": (_pool, _random_images, {"to-spikes": 300, "conv0": 500, "dense0": 1000},
             3, 20),
    "pool-on-chip": (_pool_on_chip, _random_images, 150.0, 3, 20),
    "residual": (_residual, _random_images, 300.0, 3, 20),
    "all-conv": (_all_conv, _random_images, 300.0, 3, 20),
}

# (backend, case) -> (error, message, why): a case that backend cannot run; the test
# expects that clear error.
# Average pooling between on-chip layers, residual sums, concatenations and
# convolutional heads read from the chip used to be refused or crash here (nengo-loihi
# 1.1.0 cannot build nengo-dl's passthrough nodes next to on-chip layers); the Loihi
# build now composes them into direct connections or runs them on the host
# (backends/loihi/passes.py), so every backend runs every case.
LIMITS = {
}


@pytest.fixture(scope="module")
def networks():
    """Frozen networks of the table, built once per module."""
    cache = {}

    def get(case, neuron="loihi-relu"):
        if (case, neuron) not in cache:
            builder, images, scale, n, _ = CASES[case]
            model = builder()
            network = from_keras(model, neuron_type=neuron,
                                               scale_firing_rates=scale, synapse=0.005)
            x = images(network.input_shape, n)
            cache[case, neuron] = network, x
        return cache[case, neuron]

    return get


@pytest.fixture(scope="module")
def run(networks):
    """``run(backend, case, ...) -> Result``, each distinct run done once."""
    cache = {}

    def go(backend_name, case, neuron="loihi-relu", presentation="reset"):
        key = (backend_name, case, neuron, presentation)
        if key not in cache:
            network, x = networks(case, neuron)
            cache[key] = get_backend(backend_name).run(
                network, x, n_steps=CASES[case][4], presentation=presentation)
        return cache[key]

    return go


def _backend_params():
    params = []
    for name in registered_backends():
        if name == "loihi":
            params.append(pytest.param(name, marks=[
                pytest.mark.hardware,
                pytest.mark.skipif(not HAS_NXSDK, reason="requires nxsdk")]))
        else:
            params.append(name)
    return params


@pytest.fixture(params=_backend_params())
def backend(request):
    """The name of one registered backend; unusable ones skip with their reason."""
    name = request.param
    cls = type(get_backend(name))
    if not cls.is_available():
        pytest.skip(f"{name}: {cls.unavailable_reason()}")
    return name


# --- every case on every backend ---------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_case_runs_and_reports(backend, case, networks, run):
    if (backend, case) in LIMITS:
        error, message, _why = LIMITS[backend, case]
        network, x = networks(case)
        with pytest.raises(error, match=message):
            get_backend(backend).run(network, x, n_steps=5)
        return
    network, x = networks(case)
    result = run(backend, case)
    n_steps = CASES[case][4]
    n_out = network.layer_shape(network.output_layer)[-1]

    assert result.backend == backend
    assert result.outputs.shape == (len(x), n_steps, n_out)
    assert np.all(np.isfinite(result.outputs))
    assert np.abs(result.outputs).max() > 0, "output never moves: weak case"
    assert result.predictions.shape == (len(x),)
    assert set(result.layer_rates_hz) == set(network.neuron_layers)
    for layer in network.neuron_layers:
        assert 0 < result.layer_rates_hz[layer] <= 1 / network.dt, layer
        assert result.spikes_per_input[layer] > 0, layer
    synops = result.synaptic_ops_per_input
    assert synops["total"] == pytest.approx(
        sum(v for k, v in synops.items() if k != "total"))
    assert synops["total"] > 0
    assert (result.n_steps, result.dt) == (n_steps, network.dt)
    assert result.wall_time_s > 0 and result.images_per_s > 0
    ttd = result.time_to_decision()
    assert ttd.shape == (len(x),) and np.all((ttd >= 1) & (ttd <= n_steps))
    assert result.versions["nengo"] and result.versions["numpy"]
    summary = json.loads(json.dumps(result.to_dict(np.zeros(len(x), int))))
    assert summary["backend"] == backend
    assert len(summary["accuracy_by_step"]) == n_steps


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("neuron", ["relu", "loihi-relu"])
def test_nengo_and_nengo_dl_agree(case, neuron, run):
    """Same network, same inputs: the reference simulator and NengoDL give the same
    outputs at every step, up to float32 rounding."""
    ref = run("nengo", case, neuron)
    dl = run("nengo-dl", case, neuron)
    assert np.abs(ref.outputs).max() > 0
    scale = np.abs(ref.outputs).max()
    np.testing.assert_allclose(dl.outputs, ref.outputs, rtol=1e-4, atol=1e-4 * scale)
    for layer, rate in ref.layer_rates_hz.items():
        assert dl.layer_rates_hz[layer] == pytest.approx(rate, rel=1e-3, abs=1e-3)


def test_nengo_and_nengo_dl_agree_sequential(run):
    ref = run("nengo", "conv", presentation="sequential")
    dl = run("nengo-dl", "conv", presentation="sequential")
    np.testing.assert_allclose(dl.outputs, ref.outputs, rtol=1e-4,
                               atol=1e-4 * np.abs(ref.outputs).max())


# --- presentation modes --------------------------------------------------------------


@pytest.mark.parametrize("presentation", ["reset", "sequential"])
def test_presentation_modes(backend, presentation, networks, run):
    """reset: every input from rest (order does not matter); sequential: the first
    input starts from rest like reset, later ones inherit the state left by the one
    before (so they differ from reset at the start of their presentation)."""
    network, x = networks("dense")
    engine = get_backend(backend)
    if presentation not in engine.presentations:
        with pytest.raises(BackendCapabilityError, match="presentation: backend"):
            engine.run(network, x, n_steps=5, presentation=presentation)
        return
    reset = run(backend, "dense", presentation="reset")
    if presentation == "reset":
        reversed_ = engine.run(network, x[::-1], n_steps=CASES["dense"][4])
        np.testing.assert_allclose(reversed_.outputs[::-1], reset.outputs,
                                   rtol=1e-5, atol=1e-6)
        return
    seq = run(backend, "dense", presentation="sequential")
    assert seq.presentation == "sequential"
    np.testing.assert_allclose(seq.outputs[0], reset.outputs[0], rtol=1e-5, atol=1e-6)
    # one step into the second input: reset starts from zero output, sequential
    # still carries the first input's filtered activity
    assert not np.allclose(seq.outputs[1, 0], reset.outputs[1, 0])


# --- bad input, on every backend -------------------------------------------------------

_NAN = _random_images((6, 6, 1), 2)
_NAN[1, 2, 3, 0] = np.nan
_INF = _random_images((6, 6, 1), 2)
_INF[0, 0, 0, 0] = np.inf
BAD_INPUTS = {
    "wrong-shape": (dict(x=np.zeros((2, 5, 5, 1))), r"x: expected shape \(N, 6, 6, 1\) "
                    r"or \(N, 36\), got \(2, 5, 5, 1\)"),
    "wrong-dtype": (dict(x=np.full((2, 36), "a")), "x: expected numeric images, got dtype"),
    "empty": (dict(x=np.zeros((0, 36))), "x: expected at least one input"),
    "nan": (dict(x=_NAN), "x: inputs must be finite; input 1 has NaN or inf"),
    "inf": (dict(x=_INF), "x: inputs must be finite; input 0 has NaN or inf"),
    "n_steps-0": (dict(n_steps=0), "n_steps: expected an int >= 1, got 0"),
    "n_steps-float": (dict(n_steps=2.5), "n_steps: expected an int >= 1, got 2.5"),
    "presentation": (dict(presentation="random"),
                     "presentation: expected one of reset, sequential, got 'random'"),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input(backend, bad, networks):
    network, x = networks("dense")
    changes, message = BAD_INPUTS[bad]
    args = dict(x=x, n_steps=5)
    args.update(changes)
    with pytest.raises(ValidationError, match=message):
        get_backend(backend).run(network, args.pop("x"), **args)


def test_bad_network_argument(backend):
    with pytest.raises(ValidationError, match="network: expected a snnkit.FrozenNetwork, "
                                              "got Functional"):
        get_backend(backend).run(_dense(), np.zeros((1, 36)), n_steps=5)


def test_unknown_backend_lists_registered():
    with pytest.raises(UnknownNameError) as info:
        get_backend("loihi2")
    message = str(info.value)
    assert message.startswith("backend: 'loihi2' not found in registry. Available names:")
    for name in ("nengo", "nengo-dl", "loihi-emulator", "loihi"):
        assert name in registered_backends()
        assert name in message
    assert isinstance(info.value, KeyError)


def test_non_loihi_neuron_on_chip(backend, networks):
    """Rate ReLU on chip: Loihi backends name the layers and the allowed types;
    the others run it."""
    network, x = networks("dense", "relu")
    engine = get_backend(backend)
    if backend in LOIHI_BACKENDS:
        with pytest.raises(BackendCapabilityError) as info:
            engine.run(network, x, n_steps=5)
        message = str(info.value)
        assert "on-chip layer(s) 'dense0', 'dense1' use 'relu'" in message
        assert f"allowed on chip: {', '.join(LOIHI_NEURON_TYPES)}" in message
    else:
        assert engine.run(network, x, n_steps=5).outputs.shape == (len(x), 5, 4)


def test_nothing_on_chip(backend, networks):
    network, x = networks("dense")
    network = network.replace(off_chip=network.neuron_layers + ("out",))
    engine = get_backend(backend)
    if backend in LOIHI_BACKENDS:
        with pytest.raises(LoihiMappingError, match="network: no layer is on chip"):
            engine.run(network, x, n_steps=5)
    else:
        assert engine.run(network, x, n_steps=5).outputs.shape == (len(x), 5, 4)


# --- Loihi hardware: unavailable without nxsdk, never replaced by the emulator --------


@pytest.mark.skipif(HAS_NXSDK, reason="nxsdk is installed: 'loihi' is available here")
def test_loihi_unavailable_without_nxsdk(networks):
    network, x = networks("dense")
    assert "loihi" in registered_backends()
    assert "loihi" not in available_backends()
    engine = get_backend("loihi")
    assert not engine.is_available()
    assert "nxsdk" in engine.unavailable_reason()
    with pytest.raises(BackendUnavailable) as info:
        engine.run(network, x, n_steps=5)
    message = str(info.value)
    assert message.startswith("backend 'loihi' is unavailable: Intel's nxsdk")
    assert "use backend 'loihi-emulator'" in message
    with pytest.raises(BackendUnavailable, match="nxsdk"):
        get_backend("loihi", require_available=True)
    # argument checks come first and are the same as everywhere
    with pytest.raises(ValidationError, match="n_steps"):
        engine.run(network, x, n_steps=0)


@pytest.mark.hardware
@pytest.mark.skipif(not HAS_NXSDK, reason="requires nxsdk")
def test_loihi_hardware_matches_emulator(networks, run):
    hw = run("loihi", "conv")
    emu = run("loihi-emulator", "conv")
    assert np.mean(hw.predictions == emu.predictions) >= 0.95


# --- core mapping inside the Loihi backends ------------------------------------------


def test_seed_network_plans_every_on_chip_layer(networks):
    network, _ = networks("seed-convnet")
    assert network.block_shapes == {}
    plan = plan_loihi_cores(network)
    assert [lp.name for lp in plan.layers] == list(network.on_chip_layers)
    for lp in plan.layers:
        assert not lp.given
        util = lp.utilization()
        assert all(0 < u <= 1 for k, u in util.items() if k != "output_axons"), lp.name
    # the seed notebook's trouble: one core for dense0 overflows synapse memory
    assert plan["dense0"].n_cores >= 2


def test_given_block_shapes_are_honored(networks):
    network, _ = networks("seed-convnet")
    own = network.replace(block_shapes={"conv1": (6, 6, 16)})
    plan = plan_loihi_cores(own, {"dense0": (25,)})
    assert plan["conv1"].block_shape == (6, 6, 16) and plan["conv1"].given
    assert plan["dense0"].block_shape == (25,) and plan["dense0"].given
    assert not plan["conv0"].given
    with pytest.raises(BlockShapeDoesNotFit, match=r"conv0: block shape \(13, 13, 32\) "
                                                   r"needs 5408 compartments"):
        plan_loihi_cores(network, {"conv0": (13, 13, 32)})


# --- loihi-emulator vs nengo-dl on a trained seed network -----------------------------

N_EXACT = 8  # nengo-loihi's emulator: about 1 s per image
N_AGREE = 200  # 95% of 200 leaves room for 10 disagreements, not 1 of 20


@pytest.mark.slow
def test_emulator_agrees_with_nengo_dl_on_trained_seed(trained_seed_loihi, mnist_small):
    """The trained seed network (conftest: ReLU-trained on 2,000 images, scales
    calibrated with Loihi neurons), 30 steps, each input from rest.

    nengo-loihi's emulator runs the first 8 images; ``loihi-emulator-fast``, checked
    here to give the same outputs bit for bit on those, stands in for it on all 200,
    so the agreement figure rests on enough images to mean something."""
    for name in ("loihi-emulator", "loihi-emulator-fast"):
        if name not in available_backends():
            pytest.skip(f"{name}: {get_backend(name).unavailable_reason()}")
    network = trained_seed_loihi
    _, (x_test, y_test) = mnist_small
    x, y = x_test[:N_AGREE], y_test[:N_AGREE]
    emu = get_backend("loihi-emulator").run(network, x[:N_EXACT], n_steps=30)
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=30)
    np.testing.assert_array_equal(fast.outputs[:N_EXACT], emu.outputs)
    dl = get_backend("nengo-dl").run(network, x, n_steps=30)
    assert dl.accuracy(y) >= 0.7, "the trained network is too weak for a fair test"
    agree = dl.predictions == fast.predictions
    assert agree.mean() >= 0.95, (
        f"predictions agree on {agree.sum()}/{len(x)}; disagreeing inputs "
        f"{np.flatnonzero(~agree).tolist()}; accuracy nengo-dl {dl.accuracy(y)}, "
        f"emulator {fast.accuracy(y)}; rates nengo-dl {dl.layer_rates_hz}, "
        f"emulator {fast.layer_rates_hz}")
    for layer, rate in dl.layer_rates_hz.items():
        assert fast.layer_rates_hz[layer] == pytest.approx(rate, rel=0.1), (
            f"{layer}: nengo-dl {dl.layer_rates_hz}, emulator {fast.layer_rates_hz}")
