"""A Keras model configuration written from layer specs, in pure Python: what
``tf.keras.Model.to_json()`` would write for a functional model of those layers, with
every field a spec leaves out set to Keras' default (:mod:`snnkit.keras.layers` knows
each layer's fields and defaults). Used where a network is made without a Keras model
at hand (NIR import), so that no TensorFlow is needed.

>>> config = model_config([
...     LayerSpec("InputLayer", "input", {"batch_input_shape": [None, 4]}),
...     LayerSpec("Dense", "out", {"units": 2}, inputs=("input",)),
... ], name="tiny")
>>> graph = parse_model_config(config, allowed_layers={"InputLayer", "Dense"})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from snnkit.exceptions import ValidationError
from snnkit.keras.layers import check_config

# what Keras 2.12 writes around a model configuration
KERAS_VERSION = "2.12.0"
_INPUT_DEFAULTS = {"dtype": "float32", "sparse": False, "ragged": False}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a model to write.

    Attributes
    ----------
    class_name : str
        The Keras layer class (one of :data:`snnkit.keras.layers.SUPPORTED_LAYERS`).
    name : str
        The layer's name, unique in the model.
    config : Mapping
        The configuration fields that differ from Keras' defaults (an
        ``InputLayer`` needs ``batch_input_shape``, e.g. ``[None, 28, 28, 1]``).
    inputs : tuple of str
        Names of the layers feeding this one (none for the input).
    """

    class_name: str
    name: str
    config: Mapping = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


def model_config(layers: Sequence[LayerSpec], name: str = "model") -> dict:
    """The functional model configuration of ``layers``.

    Parameters
    ----------
    layers : sequence of LayerSpec
        In model order: the first is the ``InputLayer``, the last the output.
    name : str
        The model's name.

    Returns
    -------
    dict
        JSON-ready, as ``json.loads(model.to_json())`` gives it; check it with
        :func:`snnkit.keras.config.parse_model_config` before use.

    Raises
    ------
    ValidationError
        A layer's field is invalid (:func:`snnkit.keras.layers.check_config`).
    """
    if not layers or layers[0].class_name != "InputLayer":
        raise ValidationError("layers: expected an InputLayer first")
    entries = []
    for spec in layers:
        where = f"layer {spec.name!r} ({spec.class_name})"
        given = {"name": spec.name, **spec.config}
        if spec.class_name == "InputLayer":
            given = {**_INPUT_DEFAULTS, **given}
        checked = check_config(spec.class_name, given, where)
        # given fields as given (checked; a checker may normalize them, e.g. drop the
        # batch dimension of a shape), the others at Keras' default
        config = _json_ready({**checked, **given})
        if config.get("batch_input_shape", ...) is None:
            del config["batch_input_shape"]  # Keras reads the key as a shape if present
        entries.append({
            "class_name": spec.class_name,
            "config": config,
            "name": spec.name,
            "inbound_nodes": [[[source, 0, 0, {}] for source in spec.inputs]]
            if spec.inputs else [],
        })
    return {
        "class_name": "Functional",
        "config": {
            "name": name,
            "trainable": True,
            "layers": entries,
            "input_layers": [[layers[0].name, 0, 0]],
            "output_layers": [[layers[-1].name, 0, 0]],
        },
        "keras_version": KERAS_VERSION,
        "backend": "tensorflow",
    }


def _json_ready(value):
    """Tuples as lists, as JSON has them."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value
