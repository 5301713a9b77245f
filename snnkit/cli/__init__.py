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
import functools
import signal
import sys

from snnkit.cli import arguments, declared


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
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(
        _interrupt_again_where_it_can_stop_the_command, previous_hook)
    _INTERRUPTED.clear()
    previous_handler = _handle_ctrl_c()
    code = None
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and args.command == "export" and args.legacy_out is None \
                and len(extra) == 1 and not extra[0].startswith("-"):
            # the deprecated positional output after the options (`export NET --format
            # nir OUT`): argparse gives an optional positional nothing once options
            # intervene
            args.legacy_out, extra = extra[0], []
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        # the command's module is imported here (seconds, for the heavy stack): an
        # interruption while it loads is one line, like one during the work
        code = arguments.run_reporting_errors(args.command, declared.runner(args), args)
        return code
    except KeyboardInterrupt:
        print("snnkit: interrupted", file=sys.stderr)
        code = 130
        return code
    finally:
        # interrupted, objects were left half-built (e.g. TensorFlow's graphs): their
        # finalizers fail when they are collected, which is not the user's concern
        sys.unraisablehook = previous_hook if code != 130 else _quiet_after_interrupt
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)


# non-empty once a Ctrl-C has been raised in the running command
_INTERRUPTED: list = []


def _handle_ctrl_c():
    """Install :func:`_on_ctrl_c` for SIGINT if Python's own handler is there (and
    this is the main thread); return the handler it replaced, or None."""
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, _on_ctrl_c)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None


def _on_ctrl_c(signum, frame) -> None:
    """Ctrl-C: a KeyboardInterrupt, as Python's own handler raises, except during an
    import, where a C extension loading a module may print and drop it (the command
    then ran to its end): there it is sent again shortly, until the import is done."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            _send_ctrl_c_again()
            return
        frame = frame.f_back
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def _interrupt_again_where_it_can_stop_the_command(previous_hook, unraisable) -> None:
    """``sys.unraisablehook`` while a command runs: a Ctrl-C that arrives while Python
    runs a finalizer (``__del__``, a weakref callback: a library's cleanup) becomes a
    KeyboardInterrupt inside it, which Python can only print ("Exception ignored
    in ...") and drop, and the command would go on to the end. It is raised again,
    once the finalizer has returned, where it stops the command with one line."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _send_ctrl_c_again()  # raised here, it would be dropped again
        return
    if _INTERRUPTED:  # the interruption left objects half-built: their cleanup fails
        return
    previous_hook(unraisable)


def _quiet_after_interrupt(unraisable) -> None:
    """``sys.unraisablehook`` after an interrupted command: the finalizers of what
    the interruption left half-built fail; nothing is printed."""


def _send_ctrl_c_again(delay_s: float = 0.05) -> None:
    """SIGINT to this process in ``delay_s`` seconds, from another thread: handled
    in the main thread at its next step after that."""
    import os
    import threading

    resend = threading.Timer(delay_s, os.kill, args=(os.getpid(), signal.SIGINT))
    resend.daemon = True
    resend.start()


if __name__ == "__main__":
    sys.exit(main())
