"""``snnkit train`` checkpoints and ``--resume``: a run 'killed' at each of its file
writes (every epoch's checkpoint, the final network), then resumed, gives the very
weights of a run that was never interrupted; leftovers of the kill are removed."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snnkit.utils.files
from snnkit import FrozenNetwork
from snnkit.cli import main

EPOCHS = 2
ARGS = ["--n-train", "300", "--epochs", str(EPOCHS), "--minibatch-size", "100",
        "--quiet"]


class _Killed(BaseException):
    """Stands in for SIGKILL: no ``except Exception`` catches it."""


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import tensorflow as tf

    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((28, 28, 1), name="input")
    x = tf.keras.layers.Flatten(name="flatten")(inp)
    x = tf.keras.layers.Dense(16, activation="relu", kernel_initializer=init(0),
                              name="a")(x)
    out = tf.keras.layers.Dense(10, kernel_initializer=init(1), name="out")(x)
    path = tmp_path_factory.mktemp("train") / "tiny.h5"
    tf.keras.Model(inp, out).save(path)
    return path


@contextlib.contextmanager
def killed_at_write(monkeypatch, k):
    """The ``k``-th atomic file write 'kills' the process: its temporary file (named
    for a process that is gone) stays, nothing more runs."""
    real = snnkit.utils.files.atomic_write
    count = [0]
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()

    @contextlib.contextmanager
    def write(path, mode="wb"):
        count[0] += 1
        if count[0] == k:
            path = Path(path)
            (path.parent / f".{path.name}.{process.pid}.k1ll3d.tmp").write_bytes(b"PK")
            raise _Killed()
        with real(path, mode) as f:
            yield f

    monkeypatch.setattr(snnkit.utils.files, "atomic_write", write)
    yield count
    monkeypatch.setattr(snnkit.utils.files, "atomic_write", real)


def train(keras_file, out, *extra):
    return main(["train", "--model", str(keras_file), "--out", str(out), *ARGS,
                 *map(str, extra)])


@pytest.mark.slow
def test_train_killed_at_every_write_resumes_to_identical_weights(keras_file, tmp_path,
                                                                  monkeypatch, capsys):
    reference_path = tmp_path / "reference.snn.npz"
    assert train(keras_file, reference_path) == 0
    reference = FrozenNetwork.load(reference_path)
    assert not (tmp_path / "reference.snn.npz.checkpoints").exists()
    # writes: the checkpoint after each epoch, then the network
    for k in range(1, EPOCHS + 2):
        out = tmp_path / f"kill{k}.snn.npz"
        checkpoints = tmp_path / f"kill{k}.snn.npz.checkpoints"
        with killed_at_write(monkeypatch, k), pytest.raises(_Killed):
            train(keras_file, out)
        assert not out.exists() and list(tmp_path.rglob("*.k1ll3d.tmp"))
        capsys.readouterr()
        if k > 1:  # a checkpoint exists: a plain rerun would throw it away
            assert train(keras_file, out) == 1
            assert "--resume: " in capsys.readouterr().err
        assert train(keras_file, out, "--resume") == 0, capsys.readouterr().err
        network = FrozenNetwork.load(out)
        assert network.weights.keys() == reference.weights.keys()
        for layer, values in reference.weights.items():
            for mine, theirs in zip(network.weights[layer], values):
                np.testing.assert_array_equal(mine, theirs, err_msg=f"k={k} {layer}")
        assert network.metadata["train_history"] == reference.metadata["train_history"]
        assert not list(tmp_path.rglob("*.tmp")), "leftovers of the kill were removed"
        assert not checkpoints.exists(), "a finished training keeps no checkpoint"


def test_train_checkpoint_dir_must_be_a_folder(keras_file, tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    code = train(keras_file, tmp_path / "net.snn.npz", "--checkpoint-dir", not_a_folder)
    assert code == 1
    assert f"--checkpoint-dir: expected a folder, got a file: '{not_a_folder}'" in \
        capsys.readouterr().err


def test_train_resume_with_other_arguments_is_refused(keras_file, tmp_path, monkeypatch,
                                                      capsys):
    """'--resume (same arguments)' is checked: other arguments would not give the
    weights of an uninterrupted run, so the command ends in one line naming them."""
    out = tmp_path / "net.snn.npz"
    with killed_at_write(monkeypatch, 2), pytest.raises(_Killed):
        train(keras_file, out)  # killed writing epoch 2's checkpoint: epoch 1's stays
    capsys.readouterr()
    assert train(keras_file, out, "--resume", "--learning-rate", "0.01") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err  # --quiet: no "resuming from" line, only the error
    err = err[0]
    assert err.startswith("snnkit train: error: ckpt_path: ")
    assert "learning_rate: 0.001 (checkpoint) vs 0.01 (this fit)" in err
    assert train(keras_file, out, "--resume", "--n-train", "200") == 1
    assert "train_data: \"300 images" in capsys.readouterr().err
    assert train(keras_file, out, "--resume") == 0  # the same arguments: continues
