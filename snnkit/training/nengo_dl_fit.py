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


def make_optimizer(optimizer, learning_rate: float):
    """The optimizer to train with.

    Returns
    -------
    tf.optimizers.Optimizer
        A new ``tf.optimizers`` instance (with ``learning_rate``) for a name of
        :data:`OPTIMIZERS`, else ``optimizer`` itself.
    """
    if isinstance(optimizer, str):
        return OPTIMIZERS[optimizer](learning_rate)
    return optimizer


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

    Only used when one of them overrides ``on_batch_end``: Keras skips batch hooks
    otherwise.
    """

    def __init__(self, trainer, callbacks: CallbackList):
        super().__init__()
        self.trainer = trainer
        self.snn_callbacks = callbacks

    def on_train_batch_end(self, batch, logs=None):
        out = {}
        for key, value in (logs or {}).items():
            if key.endswith("sparse_categorical_accuracy"):
                out["accuracy"] = float(value)
            elif key == "loss":
                out["loss"] = float(value)
        self.snn_callbacks.call("on_batch_end", self.trainer, batch, out)


def wants_batches(callbacks) -> bool:
    """Whether a callback overrides ``on_batch_end``."""
    return any(type(c).on_batch_end is not Callback.on_batch_end for c in callbacks)
