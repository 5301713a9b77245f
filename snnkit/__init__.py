"""snnkit: Keras models to spiking neural networks on Loihi-class targets.

Train with :class:`Trainer`, freeze to a :class:`FrozenNetwork`, run it on any backend
(:mod:`snnkit.backends`), search scales with :mod:`snnkit.tuning`.

``import snnkit`` is quick and changes nothing in the process: each name below is
imported from its module on first use (PEP 562), and TensorFlow, nengo-dl and
nengo-loihi only when a function needs them (:mod:`snnkit._stack`).

Decisions (the Loihi core plan, chunk sizes) are logged to the ``snnkit`` logger,
silent unless the application configures logging (e.g.
``logging.basicConfig(level=logging.INFO)``); library code prints nothing.
"""

from __future__ import annotations

import logging

from ._lazy import lazy_exports

__version__ = "0.1.0"

# the library convention: no output unless the application configures logging
logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> the module that defines it
_EXPORTS = {
    "BackendUnavailable": "exceptions",
    "FrozenNetwork": "frozen",
    "FrozenNetworkFileError": "exceptions",
    "NeuronSpec": "neurons",
    "Result": "results",
    "RunSummary": "results",
    "SnnkitError": "exceptions",
    "Trainer": "trainer",
    "ValidationError": "exceptions",
    "known_neuron_types": "neurons",
    "load_data_file": "data_files",
    "load_digits": "data",
    "load_keras_model": "keras_files",
    "load_mnist": "data",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
