"""The one door to the heavy stack (TensorFlow, nengo-dl, nengo-loihi), opened on
first need.

``import snnkit`` imports none of them; the first function that needs one calls
:func:`import_tensorflow`, :func:`import_nengo_dl` or :func:`import_nengo_loihi`, which
keeps the stack's start-up noise out of the user's terminal, not its errors:

- TensorFlow's C++ INFO and WARNING log lines (``TF_CPP_MIN_LOG_LEVEL`` raised to 2
  when the stack is first loaded, and kept there: nengo-dl lowers it to 1 on import);
  its C++ ERROR lines still print.
- nengo-dl's "No GPU support detected" (on every ``nengo_dl.Simulator``) and the nengo
  family's "not tested with your Nengo version" warnings: both are about the install,
  not the user's model. These filters stay installed once the stack is loaded.
- TensorFlow's own Python-side INFO/WARNING chatter (its logger at level ERROR).

Set ``SNNKIT_VERBOSE=2`` (the command line's ``-vv``) to keep all of it;
``SNNKIT_VERBOSE=1`` (``-v``) shows snnkit's own log only. Everything else
(exceptions, other warnings, ERROR logs) passes through unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

_QUIET_WARNINGS = (
    r".*No GPU support detected.*",
    r".*not tested with (your|this) .*version.*",
    r".*has not been tested with.*",
    r".*is not tested with nengo.*",
)
_TF_NOISE_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+: [IW] ")
_TF_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


def verbose() -> bool:
    """True when the user asked to see the stack's own messages (``SNNKIT_VERBOSE=2``
    or more: TensorFlow's start-up lines are many, and ``-v``, level 1, is for
    snnkit's own decisions)."""
    text = os.environ.get("SNNKIT_VERBOSE", "").strip()
    try:
        return int(text) >= 2
    except ValueError:
        return False


def install_filters() -> None:
    """Add snnkit's warning filters (idempotent: ``warnings`` de-duplicates them).

    pytest resets warning filters around each test; its configuration repeats these.
    """
    if verbose():
        return
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tensorflow():
    """``tensorflow``, imported quietly the first time."""
    if "tensorflow" not in sys.modules:
        with _quiet_start():
            import tensorflow  # noqa: F401
    install_filters()
    return sys.modules["tensorflow"]


def import_nengo_dl():
    """``nengo_dl`` (and TensorFlow), imported quietly the first time.

    nengo-dl's ``__init__`` forces ``TF_CPP_MIN_LOG_LEVEL=1`` and runs a *subprocess*
    that imports TensorFlow to look for GPUs, which prints TensorFlow's TensorRT
    warning to our terminal: file descriptor 2 is filtered while it starts.
    """
    if "nengo_dl" not in sys.modules:
        with _quiet_start():
            import nengo_dl  # noqa: F401
    install_filters()
    return sys.modules["nengo_dl"]


def import_nengo_loihi():
    """``nengo_loihi`` (which imports nengo-dl, hence TensorFlow), quietly."""
    import_nengo_dl()
    if "nengo_loihi" not in sys.modules:
        with _quiet_start():
            import nengo_loihi  # noqa: F401
    return sys.modules["nengo_loihi"]


@contextlib.contextmanager
def _quiet_start():
    """Start part of the stack with TensorFlow's C++ INFO/WARNING lines hidden and the
    version warnings filtered."""
    if verbose():
        yield
        return
    install_filters()
    try:
        level = int(os.environ.get(_TF_LEVEL, "0"))
    except ValueError:
        level = 0
    level = str(max(level, 2))
    os.environ[_TF_LEVEL] = level
    try:
        with _without_tf_noise_on_stderr():
            yield
    finally:
        os.environ[_TF_LEVEL] = level  # nengo-dl set it to 1


@contextlib.contextmanager
def _without_tf_noise_on_stderr():
    """Route file descriptor 2 through a filter that drops TensorFlow's C++ INFO and
    WARNING lines and passes everything else on (ERROR/FATAL lines included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines(True):
                if not _TF_NOISE_LINE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()
