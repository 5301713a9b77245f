"""Errors of the tuning package, fitted into both hierarchies: snnkit's (so ``except
snnkit.SnnkitError`` / ``ValueError`` work) and keras-tuner's (a
``FatalValueError`` stops a search at once, wherever it is raised)."""

from __future__ import annotations

from keras_tuner.errors import FailedTrialError, FatalValueError

from snnkit.exceptions import SnnkitError, ValidationError

__all__ = ["ChiefUnreachableError", "FailedTrialError", "SearchConfigError",
           "SearchLockedError", "SearchStateError"]


class SearchConfigError(ValidationError, FatalValueError):
    """An invalid search configuration (bounds, layer, objective, max_trials, ...)."""


class ChiefUnreachableError(SnnkitError, ConnectionError):
    """A worker could not reach the chief oracle at the address it was given."""


class SearchLockedError(SnnkitError, RuntimeError):
    """Another search is running in the same project directory."""


class SearchStateError(SnnkitError, ValueError):
    """A search directory whose saved state cannot be read."""
