"""Trainer: fit/evaluate/predict, determinism, rate regularization, Loihi neurons and
the bad input of issue 4, on small MNIST subsets."""

import numpy as np
import pytest
import tensorflow as tf

import snnkit
from snnkit.exceptions import ConversionError, UnknownNameError, ValidationError
from snnkit.models import seed_convnet
from snnkit.training.callbacks import Callback, RateMonitor
from snnkit.training.rate_reg import parse_rate_targets, rate_loss
from snnkit.training.trainer import Trainer

LAYERS = ("to-spikes", "conv0", "conv1", "dense0")


@pytest.fixture(scope="module")
def mnist():
    (x, y), (xt, yt) = snnkit.load_mnist(n_train=1000, n_test=200)
    return x, y, xt, yt


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def test_fit_trains_and_writes_weights_back(mnist):
    x, y, xt, yt = mnist
    model = seed_convnet(0)
    before = _weights(model)
    trainer = Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False)
    history = trainer.fit(model, (x, y), (xt, yt))
    assert [h["epoch"] for h in history] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[-1])
    assert history[1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.5
    assert not any(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # the Keras model now holds the trained weights: its own accuracy matches
    keras_acc = np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt)
    assert keras_acc == pytest.approx(history[-1]["val_accuracy"], abs=0.02)
    outputs = trainer.predict(model, xt[:50], n_steps=1)
    assert outputs.shape == (50, 10)
    assert np.mean(np.argmax(outputs, -1) == yt[:50]) > 0.5


def test_same_seed_gives_identical_weights_and_dataset_equals_arrays(mnist):
    x, y = mnist[0][:600], mnist[1][:600]
    runs = []
    for data in ((x, y), (x, y),
                 tf.data.Dataset.from_tensor_slices((x, y)).batch(64)):
        model = seed_convnet(0)
        Trainer(max_epochs=1, minibatch_size=100, seed=3,
                enable_progress_bar=False).fit(model, data)
        runs.append(model.get_weights())
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], other))


@pytest.mark.slow
def test_rate_regularization_logs_per_layer_loss_and_moves_rates(mnist):
    x, y, _, _ = mnist
    rates = {}
    for weight in (0.0, 100.0):
        model = seed_convnet(0)
        trainer = Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False,
                          rate_reg_hz={"conv1": 100, "dense0": (20, 200)},
                          rate_weight=weight, callbacks=[RateMonitor(n_steps=1)])
        history = trainer.fit(model, (x, y))
        assert set(k for k in history[-1] if k.startswith("rate_loss/")) == {
            "rate_loss/conv1", "rate_loss/dense0"}
        rates[weight] = history[-1]["rate_hz/conv1"]
    # pulled toward 100 Hz from far below it
    assert rates[0.0] < 50
    assert rates[100.0] > 2 * rates[0.0]


def test_rate_loss_is_in_hz_whatever_the_scale():
    amplitude = 1 / 40  # scale_firing_rates=40 divides the amplitude by 40
    rates = np.full((4, 1, 10), 150.0, np.float32)
    mse = rate_loss(150.0, amplitude)
    assert float(tf.reduce_mean(mse(None, rates * amplitude))) == pytest.approx(0, abs=1e-6)
    assert float(tf.reduce_mean(mse(None, 2 * rates * amplitude))) == pytest.approx(1.0)
    in_range = rate_loss((100.0, 200.0), amplitude)
    assert float(in_range(None, rates * amplitude)) == pytest.approx(0, abs=1e-6)
    assert float(in_range(None, 3 * rates * amplitude)) == pytest.approx((250 / 200) ** 2)


def test_loihi_neuron_training_reports_the_ceiling(mnist):
    x, y, _, _ = mnist
    model = seed_convnet(0)
    trainer = Trainer(max_epochs=1, minibatch_size=100, neuron_type="loihi-relu",
                      scale_firing_rates=200.0, enable_progress_bar=False,
                      callbacks=[RateMonitor(n_inputs=100, n_steps=10)])
    history = trainer.fit(model, (x, y))
    logs = history[-1]
    for name in LAYERS:
        assert 0.0 <= logs[f"saturated/{name}"] <= 1.0
        assert logs[f"max_rate_hz/{name}"] <= 1000.0 + 1e-6
    # scale 200 on 0..255 pixels drives the first layer into one spike per step
    assert logs["saturated/to-spikes"] > 0.01
    assert logs["max_rate_hz/to-spikes"] == pytest.approx(1000.0)


@pytest.mark.parametrize("neuron_type", ["spiking-relu", "lif", "loihi-lif"])
def test_every_neuron_type_trains(mnist, neuron_type):
    x, y, _, _ = mnist
    model = seed_convnet(0)
    history = Trainer(max_epochs=1, minibatch_size=200, neuron_type=neuron_type,
                      scale_firing_rates=5.0, enable_progress_bar=False).fit(
        model, (x[:400], y[:400]))
    assert np.isfinite(history[0]["loss"])


# --- bad input ---------------------------------------------------------------

def test_labels_that_do_not_match_the_outputs(mnist):
    x, y, _, _ = mnist
    trainer = Trainer(max_epochs=1, enable_progress_bar=False)
    with pytest.raises(ValidationError, match=r"train_data: expected one integer label "
                                              r"per image \(1000\), got labels of shape"):
        trainer.fit(seed_convnet(0), (x, y[:10]))
    with pytest.raises(ValidationError, match=r"labels must be in 0\.\.9 \(the model has "
                                              r"10 outputs\), got 0\.\.10"):
        trainer.fit(seed_convnet(0), (x, np.where(y == 9, 10, y)))
    with pytest.raises(ValidationError, match="one integer label per image"):
        trainer.fit(seed_convnet(0), (x, np.eye(10)[y]))  # one-hot


def test_empty_data(mnist):
    x, y, _, _ = mnist
    trainer = Trainer(max_epochs=1, enable_progress_bar=False)
    with pytest.raises(ValidationError, match="train_data: expected at least one example"):
        trainer.fit(seed_convnet(0), (x[:0], y[:0]))
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0]))
    with pytest.raises(ValidationError, match="train_data: expected at least one example"):
        trainer.fit(seed_convnet(0), empty)
    with pytest.raises(ValidationError, match=r"val_data: expected at least "
                                              r"minibatch_size=200 examples, got 50"):
        trainer.fit(seed_convnet(0), (x, y), (x[:50], y[:50]))


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_epochs_below_one(value):
    with pytest.raises(ValidationError, match=f"max_epochs: expected an int >= 1, "
                                              f"got {value!r}"):
        Trainer(max_epochs=value)


@pytest.mark.parametrize("target, message", [
    (0, r"rate_reg_hz\['to-spikes'\]: expected a rate > 0 Hz, got 0"),
    (-5.0, r"expected a rate > 0 Hz, got -5.0"),
    (1500, r"Loihi neurons fire at most once per step \(1000 Hz at this dt\), got 1500 Hz"),
    ((10, 1200), r"at most once per step .* got 1200 Hz"),
    ((300, 100), r"expected 0 <= low < high Hz, got \(300, 100\)"),
])
def test_bad_rate_targets_for_loihi_neurons(target, message):
    with pytest.raises(ValidationError, match=message):
        parse_rate_targets(target, LAYERS, loihi=True)


def test_rates_above_1000_hz_are_fine_for_non_loihi_neurons():
    assert parse_rate_targets(1500, LAYERS, loihi=False)["conv0"] == 1500.0


def test_rate_target_dict_with_unknown_layers_lists_them(mnist):
    x, y, _, _ = mnist
    trainer = Trainer(max_epochs=1, enable_progress_bar=False,
                      rate_reg_hz={"conv0": 100, "conv7": 100, "dense9": 50})
    with pytest.raises(UnknownNameError) as info:
        trainer.fit(seed_convnet(0), (x, y))
    assert str(info.value) == (
        "rate_reg_hz: unknown layer(s) 'conv7', 'dense9'; neuron layers are: "
        "to-spikes, conv0, conv1, dense0")


def test_trainer_rejects_loihi_targets_above_the_ceiling_at_fit(mnist):
    x, y, _, _ = mnist
    trainer = Trainer(max_epochs=1, neuron_type="loihi-relu", rate_reg_hz=2000,
                      enable_progress_bar=False)
    with pytest.raises(ValidationError, match="at most once per step"):
        trainer.fit(seed_convnet(0), (x, y))


def test_layer_nengo_dl_cannot_convert_is_named_with_advice(mnist):
    x, y, _, _ = mnist
    inp = tf.keras.Input((28, 28, 1))
    h = tf.keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)
    h = tf.keras.layers.MaxPooling2D(name="pool")(h)
    out = tf.keras.layers.Dense(10, name="out")(tf.keras.layers.Flatten()(h))
    model = tf.keras.Model(inp, out)
    with pytest.raises(ConversionError, match=r"model: layer 'pool' is a MaxPooling2D; "
                                              r"use AveragePooling2D \(spiking neurons "
                                              r"cannot take a maximum\), or pass "
                                              r"max_pool='average'"):
        Trainer(enable_progress_bar=False).fit(model, (x, y))
    sig = tf.keras.Sequential([tf.keras.Input((28, 28, 1)), tf.keras.layers.Flatten(),
                               tf.keras.layers.Dense(10, activation="sigmoid", name="s")])
    with pytest.raises(ConversionError, match=r"layer 's' has activation 'sigmoid'"):
        Trainer(enable_progress_bar=False).fit(sig, (x, y))


def test_bad_callbacks_logger_and_weight():
    with pytest.raises(ValidationError, match="callbacks: expected snnkit Callback or "
                                              "tf.keras.callbacks.Callback objects, "
                                              "got str"):
        Trainer(callbacks=["x"])
    with pytest.raises(ValidationError, match="logger: expected None, True or snnkit "
                                              "logger callbacks"):
        Trainer(logger="tensorboard")
    with pytest.raises(ValidationError, match="rate_weight: expected a finite number >= 0, "
                                              "got -1"):
        Trainer(rate_weight=-1)


def test_callbacks_see_hooks_in_order(mnist):
    x, y, _, _ = mnist
    calls = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            calls.append("fit_start")

        def on_epoch_start(self, trainer, epoch):
            calls.append(f"start{epoch}")

        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(f"end{epoch}:{sorted(logs)[:2]}")

        def on_fit_end(self, trainer):
            calls.append("fit_end")

        def on_evaluate_end(self, trainer, result):
            calls.append(f"evaluate:{result.n_inputs}")

    trainer = Trainer(max_epochs=2, enable_progress_bar=False, callbacks=[Recorder()])
    trainer.fit(seed_convnet(0), (x[:400], y[:400]))
    trainer.evaluate(seed_convnet(0), x[:20], y[:20], n_steps=2)
    assert calls == ["fit_start", "start0", "end0:['accuracy', 'epoch']", "start1",
                     "end1:['accuracy', 'epoch']", "fit_end", "evaluate:20"]


@pytest.mark.slow
def test_calibrate_meets_its_target_on_a_trained_seed_network():
    (x, y), _ = snnkit.load_mnist(n_train=2000, n_test=1)
    model = seed_convnet(0)
    trainer = Trainer(max_epochs=2, synapse=0.005, enable_progress_bar=False)
    trainer.fit(model, (x, y))
    calibration = trainer.calibrate(model, x[:100], target_rate_hz=200,
                                    neuron_type="loihi-relu")
    assert calibration.converged
    network = trainer.freeze(model)
    for name in network.on_chip_layers:
        assert calibration.rates_hz[name] == pytest.approx(200, rel=0.1)
    # the rates hold when measured again at these scales, with the inference synapse
    rates = trainer.measure_rates(model, x[:100], neuron_type="loihi-relu",
                                  scale_firing_rates=calibration.scales)
    assert rates == pytest.approx(calibration.rates_hz)
    assert calibration.history[0][1] != calibration.rates_hz  # it did iterate


def test_calibrate_rejects_rates_loihi_cannot_fire(mnist):
    x, _, _, _ = mnist
    with pytest.raises(ValidationError, match=r"target_rate_hz: Loihi neurons fire at "
                                              r"most once per 1 ms step \(1000 Hz\), "
                                              r"got 1200 Hz"):
        Trainer(enable_progress_bar=False).calibrate(seed_convnet(0), x[:10],
                                                     target_rate_hz=1200)
    with pytest.raises(ValidationError,
                       match=r"target_rate_hz: expected a finite number > 0 \(Hz\)"):
        Trainer(enable_progress_bar=False).calibrate(seed_convnet(0), x[:10],
                                                     target_rate_hz=0)


@pytest.mark.slow
def test_train_for_loihi_returns_a_calibrated_loihi_network(mnist):
    from snnkit.training.recipes import train_for_loihi

    x, y, xt, yt = mnist
    model = seed_convnet(0)
    trained = train_for_loihi(model, (x, y), relu_epochs=2, loihi_epochs=1,
                              target_rate_hz=150, n_steps=20, calibration_inputs=50)
    network = trained.network
    assert network.neuron.name == "loihi-relu" and network.synapse == 0.005
    assert network.scale_firing_rates == trained.calibration.scales
    assert len(trained.relu_history) == 2 and len(trained.loihi_history) == 1
    # fine-tuning moved the weights, so the scales were calibrated again
    assert trained.calibration.scales != trained.first_calibration.scales
    if trained.calibration.converged:
        for name in network.on_chip_layers:
            assert trained.calibration.rates_hz[name] == pytest.approx(150, rel=0.1)
    result = Trainer(enable_progress_bar=False).evaluate(network, xt, yt, n_steps=30)
    assert result.accuracy(yt) > 0.7


@pytest.mark.parametrize("neuron_type", ["relu", "loihi-relu"])
def test_fit_writes_back_biases_and_batchnorm_of_a_users_model(mnist, neuron_type):
    # conv biases, dense biases and a batch norm (folded for training, written back
    # as an identity): a fit that cannot move the weights must leave the model's
    # function as it was, at any scale
    x, y, _, _ = mnist
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    inp = L.Input((28, 28, 1))
    h = L.Conv2D(4, 3, strides=2, activation="relu", name="c0")(inp)
    h = L.Conv2D(6, 3, strides=2, name="c1")(h)
    h = L.ReLU(name="r1")(L.BatchNormalization(name="bn")(h))
    h = L.Dense(16, activation="relu", name="d0")(L.Dropout(0.3)(L.Flatten()(h)))
    model = tf.keras.Model(inp, L.Dense(10, name="out")(h))
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w + 0.05 for w in layer.get_weights()])
    before = model(x[:20].astype(np.float32)).numpy()
    Trainer(max_epochs=1, minibatch_size=100, neuron_type=neuron_type,
            optimizer=tf.optimizers.SGD(1e-12), scale_firing_rates=7.0,
            enable_progress_bar=False).fit(model, (x[:200], y[:200]))
    after = model(x[:20].astype(np.float32)).numpy()
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)
    assert np.allclose(model.get_layer("bn").moving_mean.numpy(), 0)
