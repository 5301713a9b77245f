"""Benchmark: "loihi-emulator-fast" vs nengo-loihi's emulator ("loihi-emulator") on
the trained seed network, through the common backend interface.

Both run in the same process, on the same MNIST test images, 30 steps each, reset
presentation. The fast backend's outputs are checked for equality with the
reference on every image the reference ran; then the fast backend runs the full
test set. Prints images/s of both, the ratio, the full-set wall time and accuracy,
and peak memory, and the BLAS library, kernel and threads (threadpoolctl) behind
them; writes JSON (atomically).

    .venv/bin/python benchmarks/bench_loihi_fast.py [--network out/demo/seed.snn.npz]
        [--n-ref 5] [--n-full 10000] [--out out/bench/loihi_fast.json]

Without --network (or if the file is missing) the seed network is trained the way the
demo trains it (2 ReLU epochs, scales calibrated to 200 Hz with Loihi neurons,
synapse 5 ms) and saved to that path first.
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

import snnkit
from snnkit.backends import get_backend
from snnkit.utils.environment import blas_summary, machine_environment
from snnkit.utils.files import atomic_write


def trained_seed_network(path: Path) -> snnkit.FrozenNetwork:
    if path.exists():
        return snnkit.FrozenNetwork.load(path)
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    print(f"{path} not found: training the seed network as the demo does", flush=True)
    (x_train, y_train), _ = snnkit.load_mnist()
    model = seed_convnet(seed=0)
    trainer = Trainer(max_epochs=2, neuron_type="relu", seed=0, synapse=0.005)
    trainer.fit(model, (x_train, y_train))
    cal = trainer.calibrate(model, x_train[:200], target_rate_hz=200)
    network = trainer.freeze(model, neuron_type="loihi-relu", scale_firing_rates=cal.scales)
    path.parent.mkdir(parents=True, exist_ok=True)
    network.save(path)
    return network


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", type=Path, default=Path("out/demo/seed.snn.npz"))
    parser.add_argument("--n-ref", type=int, default=5,
                        help="images for nengo-loihi's emulator (about 1 s each)")
    parser.add_argument("--n-full", type=int, default=10_000,
                        help="images for the fast backend's full run")
    parser.add_argument("--n-steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("out/bench/loihi_fast.json"))
    args = parser.parse_args(argv)

    network = trained_seed_network(args.network)
    _, (x_test, y_test) = snnkit.load_mnist(n_test=max(args.n_ref, args.n_full))
    x_ref, y_ref = x_test[:args.n_ref], y_test[:args.n_ref]

    reference = get_backend("loihi-emulator").run(network, x_ref, n_steps=args.n_steps,
                                                  progress=True)
    fast_same = get_backend("loihi-emulator-fast").run(network, x_ref, n_steps=args.n_steps)
    exact = bool(np.array_equal(reference.outputs, fast_same.outputs))
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    full = get_backend("loihi-emulator-fast").run(
        network, x_test[:args.n_full], n_steps=args.n_steps, progress=True)
    full_s = time.perf_counter() - start
    ratio = full.images_per_s / reference.images_per_s

    report = {
        "network": str(args.network),
        "n_steps": args.n_steps,
        "reference": {"backend": reference.backend, "n_images": args.n_ref,
                      "images_per_s": reference.images_per_s,
                      "wall_time_s": reference.wall_time_s,
                      "accuracy": reference.accuracy(y_ref)},
        "fast": {"backend": full.backend, "n_images": args.n_full,
                 "images_per_s": full.images_per_s, "wall_time_s": full_s,
                 "accuracy": full.accuracy(y_test[:args.n_full]),
                 "accuracy_on_reference_images": fast_same.accuracy(y_ref)},
        "speedup": ratio,
        "outputs_identical_on_reference_images": exact,
        "peak_rss_mb": {"before_full_run": rss_before, "after": peak_rss_mb()},
        "versions": full.versions,
        "environment": machine_environment(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, "w") as f:
        json.dump(report, f, indent=2)

    print(f"\nseed network, {args.n_steps} steps, reset presentation")
    print(f"{'backend':<22}{'images':>8}{'images/s':>11}{'wall s':>9}{'accuracy':>10}")
    print(f"{'loihi-emulator':<22}{args.n_ref:>8}{reference.images_per_s:>11.2f}"
          f"{reference.wall_time_s:>9.1f}{100 * reference.accuracy(y_ref):>9.2f}%")
    print(f"{'loihi-emulator-fast':<22}{args.n_full:>8}{full.images_per_s:>11.1f}"
          f"{full_s:>9.1f}{100 * report['fast']['accuracy']:>9.2f}%")
    print(f"speed-up {ratio:.0f}x (target >= 100x); outputs identical on the "
          f"{args.n_ref} reference images: {exact}")
    print(f"full {args.n_full}-image run: {full_s:.1f} s (target < 120 s); peak RSS "
          f"{report['peak_rss_mb']['after']:.0f} MB (target < 4096 MB)")
    print(f"BLAS: {blas_summary(report['environment']['blas'])} (the fast backend "
          "runs its BLAS with one thread per worker)")
    print(f"wrote {args.out}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
