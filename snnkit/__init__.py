"""snnkit: Keras models to spiking neural networks on Loihi-class targets.

Train with :class:`Trainer`, freeze to a :class:`FrozenNetwork`, run it on any backend
(:mod:`snnkit.backends`), search scales with :mod:`snnkit.tuning`.

``import snnkit`` is quick and changes nothing in the process: each name below is
imported from its module on first use (PEP 562), and TensorFlow, nengo-dl and
nengo-loihi only when a function needs them (:mod:`snnkit.utils.stack`).

Decisions (the Loihi core plan, chunk sizes) are logged to the ``snnkit`` logger,
silent unless the application configures logging (e.g.
``logging.basicConfig(level=logging.INFO)``); library code prints nothing.
"""

from __future__ import annotations

import logging

from snnkit.utils.lazy import lazy_exports

__version__ = "0.1.0"

# the library convention: no output unless the application configures logging
logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> the module that defines it
_EXPORTS = {
    "BackendUnavailable": "exceptions",
    "FrozenNetwork": "network.frozen",
    "FrozenNetworkFileError": "exceptions",
    "NeuronSpec": "network.neurons",
    "Result": "network.results",
    "RunSummary": "network.results",
    "SnnkitError": "exceptions",
    "Trainer": "training.trainer",
    "ValidationError": "exceptions",
    "from_keras": "convert.freeze",
    "from_nir": "nir.importer",
    "known_neuron_types": "network.neurons",
    "load_data_file": "data.files",
    "load_digits": "data.datasets",
    "load_keras_model": "convert.keras_model",
    "load_mnist": "data.datasets",
    "to_nir": "nir.export",
    "train_for_latency": "training.recipes",
    "train_for_loihi": "training.recipes",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
