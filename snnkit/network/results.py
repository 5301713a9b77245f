"""What every backend returns: one :class:`Result` type for all."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.utils.validation import check_labels

if TYPE_CHECKING:
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.network.types import RatesHz


@dataclass(frozen=True)
class RunSummary:
    """Per-layer activity of one run, as a backend reports it with its outputs.

    :meth:`LayerActivity.summary` computes it. Every field is also a field of
    :class:`Result`, with the meaning and units documented there.
    """

    layer_rates_hz: RatesHz
    layer_max_rates_hz: RatesHz
    spikes_per_input: dict
    saturated_fraction: dict
    synaptic_ops_per_input: dict
    plateau_fraction: dict = field(default_factory=dict)
    rate_histograms: dict = field(default_factory=dict)
    first_spike_steps: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Result:
    """Outputs and activity of one run of a network on a batch of inputs.

    Attributes
    ----------
    backend : str
        Name of the backend that ran.
    outputs : ndarray
        ``(n_inputs, n_steps, n_outputs)`` output-layer values at every step.
    layer_rates_hz : RatesHz
        Per neuron layer, the mean firing rate of its *active* neurons (those that
        fired at least once), averaged over inputs: the seed notebook's measure. Hz.
    layer_max_rates_hz : RatesHz
        Per neuron layer, the highest single-neuron mean rate seen on any input, Hz.
    spikes_per_input : dict
        Per neuron layer, spikes per input (for rate neuron types, the equivalent
        count: rate × presentation time).
    saturated_fraction : dict
        Per neuron layer, fraction of neurons that fire on every step (one spike per
        step is the Loihi ceiling), averaged over inputs.
    synaptic_ops_per_input : dict
        Per neuron layer, spikes × fan-out into the next neuron layer, per input;
        ``"total"`` sums them.
    n_steps : int
        Steps per input.
    dt : float
        Step length (s).
    wall_time_s : float
        Wall-clock time of the run, build included, s.
    presentation : {"reset", "sequential"}
        How the inputs were presented.
    versions : dict
        Package versions of the stack that ran.
    plateau_fraction : dict
        Per neuron layer, the fraction of active neurons (over all inputs) firing at
        half the ceiling rate or more (>= 500 Hz at dt = 1 ms). A Loihi ReLU fires at
        1/(n dt): every input between 500 and 1000 Hz gives 500 Hz, so these neurons
        lose up to half their signal.
    rate_histograms : dict
        Per neuron layer, counts of active (input, neuron) pairs by rate, one bin per
        Hz from 0 up to the ceiling rate (``1 / dt``); see :meth:`rate_percentile_hz`.
    first_spike_steps : dict
        Per neuron layer, ``(n_inputs,)`` int: the step (1-based) of the layer's first
        spike on each input (any neuron), 0 if it never spiked within the
        presentation. For rate neuron types: the first step with a nonzero rate.
    output_onset_steps : ndarray or None
        ``(n_inputs,)`` int: the first step (1-based) at which the output differs
        from its value with every neuron silent (the output layer's bias): from then
        on it has received spikes. 0 if it never did. None if the backend did not
        record the onset.
    """

    backend: str
    outputs: np.ndarray
    layer_rates_hz: RatesHz
    layer_max_rates_hz: RatesHz
    spikes_per_input: dict
    saturated_fraction: dict
    synaptic_ops_per_input: dict
    n_steps: int
    dt: float
    wall_time_s: float
    presentation: str = "reset"
    versions: dict = field(default_factory=dict)
    plateau_fraction: dict = field(default_factory=dict)
    rate_histograms: dict = field(default_factory=dict)
    first_spike_steps: dict = field(default_factory=dict)
    output_onset_steps: np.ndarray | None = None

    @classmethod
    def from_summary(cls, summary: RunSummary, **run) -> "Result":
        """A Result of ``summary`` plus the run's other fields.

        Parameters
        ----------
        summary : RunSummary
            The run's per-layer activity.
        **run
            The run's other fields (``backend``, ``outputs``, ``n_steps``, ``dt``,
            ``wall_time_s``, ``presentation``, ``versions``).

        Returns
        -------
        Result
        """
        return cls(**summary.to_dict(), **run)

    @property
    def n_inputs(self) -> int:
        return int(self.outputs.shape[0])

    @property
    def predictions(self) -> np.ndarray:
        """Argmax of the output at the last step of each presentation."""
        return np.argmax(self.outputs[:, -1], axis=-1)

    @property
    def images_per_s(self) -> float:
        return self.n_inputs / self.wall_time_s if self.wall_time_s > 0 else float("inf")

    def rate_percentile_hz(self, layer: str, q: float) -> float:
        """The ``q``-th percentile of the rates of ``layer``'s active neurons, Hz.

        Parameters
        ----------
        layer : str
            A neuron layer.
        q : float
            The percentile (0-100).

        Returns
        -------
        float
            The rate, Hz, to 1 Hz resolution (0 if the layer never fired).

        Raises
        ------
        ValidationError
            ``layer`` has no rate histogram, or ``q`` is outside 0..100.
        """
        if layer not in self.rate_histograms:
            raise ValidationError(f"layer: no rate histogram for {layer!r}; layers are: "
                                  f"{', '.join(self.rate_histograms)}")
        if not 0 <= q <= 100:
            raise ValidationError(f"q: expected a percentile in 0..100, got {q!r}")
        counts = np.asarray(self.rate_histograms[layer], dtype=np.float64)
        total = counts.sum()
        if total == 0:
            return 0.0
        return float(np.searchsorted(np.cumsum(counts), q / 100 * total))

    def accuracy(self, y) -> float:
        """Fraction of inputs whose prediction equals the label ``y``."""
        return float(np.mean(self.predictions == self._labels(y)))

    def accuracy_by_step(self, y) -> np.ndarray:
        """Accuracy if read out at each step: ``(n_steps,)`` (the latency curve)."""
        labels = self._labels(y)
        return np.mean(np.argmax(self.outputs, axis=-1) == labels[:, None], axis=0)

    def time_to_decision(self) -> np.ndarray:
        """Per input, the step at which the prediction is decided.

        That is the first step (1-based) from which the prediction no longer changes
        until the end of the presentation, and not before the output has received
        spikes (:attr:`output_onset_steps`, when the backend records it): an output
        still at its bias has not decided anything.

        Returns
        -------
        ndarray
            ``(n_inputs,)`` steps. An input whose output never received a spike gets
            ``n_steps + 1`` (no decision within the presentation).
        """
        by_step = np.argmax(self.outputs, axis=-1)
        changed = by_step != by_step[:, -1:]
        last_change = np.where(changed.any(axis=1),
                               changed.shape[1] - np.argmax(changed[:, ::-1], axis=1), 0)
        decided = last_change + 1
        if self.output_onset_steps is not None:
            onset = np.asarray(self.output_onset_steps)
            decided = np.where(onset > 0, np.maximum(decided, onset), self.n_steps + 1)
        return decided

    def time_to_decision_stats(self) -> dict:
        """Mean, median and 95th percentile of :meth:`time_to_decision`, in steps.

        Returns
        -------
        dict
            ``{"mean", "median", "p95"}`` over inputs, in steps.
        """
        ttd = self.time_to_decision()
        return {"mean": float(np.mean(ttd)), "median": float(np.median(ttd)),
                "p95": float(np.percentile(ttd, 95))}

    def first_spike_stats(self) -> dict:
        """:func:`onset_stats` of the first-spike steps, per layer and of the output.

        Returns
        -------
        dict
            Per neuron layer, and ``"output"`` for the output's onset
            (:attr:`output_onset_steps`): :func:`onset_stats` of its first-spike
            steps.
        """
        stats = {name: onset_stats(steps)
                 for name, steps in self.first_spike_steps.items()}
        if self.output_onset_steps is not None:
            stats["output"] = onset_stats(self.output_onset_steps)
        return stats

    def output_received_by_step(self) -> np.ndarray | None:
        """Fraction of inputs whose output has received spikes by each step.

        Where it is 0, the accuracy at that step is the output layer's bias, not an
        answer.

        Returns
        -------
        ndarray or None
            ``(n_steps,)`` (None if the backend did not record the onset).
        """
        if self.output_onset_steps is None:
            return None
        return received_by_step(self.output_onset_steps, self.n_steps)

    def to_dict(self, y=None) -> dict:
        """JSON-ready summary (no per-step outputs).

        Parameters
        ----------
        y : array_like or None
            Labels, one per input; accuracies are added if given.

        Returns
        -------
        dict
        """
        d = {
            "backend": self.backend,
            "n_inputs": self.n_inputs,
            "n_steps": self.n_steps,
            "dt_s": self.dt,
            "presentation": self.presentation,
            "wall_time_s": self.wall_time_s,
            "images_per_s": self.images_per_s,
            "layer_rates_hz": self.layer_rates_hz,
            "layer_max_rates_hz": self.layer_max_rates_hz,
            "spikes_per_input": self.spikes_per_input,
            "saturated_fraction": self.saturated_fraction,
            "synaptic_ops_per_input": self.synaptic_ops_per_input,
            "plateau_fraction": self.plateau_fraction,
            "mean_time_to_decision_steps": float(np.mean(self.time_to_decision())),
            "time_to_decision_steps": self.time_to_decision_stats(),
            "first_spike_steps": self.first_spike_stats(),
            "versions": self.versions,
        }
        if y is not None:
            d["accuracy"] = self.accuracy(y)
            d["accuracy_by_step"] = self.accuracy_by_step(y).tolist()
        return d

    def _labels(self, y) -> np.ndarray:
        return check_labels("y", np.asarray(y).reshape(-1), self.n_inputs,
                            self.outputs.shape[-1])


def onset_stats(steps) -> dict:
    """Summary of per-input onset steps.

    Parameters
    ----------
    steps : array_like
        Per input, the onset step (1-based, 0 = never).

    Returns
    -------
    dict
        ``mean`` over the inputs that had one, ``p95`` over all inputs with "never"
        counted as later than any step (None when more than 5% never had one), and
        ``never_fraction``.
    """
    steps = np.asarray(steps)
    seen = steps[steps > 0]
    never = float(np.mean(steps <= 0)) if steps.size else 0.0
    ranked = np.where(steps > 0, steps, np.inf)
    p95 = float(np.percentile(ranked, 95, method="higher")) if steps.size else None
    return {"mean": float(seen.mean()) if seen.size else None,
            "p95": p95 if p95 is not None and np.isfinite(p95) else None,
            "never_fraction": never}


# below this fraction of inputs whose output has received a spike, the output at a
# step is mostly the output layer's bias: "no output yet", not an answer
NO_OUTPUT_BELOW = 0.5


def answered_from_step(onset_steps, n_steps: int) -> int:
    """The first step at which most of the inputs' outputs have received spikes.

    Parameters
    ----------
    onset_steps : array_like
        Per input, the output's onset step (1-based, 0 = never).
    n_steps : int
        Steps of the run.

    Returns
    -------
    int
        The first step (1-based) at which at least :data:`NO_OUTPUT_BELOW` of the
        inputs' outputs have received spikes; ``n_steps + 1`` if no step of the run
        is.
    """
    answered = np.flatnonzero(received_by_step(onset_steps, n_steps) >= NO_OUTPUT_BELOW)
    return int(answered[0]) + 1 if answered.size else int(n_steps) + 1


def received_by_step(onset_steps, n_steps: int) -> np.ndarray:
    """Fraction of inputs whose onset (1-based, 0 = never) is at or before each step."""
    onset = np.asarray(onset_steps)
    steps = np.arange(1, n_steps + 1)
    return np.mean((onset[:, None] > 0) & (onset[:, None] <= steps[None, :]), axis=0)


def first_step(active: np.ndarray) -> np.ndarray:
    """Per row, the first step that is active.

    Parameters
    ----------
    active : array_like
        ``(batch, n_steps)`` bool.

    Returns
    -------
    ndarray
        ``(batch,)`` int32: per row the first True step (1-based), 0 if none.
    """
    active = np.asarray(active, dtype=bool)
    return np.where(active.any(axis=1), np.argmax(active, axis=1) + 1, 0).astype(np.int32)


def output_onset_steps(outputs: np.ndarray, silent) -> np.ndarray:
    """Per input, the first step at which ``outputs`` leaves ``silent``.

    Relative tolerance 1e-5 absorbs float rounding of the bias (e.g. a running mean
    of it); one spike moves the output by orders of magnitude more.

    Parameters
    ----------
    outputs : ndarray
        ``(batch, n_steps, n_out)``.
    silent : array_like
        The output's value with no spikes, ``(n_out,)``.

    Returns
    -------
    ndarray
        ``(batch,)`` steps (1-based), 0 if never.
    """
    silent = np.asarray(silent, dtype=np.float64).reshape(1, 1, -1)
    tolerance = 1e-5 * np.maximum(1.0, np.abs(silent))
    moved = (np.abs(np.asarray(outputs, np.float64) - silent) > tolerance).any(axis=2)
    return first_step(moved)


def silent_output(network: FrozenNetwork) -> np.ndarray:
    """The network's output when every neuron layer is silent.

    That is the output layer's bias (zeros for an output layer of neurons or without
    bias).

    Parameters
    ----------
    network : FrozenNetwork
        The network.

    Returns
    -------
    ndarray
        The output, flattened.
    """
    name = network.output_layer
    shape = network.layer_shape(name)
    weights = network.weights.get(name, ())
    if name in network.neuron_layers or len(weights) < 2:
        return np.zeros(int(np.prod(shape)))
    return np.broadcast_to(np.asarray(weights[1], np.float64), shape).ravel()


class LayerActivity:
    """Running per-layer statistics over chunks of probe data.

    A long evaluation so never holds every layer's full trace in memory (the seed
    network's probes over 10k images × 30 steps, measured when the project started,
    did not fit in 24 GB).

    Parameters
    ----------
    amplitudes : dict
        ``{neuron layer: amplitude after scaling}`` (:func:`layer_amplitudes`).
    dt : float
        Step length (s).
    fan_out : dict or None
        ``{neuron layer: fan-out per neuron (n_neurons,)}`` into the next neuron
        layer, for the synaptic operations per input.
    """

    def __init__(self, amplitudes: dict, dt: float, fan_out: dict | None = None):
        self.amplitudes = amplitudes
        self.dt = dt
        self.fan_out = fan_out or {}
        self.n_inputs = 0
        self._rate_sum = {name: 0.0 for name in amplitudes}
        self._max_rate = {name: 0.0 for name in amplitudes}
        self._saturated_sum = {name: 0.0 for name in amplitudes}
        self._spike_sum = {name: None for name in amplitudes}
        self._n_bins = int(round(1.0 / dt)) + 1  # one per Hz, ceiling included
        self._histogram = {name: np.zeros(self._n_bins, np.int64) for name in amplitudes}
        self._plateau = {name: 0 for name in amplitudes}
        self._first_spikes = {name: [] for name in amplitudes}

    def add(self, name: str, data: np.ndarray) -> None:
        """Add a chunk of probe data of layer ``name``.

        Parameters
        ----------
        name : str
            The neuron layer.
        data : ndarray
            Probe output ``(batch, n_steps, n_neurons)`` of layer ``name``
            (amplitude-scaled spikes or rates).
        """
        counts = data.sum(axis=1, dtype=np.float64) / self.amplitudes[name] * self.dt
        self.add_counts(name, counts, data.shape[1], active=(data > 0).any(axis=1),
                        first_spike=first_step((data > 0).any(axis=2)))

    def add_counts(self, name: str, counts: np.ndarray, n_steps: int,
                   active: np.ndarray | None = None,
                   first_spike: np.ndarray | None = None) -> None:
        """Add a chunk of spike counts of layer ``name``.

        Parameters
        ----------
        name : str
            The neuron layer.
        counts : ndarray
            Spikes per neuron ``(batch, n_neurons)`` over ``n_steps`` steps (for rate
            neurons, rate × presentation time).
        n_steps : int
            The steps the counts were taken over.
        active : ndarray or None
            ``(batch, n_neurons)`` bool; defaults to ``counts > 0``.
        first_spike : ndarray or None
            ``(batch,)`` step of the layer's first spike on each input (1-based,
            0 = none), if known.
        """
        counts = np.asarray(counts, dtype=np.float64)
        active = counts > 0 if active is None else active
        rates = counts / (n_steps * self.dt)
        n_active = active.sum(axis=1)
        # the notebook's measure: mean over active neurons (0 if none fired)
        per_input = np.where(n_active > 0,
                             (rates * active).sum(axis=1) / np.maximum(n_active, 1), 0.0)
        self._rate_sum[name] += float(per_input.sum())
        self._max_rate[name] = max(self._max_rate[name], float(rates.max(initial=0.0)))
        ceiling = 1.0 / self.dt
        self._saturated_sum[name] += float(
            (rates >= ceiling * (1 - 1e-6)).mean(axis=1).sum())
        active_rates = rates[active]
        self._histogram[name] += np.bincount(
            np.clip(np.floor(active_rates + 1e-6).astype(np.int64), 0, self._n_bins - 1),
            minlength=self._n_bins)
        self._plateau[name] += int((active_rates >= 0.5 * ceiling * (1 - 1e-6)).sum())
        total = counts.sum(axis=0)
        self._spike_sum[name] = (total if self._spike_sum[name] is None
                                 else self._spike_sum[name] + total)
        if first_spike is not None:
            self._first_spikes[name].append(np.asarray(first_spike, np.int32))

    def finish_batch(self, batch_size: int) -> None:
        self.n_inputs += batch_size

    def summary(self) -> RunSummary:
        n = max(self.n_inputs, 1)
        spikes = {k: float(v.sum() / n) if v is not None else 0.0
                  for k, v in self._spike_sum.items()}
        synops = {}
        for name, fan in self.fan_out.items():
            if self._spike_sum.get(name) is not None:
                synops[name] = float(self._spike_sum[name] @ fan / n)
        synops["total"] = float(sum(synops.values()))
        return RunSummary(
            layer_rates_hz={k: v / n for k, v in self._rate_sum.items()},
            layer_max_rates_hz=dict(self._max_rate),
            spikes_per_input=spikes,
            saturated_fraction={k: v / n for k, v in self._saturated_sum.items()},
            synaptic_ops_per_input=synops,
            plateau_fraction={k: self._plateau[k] / max(int(h.sum()), 1)
                              for k, h in self._histogram.items()},
            rate_histograms={k: h.copy() for k, h in self._histogram.items()},
            first_spike_steps={k: np.concatenate(v) for k, v in self._first_spikes.items()
                               if v},
        )


def layer_amplitudes(network: FrozenNetwork) -> dict:
    """``{neuron layer: amplitude after scaling}`` for :class:`LayerActivity`."""
    return {name: network.amplitude(name) for name in network.neuron_layers}
