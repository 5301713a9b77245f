"""Start-up time: how long a newcomer waits for ``snnkit --help``, a usage error and
``import snnkit``, next to references measured in the same run.

Every figure is the median wall time of ``--repeats`` cold processes (a new Python
each time, as a user's shell starts one), in seconds. References: an empty Python
(``python -c pass``), and ``import tensorflow`` (what ``snnkit --help`` cost before
snnkit loaded its stack on first need). Target: the snnkit rows under 0.5 s.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.utils.files import atomic_write  # noqa: E402

TARGET_S = 0.5
SNNKIT = str(Path(sys.executable).with_name("snnkit"))

# label -> (command, expected exit code, a snnkit row with the target?)
CASES = {
    "python -c pass (reference)": ([sys.executable, "-c", "pass"], 0, False),
    "snnkit --help": ([SNNKIT, "--help"], 0, True),
    "snnkit train --help": ([SNNKIT, "train", "--help"], 0, True),
    "snnkit --version": ([SNNKIT, "--version"], 0, True),
    "python -m snnkit.tuning --help": (
        [sys.executable, "-m", "snnkit.tuning", "--help"], 0, True),
    "snnkit train --epochs x (usage error)": ([SNNKIT, "train", "--epochs", "x"], 2, True),
    "python -c 'import snnkit'": ([sys.executable, "-c", "import snnkit"], 0, True),
    "python -c 'import snnkit.backends'": (
        [sys.executable, "-c", "import snnkit.backends"], 0, True),
    "snnkit backends": ([SNNKIT, "backends"], 0, False),
    "python -c 'import tensorflow' (reference)": (
        [sys.executable, "-c", "import tensorflow"], 0, False),
}


def time_process(command, expected_code: int, repeats: int) -> float:
    """Median wall time of ``repeats`` fresh runs of ``command``, s."""
    times = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")  # the reference prints no noise
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
        if done.returncode != expected_code:
            raise SystemExit(f"{' '.join(command)}: exit code {done.returncode}, "
                             f"expected {expected_code}:\n{done.stderr.decode()}")
    return statistics.median(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="cold processes per figure (default 7)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    figures = {label: time_process(command, code, args.repeats)
               for label, (command, code, _) in CASES.items()}
    python = figures["python -c pass (reference)"]
    tensorflow = figures["python -c 'import tensorflow' (reference)"]
    print(f"median of {args.repeats} cold processes; target for snnkit rows: "
          f"< {TARGET_S} s")
    print(f"{'command':<42} {'s':>7} {'x python':>9} {'/ import tf':>12}  target")
    for label, seconds in figures.items():
        targeted = CASES[label][2]
        verdict = ("ok" if seconds < TARGET_S else "MISSED") if targeted else ""
        print(f"{label:<42} {seconds:7.3f} {seconds / python:9.1f} "
              f"{seconds / tensorflow:12.3f}  {verdict}")
    report = {"repeats": args.repeats, "target_s": TARGET_S, "median_s": figures}
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
