"""``python -m snnkit.tuning CONFIG.json [--chief | --worker ...]``: run a search from
a JSON configuration (see :mod:`snnkit.tuning.config`), locally or distributed."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m snnkit.tuning",
        description="Search per-layer scales or rate targets with keras-tuner; "
                    "one chief and any number of workers for a distributed search.")
    parser.add_argument("config", help="JSON configuration file")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the oracle on --address:--port until all workers end")
    role.add_argument("--worker", action="store_true",
                      help="run trials for the chief at --address:--port")
    parser.add_argument("--address", default=None,
                        help="chief: address to listen on (default 0.0.0.0); worker: "
                             "the chief's address (required)")
    parser.add_argument("--port", type=int, default=8000, help="chief's port (8000)")
    parser.add_argument("--worker-id", default=None,
                        help="unique worker name (default: the process id)")
    parser.add_argument("--chief-timeout", type=float, default=120.0,
                        help="worker: seconds to wait for the chief to answer (120)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from snnkit.exceptions import SnnkitError

    from .config import run_chief, run_search, run_worker

    try:
        if args.chief:
            run_chief(args.config, address=args.address or "0.0.0.0", port=args.port)
        elif args.worker:
            if not args.address:
                print("python -m snnkit.tuning: error: --worker needs --address (the "
                      "chief's address)", file=sys.stderr)
                return 2
            run_worker(args.config, address=args.address, port=args.port,
                       worker_id=args.worker_id, chief_timeout_s=args.chief_timeout)
        else:
            run_search(args.config)
    except SnnkitError as e:
        print(f"python -m snnkit.tuning: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
