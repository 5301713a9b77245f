"""Per-layer firing-rate scales measured with the neuron type that will run.

:func:`calibrate` finds ``scale_firing_rates`` that put a per-layer rate statistic at
a target, measuring the network with the neuron type and synapse that will run (ReLU
rates miss the target on Loihi neurons: ``benchmarks/bench_seed_reproduction.py``
sets the seed notebook's ReLU-rate rule beside this one). Two statistics:

- ``"mean"``: the mean rate of the active neurons (the seed notebook's measure);
- ``"p<q>"`` (e.g. ``"p99"``): the q-th percentile of the active neurons' rates. A
  Loihi ReLU fires at 1/(n dt) (1000, 500, 333, 250 … Hz at dt = 1 ms): every input
  between 500 and 1000 Hz comes out as 500 Hz, so a mean-rate target can leave the
  busiest neurons on that plateau and lose their signal. Bounding a high percentile
  keeps them off it (see :attr:`Calibration.plateau_fraction`). Give a percentile
  target on Loihi's rate grid (333, 250, 200 … Hz): no Loihi neuron fires between
  333 and 500 Hz, so a 99th percentile of 400 Hz can never be met within 10%.
  ``bench_conversion.py`` uses ``"p99"`` at 333 Hz.

The search is a bracketed multiplicative search per layer in log-scale: each layer's
scale is multiplied by target / measured (bounded to ×4 per step), and once a layer has
been seen both below and above the target its next scale is the geometric midpoint of
the bracket. A statistic that is not monotonic in the scale (the *mean active* rate
falls when a larger scale wakes many slow neurons) therefore still converges or ends
in a narrow bracket. When it does not converge, :func:`calibrate` warns
(:class:`CalibrationWarning`, naming each layer, its rate and the target) or, with
``strict=True``, raises :class:`~snnkit.exceptions.CalibrationError`.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass

from snnkit.exceptions import CalibrationError, CalibrationWarning, ValidationError
from snnkit.network.neurons import MAX_LOIHI_RATE_HZ
from snnkit.network.types import MeasureNetwork, RatesHz, Scales
from snnkit.utils.validation import check_fraction, check_int, check_positive

logger = logging.getLogger(__name__)

PLATEAU_NOTE = ("fraction of active neurons at >= half the ceiling rate (500 Hz at "
                "dt = 1 ms), where a Loihi ReLU's output no longer follows its input")


@dataclass(frozen=True)
class Calibration:
    """Per-layer scales found by :func:`calibrate` and what they give.

    Attributes
    ----------
    scales : Scales
        The per-layer scales found.
    rates_hz : RatesHz
        Each layer's ``statistic`` (Hz) at those scales, measured with
        ``neuron_type``.
    target_rate_hz : float
        The target rate, Hz.
    neuron_type : str
        The neuron type the rates were measured with.
    converged : bool
        Whether every layer's rate came within the tolerance of the target.
    history : tuple
        ``(scales, rates_hz)`` of every iteration.
    statistic : str
        The calibrated rate statistic: ``"mean"`` or ``"p<q>"``.
    mean_rates_hz : RatesHz or None
        The mean active-neuron rates (Hz) at the same scales.
    plateau_fraction : dict or None
        Per layer, the fraction of active neurons firing at half the ceiling rate or
        more, where Loihi's stepped rate curve is flat.
    """

    scales: Scales
    rates_hz: RatesHz
    target_rate_hz: float
    neuron_type: str
    converged: bool
    history: tuple
    statistic: str = "mean"
    mean_rates_hz: RatesHz | None = None
    plateau_fraction: dict | None = None

    def unconverged_layers(self, tolerance: float) -> RatesHz:
        """``{layer: rate Hz}`` of the layers outside ``tolerance`` of the target."""
        return {n: r for n, r in self.rates_hz.items()
                if abs(r / self.target_rate_hz - 1) > tolerance}


def parse_statistic(statistic: str) -> float | None:
    """The percentile a rate statistic names, if any.

    Parameters
    ----------
    statistic : str
        ``"mean"`` or ``"p<q>"`` (0 < q <= 100).

    Returns
    -------
    float or None
        None for ``"mean"``, q for ``"p<q>"``.

    Raises
    ------
    ValidationError
        For any other ``statistic``.
    """
    if statistic == "mean":
        return None
    match = re.fullmatch(r"p(\d+(?:\.\d+)?)", str(statistic))
    if match and 0 < float(match.group(1)) <= 100:
        return float(match.group(1))
    raise ValidationError(f"statistic: expected 'mean' or a percentile like 'p99' "
                          f"(0 < q <= 100), got {statistic!r}")


def layer_statistic(result, statistic: str) -> RatesHz:
    """``{layer: Hz}`` of ``statistic`` in a :class:`~snnkit.Result`."""
    q = parse_statistic(statistic)
    if q is None:
        return dict(result.layer_rates_hz)
    return {name: result.rate_percentile_hz(name, q) for name in result.layer_rates_hz}


def check_target_rate(rate, spec) -> None:
    """Check a target rate in Hz.

    Parameters
    ----------
    rate : float
        The target rate, Hz: a number > 0, and for Loihi neurons at most one spike per
        1 ms step.
    spec : NeuronSpec
        The neuron type (a :class:`~snnkit.network.neurons.NeuronSpec`).

    Raises
    ------
    ValidationError
        If ``rate`` is not such a rate.
    """
    check_positive("target_rate_hz", rate, "Hz")
    if spec.runs_on_loihi and rate > MAX_LOIHI_RATE_HZ:
        raise ValidationError(
            f"target_rate_hz: Loihi neurons fire at most once per 1 ms step "
            f"({MAX_LOIHI_RATE_HZ:.0f} Hz), got {rate} Hz")


def check_options(tolerance, max_iterations, statistic) -> tuple[float, int]:
    """Check :func:`calibrate`'s options before any measurement is made.

    Returns
    -------
    tuple of (float, int)
        ``(tolerance, max_iterations)`` checked (``statistic`` is checked too).
    """
    parse_statistic(statistic)
    return check_fraction("tolerance", tolerance), \
        check_int("max_iterations", max_iterations, low=1)


def calibrate(network, measure: MeasureNetwork, start_scales: Scales, *,
              target_rate_hz: float, tolerance: float = 0.1, max_iterations: int = 8,
              statistic: str = "mean", strict: bool = False) -> Calibration:
    """Search per-layer scales of ``network`` from ``start_scales``.

    Parameters
    ----------
    network : FrozenNetwork
        With the neuron type and synapse that will run.
    measure : MeasureNetwork
        ``measure(network) -> Result`` runs a candidate on the calibration inputs.
    start_scales : Scales
        The scales the search starts from.
    target_rate_hz : float
        The target of every layer's ``statistic``, Hz.
    tolerance : float
        A fraction of the target (0.1: ±10%).
    max_iterations : int
        Measurements at most.
    statistic : str
        ``"mean"`` or a percentile ``"p<q>"`` (see the module docstring).
    strict : bool
        Raise instead of warning when the search does not converge.

    Returns
    -------
    Calibration
        The last scales measured (whether or not they converged), with
        every iteration in ``history``.

    Raises
    ------
    CalibrationError
        With ``strict=True``, when the search does not converge.

    Warns
    -----
    CalibrationWarning
        When the search does not converge (and not ``strict``), naming each layer,
        its rate and the target.
    """
    tolerance, max_iterations = check_options(tolerance, max_iterations, statistic)
    scales = {name: float(s) for name, s in start_scales.items()}
    low = {name: 0.0 for name in scales}        # largest scale seen below target
    high = {name: math.inf for name in scales}  # smallest scale seen above target
    history, rates, result = [], {}, None
    converged = False
    for iteration in range(max_iterations):
        candidate = network.replace(scale_firing_rates=scales)
        result = measure(candidate)
        rates = layer_statistic(result, statistic)
        history.append((dict(scales), dict(rates)))
        logger.info("calibration iteration %d: %s", iteration + 1,
                    {n: round(r, 1) for n, r in rates.items()})
        outside = [n for n in network.neuron_layers
                   if abs(rates[n] / target_rate_hz - 1) > tolerance]
        if not outside:
            converged = True
            break
        if iteration == max_iterations - 1:
            break
        for name in outside:
            rate, scale = rates[name], scales[name]
            if rate < target_rate_hz:
                low[name] = max(low[name], scale)
            else:
                high[name] = min(high[name], scale)
            factor = target_rate_hz / rate if rate > 0 else 4.0
            proposal = scale * min(max(factor, 0.25), 4.0)
            if low[name] > 0 and math.isfinite(high[name]) and not \
                    low[name] < proposal < high[name]:
                proposal = math.sqrt(low[name] * high[name])
            scales[name] = proposal
    calibration = Calibration(
        scales=dict(history[-1][0]), rates_hz=rates, target_rate_hz=float(target_rate_hz),
        neuron_type=network.neuron.name, converged=converged, history=tuple(history),
        statistic=statistic, mean_rates_hz=dict(result.layer_rates_hz),
        plateau_fraction=dict(result.plateau_fraction))
    if not converged:
        off = calibration.unconverged_layers(tolerance)
        message = (
            f"calibrate: {statistic} rate not within {tolerance:.0%} of "
            f"{target_rate_hz:g} Hz after {len(history)} iterations for layer(s) "
            + ", ".join(f"{n} ({r:.0f} Hz)" for n, r in off.items())
            + "; raise max_iterations, use more calibration inputs or another target")
        if strict:
            raise CalibrationError(message)
        warnings.warn(message, CalibrationWarning, stacklevel=3)
    return calibration
