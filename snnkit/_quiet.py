"""Keep the stack's start-up noise out of the user's terminal, not its errors.

Imported by ``snnkit/__init__.py`` before TensorFlow is. What is hidden:

- TensorFlow's C++ INFO and WARNING log lines (``TF_CPP_MIN_LOG_LEVEL`` raised to 2);
  its C++ ERROR lines still print. Set ``SNNKIT_VERBOSE=1`` to keep all of it.
- nengo-dl's "No GPU support detected" and the nengo family's "not tested with your
  Nengo version" warnings: both are about the install, not the user's model.
- TensorFlow's own Python-side INFO/WARNING chatter (its logger at level ERROR).

Everything else (exceptions, other warnings, ERROR logs) passes through unchanged.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings

VERBOSE = os.environ.get("SNNKIT_VERBOSE", "") not in ("", "0")

if not VERBOSE:
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        level = 0
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(max(level, 2))

_QUIET_WARNINGS = (
    r".*No GPU support detected.*",
    r".*not tested with (your|this) .*version.*",
    r".*has not been tested with.*",
    r".*is not tested with nengo.*",
)


def install_filters() -> None:
    """Add snnkit's warning filters (idempotent: ``warnings`` de-duplicates them)."""
    if VERBOSE:
        return
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


install_filters()

_TF_NOISE_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+: [IW] ")


@contextlib.contextmanager
def _without_tf_noise_on_stderr():
    """Route file descriptor 2 through a filter that drops TensorFlow's C++ INFO and
    WARNING lines and passes everything else on (ERROR/FATAL lines included).

    Needed while nengo-dl is imported: its ``__init__`` forces
    ``TF_CPP_MIN_LOG_LEVEL=1`` and then runs a *subprocess* that imports TensorFlow to
    look for GPUs, which prints TensorFlow's TensorRT warning to our terminal.
    """
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
                if VERBOSE or not _TF_NOISE_LINE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


_level = os.environ["TF_CPP_MIN_LOG_LEVEL"]
with _without_tf_noise_on_stderr():
    import tensorflow  # noqa: E402,F401
    import nengo_dl  # noqa: E402,F401
os.environ["TF_CPP_MIN_LOG_LEVEL"] = _level  # nengo-dl set it to 1
