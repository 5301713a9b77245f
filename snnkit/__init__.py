"""snnkit: Keras models to spiking neural networks on Loihi-class targets.

Train with :class:`Trainer`, freeze to a :class:`FrozenNetwork`, run it on any backend
(:mod:`snnkit.backends`), search scales with :mod:`snnkit.tuning`.
"""

from . import _quiet  # noqa: F401  (first: quiets TensorFlow before it is imported)
from .data import load_digits, load_mnist
from .exceptions import (
    BackendUnavailable,
    FrozenNetworkFileError,
    SnnkitError,
    ValidationError,
)
from .frozen import FrozenNetwork
from .keras_files import load_keras_model
from .neurons import NeuronSpec, known_neuron_types
from .results import Result
from .trainer import Trainer

__version__ = "0.1.0"


__all__ = [
    "BackendUnavailable",
    "FrozenNetwork",
    "FrozenNetworkFileError",
    "NeuronSpec",
    "Result",
    "SnnkitError",
    "Trainer",
    "ValidationError",
    "known_neuron_types",
    "load_digits",
    "load_keras_model",
    "load_mnist",
]
