"""Float32 matrix products (GFLOP/s) with the BLAS kernel OpenBLAS picks on this
machine, and with kernels forced through OPENBLAS_CORETYPE, measured in one run.

OpenBLAS (numpy's, in the wheels) chooses a kernel from the CPU it detects. On a
virtual CPU that hides its model, it may choose a generic kernel (``Prescott``,
SSE3) several times slower than the CPU allows; ``OPENBLAS_CORETYPE=SkylakeX`` (or
``Haswell``...) forces one, if the CPU has its instructions (a kernel it lacks stops
the process with an illegal instruction: reported as failed). Every snnkit
throughput record names the kernel and threads in use (``blas`` in ``bench.json``).

Each kernel runs in its own process (OpenBLAS reads the variable when it loads):
``--size`` square float32 matrices multiplied, the fastest of ``--repeats`` products
after one warm-up, 2 size^3 floating-point operations each; the kernels take turns
for ``--rounds`` rounds and each keeps its fastest, so a neighbour's burst of CPU use
does not decide the comparison. The kernel OpenBLAS picks by itself is the reference.
Writes ``blas.json``, ``blas.csv`` and ``blas.png`` into ``--out``.

    .venv/bin/python benchmarks/bench_blas.py [--size 2048] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

# None: the kernel OpenBLAS picks by itself (the reference)
CORETYPES = (None, "Prescott", "Haswell", "SkylakeX")

_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info

n, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b  # warm-up: threads started, pages touched
times = []
for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - start)
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"
        and "numpy" in (i.get("filepath") or "")]
print(json.dumps({"seconds": min(times), "kernel": blas[0].get("architecture"),
                  "threads": blas[0].get("num_threads"),
                  "library": blas[0].get("internal_api"),
                  "version": blas[0].get("version")}))
"""


def measure(coretype: str | None, size: int, repeats: int,
            threads: int | None) -> dict:
    """One process: ``coretype`` forced (None: OpenBLAS' choice)."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(size), str(repeats)],
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return {"failed": f"exit {proc.returncode}: "
                          f"{(proc.stderr.strip().splitlines() or ['no message'])[-1]}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["gflops"] = 2 * size ** 3 / result["seconds"] / 1e9
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS (default: OpenBLAS' own choice)")
    parser.add_argument("--out", default="out/bench_blas")
    args = parser.parse_args(argv)

    best: dict = {}
    for i in range(args.rounds):
        order = CORETYPES if i % 2 == 0 else CORETYPES[::-1]
        for coretype in order:
            result = measure(coretype, args.size, args.repeats, args.threads)
            key = coretype or "default"
            if "failed" in result:
                best.setdefault(key, result)
            elif "gflops" not in best.get(key, {}) or \
                    result["gflops"] > best[key]["gflops"]:
                best[key] = result
        print(f"round {i + 1}/{args.rounds}: " + ", ".join(
            f"{k} {v['gflops']:.0f}" if "gflops" in v else f"{k} failed"
            for k, v in best.items()) + " GFLOP/s", file=sys.stderr, flush=True)

    reference = best["default"].get("gflops")
    rows = []
    for coretype in CORETYPES:
        key = coretype or "default"
        r = best[key]
        rows.append({"OPENBLAS_CORETYPE": coretype or "(unset)",
                     "kernel": r.get("kernel"), "threads": r.get("threads"),
                     "library": r.get("library"), "version": r.get("version"),
                     "gflops": r.get("gflops"),
                     "vs_default": None if r.get("gflops") is None or not reference
                     else r["gflops"] / reference,
                     "failed": r.get("failed")})
    from snnkit.utils.environment import machine_environment

    report = {"size": args.size, "repeats": args.repeats, "rounds": args.rounds,
              "rows": rows, "environment": machine_environment()}
    out = Path(args.out)
    paths = write_files(out, report)

    print(f"float32 {args.size}x{args.size} matrix product, numpy's OpenBLAS, fastest "
          f"of {args.repeats} x {args.rounds} rounds (the default kernel is the "
          "reference, measured in the same run)")
    print(f"{'OPENBLAS_CORETYPE':<18}{'kernel':>12}{'threads':>9}{'GFLOP/s':>10}"
          f"{'vs default':>12}")
    for r in rows:
        if r["failed"]:
            print(f"{r['OPENBLAS_CORETYPE']:<18}  failed ({r['failed']})")
            continue
        print(f"{r['OPENBLAS_CORETYPE']:<18}{r['kernel']:>12}{r['threads']:>9}"
              f"{r['gflops']:>10.1f}{r['vs_default']:>11.2f}x")
    print(f"CPU: {report['environment']['cpu']}, {report['environment']['cpu_affinity']} "
          "usable cores")
    print("wrote " + ", ".join(map(str, paths)))
    return report


def write_files(out: Path, report: dict) -> list[Path]:
    from snnkit.plots import new_figure, save_figure
    from snnkit.utils.files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "blas.json", "w") as f:
        json.dump(report, f, indent=2)
    text = io.StringIO()
    writer = csv.DictWriter(text, list(report["rows"][0]))
    writer.writeheader()
    writer.writerows(report["rows"])
    with atomic_write(out / "blas.csv", "w") as f:
        f.write(text.getvalue())
    done = [r for r in report["rows"] if r["gflops"] is not None]
    fig = new_figure((6.5, 3.6))
    ax = fig.subplots()
    labels = [f"{r['OPENBLAS_CORETYPE']}\n(kernel {r['kernel']})" for r in done]
    bars = ax.bar(range(len(done)), [r["gflops"] for r in done],
                  color=["0.4"] + ["C0"] * (len(done) - 1))
    ax.bar_label(bars, [f"{r['gflops']:.0f}" for r in done], fontsize=8)
    ax.set_xticks(range(len(done)), labels, fontsize=8)
    ax.set_ylabel("GFLOP/s")
    threads = sorted({r["threads"] for r in done})
    ax.set_title(f"float32 {report['size']}x{report['size']} matrix product by OpenBLAS "
                 f"kernel, {'/'.join(map(str, threads))} thread(s); grey: "
                 "OpenBLAS' own choice", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, out / "blas.png")
    return [out / "blas.json", out / "blas.csv", out / "blas.png"]


if __name__ == "__main__":
    main()
