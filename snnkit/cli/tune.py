"""The ``tune`` subcommand: a search from a JSON configuration (:mod:`snnkit.tuning.config`),
local, chief or worker; also ``python -m snnkit.tuning``."""

from __future__ import annotations

from . import arguments as A


def register(commands, common) -> None:
    parser = commands.add_parser(
        "tune", parents=[common], help="keras-tuner search over per-layer scales or "
                                       "rate targets (JSON config)",
        description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv=None) -> int:
    """``python -m snnkit.tuning CONFIG.json [...]``: this subcommand on its own."""
    parser = A.Parser(prog="python -m snnkit.tuning", description=DESCRIPTION)
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    args = parser.parse_args(argv)
    return A.run_reporting_errors("tune", run, args)


DESCRIPTION = ("Run a search described by a JSON configuration (search 'scale' or "
               "'rate', network or model, data, options, export, summary; see "
               "snnkit.tuning.config), locally or as the chief or a worker of a "
               "distributed search.")


def add_arguments(parser) -> None:
    parser.add_argument("config", help="JSON configuration file")
    parser.add_argument("--objective", default=None,
                        help="replace options.objective: a metric (accuracy, "
                             "synaptic_ops, ...), accuracy_at_steps/N, "
                             "steps_to_accuracy/X (X in %%), pareto or pareto/X; "
                             "pareto.csv and pareto.png go to the search directory")
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the oracle on --address:--port until all workers end")
    role.add_argument("--worker", action="store_true",
                      help="run trials for the chief at --address:--port")
    parser.add_argument("--address", default=None,
                        help="chief: address to listen on (default 0.0.0.0); worker: "
                             "the chief's address (required)")
    parser.add_argument("--port", type=A.int_at_least(1), default=8000,
                        help="the chief's port (default 8000)")
    parser.add_argument("--workers", type=A.int_at_least(1), default=None,
                        help="chief: wait until this many workers have checked in "
                             "before ending (a late worker then ends cleanly); "
                             "default: end when the last trial is done")
    parser.add_argument("--worker-id", default=None,
                        help="unique worker name (default: the process id)")
    parser.add_argument("--chief-timeout", type=A.positive_float, default=120.0,
                        help="worker: seconds to wait for the chief to answer "
                             "(default 120)")


def run(args) -> int:
    """Delegates to snnkit.tuning's configuration runner (its owner documents the
    JSON format in snnkit/tuning/config.py)."""
    config = A.input_file(args.config, "config", (".json",))
    from .._stack import import_tensorflow

    import_tensorflow()  # keras-tuner imports it: let it start quietly
    from ..tuning.config import run_chief, run_search, run_worker, with_objective
    from ..tuning.pareto_files import write_pareto_files

    config = with_objective(str(config), args.objective)
    if args.chief:
        search = run_chief(config, address=args.address or "0.0.0.0", port=args.port,
                           expected_workers=args.workers)
    elif args.worker:
        if not args.address:
            raise A.error("--address: a worker needs the chief's address, got none")
        run_worker(config, address=args.address, port=args.port,
                   worker_id=args.worker_id, chief_timeout_s=args.chief_timeout)
        return 0
    else:
        search = run_search(config)
    for path in write_pareto_files(search):
        print(f"wrote {path}")
    return 0
