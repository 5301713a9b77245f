"""Hostile NIR files, data files and search configurations, and the harness that tries
each in its own process with a timeout and an address-space cap (issue 23).

Used by ``tests/test_hostile_inputs.py`` (a small seeded slice) and by
``benchmarks/bench_hostile_files.py`` (hundreds of mutants per surface). Each case is
classified by :func:`run_case`:

- ``refused``: one snnkit error (``SnnkitError``) naming the file or the field, its
  message at most :data:`MAX_MESSAGE` characters;
- ``loaded``: read as a value snnkit accepts, with nothing from outside the file in
  it (no canary value), and what it wrote loads again;
- and the failures: ``unnamed`` (a clean error naming neither the file nor the
  field), ``long-message``, ``foreign`` (another exception type), ``memory``
  (``MemoryError`` under the cap, or the process killed), ``hang`` (the timeout),
  ``outside`` (a canary value read from another file, or a FIFO opened: it blocks,
  so a hang of a case whose file points at a FIFO counts here), ``bad-value``.

Outside references point at canary files in the work folder: an HDF5 file and a raw
file full of :data:`CANARY`, and a FIFO nobody writes to.

Also a script: ``python hostile_fuzz.py child SURFACE PATH WORKDIR`` runs one case and
prints its outcome as one JSON line (what :func:`run_case` starts).
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from hostile_payloads import json_paths, zip_bytes

CANARY = 4242.5
MAX_MESSAGE = 2_000
TIMEOUT_S = 60
MEMORY_CAP = 4 * 2 ** 30
HERE = Path(__file__).resolve().parent
JUNK = [None, True, False, 0, -1, 1, 2.7, 1.9, 2 ** 31, 10 ** 9, 10 ** 12, 1e300, -1e300,
        float("nan"), float("inf"), "", "x", "relu", "../../etc", "/etc/passwd",
        [], [1], [[[[[]]]]], {}, {"low": 1, "high": 10 ** 9}, {"low": 5, "high": 1},
        "ab", [">=", "x"], "x" * 100_000]


# --- the files every mutant starts from ------------------------------------------------
def base_graph():
    """A small conv network as NIR nodes: Input (1, 6, 6) -> Conv2d 2x3x3 -> IF -> LI
    -> Flatten -> Affine 8 -> IF -> LI -> Linear 3 -> Output."""
    import nir

    rng = np.random.default_rng(23)
    n_conv = (2, 4, 4)

    def neuron(shape):
        return nir.IF(r=np.ones(shape), v_threshold=np.ones(shape),
                      v_reset=np.zeros(shape))

    def synapse(shape):
        return nir.LI(tau=np.full(shape, 0.005), r=np.ones(shape), v_leak=np.zeros(shape))

    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.uniform(0, 0.5, (2, 1, 3, 3)),
                           stride=1, padding=0, dilation=1, groups=1,
                           bias=rng.uniform(0, 0.1, 2)),
        "conv_if": neuron(n_conv), "conv_syn": synapse(n_conv),
        "flat": nir.Flatten(input_type={"input": np.array(n_conv)}, start_dim=0,
                            end_dim=-1),
        "hidden": nir.Affine(weight=rng.uniform(0, 0.3, (8, 32)),
                             bias=rng.uniform(0, 0.1, 8)),
        "hidden_if": neuron(8), "hidden_syn": synapse(8),
        "out": nir.Linear(weight=rng.normal(0, 1, (3, 8))),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                        type_check=False)


def write_base_files(workdir) -> dict:
    """The base NIR file (exported by snnkit: with its metadata), the FrozenNetwork it
    imports to, a data file for it, a search configuration, and the canaries.

    Returns
    -------
    dict
        ``{"nir", "network", "data", "config", "canary_h5", "canary_raw", "fifo"}``:
        paths (str).
    """
    import h5py
    import nir

    from snnkit.nir.export import to_nir
    from snnkit.nir.importer import from_nir

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    network = from_nir(base_graph())
    paths = {"nir": workdir / "base.nir", "network": workdir / "base.snn.npz",
             "data": workdir / "base_data.npz", "config": workdir / "base_config.json",
             "canary_h5": workdir / "canary.h5", "canary_raw": workdir / "canary.raw",
             "fifo": workdir / "canary.fifo"}
    buffer = io.BytesIO()
    nir.write(buffer, to_nir(network))
    paths["nir"].write_bytes(buffer.getvalue())
    network.save(paths["network"])
    rng = np.random.default_rng(0)
    np.savez(paths["data"], x_train=rng.uniform(0, 1, (40, 6, 6, 1)).astype(np.float32),
             y_train=rng.integers(0, 3, 40), x_test=rng.uniform(0, 1, (30, 6, 6, 1)),
             y_test=rng.integers(0, 3, 30))
    config = {"search": "scale", "network": str(paths["network"]),
              "data": {"file": str(paths["data"]), "n_val": 10, "val_from": "test"},
              # relative: each case runs in a folder of its own
              "options": {"scale_range": [2, 2], "n_steps": {"low": 5, "high": 10},
                          "objective": "accuracy", "oracle": "random", "max_trials": 2,
                          "backend": "loihi-emulator-fast", "directory": "tune",
                          "project_name": "fuzz"},
              "export": "tune/best.snn.npz", "summary": "tune/summary.json"}
    paths["config"].write_text(json.dumps(config, indent=1))
    with h5py.File(paths["canary_h5"], "w") as f:
        f["data"] = np.full((64, 64), CANARY)
    paths["canary_raw"].write_bytes(np.full(4096, CANARY).tobytes())
    if not paths["fifo"].exists():
        os.mkfifo(paths["fifo"])
    return {k: str(v) for k, v in paths.items()}


# --- NIR mutants ---------------------------------------------------------------------
def _h5_items(path):
    """``(groups, datasets)``: every group and dataset path of an HDF5 file."""
    import h5py

    groups, datasets = [], []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: (groups if isinstance(obj, h5py.Group)
                                        else datasets).append(name))
    return groups, datasets


def _copy(base, path):
    Path(path).write_bytes(Path(base).read_bytes())
    return path


def _junk_dataset(rng):
    """A value to write in place of a dataset: junk of every kind."""
    choice = rng.randrange(14)
    if choice == 0:
        return np.array([np.nan, 1.0])
    if choice == 1:
        return np.array(np.inf)
    if choice == 2:
        return np.array(0)
    if choice == 3:
        return np.array(2.7)
    if choice == 4:
        return np.array(-3)
    if choice == 5:
        return np.array(1e300)
    if choice == 6:
        return np.zeros((0,))
    if choice == 7:
        return "not a number"
    if choice == 8:
        return np.array([b"\xff\xfe"], dtype="S2")
    if choice == 9:
        return np.ones((2, 3, 4, 5, 6))
    if choice == 10:
        return np.array([1 + 2j])
    if choice == 11:
        return np.array([True, False])
    if choice == 12:
        return np.array(2 ** 40, dtype=np.int64)
    return np.arange(rng.randrange(1, 50), dtype=np.float32)


def _write_value(f, name, value):
    import h5py

    del f[name]
    if isinstance(value, str):
        f.create_dataset(name, data=value, dtype=h5py.string_dtype())
    else:
        f.create_dataset(name, data=value)


def _mutate_json(text, rng):
    """JSON text with one random position replaced, deleted or grown."""
    value = json.loads(text)
    paths = list(json_paths(value))[1:]
    if not paths:
        return json.dumps(rng.choice(JUNK)), "replace the whole value"
    path = rng.choice(paths)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    op = rng.choice(["replace", "replace", "replace", "delete", "grow"])
    if op == "delete":
        del parent[path[-1]]
    elif op == "grow" and isinstance(parent[path[-1]], dict):
        parent[path[-1]][rng.choice(["extra", "dt", "x" * 50])] = rng.choice(JUNK)
    elif op == "grow" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
        parent[path[-1]].append(parent[path[-1]][0])
    else:
        parent[path[-1]] = rng.choice(JUNK)
    return json.dumps(value), f"{op} {'/'.join(map(str, path))[:60]}"


def nir_mutants(files, outdir, n, seed=23, with_hostile=True):
    """``n`` mutants of the base NIR file, written to ``outdir``: the files of
    :func:`hostile_nir_files` (``with_hostile``), then random ones.

    Returns
    -------
    list of (str, str, bool)
        ``(what, path, points_outside)``.
    """
    import h5py

    rng = random.Random(seed)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    base = files["nir"]
    data = Path(base).read_bytes()
    groups, datasets = _h5_items(base)
    hostile = hostile_nir_files(files, outdir) if with_hostile else []
    cases = list(hostile)
    kinds = ["flip"] * 25 + ["truncate"] * 8 + ["value"] * 40 + ["delete"] * 8 + \
        ["add"] * 4 + ["metadata"] * 15
    i = 0
    while len(cases) < n:
        kind = rng.choice(kinds)
        path = outdir / f"m{i:04d}.nir"
        i += 1
        if kind == "flip":
            flipped = bytearray(data)
            spots = [rng.randrange(len(data)) for _ in range(rng.randint(1, 3))]
            for spot in spots:
                flipped[spot] ^= rng.randint(1, 255)
            path.write_bytes(bytes(flipped))
            cases.append((f"flip bytes {spots}", str(path), False))
        elif kind == "truncate":
            size = rng.randrange(len(data))
            path.write_bytes(data[:size])
            cases.append((f"truncate to {size}", str(path), False))
        elif kind == "value":
            name = rng.choice(datasets)
            value = _junk_dataset(rng)
            with h5py.File(_copy(base, path), "r+") as f:
                _write_value(f, name, value)
            cases.append((f"{name} = {str(value)[:40]}", str(path), False))
        elif kind == "delete":
            name = rng.choice(datasets + groups)
            with h5py.File(_copy(base, path), "r+") as f:
                if name in f:
                    del f[name]
            cases.append((f"delete {name}", str(path), False))
        elif kind == "add":
            group = rng.choice(groups)
            with h5py.File(_copy(base, path), "r+") as f:
                f[group].create_dataset("surprise", data=np.arange(3))
            cases.append((f"add {group}/surprise", str(path), False))
        else:
            with h5py.File(_copy(base, path), "r+") as f:
                text = f["node/metadata/snnkit"][()].decode()
                mutated, what = _mutate_json(text, rng)
                _write_value(f, "node/metadata/snnkit", mutated)
            cases.append((f"metadata: {what}", str(path), False))
    return cases[:max(n, len(hostile))]


SLOW_TO_WRITE = ("many-groups", "chain-1500")


def hostile_nir_files(files, outdir, skip=()):
    """One NIR file per class of the issue: outside data, hangs, memory, recursion,
    absurd values (but those named in ``skip``, e.g. :data:`SLOW_TO_WRITE`).

    Returns
    -------
    list of (str, str, bool)
        ``(what, path, points_outside)``.
    """
    import h5py

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    base = files["nir"]
    cases = []

    def case(name, outside=False):
        path = outdir / f"h_{name}.nir"
        cases.append((name, str(path), outside))
        return _copy(base, path)

    bias = "node/nodes/hidden/bias"
    for name, source in (("vds-canary", files["canary_h5"]),
                         ("vds-fifo", files["fifo"])):
        with h5py.File(case(name, True), "r+") as f:
            layout = h5py.VirtualLayout(shape=(8,), dtype="f8")
            layout[:] = h5py.VirtualSource(source, "data", shape=(64, 64))[0, :8]
            del f[bias]
            f.create_virtual_dataset(bias, layout, fillvalue=0)
    for name, source in (("vds-missing", str(outdir / "nowhere.h5")),):
        with h5py.File(case(name, True), "r+") as f:
            layout = h5py.VirtualLayout(shape=(8,), dtype="f8")
            layout[:] = h5py.VirtualSource(source, "data", shape=(8,))
            del f[bias]
            f.create_virtual_dataset(bias, layout, fillvalue=0)
    for name, source in (("external-storage-canary", files["canary_raw"]),
                         ("external-storage-fifo", files["fifo"])):
        with h5py.File(case(name, True), "r+") as f:
            del f[bias]
            f.create_dataset(bias, shape=(8,), dtype="f8", external=[(source, 0, 64)])
    for name, source in (("external-link-canary", files["canary_h5"]),
                         ("external-link-fifo", files["fifo"])):
        with h5py.File(case(name, True), "r+") as f:
            del f[bias]
            f[bias] = h5py.ExternalLink(source, "/data")
    with h5py.File(case("soft-link"), "r+") as f:
        del f[bias]
        f[bias] = h5py.SoftLink("/node/nodes/conv/bias")
    with h5py.File(case("soft-link-cycle"), "r+") as f:
        f["node/nodes/hidden/loop"] = h5py.SoftLink("/node")
    with h5py.File(case("hard-link-cycle"), "r+") as f:
        f["node/nodes/hidden/loop"] = f["node"]
    with h5py.File(case("hard-links-to-a-bomb"), "r+") as f:  # 64 links, 512 MiB each
        bomb = f["node/nodes/hidden"].create_dataset(
            "bomb", shape=(2 ** 26,), dtype="f8", chunks=(2 ** 20,), compression="gzip")
        for k in range(64):
            f[f"node/nodes/hidden/link{k}"] = bomb
    for name, depth in (("deep-groups-40", 40), ("deep-groups-8000", 8000)):
        with h5py.File(case(name), "r+") as f:
            group = f["node/nodes/hidden"]
            for _ in range(depth):
                group = group.create_group("g")
    if "many-groups" not in skip:
        with h5py.File(case("many-groups"), "r+") as f:
            group = f["node/nodes/hidden"].create_group("many")
            for k in range(50_000):
                group.create_group(str(k))
    with h5py.File(case("fixed-string-100MB"), "r+") as f:
        f["node/nodes/hidden"].create_dataset(
            "text", shape=(1,), dtype="S100000000", chunks=(1,), compression="gzip")
    for name, meta in (
            ("metadata-40MB", {"format": "snnkit.nir", "format_version": 1,
                               "metadata": {"x": "y" * 40_000_000}}),
            ("metadata-deep", "[" * 100_000 + "]" * 100_000),
            ("metadata-scale-0", {"scale_firing_rates": {"hidden": 0}}),
            ("metadata-amplitude-0", {"neuron": {"name": "loihi-relu",
                                                 "params": {"amplitude": 0}}}),
            ("metadata-dt-1e300", {"dt": 1e300}),
            ("metadata-neuron-list", {"neuron": ["loihi-relu"]})):
        with h5py.File(case(name), "r+") as f:
            original = json.loads(f["node/metadata/snnkit"][()].decode())
            text = meta if isinstance(meta, str) else json.dumps(
                meta if "format" in meta else dict(original, **meta))
            _write_value(f, "node/metadata/snnkit", text)
    for name, field, value in (("conv-stride-0", "conv/stride", np.array([0, 0])),
                               ("conv-stride-2.7", "conv/stride", np.array([2.7, 2.7])),
                               ("conv-groups-1.9", "conv/groups", np.array(1.9)),
                               ("affine-weight-nan", "hidden/weight", None),
                               ("input-shape-huge", "input/shape",
                                np.array([1, 2 ** 24, 2 ** 24])),
                               ("tau-1e300", "conv.synapse/tau",
                                np.full((2, 4, 4), 1e300)),
                               ("threshold-tiny", "hidden.neurons/v_threshold",
                                np.full(8, 1e-320))):
        with h5py.File(case(name), "r+") as f:
            if value is None:
                value = f[f"node/nodes/{field}"][()].copy()
                value.flat[0] = np.nan
            _write_value(f, f"node/nodes/{field}", value)
    with h5py.File(case("many-unknown-members"), "r+") as f:
        for k in range(2_000):
            f["node/nodes/hidden"].create_dataset(f"unknown_member_{k:05d}", data=1)
    with h5py.File(case("long-node-name"), "r+") as f:
        f.move("node/nodes/out", "node/nodes/" + "o" * 10_000)
    if "chain-1500" not in skip:
        long_chain = outdir / "h_chain-1500.nir"
        _write_chain(long_chain, 1500)
        cases.append(("chain-1500", str(long_chain), False))
    return [c for c in cases if c[0] not in skip]


def _write_chain(path, n_layers):
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array([4])})}
    for k in range(n_layers):
        nodes[f"a{k}"] = nir.Affine(weight=np.eye(4), bias=np.zeros(4))
        nodes[f"n{k}"] = nir.IF(r=np.ones(4), v_threshold=np.ones(4),
                                v_reset=np.zeros(4))
    nodes["out"] = nir.Linear(weight=np.eye(4))
    nodes["output"] = nir.Output(output_type={"output": np.array([4])})
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                         type_check=False)
    nir.write(path, graph)


# --- data-file mutants -----------------------------------------------------------------
def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _claim(shape, descr="<f8") -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue() + b"\0" * 64


def data_mutants(files, outdir, n, seed=23):
    """``n`` mutants of the base data file: ``(what, path, False)``."""
    rng = random.Random(seed)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    raw = Path(files["data"]).read_bytes()
    with np.load(files["data"]) as archive:
        arrays = {k: archive[k] for k in archive.files}
    cases = []

    def add(what, data):
        path = outdir / f"d{len(cases):04d}.npz"
        path.write_bytes(data)
        cases.append((what, str(path), False))

    n_test = len(arrays["x_test"])
    fixed = [
        ("claims 2^28 float64 numbers", {"x_test.npy": _claim((2 ** 28, 1)),
                                         "y_test.npy": _claim((2 ** 28,), "<i8")}),
        ("claims 2^40 numbers", {"x_test.npy": _claim((2 ** 40, 1)),
                                 "y_test.npy": _npy(arrays["y_test"])}),
        ("header claims 4 GB", {"x_test.npy": b"\x93NUMPY\x02\x00\xff\xff\xff\xff" +
                                b" " * 1000, "y_test.npy": _npy(arrays["y_test"])}),
        ("pickled objects", {"x_test.npy": _npy(np.array([object()] * 3, dtype=object)),
                             "y_test.npy": _npy(np.arange(3))}),
        ("2000 unknown names", {f"unknown_{k:05d}.npy": _npy(np.arange(1))
                                for k in range(2000)}),
        ("labels negative", {"x_test.npy": _npy(arrays["x_test"]),
                             "y_test.npy": _npy(-np.ones(n_test, int))}),
        ("labels too large", {"x_test.npy": _npy(arrays["x_test"]),
                              "y_test.npy": _npy(np.full(n_test, 10 ** 6))}),
        ("labels float", {"x_test.npy": _npy(arrays["x_test"]),
                          "y_test.npy": _npy(np.zeros(n_test))}),
        ("x NaN", {"x_test.npy": _npy(np.full_like(arrays["x_test"], np.nan)),
                   "y_test.npy": _npy(arrays["y_test"])}),
        ("x complex", {"x_test.npy": _npy(arrays["x_test"].astype(np.complex64)),
                       "y_test.npy": _npy(arrays["y_test"])}),
        ("x wrong shape", {"x_test.npy": _npy(np.zeros((n_test, 5, 5, 1))),
                           "y_test.npy": _npy(arrays["y_test"])}),
        ("half a pair", {"x_test.npy": _npy(arrays["x_test"])}),
        ("empty archive", {}),
        ("nested zip", {"x_test.npy": raw, "y_test.npy": _npy(arrays["y_test"])}),
        ("a big train pair, test asked", {
            "x_train.npy": _claim((2 ** 27, 1)), "y_train.npy": _claim((2 ** 27,), "<i8"),
            "x_test.npy": _npy(arrays["x_test"]), "y_test.npy": _npy(arrays["y_test"])}),
    ]
    for what, members in fixed:
        add(what, zip_bytes(members, zipfile.ZIP_DEFLATED))
    add("not a zip", b"hello, not an archive")
    while len(cases) < n:
        kind = rng.choice(["flip", "flip", "truncate", "swap", "swap"])
        if kind == "flip":
            flipped = bytearray(raw)
            spots = [rng.randrange(len(raw)) for _ in range(rng.randint(1, 3))]
            for spot in spots:
                flipped[spot] ^= rng.randint(1, 255)
            add(f"flip bytes {spots}", bytes(flipped))
        elif kind == "truncate":
            size = rng.randrange(len(raw))
            add(f"truncate to {size}", raw[:size])
        else:
            key = rng.choice(sorted(arrays))
            dtype = rng.choice([np.float32, np.float64, np.int32, np.uint8, np.bool_,
                                np.complex64, np.int8, np.float16])
            shape = tuple(rng.randint(0, 7) for _ in range(rng.randint(0, 5)))
            swapped = dict(arrays, **{key: np.ones(shape, dtype)})
            add(f"{key} -> {np.dtype(dtype)} {shape}",
                zip_bytes({f"{k}.npy": _npy(v) for k, v in swapped.items()},
                          zipfile.ZIP_DEFLATED))
    return cases


# --- configuration mutants -------------------------------------------------------------
def config_mutants(files, outdir, n, seed=23):
    """``n`` mutants of the base search configuration: ``(what, path, False)``."""
    rng = random.Random(seed)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    text = Path(files["config"]).read_text()
    base = json.loads(text)
    cases = []

    def add(what, data):
        path = outdir / f"c{len(cases):04d}.json"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        cases.append((what, str(path), False))

    def changed(what, **options):
        config = json.loads(text)
        for key, value in options.items():
            if key in config["options"] or key not in config:
                config["options"][key] = value
            else:
                config[key] = value
        add(what, json.dumps(config))

    changed("n_steps 1e9", n_steps=1_000_000_000)
    changed("n_steps range to 1e9", n_steps={"low": 1, "high": 1_000_000_000})
    changed("max_trials 1e9", max_trials=1_000_000_000)
    changed("verbose loud", verbose="loud")
    changed("bad oracle_options", oracle="bayesian", oracle_options={"alpha": -1})
    changed("absolute project_name", project_name="/tmp")
    changed("project_name ..", project_name="..")
    changed("export = network", export=base["network"])
    changed("summary = data", summary=base["data"]["file"])
    path = outdir / f"c{len(cases):04d}.json"
    add("summary = this configuration", json.dumps(dict(base, summary=str(path))))
    changed("summary a folder", summary=str(Path(files["config"]).parent))
    changed("export a FIFO", export=files["fifo"])
    changed("network a FIFO", network=files["fifo"])
    changed("objective 1 MB", objective="x" * 1_000_000)
    add("options a string", json.dumps(dict(base, options="ab")))
    add("model 5", json.dumps({"search": "rate", "model": 5}))
    add("network 5", json.dumps(dict(base, network=5)))
    add("directory 5", json.dumps(dict(base, options=dict(base["options"], directory=5))))
    add("deep JSON", "[" * 100_000 + "]" * 100_000)
    add("not UTF-8", b"\xff\xfe{" + text.encode()[1:])
    add("2 MB", text + " " * 2 ** 21)
    while len(cases) < n:
        kind = rng.choice(["json", "json", "json", "json", "flip", "truncate"])
        if kind == "json":
            mutated, what = _mutate_json(text, rng)
            add(what, mutated)
        elif kind == "flip":
            flipped = bytearray(text.encode())
            spots = [rng.randrange(len(flipped)) for _ in range(rng.randint(1, 3))]
            for spot in spots:
                flipped[spot] ^= rng.randint(1, 255)
            add(f"flip bytes {spots}", bytes(flipped))
        else:
            size = rng.randrange(len(text))
            add(f"truncate to {size}", text[:size])
    return cases


# --- one case in its own process ------------------------------------------------------
def run_case(surface, path, files, *, outside=False, timeout=TIMEOUT_S,
             memory=MEMORY_CAP) -> dict:
    """Try one file in a fresh process (address space capped at ``memory`` bytes).

    Returns
    -------
    dict
        ``{"outcome", "detail", "seconds", "peak_rss_mb"}``.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "child", surface,
               str(path), json.dumps(files)]

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")]), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERASTUNER_ORACLE_IP", None)
    try:
        with tempfile.TemporaryDirectory(prefix="hostile-") as cwd:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout, preexec_fn=limit, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - start
        return {"outcome": "outside" if outside else "hang", "seconds": seconds,
                "detail": f"still running after {timeout} s", "peak_rss_mb": None}
    seconds = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode < 0 or not lines:
        # under the address-space cap, a shared library that cannot be mapped is
        # the same failure as a MemoryError: which one comes first depends on how
        # far start-up got
        out_of_memory = ("MemoryError", "failed to map segment from shared object")
        kind = "memory" if any(s in done.stderr for s in out_of_memory) or \
            done.returncode in (-9, -11, -6) else "foreign"
        return {"outcome": kind, "seconds": seconds, "peak_rss_mb": None,
                "detail": f"exit {done.returncode}: {done.stderr[-400:]}"}
    result = json.loads(lines[-1])
    result["seconds"] = seconds
    return result


def _child(surface, path, files):
    """Run one case; print ``{"outcome", "detail", "peak_rss_mb"}`` as JSON."""
    from snnkit.exceptions import SnnkitError

    outcome, detail = "loaded", ""
    try:
        outcome, detail = _CHILDREN[surface](path, files)
    except MemoryError as e:
        outcome, detail = "memory", f"MemoryError: {str(e)[:200]}"
    except SnnkitError as e:
        message = str(e)
        names = (path in message or Path(path).name in message
                 or "config[" in message or "--data" in message)
        outcome = ("long-message" if len(message) > MAX_MESSAGE else
                   "refused" if names else "unnamed")
        detail = f"{type(e).__name__}: {message[:300]}"
    except BaseException as e:  # noqa: BLE001  (what the fuzz is looking for)
        outcome, detail = "foreign", f"{type(e).__name__}: {str(e)[:300]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "detail": detail, "peak_rss_mb": peak}),
          flush=True)


def _child_nir(path, files):
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.nir.importer import from_nir

    network = from_nir(path)
    for name, arrays in network.weights.items():
        if any(np.isin(np.asarray(a, np.float64), [CANARY]).any() for a in arrays):
            return "outside", f"layer {name!r} holds the canary value"
    with tempfile.TemporaryDirectory() as folder:
        saved = network.save(Path(folder) / "again.snn.npz")
        try:
            FrozenNetwork.load(saved)
        except Exception as e:  # noqa: BLE001
            return "bad-value", f"saved, but does not load: {str(e)[:200]}"
    if not 1e-6 <= network.dt <= 1:
        return "bad-value", f"dt {network.dt}"
    return "loaded", f"{len(network.weights)} weighted layers"


def _child_data(path, files):
    from snnkit.cli.arguments import Images
    from snnkit.network.frozen import FrozenNetwork

    network = FrozenNetwork.load(files["network"])
    test = Images(path, ("test",))
    x, y, _ = test.take("test", "--n-test", None, network=network)
    train = Images(path, ("train",))
    x2, _, _ = train.take("train", "--n-images", None, network=network, labels=False)
    return "loaded", f"{len(x)} test and {len(x2)} training images"


def _child_config(path, files):
    from snnkit.tuning.config import build_search
    from snnkit.tuning.config_check import MAX_N_STEPS, MAX_TRIALS

    search = build_search(path)
    steps = [hp for hp in search.oracle.get_space().space if hp.name == "n_steps"]
    largest = max((hp.get_config().get("max_value") or max(
        hp.get_config().get("values") or [hp.get_config().get("value") or 0])
        for hp in steps), default=0)
    if largest > MAX_N_STEPS or search.max_trials > MAX_TRIALS:
        return "bad-value", f"n_steps up to {largest}, max_trials {search.max_trials}"
    return "loaded", f"n_steps up to {largest}, max_trials {search.max_trials}"


_CHILDREN = {"nir": _child_nir, "data": _child_data, "config": _child_config}


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "child":
    _child(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
