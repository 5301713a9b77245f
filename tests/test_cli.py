"""The ``snnkit`` command line: help, one-line errors with exit codes, convert/inspect,
and ``bench`` writing its files and resuming finished cases."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from cli_networks import run_cli as _run
from cli_networks import tiny_keras as _tiny_keras

from snnkit import FrozenNetwork
from snnkit.cli import main
from snnkit.convert.freeze import from_keras

SUBCOMMANDS = ("demo", "train", "convert", "calibrate", "inspect", "tune", "bench",
               "export")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny untrained network (Loihi neurons, scaled so every layer spikes) as a
    FrozenNetwork file and as a Keras .h5 file, plus a Keras file with a Lambda."""
    root = tmp_path_factory.mktemp("cli")
    model = _tiny_keras()
    model.save(root / "tiny.h5")
    _tiny_keras(lambda_layer=True).save(root / "lambda.h5")
    network = from_keras(
        model, neuron_type="loihi-relu", synapse=0.005,
        scale_firing_rates={"to-spikes": 1, "conv0": 100, "dense0": 100})
    network.save(root / "tiny.snn.npz")
    (root / "garbage.snn.npz").write_bytes(b"not an npz file at all")
    return root




def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: snnkit {command}" in capsys.readouterr().out


def test_unknown_subcommand_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["benchmark"])
    assert exit_.value.code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "invalid choice: 'benchmark'" in line
    for command in SUBCOMMANDS:
        assert f"'{command}'" in line


def test_bad_argument_value_names_the_argument(capsys, files):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", str(files / "tiny.snn.npz"), "--n-test", "many"])
    assert exit_.value.code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "argument --n-test: expected an int >= 1, got 'many'" in line


def test_unknown_backend_lists_the_registered_ones(capsys, files):
    code, _, err = _run(capsys, ["bench", files / "tiny.snn.npz",
                                 "--backends", "nengo-dl,loihi-emulatr"])
    assert code == 1
    line = _one_line_error(err)
    assert "unknown backend 'loihi-emulatr'" in line
    assert "nengo-dl" in line and "loihi-emulator" in line


def test_unavailable_backend_is_refused_before_running(capsys, files):
    code, _, err = _run(capsys, ["bench", files / "tiny.snn.npz", "--backends", "loihi"])
    assert code == 1
    assert "'loihi' is unavailable here" in _one_line_error(err)


def test_network_a_backend_cannot_run_is_refused_before_running(capsys, files):
    relu = FrozenNetwork.load(files / "tiny.snn.npz").replace(neuron="relu")
    relu.save(files / "relu.snn.npz")
    code, _, err = _run(capsys, ["bench", files / "relu.snn.npz", "--out-dir",
                                 files / "bench-relu"])
    assert code == 1
    line = _one_line_error(err)
    assert "'relu', which Loihi cannot run" in line
    assert not (files / "bench-relu" / "cases").exists()


def test_missing_and_corrupt_files(capsys, files):
    code, _, err = _run(capsys, ["inspect", files / "missing.snn.npz"])
    assert code == 1
    assert "network: no such file" in _one_line_error(err)
    code, _, err = _run(capsys, ["bench", files / "garbage.snn.npz"])
    assert code == 1
    assert "not a readable snnkit FrozenNetwork file" in _one_line_error(err)
    code, _, err = _run(capsys, ["convert", files / "tiny.snn.npz", "--out",
                                 files / "x.snn.npz"])
    assert code == 1
    assert "model: expected a .h5 or .keras file" in _one_line_error(err)


def test_tune_config_errors_are_one_line(capsys, files):
    code, _, err = _run(capsys, ["tune", files / "missing.json"])
    assert code == 1
    assert "config: no such file" in _one_line_error(err)
    bad = files / "bad-search.json"
    bad.write_text(json.dumps({"search": "everything"}))
    code, _, err = _run(capsys, ["tune", bad])
    assert code == 1
    assert "expected one of scale, rate, got 'everything'" in _one_line_error(err)


def test_output_folder_that_cannot_be_written(capsys, files):
    # a path under a regular file can never be created, even as root
    code, _, err = _run(capsys, ["bench", files / "tiny.snn.npz", "--out-dir",
                                 files / "tiny.h5" / "bench"])
    assert code == 1
    assert "--out-dir: expected a folder that can be written" in _one_line_error(err)


def test_n_test_larger_than_the_data(capsys, files):
    code, _, err = _run(capsys, ["bench", files / "tiny.snn.npz", "--n-test", "20000"])
    assert code == 1
    assert "--n-test: expected at most 10000" in _one_line_error(err)
    assert "got 20000" in err


def test_debug_shows_the_traceback(files):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "inspect", str(files / "missing.snn.npz")])
    with pytest.raises(Exception, match="no such file"):
        main(["inspect", str(files / "missing.snn.npz"), "--debug"])


def test_module_entry_point_exits_non_zero_with_one_line(files):
    proc = subprocess.run([sys.executable, "-m", "snnkit", "inspect",
                           str(files / "missing.snn.npz")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    line = _one_line_error(proc.stderr)
    assert line.startswith("snnkit inspect: error: network: no such file")


def test_convert_refuses_a_lambda_layer_without_loading_it(capsys, files):
    code, _, err = _run(capsys, ["convert", files / "lambda.h5", "--out",
                                 files / "lambda.snn.npz"])
    assert code == 1
    line = _one_line_error(err)
    assert "layer 'double'" in line and "is a Lambda" in line
    assert not (files / "lambda.snn.npz").exists()


def test_convert_then_inspect(capsys, files):
    out = files / "converted.snn.npz"
    code, stdout, _ = _run(capsys, ["convert", files / "tiny.h5", "--out", out,
                                    "--neuron-type", "loihi-relu", "--scale", "conv0=20",
                                    "--synapse", "0.005"])
    assert code == 0 and out.is_file()
    network = FrozenNetwork.load(out)
    assert network.neuron.name == "loihi-relu" and network.synapse == 0.005
    assert network.scale_firing_rates == {"conv0": 20.0}
    assert network.off_chip == ("to-spikes", "dense1")

    code, stdout, _ = _run(capsys, ["inspect", out])
    assert code == 0
    assert "loihi-relu" in stdout and "on-chip" in stdout and "off-chip" in stdout
    assert "Loihi core plan" in stdout and "synapse bits" in stdout
    code, stdout, _ = _run(capsys, ["inspect", out, "--json"])
    report = json.loads(stdout)
    assert report["core_plan"]["n_cores"] >= 2  # conv0 and dense0, one core at least each
    assert [layer["name"] for layer in report["core_plan"]["layers"]] == ["conv0", "dense0"]


def test_bench_writes_json_csv_png_and_resumes(capsys, files, monkeypatch):
    import snnkit.bench.run

    out = files / "bench"
    argv = ["bench", files / "tiny.snn.npz", "--backends", "nengo-dl,loihi-emulator",
            "--n-test", "12", "--max-images-slow", "3", "--n-steps", "10",
            "--n-hist", "6", "--n-plot", "2", "--out-dir", out, "--quiet"]

    # an interrupted first run: the second backend fails after the first finished
    real_run_case = snnkit.bench.run.run_case

    def fail_on_emulator(network, backend, *args, **kwargs):
        if backend == "loihi-emulator":
            raise KeyboardInterrupt
        return real_run_case(network, backend, *args, **kwargs)

    monkeypatch.setattr(snnkit.bench.run, "run_case", fail_on_emulator)
    code, _, err = _run(capsys, argv)
    assert code == 130 and "interrupted" in err
    assert (out / "cases" / "nengo-dl.json").is_file()
    assert not (out / "cases" / "loihi-emulator.json").exists()
    assert not list((out / "cases").glob(".*.tmp"))  # no half-written leftovers
    first_case = (out / "cases" / "nengo-dl.json").read_bytes()

    # re-run: the finished case is reused, the missing one runs
    calls = []

    def counting(network, backend, *args, **kwargs):
        calls.append(backend)
        return real_run_case(network, backend, *args, **kwargs)

    monkeypatch.setattr(snnkit.bench.run, "run_case", counting)
    code, stdout, _ = _run(capsys, argv)
    assert code == 0
    assert calls == ["loihi-emulator"]
    assert (out / "cases" / "nengo-dl.json").read_bytes() == first_case
    assert "(resumed)" in stdout and "ESTIMATE" in stdout
    assert "first spike step, mean / p95:" in stdout

    report = json.loads((out / "bench.json").read_text())
    cases = {c["backend"]: c for c in report["cases"]}
    assert cases["nengo-dl"]["n_images"] == 12 and cases["loihi-emulator"]["n_images"] == 3
    for case in cases.values():
        assert len(case["accuracy_by_step"]) == 10
        assert 0 <= case["accuracy"] <= 1
        assert case["images_per_s"] > 0 and case["wall_time_s"] > 0
        # speed is the run's alone; the build is timed apart
        assert case["images_per_s"] == pytest.approx(case["n_images"]
                                                     / case["run_time_s"])
        assert case["wall_time_s"] == pytest.approx(case["build_time_s"]
                                                    + case["run_time_s"])
        assert case["n_outputs"] == 10
        energy = case["energy_estimate"]
        assert energy["is_estimate"] is True
        # on-chip neurons: conv0 9x9x4 + dense0 16, each updated at all 10 steps
        assert energy["neuron_updates_per_inference"] == (9 * 9 * 4 + 16) * 10
        assert energy["total_energy_uj"] == pytest.approx(
            (energy["synaptic_ops_per_inference"] * 27.1
             + energy["neuron_updates_per_inference"] * 81.0) * 1e-6)
        assert set(case["layer_rates_hz"]) == {"to-spikes", "conv0", "dense0"}
        # every layer spikes within 10 steps at these scales: the counts mean something
        assert min(case["layer_rates_hz"].values()) > 0
        assert energy["synaptic_ops_per_inference"] > 0
        # latency: every layer's first spike, then the output's onset after the last
        first = case["first_spike_steps"]
        assert set(first) == {"to-spikes", "conv0", "dense0", "output"}
        assert 1 <= first["to-spikes"]["mean"] <= first["conv0"]["mean"] \
            <= first["dense0"]["mean"] <= 10
        received = case["output_received_by_step"]
        assert len(received) == 10 and received[0] == 0 and received == sorted(received)
        if received[-1] > 0:  # the 3 emulator images may all get their output later
            assert first["dense0"]["mean"] < first["output"]["mean"] <= 10
        assert case["time_to_decision_steps_p95"] >= case["time_to_decision_steps_median"]
    assert cases["nengo-dl"]["output_received_by_step"][-1] > 0
    # the emulator replays the nengo-dl network with Loihi's integer arithmetic
    assert cases["loihi-emulator"]["agreement_with"] == "nengo-dl"
    env = report["environment"]
    assert env["versions"]["nengo-dl"] == "3.6.0" and env["cpu"] and env["date"]
    # which BLAS, kernel and threads produced these images/s
    assert env["blas"] and all(b["library"] and b["threads"] >= 1 for b in env["blas"])
    assert "BLAS: " in stdout and env["blas"][0]["library"] in stdout

    with open(out / "bench.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["backend"] for r in rows] == ["nengo-dl", "loihi-emulator"]
    assert rows[0]["version_tensorflow"] and rows[0]["cpu"]
    assert rows[0]["blas"].startswith(env["blas"][0]["library"])
    assert float(rows[0]["build_time_s"]) > 0 and float(rows[0]["run_time_s"]) > 0
    with open(out / "accuracy_by_step.csv") as f:
        assert len(list(csv.DictReader(f))) == 20
    for name in ("accuracy_vs_steps", "rate_histograms", "outputs_over_time"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same picture for every network: only with --profile-plot
    assert not (out / "activation_profile.png").exists()
    with np.load(out / "neuron_rates.npz", allow_pickle=False) as f:
        assert f["rates/conv0"].shape == (6, 9 * 9 * 4)

    # other settings: the stored case does not match and is run again
    calls.clear()
    code, _, _ = _run(capsys, argv[:-3] + ["--no-plots", "--n-steps", "8", "--quiet"]
                      + ["--out", out])
    assert code == 0
    assert calls == ["nengo-dl", "loihi-emulator"]
    report = json.loads((out / "bench.json").read_text())
    assert all(len(c["accuracy_by_step"]) == 8 for c in report["cases"])

    # a stored case whose figures no run could produce is not trusted: run again
    stored = out / "cases" / "nengo-dl.json"
    case = json.loads(stored.read_text())
    case["accuracy"] = 7.0
    stored.write_text(json.dumps(case))
    calls.clear()
    code, _, _ = _run(capsys, argv[:-3] + ["--no-plots", "--n-steps", "8", "--quiet"]
                      + ["--out", out])
    assert code == 0 and calls == ["nengo-dl"]
    assert 0 <= json.loads(stored.read_text())["accuracy"] <= 1


def test_readout_is_chosen_kept_and_single_spike_readouts_are_pointed_out(capsys, files):
    """Spiking neurons, no synapse and the 'last' readout read one step's spikes (an
    accuracy that differs between backends): the commands that save a network say so
    on stderr; --readout sets the readout, and calibrate keeps it by default."""
    note = "note: spiking neurons with no synapse and the 'last' readout"
    last = files / "last.snn.npz"
    code, _, err = _run(capsys, ["convert", files / "tiny.h5", "--out", last,
                                 "--neuron-type", "loihi-relu"])
    assert code == 0 and note in err
    assert FrozenNetwork.load(last).readout == "last"
    mean = files / "mean.snn.npz"
    code, _, err = _run(capsys, ["convert", files / "tiny.h5", "--out", mean,
                                 "--neuron-type", "loihi-relu", "--readout", "mean"])
    assert code == 0 and note not in err
    assert FrozenNetwork.load(mean).readout == "mean"
    code, _, err = _run(capsys, ["convert", files / "tiny.h5", "--out", files / "r.snn.npz"])
    assert code == 0 and note not in err  # rate neurons: each step is the rate

    kept = files / "kept.snn.npz"
    common = ["--n-train", "10", "--n-steps", "10", "--max-iterations", "1", "--quiet"]
    code, _, err = _run(capsys, ["calibrate", mean, "--out", kept, *common])
    assert code == 0 and note not in err
    assert FrozenNetwork.load(kept).readout == "mean"
    code, _, err = _run(capsys, ["calibrate", mean, "--out", kept, "--readout", "last",
                                 *common])
    assert code == 0 and note in err
    assert FrozenNetwork.load(kept).readout == "last"

    code, _, err = _run(capsys, ["convert", "--from-nir", files / "none.nir", "--out",
                                 files / "n.snn.npz", "--synapse", "0.005"])
    assert code == 1 and "--synapse: not used with --from-nir" in _one_line_error(err)


def test_train_then_calibrate_a_keras_file(capsys, files):
    trained = files / "trained.snn.npz"
    code, stdout, err = _run(capsys, ["train", "--model", files / "tiny.h5", "--n-train",
                                    "200", "--epochs", "1", "--minibatch-size", "100",
                                    "--rate-reg", "100:300", "--out", trained,
                                    "--quiet"])
    assert code == 0, err
    network = FrozenNetwork.load(trained)
    assert network.neuron.name == "relu"
    assert network.metadata["rate_reg_hz"] == [100.0, 300.0]
    assert network.metadata["n_train"] == 200
    assert "data" not in network.metadata  # a user's file: its history is unknown

    calibrated = files / "calibrated.snn.npz"
    code, stdout, err = _run(capsys, ["calibrate", trained, "--out", calibrated,
                                      "--n-train", "10", "--n-steps", "10",
                                      "--max-iterations", "1", "--synapse", "0.005",
                                      "--quiet"])
    assert code == 0, err
    assert "conv0" in stdout and "scale" in stdout
    network = FrozenNetwork.load(calibrated)
    assert network.neuron.name == "loihi-relu" and network.synapse == 0.005
    assert set(network.scale_firing_rates) == {"to-spikes", "conv0", "dense0"}
    assert network.metadata["calibration"]["target_rate_hz"] == 200.0


def test_seed_training_and_calibration_record_the_images_they_used(capsys, tmp_path):
    """A search holds these images out of validation (snnkit.tuning.data_split)."""
    trained, calibrated = tmp_path / "seed.snn.npz", tmp_path / "cal.snn.npz"
    code, _, err = _run(capsys, ["train", "--n-train", "200", "--epochs", "1",
                                 "--minibatch-size", "100", "--out", trained, "--quiet"])
    assert code == 0, err
    assert FrozenNetwork.load(trained).metadata["data"] == {
        "dataset": "mnist", "train_images": [0, 200]}
    code, _, err = _run(capsys, ["calibrate", trained, "--out", calibrated, "--n-train",
                                 "300", "--n-steps", "5", "--max-iterations", "1",
                                 "--quiet"])
    assert code == 0, err
    assert FrozenNetwork.load(calibrated).metadata["data"] == {
        "dataset": "mnist", "train_images": [0, 200], "calibration_images": [0, 300]}


def test_calibration_record_keeps_the_widest_range_and_no_record_stays_none():
    from snnkit.cli.calibrate import calibration_record

    assert calibration_record({}, 50) == {}
    seen = {"data": {"dataset": "mnist", "train_images": [0, 10],
                     "calibration_images": [0, 500]}}
    assert calibration_record(seen, 50)["data"]["calibration_images"] == [0, 500]
    assert calibration_record(seen, 900)["data"]["calibration_images"] == [0, 900]


def test_train_refuses_a_lambda_model_before_training(capsys, files):
    code, _, err = _run(capsys, ["train", "--model", files / "lambda.h5", "--out",
                                 files / "never.snn.npz"])
    assert code == 1
    assert "--model: layer 'double'" in _one_line_error(err)


def test_convert_and_train_take_max_pooling_only_when_asked(capsys, tmp_path):
    """A Keras tutorial-style convnet with max pooling and L2 weight decay: refused
    naming --max-pool, converted and trained with it (the fit says that weight decay
    is not applied), and the frozen network says what was replaced."""
    import tensorflow as tf

    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((28, 28, 1), name="input")
    x = layers.Conv2D(4, 3, activation="relu", name="conv0",
                      kernel_regularizer=tf.keras.regularizers.l2(1e-4))(inp)
    x = layers.MaxPooling2D(2, name="pool0")(x)
    x = layers.Conv2D(6, 3, activation="relu", name="conv1")(x)
    x = layers.Flatten(name="flatten")(layers.MaxPooling2D(2, name="pool1")(x))
    model = tf.keras.Model(inp, layers.Dense(10, activation="softmax", name="out")(
        layers.Dropout(0.5, name="drop")(x)))
    model.save(tmp_path / "tutorial.h5")

    code, _, err = _run(capsys, ["convert", tmp_path / "tutorial.h5", "--out",
                                 tmp_path / "n.snn.npz"])
    assert code == 1 and not (tmp_path / "n.snn.npz").exists()
    assert "'pool0' is a MaxPooling2D; use AveragePooling2D" in _one_line_error(err)
    assert "--max-pool average" in _one_line_error(err)

    code, _, err = _run(capsys, ["convert", tmp_path / "tutorial.h5", "--out",
                                 tmp_path / "n.snn.npz", "--max-pool", "average"])
    assert code == 0, err
    folded = FrozenNetwork.load(tmp_path / "n.snn.npz").metadata["folded"]
    assert any(c.startswith("pool0: max pooling replaced by average") for c in folded)
    assert any(c.startswith("conv0: kernel_regularizer dropped") for c in folded)

    with pytest.warns(UserWarning, match="training-only options are not applied .*"
                                         "conv0: kernel_regularizer"):
        code, _, err = _run(capsys, ["train", "--model", tmp_path / "tutorial.h5",
                                     "--n-train", "200", "--epochs", "1",
                                     "--minibatch-size", "100", "--max-pool", "average",
                                     "--out", tmp_path / "t.snn.npz", "--quiet"])
    assert code == 0, err
    trained = FrozenNetwork.load(tmp_path / "t.snn.npz")
    assert "pool0: AveragePooling2D folded into 'conv1'" in trained.metadata["folded"]
