"""The backend contract: one way to run a FrozenNetwork, the same Result everywhere.

A backend has a ``name``, says whether it can run here (``is_available()``; why not:
``unavailable_reason()``), and implements ``run(network, x, n_steps=...,
presentation=...)``. Input checking and statistics are shared here so that every
backend rejects the same bad input with the same message.
"""

from __future__ import annotations

import abc
import importlib.metadata
import time

import numpy as np

from snnkit.exceptions import BackendCapabilityError, BackendUnavailable, ValidationError
from snnkit.frozen import FrozenNetwork
from snnkit.results import Result
from snnkit.validation import check_int

PRESENTATIONS = ("reset", "sequential")
_VERSIONED = ("snnkit", "nengo", "nengo-dl", "nengo-loihi", "nengo-extras", "tensorflow",
              "numpy", "nxsdk")


class Backend(abc.ABC):
    """Runs a :class:`~snnkit.FrozenNetwork` on inputs for ``n_steps`` steps each.

    Presentation modes:

    - ``"reset"``: each input starts from rest (all neuron and synapse state zero);
      batched where the backend allows.
    - ``"sequential"``: inputs follow one another with state carried over, each shown
      for ``n_steps`` steps and read out at the end of its presentation (the
      notebook's and the hardware's way).
    """

    name: str = ""
    presentations: tuple = PRESENTATIONS

    @classmethod
    def is_available(cls) -> bool:
        return cls.unavailable_reason() is None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend can run here, else what is missing."""
        return None

    def run(self, network: FrozenNetwork, x, n_steps: int = 30, *,
            presentation: str = "reset", progress: bool = False, **options) -> Result:
        """Run ``network`` on inputs ``x`` (images as ``load_mnist`` returns them,
        ``(N,) + network.input_shape``, or flattened ``(N, size)``) for ``n_steps``
        steps of ``network.dt`` seconds each."""
        if not isinstance(network, FrozenNetwork):
            raise ValidationError(
                f"network: expected a snnkit.FrozenNetwork, got {type(network).__name__}")
        x = check_inputs(network, x)
        n_steps = check_n_steps(n_steps)
        if presentation not in PRESENTATIONS:
            raise ValidationError(
                f"presentation: expected one of {', '.join(PRESENTATIONS)}, "
                f"got {presentation!r}")
        if presentation not in self.presentations:
            raise BackendCapabilityError(
                f"presentation: backend {self.name!r} supports "
                f"{', '.join(self.presentations)}, not {presentation!r}")
        self.check_network(network)
        # Never run, and never quietly stand in for, a backend that cannot run here.
        reason = self.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(f"backend {self.name!r} is unavailable: {reason}")
        start = time.perf_counter()
        outputs, summary = self._run(network, x, n_steps, presentation=presentation,
                                     progress=progress, **options)
        return Result(
            backend=self.name,
            outputs=outputs,
            n_steps=n_steps,
            dt=network.dt,
            wall_time_s=time.perf_counter() - start,
            presentation=presentation,
            versions=package_versions(),
            **summary,
        )

    def check_network(self, network: FrozenNetwork) -> None:
        """Raise if this backend cannot run ``network`` (default: it can)."""

    @abc.abstractmethod
    def _run(self, network, x, n_steps, *, presentation, progress, **options):
        """Return ``(outputs (N, n_steps, n_out), LayerActivity.summary())``."""

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def check_inputs(network: FrozenNetwork, x, argument: str = "x") -> np.ndarray:
    """Validate inputs against the network; return float32 ``(N, input_size)``.
    Errors name ``argument``."""
    shape = tuple(network.input_shape)
    size = int(np.prod(shape))
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValidationError(f"{argument}: expected numeric images, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise ValidationError(
            f"{argument}: expected real-valued images, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValidationError(f"{argument}: expected at least one input of shape {shape}, "
                              f"got shape {x.shape}")
    if x.shape[1:] != shape and x.shape[1:] != (size,):
        raise ValidationError(
            f"{argument}: expected shape (N, {', '.join(map(str, shape))}) or (N, {size}), "
            f"got {x.shape}")
    finite_already = not np.issubdtype(x.dtype, np.inexact)  # ints and bools
    x = x.reshape(x.shape[0], size).astype(np.float32)
    if not finite_already and not np.all(np.isfinite(x)):
        bad = int(np.argmax(~np.isfinite(x).all(axis=1)))
        raise ValidationError(f"{argument}: inputs must be finite; input {bad} has NaN or inf")
    return x


def check_n_steps(n_steps) -> int:
    return check_int("n_steps", n_steps, low=1)


def package_versions() -> dict:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
