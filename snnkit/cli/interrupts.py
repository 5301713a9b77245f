"""Ctrl-C while a command runs: always one line and exit 130, wherever it lands.

Python's own handler raises KeyboardInterrupt at the next bytecode, which is not
always where it can stop the command:

- in a finalizer (``__del__``, a weakref callback: a library's cleanup), Python can
  only print it ("Exception ignored in ...") and drop it;
- during an import, a C extension loading a module may print and drop it too.

Either way the command would run to its end. :func:`ctrl_c_stops_the_command` sends
the interrupt again, 50 ms later, until it lands where it propagates; once it has, the
finalizers of what it left half-built (e.g. TensorFlow's graphs) fail, and that is
not printed.
"""

from __future__ import annotations

import contextlib
import signal
import sys


class _Interrupt:
    """The running command's interruption state."""

    def __init__(self):
        self.raised = False


@contextlib.contextmanager
def ctrl_c_stops_the_command():
    """Handle SIGINT (when Python's own handler is installed and this is the main
    thread) and finalizer-dropped interrupts while the block runs.

    Yields
    ------
    object
        Its ``raised`` is True once a KeyboardInterrupt was raised; the caller sets
        it too when it stops on one it did not see raised here.
    """
    state = _Interrupt()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: _unraisable(state, previous_hook, unraisable)
    previous_handler = _install(lambda signum, frame: _on_ctrl_c(state, frame))
    try:
        yield state
    finally:
        # after an interruption, nothing half-built reports its failed cleanup
        sys.unraisablehook = (lambda unraisable: None) if state.raised else previous_hook
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)


def _install(handler):
    """``handler`` for SIGINT if Python's own handler is there (and this is the main
    thread); the handler it replaced, or None."""
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None


def _on_ctrl_c(state, frame) -> None:
    """A KeyboardInterrupt, as Python's own handler raises, except during an import:
    there it is sent again shortly, until the import is done."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            _send_again()
            return
        frame = frame.f_back
    state.raised = True
    raise KeyboardInterrupt


def _unraisable(state, previous_hook, unraisable) -> None:
    """A KeyboardInterrupt a finalizer dropped is sent again (raised here, it would
    be dropped again); after an interruption, a failed cleanup is not printed."""
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        _send_again()
    elif not state.raised:
        previous_hook(unraisable)


def _send_again(delay_s: float = 0.05) -> None:
    """SIGINT to this process in ``delay_s`` seconds, from another thread: handled
    in the main thread at its next step after that."""
    import os
    import threading

    resend = threading.Timer(delay_s, os.kill, args=(os.getpid(), signal.SIGINT))
    resend.daemon = True
    resend.start()
