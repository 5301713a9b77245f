"""The ``tune`` subcommand: a search from a JSON configuration
(:mod:`snnkit.tuning.config`), local, chief or worker; also ``python -m snnkit.tuning``.
"""

from __future__ import annotations

from snnkit.cli import arguments as A


def main(argv=None) -> int:
    """``python -m snnkit.tuning CONFIG.json [...]``: this subcommand on its own."""
    from snnkit.cli import declared

    parser = A.Parser(prog="python -m snnkit.tuning",
                      description=declared.declarations()["command"]["tune"]["description"])
    declared.add_options(parser, "tune")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    args = parser.parse_args(argv)
    return A.run_reporting_errors("tune", run, args)


def run(args) -> int:
    """Delegates to snnkit.tuning's configuration runner.

    Its owner documents the JSON format in :mod:`snnkit.tuning.config`
    (``tuning/config.py``).
    """
    config = A.input_file(args.config, "config", (".json",))
    from snnkit.utils.stack import import_tensorflow

    import_tensorflow()  # keras-tuner imports it: let it start quietly
    from snnkit.tuning.config import run_chief, run_search, run_worker, with_objective
    from snnkit.tuning.pareto_files import write_pareto_files

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
