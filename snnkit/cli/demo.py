"""The ``demo`` subcommand: the seed workflow, then the best procedure (:mod:`snnkit.demo`)."""

from __future__ import annotations

from . import arguments as A


def register(commands, common) -> None:
    parser = commands.add_parser(
        "demo", parents=[common],
        help="the seed workflow on MNIST: train, calibrate, evaluate, freeze")
    parser.add_argument("--epochs", type=A.int_at_least(1), default=2,
                        help="ReLU training epochs of the seed's procedure (default 2)")
    parser.add_argument("--target-rate", type=A.positive_float, default=200.0,
                        help="the seed's calibration target, mean rate of active "
                             "neurons in Hz (default 200)")
    parser.add_argument("--extra-relu-epochs", type=A.int_at_least(0), default=4,
                        help="best procedure: more ReLU epochs (default 4)")
    parser.add_argument("--loihi-epochs", type=A.int_at_least(0), default=4,
                        help="best procedure: fine-tuning epochs with Loihi neurons at "
                             "calibrated scales (default 4)")
    parser.add_argument("--fine-tune-rate", type=A.positive_float, default=250.0,
                        help="best procedure: calibration target in Hz (default 250)")
    parser.add_argument("--seed-only", action="store_true",
                        help="stop where the seed notebook stops (no best-procedure "
                             "stages)")
    for flag, low, default, what in (
            ("--n-test", 1, 1000, "NengoDL evaluation (default 1000)"),
            ("--n-emulator", 1, 50, "the Loihi emulator (default 50)"),
            ("--n-fast", 0, 10_000, "loihi-emulator-fast (default 10000, all)")):
        parser.add_argument(flag, type=A.int_at_least(low), default=default,
                            help=f"test images for {what}")
    parser.add_argument("--latency", action="store_true",
                        help="also train the latency-first network (recipes."
                             "train_for_latency; 6-15 more minutes) and compare "
                             "accuracy at 5-30 steps and first-spike steps")
    parser.add_argument("--latency-relu-epochs", type=A.int_at_least(1), default=40,
                        help="latency-first: ReLU epochs on shifted images (default 40)")
    parser.add_argument("--latency-time-epochs", type=A.int_at_least(1), default=2,
                        help="latency-first: epochs of training through time "
                             "(default 2)")
    parser.add_argument("--out", default="out/demo",
                        help="output folder (default out/demo)")
    A.add_quiet(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..demo import DemoConfig, run_demo

    A.check_count("--n-test", args.n_test, A.MNIST_TEST, "the MNIST test set's size")
    A.check_count("--n-emulator", args.n_emulator, A.MNIST_TEST, "the MNIST test set's size")
    A.check_count("--n-fast", args.n_fast, A.MNIST_TEST, "the MNIST test set's size")
    more, loihi = (0, 0) if args.seed_only else (args.extra_relu_epochs, args.loihi_epochs)
    run_demo(DemoConfig(epochs=args.epochs, extra_relu_epochs=more, loihi_epochs=loihi,
                        target_rate_hz=args.target_rate,
                        fine_tune_rate_hz=args.fine_tune_rate,
                        n_test=args.n_test, n_emulator=args.n_emulator,
                        n_fast=args.n_fast, out_dir=args.out, progress=not args.quiet,
                        latency=args.latency,
                        latency_relu_epochs=args.latency_relu_epochs,
                        latency_time_epochs=args.latency_time_epochs))
    return 0
