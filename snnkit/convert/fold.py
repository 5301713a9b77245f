"""Rewrite a user's Keras model into the plain layers every backend runs.

Users bring Keras models with batch normalization, dropout, separate activation layers,
pooling, separable convolutions and a softmax output. Spiking backends (and Loihi in
particular) run weighted layers with ReLU neurons, so :func:`fold_model` turns the
model into an *equivalent* one (same outputs at inference, up to float rounding; the
softmax output keeps its argmax):

=======================================  ==============================================
layer                                    what happens
=======================================  ==============================================
``Dropout``, ``SpatialDropout1D/2D``,    removed (identity at inference)
``GaussianNoise``, ``GaussianDropout``,
``AlphaDropout``, ``Activation("linear")``
``BatchNormalization`` right after a     folded into that layer's kernel and bias
linear ``Conv1D/2D``/``Dense``/          (inference statistics)
``DepthwiseConv2D``/``SeparableConv2D``
``Activation("relu")``, ``ReLU()``       merged into the linear weighted layer before
                                         it (that layer becomes neurons); elsewhere
                                         kept as a neuron layer of its own
``AveragePooling1D/2D`` (pool size =     folded into the next ``Dense`` (through a
strides, ``valid``)                      ``Flatten``) or ``Conv`` (one larger, strided
                                         kernel; ``valid`` padding, or ``same`` with
                                         stride 1, an odd kernel and a map the pool
                                         divides); otherwise kept (off-chip only)
``GlobalAveragePooling1D/2D``            folded into the next ``Dense``
``DepthwiseConv2D``, ``SeparableConv2D`` become one ``Conv2D`` with the same function
softmax output                           replaced by its logits (argmax unchanged)
=======================================  ==============================================

Refused with a :class:`~snnkit.exceptions.ConversionError` naming the layer and what
to use instead: ``MaxPooling*`` (use average pooling), ``ReLU(max_value=...)``,
``LeakyReLU``, other activations (sigmoid, tanh ...), ``BatchNormalization`` that
does not directly follow a linear weighted layer, ``Add``/``Concatenate`` and nested
models.

``for_training=True`` folds only what can be written back into the user's model after
training (:func:`write_back`): dropout, batch normalization, activation layers and the
softmax output. Pooling stays (NengoDL trains it), and separable/depthwise
convolutions are refused (NengoDL cannot train them: train in Keras, then freeze).
"""

from __future__ import annotations

from dataclasses import dataclass

from snnkit.convert.fold_graph import (
    POOLING_LAYERS,
    WEIGHTED_LAYERS,
    activation_kind,
    activation_message,
    activation_name,
    activation_note,
    layer_graph,
    refuse,
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


@dataclass(frozen=True)
class FoldedModel:
    """The runnable model and what was changed to get it.

    ``merged`` maps every user layer that no longer exists to the layer that absorbed
    it (``None`` for removed identity layers); ``changes`` says in words what was done.
    """

    model: object  # tf.keras.Model
    changes: tuple
    merged: dict

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def fold_model(model, *, for_training: bool = False) -> FoldedModel:
    """Return an equivalent model made of runnable layers (see the module doc).

    A model that needs no change is returned as it is (``model`` is the same object).
    """
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    nodes, order, output_name = layer_graph(model)
    consumers = {name: [] for name in order}
    for name in order:
        for src in nodes[name].inputs:
            consumers[src].append(name)
    changes, merged = [], {}
    for layer in model.layers:
        if layer.name not in nodes:
            merged[layer.name] = None
            changes.append(f"{layer.name}: {type(layer).__name__} removed "
                           "(identity at inference)")

    def single_consumer(name):
        return consumers[name][0] if len(consumers[name]) == 1 else None

    tensors = {}
    pending_weights = []  # (new layer name, arrays)
    done = set()
    for name in order:
        if name in done:
            continue
        node = nodes[name]
        layer = node.layer
        cls = type(layer).__name__
        if cls == "InputLayer":
            shape = layer.get_config()["batch_input_shape"][1:]
            tensors[name] = tf.keras.Input(shape=shape, name=name)
            continue
        refuse(layer, cls)
        source = tensors[node.inputs[0]]

        # pooling folded into the weighted layer after it
        if cls in POOLING_LAYERS | GLOBAL_POOLING_LAYERS and not for_training:
            plan = _pool_plan(name, nodes, single_consumer)
            if plan is not None:
                target_name, via_flatten = plan
                target = nodes[target_name].layer
                kernel_bias = weights_of(target)
                in_shape = tuple(int(d) for d in layer.input_shape[1:])
                folded_kernel, config = fold_pool(layer, target, kernel_bias[0], in_shape)
                if via_flatten or len(in_shape) > 1 and type(target).__name__ == "Dense":
                    source = tf.keras.layers.Flatten(name=f"{name}.flatten")(source)
                done.add(target_name)
                for skipped in [name] + ([via_flatten] if via_flatten else []):
                    merged[skipped] = target_name
                    done.add(skipped)
                changes.append(f"{name}: {cls} folded into {target_name!r}")
                # the target's own chain (BN, activation) continues from here
                tensors[target_name], chain_end = _emit_weighted(
                    target_name, nodes, single_consumer, source, config,
                    [folded_kernel] + kernel_bias[1:], merged, changes, done,
                    pending_weights, output_name)
                tensors[chain_end] = tensors[target_name]
                continue

        if cls in WEIGHTED_LAYERS:
            if for_training and cls in ("DepthwiseConv2D", "SeparableConv2D"):
                raise ConversionError(
                    f"model: layer {name!r} is a {cls}, which NengoDL cannot train; "
                    "train the model in Keras, then freeze it (snnkit folds it into "
                    "one Conv2D), or use Conv2D")
            config, weights = as_plain(layer, cls)
            if cls in ("DepthwiseConv2D", "SeparableConv2D"):
                changes.append(f"{name}: {cls} written as one Conv2D")
            tensors[name], chain_end = _emit_weighted(
                name, nodes, single_consumer, source, config, weights, merged, changes,
                done, pending_weights, output_name)
            tensors[chain_end] = tensors[name]
            continue

        if cls == "BatchNormalization":
            producer = nodes[node.inputs[0]].layer
            raise ConversionError(
                f"model: BatchNormalization {name!r} follows {producer.name!r} "
                f"({type(producer).__name__}{activation_note(producer)}); snnkit folds batch "
                "normalization only into a Conv/Dense layer without activation directly "
                "before it (and whose output goes nowhere else): write "
                "Conv2D(activation=None) -> BatchNormalization -> ReLU")

        if cls in ("Activation", "ReLU"):
            kind = activation_kind(layer)
            if kind == "identity" or (kind == "softmax" and name == output_name):
                tensors[name] = source
                merged[name] = None
                changes.append(f"{name}: {cls}({kind}) removed"
                               + (" (logits kept: argmax unchanged)" if kind == "softmax"
                                  else ""))
                continue
            if kind != "relu":
                raise ConversionError(activation_message(name, kind))
            # a ReLU not merged into a weighted layer: a neuron layer of its own
            tensors[name] = tf.keras.layers.Activation("relu", name=name)(source)
            if cls == "ReLU":
                changes.append(f"{name}: ReLU layer written as Activation('relu')")
            continue

        # any other layer (Flatten, Reshape, pooling kept, padding): cloned
        clone = type(layer).from_config(layer.get_config())
        tensors[name] = clone(source)
        if layer.get_weights():
            pending_weights.append((name, layer.get_weights()))

    if not changes:
        return FoldedModel(model=model, changes=(), merged={})
    inputs = [tensors[n] for n in order if type(nodes[n].layer).__name__ == "InputLayer"]
    new = tf.keras.Model(inputs, tensors[output_name], name=model.name)
    for layer_name, arrays in pending_weights:
        new.get_layer(layer_name).set_weights(arrays)
    return FoldedModel(model=new, changes=tuple(changes), merged=merged)


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


# --- weighted layers ----------------------------------------------------------------

def _emit_weighted(name, nodes, single_consumer, source, config, weights, merged,
                   changes, done, pending_weights, output_name):
    """Create the plain layer for ``name`` with the batch normalization and ReLU that
    directly follow it folded in. Returns ``(output tensor, last absorbed name)``."""
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    config = dict(config)
    cls = config.pop("class_name", None) or type(nodes[name].layer).__name__
    cls = "Conv2D" if cls in ("DepthwiseConv2D", "SeparableConv2D") else cls
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    chain_end = name
    activation = activation_name(config.get("activation"))
    nxt = single_consumer(name)
    if activation == "identity" and nxt and type(nodes[nxt].layer).__name__ == \
            "BatchNormalization":
        kernel, bias = fold_batchnorm(nodes[nxt].layer, kernel, bias)
        merged[nxt] = name
        done.add(nxt)
        changes.append(f"{nxt}: BatchNormalization folded into {name!r}")
        chain_end = nxt
        nxt = single_consumer(nxt)
    if activation == "identity" and nxt and type(nodes[nxt].layer).__name__ in (
            "Activation", "ReLU"):
        refuse(nodes[nxt].layer, type(nodes[nxt].layer).__name__)
        kind = activation_kind(nodes[nxt].layer)
        if kind == "relu" or kind == "identity" or (kind == "softmax"
                                                     and nxt == output_name):
            activation = "relu" if kind == "relu" else "identity"
            merged[nxt] = name
            done.add(nxt)
            changes.append(f"{nxt}: {type(nodes[nxt].layer).__name__}({kind}) merged "
                           f"into {name!r}")
            chain_end = nxt
    if activation == "softmax" and output_name in (name, chain_end):
        activation = "identity"
        changes.append(f"{name}: softmax output replaced by its logits "
                       "(argmax unchanged)")
    elif activation not in ("relu", "identity"):
        raise ConversionError(activation_message(name, activation))
    config["activation"] = "relu" if activation == "relu" else "linear"
    config["use_bias"] = bias is not None
    config["name"] = name
    for key in ("depthwise_initializer", "pointwise_initializer", "depth_multiplier",
                "depthwise_regularizer", "pointwise_regularizer",
                "depthwise_constraint", "pointwise_constraint"):
        config.pop(key, None)
    layer = getattr(tf.keras.layers, cls).from_config(config)
    out = layer(source)
    pending_weights.append((name, [kernel] + ([bias] if bias is not None else [])))
    return out, chain_end


# --- pooling -------------------------------------------------------------------------

def _pool_plan(name, nodes, single_consumer):
    """``(weighted layer, flatten layer or None)`` the pooling ``name`` folds into,
    or None if it cannot be folded."""
    layer = nodes[name].layer
    cls = type(layer).__name__
    nxt = single_consumer(name)
    if nxt is None:
        return None
    via = None
    if type(nodes[nxt].layer).__name__ == "Flatten":
        via, nxt = nxt, single_consumer(nxt)
        if nxt is None:
            return None
    target_cls = type(nodes[nxt].layer).__name__
    if cls in POOLING_LAYERS:
        cfg = layer.get_config()
        if tuple(cfg["pool_size"]) != tuple(cfg["strides"]) or cfg["padding"] != "valid" \
                or cfg.get("data_format", "channels_last") != "channels_last":
            return None
    if target_cls == "Dense":
        if len(nodes[nxt].layer.input_shape) != 2:
            return None
        return nxt, via
    if via is None and cls in POOLING_LAYERS and target_cls in ("Conv1D", "Conv2D"):
        if conv_fold_ok(layer, nodes[nxt].layer):
            return nxt, None
    return None
