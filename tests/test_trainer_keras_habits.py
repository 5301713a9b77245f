"""What Keras and Lightning users bring to the Trainer: Keras callbacks, a compiled
model, a History, EarlyStopping's patience, and op determinism that does not outlive
the fit."""

import json

import numpy as np
import pytest
import tensorflow as tf

import snnkit
from snnkit.exceptions import SnnkitWarning, ValidationError
from snnkit.training.callbacks import Callback, EarlyStopping
from snnkit.training.determinism import op_determinism_enabled, scoped_determinism
from snnkit.training.history import History
from snnkit.training.nengo_dl_fit import compiled_loss_note, make_optimizer
from snnkit.training.trainer import Trainer


@pytest.fixture(scope="module")
def data():
    (x, y), _ = snnkit.load_mnist(n_train=200, n_test=1)
    return x, y


def _mlp(softmax=False):
    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((28, 28, 1), name="input")
    h = tf.keras.layers.Flatten(name="flatten")(inp)
    h = tf.keras.layers.Dense(16, activation="relu", name="a",
                              kernel_initializer=init(0))(h)
    out = tf.keras.layers.Dense(10, name="out", kernel_initializer=init(1),
                                activation="softmax" if softmax else None)(h)
    return tf.keras.Model(inp, out)


def _trainer(epochs, callbacks=(), **kwargs):
    return Trainer(max_epochs=epochs, minibatch_size=100, enable_progress_bar=False,
                   seed=0, callbacks=list(callbacks), **kwargs)


class _Seen(tf.keras.callbacks.Callback):
    """A Keras callback recording the optimizer and learning rate each epoch runs
    with: what ``self.model`` shows a Keras callback is what trains."""

    def __init__(self):
        super().__init__()
        self.rates, self.optimizers = [], []

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        self.optimizers.append(type(optimizer).__name__)
        self.rates.append(float(tf.keras.backend.get_value(optimizer.learning_rate)))


def test_keras_callbacks_change_the_rate_and_stop_the_fit(data, tmp_path):
    # min_delta so large that no epoch after the first improves: the rate halves
    # after every epoch from the second on
    reduce = tf.keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0,
                                                  min_delta=1e9)
    seen = _Seen()
    # the loss falls: with mode "max", epochs 1 and 2 do not improve (patience 2)
    stop = tf.keras.callbacks.EarlyStopping("loss", mode="max", patience=2)
    keras_csv = tf.keras.callbacks.CSVLogger(str(tmp_path / "keras.csv"))
    history = _trainer(5, [reduce, seen, stop, keras_csv]).fit(_mlp(), data, data)
    assert len(history) == 3 and stop.stopped_epoch == 2
    # Keras' logs, as Keras gives them: one epoch column, the rate a callback added
    lines = (tmp_path / "keras.csv").read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,lr,val_accuracy,val_loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]
    # the rate each epoch ran with, read from the simulator's own optimizer
    assert seen.rates == pytest.approx([1e-3, 1e-3, 5e-4])
    assert seen.optimizers == ["RMSprop"] * 3
    # Keras' callback logs the rate of the epoch just run, as in Keras' History
    assert history.history["lr"] == pytest.approx([1e-3, 1e-3, 5e-4])

    # what fit returns reads as Keras' History and, as before, as a list of dicts
    assert isinstance(history, History) and history.epoch == [0, 1, 2]
    assert history.history["loss"] == [row["loss"] for row in history]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy",
                                    "lr"}
    assert history.params == {"epochs": 5, "steps": 2}
    assert history[-1]["epoch"] == 2 and history[0]["loss"] > history[-1]["loss"]
    # numpy scalars from Keras are stored as floats
    assert json.loads(json.dumps(history)) == [dict(row) for row in history]


class _Weights(Callback):
    def __init__(self):
        self.by_epoch = []

    def on_fit_start(self, trainer):
        self.before = trainer.model.get_weights()

    def on_epoch_end(self, trainer, epoch, logs):
        self.by_epoch.append(trainer.model.get_weights())


def test_learning_rate_scheduler_reaches_the_weights(data):
    """A zero rate in epoch 1 leaves the weights where epoch 0 left them: the
    schedule acts on the optimizer that trains, not on a copy."""
    schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda epoch, rate: 0.0 if epoch == 1 else rate)
    weights = _Weights()
    history = _trainer(2, [schedule, weights]).fit(_mlp(), data)
    assert history.history["lr"] == pytest.approx([1e-3, 0.0])
    after_0, after_1 = weights.by_epoch
    assert any(not np.array_equal(a, b) for a, b in zip(weights.before, after_0))
    for a, b in zip(after_0, after_1):
        np.testing.assert_array_equal(a, b)


def test_keras_callbacks_that_cannot_work_are_refused_naming_the_equivalent(tmp_path):
    with pytest.raises(ValidationError, match=r"callbacks: tf.keras.callbacks."
                       r"ModelCheckpoint is not supported: .*snnkit.training.callbacks"
                       r".ModelCheckpoint"):
        Trainer(callbacks=[tf.keras.callbacks.ModelCheckpoint(str(tmp_path / "m"))])
    with pytest.raises(ValidationError, match="callbacks: expected snnkit Callback or "
                       "tf.keras.callbacks.Callback objects, got str"):
        Trainer(callbacks=["EarlyStopping"])


def test_compiled_optimizer_is_used_and_another_loss_is_announced(data):
    model = _mlp()
    model.compile(tf.keras.optimizers.Adam(0.01, beta_1=0.8), "mse")
    seen = _Seen()
    with pytest.warns(SnnkitWarning, match=r"Trainer.fit: the model's compiled loss "
                      r"\('mse'\) is not used: snnkit trains classifiers with sparse "
                      "categorical cross-entropy") as caught:
        _trainer(1, [seen]).fit(model, data)
    assert seen.optimizers == ["Adam"] and seen.rates == pytest.approx([0.01])
    assert caught[0].filename == __file__  # the warning points at the caller's line
    # the Trainer's own optimizer, when given, wins
    seen = _Seen()
    with pytest.warns(SnnkitWarning):
        _trainer(1, [seen], optimizer="sgd", learning_rate=0.05).fit(model, data)
    assert seen.optimizers == ["SGD"] and seen.rates == pytest.approx([0.05])


def test_compiled_optimizer_is_copied_with_its_configuration():
    model = _mlp()
    model.compile(tf.keras.optimizers.Adam(0.01, beta_1=0.8))
    copy = make_optimizer(None, None, model)
    assert type(copy) is tf.keras.optimizers.Adam and copy is not model.optimizer
    assert copy.get_config()["beta_1"] == pytest.approx(0.8)
    assert float(copy.learning_rate) == pytest.approx(0.01)
    assert float(make_optimizer(None, 0.002, model).learning_rate) == pytest.approx(0.002)
    assert type(make_optimizer(None, None, _mlp())) is tf.keras.optimizers.RMSprop
    with pytest.raises(ValidationError, match="learning_rate: an optimizer instance has "
                       "its own learning rate"):
        Trainer(optimizer=tf.keras.optimizers.Adam(), learning_rate=0.1)


@pytest.mark.parametrize("softmax, loss, replaced", [
    (False, None, None),  # not compiled
    (False, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), None),
    (True, "sparse_categorical_crossentropy", None),  # the softmax is folded away
    (True, tf.keras.losses.CategoricalCrossentropy(), None),
    (False, "sparse_categorical_crossentropy", "on an output without softmax"),
    (True, tf.keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
     "label_smoothing"),
    (False, "mse", "'mse'"),
    (False, tf.keras.losses.Huber(), "Huber"),
])
def test_which_compiled_losses_are_snnkits_loss(softmax, loss, replaced):
    model = _mlp(softmax)
    if loss is not None:
        model.compile("adam", loss)
    note = compiled_loss_note(model)
    assert (note is None) if replaced is None else (replaced in note)


def test_history_of_epochs_that_logged_other_metrics():
    history = History([{"epoch": 0, "a": 1.0}, {"epoch": 1, "b": 2.0}])
    assert history.epoch == [0, 1] and list(history.history) == ["a", "b"]
    assert history.history["a"][0] == 1.0 and np.isnan(history.history["a"][1])
    assert np.isnan(history.history["b"][0]) and history.history["b"][1] == 2.0
    assert repr(history) == "<History: 2 epochs; a, b>"


class _Model:
    """The parts of a Keras model EarlyStopping touches."""

    def __init__(self):
        self.weights = [np.zeros(2)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


class _Fit:
    """A fit EarlyStopping watches: one ``monitor`` value per epoch."""

    def __init__(self, stopper, values):
        self.stopper, self.values = stopper, values
        self.model, self.should_stop = _Model(), False

    def metric_names(self):
        return ("loss",)

    def run(self) -> int:
        self.stopper.on_fit_start(self)
        epochs = 0
        for epoch, value in enumerate(self.values):
            self.model.weights = [np.full(2, float(epoch))]  # this epoch's weights
            epochs += 1
            self.stopper.on_epoch_end(self, epoch, {"loss": value})
            if self.should_stop:
                break
        self.stopper.on_fit_end(self)
        return epochs


@pytest.mark.parametrize("patience, values, epochs", [
    (1, [1.0, 1.0, 1.0, 1.0], 2),   # Keras: one flat epoch is enough (snnkit waited 2)
    (0, [1.0, 1.0, 1.0], 2),
    (2, [1.0, 1.0, 0.5, 0.6, 0.7, 0.8], 5),  # an improvement resets the count
    (3, [1.0, 0.9, 0.8], 3),        # never flat: runs to the end
])
def test_early_stopping_patience_counts_epochs_without_improvement(patience, values,
                                                                   epochs):
    assert _Fit(EarlyStopping("loss", patience=patience), values).run() == epochs


def test_early_stopping_min_delta_and_restore_best_weights():
    # improvements of 0.05 do not count with min_delta 0.1
    stopper = EarlyStopping("loss", patience=2, min_delta=0.1)
    assert _Fit(stopper, [1.0, 0.95, 0.9, 0.85]).run() == 3
    assert stopper.best_epoch == 0 and stopper.stopped_epoch == 2
    # the best epoch's weights are put back when the fit ends
    stopper = EarlyStopping("loss", patience=2, restore_best_weights=True)
    fit = _Fit(stopper, [1.0, 0.5, 0.7, 0.8, 0.9])
    assert fit.run() == 4
    np.testing.assert_array_equal(fit.model.weights[0], [1.0, 1.0])
    # without it, the last epoch's stay
    fit = _Fit(EarlyStopping("loss", patience=2), [1.0, 0.5, 0.7, 0.8, 0.9])
    fit.run()
    np.testing.assert_array_equal(fit.model.weights[0], [3.0, 3.0])
    # a second fit with the same object starts afresh
    assert _Fit(stopper, [2.0, 1.9, 1.8]).run() == 3 and stopper.best_score == 1.8
    with pytest.raises(ValidationError, match="EarlyStopping.min_delta: expected"):
        EarlyStopping(min_delta=-1)


class _DeterminismSeen(Callback):
    def on_fit_start(self, trainer):
        self.during = op_determinism_enabled()


def test_op_determinism_is_on_during_fit_only(data):
    from tensorflow.python.framework import config

    was = op_determinism_enabled()
    try:
        config.enable_op_determinism()
        with scoped_determinism(True):
            pass
        assert op_determinism_enabled()  # it was on: it stays on
        config.disable_op_determinism()
        seen = _DeterminismSeen()
        _trainer(1, [seen]).fit(_mlp(), data)
        assert seen.during and not op_determinism_enabled()
        # put back when the fit raises too (bad labels, after seeding)
        with pytest.raises(ValidationError):
            _trainer(1).fit(_mlp(), (data[0], np.full(len(data[1]), 12)))
        assert not op_determinism_enabled()
        with scoped_determinism(False):  # deterministic=False: left as it is
            assert not op_determinism_enabled()
    finally:
        (config.enable_op_determinism if was else config.disable_op_determinism)()
