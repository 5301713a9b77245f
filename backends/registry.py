"""The registry of backends: the built-ins, plus third-party ones from the entry-point
group ``snnkit.backends`` (each entry point names a :class:`Backend` subclass, under
the backend's own name):

    [project.entry-points."snnkit.backends"]
    my-chip = "my_package.backend:MyChipBackend"

Entry points are read on the first lookup. A plugin that fails to load, or whose
name is taken, is reported by name (a warning, and a :class:`BackendEntry` with its
``error``) and never breaks the other lookups.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import warnings
from dataclasses import dataclass

from snnkit.backends.base import Backend
from snnkit.exceptions import (
    BackendRegistryError,
    BackendUnavailable,
    UnknownNameError,
    UnknownOptionError,
)

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "snnkit.backends"


@dataclass(frozen=True)
class BackendEntry:
    """One registered name: the backend class, or why its plugin could not load.

    :meth:`BackendRegistry.entries` lists them; a plugin that failed is an entry
    too, so ``snnkit backends`` can say why it is missing.

    Attributes
    ----------
    name : str
        The registered name, as given to ``get_backend`` and ``--backend``.
    description : str
        The backend's description.
    source : str
        Where it came from (``"snnkit"`` for the built-ins, else the entry point).
    backend_class : type or None
        The :class:`Backend` subclass; None when its plugin could not load.
    error : str or None
        Why its plugin could not load; None for a loaded backend.
    """

    name: str
    description: str
    source: str
    backend_class: type | None = None
    error: str | None = None

    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not."""
        if self.error is not None:
            return self.error
        return self.backend_class.unavailable_reason()

    @property
    def is_available(self) -> bool:
        """True when :meth:`unavailable_reason` is None."""
        return self.unavailable_reason() is None


class BackendRegistry:
    """Backends by name.

    Registering a taken name is an error unless ``override=True``; see the module
    docstring for plugins.

    Parameters
    ----------
    entry_point_group : str or None, optional
        The entry-point group plugins are read from; None reads none.
    """

    def __init__(self, entry_point_group: str | None = ENTRY_POINT_GROUP):
        self._entries: dict[str, BackendEntry] = {}
        self._group = entry_point_group
        self._plugins_loaded = entry_point_group is None

    def register(self, cls: type, *, override: bool = False,
                 source: str = "snnkit") -> type:
        """Add a Backend subclass under ``cls.name``; usable as a class decorator.

        Parameters
        ----------
        cls : type
            A :class:`Backend` subclass that implements every abstract method, with a
            non-empty ``name`` and ``description``.
        override : bool, optional
            Replace a backend registered under the same name.
        source : str, optional
            Where it comes from (``"snnkit"`` for the built-ins, else the entry
            point).

        Returns
        -------
        type
            ``cls``.

        Raises
        ------
        BackendRegistryError
            If ``cls`` is not such a subclass, or its name is taken and not
            ``override``.
        """
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise BackendRegistryError(
                f"register_backend: expected a Backend subclass, got {cls!r}")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise BackendRegistryError(
                f"register_backend: {cls.__name__} does not implement {missing}")
        for attribute in ("name", "description"):
            if not isinstance(getattr(cls, attribute), str) \
                    or not getattr(cls, attribute):
                raise BackendRegistryError(
                    f"register_backend: {cls.__name__}.{attribute}: expected a "
                    f"non-empty string, got {getattr(cls, attribute)!r}")
        taken = self._entries.get(cls.name)
        if taken is not None and taken.backend_class is not cls and not override:
            raise BackendRegistryError(
                f"register_backend: a backend named {cls.name!r} is already registered "
                f"(from {taken.source}); pass override=True to replace it")
        self._entries[cls.name] = BackendEntry(cls.name, cls.description, source, cls)
        return cls

    def unregister(self, name: str) -> None:
        """Remove ``name`` (e.g. a backend a test registered)."""
        self._check_name(name)
        del self._entries[name]

    def entries(self) -> tuple[BackendEntry, ...]:
        """Every registered name, usable here or not, broken plugins included."""
        self._load_plugins()
        return tuple(self._entries.values())

    def names(self) -> tuple[str, ...]:
        """Every registered name, usable here or not."""
        return tuple(entry.name for entry in self.entries())

    def available(self) -> tuple[str, ...]:
        """The names of the backends that can run here."""
        return tuple(entry.name for entry in self.entries() if entry.is_available)

    def get(self, name: str, *, require_available: bool = False, **settings) -> Backend:
        """A new backend instance by name, with its ``settings``.

        Parameters
        ----------
        name : str
            A registered name.
        require_available : bool, optional
            Raise at once if the backend cannot run here.
        **settings
            The backend's settings (its constructor's arguments).

        Returns
        -------
        Backend

        Raises
        ------
        UnknownNameError
            If ``name`` is not registered; the message lists the registered names.
        BackendUnavailable
            If the backend's plugin failed to load, or (``require_available``) the
            backend cannot run here.
        UnknownOptionError
            If a setting is unknown; the message lists the backend's settings.
        """
        entry = self._check_name(name)
        if entry.error is not None:
            raise BackendUnavailable(f"backend {name!r} is unavailable: {entry.error}")
        cls = entry.backend_class
        if require_available and not cls.is_available():
            raise BackendUnavailable(
                f"backend {name!r} is unavailable: {cls.unavailable_reason()}")
        _check_settings(cls, settings)
        return cls(**settings)

    def _check_name(self, name) -> BackendEntry:
        entries = {entry.name: entry for entry in self.entries()}
        if name not in entries:
            raise UnknownNameError(
                f"backend: {name!r} not found in registry. Available names: "
                f"{', '.join(entries)}")
        return entries[name]

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry_point in importlib.metadata.entry_points(group=self._group):
            self._load_plugin(entry_point)

    def _load_plugin(self, entry_point) -> None:
        dist = getattr(entry_point, "dist", None)
        source = (f"entry point {entry_point.name!r} = {entry_point.value!r}"
                  + (f" of {dist.name} {dist.version}" if dist is not None else ""))
        taken = self._entries.get(entry_point.name)
        if taken is not None:
            self._report(
                f"backend plugin {entry_point.name!r} ({source}) ignored: the name is "
                f"taken by the backend from {taken.source}")
            return
        try:
            cls = entry_point.load()
            if getattr(cls, "name", None) != entry_point.name:
                raise BackendRegistryError(
                    f"expected a Backend subclass named {entry_point.name!r}, got "
                    f"{cls!r} named {getattr(cls, 'name', None)!r}")
            self.register(cls, source=source)
        except Exception as e:  # a broken plugin must not break the other backends
            error = f"plugin failed to load ({source}): {type(e).__name__}: {e}"
            self._report(f"backend {entry_point.name!r}: {error}")
            self._entries[entry_point.name] = BackendEntry(
                entry_point.name, "(could not be loaded)", source, error=error)

    @staticmethod
    def _report(message: str) -> None:
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _check_settings(cls: type, settings: dict) -> None:
    """Unknown setting names get an error that lists the backend's settings."""
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    unknown = sorted(set(settings) - set(cls.settings()))
    if unknown:
        known = ", ".join(cls.settings()) or "none"
        raise UnknownOptionError(
            f"get_backend: backend {cls.name!r} has no setting(s) "
            f"{', '.join(map(repr, unknown))}; its settings are: {known}")


REGISTRY = BackendRegistry()


def register_backend(cls: type | None = None, *, override: bool = False):
    """Add a Backend subclass to the registry (a class decorator).

    Usable with or without ``(override=True)``.

    Parameters
    ----------
    cls : type, optional
        The :class:`Backend` subclass (None: return a decorator).
    override : bool, optional
        Replace a backend registered under the same name.

    Returns
    -------
    type or callable
        ``cls``, or (without ``cls``) the decorator.

    Raises
    ------
    BackendRegistryError
        If the name is taken, unless ``override=True``.
    """
    if cls is None:
        return lambda c: REGISTRY.register(c, override=override)
    return REGISTRY.register(cls, override=override)


def unregister_backend(name: str) -> None:
    """Remove a registered backend by name."""
    REGISTRY.unregister(name)


def backend_entries() -> tuple[BackendEntry, ...]:
    """Every registered backend with its description, source and availability."""
    return REGISTRY.entries()


def registered_backends() -> tuple[str, ...]:
    """Names of all registered backends, usable here or not."""
    return REGISTRY.names()


def available_backends() -> tuple[str, ...]:
    """Names of the backends that can run on this machine."""
    return REGISTRY.available()


def get_backend(name: str, *, require_available: bool = False, **settings) -> Backend:
    """A new backend instance by name, with its settings.

    An unavailable backend (e.g. ``"loihi"`` without nxsdk) is still returned, so its
    ``run`` can say what is missing.

    Parameters
    ----------
    name : str
        A registered name (:func:`registered_backends`).
    require_available : bool, optional
        Raise at once if the backend cannot run here.
    **settings
        The backend's settings, e.g. ``minibatch_size=50`` for ``"nengo-dl"``.

    Returns
    -------
    Backend

    Raises
    ------
    BackendUnavailable
        With ``require_available=True`` if the backend cannot run here, and for a
        plugin that failed to load.
    UnknownNameError
        If ``name`` is not registered.
    UnknownOptionError
        If a setting is unknown.
    """
    return REGISTRY.get(name, require_available=require_available, **settings)
