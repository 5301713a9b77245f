"""Graphs written by snnTorch 1.0 and Norse 1.1 (the real libraries, trained there as
their tutorials do) imported into snnkit with their meaning: per-step spikes, their
time step, a host readout after their neuron output layer; agreement with the
library's own simulation on snnkit's ``nengo`` backend and Loihi-exact on both Loihi
backends, or a refusal naming the layer; the command line's part."""

from __future__ import annotations

import contextlib
import io

import nir
import numpy as np
import pytest
import torch
from nir_reader_graphs import IMPORTS, chw_images
from nir_reader_graphs import reader_graphs as reader_graphs_of

from snnkit.backends import get_backend
from snnkit.backends.loihi.planning import check_loihi_network
from snnkit.cli import main
from snnkit.exceptions import (
    LoihiMappingError,
    NIRError,
    NIRMeaningWarning,
    ValidationError,
)
from snnkit.nir.importer import from_nir

N_STEPS = 25
N_TRAIN, N_TEST = 2000, 200


@pytest.fixture(scope="module")
def images(mnist_small):
    """Training and test images as the tutorials feed them: (N, 1, 28, 28) in [0, 1]."""
    (x_train, y_train), (x_test, _) = mnist_small

    return chw_images(x_train[:N_TRAIN]), \
        torch.from_numpy(y_train[:N_TRAIN].astype(np.int64)), chw_images(x_test[:N_TEST])


@pytest.fixture(scope="module")
def reader_graphs(images, tmp_path_factory):
    """``{name: (path, predictions of the library's own simulation)}``: the graphs of
    :func:`nir_reader_graphs.reader_graphs`, written with ``nir.write``."""
    x_train, y_train, x_test = images
    root = tmp_path_factory.mktemp("readers")
    files = {}
    for name, (graph, own) in reader_graphs_of(x_train, y_train, x_test,
                                               N_STEPS).items():
        with contextlib.redirect_stdout(io.StringIO()):
            nir.write(root / f"{name}.nir", graph)
        files[name] = (root / f"{name}.nir", own)
    return files


def _inputs(images):
    return images[2].numpy().transpose(0, 2, 3, 1)  # snnkit takes (N, H, W, C)




@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_reader_graphs_import_with_their_meaning(name, reader_graphs, images):
    """snnkit's ``nengo`` backend predicts the digit the library's own simulation
    predicts on >= 95% of 200 test images (25 steps, spike count), where the same
    files read as NIR's unit-area spikes agree on far fewer."""
    path, own = reader_graphs[name]
    with pytest.warns(NIRMeaningWarning) as caught:
        network = from_nir(path, **IMPORTS[name])
    messages = " | ".join(str(w.message) for w in caught)
    assert "feeds the output directly: an identity layer 'readout'" in messages
    if name == "snntorch_mlp":  # detected: no option needed
        assert "the signature of snnTorch's exporter" in messages
    if name == "norse_mlp":
        assert "read as Norse 1.1.0's tau = dt * tau_mem" in messages
    assert network.readout == "mean" and network.layer_names[-1] == "readout"
    assert network.neuron.name == ("loihi-relu" if name == "norse_if" else "loihi-lif")
    x = _inputs(images)
    predictions = get_backend("nengo").run(network, x, n_steps=N_STEPS).predictions
    agreement = np.mean(predictions == own)
    assert agreement >= 0.95, f"{name}: agreement {agreement:.3f}"
    with pytest.warns(NIRMeaningWarning):
        as_is = from_nir(path, spikes="unit-area")
    wrong = np.mean(get_backend("nengo").run(as_is, x[:50], n_steps=N_STEPS)
                    .predictions == own[:50])
    assert wrong < 0.8, f"{name}: read as unit-area, still {wrong:.3f}"


@pytest.mark.slow
def test_reader_graph_runs_loihi_exact_or_is_refused_naming_the_layer(reader_graphs,
                                                                       images):
    """Read with its meaning, snnTorch's graph runs on both Loihi backends with the
    same outputs; read as unit-area, its weights overflow Loihi's range and both
    refuse before building, naming the layer and the limit."""
    path, own = reader_graphs["snntorch_mlp"]
    with pytest.warns(NIRMeaningWarning):
        network = from_nir(path)
    x = _inputs(images)
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=N_STEPS)
    assert np.mean(fast.predictions == own) >= 0.9
    slow = get_backend("loihi-emulator").run(network, x[:3], n_steps=N_STEPS)
    np.testing.assert_array_equal(slow.outputs, fast.outputs[:3])
    with pytest.warns(NIRMeaningWarning):
        wrong = from_nir(path, spikes="unit-area")
    for backend in ("loihi-emulator", "loihi-emulator-fast"):
        with pytest.raises(LoihiMappingError, match=r"on-chip layer '3': one input spike "
                           r"through its largest weight moves the voltage by \d+ "
                           r"thresholds; Loihi's 8-bit weights .* at most 480"):
            get_backend(backend).prepare(wrong)


def test_per_step_graph_without_its_step_is_refused_naming_the_option(rng):
    w = rng.uniform(0, 1, (5, 3))
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([3])}),
        "a": nir.Affine(weight=w, bias=np.zeros(5)),
        "a_lif": nir.LIF(tau=np.full(5, 0.01), r=np.ones(5), v_leak=np.zeros(5),
                         v_threshold=np.ones(5), v_reset=np.zeros(5)),
        "b": nir.Linear(weight=rng.uniform(0, 1, (2, 5))),
        "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "a"), ("a", "a_lif"), ("a_lif", "b"), ("b", "output")])
    with pytest.raises(NIRError, match=r"node 'a_lif' \(LIF\): with per-step spikes .* "
                       r"pass dt_graph \(--dt-graph\)"):
        from_nir(graph, spikes="per-step")
    with pytest.raises(NIRError, match=r"node 'a_lif': time constant 0.01 s is not above "
                       r"the graph's step dt_graph = 0.01 s"):
        from_nir(graph, spikes="per-step", dt_graph=0.01)
    with pytest.warns(NIRMeaningWarning, match=r"node 'a_lif' \(LIF\) has tau 0.01 s, "
                      r"below the graph's step 0.02 s: read as Norse 1.1.0's tau"):
        norse = from_nir(graph, spikes="per-step", dt_graph=0.02)
    assert norse.neuron.params["tau_rc"] == pytest.approx(-1e-3 / np.log(1 - 0.02 / 0.5))
    with pytest.raises(ValidationError, match="spikes: expected one of unit-area, "
                       "per-step, got 'per_step'"):
        from_nir(graph, spikes="per_step")
    with pytest.raises(ValidationError, match="dt_graph: expected a step > 0"):
        from_nir(graph, spikes="per-step", dt_graph=-1.0)
    with pytest.warns(NIRMeaningWarning, match="read with NIR's unit-area spikes"):
        from_nir(graph)
    network = from_nir(graph, spikes="per-step", dt_graph=1e-3)
    beta = 1 - 1e-3 / 0.01  # the per-step Euler decay, exact in snnkit's LIF
    assert network.neuron.params["tau_rc"] == pytest.approx(-1e-3 / np.log(beta))
    np.testing.assert_allclose(network.weights["b"][0], graph.nodes["b"].weight.T * 1e-3)


@pytest.mark.slow
def test_cli_imports_a_reader_graph_with_warnings_and_accepted_options(reader_graphs,
                                                                       tmp_path, capsys):
    path, _ = reader_graphs["norse_if"]
    out = tmp_path / "norse.snn.npz"
    assert main(["convert", "--from-nir", str(path), "--spikes", "per-step",
                 "--readout", "last", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "feeds the output directly" in err
    # the note after it suggests only what convert --from-nir accepts
    assert "pass --readout mean" in err and "--synapse" not in err
    assert main(["convert", "--from-nir", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "pass spikes='per-step' (--spikes per-step)" in err
    assert main(["convert", "--from-nir", str(path), "--synapse", "0.005", "--out",
                 str(out)]) == 1
    assert "--synapse: not used with --from-nir" in capsys.readouterr().err
    assert main(["convert", "--spikes", "per-step", "--out", str(out)]) == 1
    assert "--spikes: used with --from-nir only" in capsys.readouterr().err


def test_loihi_range_check_names_layer_and_limit_for_any_network(rng):
    """The check sits where every Loihi backend checks a network: a Keras-made
    network with an absurd scale is refused the same way."""
    from snnkit.convert.freeze import from_keras
    from snnkit.models import seed_convnet
    from snnkit.network.neurons import NeuronSpec

    network = from_keras(seed_convnet(0), neuron_type="loihi-relu", synapse=0.005)
    check_loihi_network(network)
    huge = network.replace(scale_firing_rates={"conv1": 1e6})
    with pytest.raises(LoihiMappingError, match="on-chip layer 'conv1'"):
        check_loihi_network(huge)
    leakless = network.replace(neuron=NeuronSpec("loihi-lif", {"tau_rc": 100.0}))
    with pytest.raises(LoihiMappingError,
                       match=r"tau_rc 100.0 s decays .* use loihi-relu"):
        check_loihi_network(leakless)
