"""Keras models in and out of snnkit: a saved ``.h5``/``.keras`` file loaded after
:mod:`snnkit.keras.files` has checked it, and a FrozenNetwork's architecture and weights
as a new Keras model."""

from __future__ import annotations

import json

import numpy as np

from snnkit.keras.config import with_zero_initializers
from snnkit.keras.files import checked_keras_file, keras_file_error
from snnkit.utils.stack import import_tensorflow


def load_keras_model(path, argument: str = "model"):
    """Load a saved Keras model (``.h5`` or ``.keras``) without running any code
    stored in it (:mod:`snnkit.keras.files` checks a private copy first). Raises
    :class:`~snnkit.exceptions.ValidationError` naming ``argument`` for a missing,
    unreadable, ambiguous or refused file."""
    with checked_keras_file(path, argument) as (copy, label):
        tf = import_tensorflow()
        try:
            return tf.keras.models.load_model(copy, compile=False, safe_mode=True)
        except Exception as e:  # Keras' loader raises many types on bad weight data
            raise keras_file_error(argument, label, f"cannot be loaded by Keras "
                                   f"({type(e).__name__}: {e})") from e


def to_keras(network):
    """A new Keras model with ``network``'s architecture and weights."""
    tf = import_tensorflow()

    config = with_zero_initializers(json.loads(network.model_json))
    model = tf.keras.models.model_from_json(json.dumps(config))
    for layer in model.layers:
        if layer.name in network.weights:
            layer.set_weights([np.asarray(w) for w in network.weights[layer.name]])
    return model
