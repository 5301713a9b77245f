"""Builders for the hostile-file tests: a tiny model, a Keras ``Lambda`` layer whose
code writes a marker file (so a test can tell whether it ran), and archive rewriting
that bypasses snnkit's own writers."""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import marshal
import threading
import tracemalloc
import zipfile

import numpy as np


def tiny_keras(seed: int = 0):
    """input 6x6x1 -> conv 2x3x3 relu (no bias) -> flatten -> dense 4 relu -> 3."""
    import tensorflow as tf

    L = tf.keras.layers
    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((6, 6, 1), name="input")
    x = L.Conv2D(2, 3, activation="relu", use_bias=False, kernel_initializer=init(seed),
                 name="conv")(inp)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(4, activation="relu", kernel_initializer=init(seed + 1), name="hidden")(x)
    out = L.Dense(3, kernel_initializer=init(seed + 2), name="out")(x)
    return tf.keras.Model(inp, out)


def lambda_layer(marker, name: str, inbound: str | None) -> dict:
    """A Keras Lambda layer config whose function writes ``marker`` when called,
    written by hand (marshalled bytecode, as Keras stores it)."""
    fn = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r})"
              ".write_text('ran'), x)[1]")
    code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
    return {"class_name": "Lambda", "name": name,
            "config": {"name": name, "trainable": True, "dtype": "float32",
                       "function": [code, None, None], "function_type": "lambda",
                       "module": "builtins", "output_shape": None,
                       "output_shape_type": "raw", "output_shape_module": None,
                       "arguments": {}},
            "inbound_nodes": [[[inbound, 0, 0, {}]]] if inbound else []}


def nested_lambda_config(config: dict, marker) -> dict:
    """``config`` (a tiny_keras functional config) with a nested Functional model
    'evil' holding the Lambda between the input and the first conv layer."""
    config = copy.deepcopy(config)
    shape = config["config"]["layers"][0]["config"]["batch_input_shape"]
    inner = {"class_name": "Functional", "name": "evil",
             "config": {"name": "evil", "trainable": True, "layers": [
                 {"class_name": "InputLayer", "name": "evil_in", "inbound_nodes": [],
                  "config": {"batch_input_shape": shape, "dtype": "float32",
                             "sparse": False, "ragged": False, "name": "evil_in"}},
                 lambda_layer(marker, "evil_fn", "evil_in")],
                 "input_layers": [["evil_in", 0, 0]],
                 "output_layers": [["evil_fn", 0, 0]]},
             "inbound_nodes": [[["input", 0, 0, {}]]]}
    layers = config["config"]["layers"]
    layers.insert(1, inner)
    layers[2]["inbound_nodes"] = [[["evil", 1, 0, {}]]]
    return config


def top_lambda_config(config: dict, marker) -> dict:
    """``config`` with a top-level Lambda between the input and the first conv."""
    config = copy.deepcopy(config)
    layers = config["config"]["layers"]
    layers.insert(1, lambda_layer(marker, "evil_fn", "input"))
    layers[2]["inbound_nodes"] = [[["evil_fn", 0, 0, {}]]]
    return config


def read_members(path) -> dict:
    """Every array of an .npz archive (test side: the file is our own)."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def rewrite_npz(path, header_key: str, change_header=None, change_arrays=None):
    """Rewrite an snnkit archive with its JSON header and/or arrays changed."""
    arrays = read_members(path)
    header = json.loads(arrays.pop(header_key).tobytes())
    if change_header:
        change_header(header)
    if change_arrays:
        change_arrays(arrays)
    write_npz(path, header_key, header, arrays)


def write_npz(path, header_key: str, header, arrays: dict):
    arrays = dict(arrays)
    arrays[header_key] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


def zip_bytes(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def add_member(path, name: str, data: bytes, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "a", compression) as archive:
        archive.writestr(name, data)


def json_paths(value, prefix=()):
    """Every position in a JSON value (``value`` itself first), as key paths."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from json_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from json_paths(child, prefix + (i,))


def finishes(fn, *args, seconds=120):
    """``fn(*args)``, failing the test if it is still running after ``seconds`` (a
    hang guard: loading a hostile file must end)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as e:  # re-raised in the test's thread
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still running: it hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextlib.contextmanager
def allocates_under(limit_bytes):
    """Fails the test if the block's peak traced allocation reaches ``limit_bytes``:
    a hostile size must be refused, or left unread, before anything that large is
    allocated."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"peak allocation {peak} bytes, limit {limit_bytes}"
