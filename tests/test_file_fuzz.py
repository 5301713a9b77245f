"""Seeded fuzzing of FrozenNetwork files and checkpoints (issue 14): byte flips,
truncations, header JSON mutations and swapped arrays. Every mutant must either be
refused with the loader's own error or load as exactly what the file says (the
original, for a mutation that changed nothing the reader uses)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hostile_payloads import json_paths, read_members, tiny_keras, write_npz

from snnkit import FrozenNetwork, FrozenNetworkFileError
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import CheckpointError
from snnkit.training.checkpoint import load_checkpoint, save_checkpoint

SEED = 14
N_BYTE_FLIPS, N_TRUNCATIONS, N_HEADER_MUTANTS, N_ARRAY_SWAPS = 120, 40, 160, 30
JUNK = [None, True, False, 0, -1, 1, 2 ** 31, 10 ** 12, 1e308, -1e308, float("nan"),
        float("inf"), 0.5, "", "x", "relu", "Lambda", "w/out/1", [], [1], [[[[]]]], {},
        {"class_name": "Lambda", "config": {}}, {"module": "os", "class_name": "system"}]


def _mutate_header(header, rng):
    """A copy of ``header`` with one random position replaced, deleted or grown."""
    header = json.loads(json.dumps(header))
    path = rng.choice(list(json_paths(header))[1:])
    parent = header
    for key in path[:-1]:
        parent = parent[key]
    op = rng.choice(["replace", "replace", "delete", "grow"])
    if op == "delete":
        del parent[path[-1]]
    elif op == "grow" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["extra"] = rng.choice(JUNK)
    elif op == "grow" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
        parent[path[-1]].append(parent[path[-1]][0])
    else:
        parent[path[-1]] = rng.choice(JUNK)
    return header, f"{op} {'/'.join(map(str, path))}"


def _normal(value):
    """JSON text with ints as floats (a loader may turn 7 into 7.0) and NaN kept."""
    def walk(v):
        if isinstance(v, dict):
            return {k: walk(c) for k, c in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(c) for c in v]
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return json.dumps(walk(value), sort_keys=True)


def _mutants(path, header_key, rng):
    """(description, bytes or (header, arrays)) of every mutant of one file."""
    data = path.read_bytes()
    for _ in range(N_BYTE_FLIPS):
        flipped = bytearray(data)
        spots = [rng.randrange(len(data)) for _ in range(rng.randint(1, 3))]
        for spot in spots:
            flipped[spot] ^= rng.randint(1, 255)
        yield f"flip bytes {spots}", bytes(flipped)
    for _ in range(N_TRUNCATIONS):
        size = rng.randrange(len(data))
        yield f"truncate to {size}", data[:size]
    arrays = read_members(path)
    header = json.loads(arrays.pop(header_key).tobytes())
    for _ in range(N_HEADER_MUTANTS):
        mutant, what = _mutate_header(header, rng)
        yield what, (mutant, arrays)
    for _ in range(N_ARRAY_SWAPS):
        key = rng.choice(sorted(arrays))
        dtype = rng.choice([np.float32, np.float64, np.int32, np.uint8, np.bool_,
                            np.complex64])
        shape = tuple(rng.randint(0, 5) for _ in range(rng.randint(0, 4)))
        swapped = dict(arrays, **{key: np.ones(shape, dtype)})
        yield f"array {key} -> {np.dtype(dtype)} {shape}", (header, swapped)


def _fuzz(path, header_key, load, error_type, check_loaded, tmp_path):
    rng = random.Random(SEED)
    original = load(path)
    outcomes, failures = {"refused": 0, "loaded": 0}, []
    mutant_path = tmp_path / f"mutant{path.suffix}"
    for what, mutant in _mutants(path, header_key, rng):
        if isinstance(mutant, bytes):
            mutant_path.write_bytes(mutant)
            header = arrays = None
        else:
            header, arrays = mutant
            write_npz(mutant_path, header_key, header, arrays)
        try:
            loaded = load(mutant_path)
        except error_type as e:
            outcomes["refused"] += 1
            if str(mutant_path) not in str(e):
                failures.append(f"{what}: error does not name the file: {e}")
            continue
        except Exception as e:  # anything else is a bug: collect them all
            failures.append(f"{what}: {type(e).__name__}: {e}"[:300])
            continue
        outcomes["loaded"] += 1
        problem = check_loaded(loaded, original, header, arrays, tmp_path)
        if problem:
            failures.append(f"{what}: loaded but {problem}")
    assert not failures, "\n".join(failures[:20])
    # the fuzzing reached both outcomes: it is not all refused at the first byte
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 5, outcomes
    return outcomes


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(np.array_equal(x, y) for x, y in zip(a[k], b[k]))
        for k in a)


def _check_network(loaded, original, header, arrays, tmp_path):
    if header is None:  # a byte mutation the reader never sees
        if _normal(_fields(loaded)) != _normal(_fields(original)):
            return "differs from the original"
        weights = original.weights
    else:  # exactly what the mutated header says
        saved = read_members(loaded.save(tmp_path / "again.npz"))
        again = json.loads(saved.pop("__snnkit__").tobytes())
        header = dict(header, metadata=header.get("metadata", {}))
        names = header.pop("weights")
        again.pop("weights")
        if _normal(again) != _normal(header):
            return "its fields differ from the file's header"
        weights = {layer: tuple(arrays[k] for k in keys) for layer, keys in names.items()}
    if not _same_weights(loaded.weights, weights):
        return "its weights differ from the file's"
    return None


def _fields(network):
    return {"model_json": json.loads(network.model_json), "neuron": network.neuron.to_dict(),
            "scales": network.scale_firing_rates, "synapse": network.synapse,
            "dt": network.dt, "off_chip": network.off_chip,
            "block_shapes": network.block_shapes, "metadata": network.metadata}


@pytest.fixture(scope="module")
def model():
    return tiny_keras()


def test_fuzzed_frozen_network_files(model, tmp_path):
    network = from_keras(model, "loihi-lif", synapse=0.005,
                                       scale_firing_rates={"hidden": 2.0, "conv": 3.0},
                                       block_shapes={"hidden": (2,)},
                                       metadata={"note": "tiny", "n": [1, 2.5]})
    path = network.save(tmp_path / "net.snn.npz")
    _fuzz(path, "__snnkit__", FrozenNetwork.load, FrozenNetworkFileError,
          _check_network, tmp_path)


def _check_checkpoint(loaded, original, header, arrays, tmp_path):
    if header is None:
        header = {"epoch": original.epoch, "history": original.history,
                  "callbacks": original.callback_states,
                  "fingerprint": original.fingerprint}
        arrays = {f"opt/{i}": a for i, a in enumerate(original.optimizer)}
        arrays.update({k: w for layer, ws in original.weights.items()
                       for k, w in zip(_ckpt_keys(layer, ws), ws)})
        header["weights"] = {layer: _ckpt_keys(layer, ws)
                             for layer, ws in original.weights.items()}
    got = {"epoch": loaded.epoch, "history": loaded.history,
           "callbacks": loaded.callback_states, "fingerprint": loaded.fingerprint}
    want = {key: header[key] for key in got}
    if _normal(got) != _normal(want):
        return "its fields differ from the file's header"
    weights = {layer: [arrays[k] for k in keys] for layer, keys in header["weights"].items()}
    if not _same_weights(loaded.weights, weights):
        return "its weights differ from the file's"
    optimizer = [arrays[f"opt/{i}"] for i in range(len(loaded.optimizer))]
    if not all(np.array_equal(a, b) for a, b in zip(loaded.optimizer, optimizer)):
        return "its optimizer state differs from the file's"
    return None


def _ckpt_keys(layer, values):
    return [f"w/{layer}/{i}" for i in range(len(values))]


def test_fuzzed_checkpoints(model, tmp_path):
    optimizer = [np.array(8, np.int64)] + [np.full_like(w, 0.5) for w in model.get_weights()]
    history = [{"epoch": 0, "loss": 1.0, "accuracy": 0.5},
               {"epoch": 1, "loss": "nan", "accuracy": 0.25}]
    path = save_checkpoint(tmp_path / "ckpt.npz", model, epoch=2, history=history,
                           optimizer=optimizer,
                           callback_states={"EarlyStopping.0": {"best_score": 1.0,
                                                                "wait": 0}})
    _fuzz(path, "__snnkit_ckpt__", load_checkpoint, CheckpointError,
          _check_checkpoint, tmp_path)


def test_json_normalization_keeps_what_matters():
    assert _normal({"a": 7}) == _normal({"a": 7.0})
    assert _normal({"a": True}) != _normal({"a": 1})
    assert _normal([float("nan")]) == _normal([math.nan])
