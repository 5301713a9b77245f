"""The nengo-dl side of :meth:`snnkit.Trainer.fit`: optimizers by name, the losses and
feeds ``nengo_dl.Simulator.fit`` takes, Keras' log names turned into snnkit's, the
bridge that forwards Keras' batch events to snnkit callbacks, and inputs run through
a simulator in whole minibatches.

Private to the training layer: the Trainer and the benchmark's rate pass use it.
"""

from __future__ import annotations

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.training.callbacks import Callback, CallbackList
from snnkit.training.rate_reg import rate_loss
from snnkit.utils.stack import import_tensorflow

tf = import_tensorflow()

OPTIMIZERS = {
    "rmsprop": tf.optimizers.RMSprop,
    "adam": tf.optimizers.Adam,
    "sgd": tf.optimizers.SGD,
}


DEFAULT_LEARNING_RATE = 0.001


def make_optimizer(optimizer, learning_rate: float | None, model=None):
    """The optimizer to train with.

    Parameters
    ----------
    optimizer : None, str or tf.optimizers.Optimizer
        None: ``model``'s compiled optimizer if it has one, else RMSprop; a name of
        :data:`OPTIMIZERS`; or an instance, used as it is.
    learning_rate : float or None
        For a name or RMSprop (None: :data:`DEFAULT_LEARNING_RATE`); with a compiled
        optimizer, replaces its learning rate if given.
    model : tf.keras.Model or None
        The model being fitted (its ``compile()`` optimizer, if any).

    Returns
    -------
    tf.optimizers.Optimizer
        A new instance for a name or a compiled optimizer (a compiled one's class and
        configuration, with fresh state: Keras optimizers are tied to the variables
        they first trained), else ``optimizer`` itself.
    """
    if optimizer is None:
        compiled = compiled_optimizer(model)
        if compiled is not None:
            copy = type(compiled).from_config(compiled.get_config())
            if learning_rate is not None:
                copy.learning_rate = learning_rate
            return copy
        optimizer = "rmsprop"
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](
            DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate)
    return optimizer


def compiled_optimizer(model):
    """``model``'s ``compile()`` optimizer.

    Parameters
    ----------
    model : tf.keras.Model or None

    Returns
    -------
    tf.optimizers.Optimizer or None
        None if ``model`` is None or was not compiled.
    """
    return getattr(model, "optimizer", None) if model is not None else None


def optimizer_settings(optimizer, learning_rate: float | None, model) -> dict:
    """What resuming must match of the optimizer (for the checkpoint's settings).

    Returns
    -------
    dict
        ``optimizer``: the name (``"rmsprop"`` by default), the compiled
        optimizer's class as ``"compiled <class>"`` or an instance's class;
        ``learning_rate``: the number it starts from, or the schedule's class.
    """
    if optimizer is None and compiled_optimizer(model) is not None:
        compiled = compiled_optimizer(model)
        rate = compiled.get_config().get("learning_rate") if learning_rate is None \
            else learning_rate
        return {"optimizer": f"compiled {type(compiled).__name__}",
                "learning_rate": _rate_setting(rate)}
    if optimizer is None or isinstance(optimizer, str):
        return {"optimizer": optimizer or "rmsprop",
                "learning_rate": DEFAULT_LEARNING_RATE if learning_rate is None
                else learning_rate}
    return {"optimizer": type(optimizer).__name__,
            "learning_rate": _rate_setting(optimizer.get_config().get("learning_rate"))}


def _rate_setting(rate):
    if isinstance(rate, (int, float)):
        return float(rate)
    if isinstance(rate, dict):  # a serialized schedule
        return rate.get("class_name", "schedule")
    return None if rate is None else type(rate).__name__


_CROSS_ENTROPIES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def compiled_loss_note(model) -> str | None:
    """Why ``model``'s ``compile()`` loss differs from the loss snnkit trains with.

    snnkit trains classifiers with sparse categorical cross-entropy on the output
    layer's values as logits (a softmax on the output is folded away). A compiled
    (sparse) categorical cross-entropy is that loss when it reads logits
    (``from_logits=True``) or reads the softmax that folding removes, without label
    smoothing; anything else is replaced.

    Returns
    -------
    str or None
        None when the model is not compiled or its loss is that one; else the
        compiled loss, described.
    """
    loss = getattr(model, "loss", None)
    if loss is None:
        return None
    name, options = _loss_name_and_options(loss)
    if name not in _CROSS_ENTROPIES:
        return repr(name) if isinstance(name, str) else type(loss).__name__
    if options.get("label_smoothing") or options.get("ignore_class") is not None:
        return f"{name} with label_smoothing/ignore_class"
    if not options.get("from_logits", False) and not _ends_in_softmax(model):
        return (f"{name}(from_logits=False) on an output without softmax (Keras reads "
                "it as probabilities)")
    return None


def _loss_name_and_options(loss):
    if isinstance(loss, str):
        return loss, {}
    if isinstance(loss, tf.keras.losses.Loss):
        config = loss.get_config()
        if isinstance(loss, tf.keras.losses.SparseCategoricalCrossentropy):
            return "sparse_categorical_crossentropy", config
        if isinstance(loss, tf.keras.losses.CategoricalCrossentropy):
            return "categorical_crossentropy", config
        return type(loss).__name__, config
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__), {}
    return type(loss).__name__, {}  # a list or dict: one loss per output


def _ends_in_softmax(model) -> bool:
    try:
        layer = model.get_layer(model.output_names[0])
    except (AttributeError, IndexError, ValueError):
        return False
    activation = getattr(layer, "activation", None)
    return activation is tf.keras.activations.softmax or (
        type(layer).__name__ == "Softmax")


def fit_losses(built, targets: dict, rate_weight: float) -> tuple[dict, dict]:
    """The losses ``nengo_dl.Simulator.fit`` takes, by probe.

    Returns
    -------
    losses : dict
        Cross-entropy on the output, a rate loss on each layer of ``targets``.
    loss_weights : dict
        Each rate loss weighted ``rate_weight`` (the output 1).
    """
    losses = {built.output_probe: tf.losses.SparseCategoricalCrossentropy(
        from_logits=True)}
    weights = {built.output_probe: 1.0}
    for name, target in targets.items():
        probe = built.probes[name]
        losses[probe] = rate_loss(target, built.amplitudes[name])
        weights[probe] = rate_weight
    return losses, weights


def fit_feeds(built, targets: dict, x, y) -> tuple[dict, dict]:
    """``(inputs, outputs)`` by node and probe for one step per example."""
    inputs = {built.input_node: x[:, None, :]}
    outputs = {built.output_probe: y[:, None, None]}
    for name in targets:  # the rate losses ignore their targets: a placeholder
        outputs[built.probes[name]] = np.zeros((len(x), 1, 1), np.float32)
    return inputs, outputs


def snnkit_logs(sim, keras_logs: dict, built, targets: dict) -> dict:
    """Keras' logs of one epoch under snnkit's names.

    Returns
    -------
    dict
        The last value of each Keras log under snnkit's name (``loss``,
        ``accuracy``, ``rate_loss/<layer>``, each with ``val_`` for validation).
    """
    out = {}
    names = {}
    for name in targets:
        names[sim.get_name(built.probes[name])] = f"rate_loss/{name}"
    for key, values in keras_logs.items():
        value = float(values[-1])
        prefix = "val_" if key.startswith("val_") else ""
        bare = key[len(prefix):]
        if bare.endswith("sparse_categorical_accuracy"):
            out[prefix + "accuracy"] = value
        elif bare == "loss":
            out[key] = value
        else:
            for probe_name, metric in names.items():
                if bare == f"{probe_name}_loss":
                    out[prefix + metric] = value
    return out


def whole_minibatches(argument: str, x, y, minibatch_size: int):
    """``x, y`` cut to whole minibatches (nengo-dl trains on nothing else)."""
    usable = len(x) // minibatch_size * minibatch_size
    if usable == 0:
        raise ValidationError(
            f"{argument}: expected at least minibatch_size={minibatch_size} "
            f"examples, got {len(x)}")
    return x[:usable], y[:usable]


class KerasBridge(tf.keras.callbacks.Callback):
    """Forwards Keras' per-batch events to snnkit callbacks.

    Only used when one of them wants them (:func:`wants_batches`): Keras skips
    batch hooks otherwise.
    """

    def __init__(self, trainer, callbacks: CallbackList):
        super().__init__()
        self.trainer = trainer
        self.snn_callbacks = callbacks

    def on_train_batch_begin(self, batch, logs=None):
        self.snn_callbacks.call("on_batch_start", self.trainer, batch)

    def on_train_batch_end(self, batch, logs=None):
        out = {}
        for key, value in (logs or {}).items():
            if key.endswith("sparse_categorical_accuracy"):
                out["accuracy"] = float(value)
            elif key == "loss":
                out["loss"] = float(value)
        self.snn_callbacks.call("on_batch_end", self.trainer, batch, out)


def wants_batches(callbacks) -> bool:
    """Whether a callback uses batch hooks.

    It overrides ``on_batch_start`` or ``on_batch_end``, or (a wrapped Keras
    callback) says so with a ``wants_batches`` attribute.
    """
    for c in callbacks:
        wants = getattr(c, "wants_batches", None)
        if wants is None:
            wants = type(c).on_batch_end is not Callback.on_batch_end or \
                type(c).on_batch_start is not Callback.on_batch_start
        if wants:
            return True
    return False
