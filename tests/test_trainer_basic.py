"""The first Trainer: what the foundation needs (the full Trainer is tested in
test_trainer*.py)."""

import numpy as np
import pytest

from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import UnknownNameError, ValidationError
from snnkit.models import seed_convnet
from snnkit.training.trainer import Trainer


def test_trained_weights_are_written_back_to_keras(trained_seed, mnist_small):
    """The Keras model after fit computes what the trained Nengo network computes."""
    _, (x_test, y_test) = mnist_small
    model = to_keras(trained_seed)
    keras_pred = np.argmax(model.predict(x_test.astype(np.float32), verbose=0), -1)
    result = Trainer(enable_progress_bar=False).evaluate(trained_seed, x_test, n_steps=1)
    np.testing.assert_allclose(result.outputs[:, 0], model.predict(
        x_test.astype(np.float32), verbose=0), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(result.predictions, keras_pred)
    assert result.accuracy(y_test) > 0.8


def test_fit_changes_weights_and_logs(mnist_small):
    (x, y), _ = mnist_small
    model = seed_convnet(seed=0)
    before = [w.copy() for w in model.get_weights()]
    trainer = Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False)
    history = trainer.fit(model, (x[:500], y[:500]), val_data=(x[500:700], y[500:700]))
    assert len(history) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(
        history[0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.slow
def test_calibration_meets_its_target(trained_seed, mnist_small):
    (x, _), _ = mnist_small
    trainer = Trainer(enable_progress_bar=False, synapse=0.005)
    cal = trainer.calibrate(trained_seed, x[:100], target_rate_hz=150, n_steps=20)
    assert cal.converged
    for name in trained_seed.on_chip_layers:
        assert abs(cal.rates_hz[name] / 150 - 1) <= 0.1, cal.rates_hz
    # and the rates hold when measured again with the scales it returned
    again = trainer.measure_rates(trained_seed, x[:100], n_steps=20, neuron_type="loihi-relu",
                                  scale_firing_rates=cal.scales, synapse=0.005)
    for name in trained_seed.on_chip_layers:
        assert again[name] == pytest.approx(cal.rates_hz[name], rel=1e-6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_epochs": 0}, ValidationError, "max_epochs: expected an int >= 1, got 0"),
    ({"neuron_type": "izh"}, UnknownNameError, "neuron_type: unknown neuron type 'izh'; "
     "known types are: relu, spiking-relu, lif, loihi-relu, loihi-lif"),
    ({"optimizer": "lion"}, UnknownNameError,
     "optimizer: unknown optimizer 'lion'; known: rmsprop, adam, sgd"),
])
def test_bad_trainer_arguments(kwargs, error, message):
    with pytest.raises(error) as e:
        Trainer(**kwargs)
    assert str(e.value) == message


def test_bad_training_data(mnist_small):
    (x, y), _ = mnist_small
    trainer = Trainer(enable_progress_bar=False)
    model = seed_convnet()
    with pytest.raises(ValidationError, match=r"train_data: expected one integer label per "
                                              r"image \(10\), got labels of shape \(9,\)"):
        trainer.fit(model, (x[:10], y[:9]))
    with pytest.raises(ValidationError, match=r"train_data: labels must be in 0..9 \(the model "
                                              r"has 10 outputs\), got 0..12"):
        trainer.fit(model, (x[:3], np.array([0, 12, 3])))
    with pytest.raises(ValidationError, match="train_data: expected at least one example"):
        trainer.fit(model, (x[:0], y[:0]))


def test_bad_target_rate(trained_seed, mnist_small):
    (x, _), _ = mnist_small
    with pytest.raises(ValidationError, match="target_rate_hz: Loihi neurons fire at most once "
                                              r"per 1 ms step \(1000 Hz\), got 1500 Hz"):
        Trainer(enable_progress_bar=False).calibrate(trained_seed, x[:10], target_rate_hz=1500)
