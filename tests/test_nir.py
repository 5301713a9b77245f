"""NIR export and import (snnkit.nir.export, snnkit.nir.importer): the exact round trip,
an independent reference interpreter of the exported graphs, graphs from elsewhere
(IF/LIF/CubaLIF, pools, padding, channels-first layout), every refusal, and the CLI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import h5py
import nir
import numpy as np
import pytest
from nir_reference import run_graph, steady_state

from snnkit import FrozenNetwork
from snnkit.backends import get_backend
from snnkit.cli import main
from snnkit.convert.freeze import from_keras
from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import NIRError, NIRMeaningWarning, ValidationError
from snnkit.nir.export import to_nir, write_nir
from snnkit.nir.importer import from_nir


def _nchw(x):
    return np.asarray(x, np.float64).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def exported(trained_seed_loihi, tmp_path_factory):
    """The trained, calibrated seed network (loihi-relu, synapse 5 ms) as a NIR file."""
    return write_nir(trained_seed_loihi, tmp_path_factory.mktemp("nir") / "seed.nir")


# --- the round trip ------------------------------------------------------------------
def test_round_trip_restores_the_network_exactly(trained_seed_loihi, exported,
                                                 mnist_small):
    back = from_nir(exported)
    original = trained_seed_loihi
    assert back.neuron == original.neuron
    assert back.scale_firing_rates == original.scale_firing_rates
    assert (back.synapse, back.dt) == (original.synapse, original.dt)
    assert back.off_chip == original.off_chip
    assert back.block_shapes == original.block_shapes
    assert back.metadata == original.metadata
    assert back.layer_names == original.layer_names
    assert back.neuron_layers == original.neuron_layers
    assert set(back.weights) == set(original.weights)
    for layer, values in original.weights.items():
        assert len(back.weights[layer]) == len(values)
        for ours, theirs in zip(back.weights[layer], values):
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), layer

    _, (x, _) = mnist_small
    for backend, n in (("nengo", 8), ("loihi-emulator-fast", 100)):
        before = get_backend(backend).run(original, x[:n], n_steps=30)
        after = get_backend(backend).run(back, x[:n], n_steps=30)
        np.testing.assert_array_equal(after.outputs, before.outputs, err_msg=backend)
        assert after.layer_rates_hz == before.layer_rates_hz


def test_nir_import_needs_no_tensorflow(exported, tmp_path):
    """Reading a NIR file into a FrozenNetwork and saving it loads neither TensorFlow
    nor nengo-dl nor nengo-loihi (the Keras JSON is written from layer specs)."""
    code = f"""
import sys
from snnkit.nir.importer import from_nir
net = from_nir({str(exported)!r})
net.save({str(tmp_path / "back.snn.npz")!r})
print("LAYERS", len(net.neuron_layers))
print("HEAVY", sorted(m for m in ("tensorflow", "nengo_dl", "nengo_loihi")
                      if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LAYERS 4" in proc.stdout and "HEAVY []" in proc.stdout, proc.stdout


def test_the_graph_alone_describes_the_same_network(trained_seed_loihi, exported,
                                                    mnist_small):
    """Without snnkit's metadata the scales are folded into the weights (scale 1):
    the rate (ReLU) model it describes is the original's, to float rounding."""
    plain = from_nir(exported, use_snnkit_metadata=False)
    assert plain.scale_firing_rates == {}
    assert plain.neuron.name == "loihi-relu" and plain.synapse == 0.005
    assert plain.off_chip == trained_seed_loihi.off_chip
    _, (x, _) = mnist_small
    x = np.asarray(x[:50], np.float32)
    expected = to_keras(trained_seed_loihi)(x).numpy()
    np.testing.assert_allclose(to_keras(plain)(x).numpy(), expected, rtol=1e-4,
                               atol=1e-3)


def test_graph_edited_elsewhere_is_read_without_the_stale_metadata(exported):
    graph = nir.read(exported)
    neurons = graph.nodes["conv0.neurons"]
    neurons.v_threshold = neurons.v_threshold * 2
    with pytest.warns(NIRMeaningWarning, match=r"metadata's neuron type and scales "
                      r"ignored \(node 'conv0.neurons' has r / v_threshold 0.5"):
        network = from_nir(graph)
    assert network.scale_firing_rates == {}
    assert network.off_chip == ("to-spikes", "dense1")  # the metadata's, which agrees


def _edit_metadata(graph, **changes):
    meta = json.loads(graph.metadata["snnkit"])
    meta.update(changes)
    graph.metadata = {"snnkit": json.dumps(meta)}
    return graph


def test_the_graph_is_the_truth_over_snnkit_metadata(exported, trained_seed_loihi):
    """Metadata is used only where it agrees with the graph; every disagreement is a
    warning naming what differs, and the graph's value is used."""
    graph = _edit_metadata(nir.read(exported), no_bias=["conv0"])
    graph.nodes["conv0"].bias = np.full_like(graph.nodes["conv0"].bias, 0.5)
    with pytest.warns(NIRMeaningWarning, match="says layer 'conv0' has no bias; the "
                      r"graph's bias is kept \(largest \|bias\| 0.5\)"):
        network = from_nir(graph)
    scale = trained_seed_loihi.scale("conv0")
    np.testing.assert_allclose(network.weights["conv0"][1], 0.5 / scale, rtol=1e-6)
    assert network.scale_firing_rates == trained_seed_loihi.scale_firing_rates

    # one changed character in a layer name: placement and readout not silently lost
    graph = _edit_metadata(nir.read(exported), off_chip=["to-spikez", "dense1"],
                           readout="maen", block_shapes={"conv9": [4, 4, 4]})
    with pytest.warns(NIRMeaningWarning) as caught:
        network = from_nir(graph)
    messages = " | ".join(str(w.message) for w in caught)
    for fragment in ("puts layers ['to-spikez'] off chip, which are not in the graph",
                     "readout 'maen' is not one of last, mean", "block shapes for "
                     "['conv9']"):
        assert fragment in messages
    assert network.off_chip == ("to-spikes", "dense1") and network.readout == "last"
    assert network.scale_firing_rates == trained_seed_loihi.scale_firing_rates

    graph = _edit_metadata(nir.read(exported), off_chip=["to-spikes", "dense1",
                                                         "to-spikes"])
    with pytest.warns(NIRMeaningWarning, match=r"lists layers \['to-spikes'\] off chip "
                      "more than once: the conventional placement is used"):
        assert from_nir(graph).off_chip == ("to-spikes", "dense1")

    graph = _edit_metadata(nir.read(exported), synapse=0.02)
    with pytest.warns(NIRMeaningWarning, match=r"the graph's synapse is 0.005 s, snnkit "
                      r"metadata says 0.02: the graph's is used"):
        assert from_nir(graph).synapse == 0.005


@pytest.fixture(scope="module")
def nengo_predictions(trained_seed_loihi, mnist_small):
    """The ``nengo`` backend's predictions on the 200 test images at 30 steps."""
    _, (x, _) = mnist_small
    return get_backend("nengo").run(trained_seed_loihi, x[:200], n_steps=30).predictions


# --- the independent check -----------------------------------------------------------
@pytest.mark.slow
def test_reference_interpreter_agrees_with_nengo(trained_seed_loihi, exported,
                                                 mnist_small, nengo_predictions):
    """The exported graph, run by tests/nir_reference.py (float64, written from NIR's
    equations), predicts the same digit as snnkit's ``nengo`` backend on >= 95% of 200
    test images at 30 steps (measured: 98.0%). Predictions, not outputs, are compared:
    spiking is not bit-comparable across simulators. Both integrate the same
    equations, but the interpreter follows NIR's IF literally (no voltage floor; nengo's
    Loihi neuron clamps v at 0) and discretizes the lowpass its own way, so single
    spikes move by a step and outputs differ by a few spikes' worth."""
    _, (x, _) = mnist_small
    x = x[:200]
    graph = nir.read(exported)  # nir's own reader: no snnkit code between file and run
    reference = run_graph(graph, _nchw(x), n_steps=30, dt=trained_seed_loihi.dt)
    agreement = np.mean(reference[:, -1].argmax(axis=-1) == nengo_predictions)
    assert agreement >= 0.95, f"agreement {agreement:.3f}"


# --- the torch readers, unpatched ------------------------------------------------------
def _lowpass(outputs, a):
    """The README's readout filter, y_t = a y_(t-1) + (1 - a) out_t from y_0 = 0, in
    closed form: y_t = (1 - a) sum over k <= t of a^(t-k) out_k."""
    steps = np.arange(outputs.shape[1])
    lag = steps[:, None] - steps[None, :]
    kernel = np.where(lag >= 0, (1 - a) * float(a) ** np.maximum(lag, 0), 0.0)
    return np.einsum("tk,bk...->bt...", kernel, np.asarray(outputs, np.float64))


@pytest.mark.slow
def test_snntorch_and_norse_load_the_export_unpatched_and_agree(
        trained_seed_loihi, mnist_small, nengo_predictions, tmp_path, capsys):
    """``snnkit export --for snntorch|norse``, loaded by snnTorch 1.0's and Norse 1.1's
    own NIR import and run on a batch as the README's recipes say, predicts the digit
    snnkit's ``nengo`` backend predicts on >= 95% of 200 test images at 30 steps."""
    import contextlib
    import io
    import json

    import norse.torch
    import snntorch.utils
    import torch
    from snntorch.import_nir import import_from_nir

    network_file = tmp_path / "seed.snn.npz"
    trained_seed_loihi.save(network_file)
    _, (x, _) = mnist_small
    batch = torch.from_numpy(_nchw(x[:200]).astype(np.float32))
    outputs = {}
    for reader in ("snntorch", "norse"):
        path = tmp_path / f"seed.{reader}.nir"
        assert main(["export", str(network_file), "--format", "nir", "--for", reader,
                     "--out", str(path)]) == 0
        graph = nir.read(path)  # nir's own reader, type-checked
        assert {type(n).__name__ for n in graph.nodes.values()} <= {
            "Input", "Conv2d", "LIF", "CubaLIF", "Flatten", "Affine", "Output"}
        note = json.loads(graph.metadata["snnkit_reader"])
        with torch.no_grad():
            if reader == "snntorch":
                with contextlib.redirect_stdout(io.StringIO()):  # it prints per layer
                    net = import_from_nir(graph)
                snntorch.utils.reset(net)
                out = torch.stack([net(batch)[0] for _ in range(30)], 1)
            else:
                net, state, steps = norse.torch.from_nir(graph, dt=1e-4), None, []
                for _ in range(30):
                    o, state = net(batch, state)
                    steps.append(o)
                out = torch.stack(steps, 1)
        outputs[reader] = out.numpy()
        predictions = _lowpass(outputs[reader], note["readout_filter"])[:, -1].argmax(-1)
        agreement = np.mean(predictions == nengo_predictions)
        assert agreement >= 0.95, f"{reader}: agreement {agreement:.3f}"
    np.testing.assert_allclose(outputs["snntorch"], outputs["norse"], rtol=1e-4,
                               atol=1e-3)


@pytest.mark.slow
def test_the_reader_form_imports_back_with_its_meaning(trained_seed_loihi, mnist_small,
                                                       nengo_predictions):
    """snnkit reads its own per-step form back (its note says per-step, dt 1e-4):
    the same network, the bias filtered by the synaptic current apart."""
    back = from_nir(to_nir(trained_seed_loihi, reader="norse"))
    assert back.neuron.name == "loihi-relu" and back.synapse == 0.005
    assert back.dt == trained_seed_loihi.dt
    assert back.off_chip == trained_seed_loihi.off_chip
    _, (x, _) = mnist_small
    predictions = get_backend("nengo").run(back, x[:100], n_steps=30).predictions
    assert np.mean(predictions == nengo_predictions[:100]) >= 0.97


# --- layouts, pools, padding: checked against the NIR equations -------------------------
def _layout_network(pad_layer):
    import tensorflow as tf

    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((7, 5, 2), name="input")
    x = (tf.keras.layers.ZeroPadding2D(((1, 1), (2, 2)), name="pad")(inp) if pad_layer
         else inp)
    x = tf.keras.layers.Conv2D(4, 3, strides=(2, 1), activation="relu",
                               kernel_initializer=init(0), bias_initializer="ones",
                               name="c0")(x)
    x = tf.keras.layers.Conv2D(3, 3, padding="same", activation="relu",
                               kernel_initializer=init(1), name="c1")(x)
    x = tf.keras.layers.AveragePooling2D(2, name="pool")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = tf.keras.layers.Dense(6, kernel_initializer=init(2), name="d0")(x)
    x = tf.keras.layers.ReLU(name="act")(x)
    out = tf.keras.layers.Dense(3, use_bias=False, kernel_initializer=init(3),
                                name="out")(x)
    model = tf.keras.Model(inp, out)
    # fold=False keeps the pooling layer and the separate ReLU layer, to export them
    return from_keras(model, neuron_type="loihi-relu", synapse=0.01,
                                    scale_firing_rates={"c0": 3.0, "c1": 0.5, "act": 7.0},
                                    fold=False)


@pytest.mark.parametrize("pad_layer", [False, True])
def test_export_layout_matches_the_nir_equations(pad_layer, rng):
    """NHWC -> NCHW, Flatten order, padding, pooling and scales: the exported graph's
    steady state (NIR's rate equations) is the Keras model's output."""
    network = _layout_network(pad_layer)
    x = rng.uniform(0, 2, (5, 7, 5, 2)).astype(np.float32)
    expected = to_keras(network)(x).numpy()
    np.testing.assert_allclose(steady_state(to_nir(network), _nchw(x)), expected,
                               rtol=1e-5, atol=1e-5)
    back = from_nir(to_nir(network))
    assert back.scale_firing_rates == network.scale_firing_rates
    for layer, values in network.weights.items():
        for ours, theirs in zip(back.weights[layer], values):
            assert np.array_equal(ours, theirs), layer
    assert "act" in back.neuron_layers
    assert back.layer_shape("flat") == network.layer_shape("flat")


# The IF case runs at higher scales: NIR's IF integrates dv/dt = I, its LIF relaxes
# towards I with tau = 20 ms, so the same currents drive IF ~50x slower, and at the
# layout network's scales (3, 0.5, 7) its IF layers stay silent beyond 30 steps in
# every simulator (nengo, the reference interpreter, both readers): a comparison of
# zeros. These scales give 100-300 Hz per layer.
@pytest.mark.parametrize("neuron, scales", [
    ("loihi-relu", {"c0": 20.0, "c1": 40.0, "act": 80.0}),
    ("loihi-lif", None)])
def test_reader_form_of_pools_padding_if_and_lif_runs_as_snnkit(neuron, scales, rng):
    """Padding, a pool (SumPool2d with the window folded into the weights), a
    stand-alone ReLU, a Dense without bias, IF and LIF neurons: snnTorch and Norse
    load the form and run it on a batch, step for step as snnkit: their outputs,
    filtered with the metadata's readout filter, are the reference interpreter's on
    the exact export at every step, and the ``nengo`` backend's three steps later
    (nengo's synapses each delay a layer by one step; here Loihi's voltage floor
    changes no spike: the neurons it clamps do not fire within the window). snnkit
    reads the form back as the same network (the same rate model to float rounding)."""
    import contextlib
    import io

    import norse.torch
    import snntorch.utils
    import torch
    from snntorch.import_nir import import_from_nir

    from snnkit.network.neurons import NeuronSpec

    n_steps, synapses = 30, 3  # synapses after c0, c1 and act
    params = {"tau_rc": 0.02, "tau_ref": 0.0} if neuron == "loihi-lif" else {}
    network = _layout_network(pad_layer=True).replace(neuron=NeuronSpec(neuron, params))
    if scales is not None:
        network = network.replace(scale_firing_rates=scales)
    graph = to_nir(network, reader="snntorch")
    assert "SumPool2d" in {type(n).__name__ for n in graph.nodes.values()}
    x = rng.uniform(20, 60, (4, 7, 5, 2)).astype(np.float32)
    batch = torch.from_numpy(_nchw(x).astype(np.float32))
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        net = import_from_nir(graph)
        snntorch.utils.reset(net)
        ours = torch.stack([net(batch)[0] for _ in range(n_steps)], 1).numpy()
        net, state, steps = norse.torch.from_nir(graph, dt=1e-4), None, []
        for _ in range(n_steps):
            o, state = net(batch, state)
            steps.append(o)
    assert ours.shape == (4, n_steps, 3)
    np.testing.assert_allclose(ours, torch.stack(steps, 1).numpy(), rtol=1e-4, atol=1e-3)

    a = json.loads(graph.metadata["snnkit_reader"])["readout_filter"]
    assert a == pytest.approx(np.exp(-network.dt / network.synapse))
    filtered, y = [], np.zeros((4, 3))
    for t in range(n_steps):
        y = a * y + (1 - a) * ours[:, t]
        filtered.append(y)
    filtered = np.stack(filtered, 1)
    reference = run_graph(to_nir(network), _nchw(x), n_steps, dt=network.dt)
    assert np.abs(reference[:, -1]).max(-1).min() > 0.1, "silent: it compares zeros"
    np.testing.assert_allclose(filtered, reference, rtol=1e-4, atol=1e-4)
    nengo = get_backend("nengo").run(network, x, n_steps=n_steps + synapses)
    assert all(rate > 50 for rate in nengo.layer_rates_hz.values()), \
        nengo.layer_rates_hz
    np.testing.assert_allclose(nengo.outputs[:, synapses:], filtered, rtol=1e-4,
                               atol=1e-4)

    back = from_nir(graph)
    assert back.neuron.name == neuron and back.synapse == pytest.approx(0.01)
    if neuron == "loihi-lif":
        assert back.neuron.params["tau_rc"] == pytest.approx(0.02)
    np.testing.assert_allclose(to_keras(back)(x).numpy(), to_keras(network)(x).numpy(),
                               rtol=1e-4, atol=1e-4)


# --- graphs from elsewhere -----------------------------------------------------------
def _if(n, r=1.0, threshold=1.0, reset=0.0):
    return nir.IF(r=np.full(n, r), v_threshold=np.full(n, threshold),
                  v_reset=np.full(n, reset))


def _li(n, tau=0.004, r=1.0):
    return nir.LI(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n))


def _chain(*named, type_check=False):
    nodes = dict(named)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                        type_check=type_check)


def _dense_graph(rng, **changes):
    # positive weights into the neurons: every layer fires for positive inputs
    w1, w2 = rng.uniform(0, 1, (8, 4)), rng.uniform(0, 0.5, (6, 8))
    w3 = rng.normal(0, 1, (3, 6))
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "a": nir.Affine(weight=w1, bias=rng.uniform(0, 1, 8)),
             "a_if": _if(8, r=2.0, threshold=0.5), "a_syn": _li(8),
             "b": nir.Affine(weight=w2, bias=rng.uniform(0, 1, 6)),
             "b_if": _if(6, r=1.0, threshold=2.0), "b_syn": _li(6),
             "out": nir.Linear(weight=w3),
             "output": nir.Output(output_type={"output": np.array([3])})}
    nodes.update(changes)
    return _chain(*((k, v) for k, v in nodes.items() if v is not None))


def test_foreign_if_graph_folds_gains_and_runs_on_every_backend(rng):
    graph = _dense_graph(rng)
    network = from_nir(graph)
    assert network.neuron.name == "loihi-relu" and network.synapse == 0.004
    assert network.neuron_layers == ("a", "b") and network.scale_firing_rates == {}
    kernel, bias = network.weights["a"]
    np.testing.assert_allclose(kernel, (graph.nodes["a"].weight * 4).T, rtol=1e-6)
    np.testing.assert_allclose(bias, graph.nodes["a"].bias * 4, rtol=1e-6)
    x = rng.uniform(20, 60, (6, 4)).astype(np.float32)  # rates of hundreds of Hz
    np.testing.assert_allclose(to_keras(network)(x).numpy(), steady_state(graph, x),
                               rtol=1e-4, atol=1e-4)
    for backend in ("nengo", "nengo-dl", "loihi-emulator", "loihi-emulator-fast"):
        result = get_backend(backend).run(network, x[:2], n_steps=20)
        assert result.outputs.shape == (2, 20, 3) and np.all(np.isfinite(result.outputs))
        assert result.spikes_per_input["b"] > 0, backend


@pytest.mark.parametrize("padding", [(1, 1), (0, 1)])
def test_foreign_conv_graph_with_sum_pool(padding, rng):
    conv = nir.Conv2d(input_shape=(6, 5), weight=rng.normal(0, 1, (3, 2, 3, 3)), stride=1,
                      padding=padding, dilation=1, groups=1, bias=rng.uniform(0, 1, 3))
    out_hw = (6 + 2 * padding[0] - 2, 5 + 2 * padding[1] - 2)
    pooled = (3, out_hw[0] // 2, out_hw[1] // 2)
    n_flat = int(np.prod(pooled))
    graph = _chain(
        ("input", nir.Input(input_type={"input": np.array([2, 6, 5])})), ("conv", conv),
        ("conv_if", _if((3, *out_hw), r=1.5)), ("conv_syn", _li((3, *out_hw))),
        ("pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                               padding=np.array([0, 0]))),
        ("flat", nir.Flatten(input_type={"input": np.array(pooled)}, start_dim=0)),
        ("d", nir.Affine(weight=rng.normal(0, 0.3, (4, n_flat)), bias=np.zeros(4))),
        ("d_if", _if(4)), ("d_syn", _li(4)),
        ("o", nir.Affine(weight=rng.normal(0, 1, (2, 4)), bias=rng.normal(0, 1, 2))),
        ("output", nir.Output(output_type={"output": np.array([2])})), type_check=True)
    network = from_nir(graph)
    assert network.input_shape == (6, 5, 2) and network.neuron_layers == ("conv", "d")
    x = rng.uniform(0, 2, (4, 2, 6, 5))
    keras_x = x.transpose(0, 2, 3, 1).astype(np.float32)
    np.testing.assert_allclose(to_keras(network)(keras_x).numpy(), steady_state(graph, x),
                               rtol=1e-4, atol=1e-4)


def test_foreign_lif_and_cubalif_graph(rng, caplog):
    w1, b1, w2, b2 = rng.uniform(0, 1, (5, 3)), rng.uniform(0, 1, 5), \
        rng.uniform(0, 1, (4, 5)), rng.uniform(0, 1, 4)
    graph = _chain(
        ("input", nir.Input(input_type={"input": np.array([3])})),
        ("a", nir.Affine(weight=w1, bias=b1)),
        ("a_lif", nir.LIF(tau=np.full(5, 0.02), r=np.full(5, 2.0), v_leak=np.full(5, 0.3),
                          v_threshold=np.full(5, 1.5), v_reset=np.zeros(5))),
        ("b", nir.Affine(weight=w2, bias=b2)),
        ("b_lif", nir.CubaLIF(tau_syn=np.full(4, 0.005), tau_mem=np.full(4, 0.02),
                              r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4),
                              v_reset=np.zeros(4), w_in=np.full(4, 2.0))),
        ("b_syn", _li(4, tau=0.005)),
        ("o", nir.Affine(weight=rng.normal(0, 1, (2, 4)), bias=np.zeros(2))),
        ("output", nir.Output(output_type={"output": np.array([2])})), type_check=True)
    with caplog.at_level(logging.WARNING, logger="snnkit.nir.graph"):
        network = from_nir(graph)
    assert "filters the bias of 'b'" in caplog.text
    assert network.neuron.name == "loihi-lif" and network.synapse == 0.005
    assert network.neuron.params == {"tau_rc": 0.02, "tau_ref": 0.0}
    kernel, bias = network.weights["a"]
    np.testing.assert_allclose(kernel, (w1 * 2 / 1.5).T, rtol=1e-6)
    np.testing.assert_allclose(bias, b1 * 2 / 1.5 + 0.3 / 1.5, rtol=1e-6)
    np.testing.assert_allclose(network.weights["b"][0], (w2 * 2).T, rtol=1e-6)
    assert from_nir(graph, neuron_type="lif").neuron.name == "lif"
    x = rng.uniform(20, 60, (2, 3)).astype(np.float32)
    for backend in ("nengo", "loihi-emulator-fast"):
        result = get_backend(backend).run(network, x, n_steps=20)
        assert np.all(np.isfinite(result.outputs)) and result.spikes_per_input["a"] > 0


# --- refusals -------------------------------------------------------------------------
def _refusals(rng):
    w = lambda o, i: rng.normal(0, 1, (o, i))  # noqa: E731
    cyclic = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([4])}),
        "a": nir.Linear(weight=w(4, 4)), "n": _if(4), "rec": nir.Linear(weight=w(4, 4)),
        "output": nir.Output(output_type={"output": np.array([4])})},
        edges=[("input", "a"), ("a", "n"), ("n", "rec"), ("rec", "a"), ("n", "output")],
        type_check=False)
    branching = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([4])}),
        "a": nir.Linear(weight=w(4, 4)), "n": _if(4), "x": nir.Linear(weight=w(3, 4)),
        "y": nir.Linear(weight=w(3, 4)),
        "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "a"), ("a", "n"), ("n", "x"), ("n", "y"), ("x", "output")],
        type_check=False)
    uneven = _if(6, threshold=1.0)
    uneven.v_threshold = np.linspace(1, 2, 6)
    return {
        "cycle": (cyclic, ["recurrence", "'a'", "rec"]),
        "branch": (branching, ["node 'n' (IF) feeds 2 nodes", "x, y"]),
        "unsupported": (_dense_graph(rng, b_if=nir.Delay(delay=np.ones(6))),
                        ["node 'b_if' is a Delay", "supported node types"]),
        "subgraph": (_dense_graph(rng, b_if=_dense_graph(rng)),
                     ["node 'b_if' is a NIRGraph"]),
        "shape": (_dense_graph(rng, b=nir.Affine(weight=w(6, 7), bias=np.zeros(6))),
                  ["node 'b' (Affine): expects input shape (7,)", "gives (8,)"]),
        "input synapse": (_dense_graph(rng, a=_li(4), a_if=None, a_syn=None,
                                       b=nir.Affine(weight=w(6, 4), bias=np.zeros(6))),
                          ["node 'a' (LI)", "before the first neuron layer"]),
        "missing synapse": (_dense_graph(rng, b_syn=None),
                            ["node 'b_if' (IF)", "passes 0 synapses", "'a_syn'"]),
        "uneven threshold": (_dense_graph(rng, b_if=uneven),
                             ["node 'b_if' (IF): v_threshold must be one", "1.0..2.0"]),
        "reset": (_dense_graph(rng, b_if=_if(6, reset=0.5)),
                  ["'b_if'", "v_reset must be 0"]),
        "mixed neurons": (_dense_graph(rng, b_if=nir.LIF(
            tau=np.full(6, .02), r=np.ones(6), v_leak=np.zeros(6),
            v_threshold=np.ones(6), v_reset=np.zeros(6))),
            ["'a_if' is IF", "'b_if' leaky"]),
        "leaky synapse": (_dense_graph(rng, b_syn=_li(6, r=2.0)),
                          ["node 'b_syn' (LI)", "r = 1 and v_leak = 0"]),
    }


@pytest.mark.parametrize("case", ["cycle", "branch", "unsupported", "subgraph", "shape",
                                  "input synapse", "missing synapse", "uneven threshold",
                                  "reset", "mixed neurons", "leaky synapse"])
def test_graph_snnkit_cannot_run_is_refused_naming_the_node(case, rng):
    graph, fragments = _refusals(rng)[case]
    with pytest.raises(NIRError) as error:
        from_nir(graph)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_bad_files_are_refused(tmp_path, rng):
    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(b"not an HDF5 file")
    with pytest.raises(NIRError, match="garbage.nir: not a NIR file"):
        from_nir(garbage)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(NIRError, match="an HDF5 file, but not a NIR graph"):
        from_nir(tmp_path / "other.h5")
    with pytest.raises(NIRError, match="no such file"):
        from_nir(tmp_path / "missing.nir")
    with pytest.raises(ValidationError, match="graph_or_path: expected a nir.NIRGraph"):
        from_nir(42)

    newer = tmp_path / "newer.nir"
    nir.write(newer, _dense_graph(rng))
    with h5py.File(newer, "r+") as f:
        del f["version"]
        f.create_dataset("version", data="9.1.0", dtype=h5py.string_dtype())
    with pytest.raises(NIRError, match=r"written by NIR 9\.1\.0, newer than the nir"):
        from_nir(newer)

    malformed = _dense_graph(rng)
    malformed.nodes["b"].weight = np.array([["x"] * 8] * 6)
    with pytest.raises(NIRError, match="node 'b' \\(Affine\\): weight: expected numbers"):
        from_nir(malformed)

    delay = tmp_path / "delay.nir"
    nir.write(delay, _dense_graph(rng, b_if=nir.Delay(delay=np.ones(6))))
    with pytest.raises(NIRError, match="delay.nir: node 'b_if' is a Delay"):
        from_nir(delay)


def test_neuron_type_must_fit_the_graph(rng):
    graph = _dense_graph(rng)
    assert from_nir(graph, neuron_type="spiking-relu").neuron.name == "spiking-relu"
    with pytest.raises(ValidationError, match="neuron_type: the graph's neurons are IF"):
        from_nir(graph, neuron_type="loihi-lif")


def _keras_network(layer, **kwargs):
    import tensorflow as tf

    inp = tf.keras.Input((8, 8, 1) if "1D" not in type(layer).__name__ else (8, 1),
                         name="input")
    x = layer(inp)
    x = tf.keras.layers.Flatten(name="flat")(x)
    out = tf.keras.layers.Dense(2, name="out")(x)
    return from_keras(tf.keras.Model(inp, out), fold=False, **kwargs)


def test_what_nir_cannot_express_is_refused_naming_the_layer():
    import tensorflow as tf

    layers = tf.keras.layers
    with pytest.raises(NIRError, match=r"layers to-spikes.*'relu'.*spiking-relu"):
        to_nir(_keras_network(layers.Conv2D(2, 3, activation="relu", name="to-spikes"),
                              neuron_type="relu"))
    with pytest.raises(NIRError, match="layer 'even' pads 0 before and 1 after"):
        to_nir(_keras_network(layers.Conv2D(2, 2, padding="same", activation="relu",
                                            name="even"), neuron_type="loihi-relu"))
    with pytest.raises(NIRError, match="layer 'c1d' is a Conv1D"):
        to_nir(_keras_network(layers.Conv1D(2, 3, activation="relu", name="c1d"),
                              neuron_type="loihi-relu"))
    inp = tf.keras.Input((4, 4, 1), name="input")
    x = layers.Conv2D(2, 3, activation="relu", name="conv")(inp)
    flat_out = tf.keras.Model(inp, layers.Flatten(name="flat")(x))
    with pytest.raises(NIRError, match="the output reads a Flatten without a Dense"):
        to_nir(from_keras(flat_out, neuron_type="loihi-relu", fold=False))


@pytest.mark.parametrize("neuron", [
    {"name": "spiking-relu", "params": {"amplitude": 0.5}},
    {"name": "lif", "params": {"tau_rc": 0.05, "tau_ref": 0.003, "min_voltage": -1.0}},
    {"name": "loihi-lif", "params": {"tau_rc": 0.03, "tau_ref": 0.002}},
])
def test_round_trip_keeps_what_nir_cannot_say(neuron):
    from snnkit.network.neurons import NeuronSpec

    network = _layout_network(pad_layer=True).replace(
        neuron=NeuronSpec.from_dict(neuron), block_shapes={"c1": (2, 2, 3)},
        metadata={"note": "kept"})
    graph = to_nir(network)
    kinds = {type(graph.nodes[f"{n}.neurons" if n != "act" else n]).__name__
             for n in network.neuron_layers}
    assert kinds == ({"IF"} if "relu" in neuron["name"] else {"LIF"})
    back = from_nir(graph)
    assert back.neuron == network.neuron and back.block_shapes == network.block_shapes
    assert back.metadata == {"note": "kept"}
    for layer, values in network.weights.items():
        for ours, theirs in zip(back.weights[layer], values):
            assert np.array_equal(ours, theirs), layer


# --- command line ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    from snnkit.models import seed_convnet

    root = tmp_path_factory.mktemp("nir-cli")
    network = from_keras(seed_convnet(0), neuron_type="loihi-relu",
                                       synapse=0.005, scale_firing_rates={"conv0": 40.0})
    network.save(root / "seed.snn.npz")
    network.replace(neuron="relu").save(root / "rates.snn.npz")
    return root


def test_cli_export_and_convert_from_nir(network_file, capsys):
    root = network_file
    assert main(["export", str(root / "seed.snn.npz"), "--format", "nir",
                 "--out", str(root / "seed.nir")]) == 0
    assert "NIR graph written to" in capsys.readouterr().out
    assert sorted(p.name for p in root.iterdir()) == ["rates.snn.npz", "seed.nir",
                                                      "seed.snn.npz"]
    assert isinstance(nir.read(root / "seed.nir").nodes["conv0.neurons"], nir.IF)
    assert main(["convert", "--from-nir", str(root / "seed.nir"), "--out",
                 str(root / "back.snn.npz")]) == 0
    original, back = (FrozenNetwork.load(root / n)
                      for n in ("seed.snn.npz", "back.snn.npz"))
    assert back.scale_firing_rates == original.scale_firing_rates
    assert all(np.array_equal(a, b) for layer in original.weights
               for a, b in zip(original.weights[layer], back.weights[layer]))


@pytest.mark.parametrize("argv, message", [
    (["export", "{root}/rates.snn.npz", "--format", "nir", "--out", "{root}/rates.nir"],
     "NIR has no rate (non-spiking) neuron"),
    (["convert", "--from-nir", "{root}/seed.snn.npz", "--out", "{root}/x.snn.npz"],
     "not a NIR file"),
    (["convert", "--from-nir", "{root}/seed.nir", "--scale", "3", "--out",
      "{root}/x.snn.npz"], "--scale: not used with --from-nir"),
    (["convert", "--out", "{root}/x.snn.npz"], "model: expected a Keras model file"),
])
def test_cli_nir_errors_are_one_line_and_write_nothing(argv, message, network_file,
                                                       capsys):
    root = network_file
    write_nir(FrozenNetwork.load(root / "seed.snn.npz"), root / "seed.nir")
    before = sorted(p.name for p in root.iterdir())
    assert main([a.format(root=root) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert sorted(p.name for p in root.iterdir()) == before


def test_nir_file_storage_is_bounded_before_reading(tmp_path):
    import h5py

    from snnkit.exceptions import NIRError
    from snnkit.nir.file import MAX_NIR_NUMBERS, read_nir

    huge = tmp_path / "huge.nir"
    with h5py.File(huge, "w") as f:  # a compressed, never-written 4 × limit dataset
        f["version"] = "1.0.0"
        f.create_group("node").create_dataset(
            "w", shape=(4 * MAX_NIR_NUMBERS,), dtype="f4", chunks=(2 ** 20,),
            compression="gzip")
    assert huge.stat().st_size < 1_000_000
    with pytest.raises(NIRError, match="a dataset 'node/w' of dtype float32"):
        read_nir(huge)
    linked = tmp_path / "linked.nir"
    with h5py.File(linked, "w") as f:
        f["version"] = "1.0.0"
        f.create_group("node")["elsewhere"] = h5py.ExternalLink("/etc/hostname", "/")
    with pytest.raises(NIRError, match="an external link node/elsewhere"):
        read_nir(linked)
