"""Start-up: importing snnkit and asking the CLI for help load none of the heavy stack
and change nothing in the process; the stack, once loaded by a function that needs
it, keeps its noise out of the terminal. (The times are measured by
``benchmarks/bench_startup.py``, not asserted here.)"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

import snnkit

HEAVY = ("tensorflow", "keras", "nengo", "nengo_dl", "nengo_loihi", "keras_tuner")


def _python(code: str, env=None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_import_loads_no_heavy_module_and_changes_no_process_state():
    code = (
        "import json, logging, os, sys, warnings\n"
        "import numpy  # numpy's own import adds warning filters: not snnkit's doing\n"
        "env, filters = dict(os.environ), list(warnings.filters)\n"
        "root = logging.getLogger().handlers[:]\n"
        "import snnkit, snnkit.backends, snnkit.backends.toolkit\n"
        "from snnkit.backends import backend_entries\n"
        "[(e.name, e.description) for e in backend_entries()]\n"
        "print(json.dumps({'heavy': [m for m in %r if m in sys.modules],\n"
        "                  'env_same': dict(os.environ) == env,\n"
        "                  'filters_same': list(warnings.filters) == filters,\n"
        "                  'root_same': logging.getLogger().handlers == root}))\n"
        % (HEAVY,))
    done = _python(code)
    assert json.loads(done.stdout) == {"heavy": [], "env_same": True,
                                       "filters_same": True, "root_same": True}
    assert done.stderr == ""


def test_help_and_usage_errors_load_no_heavy_module():
    """Every subcommand's --help and a usage error, in one process."""
    code = (
        "import argparse, contextlib, io, json, sys\n"
        "from snnkit.cli import build_parser, main\n"
        "parser = build_parser()\n"
        "commands = next(a for a in parser._actions\n"
        "                if isinstance(a, argparse._SubParsersAction)).choices\n"
        "codes = []\n"
        "for argv in [['--help'], ['--version']] + [[c, '--help'] for c in commands] + [\n"
        "        ['train', '--epochs', 'x'], ['nope']]:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as e:\n"
        "            codes.append(e.code)\n"
        "print(json.dumps({'codes': codes, 'commands': list(commands),\n"
        "                  'heavy': [m for m in %r if m in sys.modules]}))\n"
        % (HEAVY,))
    report = json.loads(_python(code).stdout)
    assert report["heavy"] == []
    assert {"train", "bench", "tune", "backends"} <= set(report["commands"])
    assert report["codes"] == [0, 0] + [0] * len(report["commands"]) + [2, 2]


def test_tuning_entry_point_help_loads_no_heavy_module():
    """``python -m snnkit.tuning --help``: the package exports lazily (PEP 562) and the
    entry point builds the tune command's parser alone, importing no other subcommand."""
    code = (
        "import contextlib, io, json, runpy, sys\n"
        "sys.argv = ['snnkit.tuning', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        runpy.run_module('snnkit.tuning', run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "print(json.dumps({'code': code, 'usage': out.getvalue().split()[:3],\n"
        "                  'heavy': [m for m in %r if m in sys.modules],\n"
        "                  'cli': sorted(m for m in sys.modules if m.startswith('snnkit.cli'))\n"
        "                  }))\n" % (HEAVY,))
    report = json.loads(_python(code).stdout)
    # the tune command alone: no other subcommand's module, nothing heavy
    assert report == {"code": 0, "usage": ["usage:", "python", "-m"], "heavy": [],
                      "cli": ["snnkit.cli", "snnkit.cli.arguments", "snnkit.cli.declared",
                              "snnkit.cli.interrupts", "snnkit.cli.output",
                              "snnkit.cli.tune"]}


def test_tuning_lazy_exports():
    import snnkit.tuning as tuning
    from snnkit.tuning.scale_search import ScaleSearch

    assert tuning.ScaleSearch is ScaleSearch
    assert set(tuning.__all__) <= set(dir(tuning))
    with pytest.raises(AttributeError, match="'snnkit.tuning' has no attribute 'Scale'"):
        tuning.Scale


def test_version():
    done = subprocess.run([sys.executable, "-m", "snnkit", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"snnkit {importlib.metadata.version('snnkit')}"
    assert snnkit.__version__ == importlib.metadata.version("snnkit")


def test_backends_command_lists_every_backend(capsys):
    from snnkit.backends import backend_entries, registered_backends
    from snnkit.backends.loihi.nxsdk import HAS_NXSDK
    from snnkit.cli import main

    assert main(["backends", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert tuple(rows) == registered_backends()
    for entry in backend_entries():
        assert rows[entry.name]["description"] == entry.description != ""
        assert rows[entry.name]["available"] == entry.is_available
    assert rows["nengo-dl"]["available"] and rows["nengo-dl"]["reason"] is None
    if not HAS_NXSDK:
        assert not rows["loihi"]["available"]
        assert rows["loihi"]["reason"].startswith("Intel's nxsdk")
    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    assert "nengo-dl             available    NengoDL's TensorFlow simulator" in text
    if not HAS_NXSDK:
        assert "loihi                unavailable  a Loihi board" in text
        assert "why: Intel's nxsdk" in text


def test_lazy_exports():
    from snnkit.network.frozen import FrozenNetwork

    assert snnkit.FrozenNetwork is FrozenNetwork
    assert set(snnkit.__all__) <= set(dir(snnkit))
    for name in snnkit.__all__:
        assert getattr(snnkit, name) is not None
    with pytest.raises(AttributeError, match="module 'snnkit' has no attribute 'Trainr'"):
        snnkit.Trainr


# Runs a nengo-dl simulator (it warns "No GPU support detected" each time one is
# built) and plans Loihi cores (a decision snnkit logs): none of it may print.
_STACK_AT_WORK = (
    "import warnings\n"
    "import numpy as np\n"
    "import snnkit\n"
    "from snnkit.backends import get_backend\n"
    "from snnkit.models import seed_convnet\n"
    "network = snnkit.from_keras(seed_convnet(), neuron_type='loihi-relu')\n"
    "for name in ('nengo-dl', 'loihi-emulator-fast'):\n"
    "    get_backend(name).run(network, np.zeros((1, 784)), n_steps=2)\n"
    "warnings.warn('a real warning')\n")


def test_stack_noise_stays_out_of_the_terminal():
    done = _python(_STACK_AT_WORK,
                   env={k: v for k, v in os.environ.items() if k != "SNNKIT_VERBOSE"})
    assert "a real warning" in done.stderr  # real warnings still reach the user
    for noise in ("TF-TRT", "has not been tested with", "No GPU", "oneDNN", "core plan"):
        assert noise not in done.stderr, done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_verbose_shows_the_stack_noise():
    done = _python(_STACK_AT_WORK, env=dict(os.environ, SNNKIT_VERBOSE="2"))
    assert "No GPU support detected" in done.stderr
    assert "has not been tested with" in done.stderr
