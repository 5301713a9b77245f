"""Checkpoints, resume, early stopping and loggers of the Trainer."""

import csv

import numpy as np
import pytest
import tensorflow as tf

import snnkit
from snnkit.exceptions import CheckpointError, UnknownNameError, ValidationError
from snnkit.models import seed_convnet
from snnkit.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TensorBoardLogger,
)
from snnkit.training.checkpoint import load_checkpoint
from snnkit.training.trainer import Trainer


@pytest.fixture(scope="module")
def data():
    (x, y), (xt, yt) = snnkit.load_mnist(n_train=600, n_test=200)
    return (x, y), (xt, yt)


class _Kill(Callback):
    """Simulates a kill after epoch ``at`` has been checkpointed."""

    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise KeyboardInterrupt


def _trainer(tmp_path, epochs, *extra, **kwargs):
    return Trainer(max_epochs=epochs, minibatch_size=100, enable_progress_bar=False,
                   default_root_dir=tmp_path, seed=1,
                   callbacks=[ModelCheckpoint(monitor="val_accuracy", mode="max"), *extra],
                   **kwargs)


@pytest.mark.slow
def test_resume_after_kill_ends_like_an_uninterrupted_run(tmp_path, data):
    train, val = data
    straight = seed_convnet(0)
    reference = _trainer(tmp_path / "a", 3).fit(straight, train, val)

    killed = seed_convnet(0)
    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path / "b", 3, _Kill(at=1)).fit(killed, train, val)
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.npz")
    assert ckpt.epoch == 2 and len(ckpt.history) == 2
    # optimizer state is saved: RMSprop's iteration count and one slot per variable
    assert int(ckpt.optimizer[0]) == 2 * 6

    resumed = seed_convnet(0)  # a fresh process would start from a new model
    history = _trainer(tmp_path / "b", 3).fit(resumed, train, val, ckpt_path="last")
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert history[:2] == reference[:2]
    # weights and optimizer state restored: the third epoch matches too
    assert history[2]["loss"] == pytest.approx(reference[2]["loss"], rel=1e-4)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    final = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.npz")
    assert final.epoch == 3 and int(final.optimizer[0]) == 3 * 6


def test_resume_of_a_finished_run_trains_no_more(tmp_path, data):
    train, _ = data
    model = seed_convnet(0)
    Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
            default_root_dir=tmp_path, callbacks=[ModelCheckpoint()]).fit(model, train)
    weights = model.get_weights()
    resumed = seed_convnet(5)
    history = Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
                      default_root_dir=tmp_path, callbacks=[ModelCheckpoint()]).fit(
        resumed, train, ckpt_path="last")
    assert len(history) == 1
    # the checkpoint's weights, untouched by further training
    for a, b in zip(weights, resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_with_other_settings_or_data_is_refused(tmp_path, data):
    """A resumed fit must be the fit that wrote the checkpoint (else its weights are
    not an uninterrupted run's); only max_epochs may grow."""
    from hostile_payloads import rewrite_npz

    train, _ = data

    def trainer(**kwargs):
        settings = dict(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
                        default_root_dir=tmp_path, callbacks=[ModelCheckpoint()])
        return Trainer(**{**settings, **kwargs})

    trainer().fit(seed_convnet(0), train)
    last = tmp_path / "checkpoints" / "last.npz"
    assert load_checkpoint(last).settings["learning_rate"] == 0.001
    with pytest.raises(CheckpointError, match=r"learning_rate: 0.001 \(checkpoint\) vs "
                                              r"0.01 \(this fit\)") as e:
        trainer(max_epochs=2, learning_rate=0.01).fit(seed_convnet(0), train,
                                                      ckpt_path="last")
    assert str(last) in str(e.value) and "rate_weight" not in str(e.value)
    with pytest.raises(CheckpointError, match=r"train_data: \"600 images, sha256 \w+\" "
                                              r"\(checkpoint\) vs \"500 images"):
        trainer(max_epochs=2).fit(seed_convnet(0), (train[0][:500], train[1][:500]),
                                  ckpt_path="last")
    with pytest.raises(CheckpointError, match=r"minibatch_size: 100 \(checkpoint\) vs 200 "
                                              r"\(this fit\); seed: 0 \(checkpoint\) vs 3"):
        trainer(seed=3, minibatch_size=200).fit(seed_convnet(0), train, ckpt_path="last")
    # more epochs with the same settings: the training is extended
    history = trainer(max_epochs=2).fit(seed_convnet(0), train, ckpt_path="last")
    assert [h["epoch"] for h in history] == [0, 1]

    # a checkpoint of format version 1 recorded no settings: resumed, with a warning
    def version_1(header):
        header.pop("settings")
        header["format_version"] = 1

    rewrite_npz(last, "__snnkit_ckpt__", version_1)
    assert load_checkpoint(last).settings is None
    with pytest.warns(UserWarning, match="records no training settings"):
        history = trainer(max_epochs=2, learning_rate=0.01).fit(
            seed_convnet(0), train, ckpt_path="last")
    assert len(history) == 2


def test_best_and_last_checkpoints_follow_the_monitored_metric(tmp_path, data):
    train, val = data
    model = seed_convnet(0)
    checkpoint = ModelCheckpoint(tmp_path / "ck", monitor="val_loss")
    history = Trainer(max_epochs=3, minibatch_size=100, enable_progress_bar=False,
                      callbacks=[checkpoint]).fit(model, train, val)
    best_epoch = int(np.argmin([h["val_loss"] for h in history]))
    assert checkpoint.best_epoch == best_epoch
    best = load_checkpoint(tmp_path / "ck" / "best.npz")
    last = load_checkpoint(tmp_path / "ck" / "last.npz")
    assert best.epoch == best_epoch + 1 and last.epoch == 3
    for layer in model.layers:
        for a, b in zip(layer.get_weights(), last.weights.get(layer.name, [])):
            np.testing.assert_array_equal(a, b)
    # plain .npz without pickles; no temporary files left behind
    with np.load(tmp_path / "ck" / "best.npz", allow_pickle=False) as archive:
        assert all(archive[k].dtype != object for k in archive.files)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["best.npz", "last.npz"]


def test_checkpoint_from_a_different_model(tmp_path, data):
    train, _ = data
    Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
            default_root_dir=tmp_path, callbacks=[ModelCheckpoint()]).fit(
        seed_convnet(0), train)
    inp = tf.keras.Input((28, 28, 1), name="input")
    h = tf.keras.layers.Conv2D(3, 1, activation="relu", use_bias=False, name="to-spikes")(inp)
    h = tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu", use_bias=False,
                               name="conv0")(h)
    out = tf.keras.layers.Dense(10, name="dense1")(tf.keras.layers.Flatten()(h))
    other = tf.keras.Model(inp, out)
    with pytest.raises(CheckpointError, match=r"ckpt_path: .*last\.npz was saved from a "
                                              r"different model: checkpoint layer 'conv0' "
                                              r"\(Conv2D, weights \[\[3, 3, 3, 32\]\]\) vs "
                                              r"model layer 'conv0' \(Conv2D, weights "
                                              r"\[\[3, 3, 3, 16\]\]\)"):
        Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False,
                default_root_dir=tmp_path).fit(other, train, ckpt_path="last")


def test_truncated_or_missing_checkpoint(tmp_path, data):
    train, _ = data
    bad = tmp_path / "half.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    trainer = Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False)
    with pytest.raises(CheckpointError, match="not a readable snnkit checkpoint"):
        trainer.fit(seed_convnet(0), train, ckpt_path=bad)
    with pytest.raises(CheckpointError, match="ckpt_path: no checkpoint file at"):
        trainer.fit(seed_convnet(0), train, ckpt_path=tmp_path / "nope.npz")


def test_monitor_that_does_not_exist_lists_the_metrics(tmp_path, data):
    train, _ = data
    for callback, owner in ((ModelCheckpoint(tmp_path, monitor="val_acc"), "ModelCheckpoint"),
                            (EarlyStopping("val_acc"), "EarlyStopping")):
        trainer = Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
                          rate_reg_hz=100, callbacks=[callback])
        with pytest.raises(UnknownNameError) as info:
            trainer.fit(seed_convnet(0), train)
        assert str(info.value) == (
            f"{owner}.monitor: metric 'val_acc' is not logged by this fit; logged "
            "metrics are: loss, accuracy, rate_loss/to-spikes, rate_loss/conv0, "
            "rate_loss/conv1, rate_loss/dense0")


def test_early_stopping_stops(data):
    train, _ = data
    # loss falls every epoch: with mode "max" nothing is an improvement after epoch 0;
    # patience=1 stops after one epoch without improvement, as Keras' EarlyStopping
    # (snnkit's first EarlyStopping waited two)
    stopper = EarlyStopping("loss", patience=1, mode="max")
    history = Trainer(max_epochs=6, minibatch_size=100, enable_progress_bar=False,
                      callbacks=[stopper]).fit(seed_convnet(0), train)
    assert len(history) == 2 and stopper.stopped_epoch == 1


def test_csv_and_tensorboard_loggers(tmp_path, data):
    train, val = data
    history = Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False,
                      default_root_dir=tmp_path, rate_reg_hz={"dense0": 50},
                      logger=[CSVLogger(), TensorBoardLogger()]).fit(
        seed_convnet(0), train, val)
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[1]["rate_loss/dense0"]) == pytest.approx(
        history[1]["rate_loss/dense0"])
    assert float(rows[0]["val_accuracy"]) == pytest.approx(history[0]["val_accuracy"])
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    scalars = {}
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in event.summary.value:
            scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert scalars[("rate_loss/dense0", 1)] == pytest.approx(history[1]["rate_loss/dense0"])
    assert scalars[("val_loss", 0)] == pytest.approx(history[0]["val_loss"])


class _Recorder(Callback):
    def __init__(self, name):
        self.name, self.events, self.restored = name, [], None

    def _state_key_fields(self):
        return {"name": self.name}

    def state_dict(self):
        return {"name": self.name}

    def load_state_dict(self, state):
        self.restored = state["name"]

    def on_exception(self, trainer, exception):
        self.events.append(("exception", type(exception).__name__))

    def teardown(self, trainer):
        self.events.append(("teardown",))


def test_callback_state_is_keyed_not_positional_and_teardown_always_runs(tmp_path, data):
    train, _ = data
    a, b = _Recorder("a"), _Recorder("b")
    trainer = Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False,
                      default_root_dir=tmp_path, seed=1,
                      callbacks=[a, b, ModelCheckpoint(), _Kill(0)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(seed_convnet(0), train)
    assert a.events == [("exception", "KeyboardInterrupt"), ("teardown",)]
    states = load_checkpoint(tmp_path / "checkpoints" / "last.npz").callback_states
    assert states["_Recorder{name='a'}"] == {"name": "a"}
    # resume with the callbacks in another order: each gets its own state back
    a2, b2 = _Recorder("a"), _Recorder("b")
    Trainer(max_epochs=2, minibatch_size=100, enable_progress_bar=False,
            default_root_dir=tmp_path, seed=1,
            callbacks=[ModelCheckpoint(), b2, a2]).fit(seed_convnet(0), train,
                                                      ckpt_path="last")
    assert (a2.restored, b2.restored) == ("a", "b")
    assert a2.events == [("teardown",)]


def test_two_callbacks_with_one_state_key_are_refused(data):
    train, _ = data
    trainer = Trainer(max_epochs=1, minibatch_size=100, enable_progress_bar=False,
                      callbacks=[EarlyStopping("loss"), EarlyStopping("loss")])
    with pytest.raises(ValidationError, match="callbacks: two callbacks have the state "
                                              "key \"EarlyStopping{monitor='loss'"):
        trainer.fit(seed_convnet(0), train)
