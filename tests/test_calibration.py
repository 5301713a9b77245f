"""Calibration never fails silently, and can bound a percentile instead of the mean."""

import types
import warnings

import pytest

from snnkit.exceptions import CalibrationError, CalibrationWarning, ValidationError
from snnkit.training.calibration import calibrate, parse_statistic
from snnkit.training.trainer import Trainer


def _fake_measure(rate_of_scale):
    """A measure whose per-layer rate is ``rate_of_scale(scale)``."""
    def measure(candidate):
        rates = {n: rate_of_scale(s) for n, s in candidate.scale_firing_rates.items()}
        return types.SimpleNamespace(layer_rates_hz=rates,
                                     plateau_fraction={n: 0.0 for n in rates})
    return measure


@pytest.fixture(scope="module")
def tiny(mnist_small):
    from tiny_networks import tiny_network

    (x, y), _ = mnist_small
    return tiny_network(x[:500], y[:500])


def test_steep_statistic_converges_through_the_bracket(tiny):
    # rate = 200 s^3: the plain multiplicative update cycles 2 -> 0.5 -> 2 -> ...
    # (its step is bounded to x4); the bracket's midpoint lands on s = 1
    cal = calibrate(tiny, _fake_measure(lambda s: 200.0 * s ** 3),
                    {n: 2.0 for n in tiny.neuron_layers}, target_rate_hz=200.0)
    assert cal.converged
    assert all(abs(s - 1.0) < 1e-9 for s in cal.scales.values())
    assert len(cal.history) == 3


def test_unreachable_target_warns_naming_layers_or_raises_when_strict(tiny):
    step = _fake_measure(lambda s: 150.0 if s < 1 else 260.0)  # nothing near 200
    with pytest.warns(CalibrationWarning, match=r"calibrate: mean rate not within 10% of "
                                                r"200 Hz after 8 iterations for layer\(s\) "
                                                r"a \((150|260) Hz\), b \((150|260) Hz\)"):
        cal = calibrate(tiny, step, {n: 0.5 for n in tiny.neuron_layers},
                        target_rate_hz=200.0)
    assert not cal.converged
    # the bracket closed in on the jump at s = 1
    assert all(0.9 < s < 1.1 for s in cal.scales.values())
    with pytest.raises(CalibrationError, match="layer\\(s\\) a .*b "):
        calibrate(tiny, step, {n: 0.5 for n in tiny.neuron_layers}, target_rate_hz=200.0,
                  strict=True)


@pytest.mark.parametrize("kwargs,message", [
    ({"tolerance": -1}, r"tolerance: expected a fraction in \(0, 1\), got -1"),
    ({"max_iterations": 0}, r"max_iterations: expected an int >= 1, got 0"),
    ({"statistic": "median"}, r"statistic: expected 'mean' or a percentile like 'p99'"),
])
def test_bad_arguments(tiny, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        calibrate(tiny, _fake_measure(lambda s: 200.0), {"a": 1.0, "b": 1.0},
                  target_rate_hz=200.0, **kwargs)


def test_parse_statistic():
    assert parse_statistic("mean") is None
    assert parse_statistic("p99.5") == 99.5
    with pytest.raises(ValidationError):
        parse_statistic("p0")


def test_percentile_target_keeps_loihi_neurons_off_the_plateau(trained_seed, mnist_small):
    (x, _), _ = mnist_small
    trainer = Trainer(enable_progress_bar=False, synapse=0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)  # must converge, silently
        mean = trainer.calibrate(trained_seed, x[:40], target_rate_hz=250, n_steps=30)
        p99 = trainer.calibrate(trained_seed, x[:40], target_rate_hz=250, n_steps=30,
                                statistic="p99")
    assert p99.converged and p99.statistic == "p99"
    for name in trained_seed.neuron_layers:
        assert abs(p99.rates_hz[name] / 250 - 1) <= 0.1
        # 99% of active neurons fire at <= 275 Hz: at most 1% can be on the plateau
        assert p99.plateau_fraction[name] <= 0.01
        assert 0 <= mean.plateau_fraction[name] <= 1
        # bounding the 99th percentile means a lower mean than targeting the mean
        assert p99.mean_rates_hz[name] < mean.mean_rates_hz[name]


def test_rate_percentile_checks_its_arguments(trained_seed_loihi, mnist_small):
    from snnkit.backends import get_backend

    _, (x, _) = mnist_small
    result = get_backend("loihi-emulator-fast").run(trained_seed_loihi, x[:10], n_steps=20)
    median = result.rate_percentile_hz("conv0", 50)
    assert 0 < median <= result.rate_percentile_hz("conv0", 99) <= 1000
    assert set(result.plateau_fraction) == set(trained_seed_loihi.neuron_layers)
    with pytest.raises(ValidationError, match="layer: no rate histogram for 'conv9'"):
        result.rate_percentile_hz("conv9", 50)
    with pytest.raises(ValidationError, match="q: expected a percentile in 0..100"):
        result.rate_percentile_hz("conv0", 101)
