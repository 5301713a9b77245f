"""The first two backends on the same frozen network, and the input checks every
backend shares."""

import numpy as np
import pytest

from snnkit.backends import available_backends, get_backend, registered_backends
from snnkit.exceptions import BackendCapabilityError, UnknownNameError, ValidationError


def test_registry_lists_both_backends():
    assert {"nengo-dl", "loihi-emulator"} <= set(registered_backends())
    assert {"nengo-dl", "loihi-emulator"} <= set(available_backends())


def test_unknown_backend_lists_registered():
    with pytest.raises(UnknownNameError) as e:
        get_backend("spinnaker")
    assert str(e.value).startswith("backend: 'spinnaker' not found in registry. "
                                   "Available names: ")
    for name in registered_backends():
        assert name in str(e.value)


def test_nengo_dl_result(trained_seed_loihi, mnist_small):
    _, (x_test, y_test) = mnist_small
    result = get_backend("nengo-dl").run(trained_seed_loihi, x_test[:40], n_steps=30)
    assert result.outputs.shape == (40, 30, 10)
    assert result.predictions.shape == (40,)
    np.testing.assert_array_equal(result.predictions, np.argmax(result.outputs[:, -1], -1))
    assert result.accuracy(y_test[:40]) > 0.5
    curve = result.accuracy_by_step(y_test[:40])
    assert curve.shape == (30,) and curve[-1] == result.accuracy(y_test[:40])
    assert curve[0] < curve[-1]  # four filtered layers: the first steps are not ready
    assert set(result.layer_rates_hz) == {"to-spikes", "conv0", "conv1", "dense0"}
    for name, rate in result.layer_rates_hz.items():
        assert 0 < rate <= 1000, (name, rate)  # Loihi neurons: at most 1 spike per step
    assert result.synaptic_ops_per_input["total"] > 0
    ttd = result.time_to_decision()
    assert ttd.shape == (40,) and ttd.min() >= 1 and ttd.max() <= 30
    assert result.wall_time_s > 0 and result.versions["nengo-dl"] == "3.6.0"
    assert result.to_dict(y_test[:40])["accuracy"] == result.accuracy(y_test[:40])


def test_rates_match_spike_counts(trained_seed_loihi, mnist_small):
    """Spikes per input and mean rates must describe the same spikes."""
    _, (x_test, _) = mnist_small
    result = get_backend("nengo-dl").run(trained_seed_loihi, x_test[:10], n_steps=20)
    for name in trained_seed_loihi.neuron_layers:
        n_neurons = np.prod(trained_seed_loihi.layer_shape(name))
        # mean over *all* neurons is at most the mean over active neurons
        mean_all = result.spikes_per_input[name] / (20 * 0.001) / n_neurons
        assert mean_all <= result.layer_rates_hz[name] + 1e-6


@pytest.mark.slow
def test_both_backends_agree_on_most_predictions(trained_seed_loihi, mnist_small):
    _, (x_test, y_test) = mnist_small
    x = x_test[:12]
    dl = get_backend("nengo-dl").run(trained_seed_loihi, x, n_steps=30)
    emu = get_backend("loihi-emulator").run(trained_seed_loihi, x, n_steps=30)
    assert emu.outputs.shape == dl.outputs.shape
    assert np.mean(emu.predictions == dl.predictions) >= 0.8
    assert emu.accuracy(y_test[:12]) >= 0.6


def test_emulator_sequential_reads_out_each_presentation(trained_seed_loihi, mnist_small):
    _, (x_test, y_test) = mnist_small
    result = get_backend("loihi-emulator").run(trained_seed_loihi, x_test[:3], n_steps=30,
                                               presentation="sequential")
    assert result.outputs.shape == (3, 30, 10) and result.presentation == "sequential"
    assert result.layer_rates_hz["conv0"] > 0


BAD_INPUTS = [
    (np.zeros((2, 28, 28)), "x: expected shape (N, 28, 28, 1) or (N, 784), got (2, 28, 28)"),
    (np.zeros((0, 28, 28, 1)), "x: expected at least one input of shape (28, 28, 1), "
                               "got shape (0, 28, 28, 1)"),
    (np.array([["a"] * 784]), "x: expected numeric images, got dtype <U1"),
]


@pytest.mark.parametrize("backend", ["nengo-dl", "loihi-emulator"])
@pytest.mark.parametrize("x, message", BAD_INPUTS)
def test_bad_images(backend, x, message, trained_seed_loihi):
    with pytest.raises(ValidationError) as e:
        get_backend(backend).run(trained_seed_loihi, x, n_steps=5)
    assert str(e.value) == message


@pytest.mark.parametrize("backend", ["nengo-dl", "loihi-emulator"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs(backend, bad, trained_seed_loihi):
    x = np.zeros((3, 28, 28, 1), np.float32)
    x[1, 5, 5, 0] = bad
    with pytest.raises(ValidationError) as e:
        get_backend(backend).run(trained_seed_loihi, x, n_steps=5)
    assert str(e.value) == "x: inputs must be finite; input 1 has NaN or inf"


@pytest.mark.parametrize("backend", ["nengo-dl", "loihi-emulator"])
@pytest.mark.parametrize("n_steps", [0, -3, 2.5, True])
def test_bad_n_steps(backend, n_steps, trained_seed_loihi):
    with pytest.raises(ValidationError) as e:
        get_backend(backend).run(trained_seed_loihi, np.zeros((1, 784)), n_steps=n_steps)
    assert str(e.value) == f"n_steps: expected an int >= 1, got {n_steps!r}"


def test_unknown_presentation(trained_seed_loihi):
    with pytest.raises(ValidationError, match="presentation: expected one of reset, "
                                              "sequential, got 'shuffled'"):
        get_backend("nengo-dl").run(trained_seed_loihi, np.zeros((1, 784)), n_steps=2,
                                    presentation="shuffled")


def test_emulator_refuses_non_loihi_neurons_on_chip(trained_seed):
    with pytest.raises(BackendCapabilityError) as e:
        get_backend("loihi-emulator").run(trained_seed, np.zeros((1, 784)), n_steps=2)
    assert str(e.value) == ("neuron_type: on-chip layer(s) 'conv0', 'conv1', 'dense0' use "
                            "'relu', which Loihi cannot run; allowed on chip: loihi-relu, "
                            "loihi-lif (or list the layer in off_chip)")
