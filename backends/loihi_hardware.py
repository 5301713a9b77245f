"""Backend ``"loihi"``: a Loihi board through nengo-loihi (``target="loihi"``).

It needs Intel's nxsdk (``snnkit.backends.loihi.nxsdk``). Without it ``is_available()`` is
False and ``run`` raises :class:`~snnkit.exceptions.BackendUnavailable` naming nxsdk
and pointing to ``"loihi-emulator"``; it never falls back to the emulator on its own.

The network is prepared exactly as for ``"loihi-emulator"`` (same checks, same core
plan, same probes): only the nengo-loihi target differs. ``sequential`` is the
hardware's natural mode; ``reset`` starts a fresh board run per input (slow: each run
pays the board's setup time).
"""

from __future__ import annotations

from snnkit.backends.loihi_emulator import LoihiEmulatorBackend
from snnkit.backends.registry import register_backend


@register_backend
class LoihiHardwareBackend(LoihiEmulatorBackend):
    """Runs the network on a Loihi board; see the module docstring."""

    name = "loihi"
    description = "a Loihi board through nengo-loihi (target 'loihi'); needs nxsdk"
    target = "loihi"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        from snnkit.backends.loihi.nxsdk import nxsdk_missing_reason

        return nxsdk_missing_reason()
