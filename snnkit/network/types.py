"""Names for what is passed around, said once (optax's ``base.py`` habit): the shapes
of a network's weights, scales and block shapes, a Keras model, and the callables
that functions take. Annotations only: nothing here runs, and no heavy package is
imported (TensorFlow's types are named, not imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.network.results import Result

KerasModel: TypeAlias = Any
"""A ``tf.keras.Model`` (named here without importing TensorFlow)."""

LayerWeights: TypeAlias = tuple[np.ndarray, ...]
"""One layer's arrays as Keras' ``layer.get_weights()`` gives them: ``(kernel,)`` or
``(kernel, bias)``, channels-last."""

Weights: TypeAlias = Mapping[str, LayerWeights]
"""``{layer name: LayerWeights}`` for every layer that has weights."""

Scales: TypeAlias = Mapping[str, float]
"""``{neuron layer: scale}`` (``scale_firing_rates``): a layer's neuron inputs are
multiplied by its scale and its outputs divided by it; a missing layer has 1."""

BlockShapes: TypeAlias = Mapping[str, tuple[int, ...]]
"""``{on-chip layer: per-core block shape}`` (the layer's output shape cut into
blocks, one per Loihi core)."""

RatesHz: TypeAlias = Mapping[str, float]
"""``{neuron layer: firing rate in Hz}``."""


class MeasureNetwork(Protocol):
    """Runs a candidate network on fixed inputs and returns what it did.

    The calibration's and a search's measurement.
    """

    def __call__(self, network: FrozenNetwork) -> Result: ...


class ModelFactory(Protocol):
    """Makes a fresh, seeded Keras model (a benchmark row's or a search trial's)."""

    def __call__(self, seed: int) -> KerasModel: ...
