"""``--data``: the command line on your own images (here scikit-learn's 8x8 digits, a
second dataset beside MNIST): train, calibrate and bench read an .npz file of arrays,
checked before use; a bad file is a one-line error naming --data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_networks import run_cli as _run
from cli_networks import save_digits

import snnkit
from snnkit import FrozenNetwork
from snnkit.convert.freeze import from_keras


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits as a --data file, and an untrained Keras model for 8x8 images."""
    return save_digits(tmp_path_factory.mktemp("digits"))


def test_train_calibrate_and_bench_on_your_own_data(digits, tmp_path, capsys):
    data = digits / "digits.npz"
    trained = tmp_path / "trained.snn.npz"
    code, out, err = _run(capsys, ["train", "--model", digits / "model.h5", "--data", data,
                                   "--epochs", "8", "--minibatch-size", "50",
                                   "--learning-rate", "0.003", "--n-test", "539",
                                   "--out", trained, "--quiet"])
    assert code == 0, err
    network = FrozenNetwork.load(trained)
    assert network.metadata["n_train"] == 1258  # every training image, by default
    from snnkit.network.measured import measurements

    test = {m.name: m for m in measurements(network)}["test_accuracy"]
    assert test.conditions["n_images"] == 539 and test.describes_network
    assert test.value > 0.8, test.value
    assert "data" not in network.metadata  # no MNIST record: these were not MNIST

    calibrated = tmp_path / "calibrated.snn.npz"
    code, out, err = _run(capsys, ["calibrate", trained, "--data", data, "--out",
                                   calibrated, "--readout", "mean", "--quiet"])
    assert code == 0, err
    network = FrozenNetwork.load(calibrated)
    assert network.metadata["calibration"]["n_images"] == 200  # the default
    assert "data" not in network.metadata
    # the ReLU test accuracy stays in the metadata, marked as another network's
    test = {m.name: m for m in measurements(network)}["test_accuracy"]
    assert not test.describes_network
    assert test.changed[:2] == ("neuron type relu -> loihi-relu", "scales changed")
    code, out, err = _run(capsys, ["inspect", calibrated])
    assert code == 0, err
    assert "test_accuracy: " in out and "NOT this network's: measured before neuron " \
        "type relu -> loihi-relu; scales changed" in out

    bench = ["bench", calibrated, "--data", data, "--backends",
             "nengo-dl,loihi-emulator-fast", "--n-steps", "30", "--no-plots", "--quiet",
             "--out-dir", tmp_path / "bench"]
    code, out, err = _run(capsys, bench)
    assert code == 0, err
    report = json.loads((tmp_path / "bench" / "bench.json").read_text())
    cases = {c["backend"]: c for c in report["cases"]}
    assert cases["loihi-emulator-fast"]["n_images"] == 539  # all of them: fewer than 1000
    assert cases["loihi-emulator-fast"]["accuracy"] > 0.7, cases["loihi-emulator-fast"]
    assert "digits.npz" in report["data"] and "sha256" in report["data"]

    # the cache knows the file by its contents: the same file resumes, another does not
    code, out, _ = _run(capsys, bench)
    assert code == 0 and out.count("(resumed)") == 2
    arrays = dict(np.load(data))
    arrays["x_test"] = arrays["x_test"][::-1].copy()
    arrays["y_test"] = arrays["y_test"][::-1].copy()
    np.savez(tmp_path / "digits.npz", **arrays)
    bench[bench.index(data)] = tmp_path / "digits.npz"
    code, out, _ = _run(capsys, bench)
    assert code == 0 and "(resumed)" not in out


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


X = np.zeros((4, 8, 8, 1), np.float32)
Y = np.arange(4)


@pytest.mark.parametrize("arrays, message", [
    ({"x_test": X, "y_test": Y, "labels": Y}, r"unknown arrays 'labels'; expected x_train"),
    ({"x_test": X}, r"has x_test but no y_test"),
    ({"x_test": X, "y_test": Y.astype(np.float32)},
     r"y_test: archive member 'y_test' has dtype float32, expected integers"),
    ({"x_test": X, "y_test": Y[:3]}, r"y_test: expected one label per image \(4\), got "
                                      r"shape \(3,\)"),
    ({"x_test": X, "y_test": Y - 1}, r"y_test: expected class labels >= 0, got -1"),
    ({"x_test": X[:, 0, 0, 0], "y_test": Y}, r"x_test: expected images of shape \(N, "
                                             r"\.\.\.\) with N >= 1, got shape \(4,\)"),
    ({"x_train": X, "y_train": Y}, r"has no x_test/y_test \(the test images this command "
                                   r"needs\); it holds: x_train, y_train"),
    ({}, r"holds no arrays"),
])
def test_a_bad_data_file_is_one_line_naming_data(digits, tmp_path, capsys, arrays,
                                                 message):
    path = _save(tmp_path / "bad.npz", **arrays)
    network = _trained_network(digits, tmp_path)
    code, _, err = _run(capsys, ["bench", network, "--data", path, "--out-dir",
                                 tmp_path / "bench", "--quiet"])
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"snnkit bench: error: --data: {path}")
    assert re.search(message, err), err


def _trained_network(digits, tmp_path):
    import tensorflow as tf

    path = tmp_path / "net.snn.npz"
    from_keras(tf.keras.models.load_model(digits / "model.h5")).save(path)
    return path


def test_pickled_and_non_archive_data_files_are_refused_unread(digits, tmp_path, capsys):
    network = _trained_network(digits, tmp_path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x_test=np.array([{"a": 1}] * 4, dtype=object), y_test=Y)
    text = tmp_path / "text.npz"
    text.write_text("x,y\n1,2\n")
    for path, message in ((pickled, "has dtype object, expected numbers"),
                          (text, "is not a readable .npz file")):
        code, _, err = _run(capsys, ["bench", network, "--data", path, "--out-dir",
                                     tmp_path / "bench", "--quiet"])
        assert code == 1 and message in err, err


def test_counts_are_checked_against_the_file(digits, tmp_path, capsys):
    network = _trained_network(digits, tmp_path)
    code, _, err = _run(capsys, ["bench", network, "--data", digits / "digits.npz",
                                 "--n-test", "600", "--out-dir", tmp_path / "bench"])
    assert code == 1
    assert "--n-test: expected at most 539 (the test images of --data), got 600" in err
    code, _, err = _run(capsys, ["calibrate", network, "--data", digits / "digits.npz",
                                 "--n-train", "2000", "--out", tmp_path / "c.snn.npz"])
    assert code == 1
    assert "--n-train: expected at most 1258 (the train images of --data), got 2000" in err


def test_images_and_labels_must_fit_the_network_before_any_run(digits, tmp_path, capsys):
    network = _trained_network(digits, tmp_path)  # 8x8 images, 10 outputs
    mnist_shaped = _save(tmp_path / "28.npz", x_test=np.zeros((4, 28, 28, 1)), y_test=Y)
    code, _, err = _run(capsys, ["bench", network, "--data", mnist_shaped, "--out-dir",
                                 tmp_path / "bench", "--quiet"])
    assert code == 1 and "--data test images: expected shape (N, 8, 8, 1) or (N, 64), " \
        "got (4, 28, 28, 1)" in err, err
    eleven = _save(tmp_path / "11.npz", x_test=X, y_test=Y + 8)
    code, _, err = _run(capsys, ["bench", network, "--data", eleven, "--out-dir",
                                 tmp_path / "bench", "--quiet"])
    assert code == 1 and "--data test labels: labels must be in 0..9 (the model has 10 " \
        "outputs), got 8..11" in err, err
    assert not (tmp_path / "bench" / "bench.json").exists()
    train_28 = _save(tmp_path / "28train.npz", x_train=np.zeros((4, 28, 28, 1)), y_train=Y)
    code, _, err = _run(capsys, ["calibrate", network, "--data", train_28, "--out",
                                 tmp_path / "c.snn.npz"])
    assert code == 1 and "--data train images: expected shape (N, 8, 8, 1)" in err, err


def test_a_scale_search_on_your_own_data(digits, tmp_path, capsys):
    """``snnkit tune`` with ``data.file``: validation on the file's last test images
    (its network records no MNIST images), the file's own checks as config errors."""
    import tensorflow as tf

    from snnkit.tuning.config import build_search

    model = tf.keras.models.load_model(digits / "model.h5")
    (x_train, y_train), (x_test, y_test) = snnkit.load_digits(seed=0)
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=10, verbose=0)
    network = from_keras(model, neuron_type="loihi-relu", readout="mean",
                                       scale_firing_rates={"conv0": 100, "dense0": 100})
    network_path = network.save(tmp_path / "digits.snn.npz")
    config = {"search": "scale", "network": str(network_path),
              "data": {"file": str(digits / "digits.npz"), "n_val": 100},
              "options": {"scales": {"dense0": [50.0, 200.0]}, "backend":
                          "loihi-emulator-fast", "n_steps": 20, "objective": "accuracy",
                          "oracle": "random", "max_trials": 2, "seed": 0,
                          "directory": str(tmp_path / "search"), "project_name": "d"},
              "summary": str(tmp_path / "summary.json")}
    search = build_search(config)
    np.testing.assert_array_equal(search.x_val.reshape(100, 8, 8, 1), x_test[-100:])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, _, err = _run(capsys, ["tune", path])
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["COMPLETED"] * 2
    assert summary["best"]["metrics"]["accuracy"] > 0.5  # the file's labels, not MNIST's

    for data, message in (
            ({"file": str(digits / "digits.npz"), "val_from": "train"},
             "the network does not record which training images it saw"),
            ({"file": str(digits / "digits.npz"), "n_val": 600},
             "expected an int from 1 to 539 (the file's test images"),
            ({"file": str(_save(tmp_path / "t.npz", x_train=X, y_train=Y))},
             "has no x_test/y_test"),
            ({"file": str(tmp_path / "none.npz")}, "(no such file)")):
        path.write_text(json.dumps(dict(config, data=data)))
        code, _, err = _run(capsys, ["tune", path])
        assert code == 1 and message in err and "config['data']" in err, err


def test_arrays_claiming_too_many_bytes_are_refused_before_they_are_read(tmp_path):
    """A compressed member can claim gigabytes in a few bytes: the claim, read from the
    arrays' headers, is refused before anything is decompressed or allocated. The cap
    is on bytes in all (float64 images count twice float32 ones)."""
    import io
    import tracemalloc

    from hostile_payloads import zip_bytes

    from snnkit.data.files import MAX_BYTES, load_data_file
    from snnkit.exceptions import ValidationError

    n = MAX_BYTES // 8  # float64 images of one number each, int64 labels: 2 GiB
    members = {}
    for key, descr, shape in (("x_test", "<f8", (n, 1)), ("y_test", "<i8", (n,))):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": descr, "fortran_order": False, "shape": shape})
        members[f"{key}.npy"] = header.getvalue() + b"\0" * 64
    path = tmp_path / "claims.npz"
    path.write_bytes(zip_bytes(members))
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match=rf"the arrays this command reads "
                                                  rf"\(test\) hold {16 * n} bytes, more "
                                                  rf"than {MAX_BYTES}"):
            load_data_file(path)
        assert tracemalloc.get_traced_memory()[1] < 50 * 2 ** 20
    finally:
        tracemalloc.stop()
