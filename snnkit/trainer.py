"""The Trainer: train a Keras model as a (spiking) Nengo network, measure its firing
rates, calibrate per-layer scales, evaluate on any backend, freeze.

The Keras model is the state: :meth:`Trainer.fit` converts it with
``nengo_dl.Converter``, trains in ``nengo_dl.Simulator`` and writes the trained
weights back into the Keras model, so any later conversion (other neuron type, other
scales, other backend) starts from the trained weights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .build import BuiltNetwork, build_network
from .callbacks import Callback, CallbackList, ProgressBar
from .exceptions import UnknownNameError, ValidationError
from .frozen import FrozenNetwork
from .neurons import MAX_LOIHI_RATE_HZ, neuron_spec

_OPTIMIZERS = {
    "rmsprop": tf.optimizers.RMSprop,
    "adam": tf.optimizers.Adam,
    "sgd": tf.optimizers.SGD,
}


@dataclass(frozen=True)
class Calibration:
    """Per-layer scales found by :meth:`Trainer.calibrate` and the rates they give.

    ``rates_hz`` are mean active-neuron rates measured with ``neuron_type`` at those
    scales; ``history`` lists ``(scales, rates_hz)`` of every iteration.
    """

    scales: dict
    rates_hz: dict
    target_rate_hz: float
    neuron_type: str
    converged: bool
    history: tuple


class Trainer:
    """Lightning-style training loop for Nengo-converted Keras models.

    Parameters
    ----------
    max_epochs : epochs of training (>= 1).
    minibatch_size : training minibatch size (examples).
    optimizer : ``"rmsprop"``, ``"adam"``, ``"sgd"`` or a ``tf.optimizers`` instance.
    learning_rate : used when ``optimizer`` is a name.
    neuron_type : neuron type for ReLU layers while training and, by default, when
        evaluating and freezing (see :mod:`snnkit.neurons`).
    scale_firing_rates : a number for all neuron layers or ``{layer: scale}``.
    synapse : lowpass time constant on neuron outputs at inference, s (training uses
        none, as nengo-dl trains on rates).
    dt : simulation step, s.
    off_chip : layers that run off-chip (default: :func:`snnkit.models.default_off_chip`).
    callbacks : :class:`~snnkit.callbacks.Callback` objects.
    seed : seeds Python, NumPy, TensorFlow and the simulator.
    enable_progress_bar : show tqdm progress.
    """

    def __init__(self, *, max_epochs: int = 1, minibatch_size: int = 200,
                 optimizer="rmsprop", learning_rate: float = 0.001,
                 neuron_type="relu", scale_firing_rates=None, synapse: float | None = None,
                 dt: float = 0.001, off_chip=None, callbacks=(), seed: int | None = 0,
                 enable_progress_bar: bool = True):
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValidationError(f"max_epochs: expected an int >= 1, got {max_epochs!r}")
        if isinstance(minibatch_size, bool) or not isinstance(minibatch_size, int) \
                or minibatch_size < 1:
            raise ValidationError(
                f"minibatch_size: expected an int >= 1, got {minibatch_size!r}")
        if isinstance(optimizer, str) and optimizer not in _OPTIMIZERS:
            raise UnknownNameError(f"optimizer: unknown optimizer {optimizer!r}; "
                                   f"known: {', '.join(_OPTIMIZERS)}")
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise ValidationError(f"callbacks: expected snnkit Callback objects, "
                                      f"got {type(callback).__name__}")
        self.max_epochs = max_epochs
        self.minibatch_size = minibatch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.neuron_type = neuron_spec(neuron_type)
        self.scale_firing_rates = scale_firing_rates
        self.synapse = synapse
        self.dt = dt
        self.off_chip = off_chip
        self.seed = seed
        self.enable_progress_bar = enable_progress_bar
        self.callbacks = list(callbacks)
        if enable_progress_bar and not any(isinstance(c, ProgressBar) for c in callbacks):
            self.callbacks.append(ProgressBar())
        self.steps_per_epoch = 0
        self.history: list[dict] = []
        self.should_stop = False

    # --- training -------------------------------------------------------------
    def fit(self, model: tf.keras.Model, train_data, val_data=None) -> list[dict]:
        """Train ``model`` in place; returns the per-epoch logs.

        ``train_data`` / ``val_data``: ``(x, y)`` with images as ``load_mnist``
        returns them and integer labels.
        """
        self._seed_everything()
        # nengo-dl trains on one step per example: a synapse would only attenuate it
        network = self.freeze(model, synapse=None)
        x, y = _check_data("train_data", network, train_data)
        val = _check_data("val_data", network, val_data) if val_data is not None else None
        built = build_network(network, probe_layers=False)
        self.steps_per_epoch = int(np.ceil(len(x) / self.minibatch_size))
        callbacks = CallbackList(self.callbacks)
        self.should_stop = False
        import nengo_dl

        with nengo_dl.Simulator(built.net, minibatch_size=self.minibatch_size,
                                dt=self.dt, seed=self.seed, progress_bar=False) as sim:
            sim.compile(
                optimizer=self._make_optimizer(),
                loss={built.output_probe: tf.losses.SparseCategoricalCrossentropy(
                    from_logits=True)},
                metrics={built.output_probe: tf.metrics.sparse_categorical_accuracy},
            )
            callbacks.call("on_fit_start", self)
            bridge = _KerasBridge(self, callbacks)
            sim.fit(
                {built.input_node: x[:, None, :]},
                {built.output_probe: y[:, None, None]},
                validation_data=None if val is None else (
                    {built.input_node: val[0][:, None, :]},
                    {built.output_probe: val[1][:, None, None]}),
                epochs=self.max_epochs,
                callbacks=[bridge],
                verbose=0,
            )
            copy_weights_to_keras(sim, built, model)
        callbacks.call("on_fit_end", self)
        return self.history

    def _make_optimizer(self):
        if isinstance(self.optimizer, str):
            return _OPTIMIZERS[self.optimizer](self.learning_rate)
        return self.optimizer

    def _seed_everything(self) -> None:
        if self.seed is None:
            return
        random.seed(self.seed)
        np.random.seed(self.seed)
        tf.random.set_seed(self.seed)

    # --- inference ------------------------------------------------------------
    def freeze(self, model: tf.keras.Model, *, neuron_type=None, scale_firing_rates=None,
               synapse="trainer", block_shapes=None, metadata=None) -> FrozenNetwork:
        """A :class:`FrozenNetwork` of ``model``'s current weights; options default
        to the Trainer's."""
        kwargs = {}
        if self.off_chip is not None:
            kwargs["off_chip"] = tuple(self.off_chip)
        scales = self.scale_firing_rates if scale_firing_rates is None else scale_firing_rates
        return FrozenNetwork.from_keras(
            model,
            neuron_type=self.neuron_type if neuron_type is None else neuron_type,
            scale_firing_rates=scales if scales is not None else {},
            synapse=self.synapse if synapse == "trainer" else synapse,
            dt=self.dt,
            block_shapes=block_shapes or {},
            metadata=metadata or {},
            **kwargs,
        )

    def evaluate(self, model_or_network, x, y=None, *, backend: str = "nengo-dl",
                 n_steps: int = 30, presentation: str = "reset", **freeze_options):
        """Run on a backend (by name); returns the :class:`~snnkit.Result`.

        ``model_or_network``: a Keras model (frozen with the Trainer's options, or
        ``freeze_options``) or a :class:`FrozenNetwork`.
        """
        from snnkit.backends import get_backend

        network = self._as_network(model_or_network, **freeze_options)
        result = get_backend(backend).run(network, x, n_steps=n_steps,
                                          presentation=presentation,
                                          progress=self.enable_progress_bar)
        if y is not None:
            result.accuracy(y)  # validates the label count early, before callbacks
        CallbackList(self.callbacks).call("on_evaluate_end", self, result)
        return result

    def measure_rates(self, model_or_network, x, *, n_steps: int = 30,
                      **freeze_options) -> dict:
        """Per-layer mean rate of active neurons, Hz (the notebook's measure), measured
        on nengo-dl with the network's neuron type."""
        return self.evaluate(model_or_network, x, n_steps=n_steps,
                             **freeze_options).layer_rates_hz

    def calibrate(self, model_or_network, x, *, target_rate_hz: float = 200.0,
                  neuron_type="loihi-relu", n_steps: int = 30, tolerance: float = 0.1,
                  max_iterations: int = 8) -> Calibration:
        """Per-layer ``scale_firing_rates`` that put every neuron layer's mean active
        rate within ``tolerance`` (fraction) of ``target_rate_hz``, measured with the
        neuron type that will run (not with ReLU rates, which miss the target on Loihi
        neurons: BASELINE.md).

        Starts from the notebook's rule (scale = target / ReLU rate) and rescales each
        layer by target / measured rate until all are within tolerance.
        """
        spec = neuron_spec(neuron_type)
        _check_target_rate(target_rate_hz, spec)
        network = self._as_network(model_or_network)
        relu_rates = self.measure_rates(
            network.replace(neuron="relu", scale_firing_rates={}), x, n_steps=1)
        scales = {}
        for name, rate in relu_rates.items():
            if rate <= 0:
                raise ValidationError(
                    f"calibrate: layer {name!r} is silent on these inputs (rate 0 Hz "
                    "with ReLU rates); it cannot be scaled to a target rate")
            scales[name] = target_rate_hz / rate
        history = []
        converged = False
        rates = {}
        for _ in range(max_iterations):
            candidate = network.replace(neuron=spec, scale_firing_rates=scales)
            rates = self.measure_rates(candidate, x, n_steps=n_steps)
            history.append((dict(scales), dict(rates)))
            errors = {n: abs(r / target_rate_hz - 1) for n, r in rates.items()}
            if all(errors[n] <= tolerance for n in network.neuron_layers):
                converged = True
                break
            for name, rate in rates.items():
                # rates respond sub-linearly near the one-spike-per-step ceiling:
                # bound each step so the search cannot jump past the plateau
                factor = target_rate_hz / rate if rate > 0 else 4.0
                scales[name] *= float(np.clip(factor, 0.25, 4.0))
        return Calibration(scales=dict(history[-1][0]), rates_hz=rates,
                           target_rate_hz=float(target_rate_hz), neuron_type=spec.name,
                           converged=converged, history=tuple(history))

    def _as_network(self, model_or_network, **freeze_options) -> FrozenNetwork:
        if isinstance(model_or_network, FrozenNetwork):
            if freeze_options:
                return model_or_network.replace(**_frozen_field_names(freeze_options))
            return model_or_network
        if isinstance(model_or_network, tf.keras.Model):
            return self.freeze(model_or_network, **freeze_options)
        raise ValidationError(
            f"model: expected a tf.keras.Model or snnkit.FrozenNetwork, "
            f"got {type(model_or_network).__name__}")


def _frozen_field_names(options: dict) -> dict:
    renamed = dict(options)
    if "neuron_type" in renamed:
        renamed["neuron"] = renamed.pop("neuron_type")
    return renamed


def _check_target_rate(rate, spec) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValidationError(f"target_rate_hz: expected a number > 0 Hz, got {rate!r}")
    if spec.runs_on_loihi and rate > MAX_LOIHI_RATE_HZ:
        raise ValidationError(
            f"target_rate_hz: Loihi neurons fire at most once per 1 ms step "
            f"({MAX_LOIHI_RATE_HZ:.0f} Hz), got {rate} Hz")


def _check_data(argument: str, network: FrozenNetwork, data):
    from snnkit.backends import check_inputs

    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValidationError(f"{argument}: expected a pair (x, y), got {type(data).__name__}")
    x, y = data
    if len(x) == 0:
        raise ValidationError(f"{argument}: expected at least one example, got none")
    x = check_inputs(network, x)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValidationError(
            f"{argument}: expected one integer label per image ({len(x)}), "
            f"got labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValidationError(f"{argument}: expected integer labels, got dtype {y.dtype}")
    n_classes = network.layer_shape(network.output_layer)[-1]
    if y.min() < 0 or y.max() >= n_classes:
        raise ValidationError(
            f"{argument}: labels must be in 0..{n_classes - 1} (the model has "
            f"{n_classes} outputs), got {int(y.min())}..{int(y.max())}")
    return x, y.astype(np.int32)


class _KerasBridge(tf.keras.callbacks.Callback):
    """Forwards Keras' training events to snnkit callbacks, with metric names
    normalized (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``)."""

    def __init__(self, trainer: Trainer, callbacks: CallbackList):
        super().__init__()
        self.trainer = trainer
        self.snn_callbacks = callbacks

    def on_epoch_begin(self, epoch, logs=None):
        self.snn_callbacks.call("on_epoch_start", self.trainer, epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.snn_callbacks.call("on_batch_end", self.trainer, batch, _normalize_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        logs = _normalize_logs(logs)
        self.trainer.history.append(dict(logs, epoch=epoch))
        self.snn_callbacks.call("on_epoch_end", self.trainer, epoch, logs)
        if self.trainer.should_stop:
            self.model.stop_training = True


def _normalize_logs(logs) -> dict:
    out = {}
    for key, value in (logs or {}).items():
        prefix = "val_" if key.startswith("val_") else ""
        if key.endswith("sparse_categorical_accuracy"):
            out[prefix + "accuracy"] = float(value)
        elif key in ("loss", "val_loss"):
            out[key] = float(value)
    return out


def copy_weights_to_keras(sim, built: BuiltNetwork, model: tf.keras.Model) -> None:
    """Write the simulator's trained parameters back into ``model``'s layers.

    Kernels live on the connection into each layer's output object; biases live on
    the layer's ensemble (divided back by its scale) or, for a layer without neurons
    or a convolution, on a connection from a constant bias node.
    """
    import nengo

    network = built.network
    by_post = {}
    for conn in built.net.all_connections:
        by_post.setdefault(conn.post_obj, []).append(conn)
    for layer in model.layers:
        if not layer.get_weights():
            continue
        obj = built.converter.layers[built.model.get_layer(layer.name)]
        conns = by_post.get(obj, [])
        kernel_conn = [c for c in conns if isinstance(
            c.transform, (nengo.transforms.Dense, nengo.transforms.Convolution))
            and not _is_bias_source(c.pre_obj)]
        if len(kernel_conn) != 1:
            raise ValidationError(f"layer {layer.name!r}: cannot find its trained kernel")
        kernel = np.asarray(sim.data[kernel_conn[0]].weights)
        if isinstance(kernel_conn[0].transform, nengo.transforms.Dense):
            kernel = kernel.T
        values = [kernel.reshape(layer.kernel.shape)]
        if getattr(layer, "use_bias", False):
            values.append(_trained_bias(sim, built, obj, conns, layer, network))
        layer.set_weights(values)


def _trained_bias(sim, built, obj, conns, layer, network):
    import nengo

    if isinstance(obj, nengo.ensemble.Neurons) and isinstance(layer, tf.keras.layers.Dense):
        return np.asarray(sim.data[obj.ensemble].bias) / network.scale(layer.name)
    bias_conns = [c for c in conns if _is_bias_source(c.pre_obj)]
    if isinstance(layer, tf.keras.layers.Dense):
        return np.asarray(sim.data[bias_conns[0]].weights)[:, 0]
    relay = bias_conns[0].pre_obj  # conv: constant node -> relay -> broadcast
    feed = [c for c in built.net.all_connections if c.post_obj is relay]
    bias = np.asarray(sim.data[feed[0]].weights)[:, 0]
    if isinstance(obj, nengo.ensemble.Neurons):
        bias = bias / network.scale(layer.name)
    return bias


def _is_bias_source(obj) -> bool:
    """The converter's constant bias nodes are labelled ``<layer>.<i>.bias[_relay]``."""
    import nengo

    return isinstance(obj, nengo.Node) and str(obj.label).endswith(("bias", "bias_relay"))
