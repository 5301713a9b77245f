"""The latency front of ``tuning/README.md``, reproduced: a Pareto search over per-layer
scales, synapse and time steps, checked on test images against the network it started
from.

1. Train the seed convnet with ``snnkit.training.recipes.train_for_loihi`` (seed 0, the first
   50,000 training images, 4 ReLU epochs, 2 Loihi epochs, 200 calibration images;
   Loihi ReLU at 250 Hz, synapse 5 ms), recording the images it saw
   (``metadata["data"]``); cached in ``--out`` as ``seed.snn.npz`` (``--retrain``
   redoes it).
2. Run ``tuning/examples/latency_front.json`` on it (objective ``pareto``, 16
   Bayesian trials, validated Loihi-exact on the last 500 training images, which
   neither training nor calibration saw), as ``snnkit tune ... --objective pareto``
   does.
3. Run every configuration on the front on the first ``--n-test`` test images
   (``loihi-emulator-fast``, Loihi-exact: a check the search never saw), and the
   starting network once for ``max(n_steps)`` steps: the reference, its accuracy at
   each front point's step count measured in the same run.

Prints the front (validation and test accuracy, synaptic operations) with the
reference at the same steps and the gain; writes ``front.csv``, ``front.json`` and
``front_vs_reference.png`` to ``--out``. Run:
``.venv/bin/python benchmarks/bench_latency_front.py`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "tuning" / "examples" / "latency_front.json"
N_TRAIN = 50_000
N_CALIBRATION = 200


def trained_network(out: Path, retrain: bool):
    """The search's starting network (step 1), cached as ``out/seed.snn.npz``."""
    import snnkit
    from snnkit.data.datasets import DATA_RECORD_KEY, mnist_record
    from snnkit.models import seed_convnet
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.training.recipes import train_for_loihi

    path = out / "seed.snn.npz"
    if path.is_file() and not retrain:
        return FrozenNetwork.load(path), None
    start = time.perf_counter()
    (x, y), _ = snnkit.load_mnist(N_TRAIN, 0)
    training = train_for_loihi(seed_convnet(seed=0), (x, y), relu_epochs=4, loihi_epochs=2,
                               calibration_inputs=N_CALIBRATION, seed=0)
    network = training.network
    record = mnist_record((0, N_TRAIN), (0, N_CALIBRATION))
    network = network.replace(metadata=dict(network.metadata, **{DATA_RECORD_KEY: record}))
    network.save(path)
    return network, time.perf_counter() - start


def front_rows(search, network, x, y) -> tuple[list[dict], list[float]]:
    """The front's configurations run on ``x``, and the starting network's accuracy
    at every step up to the longest front point (the reference)."""
    from snnkit.backends import get_backend
    from snnkit.bench import energy_estimate
    from snnkit.tuning.pareto import pareto_rows

    backend = get_backend("loihi-emulator-fast")
    front = [r for r in pareto_rows(search) if r["on_front"]]
    trials = {t["trial_id"]: t for t in search.trials()}
    rows = []
    for row in sorted(front, key=lambda r: r["steps"]):
        configured, n_steps = search.configure(trials[row["trial_id"]]["hyperparameters"])
        result = backend.run(configured, x, n_steps=n_steps)
        rows.append({"trial_id": row["trial_id"], "n_steps": n_steps,
                     "synapse_s": configured.synapse,
                     "scales": dict(configured.scale_firing_rates),
                     "val_accuracy": row["accuracy"],
                     "val_synaptic_ops": row["synaptic_ops"],
                     "test_accuracy": result.accuracy(y),
                     "test_synaptic_ops": energy_estimate(configured, result)[
                         "synaptic_ops_per_inference"]})
    longest = max([r["n_steps"] for r in rows] + [30])
    reference = backend.run(network, x, n_steps=longest).accuracy_by_step(y)
    for row in rows:
        row["reference_accuracy"] = float(reference[row["n_steps"] - 1])
    return rows, [float(a) for a in reference]


def write_files(out: Path, report: dict) -> list[Path]:
    from snnkit.plots import new_figure, save_figure
    from snnkit.utils.files import atomic_write

    rows = report["front"]
    with atomic_write(out / "front.json", "w") as f:
        json.dump(report, f, indent=2)
    text = io.StringIO()
    columns = [k for k in rows[0] if k != "scales"] if rows else ["trial_id"]
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(out / "front.csv", "w") as f:
        f.write(text.getvalue())
    fig = new_figure((6.5, 4))
    ax = fig.subplots()
    steps = range(1, len(report["reference_by_step"]) + 1)
    ax.plot(steps, [100 * a for a in report["reference_by_step"]],
            label="starting network (train_for_loihi)", color="0.4")
    ax.plot([r["n_steps"] for r in rows], [100 * r["test_accuracy"] for r in rows], "o",
            label="front of the search (its own steps)", color="C3")
    ax.set(xlabel="time steps", ylabel=f"test accuracy, first {report['n_test']} (%)",
           title="Latency front vs the network it started from (Loihi-exact)",
           ylim=(max(0, min([100 * r["test_accuracy"] for r in rows] + [90]) - 5), 100))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_figure(fig, out / "front_vs_reference.png")
    return [out / "front.json", out / "front.csv", out / "front_vs_reference.png"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/bench_latency_front")
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)

    import snnkit
    from snnkit.tuning.config import load_config, run_search
    from snnkit.tuning.pareto_files import write_pareto_files
    from snnkit.utils.environment import machine_environment

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    network, training_s = trained_network(out, args.retrain)
    config = dict(load_config(str(CONFIG)), network=str(out / "seed.snn.npz"),
                  export=str(out / "tune" / "best.snn.npz"),
                  summary=str(out / "tune" / "summary.json"))
    config["options"] = dict(config["options"], directory=str(out / "tune"), overwrite=True)
    start = time.perf_counter()
    search = run_search(config, print_summary=False)
    search_s = time.perf_counter() - start
    pareto_files = write_pareto_files(search)  # as `snnkit tune` does
    _, (x, y) = snnkit.load_mnist(0, args.n_test)
    rows, reference = front_rows(search, network, x, y)
    report = {"n_test": len(x), "training_s": training_s, "search_s": search_s,
              "n_trials": len(search.trials()), "front": rows,
              "reference_by_step": reference, "environment": machine_environment()}
    files = write_files(out, report) + [Path(p) for p in pareto_files]

    print(f"search: {report['n_trials']} trials in {search_s:.0f} s"
          + (f" (training {training_s:.0f} s)" if training_s else " (network cached)"))
    print(f"front on the first {len(x)} test images (loihi-emulator-fast, Loihi-exact); "
          "reference: the starting network read out at the same step, same run")
    head = (f"{'trial':>5} {'steps':>5} {'synapse':>8} {'val acc':>8} {'test acc':>8} "
            f"{'reference':>9} {'gain':>6} {'synops/inf':>10}")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['trial_id']:>5} {r['n_steps']:>5} {1e3 * r['synapse_s']:>6.1f}ms "
              f"{100 * r['val_accuracy']:>7.1f}% {100 * r['test_accuracy']:>7.1f}% "
              f"{100 * r['reference_accuracy']:>8.1f}% "
              f"{100 * (r['test_accuracy'] - r['reference_accuracy']):>+5.1f} "
              f"{r['test_synaptic_ops'] / 1e3:>9.0f}k")
    print(f"starting network at 30 steps: {100 * reference[29]:.1f}%")
    print("wrote " + ", ".join(map(str, files)))
    return report


if __name__ == "__main__":
    main()
