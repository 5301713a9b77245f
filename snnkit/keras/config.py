"""A pure-Python reader of Keras model configurations (``model.to_json()``, a Keras
file's ``model_config`` or ``config.json``).

:func:`parse_model_config` checks a configuration completely before anything hands
it to Keras: every layer class against an allowlist (at every depth: nested models
and wrapper layers are refused, as is any class outside the allowlist), every
field Keras may turn into code against built-in names (:mod:`snnkit.keras.fields`),
the layer graph (unique names, valid inbound-node indices, no cycles, one input,
one output, no dead layers) and every size against fixed bounds. It then computes
each layer's output and weight shapes (:mod:`snnkit.keras.layers`) in time and
memory linear in the configuration's size. Nothing is imported from TensorFlow,
nothing is built or allocated.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from snnkit.exceptions import ValidationError
from snnkit.keras import fields as field_checks
from snnkit.keras.layers import SUPPORTED_LAYERS, check_config, layer_shapes
from snnkit.keras.shapes import MAX_INPUTS

MAX_LAYERS = 1000
MAX_MODEL_WEIGHTS = 2 ** 28      # numbers in all weights of a model (1 GiB float32)
MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})
# what Keras 2.12 writes around a model config; "module" points at Keras itself
_TOP_KEYS = frozenset({"class_name", "config", "keras_version", "backend", "module",
                       "registered_name", "build_config", "compile_config"})
_MODULES = (None, "keras", "keras.models", "keras.engine.functional",
            "keras.engine.sequential")
_MODEL_KEYS = frozenset({"name", "trainable", "layers", "input_layers", "output_layers"})
_LAYER_KEYS = frozenset({"class_name", "config", "name", "inbound_nodes", "module",
                         "registered_name"})
_RESERVED_NAMES = frozenset({"_CONSTANT_VALUE"})  # Keras reads it as a constant input


@dataclass(frozen=True)
class Layer:
    """One layer of a checked model.

    Attributes
    ----------
    name : str
        The layer's name.
    class_name : str
        Its Keras layer class.
    config : dict
        Its checked config (defaults filled in).
    inputs : tuple of str
        The layers feeding it.
    output_shape : tuple of int
        Its output shape (without the batch dimension).
    weight_shapes : tuple of tuple of int
        Its weight shapes, in ``get_weights()`` order (without the batch dimension).
    """

    name: str
    class_name: str
    config: dict
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]
    weight_shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ModelGraph:
    """A checked model.

    Attributes
    ----------
    kind : {"Functional", "Sequential"}
        The model class.
    layers : tuple of Layer
        The layers, in configuration order.
    input_layer : str or None
        The input (None: a Sequential model fed by its first layer's
        ``batch_input_shape``).
    output_layer : str
        The output.
    input_shape : tuple of int
        Shape of one input, without the batch dimension.
    """

    kind: str
    layers: tuple[Layer, ...]
    input_layer: str | None
    output_layer: str
    input_shape: tuple[int, ...]
    _by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {layer.name: layer for layer in self.layers})

    @property
    def layer_names(self) -> tuple:
        return tuple(layer.name for layer in self.layers)

    def layer(self, name: str) -> Layer:
        return self._by_name[name]

    def __contains__(self, name) -> bool:
        return name in self._by_name


def parse_model_config(config, *, allowed_layers, argument: str = "model_json",
                       refusal: str = "which snnkit does not support",
                       kinds=("Functional",)) -> ModelGraph:
    """Check a Keras model configuration (the parsed JSON) and size every layer.

    Parameters
    ----------
    config : dict
        The configuration, as ``json.loads(model.to_json())`` gives it.
    allowed_layers : collection of str
        The layer classes accepted (a subset of
        :data:`~snnkit.keras.layers.SUPPORTED_LAYERS`).
    argument : str
        Starts every error message.
    refusal : str
        What a refused layer class is told: ``"<layer> is a <class>, <refusal>"``.
    kinds : tuple of str
        The model classes accepted.

    Returns
    -------
    ModelGraph

    Raises
    ------
    ValidationError
        Any problem, starting with ``argument`` and naming the layer and field.
    ValueError
        ``allowed_layers`` names a class outside
        :data:`~snnkit.keras.layers.SUPPORTED_LAYERS` (it has no shape rules).
    """
    if not set(allowed_layers) <= SUPPORTED_LAYERS:
        raise ValueError("allowed_layers: "
                         f"{sorted(set(allowed_layers) - SUPPORTED_LAYERS)}"
                         " have no shape rules")
    kind = _check_top(config, argument, kinds)
    body = config["config"]
    layers = body.get("layers")
    if not isinstance(layers, list) or not 0 < len(layers) <= MAX_LAYERS:
        field_checks.fail(f"{argument}: config.layers",
                          f"a list of 1..{MAX_LAYERS} layers", layers)
    entries = [_check_entry(i, entry, kind, argument, allowed_layers, refusal)
               for i, entry in enumerate(layers)]
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"{argument}: layer names must be unique, "
                              f"{', '.join(map(repr, dupes))} appear more than once")
    if kind == "Sequential":
        inputs, input_layer, output_layer = _sequential_edges(entries, argument)
    else:
        known = set(names)
        inputs = {e["name"]: _inbound(e, known, argument) for e in entries}
        input_layer = _endpoint(body, "input_layers", names, argument)
        output_layer = _endpoint(body, "output_layers", names, argument)
    order = _topological_order(names, inputs, argument)
    _check_endpoints(entries, inputs, input_layer, output_layer, argument)
    return _size(kind, entries, inputs, order, input_layer, output_layer, argument)


def _check_top(config, argument, kinds) -> str:
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        field_checks.fail(argument, "a Keras model config {class_name, config}", config)
    kind = config.get("class_name")
    if kind not in kinds:
        raise ValidationError(f"{argument}: expected a Keras {' or '.join(kinds)} "
                              f"model, got class {field_checks.shown(kind)}")
    field_checks.known_keys(argument, config, _TOP_KEYS)
    for key in ("keras_version", "backend"):
        if key in config:
            field_checks.name(f"{argument}: {key}", config[key])
    if config.get("module") not in _MODULES:
        field_checks.fail(f"{argument}: module",
                          f"a Keras module ({', '.join(_MODULES[1:])})", config["module"])
    if config.get("registered_name") not in (None, kind):
        field_checks.fail(f"{argument}: registered_name", f"{kind!r} or none",
                          config["registered_name"])
    if config.get("compile_config") is not None:
        field_checks.fail(f"{argument}: compile_config",
                          "none (snnkit never compiles a loaded model)",
                          config["compile_config"])
    build = config.get("build_config")
    if build is not None:
        if not isinstance(build, dict) or set(build) != {"input_shape"}:
            field_checks.fail(f"{argument}: build_config", "{input_shape: [...]}", build)
        field_checks.shape(f"{argument}: build_config.input_shape", build["input_shape"],
                           allow_none_first=True)
    body = config["config"]
    allowed = _MODEL_KEYS if kind != "Sequential" else {"name", "trainable", "layers"}
    field_checks.known_keys(f"{argument}: config", body, allowed)
    if "name" in body:
        field_checks.name(f"{argument}: config.name", body["name"])
    if "trainable" in body:
        field_checks.boolean(f"{argument}: config.trainable", body["trainable"])
    return "Sequential" if kind == "Sequential" else "Functional"


def _check_entry(index, entry, kind, argument, allowed_layers, refusal) -> dict:
    where = f"{argument}: layer {index}"
    if not isinstance(entry, dict):
        field_checks.fail(where, "a dict {class_name, config, ...}", entry)
    config = entry.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    if isinstance(name, str):
        where = f"{argument}: layer {field_checks.shown(name)}"
    cls = entry.get("class_name")
    if not isinstance(cls, str):
        field_checks.fail(f"{where}: class_name", "a layer class name", cls)
    if cls in MODEL_CLASSES:
        raise ValidationError(
            f"{where} is a nested {cls} model; snnkit reads only flat models (build "
            "the model from layers directly)")
    if cls not in allowed_layers:
        cls = cls if cls.isidentifier() and len(cls) < 80 else field_checks.shown(cls)
        supported = ", ".join(sorted(set(allowed_layers) - {"InputLayer"}))
        raise ValidationError(f"{where} is a {cls}, {refusal}; supported "
                              f"layers: {supported}")
    field_checks.known_keys(where, entry, _LAYER_KEYS)
    if entry.get("module") not in (None, "keras.layers"):
        field_checks.fail(f"{where}: module", "keras.layers or none", entry["module"])
    if entry.get("registered_name") not in (None, cls):
        field_checks.fail(f"{where}: registered_name", f"{cls!r} or none",
                          entry["registered_name"])
    checked = check_config(cls, config, where)
    name = checked["name"]
    if name in _RESERVED_NAMES:
        raise ValidationError(f"{where}: name {name!r} is reserved by Keras")
    if kind == "Functional" or "name" in entry:
        if entry.get("name") != name:
            field_checks.fail(f"{where}: name", f"the layer's config name {name!r}",
                              entry.get("name"))
    if kind == "Functional" and "inbound_nodes" not in entry:
        raise ValidationError(f"{where}: inbound_nodes: missing (required)")
    if kind == "Sequential" and "inbound_nodes" in entry:
        raise ValidationError(f"{where}: inbound_nodes: not expected in a Sequential "
                              "model")
    return {"name": name, "class_name": cls, "config": checked,
            "inbound_nodes": entry.get("inbound_nodes")}


def _inbound(entry, names, argument) -> tuple:
    """Names of the layers feeding ``entry``: one node (shared layers are refused),
    each input ``[layer, 0, 0]`` or ``[layer, 0, 0, {}]``."""
    where = f"{argument}: layer {entry['name']!r}: inbound_nodes"
    nodes = entry["inbound_nodes"]
    if entry["class_name"] == "InputLayer":
        if nodes != []:
            field_checks.fail(where, "[] for an InputLayer", nodes)
        return ()
    if not isinstance(nodes, list) or len(nodes) != 1:
        field_checks.fail(where, "one node (a layer called once; shared layers are not "
                          "supported)", nodes)
    node = nodes[0]
    if not isinstance(node, list) or not 0 < len(node) <= MAX_INPUTS:
        field_checks.fail(f"{where}[0]",
                          f"a list of 1..{MAX_INPUTS} inputs [layer, 0, 0, {{}}]", node)
    sources = []
    for i, item in enumerate(node):
        ok = isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str) \
            and (len(item) == 3 or item[3] == {})
        if not ok:
            field_checks.fail(f"{where}[0][{i}]",
                              "[layer name, node index, tensor index, {}]", item)
        if item[0] not in names:
            raise ValidationError(f"{where}[0][{i}]: unknown layer "
                                  f"{field_checks.shown(item[0])}")
        if item[1:3] != [0, 0] or isinstance(item[1], bool) or isinstance(item[2], bool):
            field_checks.fail(f"{where}[0][{i}]",
                              f"node index 0 and tensor index 0 of layer {item[0]!r} "
                              "(its only output)", item[1:3])
        sources.append(item[0])
    return tuple(sources)


def _endpoint(body, key, names, argument) -> str:
    where = f"{argument}: config.{key}"
    value = body.get(key)
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]  # Keras writes a single endpoint either way
    if not isinstance(value, list) or len(value) != 1:
        field_checks.fail(where, "exactly one [layer, 0, 0] (snnkit models have one "
                          "input and one output)", value)
    item = value[0]
    if not isinstance(item, list) or len(item) != 3 or item[0] not in names \
            or item[1:] != [0, 0] or any(isinstance(v, bool) for v in item[1:]):
        field_checks.fail(where, "[name of a layer, 0, 0]", item)
    return item[0]


def _sequential_edges(entries, argument):
    first = entries[0]
    for entry in entries[1:]:
        if entry["class_name"] == "InputLayer":
            raise ValidationError(f"{argument}: layer {entry['name']!r}: an InputLayer "
                                  "may only come first in a Sequential model")
    inputs = {first["name"]: ()}
    for before, entry in zip(entries, entries[1:]):
        inputs[entry["name"]] = (before["name"],)
    if first["class_name"] != "InputLayer" \
            and first["config"].get("batch_input_shape") is None:
        raise ValidationError(f"{argument}: a Sequential model needs an input shape "
                              "(an InputLayer or batch_input_shape on its first layer)")
    input_layer = first["name"] if first["class_name"] == "InputLayer" else None
    return inputs, input_layer, entries[-1]["name"]


def _topological_order(names, inputs, argument) -> list:
    """Kahn's algorithm: a cycle leaves layers behind and is refused."""
    pending = {name: len(set(inputs[name])) for name in names}
    users = {name: [] for name in names}
    for name in names:
        for source in set(inputs[name]):
            users[source].append(name)
    ready = deque(name for name in names if pending[name] == 0)
    order = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for user in users[name]:
            pending[user] -= 1
            if pending[user] == 0:
                ready.append(user)
    if len(order) != len(names):
        stuck = [name for name in names if pending[name] > 0]
        raise ValidationError(f"{argument}: the layer graph has a cycle through "
                              f"{', '.join(map(repr, stuck[:5]))}")
    return order


def _check_endpoints(entries, inputs, input_layer, output_layer, argument) -> None:
    kinds = {e["name"]: e["class_name"] for e in entries}
    sources = [name for name, feeds in inputs.items() if not feeds]
    if input_layer is not None:
        if kinds[input_layer] != "InputLayer":
            raise ValidationError(f"{argument}: input {input_layer!r} is a "
                                  f"{kinds[input_layer]}, expected an InputLayer")
        if sources != [input_layer]:
            others = [s for s in sources if s != input_layer]
            raise ValidationError(f"{argument}: layer(s) {', '.join(map(repr, others))} "
                                  "have no inputs; the model's one input is "
                                  f"{input_layer!r}")
    used, todo = {output_layer}, [output_layer]
    while todo:
        for source in inputs[todo.pop()]:
            if source not in used:
                used.add(source)
                todo.append(source)
    dead = [e["name"] for e in entries if e["name"] not in used]
    if dead:
        raise ValidationError(f"{argument}: layer(s) {', '.join(map(repr, dead[:5]))} "
                              f"do not lead to the output {output_layer!r}")


def _size(kind, entries, inputs, order, input_layer, output_layer, argument):
    by_name = {e["name"]: e for e in entries}
    shapes, total = {}, 0
    for name in order:
        entry = by_name[name]
        where = f"{argument}: layer {name!r} ({entry['class_name']})"
        if not inputs[name] and entry["class_name"] != "InputLayer":
            # a Sequential model's first layer, fed by its batch_input_shape
            fed = [entry["config"]["batch_input_shape"]]
        else:
            fed = [shapes[source].output for source in inputs[name]]
        shapes[name] = layer_shapes(entry["class_name"], entry["config"], fed, where)
        total += sum(math.prod(s) for s in shapes[name].weights)
        if total > MAX_MODEL_WEIGHTS:
            raise ValidationError(f"{argument}: the weights hold more than "
                                  f"{MAX_MODEL_WEIGHTS} numbers (at layer {name!r})")
    first = entries[0]
    input_shape = shapes[input_layer].output if input_layer is not None \
        else tuple(first["config"]["batch_input_shape"])
    layers = tuple(Layer(e["name"], e["class_name"], e["config"], inputs[e["name"]],
                         shapes[e["name"]].output, shapes[e["name"]].weights)
                   for e in entries)
    return ModelGraph(kind, layers, input_layer, output_layer, input_shape)



def with_zero_initializers(config):
    """A copy of a Keras layer or model configuration whose ``*_initializer`` fields
    are all ``Zeros``.

    For a model rebuilt only to receive weights right after: building it then draws
    no random numbers, so it neither consumes the random stream a user seeded
    (``tf.keras.utils.set_random_seed``) nor spends time on random kernels.
    """
    if isinstance(config, dict):
        return {key: ({"class_name": "Zeros", "config": {}}
                      if key.endswith("_initializer") and value is not None
                      else with_zero_initializers(value))
                for key, value in config.items()}
    if isinstance(config, list):
        return [with_zero_initializers(value) for value in config]
    return config
