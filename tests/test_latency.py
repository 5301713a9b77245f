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
from snnkit.exceptions import FrozenNetworkFileError, ValidationError
from snnkit.frozen import FrozenNetwork
from snnkit.readout import apply_readout
from snnkit.results import onset_stats, received_by_step

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
    return FrozenNetwork.from_keras(model, neuron_type="loihi-relu", synapse=synapse,
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
    np.testing.assert_allclose(apply_readout(tf.constant(last.outputs), "mean").numpy(),
                               expected, rtol=1e-6)


def test_readout_is_saved_and_checked(tmp_path):
    net = _tiny(readout="mean")
    assert FrozenNetwork.load(net.save(tmp_path / "n.snn.npz")).readout == "mean"
    with pytest.raises(ValidationError, match="readout: expected one of last, mean, "
                                              "got 'median'"):
        net.replace(readout="median")
    # a file with a bad readout is refused on loading, not accepted
    from snnkit._io import read_npz_with_header, write_npz_with_header

    meta, arrays = read_npz_with_header(tmp_path / "n.snn.npz", "__snnkit__",
                                        lambda kind, cause: ValueError(kind))
    meta["readout"] = "median"
    write_npz_with_header(tmp_path / "bad.snn.npz", "__snnkit__", meta, dict(arrays))
    with pytest.raises(FrozenNetworkFileError, match="readout"):
        FrozenNetwork.load(tmp_path / "bad.snn.npz")


def test_accuracy_plot_marks_steps_without_output(tmp_path):
    from snnkit.plots import output_arrived, plot_accuracy_vs_steps

    case = {"backend": "x", "n_images": 4, "accuracy_by_step": [0.1, 0.1, 0.5, 0.9],
            "output_received_by_step": [0.0, 0.25, 0.5, 1.0]}
    np.testing.assert_array_equal(output_arrived(case), [False, False, True, True])
    sequential = {"backend": "y", "n_images": 4, "accuracy_by_step": [0.5, 0.9],
                  "output_received_by_step": None}
    assert output_arrived(sequential).all()
    png = plot_accuracy_vs_steps(tmp_path / "a.png", [case, sequential], 0.001)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
