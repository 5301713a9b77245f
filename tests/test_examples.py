"""The scripts in ``examples/`` run: each on its tiny slice (``--small``), as a user
would run it (``python examples/NAME.py --small``), one after another in one fresh
process so the heavy stack is imported once, and each writes what its docstring says.
(Their CPU time is printed, not asserted: together they take about a minute of CPU.)
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# each example and the files it writes to its --out-dir
WRITES = {
    "keras_model_to_loihi": ("network.snn.npz", "results.json", "accuracy_by_step.png"),
    "latency_first": ("latency.snn.npz", "accuracy_by_step.csv", "accuracy_by_step.png"),
    "scale_search_pareto": ("pareto.csv", "pareto.png", "best.snn.npz"),
    "nir_out_and_in": ("network.snn.npz", "network.nir", "back.snn.npz"),
}

RUNNER = """
import json, resource, runpy, sys, traceback
sys.path.insert(0, {examples!r})
report = {{}}
for name, out in {runs!r}:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = usage.ru_utime + usage.ru_stime
    sys.argv = [name + ".py", "--small", "--out-dir", out]
    try:
        runpy.run_path({examples!r} + "/" + name + ".py", run_name="__main__")
        error = None
    except BaseException:
        error = traceback.format_exc()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report[name] = {{"error": error,
                     "cpu_s": usage.ru_utime + usage.ru_stime - start}}
print("REPORT " + json.dumps(report))
"""


def test_every_example_is_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py")} - {"common"}
    assert scripts == set(WRITES)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    runs = [(name, str(root / name)) for name in WRITES]
    done = subprocess.run([sys.executable, "-c",
                           RUNNER.format(examples=str(EXAMPLES), runs=runs)],
                          capture_output=True, text=True, timeout=1200, cwd=root)
    lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    print("CPU seconds per example (--small):",
          {name: round(r["cpu_s"], 1) for name, r in report.items()})
    return root, report, done.stdout


@pytest.mark.parametrize("name", sorted(WRITES))
def test_example_runs_small_and_writes_its_files(name, ran):
    root, report, _ = ran
    assert report[name]["error"] is None, report[name]["error"]
    for file in WRITES[name]:
        assert (root / name / file).is_file(), file


def test_examples_report_what_they_measured(ran):
    from snnkit import FrozenNetwork

    root, _, stdout = ran
    results = json.loads((root / "keras_model_to_loihi" / "results.json").read_text())
    assert 0 <= results["loihi_exact_accuracy"] <= 1
    assert results["loihi_exact_accuracy"] == results["accuracy_by_step"][-1]
    assert FrozenNetwork.load(root / "keras_model_to_loihi" / "network.snn.npz").readout \
        == results["readout"]
    latency = FrozenNetwork.load(root / "latency_first" / "latency.snn.npz")
    assert (latency.readout, latency.synapse) == ("mean", None)
    with open(root / "latency_first" / "accuracy_by_step.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 31))
    with open(root / "scale_search_pareto" / "pareto.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {"scale/conv1", "n_steps", "on_front"} <= set(rows[0])
    assert "outputs identical at every step: True" in stdout
    back = FrozenNetwork.load(root / "nir_out_and_in" / "back.snn.npz")
    original = FrozenNetwork.load(root / "nir_out_and_in" / "network.snn.npz")
    assert back.scale_firing_rates == pytest.approx(original.scale_firing_rates)
    assert all(np.array_equal(a, b) for layer in original.weights
               for a, b in zip(original.weights[layer], back.weights[layer]))


def test_the_small_switch_is_also_an_environment_variable(monkeypatch):
    import argparse

    monkeypatch.syspath_prepend(str(EXAMPLES))
    import common

    off = argparse.Namespace(small=False)
    monkeypatch.delenv(common.SMALL_ENV, raising=False)
    assert not common.small(off) and common.small(argparse.Namespace(small=True))
    monkeypatch.setenv(common.SMALL_ENV, "1")
    assert common.small(off)
    monkeypatch.setenv(common.SMALL_ENV, "0")
    assert not common.small(off)
