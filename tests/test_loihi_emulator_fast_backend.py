"""The registered fast emulator gives what nengo-loihi's emulator backend gives, to
the bit, on the same frozen network."""

import numpy as np
import pytest

from snnkit.backends import available_backends, get_backend
from snnkit.exceptions import BackendCapabilityError


def test_registered_and_available():
    assert "loihi-emulator-fast" in available_backends()


@pytest.mark.slow
def test_equals_emulator_backend_on_trained_seed(trained_seed_loihi, mnist_small):
    _, (x_test, y_test) = mnist_small
    x = x_test[:4]
    reference = get_backend("loihi-emulator").run(trained_seed_loihi, x, n_steps=30)
    fast = get_backend("loihi-emulator-fast").run(trained_seed_loihi, x, n_steps=30)
    np.testing.assert_array_equal(fast.outputs, reference.outputs)
    np.testing.assert_array_equal(fast.predictions, reference.predictions)
    for field in ("layer_rates_hz", "spikes_per_input", "synaptic_ops_per_input",
                  "saturated_fraction"):
        assert getattr(fast, field) == pytest.approx(getattr(reference, field), rel=1e-12), field


def test_sequential_is_refused(trained_seed_loihi):
    with pytest.raises(BackendCapabilityError, match="presentation: backend "
                       "'loihi-emulator-fast' supports reset, not 'sequential'"):
        get_backend("loihi-emulator-fast").run(trained_seed_loihi, np.zeros((1, 784)),
                                               n_steps=2, presentation="sequential")
