"""Hostile NIR files, data files and search configurations, each tried in its own
process with a timeout and an address-space cap (issue 23).

Mutants: byte flips, truncations, junk values in every field, the hostile structures
of each class the issue lists (outside data through virtual datasets, external links
and storage, FIFOs; link cycles, deep groups, hard-linked bombs; absurd values;
oversized and deeply nested JSON; outputs naming inputs). Each outcome is one of
``refused`` (a snnkit error naming the file or field, at most 2,000 characters),
``loaded`` (accepted, nothing from outside the file, what it wrote loads again),
or a failure: ``unnamed``, ``long-message``, ``foreign`` (another exception type),
``memory``, ``hang``, ``outside``, ``bad-value`` (see ``tests/hostile_fuzz.py``).

Printed: the count of each outcome per surface, the slowest case and the largest
peak memory, next to the unmutated file's own read measured in the same run (the
reference: a mutant costs about what the real file costs). Written to ``--out``:
``hostile.json`` and ``hostile.csv`` (every case), ``hostile.png`` (outcomes per
surface). Exits 1 if any case fails.

    .venv/bin/python benchmarks/bench_hostile_files.py --nir 300 --data 100 --config 100
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile_fuzz as H  # noqa: E402

from snnkit.utils.files import atomic_write  # noqa: E402

GOOD = ("refused", "loaded")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nir", type=int, default=300, help="NIR mutants")
    parser.add_argument("--data", type=int, default=100, help="data-file mutants")
    parser.add_argument("--config", type=int, default=100, help="configuration mutants")
    parser.add_argument("--workers", type=int, default=2, help="processes at a time")
    parser.add_argument("--timeout", type=float, default=H.TIMEOUT_S,
                        help="seconds a case may take (at least; 3 times what the "
                             "unmutated file takes when that is longer: a loaded "
                             "machine is not a hang)")
    parser.add_argument("--memory-gb", type=float, default=H.MEMORY_CAP / 2 ** 30,
                        help="address-space cap of each case's process (GiB)")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "hostile")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "work"
    files = H.write_base_files(work)
    print(f"writing mutants to {work} ...", flush=True)
    surfaces = {
        "nir": H.nir_mutants(files, work / "nir", args.nir, args.seed),
        "data": H.data_mutants(files, work / "data", args.data, args.seed),
        "config": H.config_mutants(files, work / "config", args.config, args.seed),
    }
    memory = int(args.memory_gb * 2 ** 30)
    reference = {surface: H.run_case(surface, files[key], files, timeout=args.timeout,
                                     memory=memory)
                 for surface, key in (("nir", "nir"), ("data", "data"),
                                      ("config", "config"))}
    jobs = [(surface, what, path, outside)
            for surface, cases in surfaces.items() if cases
            for what, path, outside in cases]
    timeouts = {surface: max(args.timeout, 3 * ref["seconds"])
                for surface, ref in reference.items()}
    results = []
    with ThreadPoolExecutor(args.workers) as pool, \
            tqdm(total=len(jobs), desc="hostile files", unit="case") as bar:
        def one(job):
            surface, what, path, outside = job
            result = H.run_case(surface, path, files, outside=outside,
                                timeout=timeouts[surface], memory=memory)
            bar.update()
            return dict(result, surface=surface, case=what, path=path)

        results = list(pool.map(one, jobs))
    report = _report(results, reference, timeouts, args, memory)
    print(report)
    _write(args.out, results, reference)
    failures = [r for r in results if r["outcome"] not in GOOD]
    for r in failures[:40]:
        print(f"FAIL {r['surface']} {r['case']!r}: {r['outcome']}: {r['detail'][:300]}")
    bad_reference = [s for s, r in reference.items() if r["outcome"] != "loaded"]
    for surface in bad_reference:
        print(f"FAIL the unmutated {surface} file: {reference[surface]}")
    return 1 if failures or bad_reference else 0


def _report(results, reference, timeouts, args, memory) -> str:
    outcomes = ["refused", "loaded", "unnamed", "long-message", "foreign", "memory",
                "hang", "outside", "bad-value"]
    limits = ", ".join(f"{s} {t:.0f} s" for s, t in timeouts.items())
    lines = [f"each case its own process: timeout {limits}; address space "
             f"{memory / 2 ** 30:g} GiB; {args.workers} at a time", "",
             "| surface | tried | " + " | ".join(outcomes) +
             " | slowest (s) | peak RSS (MB) | unmutated file: s, MB |",
             "|---" * (len(outcomes) + 5) + "|"]
    for surface in ("nir", "data", "config"):
        rows = [r for r in results if r["surface"] == surface]
        if not rows:
            continue
        counts = [sum(r["outcome"] == o for r in rows) for o in outcomes]
        slowest = max(r["seconds"] for r in rows)
        peak = max((r.get("peak_rss_mb") or 0) for r in rows)
        ref = reference[surface]
        lines.append(f"| {surface} | {len(rows)} | " + " | ".join(map(str, counts)) +
                     f" | {slowest:.1f} | {peak:.0f} | {ref['seconds']:.1f}, "
                     f"{ref.get('peak_rss_mb') or 0:.0f} ({ref['outcome']}) |")
    return "\n".join(lines)


def _write(out, results, reference):
    with atomic_write(out / "hostile.json", "w") as f:
        json.dump({"reference": reference, "cases": results}, f, indent=1)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["surface", "case", "outcome", "seconds",
                                     "peak_rss_mb", "detail", "path"],
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(results)
    with atomic_write(out / "hostile.csv", "w") as f:
        f.write(buffer.getvalue())
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    surfaces = [s for s in ("nir", "data", "config")
                if any(r["surface"] == s for r in results)]
    names = sorted({r["outcome"] for r in results}, key=lambda o: (o not in GOOD, o))
    bottom = [0] * len(surfaces)
    for name in names:
        counts = [sum(r["surface"] == s and r["outcome"] == name for r in results)
                  for s in surfaces]
        axes.bar(surfaces, counts, bottom=bottom, label=name)
        bottom = [b + c for b, c in zip(bottom, counts)]
    axes.set_ylabel("mutants")
    axes.set_title("hostile files: outcome of each mutant, per surface")
    axes.legend(loc="upper right", fontsize="small")
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100, bbox_inches="tight")
    with atomic_write(out / "hostile.png") as f:
        f.write(png.getvalue())
    print(f"wrote {out / 'hostile.json'}, {out / 'hostile.csv'}, {out / 'hostile.png'}")


if __name__ == "__main__":
    sys.exit(main())
