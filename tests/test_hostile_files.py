"""Hostile files (issue 14): loading never runs stored code, never hangs, never
accepts a corrupt value, and every failure is one clean error naming the file and
the field. Each payload is shown live first (Keras itself runs it), then refused."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import h5py
import numpy as np
import pytest
import tensorflow as tf
from hostile_payloads import (
    add_member,
    allocates_under,
    finishes,
    nested_lambda_config,
    read_members,
    rewrite_npz,
    tiny_keras,
    top_lambda_config,
    zip_bytes,
)

import snnkit
from snnkit import FrozenNetwork, FrozenNetworkFileError
from snnkit.cli import main
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import ValidationError
from snnkit.keras.files import hdf5_signature_offset

META = "__snnkit__"


@pytest.fixture(scope="module")
def model():
    return tiny_keras()


@pytest.fixture(scope="module")
def network(model):
    return from_keras(model, "loihi-relu", synapse=0.005,
                                    scale_firing_rates={"hidden": 2.0},
                                    metadata={"note": "tiny"})


@pytest.fixture
def saved(network, tmp_path):
    return network.save(tmp_path / "net.snn.npz")


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "code-ran.txt"


def _refused(path, match):
    with pytest.raises(FrozenNetworkFileError, match=match) as e:
        finishes(FrozenNetwork.load, path)
    assert str(path) in str(e.value)
    return str(e.value)


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


# --- stored code --------------------------------------------------------------
def test_payload_runs_when_keras_reads_it(model, marker):
    """The control: the nested Lambda is live code for Keras itself."""
    tf.keras.models.model_from_json(json.dumps(nested_lambda_config(
        json.loads(model.to_json()), marker)))
    assert marker.read_text() == "ran"


def test_nested_lambda_in_a_frozen_network_never_runs(saved, marker, capsys):
    rewrite_npz(saved, META, lambda m: m.update(
        model_json=nested_lambda_config(m["model_json"], marker)))
    _refused(saved, r"model_json: layer 'evil' is a nested Functional model")
    code, err = _cli(capsys, "inspect", saved)
    assert code == 1 and err.startswith("snnkit inspect: error:") and "'evil'" in err
    assert not marker.exists()


@pytest.mark.parametrize("wrapper", ["TimeDistributed", "Bidirectional"])
def test_wrapped_lambda_never_runs(saved, marker, wrapper):
    def wrap(meta):
        layer = top_lambda_config(meta["model_json"], marker)["config"]["layers"][1]
        meta["model_json"]["config"]["layers"][1] = {
            "class_name": wrapper, "name": "conv", "inbound_nodes": [[["input", 0, 0, {}]]],
            "config": {"name": "conv", "layer": {"class_name": "Lambda",
                                                 "config": layer["config"]}}}

    rewrite_npz(saved, META, wrap)
    _refused(saved, rf"layer 'conv' is a {wrapper}, which snnkit cannot run natively")
    assert not marker.exists()


def _keras_file(model, tmp_path, name, config):
    """A real Keras file of ``model`` whose stored architecture is ``config``."""
    path = tmp_path / name
    if name.endswith(".zip.keras"):
        path = tmp_path / name.replace(".zip", "")
        model.save(path, save_format="keras_v3")
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        stored = json.loads(members["config.json"])
        stored["config"] = config["config"]
        members["config.json"] = json.dumps(stored).encode()
        path.write_bytes(zip_bytes(members))
    else:  # .h5, and .keras as TF 2.12's model.save writes it by default: HDF5
        model.save(path, save_format="h5")
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = json.dumps(config)
    return path


@pytest.mark.parametrize("name, live", [("m.h5", True), ("m.keras", True),
                                        ("m.zip.keras", False)])
def test_nested_lambda_in_a_keras_file_never_runs(model, tmp_path, marker, capsys,
                                                  name, live):
    path = _keras_file(model, tmp_path, name,
                       nested_lambda_config(json.loads(model.to_json()), marker))
    if live:  # Keras' own safe_mode lets it through
        with contextlib.suppress(Exception):  # loads or not: the code ran first
            tf.keras.models.load_model(path, compile=False, safe_mode=True)
        assert marker.exists()
        marker.unlink()
    with pytest.raises(ValidationError, match=r"model: layer 'evil' is a nested "
                                              r"Functional model.* \(in '.*m\.(h5|keras)'\)"):
        snnkit.load_keras_model(path)
    out = tmp_path / "out.snn.npz"
    code, err = _cli(capsys, "convert", path, "--out", out)
    assert code == 1 and "layer 'evil' is a nested Functional model" in err
    code, err = _cli(capsys, "train", "--model", path, "--out", out)
    assert code == 1 and "--model: layer 'evil'" in err
    assert not marker.exists() and not out.exists()


def test_polyglot_hdf5_with_user_block_and_appended_zip_is_refused(model, tmp_path,
                                                                   marker, capsys):
    """HDF5 model (top-level Lambda) after a 512-byte user block, a harmless .keras
    zip appended: Keras reads the HDF5, a zip check reads the harmless part."""
    path = tmp_path / "poly.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        model.save(f)
        f.attrs["model_config"] = json.dumps(top_lambda_config(
            json.loads(model.to_json()), marker))
    with open(path, "ab") as f:
        f.write(zip_bytes({"config.json": model.to_json()}))
    assert path.read_bytes()[:4] != b"\x89HDF" and zipfile.is_zipfile(path)
    with contextlib.suppress(Exception):
        tf.keras.models.load_model(path, compile=False, safe_mode=True)
    assert marker.exists()  # live for Keras
    marker.unlink()
    with pytest.raises(ValidationError, match="both an HDF5 file and a zip archive"):
        snnkit.load_keras_model(path)
    code, err = _cli(capsys, "convert", path, "--out", tmp_path / "out.snn.npz")
    assert code == 1 and "polyglot" in err
    assert not marker.exists()


@pytest.mark.parametrize("user_block", [512, 1024, 2048])
def test_hdf5_after_a_user_block_is_found_and_loads(model, tmp_path, user_block):
    path = tmp_path / "block.h5"
    with h5py.File(path, "w", userblock_size=user_block) as f:
        model.save(f)
    assert hdf5_signature_offset(path) == user_block
    loaded = snnkit.load_keras_model(path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras_archive_with_pickled_weights_is_refused(model, tmp_path):
    """Keras reads model.weights.npz with allow_pickle=True: never let it."""
    path = _keras_file(model, tmp_path, "m.zip.keras", json.loads(model.to_json()))
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    del members["model.weights.h5"]
    pickled = io.BytesIO()
    np.savez(pickled, a=np.array([object()], dtype=object))
    members["model.weights.npz"] = pickled.getvalue()
    path.write_bytes(zip_bytes(members))
    with pytest.raises(ValidationError, match="no pickled .npz weights"):
        snnkit.load_keras_model(path)


def test_oversized_weight_datasets_in_a_keras_file_are_refused(model, tmp_path):
    path = _keras_file(model, tmp_path, "m.h5", json.loads(model.to_json()))
    with h5py.File(path, "r+") as f:  # 10^9 declared numbers, compressed to nothing
        f.create_dataset("model_weights/out/huge", shape=(10 ** 9,), dtype="f4",
                         chunks=(2 ** 20,), compression="gzip")
    with pytest.raises(ValidationError, match="a dataset 'model_weights/out/huge'"):
        snnkit.load_keras_model(path)


def test_links_out_of_a_keras_file_are_refused(model, tmp_path):
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("kernel", data=np.zeros((32, 4), np.float32))
    path = _keras_file(model, tmp_path, "m.h5", json.loads(model.to_json()))
    with h5py.File(path, "r+") as f:
        f["model_weights/hidden/outside"] = h5py.ExternalLink(str(other), "kernel")
    with pytest.raises(ValidationError, match="has an external link "
                                              "model_weights/hidden/outside"):
        snnkit.load_keras_model(path)


# --- graphs, sizes and members ---------------------------------------------------
def _layer(meta, name):
    return next(l for l in meta["model_json"]["config"]["layers"] if l["name"] == name)


def test_inbound_cycle_and_bad_index_end_in_an_error(saved):
    rewrite_npz(saved, META, lambda m: _layer(m, "conv").update(
        inbound_nodes=[[["hidden", 0, 0, {}]]]))
    _refused(saved, r"invalid FrozenNetwork file: model_json: the layer graph has a "
                    r"cycle through 'conv', 'flat', 'hidden'")
    rewrite_npz(saved, META, lambda m: _layer(m, "conv").update(
        inbound_nodes=[[["input", 0, 0, {}]]]))
    rewrite_npz(saved, META, lambda m: _layer(m, "flat").update(
        inbound_nodes=[[["conv", 7, 0, {}]]]))
    _refused(saved, r"layer 'flat': inbound_nodes\[0\]\[0\]: expected node index 0")


def test_huge_units_are_refused_before_any_allocation(saved):
    rewrite_npz(saved, META, lambda m: _layer(m, "hidden")["config"].update(
        units=2 ** 31))
    with allocates_under(16 * 2 ** 20):
        _refused(saved, r"layer 'hidden': units: expected an int in 1..16777216, got "
                        r"2147483648")


def _equal(a: FrozenNetwork, b: FrozenNetwork):
    assert json.loads(a.model_json) == json.loads(b.model_json)
    assert (a.neuron, a.scale_firing_rates, a.synapse, a.dt, a.off_chip, a.block_shapes,
            a.metadata) == (b.neuron, b.scale_firing_rates, b.synapse, b.dt, b.off_chip,
                            b.block_shapes, b.metadata)
    assert a.weights.keys() == b.weights.keys()
    for name in a.weights:
        for x, y in zip(a.weights[name], b.weights[name], strict=True):
            np.testing.assert_array_equal(x, y)


def test_members_the_header_does_not_name_are_never_read(saved, network):
    # 64 MB of zeros, deflated to 64 kB: reading it would show
    add_member(saved, "unnamed.npy", b"\0" * 2 ** 26)
    with allocates_under(16 * 2 ** 20):
        loaded = FrozenNetwork.load(saved)
    _equal(loaded, network)


def test_a_named_member_larger_than_its_shape_is_not_read(saved):
    arrays = read_members(saved)
    key = "w/out/1"  # the 3 biases of 'out', then 64 MB more
    npy = io.BytesIO()
    np.save(npy, arrays[key])
    rewrite_npz(saved, META, change_arrays=lambda a: a.pop(key))
    add_member(saved, key + ".npy", npy.getvalue() + b"\0" * 2 ** 26)
    with allocates_under(16 * 2 ** 20):
        _refused(saved, r"weights\['out'\]\[1\]: archive member 'w/out/1' holds "
                        r"67109004 bytes, expected 140")


# --- field by field ------------------------------------------------------------------
def _arrays(key, value):
    return lambda arrays: arrays.__setitem__(key, value)


WEIGHT_CASES = {
    "wrong shape": (None, _arrays("w/hidden/0", np.zeros((10, 10), np.float32)),
                    r"weights\['hidden'\]\[0\]: expected shape \(32, 4\), got \(10, 10\)"),
    "wrong rank": (None, _arrays("w/hidden/0", np.zeros(128, np.float32)),
                   r"weights\['hidden'\]\[0\]: expected shape \(32, 4\), got \(128,\)"),
    "dropped bias": (lambda m: m["weights"]["hidden"].pop(), None,
                     r"weights\['hidden'\]: expected a list of 2 archive member names"),
    "weightless layer": (lambda m: m["weights"].update(flat=["w/out/1"]), None,
                         r"weights: layer 'flat' has no weights in this architecture"),
    "missing layer": (lambda m: m["weights"].pop("conv"), None,
                      r"weights: missing the weights of layer\(s\) 'conv'"),
    "integers": (None, _arrays("w/out/1", np.zeros(3, np.int32)),
                 r"weights\['out'\]\[1\]: archive member 'w/out/1' has dtype int32, "
                 r"expected floats"),
    "NaN": (None, _arrays("w/out/1", np.array([0, np.nan, 0], np.float32)),
            r"weights\['out'\]\[1\]: expected finite weights"),
    "missing member": (None, lambda a: a.pop("w/out/1"),
                       r"weights\['out'\]\[1\]: archive member 'w/out/1' is missing"),
    "member named twice": (lambda m: m["weights"].update(out=["w/out/1", "w/out/1"]),
                           None, r"weights\['out'\]: an archive member is named twice"),
}


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_weights_are_checked_against_the_architecture(saved, case):
    change_header, change_arrays, match = WEIGHT_CASES[case]
    rewrite_npz(saved, META, change_header, change_arrays)
    _refused(saved, match)


def test_pickled_weights_are_refused_without_unpickling(saved):
    arrays = read_members(saved)
    arrays["w/out/1"] = np.array([object(), None, 1], dtype=object)
    header = arrays.pop(META)
    np.savez(saved, **arrays, **{META: header})  # np.savez pickles object arrays
    _refused(saved, r"weights\['out'\]\[1\]: archive member 'w/out/1' has dtype object")


def _set(*path_and_value):
    *path, value = path_and_value

    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


_DELETE = object()
FIELD_CASES = [
    (("neuron", "params", "amplitude", 0), r"params.amplitude: expected a finite "
                                           r"number > 0, got 0"),
    (("neuron", "params", "amplitude", -1.0), r"params.amplitude: expected"),
    (("neuron", {"name": "loihi-lif", "params": {"tau_rc": -0.02}}),
     r"params.tau_rc: expected a finite number > 0 \(seconds\), got -0.02"),
    (("neuron", {"name": "lif", "params": {"tau_rc": float("nan")}}),
     r"params.tau_rc: expected a finite number > 0 \(seconds\), got nan"),
    (("neuron", {"name": "lif", "params": {"tau_ref": -1}}), r"params.tau_ref"),
    (("neuron", {"name": "lif", "params": {"min_voltage": 1}}),
     r"params.min_voltage: expected a finite number <= 0"),
    (("neuron", {"name": "lif", "params": {"tau_rc": "0.02"}}), r"params.tau_rc"),
    (("neuron", {"name": "izhikevich", "params": {}}), r"unknown neuron type 'izhikevich'"),
    (("neuron", {"name": "lif"}), r"neuron: expected a dict \{name, params\}"),
    (("neuron", ["loihi-relu"]), r"neuron: expected a JSON object"),
    (("block_shapes", {"hidden": [2, 2]}), r"block_shapes\['hidden'\]: expected 1 ints"),
    (("block_shapes", {"hidden": [-1]}), r"block_shapes\['hidden'\]: expected 1 ints, "
                                         r"each in 1..the layer's size \(4,\)"),
    (("block_shapes", {"hidden": [10 ** 12]}), r"block_shapes\['hidden'\]"),
    (("block_shapes", {"hidden": [True]}), r"block_shapes\['hidden'\]"),
    (("block_shapes", {"hidden": "4"}), r"block_shapes\['hidden'\]"),
    (("block_shapes", {"nope": [1]}), r"block_shapes: unknown layer 'nope'"),
    (("metadata", ["a", "list"]), r"metadata: expected a JSON object"),
    (("metadata", "text"), r"metadata: expected a JSON object"),
    (("synapse", "0.005"), r"synapse: expected a finite number > 0 \(seconds\)"),
    (("synapse", -1), r"synapse: expected a finite number > 0"),
    (("dt", float("inf")), r"dt: expected a finite number > 0"),
    (("dt", True), r"dt: expected a finite number > 0"),
    (("scale_firing_rates", {"hidden": float("nan")}), r"scale_firing_rates\['hidden'\]"),
    (("scale_firing_rates", {"out": 2.0}), r"scale_firing_rates: unknown layer 'out'"),
    (("off_chip", "out"), r"off_chip: expected a JSON list"),
    (("off_chip", ["out", "out"]), r"off_chip: a layer is listed twice"),
    (("off_chip", [["out"]]), r"off_chip: unknown layer \['out'\]"),
    (("format_version", 0), r"format_version: expected an int >= 1, got 0"),
    (("format_version", True), r"format_version: expected an int >= 1, got True"),
    (("surprise", 1), r"header: unknown field\(s\) 'surprise'"),
    (("dt", _DELETE), r"header: missing field\(s\) dt"),
    (("model_json", "config", "layers", 0, "config", "batch_input_shape",
      [None, -6, 6, 1]), r"layer 'input': batch_input_shape: expected sizes"),
]


@pytest.mark.parametrize("change, match", FIELD_CASES,
                         ids=[" ".join(map(str, c[:-1]))[:40] for c, _ in FIELD_CASES])
def test_every_header_field_is_checked(saved, change, match):
    rewrite_npz(saved, META, _set(*change))
    _refused(saved, match)


def test_deeply_nested_header_is_a_clean_error(saved):
    arrays = read_members(saved)
    arrays[META] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, np.uint8)
    np.savez(saved, **arrays)
    _refused(saved, r"not a readable snnkit FrozenNetwork file \(truncated or corrupt: "
                    r"RecursionError")


def test_deeply_nested_metadata_is_a_clean_error(saved):
    deep = {}
    for _ in range(50):
        deep = {"x": deep}
    rewrite_npz(saved, META, lambda m: m.update(metadata=deep))
    _refused(saved, r"metadata: nested deeper than 32 levels")


def test_a_device_is_not_read():
    with pytest.raises(FrozenNetworkFileError, match="/dev/zero: not a regular file"):
        FrozenNetwork.load("/dev/zero")


def test_inspect_shows_free_form_metadata(saved, capsys):
    rewrite_npz(saved, META, lambda m: m.update(metadata={"calibration": "x",
                                                          "list": [1, {"a": None}]}))
    assert FrozenNetwork.load(saved).metadata["calibration"] == "x"
    code = main(["inspect", str(saved), "--no-plan"])
    out = capsys.readouterr().out
    assert code == 0 and "calibration=x" in out
