"""The ``snnkit`` command line (also ``python -m snnkit``)."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from .demo import DemoConfig, run_demo

    run_demo(DemoConfig(epochs=args.epochs, n_test=args.n_test,
                        n_emulator=args.n_emulator, out_dir=args.out,
                        progress=not args.quiet))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnkit", description="Keras models to spiking networks on Loihi.")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo", help="the seed workflow on MNIST: train, calibrate, evaluate, freeze")
    demo.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    demo.add_argument("--n-test", type=int, default=1000,
                      help="test images for NengoDL evaluation (default 1000)")
    demo.add_argument("--n-emulator", type=int, default=50,
                      help="test images for the Loihi emulator (default 50)")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # one line for users; the traceback with --debug
        if args.debug:
            raise
        from .exceptions import SnnkitError

        kind = "error" if isinstance(e, (SnnkitError, OSError)) else type(e).__name__
        print(f"snnkit {args.command}: {kind}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
