"""The backend contract: build a FrozenNetwork once, run it many times, the same
Result everywhere.

A backend author writes two classes (``tests/test_backend_contract.py`` has a whole
backend in one short file):

- a :class:`Backend` subclass with a ``name``, a ``description``, optionally
  ``presentations``, ``unavailable_reason()`` and ``check_network()``, and
  ``build(network) -> PreparedNetwork``;
- a :class:`PreparedNetwork` subclass whose ``simulate(x, n_steps, *, presentation,
  progress)`` returns the outputs and a :class:`~snnkit.network.results.RunSummary`.

Everything else (argument checks, availability, timing, versions, the
:class:`~snnkit.Result`) is done here, so every backend rejects the same bad input
with the same message. Importing this module imports neither nengo nor TensorFlow.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import logging
import time
from typing import ClassVar

import numpy as np

from snnkit.exceptions import (
    BackendCapabilityError,
    BackendContractError,
    BackendUnavailable,
    UnknownOptionError,
    ValidationError,
)
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.inputs import check_inputs, check_n_steps
from snnkit.network.readout import apply_readout
from snnkit.network.results import (
    LayerActivity,
    Result,
    RunSummary,
    layer_amplitudes,
    output_onset_steps,
    silent_output,
)
from snnkit.utils.environment import package_versions
from snnkit.utils.validation import check_choice, check_int

logger = logging.getLogger(__name__)

PRESENTATIONS = ("reset", "sequential")
_RUN_ARGUMENTS = ("x", "n_steps", "presentation", "progress")


class Backend(abc.ABC):
    """Runs a :class:`~snnkit.FrozenNetwork` on inputs for ``n_steps`` steps each.

    Presentation modes:

    - ``"reset"``: each input starts from rest (all neuron and synapse state zero);
      batched where the backend allows.
    - ``"sequential"``: inputs follow one another with state carried over, each shown
      for ``n_steps`` steps and read out at the end of its presentation (the
      notebook's and the hardware's way).

    Settings of a backend (e.g. nengo-dl's ``minibatch_size``) are arguments of its
    constructor, given to :func:`~snnkit.backends.get_backend`.

    Attributes
    ----------
    name : str
        The backend's name in the registry (class attribute).
    description : str
        What the backend is, in one line (class attribute).
    presentations : tuple of str
        The presentation modes the backend supports (class attribute; default both,
        :data:`PRESENTATIONS`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    presentations: ClassVar[tuple[str, ...]] = PRESENTATIONS

    @classmethod
    def is_available(cls) -> bool:
        """True when :meth:`unavailable_reason` is None."""
        return cls.unavailable_reason() is None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend can run here, else what is missing."""
        return None

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        """Names of the settings the constructor takes."""
        return tuple(name for name, p in inspect.signature(cls).parameters.items()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    @classmethod
    def check_int_setting(cls, setting: str, value, *, low: int = 1,
                          high: int | None = None) -> int:
        """A constructor's int setting, range-checked.

        Parameters
        ----------
        setting : str
            The setting's name (the constructor argument).
        value : int
            The value given.
        low : int, optional
            The smallest value allowed.
        high : int or None, optional
            The largest value allowed (None: no upper bound).

        Returns
        -------
        int

        Raises
        ------
        ValidationError
            If ``value`` is not an int in range; the error names the setting and the
            backend, what was expected and what was received.
        """
        return check_int(f"{setting} (setting of backend {cls.name!r})", value,
                         low=low, high=high)

    def check_network(self, network: FrozenNetwork) -> None:
        """Raise if this backend cannot run ``network`` (default: it can)."""

    @abc.abstractmethod
    def build(self, network: FrozenNetwork) -> PreparedNetwork:
        """Build ``network`` for this backend (conversion, core plan, simulator...).

        Called by :meth:`prepare` after its checks.

        Parameters
        ----------
        network : FrozenNetwork
            A network valid for this backend; the backend is available.

        Returns
        -------
        PreparedNetwork
        """

    def prepare(self, network: FrozenNetwork) -> PreparedNetwork:
        """Check and build ``network`` once; run the result many times.

        Parameters
        ----------
        network : FrozenNetwork
            The network to build.

        Returns
        -------
        PreparedNetwork
            Run it many times (``prepared.run(x, n_steps)``). Close it (or use
            ``with``) to free it.

        Raises
        ------
        BackendUnavailable
            If the backend cannot run here.
        BackendContractError
            If :meth:`build` returns something other than a :class:`PreparedNetwork`.
        """
        _check_network_argument(network)
        self.check_network(network)
        # Never run, and never quietly stand in for, a backend that cannot run here.
        reason = self.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(f"backend {self.name!r} is unavailable: {reason}")
        start = time.perf_counter()
        prepared = self.build(network)
        if not isinstance(prepared, PreparedNetwork):
            raise BackendContractError(
                f"{type(self).__name__}.build: expected a PreparedNetwork, got "
                f"{type(prepared).__name__}")
        logger.debug("%s: built in %.2f s", self.name, time.perf_counter() - start)
        return prepared

    def run(self, network: FrozenNetwork, x, n_steps: int = 30, *,
            presentation: str = "reset", progress: bool = False, **options) -> Result:
        """Run ``network`` on inputs ``x``: :meth:`prepare`, then one run.

        Parameters
        ----------
        network : FrozenNetwork
            The network to run.
        x : array_like
            Images as ``load_mnist`` returns them, ``(N,) + network.input_shape``, or
            flattened ``(N, size)``.
        n_steps : int, optional
            Steps of ``network.dt`` seconds each, per input.
        presentation : {"reset", "sequential"}, optional
            The presentation mode (see :class:`Backend`).
        progress : bool or str, optional
            Show a progress bar; a string shows it with that label (e.g.
            ``"calibrate 2/8"``) instead of the backend's name.
        **options
            None are known: any raises :class:`~snnkit.exceptions.UnknownOptionError`
            naming the run's arguments and the backend's settings.

        Returns
        -------
        Result
            Its ``wall_time_s`` includes the build.
        """
        _check_network_argument(network)
        x, n_steps = _check_run(self, network, x, n_steps, presentation, options)
        start = time.perf_counter()
        with self.prepare(network) as prepared:
            result = prepared._run_checked(x, n_steps, presentation, progress)
        return dataclasses.replace(result, wall_time_s=time.perf_counter() - start)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class PreparedNetwork(abc.ABC):
    """A network built for one backend, to run many times without being built again.

    Made by :meth:`Backend.prepare`; a context manager.

    Parameters
    ----------
    backend : Backend
        The backend that built it.
    network : FrozenNetwork
        The network it runs.

    Attributes
    ----------
    backend : Backend
        The backend that built it.
    network : FrozenNetwork
        The network it runs.
    closed : bool
        True once :meth:`close` has been called.
    """

    def __init__(self, backend: Backend, network: FrozenNetwork):
        self.backend = backend
        self.network = network
        self.closed = False
        self._fan_out = None

    @abc.abstractmethod
    def simulate(self, x: np.ndarray, n_steps: int, *, presentation: str,
                 progress: bool) -> tuple[np.ndarray, RunSummary]:
        """Run checked inputs ``x`` for ``n_steps`` steps each.

        Parameters
        ----------
        x : ndarray
            Checked inputs, float32 ``(N, input_size)``.
        n_steps : int
            Steps per input.
        presentation : str
            A presentation mode the backend lists.
        progress : bool
            Show a progress bar (:meth:`progress_bar`).

        Returns
        -------
        outputs : ndarray
            The outputs ``(N, n_steps, n_outputs)`` at every step.
        summary : RunSummary
            Their :class:`~snnkit.network.results.RunSummary` (:meth:`new_activity`
            computes it).
        """

    def run(self, x, n_steps: int = 30, *, presentation: str = "reset",
            progress: bool = False, **options) -> Result:
        """Run inputs ``x`` for ``n_steps`` steps each (see :meth:`Backend.run`).

        Parameters
        ----------
        x : array_like
            Inputs, as for :meth:`Backend.run`.
        n_steps : int, optional
            Steps of ``network.dt`` seconds each, per input.
        presentation : {"reset", "sequential"}, optional
            The presentation mode.
        progress : bool or str, optional
            Show a progress bar; a string shows it with that label (e.g.
            ``"calibrate 2/8"``) instead of the backend's name.
        **options
            None are known, as for :meth:`Backend.run`.

        Returns
        -------
        Result
            Its ``wall_time_s`` is the run alone, without the build.

        Raises
        ------
        ValidationError
            If the prepared network is closed.
        """
        if self.closed:
            raise ValidationError(
                f"prepared network: closed; prepare it again with "
                f"get_backend({self.backend.name!r}).prepare(network)")
        x, n_steps = _check_run(self.backend, self.network, x, n_steps, presentation,
                                options)
        return self._run_checked(x, n_steps, presentation, progress)

    def new_activity(self) -> LayerActivity:
        """Empty per-layer statistics for this network (fan-out computed once)."""
        if self._fan_out is None:
            from snnkit.backends.cost import fan_out

            self._fan_out = fan_out(self.network)
        return LayerActivity(layer_amplitudes(self.network), self.network.dt,
                             self._fan_out)

    def progress_bar(self, n_inputs: int, presentation: str, enabled: bool | str):
        """A tqdm bar over ``n_inputs`` inputs (disabled unless ``enabled``; a string
        is the bar's label, else the backend's name and the presentation)."""
        from tqdm.auto import tqdm

        desc = enabled if isinstance(enabled, str) else \
            f"{self.backend.name} ({presentation})"
        return tqdm(total=n_inputs, desc=desc, unit="input", disable=not enabled,
                    leave=False)

    def close(self) -> None:
        """Free what the build holds (simulators, memory); idempotent."""
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "ready"
        return f"<{type(self).__name__} for {self.backend.name!r}, {state}>"

    def _run_checked(self, x, n_steps, presentation, progress) -> Result:
        start = time.perf_counter()
        outputs, summary = self.simulate(x, n_steps, presentation=presentation,
                                         progress=progress)
        wall_time_s = time.perf_counter() - start
        where = f"{type(self).__name__}.simulate"
        if not isinstance(summary, RunSummary):
            raise BackendContractError(
                f"{where}: expected (outputs, RunSummary), got a "
                f"{type(summary).__name__} as the summary")
        outputs = np.asarray(outputs)
        if outputs.ndim != 3 or outputs.shape[:2] != (x.shape[0], n_steps):
            raise BackendContractError(
                f"{where}: expected outputs of shape ({x.shape[0]}, {n_steps}, "
                f"n_outputs), got {outputs.shape}")
        # the output layer runs on the host: its readout is host arithmetic
        outputs = apply_readout(outputs, self.network.readout)
        onset = output_onset_steps(outputs, silent_output(self.network)) \
            if presentation == "reset" else None
        return Result.from_summary(
            summary, backend=self.backend.name, outputs=outputs, n_steps=n_steps,
            dt=self.network.dt, wall_time_s=wall_time_s, presentation=presentation,
            versions=package_versions(), output_onset_steps=onset)


def _check_network_argument(network) -> None:
    if not isinstance(network, FrozenNetwork):
        raise ValidationError(
            f"network: expected a snnkit.FrozenNetwork, got {type(network).__name__}")


def _check_run(backend: Backend, network, x, n_steps, presentation, options):
    """The checks every run makes, in the order users see them."""
    if options:
        unknown = ", ".join(map(repr, sorted(options)))
        settings = backend.settings()
        hint = (f"; settings of backend {backend.name!r} ({', '.join(settings)}) go to "
                f"get_backend({backend.name!r}, ...)" if settings else "")
        raise UnknownOptionError(
            f"run: unknown option(s) {unknown}; run takes {', '.join(_RUN_ARGUMENTS)}"
            f"{hint}")
    x = check_inputs(network, x)
    n_steps = check_n_steps(n_steps)
    check_choice("presentation", presentation, PRESENTATIONS)
    if presentation not in backend.presentations:
        raise BackendCapabilityError(
            f"presentation: backend {backend.name!r} supports "
            f"{', '.join(backend.presentations)}, not {presentation!r}")
    return x, n_steps
