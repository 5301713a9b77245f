"""How every ``snnkit`` command talks: one convention for all of them.

- ``-q/--quiet``: no progress bars and no informational lines on stderr; results,
  warnings (e.g. a readout that will read single spikes) and errors still print.
- ``-v/--verbose``: the ``snnkit`` logger (the Loihi core plan, chunk sizes, ...) on
  stderr at INFO; ``-vv`` at DEBUG, with the heavy stack's own start-up messages
  (:mod:`snnkit.utils.stack`). ``SNNKIT_VERBOSE=1`` or ``=2`` in the environment does
  the same; the higher of the two wins.
- ``--json``: one JSON document on stdout, what the command produced (paths,
  accuracies, scales, rates); everything written for people goes to stderr instead.
- A closed output pipe (``snnkit inspect --json | head -1``) ends the command
  quietly with status 141, the status a shell reports for any Unix tool stopped by
  SIGPIPE (``set -o pipefail`` sees the same as with ``cat``).

Standard library only: the parsers import this module, and ``--help`` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
from pathlib import PurePath

VERBOSE_ENV = "SNNKIT_VERBOSE"
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a filter cut short
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

# the real stdout of each running command (a stack: tests nest main() calls)
_DOCUMENT_STREAMS: list = []


def verbosity(args) -> int:
    """The verbosity asked for: the count of ``-v`` or ``SNNKIT_VERBOSE``, the higher.

    ``SNNKIT_VERBOSE`` is a number; any other non-empty value but ``0`` counts as 1
    (as :func:`snnkit.utils.stack.verbose` reads it).
    """
    count = int(getattr(args, "verbose", 0) or 0)
    text = os.environ.get(VERBOSE_ENV, "").strip()
    try:
        from_env = int(text) if text else 0
    except ValueError:
        from_env = 0 if text == "0" else 1
    return max(count, from_env, 0)


@contextlib.contextmanager
def session(args):
    """Run one command under the conventions above; everything is restored after.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments (``verbose``, ``json``; absent ones count as not given).
    """
    level = verbosity(args)
    logger = logging.getLogger("snnkit")
    saved_logger = (logger.level, logger.propagate)
    saved_env = os.environ.get(VERBOSE_ENV)
    handler = None
    if level:
        # the stack's start-up messages follow the same switch, from level 2
        # (snnkit.utils.stack)
        os.environ[VERBOSE_ENV] = str(level)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO if level == 1 else logging.DEBUG)
        logger.propagate = False
    _DOCUMENT_STREAMS.append(sys.stdout)
    try:
        if getattr(args, "json", False):
            # text for people (print()s, tables, keras-tuner's summary) goes to stderr:
            # stdout carries the JSON document alone
            with contextlib.redirect_stdout(sys.stderr):
                yield
        else:
            yield
    finally:
        _DOCUMENT_STREAMS.pop()
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(saved_logger[0])
            logger.propagate = saved_logger[1]
            if saved_env is None:
                os.environ.pop(VERBOSE_ENV, None)
            else:
                os.environ[VERBOSE_ENV] = saved_env


def emit(args, document) -> None:
    """Print ``document`` as the command's JSON output, when ``--json`` was given.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.
    document : dict or list
        What the command produced; numpy values, paths and tuples are converted,
        non-finite numbers become ``null`` (JSON has no NaN).
    """
    if not getattr(args, "json", False):
        return
    stream = _DOCUMENT_STREAMS[-1] if _DOCUMENT_STREAMS else sys.stdout
    stream.write(json.dumps(plain(document), indent=2, allow_nan=False) + "\n")
    stream.flush()


def note(args, text: str) -> None:
    """An informational line for people on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def progress(args) -> bool:
    """Whether to show progress bars (on unless ``--quiet``)."""
    return not getattr(args, "quiet", False)


def plain(value):
    """``value`` as plain JSON data: numpy scalars and arrays, paths, tuples and sets
    converted; NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return plain(value.tolist())
    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    return str(value)


def closed_output() -> int:
    """After a write to a closed pipe: silence stdout for good and give the status.

    Python flushes stdout once more when it exits; pointing the descriptor at
    ``/dev/null`` keeps that flush from printing "Exception ignored ... BrokenPipe".
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return BROKEN_PIPE_EXIT
