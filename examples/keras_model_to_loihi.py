"""Your Keras model to Loihi-exact accuracy, with snnkit's recipe.

The README's procedure for other people's models (``benchmarks/bench_conversion.py``
measures it on 17 models): a model trained in Keras as you would, then
``snnkit.train_for_loihi`` starting from its weights (``relu_epochs=0``): calibrate
the 99th percentile of each layer's rates to 333 Hz with the Loihi neurons that will
run, fine-tune with those neurons, calibrate again, and keep the network (calibrated
or fine-tuned) and the host readout (running mean or last step) that do best on
held-out training images. Then the network runs Loihi-exact (``loihi-emulator-fast``)
on the test images, next to the Keras model's own accuracy.

Without ``--model``/``--data`` it trains a small convnet on scikit-learn's digits.
With yours::

    python examples/keras_model_to_loihi.py --model your.h5 --data your.npz

The same from the command line alone::

    snnkit train --model your.h5 --data your.npz --recipe loihi --epochs 0 \\
        --fine-tune-epochs 20 --statistic p99 --target-rate 333 --readout mean,last \\
        --val-split 0.15 --n-steps 50 --n-test 539 --backend loihi-emulator-fast \\
        --out net.snn.npz

Writes ``network.snn.npz``, ``results.json`` and ``accuracy_by_step.png`` to
``--out-dir``. ``--small`` runs a tiny slice in seconds, without the fine-tuning
(the figures then mean nothing).
"""

from __future__ import annotations

import json

import common


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], "keras_model_to_loihi")
    p.add_argument("--model", help="your trained Keras model (.h5 or .keras)")
    p.add_argument("--data", help="your images: .npz with x_train, y_train, x_test, "
                                  "y_test")
    args = p.parse_args()
    small = common.small(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    import numpy as np

    import snnkit
    from snnkit.backends import get_backend

    if args.data:
        (x_train, y_train), (x_test, y_test) = common.data_file(args.data)
    else:
        (x_train, y_train), (x_test, y_test) = common.digits(
            *((300, 100) if small else (None, None)))
    if args.model:
        model = snnkit.load_keras_model(args.model)
    else:
        model = common.train_in_keras(common.small_convnet(x_train.shape[1:]),
                                      x_train, y_train, epochs=10 if small else 40)
    keras_accuracy = common.keras_accuracy(model, x_test, y_test)

    # the last 15% of the training images choose between networks and readouts
    n_fit = int(len(x_train) * 0.85)
    n_steps = 30 if small else 50
    trained = snnkit.train_for_loihi(
        model, (x_train[:n_fit], y_train[:n_fit]), relu_epochs=0,
        loihi_epochs=0 if small else 20, statistic="p99", target_rate_hz=333,
        readout=("mean", "last"), select_on=(x_train[n_fit:], y_train[n_fit:]),
        n_steps=n_steps, minibatch_size=50 if small else 200,
        enable_progress_bar=not small)
    network = trained.network
    result = get_backend("loihi-emulator-fast").run(network, x_test, n_steps=n_steps)
    by_step = result.accuracy_by_step(y_test)
    loihi_accuracy = float(by_step[-1])

    network.save(args.out_dir / "network.snn.npz")
    results = {"keras_accuracy": keras_accuracy, "loihi_exact_accuracy": loihi_accuracy,
               "gap_points": 100 * (keras_accuracy - loihi_accuracy),
               "n_test": len(x_test), "n_steps": n_steps,
               "kept": trained.selected, "readout": network.readout,
               "scales": network.scale_firing_rates,
               "calibrated_rates_hz": trained.calibration.rates_hz,
               "accuracy_by_step": [float(a) for a in by_step]}
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=2))

    def draw(ax):
        steps = np.arange(1, n_steps + 1)
        ax.plot(steps, 100 * np.asarray(by_step), label="Loihi-exact "
                f"(loihi-emulator-fast, {network.readout} readout)")
        ax.axhline(100 * keras_accuracy, ls="--", c="k", label="Keras (ReLU rates)")
        ax.set(xlabel="time step", ylabel=f"accuracy on {len(x_test)} test images (%)",
               title="Your Keras model on Loihi: accuracy as the network runs")
        ax.legend(loc="best")
    common.save_plot(args.out_dir / "accuracy_by_step.png", draw)

    print(f"Keras (ReLU rates):            {100 * keras_accuracy:.2f}%")
    print(f"Loihi-exact after {n_steps} steps:  {100 * loihi_accuracy:.2f}% "
          f"({trained.selected} network, {network.readout} readout)")
    print(f"gap: {results['gap_points']:+.2f} points on {len(x_test)} test images")
    print(f"wrote {args.out_dir / 'network.snn.npz'}, results.json, accuracy_by_step.png")


if __name__ == "__main__":
    main()
