"""What software and machine ran: recorded with every Result and benchmark so two
runs can be told apart."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform

# the stack whose versions every Result records
_VERSIONED = ("snnkit", "nengo", "nengo-dl", "nengo-loihi", "nengo-extras", "tensorflow",
              "numpy", "nxsdk")


def package_versions(names=_VERSIONED) -> dict[str, str | None]:
    """The installed versions of distributions.

    Read from installed metadata: nothing is imported.

    Parameters
    ----------
    names : iterable of str
        Distribution names (default: the stack whose versions every Result records).

    Returns
    -------
    dict
        ``{distribution: version or None}``; a missing package is a fact, not an
        error.
    """
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_environment() -> dict:
    """Package versions, Python, CPU and date.

    Enough to tell two benchmark runs apart.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "versions": package_versions(_VERSIONED + ("matplotlib",)),
    }
