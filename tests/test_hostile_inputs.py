"""Hostile files, round 2 (issue 23): NIR files, data files, search configurations and
output paths. Each class the issue measured has a test here that fails if it comes
back; a small seeded slice of the fuzz of ``benchmarks/bench_hostile_files.py`` runs
each case in its own process with a timeout and an address-space cap. Payloads that
read outside the file are shown live first (nir's own reader follows them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import hostile_fuzz as H
import nir
import numpy as np
import pytest
from hostile_payloads import allocates_under, finishes, zip_bytes

from snnkit.cli import arguments, declared, main
from snnkit.exceptions import NIRError, ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.nir.importer import from_nir


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return H.write_base_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def hostile(files, tmp_path_factory):
    """``{class: (path, points_outside)}``: one NIR file per class of the issue."""
    cases = H.hostile_nir_files(files, tmp_path_factory.mktemp("hostile_nir"),
                                skip=H.SLOW_TO_WRITE)
    return {what: (path, outside) for what, path, outside in cases}


def _refused(path, *fragments) -> str:
    with pytest.raises(NIRError) as error:
        finishes(from_nir, path)
    message = str(error.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert len(message) <= H.MAX_MESSAGE
    return message


# --- NIR: nothing from outside the file ---------------------------------------------
def test_a_virtual_dataset_is_live_for_nir_itself(hostile):
    """The control: nir's own reader puts the other file's numbers into the weights
    (and, with the source missing, the fill value, silently)."""
    graph = nir.read(hostile["vds-canary"][0], type_check=False)
    np.testing.assert_array_equal(graph.nodes["hidden"].bias, np.full(8, H.CANARY))
    graph = nir.read(hostile["vds-missing"][0], type_check=False)
    np.testing.assert_array_equal(graph.nodes["hidden"].bias, np.zeros(8))


@pytest.mark.parametrize("case, fragment", [
    ("vds-canary", "has a virtual dataset 'node/nodes/hidden/bias'"),
    ("vds-missing", "has a virtual dataset"),
    ("vds-fifo", "has a virtual dataset"),  # a FIFO source would block forever
    ("external-storage-canary", "'node/nodes/hidden/bias' stored outside the file"),
    ("external-storage-fifo", "stored outside the file"),
    ("external-link-canary", "an external link node/nodes/hidden/bias"),
    ("external-link-fifo", "an external link"),
    ("soft-link", "a soft link node/nodes/hidden/bias (to /node/nodes/conv/bias)"),
])
def test_nothing_is_read_from_outside_the_file(hostile, case, fragment):
    _refused(hostile[case][0], fragment)


@pytest.mark.parametrize("case, fragment", [
    ("soft-link-cycle", "a soft link node/nodes/hidden/loop (to /node)"),
    ("hard-link-cycle", "an object linked more than once ('node': a cycle"),
    ("hard-links-to-a-bomb", "'node/nodes/hidden/bomb': a cycle or a shared object"),
    ("deep-groups-40", "groups nested deeper than 16 levels"),
    ("deep-groups-8000", "groups nested deeper than 16 levels"),
    ("fixed-string-100MB", "'node/nodes/hidden/text' of dtype |S100000000"),
])
def test_cycles_depth_and_bombs_are_refused_before_reading(hostile, case, fragment):
    """Refused from the structure alone: no recursion, no 512 MiB per link, no
    quadratic walk (8,000 nested groups took 146 s), nothing large allocated."""
    with allocates_under(64 * 2 ** 20):
        _refused(hostile[case][0], fragment)


def test_object_counts_are_capped(files, tmp_path, monkeypatch):
    import snnkit.nir.file as nir_file

    monkeypatch.setattr(nir_file, "LIMITS", nir_file.LIMITS.__class__(
        **dict(vars(nir_file.LIMITS), max_objects=20)))
    _refused(files["nir"], "more than 20 objects")


@pytest.mark.parametrize("case, fragments", [
    ("conv-stride-0", ["node 'conv' (Conv2d): stride: expected 1..2 integers in "
                       "1..65536, got [0, 0]"]),
    ("conv-stride-2.7", ["node 'conv' (Conv2d): stride", "got [2.7, 2.7]"]),
    ("conv-groups-1.9", ["node 'conv' (Conv2d): groups: expected an integer", "1.9"]),
    ("affine-weight-nan", ["node 'hidden' (Affine): weight: expected finite numbers"]),
    ("input-shape-huge", ["node 'input' (Input): shape: expected at most 16777216 "
                          "entries"]),
    ("tau-1e300", ["node 'conv.synapse' (LI): tau: expected time constants in "
                   "(0, 10000] s"]),
    ("threshold-tiny", ["node 'hidden' (Affine): its weight times the gains folded "
                        "into it", "is not a finite float32 number"]),
    ("metadata-dt-1e300", ["metadata['snnkit']['dt']: expected a time step in seconds "
                           "in 1e-06..1, got 1e+300"]),
    ("metadata-scale-0", ["metadata['snnkit']['scale_firing_rates']: expected"]),
    ("metadata-amplitude-0", ["metadata['snnkit']['neuron']['params']['amplitude']: "
                              "expected a finite number > 0, got 0"]),
    ("metadata-neuron-list", ["metadata['snnkit']['neuron']: expected"]),
    ("metadata-deep", ["metadata['snnkit']: JSON nested 100000 deep, more than 36"]),
    ("metadata-40MB", ["'node/metadata/snnkit' holds 40000068 bytes of text, more "
                       "than 4194304"]),
    ("many-unknown-members", ["node 'hidden' (Affine): unknown field(s)"]),
    ("long-node-name", ["node name 'ooooo", "expected 1..256 characters"]),
])
def test_absurd_values_are_refused_naming_the_file_and_the_node(hostile, case,
                                                                fragments):
    """Once ZeroDivisionError, OverflowError, RecursionError, a stride of 2.7 read as
    2, dt = 1e300 accepted, a 618 KB message: now one short NIRError each."""
    _refused(hostile[case][0], *fragments)


def _chain(n_layers, stride=1.0):
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 4, 4])}),
             "conv": nir.Conv2d(input_shape=None, weight=np.ones((1, 1, 1, 1)),
                                stride=np.array([stride, stride]), padding=0,
                                dilation=1, groups=1, bias=np.zeros(1)),
             "flat": nir.Flatten(input_type={"input": None}, start_dim=0, end_dim=-1)}
    width = 16 if stride == 1 else 4
    for k in range(n_layers):
        nodes[f"a{k}"] = nir.Affine(weight=np.eye(width), bias=np.zeros(width))
        nodes[f"n{k}"] = nir.IF(r=np.ones(width), v_threshold=np.ones(width),
                                v_reset=np.zeros(width))
    nodes["out"] = nir.Linear(weight=np.eye(width))
    nodes["output"] = nir.Output(output_type={"output": np.array([width])})
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])),
                        type_check=False)


def test_integral_strides_are_read_and_others_refused():
    assert from_nir(_chain(1, stride=2.0)).layer_shape("conv") == (2, 2, 1)
    with pytest.raises(NIRError, match=r"graph: node 'conv' \(Conv2d\): stride: .* got "
                                       r"\[2\.5, 2\.5\]"):
        from_nir(_chain(1, stride=2.5))


def test_a_chain_over_the_layer_limit_is_refused_before_anything_is_built():
    """1,500 layers ended in a RecursionError once Keras built them: the walk stops
    at the limit, before any model."""
    with pytest.raises(NIRError, match=r"node 'a\d+' \(Affine\): makes more than 1000 "
                                       r"layers"):
        finishes(from_nir, _chain(1000))


def test_a_network_read_from_nir_loads_again(files, tmp_path):
    network = from_nir(files["nir"])
    again = FrozenNetwork.load(network.save(tmp_path / "again.snn.npz"))
    assert again.weights.keys() == network.weights.keys()


def test_a_header_no_reader_accepts_is_never_written(files, tmp_path):
    from snnkit.utils.files import MAX_HEADER_BYTES

    network = from_nir(files["nir"]).replace(
        metadata={"notes": "x" * (MAX_HEADER_BYTES + 1)})
    with pytest.raises(ValidationError, match="the header would be .* bytes, more than "
                                              f"the {MAX_HEADER_BYTES} a reader accepts"):
        network.save(tmp_path / "big.snn.npz")
    assert not list(tmp_path.iterdir())


# --- the fuzz, a seeded slice: each case in its own process ----------------------------
@pytest.mark.parametrize("surface, make, n", [
    ("nir", H.nir_mutants, 6), ("data", H.data_mutants, 4)])
def test_mutants_in_their_own_processes(files, tmp_path, surface, make, n):
    import random

    cases = make(files, tmp_path / surface, 40, seed=5, **(
        {"with_hostile": False} if surface == "nir" else {}))
    picked = random.Random(5).sample(cases, min(n, len(cases)))
    outcomes = [H.run_case(surface, path, files, outside=outside, timeout=120)
                for _, path, outside in picked]
    bad = [(what, o) for (what, _, _), o in zip(picked, outcomes)
           if o["outcome"] not in ("refused", "loaded")]
    assert not bad, bad


def test_the_harness_sees_hangs_memory_and_the_fifo(files):
    """The harness itself: a case over its time is a hang, one over its address space
    a memory failure; a FIFO given as the NIR file is refused before it is opened."""
    assert H.run_case("nir", files["nir"], files, timeout=0.01)["outcome"] == "hang"
    assert H.run_case("nir", files["nir"], files, memory=2 ** 24)["outcome"] == "memory"
    fifo = H.run_case("nir", files["fifo"], files, timeout=60)
    assert fifo["outcome"] == "refused" and "not a regular file" in fifo["detail"]


CONFIG_CASES = [
    ({"n_steps": 1_000_000_000}, "config['options']['n_steps']: expected an int in "
                                 "1..10000"),
    ({"n_steps": {"low": 1, "high": 10 ** 9}}, "config['options']['n_steps']: "
                                               'expected {"low": a, "high": b}'),
    ({"max_trials": 10 ** 9}, "config['options']['max_trials']: expected an int in "
                              "1..100000"),
    ({"verbose": "loud"}, "config['options']['verbose']: expected an int in 0..2"),
    ({"directory": 5}, "config['options']['directory']: expected a text"),
    ({"oracle": "bayesian", "oracle_options": {"alpha": -1}},
     "config['options']['oracle_options']['alpha']: expected a finite number"),
    ({"oracle_options": {"nope": 1}}, "config['options']['oracle_options']: unknown "
                                      "key(s) nope"),
    ({"project_name": "/tmp"}, "config['options']['project_name']: expected a folder "
                               "name (no path"),
    ({"project_name": "../up"}, "config['options']['project_name']"),
    ({"objective": "x" * 500_000}, "config['options']['objective']: expected a text "
                                      "of 1..200 characters"),
]


@pytest.mark.parametrize("options, message", CONFIG_CASES,
                         ids=[str(o)[:30] for o, _ in CONFIG_CASES])
def test_configuration_fields_are_checked_before_anything_runs(files, tmp_path, options,
                                                               message):
    from snnkit.tuning.config import load_config
    from snnkit.tuning.errors import SearchConfigError

    config = json.loads(Path(files["config"]).read_text())
    config["options"].update(options)
    config["options"]["directory"] = options.get("directory", str(tmp_path / "tune"))
    path = tmp_path / "search.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SearchConfigError) as error:
        load_config(path)
    assert message in str(error.value) and len(str(error.value)) <= H.MAX_MESSAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.json"]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["options"].update(objective="acculacy"),
     "config['options']['objective']: objective: metric 'acculacy' is not reported"),
    (lambda c: c.pop("data"), "config['data']: x_val: expected shape (N, 6, 6, 1)"),
])
def test_a_search_refusing_its_arguments_names_the_configuration_field(files, tmp_path,
                                                                      change, message):
    """Errors raised by the search itself (not the configuration check) name the field
    of the configuration they come from (found by the fuzz: a misspelt metric; a
    missing data file, so MNIST, whose images do not fit the network)."""
    from snnkit.tuning.config import build_search
    from snnkit.tuning.errors import SearchConfigError

    config = json.loads(Path(files["config"]).read_text())
    config["options"]["directory"] = str(tmp_path / "tune")
    change(config)
    with pytest.raises(SearchConfigError) as error:
        build_search(config)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("change, message", [
    (lambda c, f: c.update(model=5, search="rate", network=None),
     "config['model']: expected a text"),
    (lambda c, f: c.update(network=5), "config['network']: expected a text"),
    (lambda c, f: c.update(options="ab"), "config['options']: expected a JSON object"),
    (lambda c, f: c.update(export=c["network"]), "config['export']: "),
    (lambda c, f: c.update(summary=c["data"]["file"]), "is the input "
                                                       "config['data']['file']"),
    (lambda c, f: c.update(summary=str(f)), "is the input config"),
    (lambda c, f: c.update(summary=str(f.parent)), "config['summary']: expected a file "
                                                   "path, got a folder"),
])
def test_outputs_of_a_search_are_checked_before_it_starts(files, tmp_path, change,
                                                          message, capsys):
    config = json.loads(Path(files["config"]).read_text())
    path = tmp_path / "search.json"
    config["options"]["directory"] = str(tmp_path / "tune")
    change(config, path)
    config = {k: v for k, v in config.items() if v is not None}
    path.write_text(json.dumps(config))
    before = {p: p.read_bytes() for p in (Path(files["network"]), Path(files["data"]))}
    assert main(["tune", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "tune").exists()  # nothing ran
    assert all(p.read_bytes() == data for p, data in before.items())


def test_config_mutants_are_refused_or_stay_in_range(files, tmp_path, monkeypatch):
    from snnkit.tuning.config import load_config
    from snnkit.tuning.config_check import MAX_N_STEPS, MAX_TRIALS
    from snnkit.tuning.errors import SearchConfigError

    monkeypatch.chdir(tmp_path)
    accepted = refused = 0
    for what, path, _ in H.config_mutants(files, tmp_path / "c", 60, seed=5)[21:]:
        try:
            config = finishes(load_config, path, seconds=60)
        except SearchConfigError as e:
            assert "config" in str(e) and len(str(e)) <= H.MAX_MESSAGE, (what, e)
            refused += 1
            continue
        accepted += 1
        steps = config.get("options", {}).get("n_steps", 30)
        largest = max(steps.values() if isinstance(steps, dict) else
                      steps if isinstance(steps, list) else [steps])
        assert largest <= MAX_N_STEPS, what
        assert config.get("options", {}).get("max_trials", 20) <= MAX_TRIALS, what
    assert refused > 10 and accepted > 3, (refused, accepted)


# --- data files -----------------------------------------------------------------------
def test_only_the_pair_a_command_needs_is_read(files, tmp_path):
    """bench reads the test pair: a training pair claiming 2 GiB (1.4 MB on disk as
    a compressed claim) is never read; asked for, it is refused from its headers."""
    with np.load(files["data"]) as archive:
        test = {k: archive[k] for k in ("x_test", "y_test")}
    members = {f"{k}.npy": H._npy(v) for k, v in test.items()}
    members["x_train.npy"] = H._claim((2 ** 27, 1))
    members["y_train.npy"] = H._claim((2 ** 27,), "<i8")
    path = tmp_path / "big_train.npz"
    path.write_bytes(zip_bytes(members, zipfile.ZIP_DEFLATED))
    network = FrozenNetwork.load(files["network"])
    with allocates_under(32 * 2 ** 20):
        x, y, _ = arguments.Images(path, ("test",)).take("test", "--n-test", None,
                                                        network=network)
    assert len(x) == len(test["x_test"])
    with allocates_under(32 * 2 ** 20), pytest.raises(
            ValidationError, match=r"--data: .*big_train.npz: the arrays this command "
                                   r"reads \(train\) hold 2147483648 bytes, more than "
                                   r"1073741824"):
        arguments.Images(path, ("train",))


def test_train_checks_its_test_labels_before_training(tmp_path, capsys, monkeypatch):
    from snnkit.training.trainer import Trainer

    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=rng.uniform(0, 1, (20, 28, 28, 1)).astype(np.float32),
             y_train=rng.integers(0, 10, 20), x_test=rng.uniform(0, 1, (10, 28, 28, 1)),
             y_test=np.full(10, 12))
    fits = []
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: fits.append(1))
    code = main(["train", "--data", str(data), "--n-test", "10", "--epochs", "1",
                 "--out", str(tmp_path / "net.snn.npz")])
    err = capsys.readouterr().err
    assert code == 1 and "--data test labels" in err and "0..9" in err, err
    assert fits == []


# --- outputs: never an input, never anything but a regular file ------------------------
def _same_bytes_after(path, argv, capsys, *fragments):
    before = Path(path).read_bytes()
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    assert Path(path).read_bytes() == before


def test_no_command_overwrites_its_own_input(files, tmp_path, capsys):
    nir_file = Path(tmp_path / "same.nir")
    nir_file.write_bytes(Path(files["nir"]).read_bytes())
    network = Path(tmp_path / "net.snn.npz")
    network.write_bytes(Path(files["network"]).read_bytes())
    data = Path(tmp_path / "d.npz")
    data.write_bytes(Path(files["data"]).read_bytes())
    linked = tmp_path / "hard-link.nir"
    os.link(nir_file, linked)
    symlink = tmp_path / "sym.snn.npz"
    symlink.symlink_to(network)
    _same_bytes_after(nir_file, ["convert", "--from-nir", nir_file, "--out", nir_file],
                      capsys, "--out:", "is the input --from-nir")
    _same_bytes_after(nir_file, ["convert", "--from-nir", nir_file, "--out", linked],
                      capsys, "or a link to it")
    _same_bytes_after(network, ["export", network, "--format", "nir", "--out", network],
                      capsys, "--out:", "is the input network")
    _same_bytes_after(network, ["export", symlink, "--format", "nir", "--out", network],
                      capsys, "is the input network")
    _same_bytes_after(data, ["train", "--data", data, "--out", data], capsys,
                      "is the input --data")
    _same_bytes_after(network, ["calibrate", network, "--data", data, "--out", symlink],
                      capsys, "is the input network")


def test_a_fifo_or_a_device_is_never_replaced(files, tmp_path, capsys):
    from snnkit.utils.files import atomic_write

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    assert main(["convert", "--from-nir", files["nir"], "--out", str(fifo)]) == 1
    assert "is a FIFO, not a regular file" in capsys.readouterr().err
    network = FrozenNetwork.load(files["network"])
    for target in (fifo, Path("/dev/null")):
        with pytest.raises(ValidationError, match="not a regular file"):
            network.save(target)
        with pytest.raises(ValidationError, match="not a regular file"), \
                atomic_write(target) as f:
            f.write(b"x")
    assert fifo.is_fifo() and Path("/dev/null").is_char_device()


# --- kills and interruptions ----------------------------------------------------------
def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    """A plot killed mid-write (bench) left ``.accuracy.png.<pid>.<random>.tmp``: the
    next write of that file, by any writer, removes it; a live writer's is kept."""
    from snnkit.utils.files import atomic_write

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".accuracy.png.{gone}.k1ll3d.tmp"
    live = tmp_path / f".accuracy.png.{os.getpid()}.busy.tmp"
    other = tmp_path / f".rates.png.{gone}.k1ll3d.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"half a png")
    with atomic_write(tmp_path / "accuracy.png") as f:
        f.write(b"png")
    assert not stale.exists() and live.exists() and other.exists()


def test_ctrl_c_while_the_command_loads_is_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(declared, "runner", interrupted)
    assert main(["inspect", "x.snn.npz"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["snnkit: interrupted"]


@pytest.mark.parametrize("delay", [0.0, 2.0])
def test_ctrl_c_at_any_moment_is_one_line(tmp_path, delay):
    """A real SIGINT to ``snnkit train``: at once (its modules load) and later
    (TensorFlow loads, training starts); one line, exit 130. ``main`` is called as
    ``snnkit/__main__.py`` calls it (``python -m`` first compiles that file, a
    window of Python's own before any snnkit code runs, where Ctrl-C is Python's)."""
    starter = ("import sys, snnkit\n"
               "try:\n"
               "    from snnkit.cli import main\n"
               "    print('ready', flush=True)\n"
               "    code = main(['train', '--epochs', '1', '--n-train', '200', "
               f"'--out', {str(tmp_path / 'x.snn.npz')!r}])\n"
               "except KeyboardInterrupt:\n"
               "    print('snnkit: interrupted', file=sys.stderr)\n"
               "    code = 130\n"
               "sys.exit(code)\n")
    process = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stdout.readline().strip() == "ready"
    threading.Event().wait(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 130 and len(lines) == 1, err[-2000:]
    assert lines[0] in ("snnkit: interrupted", "snnkit train: interrupted")


FINALIZER_INTERRUPTED = """
import signal, sys, time
from snnkit.cli import declared, main

class Cleanup:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while a library's finalizer runs
        for _ in range(10000):
            pass

def runner(args):
    def work(args):
        Cleanup()  # dropped at once: its finalizer runs here
        time.sleep(60)
        print("finished", flush=True)
        return 0
    return work

declared.runner = runner
sys.exit(main(["backends"]))
"""


def test_ctrl_c_inside_a_finalizer_still_stops_the_command(tmp_path):
    """Python drops a KeyboardInterrupt raised in a finalizer ("Exception ignored
    in"), so a Ctrl-C landing in a library's cleanup let ``snnkit train`` run to its
    end (found by the test above on a loaded machine): it is raised again once the
    finalizer returns, one line, exit 130."""
    script = tmp_path / "interrupted.py"
    script.write_text(FINALIZER_INTERRUPTED)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 130 and lines == ["snnkit backends: interrupted"], \
        done.stderr[-2000:]
    assert "finished" not in done.stdout


def test_an_error_line_is_bounded(capsys):
    def fails(args):
        raise ValidationError("x" * 50_000_000)

    class Args:
        debug = False

    assert arguments.run_reporting_errors("tune", fails, Args()) == 1
    err = capsys.readouterr().err
    assert len(err) <= arguments.MAX_MESSAGE + 40 and err.count("\n") == 1
