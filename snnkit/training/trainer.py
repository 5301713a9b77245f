"""The Trainer: train a Keras model as a (spiking) Nengo network, measure its firing
rates, calibrate per-layer scales, evaluate on any backend, freeze.

The Keras model is the state: :meth:`Trainer.fit` converts it with
``nengo_dl.Converter``, trains in ``nengo_dl.Simulator`` and writes the trained
weights back into the Keras model, so any later conversion (other neuron type, other
scales, other backend) starts from the trained weights.
"""

from __future__ import annotations

import itertools
import random
import warnings
from pathlib import Path

import numpy as np

from snnkit.convert.fold import MAX_POOL_OPTIONS, write_back
from snnkit.convert.freeze import check_convertible, from_keras
from snnkit.convert.to_nengo import build_network
from snnkit.exceptions import (
    CheckpointError,
    SnnkitWarning,
    UnknownNameError,
    ValidationError,
)
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.neurons import neuron_spec
from snnkit.network.types import BlockShapes, RatesHz, Scales
from snnkit.training.calibration import Calibration
from snnkit.training.callbacks import CallbackList, collect_callbacks
from snnkit.training.checkpoint import save_checkpoint
from snnkit.training.determinism import scoped_determinism
from snnkit.training.fit_data import check_data, read_data, read_inputs
from snnkit.training.history import History
from snnkit.training.nengo_dl_fit import (
    OPTIMIZERS,
    KerasBridge,
    compiled_loss_note,
    fit_feeds,
    fit_losses,
    make_optimizer,
    optimizer_settings,
    snnkit_logs,
    wants_batches,
    whole_minibatches,
)
from snnkit.training.nengo_dl_weights import copy_weights_to_keras, restore_optimizer
from snnkit.training.rate_reg import parse_rate_targets
from snnkit.training.resume import (
    callback_states,
    check_same_settings,
    find_checkpoint,
    load_callback_states,
    training_settings,
)
from snnkit.utils.stack import import_tensorflow
from snnkit.utils.validation import (
    check_at_least,
    check_choice,
    check_int,
    check_positive,
    renamed,
)

tf = import_tensorflow()

__all__ = ["Calibration", "History", "Trainer"]


class Trainer:
    """Lightning-style training loop for Nengo-converted Keras models.

    Parameters
    ----------
    max_epochs : int
        Epochs of training (>= 1).
    minibatch_size : int
        Training minibatch size (examples).
    optimizer : None, str or tf.optimizers.Optimizer
        None (default): the optimizer the model was ``compile()``-d with, if it was
        (its class and configuration, with fresh state), else RMSprop. Or
        ``"rmsprop"``, ``"adam"``, ``"sgd"``, or a ``tf.optimizers`` instance. The
        loss is always the classifier's cross-entropy on the output's logits (plus
        the rate losses): a compiled loss that differs is replaced, with a warning.
    learning_rate : float or None
        For a named optimizer or RMSprop (None: 0.001); with the compiled optimizer,
        replaces its learning rate if given. Not with an optimizer instance, which
        has its own.
    neuron_type : str or NeuronSpec
        Neuron type for ReLU layers while training and, by default, when evaluating
        and freezing (see :mod:`snnkit.network.neurons`).
    scale_firing_rates : float, Scales or None
        A number for all neuron layers or ``{layer: scale}``.
    synapse : float or None
        Lowpass time constant on neuron outputs at inference, s (training uses none,
        as nengo-dl trains on rates).
    dt : float
        Simulation step, s.
    off_chip : sequence of str or None
        Layers that run off-chip (default:
        :func:`snnkit.convert.freeze.default_off_chip`).
    rate_reg_hz : float, tuple of (float, float), dict or None
        Firing-rate regularization (:mod:`snnkit.training.rate_reg`): a rate in Hz, a
        ``(low, high)`` range in Hz, or ``{layer: rate or (low, high)}``; None: no
        regularization. Each regularized layer's loss is logged as
        ``rate_loss/<layer>``. (Not :meth:`calibrate`'s ``target_rate_hz``, the rate
        calibration brings every layer to.)
    rate_weight : float
        Weight of each layer's rate loss relative to the task loss. The losses are
        relative (unitless), so 10 for a 100 Hz target pulls as hard as NengoDL's
        example (1e-3 on the squared error in Hz).
    callbacks : sequence of Callback or tf.keras.callbacks.Callback
        :class:`~snnkit.training.callbacks.Callback` objects, and Keras callbacks
        (``ReduceLROnPlateau``, ``LearningRateScheduler``, ``EarlyStopping``,
        ``CSVLogger``, ``LambdaCallback``...), run in the given order
        (:class:`~snnkit.training.callbacks.KerasCallback` says what they see).
    logger : None, bool, Callback or list of Callback
        None, True (a :class:`~snnkit.training.callbacks.CSVLogger` in
        ``default_root_dir``), or logger callbacks (``CSVLogger``,
        ``TensorBoardLogger``), one or a list.
    seed : int or None
        Seeds Python's, NumPy's and TensorFlow's global generators (as
        ``tf.keras.utils.set_random_seed`` does) when ``fit`` starts, and the
        simulator.
    deterministic : bool
        With ``seed``, TensorFlow's op determinism is on while ``fit`` runs
        (default), so two runs, or a resumed and an uninterrupted one, give
        identical weights (CPU convolution gradients differ in the last bits
        otherwise). It is process-wide in TensorFlow, so ``fit`` puts back the
        setting it found when it returns or raises: later code in the process is
        not affected.
    default_root_dir : str, Path or None
        Where checkpoints and logs go unless a callback says otherwise.
    enable_progress_bar : bool
        Show tqdm progress.
    max_pool : {"refuse", "average"}
        Max pooling in the model: refused, or trained and frozen as average pooling
        of the same window (:func:`snnkit.convert.fold.fold_model`).
    rate_target_hz
        Deprecated name of ``rate_reg_hz`` (removed after the next release).

    Warns
    -----
    SnnkitWarning
        From :meth:`fit`, when the model has regularizers or constraints: they act
        only in training, and snnkit's training through nengo-dl does not apply them.
    """

    def __init__(self, *, max_epochs: int = 1, minibatch_size: int = 200,
                 optimizer=None, learning_rate: float | None = None,
                 neuron_type="relu", scale_firing_rates: float | Scales | None = None,
                 synapse: float | None = None,
                 dt: float = 0.001, off_chip=None, rate_reg_hz=None,
                 rate_weight: float = 10.0, callbacks=(), logger=None,
                 seed: int | None = 0, deterministic: bool = True,
                 default_root_dir=None, enable_progress_bar: bool = True,
                 max_pool: str = "refuse", rate_target_hz=None):
        # each setting checked (the error names it) and stored
        self.max_epochs = check_int("max_epochs", max_epochs, low=1)
        self.minibatch_size = check_int("minibatch_size", minibatch_size, low=1)
        if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
            raise UnknownNameError(f"optimizer: unknown optimizer {optimizer!r}; "
                                   f"known: {', '.join(OPTIMIZERS)}")
        if not (optimizer is None or isinstance(optimizer, str)
                or isinstance(optimizer, tf.keras.optimizers.Optimizer)
                or isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer)):
            raise ValidationError(
                f"optimizer: expected None, a name ({', '.join(OPTIMIZERS)}) or a "
                f"tf.keras optimizer, got {type(optimizer).__name__}")
        if learning_rate is not None and not (optimizer is None
                                              or isinstance(optimizer, str)):
            raise ValidationError(
                f"learning_rate: an optimizer instance has its own learning rate; "
                f"give it there, got learning_rate={learning_rate!r} with "
                f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.learning_rate = None if learning_rate is None else \
            check_positive("learning_rate", learning_rate)
        self.neuron_type = neuron_spec(neuron_type)
        self.scale_firing_rates = scale_firing_rates
        self.synapse = None if synapse is None else \
            check_positive("synapse", synapse, "seconds")
        self.dt = check_positive("dt", dt, "seconds")
        self.off_chip = off_chip
        self.rate_reg_hz = renamed("Trainer", "rate_target_hz", rate_target_hz,
                                   "rate_reg_hz", rate_reg_hz)
        self.rate_weight = float(check_at_least("rate_weight", rate_weight, 0))
        self.seed = seed
        self.deterministic = deterministic
        self.default_root_dir = Path(default_root_dir) if default_root_dir is not None \
            else Path.cwd()
        self.enable_progress_bar = enable_progress_bar
        self.max_pool = check_choice("max_pool", max_pool, MAX_POOL_OPTIONS)
        self.callbacks = collect_callbacks(callbacks, logger, enable_progress_bar)
        self.steps_per_epoch = 0
        self.history = History()
        self.should_stop = False
        self.current_epoch = -1
        # set while fit() runs (callbacks use them)
        self.network: FrozenNetwork | None = None
        self.train_x = None
        self.has_validation = False
        self._rate_targets: dict = {}
        # of the running fit (snnkit.training.resume.training_settings)
        self._settings: dict = {}
        self._sim = None
        self._built = None
        self._model = None

    # --- training -------------------------------------------------------------
    def fit(self, model: tf.keras.Model, train_data, val_data=None, *,
            ckpt_path=None) -> History:
        """Train ``model`` in place.

        nengo-dl trains on whole minibatches: the last ``len(x) % minibatch_size``
        examples are left out.

        Parameters
        ----------
        model : tf.keras.Model
            Trained in place. If it was ``compile()``-d, its optimizer is used
            unless the Trainer was given one; its loss is replaced (with a warning
            when it differs: see ``optimizer``).
        train_data, val_data : tuple or tf.data.Dataset
            ``(x, y)`` with images as ``load_mnist`` returns them and integer labels,
            or a ``tf.data.Dataset`` of such pairs (batched or not; it is read into
            memory once). ``val_data`` is optional.
        ckpt_path : None, "last", str or Path
            Resume from a checkpoint (``"last"``: the ``last.npz`` of the
            :class:`~snnkit.training.callbacks.ModelCheckpoint` callback, or of
            ``<default_root_dir>/checkpoints``; if none exists yet, training starts
            from scratch). Weights, optimizer state, history and callback states are
            restored; training continues up to ``max_epochs`` in total. The fit must
            have the settings and data of the one that wrote it (``max_epochs`` may
            grow).

        Returns
        -------
        History
            The per-epoch logs (also ``self.history``): a list of one dict per epoch
            (``history[-1]["accuracy"]``), and as Keras' ``History``
            (``history.history["loss"]``, ``history.epoch``).

        Raises
        ------
        CheckpointError
            Naming what differs, when resuming with other settings or data than the
            checkpoint's, as the result would not be the weights of an uninterrupted
            run.

        Warns
        -----
        SnnkitWarning
            When the model's compiled loss is not the one snnkit trains with, or it
            has regularizers or constraints (not applied).
        """
        folded = check_convertible(model, max_pool=self.max_pool)
        _warn_dropped(folded)
        _warn_compiled_loss(model)
        with scoped_determinism(self.seed is not None and self.deterministic):
            self._seed_everything()
            return self._fit(model, folded, train_data, val_data, ckpt_path)

    def _fit(self, model, folded, train_data, val_data, ckpt_path) -> History:
        # nengo-dl trains on one step per example: a synapse would only attenuate it
        network = self.freeze(folded.model, synapse=None, fold=False,
                              scale_firing_rates=self._training_scales(folded.model))
        targets = parse_rate_targets(self.rate_reg_hz, network.neuron_layers,
                                     loihi=network.neuron.runs_on_loihi, dt=self.dt)
        x, y = check_data("train_data", network, read_data("train_data", train_data))
        val = None if val_data is None else check_data(
            "val_data", network, read_data("val_data", val_data))
        x, y = whole_minibatches("train_data", x, y, self.minibatch_size)
        if val is not None:
            val = whole_minibatches("val_data", *val, self.minibatch_size)

        checkpoint = find_checkpoint(ckpt_path, self)
        self._settings = training_settings(
            self, x, y, val, optimizer_settings(self.optimizer, self.learning_rate,
                                                model))
        self.steps_per_epoch = len(x) // self.minibatch_size
        self.history = History(params={"epochs": self.max_epochs,
                                       "steps": self.steps_per_epoch})
        start_epoch = 0
        if checkpoint is not None:
            check_same_settings(checkpoint, self._settings)
            checkpoint.restore_weights(model)
            folded = check_convertible(model, max_pool=self.max_pool)
            network = self.freeze(folded.model, synapse=None, fold=False,
                                  scale_firing_rates=self._training_scales(folded.model))
            self.history.extend(dict(h) for h in checkpoint.history)
            start_epoch = checkpoint.epoch
            load_callback_states(self.callbacks, checkpoint.callback_states)

        self.network, self.train_x, self.has_validation = network, x, val is not None
        self._rate_targets = targets
        self.should_stop = False
        callbacks = CallbackList(self.callbacks)
        callbacks.keyed()  # two callbacks with one state key: refused before training
        probe_layers = bool(targets) or any(
            getattr(c, "needs_layer_probes", False) for c in self.callbacks)
        built = build_network(network, probe_layers=probe_layers, inference_only=False)
        from snnkit.utils.stack import import_nengo_dl

        nengo_dl = import_nengo_dl()

        with nengo_dl.Simulator(built.net, minibatch_size=self.minibatch_size,
                                dt=self.dt, seed=self.seed, progress_bar=False) as sim:
            losses, weights = fit_losses(built, targets, self.rate_weight)
            sim.compile(optimizer=make_optimizer(self.optimizer, self.learning_rate,
                                                 model),
                        loss=losses, loss_weights=weights,
                        metrics={
                            built.output_probe: tf.metrics.sparse_categorical_accuracy})
            if checkpoint is not None and checkpoint.optimizer:
                restore_optimizer(sim, checkpoint)
            self._sim, self._built, self._model = sim, built, model
            try:
                callbacks.call("on_fit_start", self)
                inputs, outputs = fit_feeds(built, targets, x, y)
                validation = None if val is None else fit_feeds(built, targets, *val)
                bridge = [KerasBridge(self, callbacks)] if wants_batches(self.callbacks) \
                    else []
                for epoch in range(start_epoch, self.max_epochs):
                    self.current_epoch = epoch
                    callbacks.call("on_epoch_start", self, epoch)
                    keras_logs = sim.fit(inputs, outputs, validation_data=validation,
                                         epochs=epoch + 1, initial_epoch=epoch,
                                         callbacks=bridge, verbose=0).history
                    copy_weights_to_keras(sim, built, folded.model)
                    write_back(folded, model)
                    logs = {"epoch": epoch}
                    logs.update(snnkit_logs(sim, keras_logs, built, targets))
                    self.history.append(logs)
                    callbacks.call("on_epoch_end", self, epoch, logs)
                    # a Keras callback stops a fit as it stops Keras' own
                    if self.should_stop or sim.keras_model.stop_training:
                        self.should_stop = True
                        break
                # Keras callbacks act on the simulator's weights (e.g. Keras'
                # EarlyStopping restoring its best epoch): the model gets them
                copy_weights_to_keras(sim, built, folded.model)
                write_back(folded, model)
                callbacks.call("on_fit_end", self)
            except BaseException as exception:
                callbacks.call("on_exception", self, exception)
                raise
            finally:
                self._sim = self._built = self._model = None
                callbacks.call("teardown", self)
        return self.history

    @property
    def model(self):
        """The Keras model :meth:`fit` is training (None outside ``fit``).

        Callbacks read and set its weights (e.g. ``EarlyStopping``'s
        ``restore_best_weights``); it holds the weights of the last finished epoch.
        """
        return self._model

    def _training_scales(self, model):
        """The Trainer's scales for training ``model``: the spike encoder that
        freezing adds to single-neuron-layer models
        (:mod:`snnkit.convert.spike_encoder`) is not part of the model being
        trained, so its scale is left out."""
        from snnkit.convert.spike_encoder import ENCODER_NAME

        scales = self.scale_firing_rates
        if isinstance(scales, dict) and ENCODER_NAME in scales and \
                ENCODER_NAME not in [layer.name for layer in model.layers]:
            scales = {k: v for k, v in scales.items() if k != ENCODER_NAME}
        return scales if scales is not None else {}

    def metric_names(self) -> tuple:
        """Names of the metrics this fit logs each epoch (valid while fitting)."""
        names = ["loss", "accuracy"]
        names += [f"rate_loss/{name}" for name in self._rate_targets]
        if self.has_validation:
            names += ["val_" + n for n in names]
        for callback in self.callbacks:
            names += list(callback.metric_names(self))
        return tuple(names)

    def save_checkpoint(self, path) -> Path:
        """Write a checkpoint of the running fit to ``path`` (atomically).

        It holds the model being fitted, its optimizer state, the history and the
        callback states.

        Returns
        -------
        Path
            The path.

        Raises
        ------
        CheckpointError
            Unless :meth:`fit` is running.
        """
        if self._model is None:
            raise CheckpointError("save_checkpoint: only available while fit() runs")
        optimizer = [v.numpy() for v in self._sim.keras_model.optimizer.variables()]
        return save_checkpoint(path, self._model, epoch=self.current_epoch + 1,
                               history=self.history, optimizer=optimizer,
                               callback_states=callback_states(self.callbacks),
                               settings=self._settings)

    def measure_live_rates(self, x, *, n_steps: int = 30):
        """Per-layer rate statistics of the network being fitted.

        Measured with its neuron type running (spikes for spiking types).

        Parameters
        ----------
        x : numpy.ndarray
            Inputs, ``(N, input_size)`` float32.
        n_steps : int
            Steps each input runs for.

        Returns
        -------
        RunSummary
            A :class:`~snnkit.network.results.RunSummary`.

        Raises
        ------
        ValidationError
            Unless :meth:`fit` runs with layer probes (a RateMonitor or rate targets).
        """
        from snnkit.backends.toolkit import predict_minibatches
        from snnkit.network.results import LayerActivity, layer_amplitudes

        sim, built = self._sim, self._built
        if sim is None or not built.probes:
            raise ValidationError("measure_live_rates: only available while fit() runs "
                                  "with layer probes (a RateMonitor or rate targets)")
        activity = LayerActivity(layer_amplitudes(self.network), self.dt)
        for count, data in predict_minibatches(sim, built, x, n_steps,
                                               self.minibatch_size):
            for name, probe in built.probes.items():
                activity.add(name, np.asarray(data[probe])[:count])
            activity.finish_batch(count)
        return activity.summary()

    def _seed_everything(self) -> None:
        if self.seed is None:
            return
        random.seed(self.seed)
        np.random.seed(self.seed)
        tf.random.set_seed(self.seed)

    # --- inference ------------------------------------------------------------
    def freeze(self, model: tf.keras.Model, *, neuron_type=None,
               scale_firing_rates: float | Scales | None = None, synapse="trainer",
               block_shapes: BlockShapes | None = None, metadata=None,
               fold: bool = True) -> FrozenNetwork:
        """A :class:`FrozenNetwork` of ``model``'s current weights.

        Options default to the Trainer's.

        Parameters
        ----------
        model : tf.keras.Model
        neuron_type : str, NeuronSpec or None
        scale_firing_rates : float, Scales or None
        synapse : float, None or "trainer"
        block_shapes : BlockShapes or None
        metadata : dict or None
        fold : bool
            See :func:`snnkit.convert.freeze.from_keras`.

        Returns
        -------
        FrozenNetwork
        """
        kwargs = {}
        if self.off_chip is not None:
            kwargs["off_chip"] = tuple(self.off_chip)
        scales = self.scale_firing_rates if scale_firing_rates is None else \
            scale_firing_rates
        return from_keras(
            model,
            neuron_type=self.neuron_type if neuron_type is None else neuron_type,
            scale_firing_rates=scales if scales is not None else {},
            synapse=self.synapse if synapse == "trainer" else synapse,
            dt=self.dt,
            block_shapes=block_shapes or {},
            metadata=metadata or {},
            fold=fold,
            max_pool=self.max_pool,
            **kwargs,
        )

    def evaluate(self, model_or_network, x, y=None, *, backend: str = "nengo-dl",
                 n_steps: int = 30, presentation: str = "reset", **freeze_options):
        """Run on a backend (by name).

        Parameters
        ----------
        model_or_network : tf.keras.Model or FrozenNetwork
            A Keras model (frozen with the Trainer's options, or ``freeze_options``)
            or a :class:`FrozenNetwork`.
        x : array_like or tf.data.Dataset
            Inputs; may be a ``tf.data.Dataset`` of ``(x, y)`` pairs (then ``y``
            comes from it).
        y : array_like or None
            Labels.
        backend : str
            The backend's name.
        n_steps : int
            Steps per input.
        presentation : str
            ``"reset"`` or ``"sequential"``.
        **freeze_options
            Options of :meth:`freeze`.

        Returns
        -------
        Result
            The :class:`~snnkit.Result`.
        """
        return self._evaluate(model_or_network, x, y, backend=backend, n_steps=n_steps,
                              presentation=presentation,
                              progress=self.enable_progress_bar, **freeze_options)

    def _evaluate(self, model_or_network, x, y=None, *, backend: str = "nengo-dl",
                  n_steps: int = 30, presentation: str = "reset", progress=False,
                  **freeze_options):
        """:meth:`evaluate` with its progress bar's label (``progress``: a bool, or a
        label such as ``"calibrate 2/8"``)."""
        from snnkit.backends import get_backend

        if isinstance(x, tf.data.Dataset):
            x, y = read_data("x", x)
        network = self._as_network(model_or_network, **freeze_options)
        result = get_backend(backend).run(network, x, n_steps=n_steps,
                                          presentation=presentation, progress=progress)
        if y is not None:
            result.accuracy(y)  # validates the label count early, before callbacks
        CallbackList(self.callbacks).call("on_evaluate_end", self, result)
        return result

    def predict(self, model_or_network, x, *, backend: str = "nengo-dl",
                n_steps: int = 30, presentation: str = "reset",
                **freeze_options) -> np.ndarray:
        """Network output at the last step of each input.

        Same options as :meth:`evaluate`.

        Returns
        -------
        numpy.ndarray
            ``(N, n_outputs)`` (argmax for class predictions).
        """
        if isinstance(x, tf.data.Dataset):
            x = read_inputs(x)
        return self.evaluate(model_or_network, x, backend=backend, n_steps=n_steps,
                             presentation=presentation, **freeze_options).outputs[:, -1]

    def measure_rates(self, model_or_network, x, *, n_steps: int = 30,
                      **freeze_options) -> RatesHz:
        """Per-layer mean rate of active neurons, Hz (the notebook's measure).

        Measured on nengo-dl with the network's neuron type.
        """
        return self.evaluate(model_or_network, x, n_steps=n_steps,
                             **freeze_options).layer_rates_hz

    def calibrate(self, model_or_network, x, *, target_rate_hz: float = 200.0,
                  neuron_type="loihi-relu", n_steps: int = 30, tolerance: float = 0.1,
                  max_iterations: int = 8, synapse="trainer", statistic: str = "mean",
                  strict: bool = False) -> Calibration:
        """Per-layer ``scale_firing_rates`` that put every layer's rate at a target.

        Measured on inputs ``x`` with the neuron type that will run (see
        :mod:`snnkit.training.calibration`). Starts from the notebook's rule (scale =
        target / ReLU rate).

        Parameters
        ----------
        model_or_network : tf.keras.Model or FrozenNetwork
        x : array_like
            The calibration inputs.
        target_rate_hz : float
            The target, Hz.
        neuron_type : str or NeuronSpec
            The neuron type that will run.
        n_steps : int
            Steps per input.
        tolerance : float
            A fraction of ``target_rate_hz``: every neuron layer's rate ``statistic``
            is to come within it.
        max_iterations : int
            Measurements at most.
        synapse : float, None or "trainer"
            Rates are measured with ``synapse`` (default: the Trainer's), which
            should be the one that will run at inference: it shapes every later
            layer's input.
        statistic : str
            ``"mean"`` active rate, or a percentile such as ``"p99"``.
        strict : bool
            Raise instead of warning when it does not converge.

        Returns
        -------
        Calibration
            The scales found from the ReLU rates' starting point, and the rates
            measured at them with ``synapse``.

        Raises
        ------
        CalibrationError
            When it does not converge, if ``strict``
            (:class:`~snnkit.exceptions.CalibrationError`).

        Warns
        -----
        CalibrationWarning
            When it does not converge
            (:class:`~snnkit.exceptions.CalibrationWarning`).
        """
        from snnkit.training.calibration import (
            calibrate,
            check_options,
            check_target_rate,
        )

        spec = neuron_spec(neuron_type)
        check_target_rate(target_rate_hz, spec)
        check_options(tolerance, max_iterations, statistic)  # before any measurement
        network = self._as_network(model_or_network)
        network = network.replace(
            synapse=self.synapse if synapse == "trainer" else synapse)
        # the starting point: ReLU rates in one step, which only means anything
        # without a synapse (a filter would show one step of its rise)
        # each measurement's progress bar says which it is
        label = (lambda text: text) if self.enable_progress_bar else (lambda text: False)
        relu_rates = self._evaluate(
            network.replace(neuron="relu", scale_firing_rates={}, synapse=None), x,
            n_steps=1, progress=label("calibrate: ReLU rates")).layer_rates_hz
        scales = {}
        for name, rate in relu_rates.items():
            if rate <= 0:
                raise ValidationError(
                    f"calibrate: layer {name!r} is silent on these inputs (rate 0 Hz "
                    "with ReLU rates); it cannot be scaled to a target rate")
            scales[name] = target_rate_hz / rate
        iterations = itertools.count(1)
        return calibrate(
            network.replace(neuron=spec),
            lambda candidate: self._evaluate(
                candidate, x, n_steps=n_steps,
                progress=label(f"calibrate {next(iterations)}/{max_iterations}")),
            scales, target_rate_hz=float(target_rate_hz), tolerance=tolerance,
            max_iterations=max_iterations, statistic=statistic, strict=strict)

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


def _warn_compiled_loss(model) -> None:
    """Say that the model's compiled loss is replaced, when it is another loss."""
    note = compiled_loss_note(model)
    if note is not None:
        warnings.warn(
            f"Trainer.fit: the model's compiled loss ({note}) is not used: snnkit "
            "trains classifiers with sparse categorical cross-entropy on the output "
            "layer's values as logits (a softmax on the output is folded away), plus "
            "the rate losses", SnnkitWarning, stacklevel=3)


def _warn_dropped(folded) -> None:
    """Say that the model's regularizers and constraints are not applied in the fit."""
    if folded.dropped:
        layers = "; ".join(f"{layer}: {', '.join(options)}"
                           for layer, options in folded.dropped.items())
        warnings.warn(f"Trainer.fit: the model's training-only options are not applied "
                      f"(snnkit trains through nengo-dl without them, so no weight "
                      f"decay): {layers}", SnnkitWarning, stacklevel=3)
