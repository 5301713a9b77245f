"""Latency first: a network that answers in few time steps on Loihi.

``snnkit.train_for_latency`` (the README's "Latency" section): ReLU training on
shifted images, per-layer scales that put each layer's 99th-percentile activation at
2000 Hz, then training through the spiking dynamics with Loihi's timing, no synapse,
the output read as its running mean. The network then runs Loihi-exact
(``loihi-emulator-fast``) once for 30 steps, read out at every step: accuracy at each
step, and the step at which each layer first spikes.

Without ``--small``: the seed convnet on MNIST with the recipe's defaults (the
README's table; 6-15 minutes on 2 cores). The same from the command line::

    snnkit train --recipe latency --n-test 10000 --backend loihi-emulator-fast \\
        --out latency.snn.npz

Writes ``latency.snn.npz``, ``accuracy_by_step.csv`` and ``accuracy_by_step.png`` to
``--out-dir``. ``--small`` trains a small convnet on a slice of scikit-learn's
digits for one epoch of each stage (through 6 steps), in seconds (the figures then
mean nothing).
"""

from __future__ import annotations

import csv

import common

STEPS = (5, 8, 10, 12, 16, 20, 30)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], "latency_first")
    args = p.parse_args()
    small = common.small(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    import numpy as np

    import snnkit
    from snnkit.backends import get_backend

    if small:
        (x_train, y_train), (x_test, y_test) = common.digits(240, 100)
        model = common.small_convnet(x_train.shape[1:])
        trained = snnkit.train_for_latency(model, (x_train, y_train), relu_epochs=1,
                                           time_epochs=1, n_steps=6, loss_from_step=3,
                                           progress=False)
    else:
        from snnkit.models import seed_convnet

        (x_train, y_train), (x_test, y_test) = snnkit.load_mnist()
        trained = snnkit.train_for_latency(seed_convnet(seed=0), (x_train, y_train))
    network = trained.network
    network.save(args.out_dir / "latency.snn.npz")

    result = get_backend("loihi-emulator-fast").run(network, x_test, n_steps=30)
    by_step = result.accuracy_by_step(y_test)
    with open(args.out_dir / "accuracy_by_step.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "accuracy"])
        writer.writerows((step, f"{a:.4f}") for step, a in enumerate(by_step, 1))

    def draw(ax):
        ax.plot(np.arange(1, 31), 100 * np.asarray(by_step), marker=".")
        ax.set(xlabel="time step (1 ms)", ylabel=f"accuracy on {len(x_test)} test "
               "images (%)", title="Latency-first network, Loihi-exact: accuracy when "
               "read out at each step")
    common.save_plot(args.out_dir / "accuracy_by_step.png", draw)

    print("accuracy, Loihi-exact (loihi-emulator-fast), read out at step:")
    print("  " + "  ".join(f"@{s}: {100 * by_step[s - 1]:.2f}%" for s in STEPS))
    first = result.first_spike_stats()
    print("first spike (mean step over the inputs where it fired): " + ", ".join(
        f"{layer} " + ("never" if stats["mean"] is None else f"{stats['mean']:.1f}")
        for layer, stats in first.items()))
    print(f"wrote {args.out_dir / 'latency.snn.npz'}, accuracy_by_step.csv and .png")


if __name__ == "__main__":
    main()
