"""The one place snnkit asks whether Intel's nxsdk (the Loihi hardware SDK) is here.

nengo-loihi 1.1.0 already tries ``import nxsdk`` once, in
``nengo_loihi.hardware.nxsdk_shim``; we reuse its answer rather than importing the SDK
a second time. When no ``nxsdk`` package is installed at all, the answer needs no
import (so ``snnkit backends`` stays quick).
"""

from __future__ import annotations

import functools
import importlib.util

_MISSING = ("Intel's nxsdk (the Loihi hardware SDK) is not installed, so nengo-loihi "
            "cannot reach a Loihi board; use backend 'loihi-emulator' to emulate the "
            "chip on this machine")


@functools.lru_cache(maxsize=None)
def has_nxsdk() -> bool:
    """True when nengo-loihi could import nxsdk."""
    if importlib.util.find_spec("nxsdk") is None:
        return False
    from snnkit.utils.stack import import_nengo_loihi

    import_nengo_loihi()
    from nengo_loihi.hardware import nxsdk_shim

    return bool(nxsdk_shim.HAS_NXSDK)


def nxsdk_missing_reason() -> str | None:
    """None when nxsdk imports, else a sentence saying it is missing and what to use."""
    return None if has_nxsdk() else _MISSING


def __getattr__(name: str):
    if name == "HAS_NXSDK":  # the answer, computed on first use
        return has_nxsdk()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
