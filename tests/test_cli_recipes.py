"""``snnkit train --recipe loihi|latency``: the recipes on the command line, on a user's
Keras file and ``--data`` (scikit-learn's 8x8 digits, a small slice). The network the
command writes is the one the Python recipe gives with the same seed and arguments:
bit for bit, in one process on CPU (the loihi recipe's Trainers turn TensorFlow's op
determinism on; the latency recipe's fits are seeded and single-process)."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
from cli_networks import run_cli as _run
from cli_networks import save_digits

import snnkit
from snnkit import FrozenNetwork

N_TRAIN, N_VAL = 300, 100  # --n-train 300 --val-split 0.34: the last 102 held out


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits as a --data file, and an untrained Keras model for 8x8 images."""
    return save_digits(tmp_path_factory.mktemp("recipes"))


def _split(digits, n_val):
    from snnkit.data.files import load_data_file

    x, y = load_data_file(digits / "digits.npz").pair("train", "--data")
    x, y = x[:N_TRAIN], y[:N_TRAIN]
    n = N_TRAIN - n_val
    return (x[:n], y[:n]), (x[n:], y[n:])


def _assert_same_network(cli: FrozenNetwork, python: FrozenNetwork) -> None:
    assert cli.layer_names == python.layer_names
    for name, weights in python.weights.items():
        for a, b in zip(weights, cli.weights[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert cli.scale_firing_rates == python.scale_firing_rates
    assert (cli.neuron.name, cli.synapse, cli.readout) == \
        (python.neuron.name, python.synapse, python.readout)


def test_recipe_loihi_on_the_command_line_is_the_python_recipe(digits, tmp_path, capsys):
    out, logs = tmp_path / "cli.snn.npz", tmp_path / "logs"
    code, stdout, err = _run(capsys, [
        "train", "--model", digits / "model.h5", "--data", digits / "digits.npz",
        "--recipe", "loihi", "--n-train", N_TRAIN, "--val-split", "0.34", "--epochs", 1,
        "--fine-tune-epochs", 1, "--minibatch-size", 50, "--n-steps", 10,
        "--readout", "mean,last", "--patience", 3, "--log-dir", logs, "--n-test", 100,
        "--backend", "loihi-emulator-fast", "--out", out, "--json"])
    assert code == 0, err
    report = json.loads(stdout)  # stdout is the JSON document alone
    # progress is on by default; calibration bars say which iteration they measure
    assert "epoch 1/1" in err and "calibrate 1/8" in err
    assert "calibrate: ReLU rates" in err
    assert "nengo-dl (reset)" not in err
    assert "FrozenNetwork saved to" in err  # text for people went to stderr

    from snnkit.training.recipes import train_for_loihi

    train, val = _split(digits, 102)
    model = snnkit.load_keras_model(digits / "model.h5")
    python = train_for_loihi(model, train, relu_epochs=1, loihi_epochs=1,
                             minibatch_size=50, n_steps=10, readout=("mean", "last"),
                             val_data=val, select_on=val, seed=0,
                             enable_progress_bar=False).network
    cli = FrozenNetwork.load(out)
    _assert_same_network(cli, python)
    assert cli.metadata["recipe"] == "train_for_loihi"
    assert cli.metadata["selection_accuracy"] == python.metadata["selection_accuracy"]

    assert report["recipe"] == "loihi" and report["network"] == str(out)
    assert (report["n_train"], report["n_val"]) == (N_TRAIN - 102, 102)
    assert report["selected"] == cli.metadata["selected"]
    assert report["readout"] == cli.readout and report["synapse_s"] == 0.005
    assert report["scales"] == cli.scale_firing_rates
    assert report["calibration"]["target_rate_hz"] == 250.0
    assert [len(report["history"][s]) for s in ("relu", "fine-tune")] == [1, 1]
    assert "val_loss" in report["history"]["relu"][0]
    assert report["test"]["backend"] == "loihi-emulator-fast"
    assert report["test"]["n_images"] == 100
    from snnkit.network.measured import measurements

    test = {m.name: m for m in measurements(cli)}["test_accuracy"]
    assert test.describes_network and report["test"]["accuracy"] == test.value
    for stage in ("relu", "fine-tune"):  # one CSV and TensorBoard file per stage
        with open(logs / stage / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 1 and {"loss", "accuracy", "val_loss"} <= set(rows[0])
        assert list((logs / stage).glob("events.out.tfevents.*"))


def test_recipe_latency_on_the_command_line_is_the_python_recipe(digits, tmp_path,
                                                                 capsys):
    out, logs = tmp_path / "cli.snn.npz", tmp_path / "logs"
    code, stdout, err = _run(capsys, [
        "train", "--model", digits / "model.h5", "--data", digits / "digits.npz",
        "--recipe", "latency", "--n-train", N_TRAIN, "--val-split", "0.2", "--epochs", 1,
        "--fine-tune-epochs", 1, "--log-dir", logs, "--out", out, "--quiet"])
    assert code == 0, err
    assert err == ""  # --quiet: no bars, no notes
    assert "FrozenNetwork saved to" in stdout

    from snnkit.training.recipes import train_for_latency

    train, val = _split(digits, 60)
    model = snnkit.load_keras_model(digits / "model.h5")
    python = train_for_latency(model, train, relu_epochs=1, time_epochs=1,
                               val_data=val, seed=0, progress=False).network
    cli = FrozenNetwork.load(out)
    _assert_same_network(cli, python)
    assert (cli.readout, cli.synapse) == ("mean", None)
    with open(logs / "time-steps" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # the per-step lists are logged as their last step, the scales one per layer
    assert len(rows) == 1 and {"loss", "accuracy", "val_accuracy", "scales/conv0"} <= \
        set(rows[0])
    assert (logs / "relu" / "metrics.csv").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--recipe", "latency", "--optimizer", "adam"],
     "--optimizer: not used with --recipe latency (the latency recipe fixes it"),
    (["--recipe", "latency", "--synapse", "0.005"],
     "--synapse: not used with --recipe latency"),
    (["--recipe", "latency", "--readout", "last"],
     "--readout: the latency recipe reads the output as its running mean"),
    (["--recipe", "loihi", "--resume"], "--resume: not used with --recipe loihi"),
    (["--recipe", "loihi", "--scale", "100"], "--scale: not used with --recipe loihi"),
    (["--fine-tune-epochs", "3"], "--fine-tune-epochs: not used with --recipe none"),
    (["--target-rate", "300"], "--target-rate: not used with --recipe none"),
    (["--epochs", "0"], "--epochs: expected an int >= 1 without --recipe"),
    (["--readout", "mean,last"], "--readout: several readouts (mean,last) are "
                                 "candidates to choose from: they need --recipe loihi "
                                 "and --val-split"),
    (["--n-train", "300", "--val-split", "0.1"],
     "--val-split: holds out 30 images, fewer than one minibatch (--minibatch-size 200)"),
])
def test_options_a_recipe_does_not_use_are_refused_before_any_work(
        argv, message, tmp_path, capsys):
    code, _, err = _run(capsys, ["train", "--out", tmp_path / "n.snn.npz", *argv])
    assert code == 1 and message in err, err
    assert not list(tmp_path.iterdir())


def test_each_stage_gets_its_own_early_stopping_and_loggers(tmp_path):
    from snnkit.cli.train import stage_callbacks
    from snnkit.training.callbacks import CSVLogger, EarlyStopping, TensorBoardLogger

    args = argparse.Namespace(patience=2, log_dir=str(tmp_path))
    relu, fine = (stage_callbacks(args, val=("x", "y"))(s) for s in ("relu", "fine-tune"))
    assert [type(c) for c in relu] == [EarlyStopping, CSVLogger, TensorBoardLogger]
    assert relu[0] is not fine[0]  # each stage starts afresh
    assert (relu[0].monitor, relu[0].patience) == ("val_loss", 2)
    assert relu[1].path == tmp_path / "relu" / "metrics.csv"
    assert fine[2].log_dir == tmp_path / "fine-tune"
    no_val = stage_callbacks(argparse.Namespace(patience=0, log_dir=None), None)("fit")
    assert [(type(c), c.monitor) for c in no_val] == [(EarlyStopping, "loss")]


def test_held_out_images_short_of_a_minibatch_only_choose(capsys):
    """As bench_conversion.py uses them: select_on, not the fits' val_data (nengo-dl
    validates whole minibatches), and said so."""
    from snnkit.cli.train import fit_validation

    val = (np.zeros((189, 8, 8, 1)), np.zeros(189, int))
    args = argparse.Namespace(patience=3, quiet=False)
    assert fit_validation(args, {"minibatch_size": 200}, val) is None
    assert "the 189 held-out images are fewer than one minibatch (200): they choose " \
           "between the networks, but the fits report no val_loss (--patience watches " \
           "loss)" in capsys.readouterr().err
    assert fit_validation(args, {"minibatch_size": 50}, val) is val
    assert fit_validation(args, {"minibatch_size": 50}, None) is None


def test_recipe_arguments_name_the_recipes_own_parameters():
    """Every keyword the command passes is a parameter of the recipe it calls."""
    import inspect

    from snnkit.cli.train import recipe_arguments, resolve
    from snnkit.training.recipes import train_for_latency, train_for_loihi

    for recipe, function in (("loihi", train_for_loihi), ("latency", train_for_latency)):
        args = argparse.Namespace(
            recipe=recipe, epochs=None, fine_tune_epochs=None, optimizer=None,
            learning_rate=None, fine_tune_learning_rate=None, neuron_type=None,
            readout=None, target_rate=None, statistic=None, minibatch_size=None,
            rate_reg=None, scale=None, synapse="auto", max_pool="refuse", resume=False,
            checkpoint_dir=None, val_split=None, n_steps=30, seed=0, quiet=False,
            patience=1, log_dir=None)
        kwargs = recipe_arguments(args, resolve(args), None)
        assert set(kwargs) <= set(inspect.signature(function).parameters), recipe
        if recipe == "loihi":  # the recipe's own defaults when nothing is given
            assert (kwargs["relu_epochs"], kwargs["loihi_epochs"], kwargs["synapse"],
                    kwargs["target_rate_hz"]) == (6, 4, 0.005, 250.0)
        else:
            assert (kwargs["relu_epochs"], kwargs["time_epochs"]) == (40, 2)
