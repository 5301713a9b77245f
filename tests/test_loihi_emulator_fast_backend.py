"""The registered fast emulator gives what nengo-loihi's emulator backend gives, to
the bit, on the same frozen network."""

import numpy as np
import pytest

from snnkit.backends import available_backends, get_backend
from snnkit.exceptions import BackendCapabilityError


def test_registered_and_available():
    assert "loihi-emulator-fast" in available_backends()


def test_equals_emulator_backend_result(trained_seed_loihi, mnist_small):
    """Outputs bit for bit (test_conformance checks more images); the statistics
    computed from spike counts equal those computed from the emulator's probes."""
    _, (x_test, _) = mnist_small
    x = x_test[:2]
    reference = get_backend("loihi-emulator").run(trained_seed_loihi, x, n_steps=30)
    fast = get_backend("loihi-emulator-fast").run(trained_seed_loihi, x, n_steps=30)
    np.testing.assert_array_equal(fast.outputs, reference.outputs)
    for field in ("layer_rates_hz", "spikes_per_input", "synaptic_ops_per_input",
                  "saturated_fraction", "layer_max_rates_hz"):
        assert getattr(fast, field) == pytest.approx(getattr(reference, field), rel=1e-12), field


def test_sequential_is_refused(trained_seed_loihi):
    with pytest.raises(BackendCapabilityError, match="presentation: backend "
                       "'loihi-emulator-fast' supports reset, not 'sequential'"):
        get_backend("loihi-emulator-fast").run(trained_seed_loihi, np.zeros((1, 784)),
                                               n_steps=2, presentation="sequential")
