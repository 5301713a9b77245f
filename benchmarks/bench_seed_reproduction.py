"""The seed notebook's procedure and snnkit's automated one, side by side.

Both start from the same network, trained once (2 epochs, ReLU rates, minibatch 200,
RMSprop 0.001, as the notebook), and are evaluated on the same MNIST test images
with NengoDL:

notebook (the NengoDL/Loihi keras-to-snn notebook workflow this project started from)
  1. ReLU rates, 10 steps (its per-layer rates feed step 4)
  2. SpikingRectifiedLinear, one global scale 100, synapse 0.005 s, 30 steps
  3. LoihiSpikingRectifiedLinear, one global scale 100 (one layer may fall silent)
  4. Loihi neurons, per-layer scale = 200 Hz / ReLU rate of step 1
snnkit
  5. ``Trainer.calibrate``: per-layer scales to 200 Hz measured *with Loihi neurons*
     and the synapse that runs (on training images), then evaluated like step 4.

Optionally (``--n-emulator N``) steps 4 and 5 also run on nengo-loihi's emulator.
Prints one table (accuracy, images, per-layer mean rates of active neurons, wall
time) and writes it as JSON to ``--out``.

Defaults run in a few minutes on 2 cores (10,000 training images, 500 test images);
``--full`` uses the notebook's sizes (60,000 training images, 1,000 test images). The
JSON's ``environment`` names the BLAS library, kernel and threads behind the wall
times.

    .venv/bin/python benchmarks/bench_seed_reproduction.py [--full] [--n-train N]
        [--n-test N] [--n-calibrate N] [--n-emulator N] [--out out/seed-reproduction]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from snnkit.bench import check_writable_dir  # noqa: E402
from snnkit.demo import Stage, format_table  # noqa: E402
from snnkit.utils.environment import machine_environment  # noqa: E402
from snnkit.utils.files import atomic_write  # noqa: E402

TARGET_HZ = 200.0
GLOBAL_SCALE = 100.0
SYNAPSE_S = 0.005
N_STEPS = 30


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="notebook sizes: 60,000 training and 1,000 test images")
    parser.add_argument("--n-train", type=int, default=None,
                        help="training images (default 10000; --full: 60000)")
    parser.add_argument("--n-test", type=int, default=None,
                        help="test images (default 500; --full: 1000)")
    parser.add_argument("--epochs", type=int, default=2, help="default 2 (the notebook's)")
    parser.add_argument("--n-calibrate", type=int, default=200,
                        help="training images snnkit calibrates on (default 200)")
    parser.add_argument("--n-emulator", type=int, default=0,
                        help="test images for nengo-loihi's emulator (default 0: skip)")
    parser.add_argument("--out", default="out/seed-reproduction",
                        help="folder for reproduction.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    args.n_train = args.n_train or (60_000 if args.full else 10_000)
    args.n_test = args.n_test or (1_000 if args.full else 500)
    for name in ("n_train", "n_test", "epochs", "n_calibrate"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected an int >= 1, "
                         f"got {getattr(args, name)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out = check_writable_dir(args.out, "--out")
    from snnkit.data.datasets import load_mnist
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    (x_train, y_train), (x_test, y_test) = load_mnist(args.n_train, args.n_test)
    trainer = Trainer(max_epochs=args.epochs, minibatch_size=200, neuron_type="relu",
                      seed=0, enable_progress_bar=not args.quiet)
    stages: list[Stage] = []

    def stage(name, fn):
        print(f"-- {name}", flush=True)
        start = time.perf_counter()
        accuracy, n, rates, value = fn()
        stages.append(Stage(name, accuracy, n, rates, time.perf_counter() - start))
        return value

    model = seed_convnet(seed=0)

    def train():
        history = trainer.fit(model, (x_train, y_train))
        return history[-1]["accuracy"], len(x_train), {}, trainer.freeze(model)

    relu = stage(f"both: train {args.epochs} epochs ReLU (train acc)", train)

    def evaluate(network, n_steps=N_STEPS, backend="nengo-dl", n=None):
        x, y = (x_test, y_test) if n is None else (x_test[:n], y_test[:n])
        result = trainer.evaluate(network, x, y, n_steps=n_steps, backend=backend)
        return result.accuracy(y), len(x), result.layer_rates_hz, result

    relu_result = stage("notebook: ReLU rates, 10 steps",
                        lambda: evaluate(relu, n_steps=10))
    stage(f"notebook: SpikingReLU, scale {GLOBAL_SCALE:g}", lambda: evaluate(
        relu.replace(neuron="spiking-relu", scale_firing_rates=GLOBAL_SCALE,
                     synapse=SYNAPSE_S)))
    stage(f"notebook: Loihi neurons, scale {GLOBAL_SCALE:g}", lambda: evaluate(
        relu.replace(neuron="loihi-relu", scale_firing_rates=GLOBAL_SCALE,
                     synapse=SYNAPSE_S)))
    # the notebook's rule: target / ReLU rate (silent layers cannot be scaled: keep 1)
    rule = {name: TARGET_HZ / rate if rate > 0 else 1.0
            for name, rate in relu_result.layer_rates_hz.items()}
    notebook_net = relu.replace(neuron="loihi-relu", scale_firing_rates=rule,
                                synapse=SYNAPSE_S)
    stage("notebook: Loihi, per-layer scales from ReLU rates", lambda: evaluate(
        notebook_net))

    # synapse given to calibrate() itself: for a FrozenNetwork its default keeps the
    # network's (none, after ReLU training), not the Trainer's
    calibrator = Trainer(synapse=SYNAPSE_S, enable_progress_bar=not args.quiet)

    def calibrate():
        cal = calibrator.calibrate(relu, x_train[:args.n_calibrate],
                                   target_rate_hz=TARGET_HZ, neuron_type="loihi-relu",
                                   n_steps=N_STEPS, synapse=SYNAPSE_S)
        return None, args.n_calibrate, cal.rates_hz, cal

    cal = stage(f"snnkit: calibrate to {TARGET_HZ:g} Hz with Loihi neurons", calibrate)
    snnkit_net = relu.replace(neuron="loihi-relu", scale_firing_rates=cal.scales,
                              synapse=SYNAPSE_S)
    stage("snnkit: Loihi, calibrated per-layer scales", lambda: evaluate(snnkit_net))

    if args.n_emulator > 0:
        n = min(args.n_emulator, len(x_test))
        stage("notebook: per-layer scales, loihi-emulator", lambda: evaluate(
            notebook_net, backend="loihi-emulator", n=n))
        stage("snnkit: calibrated, loihi-emulator", lambda: evaluate(
            snnkit_net, backend="loihi-emulator", n=n))

    table = format_table(stages, relu.neuron_layers)
    print()
    print(table)
    print(f"rates: mean rate of active neurons (Hz), measured with each stage's neurons; "
          f"target {TARGET_HZ:g} Hz. Calibration converged: {cal.converged}.")
    report = {
        "settings": {"n_train": len(x_train), "n_test": len(x_test),
                     "epochs": args.epochs, "n_calibrate": args.n_calibrate,
                     "n_emulator": args.n_emulator, "target_rate_hz": TARGET_HZ,
                     "global_scale": GLOBAL_SCALE, "synapse_s": SYNAPSE_S,
                     "n_steps": N_STEPS},
        "notebook_scales": rule,
        "snnkit_scales": cal.scales,
        "snnkit_calibration_converged": cal.converged,
        "stages": [s.__dict__ for s in stages],
        "environment": machine_environment(),
        "table": table,
    }
    with atomic_write(out / "reproduction.json", "w") as f:
        json.dump(report, f, indent=2)
    from snnkit.utils.environment import blas_summary

    print(f"wall times with BLAS: {blas_summary(report['environment']['blas'])}")
    print(f"wrote {out / 'reproduction.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
