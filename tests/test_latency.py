"""Latency: per-layer first-spike steps, output onset, time to decision, the "mean"
readout, and the time-stepped model that training for latency goes through.

The tiny network's spike times are known by hand. Input ``x`` (one value) drives
``to-spikes`` (off-chip, weight 1, scale 1): its voltage grows by ``x * dt`` = x/1000
per step and it spikes on the first step where the voltage exceeds 1; so x = 600 spikes
at step 2, x = 300 at step 4, x = 0 never. Each spike into ``hidden`` (on chip, weight
1.5) lifts its voltage by 1.5, over the threshold: it spikes on the step the spike
arrives. The output is ``2 * hidden + 0.25``: the bias alone until a spike arrives.
nengo's simulators pass spikes on within the step; nengo-loihi takes a step for
host → chip and one for chip → host, and a synapse on the host adds one more.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from snnkit.backends import get_backend
from snnkit.convert.freeze import from_keras
from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import FrozenNetworkFileError, ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.results import onset_stats, received_by_step
from snnkit.nir.export import to_nir
from snnkit.nir.importer import from_nir
from snnkit.training.unrolled import apply_readout_tensor

X = np.array([[600.0], [300.0], [0.0]], np.float32)
N_STEPS = 8
BIAS = 0.25


def _tiny(synapse=None, readout="last", hidden_weight=1.5) -> FrozenNetwork:
    inp = tf.keras.Input((1,), name="input")
    h = tf.keras.layers.Dense(1, activation="relu", use_bias=False, name="to-spikes")(inp)
    h = tf.keras.layers.Dense(1, activation="relu", use_bias=False, name="hidden")(h)
    out = tf.keras.layers.Dense(1, name="out")(h)
    model = tf.keras.Model(inp, out)
    model.get_layer("to-spikes").set_weights([np.ones((1, 1), np.float32)])
    model.get_layer("hidden").set_weights([np.full((1, 1), hidden_weight, np.float32)])
    model.get_layer("out").set_weights([np.full((1, 1), 2.0, np.float32),
                                        np.full(1, BIAS, np.float32)])
    return from_keras(model, neuron_type="loihi-relu", synapse=synapse,
                                    readout=readout, off_chip=("to-spikes", "out"))


# (backend, hops host->chip->host, extra step of a host synapse)
TIMING = [("nengo", 0), ("nengo-dl", 0), ("loihi-emulator-fast", 1)]


@pytest.mark.parametrize("backend, hop", TIMING)
def test_first_spike_steps_on_known_network(backend, hop):
    result = get_backend(backend).run(_tiny(), X, n_steps=N_STEPS)
    np.testing.assert_array_equal(result.first_spike_steps["to-spikes"], [2, 4, 0])
    np.testing.assert_array_equal(result.first_spike_steps["hidden"],
                                  [2 + hop, 4 + hop, 0])
    np.testing.assert_array_equal(result.output_onset_steps, [2 + 2 * hop, 4 + 2 * hop, 0])
    # before the onset the output is exactly the bias
    assert np.all(result.outputs[0, :1 + 2 * hop] == np.float32(BIAS))
    assert result.outputs[0, 1 + 2 * hop, 0] != np.float32(BIAS)


def test_reference_emulator_has_the_fast_emulators_timing():
    result = get_backend("loihi-emulator").run(_tiny(), X[:2], n_steps=6)
    np.testing.assert_array_equal(result.first_spike_steps["hidden"], [3, 5])
    np.testing.assert_array_equal(result.output_onset_steps, [4, 6])


def test_host_synapse_delays_the_output_by_one_step():
    # weight 10: the synapse passes 1 - exp(-1/5) = 18% of a spike in its first step,
    # still over the threshold
    result = get_backend("loihi-emulator-fast").run(
        _tiny(synapse=0.005, hidden_weight=10.0), X, n_steps=N_STEPS)
    np.testing.assert_array_equal(result.first_spike_steps["hidden"], [3, 5, 0])
    np.testing.assert_array_equal(result.output_onset_steps, [5, 7, 0])


def test_first_spike_stats_and_output_received():
    result = get_backend("loihi-emulator-fast").run(_tiny(), X, n_steps=N_STEPS)
    stats = result.first_spike_stats()
    assert set(stats) == {"to-spikes", "hidden", "output"}
    assert stats["hidden"]["mean"] == pytest.approx(4.0)  # (3 + 5) / 2, the silent input aside
    assert stats["hidden"]["never_fraction"] == pytest.approx(1 / 3)
    assert stats["hidden"]["p95"] is None  # a third of the inputs never spike
    np.testing.assert_allclose(result.output_received_by_step(),
                               [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    ttd = result.time_to_decision_stats()
    assert set(ttd) == {"mean", "median", "p95"} and 1 <= ttd["mean"] <= N_STEPS
    summary = result.to_dict()
    assert summary["first_spike_steps"]["output"]["mean"] == pytest.approx(5.0)


def test_onset_stats_percentile_counts_never_as_late():
    steps = np.array([1] * 90 + [3] * 6 + [0] * 4)
    stats = onset_stats(steps)
    assert stats["mean"] == pytest.approx((90 + 18) / 96)
    assert stats["p95"] == 3.0  # 4% never: the 95th percentile is still a step
    assert stats["never_fraction"] == pytest.approx(0.04)
    assert onset_stats(np.array([2] * 94 + [0] * 6))["p95"] is None
    np.testing.assert_allclose(received_by_step(np.array([1, 2, 0, 2]), 3),
                               [0.25, 0.75, 0.75])


def test_mean_readout_is_the_running_mean_of_the_output():
    last = get_backend("loihi-emulator-fast").run(_tiny(), X, n_steps=N_STEPS)
    mean = get_backend("loihi-emulator-fast").run(_tiny(readout="mean"), X,
                                                 n_steps=N_STEPS)
    expected = np.cumsum(last.outputs, axis=1) / np.arange(1, N_STEPS + 1)[None, :, None]
    np.testing.assert_allclose(mean.outputs, expected, rtol=1e-6)
    np.testing.assert_array_equal(mean.output_onset_steps, last.output_onset_steps)
    np.testing.assert_allclose(apply_readout_tensor(tf.constant(last.outputs), "mean").numpy(),
                               expected, rtol=1e-6)


def test_readout_is_saved_and_checked(tmp_path):
    net = _tiny(readout="mean")
    assert FrozenNetwork.load(net.save(tmp_path / "n.snn.npz")).readout == "mean"
    with pytest.raises(ValidationError, match="readout: expected one of last, mean, "
                                              "got 'median'"):
        net.replace(readout="median")
    # a file with a bad readout is refused on loading, not accepted
    import json

    from snnkit.utils.files import write_npz_with_header

    with np.load(tmp_path / "n.snn.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files if key != "__snnkit__"}
        meta = json.loads(archive["__snnkit__"].tobytes().decode("utf-8"))
    meta["readout"] = "median"
    write_npz_with_header(tmp_path / "bad.snn.npz", "__snnkit__", meta, arrays)
    with pytest.raises(FrozenNetworkFileError, match="readout"):
        FrozenNetwork.load(tmp_path / "bad.snn.npz")


# --- the time-stepped model that latency training goes through ------------------

@pytest.mark.parametrize("synapse, readout", [(None, "last"), (0.005, "mean")])
def test_unrolled_model_has_loihis_timing(synapse, readout):
    from snnkit.training.unrolled import UnrolledLoihi

    net = _tiny(synapse=synapse, readout=readout, hidden_weight=10.0)
    fast = get_backend("loihi-emulator-fast").run(net, X, n_steps=N_STEPS)
    outputs, trains = UnrolledLoihi(net, N_STEPS).simulate(X)
    np.testing.assert_allclose(outputs.numpy(), fast.outputs, rtol=1e-5)
    for name, steps in fast.first_spike_steps.items():
        spiked = np.stack([t.numpy().reshape(len(X), -1) for t in trains[name]], axis=1)
        first = np.where(spiked.any(axis=(1, 2)), spiked.any(axis=2).argmax(axis=1) + 1, 0)
        np.testing.assert_array_equal(first, steps)


def test_unrolled_model_on_a_convnet_matches_the_chip_closely():
    """Conv layers, flatten, a dense layer with bias, 8-bit weights on the chip: the
    float model's spikes agree with the bit-exact emulator's almost everywhere."""
    import sys
    from pathlib import Path

    from snnkit.training.unrolled import UnrolledLoihi

    sys.path.insert(0, str(Path(__file__).parent))
    from test_conformance import _conv

    net = from_keras(_conv(), neuron_type="loihi-relu", readout="mean",
                                   scale_firing_rates=1.0)
    x = np.random.RandomState(0).uniform(0, 255, (10, 10, 10, 1)).astype(np.float32)
    fast = get_backend("loihi-emulator-fast").run(net, x, n_steps=20)
    outputs, trains = UnrolledLoihi(net, 20).simulate(x)
    np.testing.assert_array_equal(fast.output_onset_steps > 0, True)
    assert np.mean(np.argmax(outputs.numpy()[:, -1], -1) == fast.predictions) >= 0.9
    for name in net.neuron_layers:
        count = sum(float(t.numpy().sum()) for t in trains[name])
        assert count == pytest.approx(fast.spikes_per_input[name] * len(x), rel=0.05)


def test_unrolled_model_refuses_what_it_cannot_step():
    from snnkit.training.unrolled import UnrolledLoihi

    inp = tf.keras.Input((4, 4, 1), name="input")
    h = tf.keras.layers.Conv2D(2, 1, activation="relu", name="a")(inp)
    h = tf.keras.layers.AveragePooling2D(name="pool")(h)
    out = tf.keras.layers.Dense(2, name="out")(tf.keras.layers.Flatten(name="flat")(h))
    # unfolded: from_keras would fold the pooling into the next weighted layer
    net = from_keras(tf.keras.Model(inp, out), neuron_type="loihi-relu",
                                   fold=False)
    with pytest.raises(ValidationError, match="layer 'pool' is a AveragePooling2D; "
                                              "training over time steps supports"):
        UnrolledLoihi(net, 4)
    with pytest.raises(ValidationError, match="n_steps: expected an int >= 1, got 0"):
        UnrolledLoihi(_tiny(), 0)


# --- the latency-first recipe --------------------------------------------------

def test_percentile_scales_map_the_percentile_to_the_rate():
    from snnkit.training.recipes import percentile_scales

    inp = tf.keras.Input((4,), name="input")
    h = tf.keras.layers.Dense(4, activation="relu", use_bias=False, name="a",
                              kernel_initializer="identity")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2, name="out")(h))
    x = np.array([[1, 2, 0, -1], [3, 4, 0, 0]], np.float32)  # positive: 1, 2, 3, 4
    scales = percentile_scales(model, x, max_rate_hz=800, percentile=50)
    assert scales == {"a": pytest.approx(800 / 2.5)}
    with pytest.raises(ValidationError, match="layer 'a' is silent"):
        percentile_scales(model, -x - 1)
    with pytest.raises(ValidationError,
                       match=r"percentile: expected a finite number > 0 and <= 100, got"):
        percentile_scales(model, x, percentile=0)


def test_random_shifts_move_images_and_fill_with_zeros():
    from snnkit.training.time_training import random_shifts

    image = np.zeros((1, 6, 6, 1), np.float32)
    image[0, 2:4, 2:4] = 1  # a 2x2 block in the middle survives any 2-pixel shift
    shifted = random_shifts(np.repeat(image, 50, axis=0), 2, np.random.RandomState(0))
    assert np.all(shifted.sum(axis=(1, 2, 3)) == 4)
    moved = [tuple(np.argwhere(s[..., 0])[0]) for s in shifted]
    assert len(set(moved)) > 5 and all(0 <= r <= 4 and 0 <= c <= 4 for r, c in moved)
    with pytest.raises(ValidationError, match="shift_pixels: needs image inputs"):
        random_shifts(np.zeros((2, 5), np.float32), 1, np.random.RandomState(0))


@pytest.mark.slow
def test_train_for_latency_answers_within_a_few_steps(trained_seed, mnist_small):
    from snnkit.training.recipes import train_for_latency

    (x_train, y_train), (x_test, y_test) = mnist_small
    model = to_keras(trained_seed)
    trained = train_for_latency(model, (x_train[:600], y_train[:600]), relu_epochs=1,
                                time_epochs=2, n_steps=10, loss_from_step=6,
                                learning_rate=1e-3, calibration_inputs=200)
    net = trained.network
    assert net.synapse is None and net.readout == "mean" and net.neuron.name == "loihi-relu"
    assert net.metadata["recipe"] == "train_for_latency"
    assert net.scale_firing_rates != trained.initial_scales  # the scales were learned
    for layer in model.layers:  # the Keras model holds the trained weights
        for ours, theirs in zip(layer.get_weights(), net.weights.get(layer.name, ())):
            np.testing.assert_array_equal(ours, theirs)
    history = trained.time_history
    assert len(history) == 2 and len(history[0]["accuracy_by_step"]) == 10
    assert history[1]["loss"] < history[0]["loss"]
    result = get_backend("loihi-emulator-fast").run(net, x_test[:100], n_steps=10)
    stats = result.first_spike_stats()
    # no synapse: each layer can fire one step after its input; the chip -> host hop
    # and the host's first read make the output's onset step 5 at the earliest
    assert stats["to-spikes"]["mean"] < stats["conv0"]["mean"] < stats["output"]["mean"]
    assert stats["output"]["p95"] <= 7
    assert result.accuracy_by_step(y_test[:100])[7] > 0.7


def test_accuracy_plot_marks_steps_without_output(tmp_path):
    from snnkit.plots import output_arrived, plot_accuracy_vs_steps

    case = {"backend": "x", "n_images": 4, "accuracy_by_step": [0.1, 0.1, 0.5, 0.9],
            "output_received_by_step": [0.0, 0.25, 0.5, 1.0]}
    np.testing.assert_array_equal(output_arrived(case), [False, False, True, True])
    sequential = {"backend": "y", "n_images": 4, "accuracy_by_step": [0.5, 0.9],
                  "output_received_by_step": None}
    assert output_arrived(sequential).all()
    plot_accuracy_vs_steps([case, sequential], 0.001, path=tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_latency_table_lists_accuracy_and_first_spikes():
    from snnkit.demo import latency_table

    backend = get_backend("loihi-emulator-fast")
    results = {"best": backend.run(_tiny(synapse=0.005, hidden_weight=10.0), X,
                                   n_steps=N_STEPS),
               "latency-first": backend.run(_tiny(), X, n_steps=N_STEPS)}
    lines = latency_table(results, np.array([0, 0, 0]))
    text = "\n".join(lines)
    assert "@5" in text and "@8" in text and "@10" not in text  # only steps that ran
    row = next(line for line in lines if line.startswith("latency-first (3 images)"))
    acc = results["latency-first"].accuracy_by_step(np.array([0, 0, 0]))
    assert f"{100 * acc[4]:7.2f}%" in row
    best = next(line for line in lines if line.startswith("  best"))
    latency = next(line for line in lines if line.startswith("  latency-first"))
    assert "hidden 4.0" in latency and "output 5.0" in latency
    assert "hidden 4.0" in best and "output 6.0" in best  # the host's synapse: a step


def test_fit_over_time_checks_its_arguments():
    from snnkit.training.time_training import fit_over_time

    data = (np.tile(X, (10, 1)), np.zeros(30, np.int64))
    with pytest.raises(ValidationError, match="loss_from_step: expected a step <= "
                                              "n_steps=8, got 9"):
        fit_over_time(_tiny(), data, n_steps=8, loss_from_step=9)
    with pytest.raises(ValidationError, match="train_data: expected at least "
                                              "minibatch_size=100 examples, got 30"):
        fit_over_time(_tiny(), data, n_steps=8, loss_from_step=2)
    with pytest.raises(ValidationError, match="shift_pixels: needs image inputs"):
        fit_over_time(_tiny(), data, n_steps=8, loss_from_step=2, minibatch_size=10,
                      shift_pixels=1)


def test_fit_over_time_learns_a_tiny_task():
    """Two classes told apart by the input's size: after training, the answer read at
    the last step is right for both, and the history says so."""
    from snnkit.training.time_training import fit_over_time

    inp = tf.keras.Input((1,), name="input")
    h = tf.keras.layers.Dense(1, activation="relu", use_bias=False, name="to-spikes",
                              kernel_initializer="ones")(inp)
    h = tf.keras.layers.Dense(4, activation="relu", name="hidden",
                              kernel_initializer=tf.keras.initializers.RandomUniform(
                                  0.5, 1.5, seed=0))(h)
    out = tf.keras.layers.Dense(2, name="out", kernel_initializer="zeros")(h)
    net = from_keras(tf.keras.Model(inp, out), neuron_type="loihi-relu",
                                   scale_firing_rates=1.0, readout="mean",
                                   off_chip=("to-spikes", "out"))
    x = np.repeat(np.array([[200.0], [900.0]], np.float32), 50, axis=0)
    y = np.repeat(np.array([0, 1]), 50)
    trained = fit_over_time(net, (x, y), n_steps=8, loss_from_step=6, epochs=30,
                            minibatch_size=20, learning_rate=0.05)
    history = trained.history
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["accuracy_by_step"][-1] == 1.0
    result = get_backend("loihi-emulator-fast").run(trained.network, x[[0, -1]],
                                                   n_steps=8)
    np.testing.assert_array_equal(result.predictions, [0, 1])


def test_readout_survives_nir_export_and_import():
    net = _tiny(readout="mean")
    back = from_nir(to_nir(net))
    assert back.readout == "mean"
    assert from_nir(to_nir(_tiny())).readout == "last"


def test_no_decision_before_the_output_has_answered():
    """An output still at its bias has decided nothing: the decision step is at least
    the output's onset, and an input whose output never answers gets n_steps + 1."""
    result = get_backend("loihi-emulator-fast").run(
        _tiny(synapse=0.005, hidden_weight=10.0), X, n_steps=N_STEPS)
    np.testing.assert_array_equal(result.output_onset_steps, [5, 7, 0])
    ttd = result.time_to_decision()
    assert ttd[0] >= 5 and ttd[1] >= 7
    assert ttd[2] == N_STEPS + 1  # the silent input: argmax of the bias, no answer
    # without the onset (a backend that does not record it) the bias counts as an
    # answer from step 1
    from dataclasses import replace

    blind = replace(result, output_onset_steps=None).time_to_decision()
    assert blind[2] == 1 and np.all(ttd >= blind)
