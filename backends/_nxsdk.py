"""The one place snnkit asks whether Intel's nxsdk (the Loihi hardware SDK) is here.

nengo-loihi 1.1.0 already tries ``import nxsdk`` once, in
``nengo_loihi.hardware.nxsdk_shim``; we reuse its answer rather than importing the SDK
a second time.
"""

from __future__ import annotations

from nengo_loihi.hardware import nxsdk_shim

HAS_NXSDK: bool = bool(nxsdk_shim.HAS_NXSDK)


def nxsdk_missing_reason() -> str | None:
    """None when nxsdk imports, else a sentence saying it is missing and what to use."""
    if HAS_NXSDK:
        return None
    return ("Intel's nxsdk (the Loihi hardware SDK) is not installed, so nengo-loihi "
            "cannot reach a Loihi board; use backend 'loihi-emulator' to emulate the "
            "chip on this machine")
