"""A FrozenNetwork prints like a Keras model, has a short repr, and the figures its
metadata carries say which network they were measured on."""

import json

import numpy as np
import pytest

from snnkit.exceptions import ValidationError
from snnkit.keras.specs import LayerSpec, model_config
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.measured import measurements, record_measurement


def _network(classes=3, **kwargs) -> FrozenNetwork:
    config = model_config([
        LayerSpec("InputLayer", "input", {"batch_input_shape": [None, 4]}),
        LayerSpec("Dense", "hidden", {"units": 3, "activation": "relu"}, ("input",)),
        LayerSpec("Dense", "out", {"units": classes}, ("hidden",)),
    ])
    weights = {"hidden": (np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
               "out": (np.ones((3, classes), np.float32),
                       np.zeros(classes, np.float32))}
    return FrozenNetwork(model_json=json.dumps(config), weights=weights,
                         neuron=kwargs.pop("neuron", "relu"), **kwargs)


def test_summary_prints_lines_and_returns_none(capsys):
    network = _network()
    assert network.summary() is None
    printed = capsys.readouterr().out
    lines = []
    network.summary(print_fn=lines.append)
    assert printed == "\n".join(lines) + "\n" == str(network) + "\n"
    assert lines[0] == ("FrozenNetwork: neuron type relu, synapse None s, dt 0.001 s, "
                        "readout last, 27 parameters")
    assert any(line.split()[:2] == ["hidden", "(3,)"] for line in lines)
    with pytest.raises(ValidationError, match="print_fn: expected a callable or None, "
                       "got str"):
        network.summary(print_fn="print")


def test_repr_is_one_short_line():
    network = _network(neuron="loihi-relu", synapse=0.005, off_chip=("out",))
    text = repr(network)
    assert text == ("<FrozenNetwork loihi-relu: 1 neuron layer (1 on chip), input (4,) "
                    "-> 3 outputs, synapse 0.005 s, dt 0.001 s, readout 'last', 27 "
                    "parameters>")
    assert "\n" not in text and len(text) < 200


def test_a_figure_describes_the_network_it_was_measured_on_only():
    trained = record_measurement(_network(), "test_accuracy", 0.25,
                                 {"backend": "nengo-dl", "n_images": 8})
    trained = record_measurement(trained, "rates_hz", {"hidden": 120.0},
                                 {"n_images": 8}, independent_of=("readout",))
    figures = {m.name: m for m in measurements(trained)}
    assert figures["test_accuracy"].describes_network and figures["test_accuracy"].value \
        == 0.25 and figures["test_accuracy"].changed == ()
    assert "test_accuracy: 25.00% (backend nengo-dl, n_images 8) - measured on this " \
        "network" in str(trained)

    # calibration makes another network with the same metadata
    calibrated = trained.replace(neuron="loihi-relu", scale_firing_rates={"hidden": 3.0},
                                 synapse=0.005)
    figures = {m.name: m for m in measurements(calibrated)}
    assert not figures["test_accuracy"].describes_network
    assert figures["test_accuracy"].changed == (
        "neuron type relu -> loihi-relu", "scales changed", "synapse None -> 0.005")
    assert "test_accuracy: 25.00% (backend nengo-dl, n_images 8) - NOT this network's: " \
        "measured before neuron type relu -> loihi-relu; scales changed; synapse None " \
        "-> 0.005" in str(calibrated)
    # through a file too
    # other weights (fine-tuning) count; the readout does not for rates
    tuned = trained.replace(weights={**trained.weights, "out": (
        np.full((3, 3), 2, np.float32), np.zeros(3, np.float32))})
    assert [m.changed for m in measurements(tuned)] == [("weights changed",)] * 2
    read_out = trained.replace(readout="mean")
    assert [m.describes_network for m in measurements(read_out)] == [False, True]


def test_figures_survive_a_file_and_junk_is_ignored(tmp_path):
    trained = record_measurement(_network(), "test_accuracy", 0.5, {"n_images": 2})
    back = FrozenNetwork.load(trained.save(tmp_path / "n.snn.npz"))
    assert [m.describes_network for m in measurements(back)] == [True]
    # free metadata may hold anything under the key: never read as a measurement
    for junk in ("x", [1], {"a": 1}, {"a": {"value": 1, "conditions": {},
                                            "network_state": {}}}):
        assert measurements(_network(metadata={"measured": junk})) == []
    with pytest.raises(ValidationError, match="independent_of: expected fields among"):
        record_measurement(_network(), "x", 1, {}, independent_of=("weights_sha256",))
