"""TensorFlow's op determinism for the length of one fit.

``tf.config.experimental.enable_op_determinism()`` is process-wide and TensorFlow 2.12
exports no way back, so a fit that turned it on for good would change every later
TensorFlow computation of the process (random ops then need seeds; some ops raise for
lack of a deterministic kernel; others slow down). :func:`scoped_determinism` turns it
on for a block and puts back what it found, through the functions TensorFlow defines
beside the exported one (``tensorflow.python.framework.config``), which the pinned
TensorFlow has.
"""

from __future__ import annotations

import contextlib

from snnkit.utils.stack import import_tensorflow


def _switches():
    import_tensorflow()
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled, config.enable_op_determinism, \
        config.disable_op_determinism


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on in this process.

    Returns
    -------
    bool
    """
    return bool(_switches()[0]())


@contextlib.contextmanager
def scoped_determinism(enabled: bool):
    """Op determinism on inside the block (if ``enabled``); the previous state after.

    The previous state is put back whether the block finishes or raises. Kernels a
    block created keep the choice they were made with; a fit's simulator is closed
    by the time the block ends.

    Parameters
    ----------
    enabled : bool
        False: the block runs with the process's current setting, untouched.
    """
    if not enabled:
        yield
        return
    is_enabled, enable, disable = _switches()
    before = bool(is_enabled())
    enable()
    try:
        yield
    finally:
        if not before:
            disable()
