"""Images per second and wall time of every backend on the seed network, one run.

Every available backend runs the same frozen seed network on the first N of the same
MNIST test images, each from rest ("reset"), for --steps steps (30 by default). The
slow backends get fewer images (the counts are printed and saved): by default 200
for nengo-dl and loihi-emulator-fast, 50 for nengo, 20 for loihi-emulator. The heavy
imports happen first, untimed; each backend's build (``Backend.prepare``) and run are
then timed apart, and images/s is the run's alone, so no figure depends on the order
the backends are listed in. nengo-dl makes its TensorFlow simulator on its first run,
so its run time includes that. The BLAS library, kernel and threads (threadpoolctl)
are printed and saved with the figures. Unavailable backends (e.g. "loihi" without
nxsdk) are listed with the reason.

The network: --network PATH (a FrozenNetwork file), or else the seed convnet trained
for one epoch on 2,000 MNIST images with ReLU rates, then given per-layer scales
calibrated to 200 Hz with Loihi neurons (a few tens of seconds, not timed).

    .venv/bin/python benchmarks/bench_backends.py [--out out/bench_backends.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import snnkit
from snnkit.backends import get_backend, registered_backends
from snnkit.bench.run import import_stack
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.environment import blas_summary, machine_environment, package_versions
from snnkit.utils.files import atomic_write

DEFAULT_COUNTS = {"nengo-dl": 200, "loihi-emulator-fast": 200, "nengo": 50,
                  "loihi-emulator": 20, "loihi": 20}
REFERENCE = "nengo-dl"
ORDER = ("nengo-dl", "nengo", "loihi-emulator-fast", "loihi-emulator", "loihi")


def trained_seed_network(n_train: int = 2000, seed: int = 0) -> FrozenNetwork:
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    (x_train, y_train), (x_test, _) = snnkit.load_mnist(n_train, 10_000)
    model = seed_convnet(seed)
    trainer = Trainer(max_epochs=1, minibatch_size=20, neuron_type="relu",
                      enable_progress_bar=False, seed=seed)
    trainer.fit(model, (x_train, y_train))
    network = trainer.freeze(model, synapse=0.005)
    # calibration images from the end of the test set: never benchmarked
    calibration = trainer.calibrate(network, x_test[-100:], target_rate_hz=200.0,
                                    neuron_type="loihi-relu", max_iterations=4)
    return network.replace(neuron="loihi-relu", scale_firing_rates=calibration.scales,
                           metadata={"trained": f"1 epoch, {n_train} MNIST images",
                                     "calibration_rates_hz": calibration.rates_hz})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/bench_backends.json",
                        help="JSON output path (default: %(default)s)")
    parser.add_argument("--network", help="FrozenNetwork file (default: train the seed)")
    parser.add_argument("--steps", type=int, default=30, help="steps per image")
    parser.add_argument("--backends", nargs="*", default=None,
                        help="backend names (default: all registered)")
    parser.add_argument("--count", action="append", default=[], metavar="NAME=N",
                        help="images for one backend, e.g. --count nengo=100")
    args = parser.parse_args(argv)

    counts = dict(DEFAULT_COUNTS)
    for item in args.count:
        name, _, n = item.partition("=")
        counts[name] = int(n)
    names = args.backends or sorted(
        registered_backends(),
        key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))

    if args.network:
        network = FrozenNetwork.load(args.network)
    else:
        print("training the seed network (1 epoch, 2,000 images) and calibrating...",
              file=sys.stderr)
        network = trained_seed_network()
    n_max = max(counts.get(name, 20) for name in names)
    _, (x, y) = snnkit.load_mnist(0, n_max)

    import_stack(names)
    rows, results = [], {}
    for name in names:
        backend = get_backend(name)
        count = counts.get(name, 20)
        if not backend.is_available():
            rows.append({"backend": name, "available": False,
                         "reason": backend.unavailable_reason()})
            continue
        print(f"{name}: {count} images x {args.steps} steps...", file=sys.stderr)
        start = time.perf_counter()
        with backend.prepare(network) as prepared:
            build_s = time.perf_counter() - start
            result = prepared.run(x[:count], n_steps=args.steps)
        results[name] = result
        rows.append({
            "backend": name,
            "available": True,
            "n_images": count,
            "n_steps": args.steps,
            "build_time_s": build_s,
            "run_time_s": result.wall_time_s,
            "images_per_s": result.images_per_s,
            "ms_per_step": 1000 * result.wall_time_s / (count * args.steps),
            "accuracy": result.accuracy(y[:count]),
            "layer_rates_hz": result.layer_rates_hz,
            "synaptic_ops_per_image": result.synaptic_ops_per_input["total"],
        })
    if REFERENCE in results:
        ref = results[REFERENCE].predictions
        for row in rows:
            if row["backend"] in results and row["backend"] != REFERENCE:
                mine = results[row["backend"]].predictions
                n = min(len(mine), len(ref))
                row["agreement_with_" + REFERENCE] = float(np.mean(mine[:n] == ref[:n]))

    print(_table(rows))
    environment = machine_environment()
    print(f"images/s and ms/step: the run alone (build apart); BLAS: "
          f"{blas_summary(environment['blas'])}")
    report = {
        "benchmark": "bench_backends",
        "date_unix_s": time.time(),
        "network": "file " + args.network if args.network else "seed convnet, "
                   "1 epoch on 2,000 MNIST images, calibrated to 200 Hz (loihi-relu)",
        "neuron_type": network.neuron.name,
        "scale_firing_rates": network.scale_firing_rates,
        "presentation": "reset",
        "inputs": "first N MNIST test images (same images for every backend)",
        "environment": environment,
        "versions": package_versions(),
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {out}")
    return 0


def _table(rows) -> str:
    header = ("backend", "images", "steps", "build s", "run s", "images/s", "ms/step",
              "accuracy", f"agree {REFERENCE}")
    lines = [header]
    for row in rows:
        if not row["available"]:
            lines.append((row["backend"], "-", "-", "-", "-", "-", "-", "-",
                          f"unavailable: {row['reason'][:60]}..."))
            continue
        agree = row.get("agreement_with_" + REFERENCE)
        lines.append((
            row["backend"], str(row["n_images"]), str(row["n_steps"]),
            f"{row['build_time_s']:.1f}", f"{row['run_time_s']:.1f}",
            f"{row['images_per_s']:.2f}",
            f"{row['ms_per_step']:.2f}", f"{row['accuracy']:.3f}",
            "-" if agree is None else f"{agree:.3f}",
        ))
    widths = [max(len(line[i]) for line in lines)
              for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [c.ljust(w) if i == 0 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(line[:-1], widths))]
        out.append("  ".join(cells) + "  " + line[-1])
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
