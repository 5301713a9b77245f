"""Careless arguments get an error that names the argument, what was expected and
what was received (not NaN weights, an IndexError, a silent 0.0 or a warning)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from snnkit import FrozenNetwork, Result
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import FrozenNetworkFileError, ValidationError
from snnkit.training.trainer import Trainer


@pytest.fixture(scope="module")
def model():
    import tensorflow as tf

    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((28, 28, 1), name="input")
    x = tf.keras.layers.Flatten(name="flatten")(inp)
    x = tf.keras.layers.Dense(8, activation="relu", kernel_initializer=init(0), name="a")(x)
    out = tf.keras.layers.Dense(10, kernel_initializer=init(1), name="out")(x)
    return tf.keras.Model(inp, out)


@pytest.fixture(scope="module")
def network(model):
    return from_keras(model)


@pytest.mark.parametrize("kwargs, message", [
    ({"learning_rate": float("nan")}, "learning_rate: expected a finite number > 0, got nan"),
    ({"learning_rate": -0.1}, "learning_rate: expected a finite number > 0, got -0.1"),
    ({"learning_rate": "0.1"}, "learning_rate: expected a finite number > 0, got '0.1'"),
    ({"synapse": -1}, "synapse: expected a finite number > 0 (seconds), got -1"),
    ({"dt": 0}, "dt: expected a finite number > 0 (seconds), got 0"),
    ({"minibatch_size": 2.5}, "minibatch_size: expected an int >= 1, got 2.5"),
    ({"max_epochs": True}, "max_epochs: expected an int >= 1, got True"),
    ({"rate_weight": float("inf")}, "rate_weight: expected a finite number >= 0, got inf"),
])
def test_trainer_arguments(kwargs, message):
    with pytest.raises(ValidationError) as info:
        Trainer(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"tolerance": -1}, "tolerance: expected a fraction in (0, 1), got -1"),
    ({"tolerance": float("nan")}, "tolerance: expected a fraction in (0, 1), got nan"),
    ({"max_iterations": 0}, "max_iterations: expected an int >= 1, got 0"),
    ({"max_iterations": 2.0}, "max_iterations: expected an int >= 1, got 2.0"),
])
def test_calibrate_arguments(network, kwargs, message, monkeypatch):
    trainer = Trainer(enable_progress_bar=False)
    runs = []
    monkeypatch.setattr(trainer, "evaluate", lambda *a, **k: runs.append(a))
    with pytest.raises(ValidationError) as info:
        trainer.calibrate(network, np.zeros((2, 784)), **kwargs)
    assert str(info.value) == message
    assert runs == [], "refused before any measurement"


def _result(n_inputs=3, n_outputs=10):
    outputs = np.zeros((n_inputs, 2, n_outputs))
    outputs[:, -1, 1] = 1.0  # every prediction is class 1
    return Result(backend="test", outputs=outputs, layer_rates_hz={}, layer_max_rates_hz={},
                  spikes_per_input={}, saturated_fraction={}, synaptic_ops_per_input={},
                  n_steps=2, dt=0.001, wall_time_s=1.0)


@pytest.mark.parametrize("labels, message", [
    ([42, 99, 1], "y: labels must be in 0..9 (the model has 10 outputs), got 1..99"),
    ([-1, 1, 1], "y: labels must be in 0..9 (the model has 10 outputs), got -1..1"),
    ([1.0, 1.0, 1.0], "y: expected integer labels, got dtype float64"),
    (["1", "1", "1"], "y: expected integer labels, got dtype <U1"),
    ([1, 1], "y: expected one integer label per image (3), got labels of shape (2,)"),
])
def test_result_accuracy_labels(labels, message):
    result = _result()
    assert result.accuracy([1, 1, 0]) == pytest.approx(2 / 3)
    with pytest.raises(ValidationError) as info:
        result.accuracy(labels)
    assert str(info.value) == message
    with pytest.raises(ValidationError):
        result.accuracy_by_step(labels)


def test_complex_images_are_refused_without_a_warning(network, model):
    from snnkit.backends import get_backend

    x = np.zeros((4, 28, 28, 1), np.complex128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValidationError) as info:
            get_backend("nengo").run(network, x, n_steps=2)
        assert str(info.value) == "x: expected real-valued images, got dtype complex128"
        with pytest.raises(ValidationError) as info:
            Trainer(enable_progress_bar=False).fit(model, (x, np.zeros(4, int)))
        assert str(info.value) == \
            "train_data: expected real-valued images, got dtype complex128"


def test_images_without_the_channel_axis_report_their_real_shape(model):
    x = np.zeros((200, 28, 28), np.uint8)
    with pytest.raises(ValidationError) as info:
        Trainer(enable_progress_bar=False).fit(model, (x, np.zeros(200, int)))
    assert str(info.value) == ("train_data: expected shape (N, 28, 28, 1) or (N, 784), "
                               "got (200, 28, 28)")


def test_save_and_load_name_the_users_path(network, tmp_path):
    missing = tmp_path / "no" / "such" / "net.snn.npz"
    with pytest.raises(ValidationError) as info:
        network.save(missing)
    assert str(info.value) == (f"path: cannot write '{missing}': its folder "
                               f"'{missing.parent}' does not exist")
    with pytest.raises(ValidationError) as info:
        network.save(tmp_path)
    assert str(info.value) == f"path: expected a file path, got a folder: '{tmp_path}'"
    assert not list(tmp_path.iterdir())
    with pytest.raises(FrozenNetworkFileError) as info:
        FrozenNetwork.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: a folder, not a file"


@pytest.mark.parametrize("kwargs, value, message", [
    ({"low": 0, "low_open": True}, 0, "x: expected a finite number > 0, got 0"),
    ({"low": 0, "high": 100, "low_open": True}, 100.5,
     "x: expected a finite number > 0 and <= 100, got 100.5"),
    ({"high": 0.0, "unit": "volts"}, 0.5, "x: expected a finite number <= 0 (volts), got 0.5"),
    ({"low": -1}, float("nan"), "x: expected a finite number >= -1, got nan"),
    ({}, "3", "x: expected a finite number, got '3'"),
    ({}, True, "x: expected a finite number, got True"),
])
def test_number_check_names_its_bounds(kwargs, value, message):
    """snnkit.utils.validation.check_number: the one number check every module uses."""
    from snnkit.utils.validation import check_number

    with pytest.raises(ValidationError) as e:
        check_number("x", value, **kwargs)
    assert str(e.value) == message


def test_number_check_accepts_the_bounds_it_states():
    from snnkit.utils.validation import check_number

    assert check_number("x", 100, low=0, high=100, low_open=True) == 100.0
    assert check_number("x", 0, low=0) == 0.0
    assert check_number("x", np.float32(-2.5)) == -2.5
