"""What software and machine ran: recorded with every Result and benchmark so two
runs can be told apart."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

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


# variables that choose a BLAS library's kernel or thread count
_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                   "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS")


def blas_libraries() -> list[dict]:
    """The BLAS libraries loaded in this process, with their kernel and threads.

    Read with threadpoolctl: only libraries already loaded are listed (numpy's is,
    once numpy is imported). OpenBLAS chooses its kernel from the CPU it detects; on
    a virtual CPU it may choose a generic one (``Prescott``) several times slower
    than the CPU allows (``OPENBLAS_CORETYPE`` overrides it).

    Returns
    -------
    list of dict
        One per library: ``library`` (``openblas``, ``mkl``, ...), ``version``,
        ``kernel`` (OpenBLAS' core type; None if the library does not say),
        ``threads``, ``threading_layer`` and ``loaded_by`` (the package whose copy
        it is, e.g. ``numpy.libs``).
    """
    from threadpoolctl import threadpool_info

    out = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        path = Path(info.get("filepath") or "")
        out.append({"library": info.get("internal_api"), "version": info.get("version"),
                    "kernel": info.get("architecture"),
                    "threads": info.get("num_threads"),
                    "threading_layer": info.get("threading_layer"),
                    "loaded_by": path.parent.name or None})
    return out


def blas_summary(libraries=None) -> str:
    """One line naming each loaded BLAS: ``openblas 0.3.21 Cooperlake, 2 threads
    (numpy.libs)``, ``;``-separated; ``none loaded`` if there is none.

    Parameters
    ----------
    libraries : list of dict or None
        :func:`blas_libraries` (default: read now).

    Returns
    -------
    str
    """
    libraries = blas_libraries() if libraries is None else libraries
    parts = [f"{b['library']} {b['version']} {b['kernel'] or '(kernel not reported)'}, "
             f"{b['threads']} thread{'s' if b['threads'] != 1 else ''}"
             + (f" ({b['loaded_by']})" if b.get("loaded_by") else "")
             for b in libraries]
    return "; ".join(parts) or "none loaded"


def machine_environment() -> dict:
    """Package versions, Python, CPU, BLAS and date.

    Enough to tell two benchmark runs apart; the BLAS libraries (their kernel and
    threads) and the variables that choose them, because throughput depends on them.
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
        "blas": blas_libraries(),
        "blas_variables": {name: os.environ[name] for name in _BLAS_VARIABLES
                           if name in os.environ},
    }
