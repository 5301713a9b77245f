"""Rewrite a user's Keras model into the plain layers every backend runs.

Users bring Keras models with batch normalization, dropout, separate activation layers,
pooling, residual sums, separable or grouped convolutions and a softmax output.
Spiking backends (and Loihi in particular) run weighted layers with ReLU neurons, so
:func:`fold_model` turns the model into an *equivalent* one (same outputs at
inference, up to float rounding; the softmax output keeps its argmax). What each
layer class becomes is one rule of :data:`_RULES`:

=======================================  ==============================================
layer                                    what happens
=======================================  ==============================================
``Dropout``, ``SpatialDropout1D/2D``,    removed (identity at inference)
``GaussianNoise``, ``GaussianDropout``,
``AlphaDropout``, ``Activation("linear")``
``Dense``, ``Conv1D``, ``Conv2D``        kept; regularizers and constraints dropped
                                         (they act only in training); grouped and
                                         dilated convolutions become one plain kernel,
                                         ``'causal'`` padding a ``ZeroPadding1D``, a
                                         ``Dense`` on a map its 1x1 convolution
``DepthwiseConv2D``, ``SeparableConv2D`` become one ``Conv2D`` with the same function
``BatchNormalization`` right after a     folded into that layer's kernel and bias
linear weighted layer                    (inference statistics)
``BatchNormalization`` elsewhere         kept (freeze only): the Loihi build composes
                                         it exactly into the next layer
``Activation("relu")``, ``ReLU()``       merged into the linear weighted layer before
                                         it (that layer becomes neurons); elsewhere
                                         kept as a neuron layer of its own
``AveragePooling1D/2D``,                 folded into the next ``Dense`` (through a
``GlobalAveragePooling1D/2D``            ``Flatten``) or ``Conv`` when exact; otherwise
                                         kept (``'same'`` padding only where it equals
                                         ``'valid'``)
``MaxPooling*``, ``GlobalMaxPooling*``   refused, or with ``max_pool="average"``
                                         replaced by average pooling (the function
                                         changes: fine-tune)
``Add``, ``Average``, ``Concatenate``    kept (residual and branching blocks; a
(channels)                               concatenation along channels only)
``Flatten``, ``Reshape``,                kept
``ZeroPadding1D/2D``
softmax output                           replaced by its logits (argmax unchanged)
=======================================  ==============================================

Everything else is refused with a :class:`~snnkit.exceptions.ConversionError` naming
the layer and what to use instead, as are inputs with unknown sizes.

``for_training=True`` folds only what can be written back into the user's model after
training (:func:`write_back`): dropout, batch normalization after a weighted layer,
activation layers, the softmax output and training-only options. Pooling stays
(NengoDL trains it); separable/depthwise convolutions and batch normalization that
cannot fold backwards are refused (NengoDL cannot train them: train in Keras, then
freeze).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from snnkit.convert.fold_graph import (
    MAX_POOLING_LAYERS,
    MERGE_LAYERS,
    POOLING_LAYERS,
    REFUSED,
    WEIGHTED_LAYERS,
    activation_kind,
    activation_message,
    activation_note,
    layer_graph,
    refuse_relu_options,
)
from snnkit.convert.fold_weights import (
    GLOBAL_POOLING_LAYERS,
    as_plain,
    conv_fold_ok,
    fold_batchnorm,
    fold_pool,
    set_batchnorm_identity,
    weights_of,
)
from snnkit.exceptions import ConversionError
from snnkit.keras.config import with_zero_initializers
from snnkit.utils.stack import import_tensorflow
from snnkit.utils.validation import check_choice

MAX_POOL_OPTIONS = ("refuse", "average")
# options that act only in training (on the weights' updates), never at inference
_TRAINING_ONLY = ("regularizer", "constraint")


@dataclass(frozen=True)
class FoldedModel:
    """The runnable model and what was changed to get it.

    Attributes
    ----------
    model : tf.keras.Model
        The folded model (the user's own object when nothing changed).
    changes : tuple of str
        What was done, in words, one entry per change.
    merged : dict of str to str or None
        Every user layer that no longer exists, mapped to the layer that absorbed it
        (``None`` for removed identity layers).
    dropped : dict of str to tuple of str
        Training-only options (regularizers, constraints) dropped, by layer: they do
        not act at inference, and a fit of the folded model does not apply them.
    """

    model: object
    changes: tuple
    merged: dict
    dropped: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def fold_model(model, *, for_training: bool = False,
               max_pool: str = "refuse") -> FoldedModel:
    """An equivalent model made of runnable layers (see the module docstring).

    Parameters
    ----------
    model : tf.keras.Model
        A functional or sequential model with one input and one output; not changed.
    for_training : bool
        Fold only what :func:`write_back` can write back after training.
    max_pool : {"refuse", "average"}
        What to do with max pooling: refuse it (spiking neurons cannot take a
        maximum), or replace it by average pooling of the same window (the function
        changes: fine-tune the model afterwards).

    Returns
    -------
    FoldedModel
        ``model`` itself when nothing needs to change.

    Raises
    ------
    ConversionError
        A layer snnkit cannot run, named with what to use instead.
    """
    tf = import_tensorflow()

    check_choice("max_pool", max_pool, MAX_POOL_OPTIONS)
    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    check_input_sizes(model)
    changes = []
    if max_pool == "average":
        model, replaced = _max_pooling_as_average(model)
        changes += [f"{name}: max pooling replaced by average pooling (max_pool="
                    "'average'; the function changes: fine-tune)" for name in replaced]
    nodes, order, output_name = layer_graph(model)
    fold = _Fold(tf=tf, nodes=nodes, output_name=output_name, for_training=for_training,
                 changes=changes)
    for layer in model.layers:
        if layer.name not in nodes:
            fold.merged[layer.name] = None
            fold.changes.append(f"{layer.name}: {type(layer).__name__} removed "
                                "(identity at inference)")
    for name in order:
        if name not in fold.done:
            _RULES.get(type(nodes[name].layer).__name__, _refuse)(fold, name)

    if not fold.changes:
        return FoldedModel(model=model, changes=(), merged={})
    inputs = [fold.tensors[n] for n in order
              if type(nodes[n].layer).__name__ == "InputLayer"]
    new = tf.keras.Model(inputs, fold.tensors[output_name], name=model.name)
    for layer_name, arrays in fold.pending_weights:
        new.get_layer(layer_name).set_weights(arrays)
    return FoldedModel(model=new, changes=tuple(fold.changes), merged=fold.merged,
                       dropped=fold.dropped)


def check_input_sizes(model) -> None:
    """Refuse a model whose input has a size left open (``None``): every neuron of
    every layer is placed on the chip, so every size must be known."""
    for tensor in model.inputs:
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            shown = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
            raise ConversionError(
                f"model: input {tensor._keras_history.layer.name!r} has shape {shown} "
                "with unknown sizes; snnkit needs every size fixed (each neuron is "
                "placed on the chip): build the model with fixed sizes, e.g. "
                "tf.keras.Input((28, 28, 1)), or rebuild it at one size with the same "
                "weights: snnkit.convert.fold.with_input_shape(model, shape)")


def with_input_shape(model, shape):
    """``model`` rebuilt for inputs of one fixed ``shape`` (no batch dimension), with
    the same layers and weights: for models built with ``None`` sizes."""
    tf = import_tensorflow()

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_input_shape"] = [None, *(int(d) for d in shape)]
    new = tf.keras.Model.from_config(with_zero_initializers(config))
    for layer in model.layers:
        if layer.get_weights():
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new


def write_back(trained: FoldedModel, original) -> None:
    """Write the weights of ``trained.model`` (folded with ``for_training=True`` and
    then trained) into ``original``, so that ``original`` computes the same function:
    absorbed batch normalizations become identities, their shift moves into the
    weighted layer's bias (or the normalization's own offset if that layer has none).
    """
    if not trained.changed:
        return
    absorbed_bn = {}
    for user_name, target in trained.merged.items():
        if target is None:
            continue
        layer = original.get_layer(user_name)
        if type(layer).__name__ == "BatchNormalization":
            absorbed_bn[target] = layer
    for layer in original.layers:
        if not layer.get_weights() or type(layer).__name__ == "BatchNormalization":
            continue
        values = trained.model.get_layer(layer.name).get_weights()
        bn = absorbed_bn.get(layer.name)
        use_bias = getattr(layer, "use_bias", False)
        if bn is None:
            layer.set_weights(values if use_bias or len(values) == 1 else values[:1])
            continue
        kernel, bias = values[0], values[1]
        layer.set_weights([kernel, bias] if use_bias else [kernel])
        set_batchnorm_identity(bn, None if use_bias else bias)


# --- one folding in progress ----------------------------------------------------------

@dataclass
class _Fold:
    """The user's layer graph and the new model being written from it."""

    tf: object
    nodes: dict
    output_name: str
    for_training: bool
    changes: list
    consumers: dict = field(init=False)
    tensors: dict = field(default_factory=dict)      # layer name -> new tensor
    pending_weights: list = field(default_factory=list)  # (new layer name, arrays)
    merged: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)  # layer -> training-only options
    done: set = field(default_factory=set)

    def __post_init__(self):
        self.consumers = {name: [] for name in self.nodes}
        for name, node in self.nodes.items():
            for source in node.inputs:
                self.consumers[source].append(name)

    def single_consumer(self, name):
        """The one layer reading ``name``, or None if none or several do."""
        consumers = self.consumers[name]
        return consumers[0] if len(consumers) == 1 else None

    def source(self, name):
        """The new tensor feeding layer ``name`` (its first input)."""
        return self.tensors[self.nodes[name].inputs[0]]

    def clone(self, name, config=None, cls=None):
        """Layer ``name`` written again (from ``config``, default its own), fed the new
        tensors of its inputs; its weights follow."""
        layer = self.nodes[name].layer
        new = getattr(self.tf.keras.layers, cls) if cls else type(layer)
        made = new.from_config(with_zero_initializers(
            config if config is not None else layer.get_config()))
        sources = [self.tensors[s] for s in self.nodes[name].inputs]
        self.tensors[name] = made(sources if len(sources) > 1 else sources[0])
        if layer.get_weights():
            self.pending_weights.append((name, layer.get_weights()))


# --- the rules: one function per kind of layer ----------------------------------------

def _input(fold: _Fold, name: str) -> None:
    shape = fold.nodes[name].layer.get_config()["batch_input_shape"][1:]
    fold.tensors[name] = fold.tf.keras.Input(shape=shape, name=name)


def _weighted(fold: _Fold, name: str) -> None:
    layer = fold.nodes[name].layer
    cls = type(layer).__name__
    if fold.for_training and cls in ("DepthwiseConv2D", "SeparableConv2D"):
        raise ConversionError(
            f"model: layer {name!r} is a {cls}, which NengoDL cannot train; train the "
            "model in Keras, then freeze it (snnkit folds it into one Conv2D), or use "
            "Conv2D")
    config, weights, notes = as_plain(layer, cls)
    fold.changes += [f"{name}: {note}" for note in notes]
    source = fold.source(name)
    if config.get("padding") == "causal":
        # 'causal' = zeros before the sequence, then 'valid'
        pad = (int(config["kernel_size"][0]) - 1) * int(config["dilation_rate"][0])
        pad_layer = fold.tf.keras.layers.ZeroPadding1D((pad, 0), name=f"{name}.causal")
        source = pad_layer(source)
        config["padding"] = "valid"
        fold.changes.append(f"{name}: 'causal' padding written as ZeroPadding1D(({pad}, "
                            "0)) and 'valid'")
    fold.tensors[name], chain_end = _emit_weighted(fold, name, source, config, weights)
    fold.tensors[chain_end] = fold.tensors[name]


def _pooling(fold: _Fold, name: str) -> None:
    layer = fold.nodes[name].layer
    cls = type(layer).__name__
    plan = None if fold.for_training else _pool_plan(fold, name)
    if plan is None:
        config = layer.get_config()
        if config.get("padding") == "same":
            config = _same_pooling_as_valid(name, layer, config)
            fold.changes.append(f"{name}: 'same' pooling written as 'valid' (the pool "
                                "divides the map: no padding)")
        fold.clone(name, config)
        return
    target_name, via_flatten = plan
    target = fold.nodes[target_name].layer
    kernel_bias = weights_of(target)
    in_shape = tuple(int(d) for d in layer.input_shape[1:])
    folded_kernel, config = fold_pool(layer, target, kernel_bias[0], in_shape)
    source = fold.source(name)
    if via_flatten or len(in_shape) > 1 and type(target).__name__ == "Dense":
        source = fold.tf.keras.layers.Flatten(name=f"{name}.flatten")(source)
    fold.done.add(target_name)
    for skipped in [name] + ([via_flatten] if via_flatten else []):
        fold.merged[skipped] = target_name
        fold.done.add(skipped)
    fold.changes.append(f"{name}: {cls} folded into {target_name!r}")
    # the target's own chain (BN, activation) continues from here
    config = dict(config, class_name=type(target).__name__)
    fold.tensors[target_name], chain_end = _emit_weighted(
        fold, target_name, source, config, [folded_kernel] + kernel_bias[1:])
    fold.tensors[chain_end] = fold.tensors[target_name]


def _batch_norm(fold: _Fold, name: str) -> None:
    node = fold.nodes[name]
    if fold.for_training:
        producer = fold.nodes[node.inputs[0]].layer
        raise ConversionError(
            f"model: BatchNormalization {name!r} follows {producer.name!r} "
            f"({type(producer).__name__}{activation_note(producer)}); NengoDL trains "
            "batch normalization only folded into a Conv/Dense layer without "
            "activation directly before it (and whose output goes nowhere else): "
            "write Conv2D(activation=None) -> BatchNormalization -> ReLU, or train in "
            "Keras and freeze (snnkit keeps it then)")
    fold.clone(name)
    fold.changes.append(f"{name}: BatchNormalization kept (not after a linear weighted "
                        "layer; the Loihi build composes it into the next layer)")


def _activation(fold: _Fold, name: str) -> None:
    layer = fold.nodes[name].layer
    cls = type(layer).__name__
    if cls == "ReLU":
        refuse_relu_options(layer)
    kind = activation_kind(layer)
    if kind == "identity" or (kind == "softmax" and name == fold.output_name):
        fold.tensors[name] = fold.source(name)
        fold.merged[name] = None
        fold.changes.append(f"{name}: {cls}({kind}) removed"
                            + (" (logits kept: argmax unchanged)" if kind == "softmax"
                               else ""))
        return
    if kind != "relu":
        raise ConversionError(activation_message(name, kind))
    # a ReLU not merged into a weighted layer: a neuron layer of its own
    fold.tensors[name] = fold.tf.keras.layers.Activation("relu", name=name)(
        fold.source(name))
    if cls == "ReLU":
        fold.changes.append(f"{name}: ReLU layer written as Activation('relu')")


def _merge(fold: _Fold, name: str) -> None:
    layer = fold.nodes[name].layer
    if type(layer).__name__ == "Concatenate":
        rank = len(layer.output_shape) - 1
        axis = layer.get_config().get("axis", -1)
        if axis not in (-1, rank):
            raise ConversionError(
                f"model: layer {name!r} concatenates along axis {axis} of its rank-"
                f"{rank} inputs; snnkit concatenates channels (the last axis) only: "
                "use axis=-1")
    fold.clone(name)


def _kept(fold: _Fold, name: str) -> None:
    fold.clone(name)


def _max_pooling(fold: _Fold, name: str) -> None:
    cls = type(fold.nodes[name].layer).__name__
    raise ConversionError(
        f"model: layer {name!r} is a {cls}; use {MAX_POOLING_LAYERS[cls]} (spiking "
        "neurons cannot take a maximum), or pass max_pool='average' (snnkit convert "
        "--max-pool average) to have snnkit replace it by average pooling, then "
        "fine-tune")


def _refuse(fold: _Fold, name: str) -> None:
    cls = type(fold.nodes[name].layer).__name__
    advice = REFUSED.get(cls)
    if advice is None:
        raise ConversionError(
            f"model: layer {name!r} is a {cls}, which snnkit does not run; see the "
            "README's table of supported layers")
    raise ConversionError(f"model: layer {name!r} is a {cls}; {advice}")


_RULES: dict[str, Callable[[_Fold, str], None]] = {
    "InputLayer": _input,
    **{cls: _weighted for cls in WEIGHTED_LAYERS},
    **{cls: _pooling for cls in POOLING_LAYERS | GLOBAL_POOLING_LAYERS},
    **{cls: _max_pooling for cls in MAX_POOLING_LAYERS},
    "BatchNormalization": _batch_norm,
    "Activation": _activation,
    "ReLU": _activation,
    **{cls: _merge for cls in MERGE_LAYERS},
    "Flatten": _kept,
    "Reshape": _kept,
    "ZeroPadding1D": _kept,
    "ZeroPadding2D": _kept,
}


# --- weighted layers ----------------------------------------------------------------

def _emit_weighted(fold: _Fold, name, source, config, weights):
    """Create the plain layer for ``name`` with the batch normalization and ReLU that
    directly follow it folded in. Returns ``(output tensor, last absorbed name)``."""
    config = dict(config)
    cls = config.pop("class_name")
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    chain_end = name
    activation = activation_kind(fold.nodes[name].layer)
    nxt = fold.single_consumer(name)
    if activation == "identity" and nxt and type(fold.nodes[nxt].layer).__name__ == \
            "BatchNormalization":
        kernel, bias = fold_batchnorm(fold.nodes[nxt].layer, kernel, bias)
        fold.merged[nxt] = name
        fold.done.add(nxt)
        fold.changes.append(f"{nxt}: BatchNormalization folded into {name!r}")
        chain_end = nxt
        nxt = fold.single_consumer(nxt)
    if activation == "identity" and nxt and type(fold.nodes[nxt].layer).__name__ in (
            "Activation", "ReLU"):
        after = fold.nodes[nxt].layer
        if type(after).__name__ == "ReLU":
            refuse_relu_options(after)
        kind = activation_kind(after)
        if kind == "relu" or kind == "identity" or (kind == "softmax"
                                                     and nxt == fold.output_name):
            activation = "relu" if kind == "relu" else "identity"
            fold.merged[nxt] = name
            fold.done.add(nxt)
            fold.changes.append(f"{nxt}: {type(after).__name__}({kind}) merged "
                                f"into {name!r}")
            chain_end = nxt
    if activation == "softmax" and fold.output_name in (name, chain_end):
        activation = "identity"
        fold.changes.append(f"{name}: softmax output replaced by its logits "
                            "(argmax unchanged)")
    elif activation not in ("relu", "identity"):
        raise ConversionError(activation_message(name, activation))
    dropped = sorted(key for key, value in config.items()
                     if key.endswith(_TRAINING_ONLY) and value is not None)
    if dropped:
        fold.dropped[name] = tuple(dropped)
        fold.changes.append(f"{name}: {', '.join(dropped)} dropped (training-only "
                            "options: inference is unchanged)")
    config = with_zero_initializers({key: value for key, value in config.items()
                                     if not key.endswith(_TRAINING_ONLY)})
    config.update(activation="relu" if activation == "relu" else "linear",
                  use_bias=bias is not None, name=name)
    layer = getattr(fold.tf.keras.layers, cls).from_config(config)
    out = layer(source)
    fold.pending_weights.append((name, [kernel] + ([bias] if bias is not None else [])))
    return out, chain_end


# --- pooling -------------------------------------------------------------------------

def _pool_plan(fold: _Fold, name):
    """``(weighted layer, flatten layer or None)`` the pooling ``name`` folds into,
    or None if it cannot be folded."""
    layer = fold.nodes[name].layer
    cls = type(layer).__name__
    nxt = fold.single_consumer(name)
    if nxt is None:
        return None
    via = None
    if type(fold.nodes[nxt].layer).__name__ == "Flatten":
        via, nxt = nxt, fold.single_consumer(nxt)
        if nxt is None:
            return None
    target = fold.nodes[nxt].layer
    target_cls = type(target).__name__
    if cls in POOLING_LAYERS:
        cfg = layer.get_config()
        if tuple(cfg["pool_size"]) != tuple(cfg["strides"]) or cfg["padding"] != "valid" \
                or cfg.get("data_format", "channels_last") != "channels_last":
            return None
    if target_cls == "Dense":
        if len(target.input_shape) != 2:
            return None
        return nxt, via
    if via is None and cls in POOLING_LAYERS and target_cls in ("Conv1D", "Conv2D"):
        if conv_fold_ok(layer, target):
            return nxt, None
    return None


def _same_pooling_as_valid(name, layer, config):
    """A ``'same'`` pooling's configuration as ``'valid'``, where they are the same
    function (every window whole: stride = pool size dividing the map); refused
    otherwise, since ``'same'`` averages border windows over fewer inputs."""
    pool = tuple(config["pool_size"])
    strides = tuple(config["strides"] or pool)
    spatial = tuple(int(d) for d in layer.input_shape[1:-1])
    if strides == pool and all(s % p == 0 for s, p in zip(spatial, pool)):
        return dict(config, padding="valid")
    raise ConversionError(
        f"model: layer {name!r} is {type(layer).__name__}(padding='same') over a "
        f"{spatial} map with pool {pool} and strides {strides}; its border windows "
        "average fewer inputs, which no fixed kernel computes: use padding='valid', or "
        "a pool size equal to the strides that divides the map")


def _max_pooling_as_average(model):
    """``model`` with every max pooling replaced by average pooling of the same window
    (same weights elsewhere), and the names of the layers replaced.

    A ``'same'`` max pooling becomes the zero padding TensorFlow gives it followed by
    a ``'valid'`` average pooling (border windows average the padding's zeros too):
    the function changes anyway, and that one every backend runs."""
    tf = import_tensorflow()

    config = model.get_config()
    replaced, layers = [], []
    for layer in config["layers"]:
        if layer["class_name"] in MAX_POOLING_LAYERS:
            name = layer["config"]["name"]
            layer["class_name"] = MAX_POOLING_LAYERS[layer["class_name"]]
            replaced.append(name)
            if layer["config"].get("padding") == "same":
                window = layer["config"]["pool_size"]
                pads = _same_pads(model.get_layer(name).input_shape[1:-1], window,
                                  layer["config"]["strides"] or window)
                if any(any(p) for p in pads):
                    pad_name = f"{name}.pad"
                    rank = len(pads)
                    layers.append({
                        "class_name": f"ZeroPadding{rank}D", "name": pad_name,
                        "config": {"name": pad_name,
                                   "padding": pads[0] if rank == 1 else pads},
                        "inbound_nodes": layer["inbound_nodes"]})
                    layer["inbound_nodes"] = [[[pad_name, 0, 0, {}]]]
                layer["config"]["padding"] = "valid"
        layers.append(layer)
    if not replaced:
        return model, []
    config["layers"] = layers
    new = tf.keras.Model.from_config(with_zero_initializers(config))
    for layer in model.layers:
        if layer.get_weights():
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new, replaced


def _same_pads(spatial, pool, strides):
    """TensorFlow's ``'same'`` padding ``((before, after), ...)`` of a window ``pool``
    moved by ``strides`` over a map of size ``spatial``."""
    pads = []
    for size, k, s in zip(spatial, pool, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)
