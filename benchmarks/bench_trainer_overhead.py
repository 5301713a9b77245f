"""Trainer.fit vs a raw nengo_dl.Simulator.fit: one epoch of the 60k MNIST training
set on the seed network, same settings (ReLU rates, minibatch 200, RMSprop 1e-3,
sparse cross-entropy + accuracy, no progress bar), measured in one run.

Each side is timed end to end (conversion, simulator build, compile, one epoch, and
for the Trainer its checks and writing the weights back into Keras), after one untimed
warm-up of each on 2,000 images. The two alternate ``--repeats`` times (which goes
first alternates too) and the fastest of each is compared, so a neighbour's burst of
CPU use does not decide the ratio. Target: ratio <= 1.05. The BLAS library, kernel
and threads (threadpoolctl) are printed with the figures.

    .venv/bin/python benchmarks/bench_trainer_overhead.py [--repeats 2] [--n-train 60000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import snnkit
from snnkit.utils.stack import import_nengo_dl, import_tensorflow


def raw_fit(x, y, minibatch_size: int, seed: int) -> float:
    import nengo

    from snnkit.models import seed_convnet

    nengo_dl, tf = import_nengo_dl(), import_tensorflow()

    start = time.perf_counter()
    model = seed_convnet(seed)
    converter = nengo_dl.Converter(model, allow_fallback=False,
                                   swap_activations={tf.nn.relu: nengo.RectifiedLinear()})
    inp, out = converter.inputs[model.inputs[0]], converter.outputs[model.outputs[0]]
    with nengo_dl.Simulator(converter.net, minibatch_size=minibatch_size, seed=seed,
                            progress_bar=False) as sim:
        sim.compile(optimizer=tf.optimizers.RMSprop(0.001),
                    loss={out: tf.losses.SparseCategoricalCrossentropy(from_logits=True)},
                    metrics={out: tf.metrics.sparse_categorical_accuracy})
        sim.fit({inp: x.reshape(len(x), 1, -1).astype(np.float32)},
                {out: y[:, None, None]}, epochs=1, verbose=0)
    return time.perf_counter() - start


def trainer_fit(x, y, minibatch_size: int, seed: int) -> float:
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    start = time.perf_counter()
    model = seed_convnet(seed)
    Trainer(max_epochs=1, minibatch_size=minibatch_size, seed=seed,
            enable_progress_bar=False).fit(model, (x, y))
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=60_000)
    parser.add_argument("--minibatch-size", type=int, default=200)
    args = parser.parse_args(argv)

    tf = import_tensorflow()
    (x, y), _ = snnkit.load_mnist(n_train=args.n_train, n_test=1)
    # the Trainer makes TF ops deterministic while it fits when seeded: on for both
    # sides (a fit that finds it on leaves it on)
    tf.config.experimental.enable_op_determinism()
    # warm-up (not timed): TensorFlow's first graph builds and kernel loads would
    # otherwise be charged to whichever side runs first
    raw_fit(x[:2000], y[:2000], args.minibatch_size, seed=0)
    trainer_fit(x[:2000], y[:2000], args.minibatch_size, seed=0)
    raw, trainer = [], []
    for i in range(args.repeats):
        # alternate which side goes first, so drift in machine load hits both
        for side in ((raw, raw_fit), (trainer, trainer_fit))[::1 if i % 2 == 0 else -1]:
            side[0].append(side[1](x, y, args.minibatch_size, seed=i))
        print(f"repeat {i + 1}: raw nengo_dl.Simulator.fit {raw[-1]:.1f} s, "
              f"Trainer.fit {trainer[-1]:.1f} s", flush=True)
    ratio = min(trainer) / min(raw)
    from snnkit.utils.environment import blas_summary, machine_environment

    environment = machine_environment()
    print(f"one epoch of {len(x)} images, minibatch {args.minibatch_size}: "
          f"raw {min(raw):.1f} s, Trainer {min(trainer):.1f} s, "
          f"ratio {ratio:.3f} (target <= 1.05); BLAS: "
          f"{blas_summary(environment['blas'])}")
    return {"raw_s": raw, "trainer_s": trainer, "ratio": ratio,
            "environment": environment}


if __name__ == "__main__":
    main()
