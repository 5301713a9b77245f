"""Hostile and corrupt training checkpoints (issue 14): every field is checked on
load, and resuming never continues from weights the checkpoint does not hold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hostile_payloads import rewrite_npz, tiny_keras

from snnkit.exceptions import CheckpointError
from snnkit.training.checkpoint import load_checkpoint, save_checkpoint
from snnkit.training.trainer import Trainer

META = "__snnkit_ckpt__"
HISTORY = [{"epoch": 0, "loss": 1.5, "accuracy": 0.4},
           {"epoch": 1, "loss": "nan", "accuracy": 0.5}]


@pytest.fixture(scope="module")
def model():
    return tiny_keras()


@pytest.fixture
def saved(model, tmp_path):
    optimizer = [np.array(12, np.int64)] + [np.zeros_like(w) for w in model.get_weights()]
    return save_checkpoint(tmp_path / "last.npz", model, epoch=2, history=HISTORY,
                           optimizer=optimizer,
                           callback_states={"ModelCheckpoint.0": {"best_score": 0.5,
                                                                  "best_epoch": 1}})


def _refused(path, match):
    with pytest.raises(CheckpointError, match=match) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)


def test_a_valid_checkpoint_loads(saved, model):
    ckpt = load_checkpoint(saved)
    assert ckpt.epoch == 2 and ckpt.history == HISTORY
    assert ckpt.callback_states == {"ModelCheckpoint.0": {"best_score": 0.5,
                                                          "best_epoch": 1}}
    for layer in model.layers:
        for a, b in zip(layer.get_weights(), ckpt.weights.get(layer.name, []),
                        strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("field", ["epoch", "history", "callbacks", "fingerprint",
                                   "weights", "n_optimizer"])
def test_a_missing_field_is_named(saved, field):
    rewrite_npz(saved, META, lambda m: m.pop(field))
    _refused(saved, rf"invalid checkpoint: header: missing field\(s\) {field}")


def _rename_layers(meta, rename_fingerprint):
    meta["weights"] = {f"x{k}": v for k, v in meta["weights"].items()}
    if rename_fingerprint:
        for entry in meta["fingerprint"]:
            entry[0] = f"x{entry[0]}"


def test_weights_naming_no_model_layer_are_refused(saved, model):
    """The issue's case: such a file loaded, and fit resumed from random weights."""
    rewrite_npz(saved, META, lambda m: _rename_layers(m, False))
    _refused(saved, r"weights: expected the layers with weights in the fingerprint "
                    r"\(conv, hidden, out\), got \{'xconv'")
    x = np.random.default_rng(0).uniform(0, 1, (100, 6, 6, 1)).astype(np.float32)
    y = np.arange(100) % 3
    trainer = Trainer(max_epochs=3, minibatch_size=50, enable_progress_bar=False)
    with pytest.raises(CheckpointError, match="invalid checkpoint"):
        trainer.fit(model, (x, y), ckpt_path=saved)


def test_a_checkpoint_of_other_layers_does_not_restore(saved, model):
    rewrite_npz(saved, META, lambda m: _rename_layers(m, True))
    ckpt = load_checkpoint(saved)  # consistent in itself
    before = model.get_weights()
    with pytest.raises(CheckpointError, match=r"was saved from a different model: "
                                              r"checkpoint layer 'xinput'"):
        ckpt.restore_weights(model)
    # a weights map missing a layer the fingerprint promises
    good = load_checkpoint(save_checkpoint(saved.parent / "good.npz", model, epoch=0,
                                           history=[]))
    partial = dataclasses.replace(good, weights={k: v for k, v in good.weights.items()
                                                 if k != "hidden"})
    with pytest.raises(CheckpointError, match=r"holds weights of shapes \[\] for layer "
                                              r"'hidden', the model has \[\[32, 4\], \[4\]\]"):
        partial.restore_weights(model)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _array(key, value):
    return lambda arrays: arrays.__setitem__(key, value)


CASES = {
    "NaN weights": (None, _array("w/hidden/1", np.array([0, np.nan, 0, 0], np.float32)),
                    r"weights\['hidden'\]\[1\]: expected finite weights"),
    "wrong weight shape": (None, _array("w/hidden/0", np.zeros((4, 32), np.float32)),
                           r"weights\['hidden'\]\[0\]: expected shape \(32, 4\), got "
                           r"\(4, 32\)"),
    "fingerprint shape": (lambda m: m["fingerprint"][3][2][0].__setitem__(0, 10 ** 9),
                          None, r"fingerprint\[3\]: expected \[unique layer name"),
    "epoch -1": (lambda m: m.update(epoch=-1), None,
                 r"epoch: expected an int in 0..1000000, got -1"),
    "epoch 1e9": (lambda m: m.update(epoch=10 ** 9), None, r"epoch: expected an int"),
    "epoch true": (lambda m: m.update(epoch=True), None, r"epoch: expected an int"),
    "epoch float": (lambda m: m.update(epoch=2.5), None, r"epoch: expected an int"),
    "history too short": (lambda m: m["history"].pop(), None,
                          r"history: expected a list of 2 epoch logs"),
    "history value": (lambda m: m["history"][1].update(loss=[1, 2]), None,
                      r"history\[1\]: expected \{'epoch': 1, metric: number"),
    "history order": (lambda m: m["history"].reverse(), None, r"history\[0\]"),
    "callbacks list": (lambda m: m.update(callbacks=[1]), None,
                       r"callbacks: expected a dict of callback -> state dict"),
    "callback state": (lambda m: m.update(callbacks={"ModelCheckpoint.0": {
        "best_score": [0.5]}}), None, r"callbacks: expected a dict of callback -> state "
                                      r"dict of numbers, strings or nulls"),
    "optimizer count": (lambda m: m.update(n_optimizer=10 ** 9), None,
                        r"n_optimizer: expected an int in 0..21"),
    "optimizer NaN": (None, _array("opt/1", np.full((3, 3, 1, 2), np.nan, np.float32)),
                      r"optimizer\[1\]: expected finite values"),
    "optimizer huge": (None, _array("opt/1", np.zeros(10 ** 6, np.float32)),
                       r"optimizer\[1\]: archive member 'opt/1' has shape \(1000000,\)"),
    "optimizer member": (None, lambda a: a.pop("opt/2"),
                         r"optimizer\[2\]: archive member 'opt/2' is missing"),
    "unknown field": (lambda m: m.update(extra=1), None,
                      r"header: unknown field\(s\) 'extra'"),
    "format version": (lambda m: m.update(format_version=0), None,
                       r"format_version: expected an int >= 1, got 0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_field_is_checked(saved, case):
    change_header, change_arrays, match = CASES[case]
    rewrite_npz(saved, META, change_header, change_arrays)
    _refused(saved, match)
