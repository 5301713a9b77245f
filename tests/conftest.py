"""Shared fixtures: small MNIST subsets and one briefly trained seed network, built
once per test session so every test file can use them cheaply."""

from __future__ import annotations

import numpy as np
import pytest

import snnkit
from snnkit.network.frozen import FrozenNetwork

N_TRAIN = 2000
N_TEST = 200


@pytest.fixture(scope="session")
def mnist_small():
    """``((x_train, y_train), (x_test, y_test))``: the first 2,000 / 200 images."""
    return snnkit.load_mnist(N_TRAIN, N_TEST)


@pytest.fixture(scope="session")
def trained_seed(mnist_small) -> FrozenNetwork:
    """The seed convnet after three ReLU epochs on 2,000 images (about 90% test
    accuracy), frozen with ReLU rates. Derive other settings with ``.replace``."""
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    (x_train, y_train), _ = mnist_small
    model = seed_convnet(seed=0)
    trainer = Trainer(max_epochs=3, minibatch_size=100, neuron_type="relu",
                      enable_progress_bar=False, seed=0)
    trainer.fit(model, (x_train, y_train))
    return trainer.freeze(model)


@pytest.fixture(scope="session")
def trained_seed_loihi(trained_seed, mnist_small) -> FrozenNetwork:
    """``trained_seed`` with Loihi neurons calibrated to 250 Hz and synapse 0.005 s."""
    from snnkit.training.trainer import Trainer

    (x_train, _), _ = mnist_small
    trainer = Trainer(enable_progress_bar=False, synapse=0.005)
    cal = trainer.calibrate(trained_seed, x_train[:100], target_rate_hz=250, n_steps=30)
    return trained_seed.replace(neuron="loihi-relu", scale_firing_rates=cal.scales,
                                synapse=0.005)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
