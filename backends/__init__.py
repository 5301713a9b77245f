"""Interchangeable backends that run the same FrozenNetwork and return the same Result.

>>> from snnkit.backends import get_backend
>>> result = get_backend("nengo-dl").run(network, x_test, n_steps=30)
"""

from .base import PRESENTATIONS, Backend, check_inputs, check_n_steps
from .registry import (
    available_backends,
    get_backend,
    register_backend,
    registered_backends,
)

# Importing a backend module registers it.
from . import (  # noqa: E402,F401
    loihi_emulator,
    loihi_emulator_fast,
    loihi_hardware,
    nengo_backend,
    nengo_dl_backend,
)

__all__ = [
    "PRESENTATIONS",
    "Backend",
    "available_backends",
    "check_inputs",
    "check_n_steps",
    "get_backend",
    "register_backend",
    "registered_backends",
]
