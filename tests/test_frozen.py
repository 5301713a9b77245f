import json

import numpy as np
import pytest

from snnkit import FrozenNetwork, FrozenNetworkFileError
from snnkit.backends import get_backend
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import UnknownNameError, ValidationError
from snnkit.models import seed_convnet


@pytest.fixture(scope="module")
def untrained():
    return from_keras(seed_convnet(seed=1), "loihi-relu",
                                    scale_firing_rates=100, synapse=0.005)


def test_from_keras_records_layers_and_off_chip(untrained):
    assert untrained.neuron_layers == ("to-spikes", "conv0", "conv1", "dense0")
    assert untrained.off_chip == ("to-spikes", "dense1")
    assert untrained.on_chip_layers == ("conv0", "conv1", "dense0")
    assert untrained.layer_shape("conv0") == (13, 13, 32)
    assert untrained.input_shape == (28, 28, 1)
    assert untrained.scale("conv1") == 100.0
    assert untrained.amplitude("conv1") == pytest.approx(0.01)


def test_load_parses_the_architecture_once(untrained, tmp_path, monkeypatch):
    """load checks the header's architecture once; the constructor it calls and a later
    replace() find that parse, they do not repeat it."""
    import snnkit.network.fields as fields

    path = untrained.save(tmp_path / "net.snn.npz")
    calls = []
    parse = fields.parse_model_config
    monkeypatch.setattr(fields, "parse_model_config",
                        lambda *a, **k: calls.append(1) or parse(*a, **k))
    fields._parse_text.cache_clear()
    loaded = FrozenNetwork.load(path)
    assert len(calls) == 1
    assert loaded.replace(dt=0.002).dt == 0.002 and len(calls) == 1


def test_save_load_roundtrip_gives_identical_outputs(trained_seed_loihi, mnist_small, tmp_path):
    _, (x_test, _) = mnist_small
    path = trained_seed_loihi.save(tmp_path / "net.snn.npz")
    loaded = FrozenNetwork.load(path)
    assert loaded.scale_firing_rates == trained_seed_loihi.scale_firing_rates
    assert loaded.synapse == 0.005 and loaded.neuron.name == "loihi-relu"
    for name, values in trained_seed_loihi.weights.items():
        for a, b in zip(values, loaded.weights[name]):
            np.testing.assert_array_equal(a, b)
    backend = get_backend("nengo-dl")
    before = backend.run(trained_seed_loihi, x_test[:20], n_steps=10)
    after = backend.run(loaded, x_test[:20], n_steps=10)
    np.testing.assert_array_equal(before.outputs, after.outputs)


def test_file_loads_without_pickle(untrained, tmp_path):
    path = untrained.save(tmp_path / "net.snn.npz")
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(archive["__snnkit__"].tobytes())
    assert meta["format"] == "snnkit.FrozenNetwork" and meta["format_version"] == 1


def test_truncated_file_is_a_clear_error(untrained, tmp_path):
    path = untrained.save(tmp_path / "net.snn.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrozenNetworkFileError, match="net.snn.npz: not a readable snnkit "
                                                     "FrozenNetwork file .truncated or corrupt"):
        FrozenNetwork.load(path)


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(FrozenNetworkFileError, match="notes.txt: not a readable"):
        FrozenNetwork.load(text)
    other = tmp_path / "arrays.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(FrozenNetworkFileError, match="arrays.npz: not a snnkit FrozenNetwork"):
        FrozenNetwork.load(other)
    with pytest.raises(FrozenNetworkFileError, match="missing.npz: no such file"):
        FrozenNetwork.load(tmp_path / "missing.npz")


def _rewrite_meta(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["__snnkit__"].tobytes())
    change(meta)
    arrays["__snnkit__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)


def test_newer_format_version_is_refused(untrained, tmp_path):
    path = untrained.save(tmp_path / "net.npz")
    _rewrite_meta(path, lambda m: m.update(format_version=99))
    with pytest.raises(FrozenNetworkFileError, match="format version 99 is newer than this "
                                                     "snnkit reads .up to 1.; upgrade snnkit"):
        FrozenNetwork.load(path)


def test_code_carrying_layers_are_refused_on_load(untrained, tmp_path):
    """A Keras Lambda layer would carry marshalled code: loading must refuse it."""
    path = untrained.save(tmp_path / "net.npz")

    def add_lambda(meta):
        meta["model_json"]["config"]["layers"][1]["class_name"] = "Lambda"

    _rewrite_meta(path, add_lambda)
    with pytest.raises(FrozenNetworkFileError, match="layer 'to-spikes' is a Lambda, which "
                                                     "snnkit cannot run natively"):
        FrozenNetwork.load(path)


def test_save_is_atomic(untrained, tmp_path, monkeypatch):
    path = untrained.save(tmp_path / "net.npz")
    good = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    with pytest.raises(OSError, match="disk full"):
        untrained.replace(synapse=0.01).save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary left


def test_unknown_layer_in_scales_lists_layers(untrained):
    with pytest.raises(UnknownNameError) as e:
        untrained.replace(scale_firing_rates={"conv9": 2.0})
    assert str(e.value) == ("scale_firing_rates: unknown layer 'conv9'; layers are: "
                            "to-spikes, conv0, conv1, dense0")


def test_unknown_neuron_type_lists_known(untrained):
    with pytest.raises(UnknownNameError) as e:
        untrained.replace(neuron="izhikevich")
    assert str(e.value) == ("neuron_type: unknown neuron type 'izhikevich'; known types "
                            "are: relu, spiking-relu, lif, loihi-relu, loihi-lif")


@pytest.mark.parametrize("field, value, message", [
    ("scale_firing_rates", {"conv0": -1.0},
     "scale_firing_rates['conv0']: expected a finite number > 0, got -1.0"),
    ("synapse", 0.0, "synapse: expected a finite number > 0 (seconds), got 0.0"),
    ("dt", float("nan"), "dt: expected a finite number > 0 (seconds), got nan"),
])
def test_bad_settings(untrained, field, value, message):
    with pytest.raises(ValidationError) as e:
        untrained.replace(**{field: value})
    assert str(e.value) == message


def test_block_shape_on_off_chip_layer_is_refused(untrained):
    with pytest.raises(UnknownNameError, match="block_shapes: unknown layer 'to-spikes'; "
                                               "layers are: conv0, conv1, dense0"):
        untrained.replace(block_shapes={"to-spikes": (10, 10, 3)})
