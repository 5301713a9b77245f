"""The registry of backends: built-ins, plus third-party ones from the entry-point
group ``snnkit.backends`` (each entry point names a :class:`Backend` subclass)."""

from __future__ import annotations

import importlib.metadata

from snnkit.exceptions import BackendUnavailable, UnknownNameError, ValidationError

from .base import Backend

ENTRY_POINT_GROUP = "snnkit.backends"
_REGISTRY: dict[str, type] = {}
_entry_points_loaded = False


def register_backend(cls: type) -> type:
    """Add a Backend subclass under ``cls.name``; usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ValidationError(f"register_backend: expected a Backend subclass, got {cls!r}")
    if not cls.name:
        raise ValidationError(f"register_backend: {cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValidationError(
            f"register_backend: a backend named {cls.name!r} is already registered "
            f"({_REGISTRY[cls.name].__module__}.{_REGISTRY[cls.name].__name__})")
    _REGISTRY[cls.name] = cls
    return cls


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if cls.name not in _REGISTRY:
            register_backend(cls)


def registered_backends() -> tuple[str, ...]:
    """Names of all registered backends, usable here or not."""
    _load_entry_points()
    return tuple(_REGISTRY)


def available_backends() -> tuple[str, ...]:
    """Names of the backends that can run on this machine."""
    return tuple(name for name in registered_backends() if _REGISTRY[name].is_available())


def get_backend(name: str, *, require_available: bool = False, **options) -> Backend:
    """A new backend instance by name.

    An unavailable backend (e.g. ``"loihi"`` without nxsdk) is still returned, so its
    ``run`` can say what is missing; ``require_available=True`` raises at once.
    """
    registered = registered_backends()
    if name not in registered:
        raise UnknownNameError(
            f"backend: {name!r} not found in registry. Available names: "
            f"{', '.join(registered)}")
    cls = _REGISTRY[name]
    if require_available and not cls.is_available():
        raise BackendUnavailable(f"backend {name!r} is unavailable: {cls.unavailable_reason()}")
    return cls(**options)
