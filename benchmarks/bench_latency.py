"""Latency benchmark (issue 11): three procedures on the seed network, Loihi-exact.

- ``seed``: the seed notebook's procedure as ``snnkit demo`` runs it: 2 ReLU epochs,
  per-layer scales calibrated to 200 Hz with Loihi neurons and a 5 ms synapse, the
  output read at each step.
- ``best``: :func:`snnkit.training.recipes.train_for_loihi` (best accuracy at 30 steps).
- ``latency``: :func:`snnkit.training.recipes.train_for_latency` (no synapse, trained through
  time, the host's running-mean readout).

Each network runs on ``loihi-emulator-fast`` (bit-exact with nengo-loihi's emulator)
over ``--n-test`` test images (default all 10,000) for 30 steps; accuracy is read out
at 5/8/10/12/16/20/30 steps from that one run. Synaptic operations and the energy
estimate per inference (:func:`snnkit.bench.energy_estimate`: Loihi's per-operation
figures, an estimate, not a measurement) are measured for each step count by a run of
that many steps on the first ``--n-energy`` test images (a run from rest of N steps
is the first N steps of a longer one). Targets for ``latency``: >= 98.5% at 10 steps,
>= 99.0% at 16.

Exits with status 1 if the latency-first network misses a target. Writes
``latency.json``, ``latency.csv`` (one row per procedure and step count) and
``accuracy_vs_steps.png`` (steps where no output has arrived yet are marked "no
output yet") into ``--out``. ``--network NAME=PATH`` reuses a saved FrozenNetwork
instead of training it; ``--save-dir`` keeps the networks it trains.

    .venv/bin/python benchmarks/bench_latency.py --network latency=out/latency.snn.npz
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

import numpy as np

STEPS = (5, 8, 10, 12, 16, 20, 30)
PROCEDURES = ("seed", "best", "latency")
TARGETS = {10: 0.985, 16: 0.990}


def _network_arg(text: str):
    name, sep, path = text.partition("=")
    if not sep or name not in PROCEDURES or not path:
        raise argparse.ArgumentTypeError(
            f"expected NAME=PATH with NAME one of {', '.join(PROCEDURES)}, got {text!r}")
    return name, path


def train(name: str, train_data, seed: int):
    """Train the seed network with procedure ``name``; returns the FrozenNetwork."""
    from snnkit.models import seed_convnet
    from snnkit.training.recipes import train_for_latency, train_for_loihi
    from snnkit.training.trainer import Trainer

    model = seed_convnet(seed)
    if name == "best":
        return train_for_loihi(model, train_data, seed=seed).network
    if name == "latency":
        return train_for_latency(model, train_data, seed=seed, progress=True).network
    trainer = Trainer(max_epochs=2, neuron_type="relu", seed=seed)
    trainer.fit(model, train_data)
    cal = trainer.calibrate(model, train_data[0][:200], target_rate_hz=200.0,
                            neuron_type="loihi-relu", synapse=0.005, n_steps=30)
    return trainer.freeze(model, neuron_type="loihi-relu", scale_firing_rates=cal.scales,
                          synapse=0.005, metadata={"procedure": "seed (snnkit demo)"})


def measure(name: str, network, x, y, n_energy: int) -> dict:
    from snnkit.backends import get_backend
    from snnkit.bench import energy_estimate

    backend = get_backend("loihi-emulator-fast")
    result = backend.run(network, x, n_steps=max(STEPS), progress=True)
    by_step = result.accuracy_by_step(y)
    energy = {}
    for steps in STEPS:
        short = backend.run(network, x[:n_energy], n_steps=steps)
        energy[steps] = energy_estimate(network, short)
    return {
        "procedure": name,
        "n_images": result.n_inputs,
        "n_energy_images": min(n_energy, len(x)),
        "synapse_s": network.synapse,
        "readout": network.readout,
        "scales": network.scale_firing_rates,
        "accuracy_by_step": by_step.tolist(),
        "accuracy_at": {s: float(by_step[s - 1]) for s in STEPS},
        "output_received_by_step": result.output_received_by_step().tolist(),
        "first_spike_steps": result.first_spike_stats(),
        "time_to_decision_steps": result.time_to_decision_stats(),
        "layer_rates_hz": result.layer_rates_hz,
        "energy_at": energy,
    }


def format_table(rows) -> str:
    head = f"{'procedure':<10} {'images':>6} " + " ".join(f"{'@' + str(s):>7}" for s in STEPS)
    lines = ["accuracy (Loihi-exact, loihi-emulator-fast) read out at N steps", head,
             "-" * len(head)]
    for r in rows:
        lines.append(f"{r['procedure']:<10} {r['n_images']:>6} " + " ".join(
            f"{100 * r['accuracy_at'][s]:6.2f}%" for s in STEPS))
    lines += ["", f"synaptic ops per inference / energy estimate (µJ) at N steps "
                  f"(first {rows[0]['n_energy_images']} images)", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['procedure']:<10} {'':>6} " + " ".join(
            f"{r['energy_at'][s]['synaptic_ops_per_inference'] / 1e3:6.0f}k" for s in STEPS))
        lines.append(f"{'':<10} {'µJ':>6} " + " ".join(
            f"{r['energy_at'][s]['total_energy_uj']:7.2f}" for s in STEPS))
    lines += ["", "first spike step, mean / p95 over inputs ('output': first step the "
                  "output is more than its bias)"]
    for r in rows:
        lines.append(f"{r['procedure']:<10} " + "  ".join(
            f"{layer} {s['mean']:.1f}/{s['p95']:.0f}" if s["p95"] is not None else
            f"{layer} {s['mean']}/-" for layer, s in r["first_spike_steps"].items()))
    lines.append("energy is an ESTIMATE from operation counts (snnkit.bench."
                 "ENERGY_SOURCE); on-chip neurons are updated at every step")
    return "\n".join(lines)


def write_csv(path: Path, rows) -> None:
    from snnkit.utils.files import atomic_write

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["procedure", "steps", "accuracy", "n_images",
                     "output_received_fraction", "synaptic_ops_per_inference",
                     "energy_estimate_uj_per_inference", "n_energy_images"])
    for r in rows:
        for s in STEPS:
            e = r["energy_at"][s]
            writer.writerow([r["procedure"], s, r["accuracy_at"][s], r["n_images"],
                             r["output_received_by_step"][s - 1],
                             e["synaptic_ops_per_inference"], e["total_energy_uj"],
                             r["n_energy_images"]])
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=_network_arg, action="append", default=[],
                        help="NAME=PATH: reuse a saved FrozenNetwork for procedure NAME "
                             f"({', '.join(PROCEDURES)}); the others are trained")
    parser.add_argument("--procedures", default=",".join(PROCEDURES),
                        help="comma-separated subset to run (default all three)")
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--n-energy", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", default=None,
                        help="write the networks trained here as NAME.snn.npz")
    parser.add_argument("--out", default="out/bench_latency")
    args = parser.parse_args(argv)
    names = [n for n in args.procedures.split(",") if n]
    unknown = sorted(set(names) - set(PROCEDURES))
    if unknown:
        parser.error(f"--procedures: unknown {', '.join(unknown)}; known: "
                     f"{', '.join(PROCEDURES)}")

    import snnkit
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.plots import plot_accuracy_vs_steps
    from snnkit.utils.environment import blas_summary, machine_environment
    from snnkit.utils.files import atomic_write

    given = dict(args.network)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x, y) = snnkit.load_mnist(
        None if set(names) - set(given) else 200, args.n_test)
    rows, timing = [], {}
    for name in names:
        start = time.perf_counter()
        if name in given:
            network = FrozenNetwork.load(given[name])
        else:
            network = train(name, (x_train, y_train), args.seed)
            if args.save_dir:
                Path(args.save_dir).mkdir(parents=True, exist_ok=True)
                network.save(Path(args.save_dir) / f"{name}.snn.npz")
        timing[name] = {"training_s": time.perf_counter() - start if name not in given
                        else None}
        start = time.perf_counter()
        row = measure(name, network, x, y, args.n_energy)
        row["network"] = given.get(name, "trained by this run")
        timing[name]["evaluation_s"] = time.perf_counter() - start
        rows.append(row)
    report = {"steps": list(STEPS), "targets_latency": {str(k): v for k, v in TARGETS.items()},
              "rows": rows, "timing": timing, "environment": machine_environment()}
    with atomic_write(out / "latency.json", "w") as f:
        json.dump(report, f, indent=2)
    write_csv(out / "latency.csv", rows)
    n_classes = len(np.unique(y))
    plot_accuracy_vs_steps(rows, 0.001, n_classes=n_classes, title=plot_title(rows),
                           label_key="procedure", path=out / "accuracy_vs_steps.png")
    print(format_table(rows))
    print(f"timing (training, evaluation) with BLAS: "
          f"{blas_summary(report['environment']['blas'])}")
    for row in rows:
        if row["procedure"] == "latency":
            for steps, target in TARGETS.items():
                met = row["accuracy_at"][steps] >= target
                print(f"latency target @{steps} steps >= {100 * target:.1f}%: "
                      f"{100 * row['accuracy_at'][steps]:.2f}% "
                      f"({'met' if met else 'NOT met'})")
    print(f"wrote {out / 'latency.json'}, {out / 'latency.csv'}, "
          f"{out / 'accuracy_vs_steps.png'}")
    return report


def plot_title(rows) -> str:
    """The plot's title, naming the procedures drawn (one curve each)."""
    names = [r["procedure"] for r in rows]
    what = "procedure" if len(names) == 1 else f"{len(names)} procedures"
    return f"Loihi-exact accuracy vs time steps: {what} ({', '.join(names)})"


def targets_met(report) -> bool:
    """Whether the latency row (if any) meets every target of :data:`TARGETS`."""
    return all(row["accuracy_at"][steps] >= target
               for row in report["rows"] if row["procedure"] == "latency"
               for steps, target in TARGETS.items())


if __name__ == "__main__":
    raise SystemExit(0 if targets_met(main()) else 1)
