"""Lazy public names for a package (PEP 562): the package lists ``{name: module}`` and
each name's module is imported on first use, so importing the package itself stays
instant (``snnkit``, ``snnkit.tuning``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str], *,
                 before_first: Callable[[], object] | None = None):
    """A package's module ``__getattr__`` and ``__dir__`` for lazy public names.

    A name, once loaded, is stored in the package, so later lookups do not come back
    here.

    Parameters
    ----------
    package : str
        The package (its ``__name__``).
    exports : dict
        Maps each public name to the submodule that defines it.
    before_first : callable or None
        Runs before a submodule is imported (e.g. to start TensorFlow quietly).

    Returns
    -------
    (__getattr__, __dir__) : tuple of callables
        For the package's module level.
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if before_first is not None:
            before_first()
        value = getattr(importlib.import_module(f".{exports[name]}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
