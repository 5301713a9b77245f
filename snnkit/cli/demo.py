"""The ``demo`` subcommand: the seed workflow, then the best procedure
(:mod:`snnkit.demo`)."""

from __future__ import annotations

from snnkit.cli import arguments as A
from snnkit.cli.output import emit, progress


def run(args) -> int:
    from snnkit.demo import DemoConfig, run_demo

    A.check_count("--n-test", args.n_test, A.MNIST_TEST, "the MNIST test set's size")
    A.check_count("--n-emulator", args.n_emulator, A.MNIST_TEST,
                  "the MNIST test set's size")
    A.check_count("--n-fast", args.n_fast, A.MNIST_TEST, "the MNIST test set's size")
    more, loihi = (0, 0) if args.seed_only else (args.extra_relu_epochs,
                                                 args.loihi_epochs)
    config = DemoConfig(epochs=args.epochs, extra_relu_epochs=more, loihi_epochs=loihi,
                        target_rate_hz=args.target_rate,
                        fine_tune_rate_hz=args.fine_tune_rate,
                        n_test=args.n_test, n_emulator=args.n_emulator,
                        n_fast=args.n_fast, out_dir=args.out_dir,
                        progress=progress(args), latency=args.latency,
                        latency_relu_epochs=args.latency_relu_epochs,
                        latency_time_epochs=args.latency_time_epochs)
    stages = run_demo(config)
    from dataclasses import asdict
    from pathlib import Path

    out = Path(args.out_dir)
    files = [out / "seed.snn.npz", out / "demo.json"]
    if args.latency:
        files.append(out / "latency.snn.npz")
    emit(args, {"command": "demo", "files": files,
                "stages": [asdict(s) for s in stages]})
    return 0
