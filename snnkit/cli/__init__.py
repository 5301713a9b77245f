"""The ``snnkit`` command line (also ``python -m snnkit``).

Subcommands: ``demo``, ``train``, ``convert``, ``calibrate``, ``inspect``, ``tune``
(delegates to :mod:`snnkit.tuning`), ``bench``, ``export``, ``backends``. Their options
are declared in ``commands.toml`` (built into parsers by :mod:`.declared`); the work is
done by one module each in this package (its ``run``), imported only once the command
is known; :mod:`.arguments` holds what they share. Only the standard library is
imported until a subcommand runs, so ``--help``, ``--version`` and usage errors answer
at once.
Every failure ends with one line on stderr and a non-zero exit code (2 for bad
arguments, 1 for anything else, 130 when interrupted with Ctrl-C, whenever that
comes); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from snnkit.cli import arguments, declared, interrupts


def build_parser() -> argparse.ArgumentParser:
    """The ``snnkit`` parser, with a subparser for every declared subcommand."""
    from snnkit import __version__

    parser = arguments.Parser(
        prog="snnkit", description="Keras models to spiking networks on Loihi.")
    parser.add_argument("--version", action="version", version=f"snnkit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks on errors")
    # also accepted after the subcommand; SUPPRESS keeps it from resetting the above
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in declared.command_names():
        declared.add_command(commands, command, parents=[common])
    return parser


def main(argv=None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code.
    """
    with interrupts.ctrl_c_stops_the_command() as interrupt:
        try:
            parser = build_parser()
            args, extra = parser.parse_known_args(argv)
            if extra and args.command == "export" and args.legacy_out is None \
                    and len(extra) == 1 and not extra[0].startswith("-"):
                # the deprecated positional output after the options (`export NET
                # --format nir OUT`): argparse gives an optional positional nothing
                # once options intervene
                args.legacy_out, extra = extra[0], []
            if extra:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            # the command's module is imported here (seconds, for the heavy stack):
            # an interruption while it loads is one line, like one during the work
            code = arguments.run_reporting_errors(args.command, declared.runner(args),
                                                  args)
        except KeyboardInterrupt:
            print("snnkit: interrupted", file=sys.stderr)
            code = 130
        interrupt.raised = interrupt.raised or code == 130
    return code


if __name__ == "__main__":
    sys.exit(main())
