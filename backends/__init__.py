"""Interchangeable backends that run the same FrozenNetwork and return the same Result.

>>> from snnkit.backends import get_backend
>>> result = get_backend("nengo-dl").run(network, x_test, n_steps=30)
>>> with get_backend("loihi-emulator-fast").prepare(network) as prepared:
...     results = [prepared.run(x, n_steps=n) for n in (10, 20, 30)]  # built once

To write a backend: :mod:`snnkit.backends.toolkit`. Importing this package registers
the built-in backends without importing nengo, nengo-loihi or TensorFlow.
"""

# Importing a backend module registers it.
from snnkit.backends import (  # noqa: E402,F401
    loihi_emulator,
    loihi_emulator_fast,
    loihi_hardware,
    nengo_backend,
    nengo_dl_backend,
)
from snnkit.backends.base import PRESENTATIONS, Backend, PreparedNetwork
from snnkit.backends.registry import (
    BackendEntry,
    available_backends,
    backend_entries,
    get_backend,
    register_backend,
    registered_backends,
    unregister_backend,
)
from snnkit.network.inputs import check_inputs, check_n_steps

__all__ = [
    "PRESENTATIONS",
    "Backend",
    "BackendEntry",
    "PreparedNetwork",
    "available_backends",
    "backend_entries",
    "check_inputs",
    "check_n_steps",
    "get_backend",
    "register_backend",
    "registered_backends",
    "unregister_backend",
]
