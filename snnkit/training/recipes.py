"""Training recipes: tested sequences of Trainer calls for a goal.

:func:`train_for_loihi` is the procedure ``benchmarks/bench_trainer_accuracy.py``
measures (figures in its docstring): train with ReLU rates, calibrate per-layer scales
with the Loihi neurons that will run, fine-tune with those neurons at those scales
(nengo-dl trains them through nengo-extras' rate model, which has Loihi's
one-spike-per-step ceiling and its rate quantization), calibrate again, freeze.

Measured with the defaults on the seed network (60k training images, seed 0):
98.84% Loihi-neuron spiking accuracy in NengoDL on the 10,000 test images at 30 steps,
synapse 0.005 s (ReLU-only training with the same calibration: about 97.2% on the
first 2,000 test images). Fine-tuning on Loihi neurons is what closes the gap. Rate
regularization during fine-tuning did not help here: a (50, 500) Hz percentile range at
weight 10 gave 97.30% on the first 2,000 test images against 98.55% without it (it
settles sooner, 96.8% vs 94.3% at step 15, but lower).

:func:`train_for_latency` is the latency-first procedure (no synapse, trained
through time, running-mean readout). How its defaults were chosen, Loihi-exact
(``loihi-emulator-fast``) on the 10,000 test images, read out at 10 / 16 steps, all
from the same 40-epoch shifted-image ReLU network (99.29% as ReLU rates) unless said:

- ``train_for_loihi``'s network with scales ×2, no synapse, 2 epochs through time
  without augmentation: 98.81% / 98.83% (its ReLU accuracy, 98.91%, is the ceiling);
- scales from :meth:`Trainer.calibrate` at 400 Hz (mean active rate, before its
  bracketed search): it did not converge (conv1's scale ×27 in 8 iterations: many
  weakly active neurons held the mean down), 97.0% / 97.0% after training through
  time;
- percentile scales to 1000 Hz, loss from step 6, shifts ±2: 98.69% / 98.76%;
- to 2000 Hz, loss from step 8, shifts ±2: 99.01% / 99.05%; 3 epochs with cosine
  decay 98.87% / 99.00%; loss from step 10 99.03% / 99.05%; shifts ±1 while
  training through time (the defaults): 99.14% / 99.15% (95.6% at 6 steps).

The float model agrees with the chip to 0.05 points (99.03% / 99.10% vs 99.01% /
99.05%): 8-bit weights cost little; what is left is the network's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnkit.convert.freeze import check_convertible, from_keras
from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.network.measured import record_measurement
from snnkit.network.types import KerasModel, Scales
from snnkit.training.trainer import Calibration, Trainer
from snnkit.utils.validation import check_number, check_positive, renamed


@dataclass(frozen=True)
class LoihiTraining:
    """What :func:`train_for_loihi` produced.

    Attributes
    ----------
    network : FrozenNetwork
        The network to run: the fine-tuned one, or the calibrated one when it scored
        higher on ``select_on`` (``selected`` says which; its metadata records the
        recipe's arguments).
    calibration : Calibration
        The calibration after fine-tuning.
    first_calibration : Calibration
        The calibration before fine-tuning.
    relu_history : list of dict
        The training history with ReLU rates.
    loihi_history : list of dict
        The fine-tuning's training history.
    calibrated_network : FrozenNetwork or None
        The calibrated network before fine-tuning.
    selected : str
        Which network ``network`` is: ``"fine-tuned"`` or ``"calibrated"``.
    """

    network: FrozenNetwork
    calibration: Calibration
    first_calibration: Calibration
    relu_history: list
    loihi_history: list
    calibrated_network: FrozenNetwork | None = None
    selected: str = "fine-tuned"


def train_for_loihi(model: KerasModel, train_data, *, relu_epochs: int = 6,
                    loihi_epochs: int = 4,
                    target_rate_hz: float = 250.0, synapse: float = 0.005,
                    n_steps: int = 30, calibration_inputs: int = 500,
                    fine_tune_learning_rate: float = 1e-4, rate_reg_hz=None,
                    rate_weight: float = 10.0, neuron_type: str = "loihi-relu",
                    seed: int | None = 0, callbacks=(), enable_progress_bar: bool = True,
                    val_data=None, statistic: str = "mean",
                    minibatch_size: int = 200, readout="last", select_on=None,
                    select_backend: str = "loihi-emulator-fast",
                    max_pool: str = "refuse", optimizer="rmsprop",
                    learning_rate: float = 1e-3, rate_target_hz=None) -> LoihiTraining:
    """Train ``model`` (in place) for Loihi neurons.

    Parameters
    ----------
    model : KerasModel
        Trained in place, with RMSprop in both stages whatever it was compiled with
        (the procedure measured in ``bench_conversion.py``).
    train_data : tuple
        ``(x, y)`` training images and labels.
    relu_epochs : int
        Epochs of training with ReLU rates; 0 starts from the model as it is (e.g.
        trained in Keras: the conversion of a user's model).
    loihi_epochs : int
        Epochs of fine-tuning with the Loihi neurons (0: none).
    target_rate_hz : float
        The calibration's target rate, Hz.
    synapse : float
        The synapse the networks run with, s.
    n_steps : int
        Steps per input when calibrating and selecting.
    calibration_inputs : int
        How many training images the scales are calibrated on.
    fine_tune_learning_rate : float
        The fine-tuning's learning rate.
    rate_reg_hz, rate_weight
        Optional rate regularization during the fine-tuning (see
        :class:`~snnkit.Trainer`).
    neuron_type : str
        The neuron type that will run.
    seed : int or None
        The Trainers' seed.
    callbacks : sequence of Callback, or callable
        Given to each Trainer; or ``callbacks(stage)`` giving each stage's own
        (``"relu"``, then ``"fine-tune"``), e.g. a logger writing one file per stage
        or an early stopping that starts afresh.
    enable_progress_bar : bool
        Show the Trainers' progress bars.
    val_data : tuple or None
        ``(x, y)`` validation data for each fit.
    statistic : str
        The calibrated rate statistic (:mod:`snnkit.training.calibration`).
    minibatch_size : int
        The Trainers' minibatch size.
    readout : str or sequence of str
        The networks' output readout (:mod:`snnkit.network.readout`), or several
        candidates (e.g. ``("mean", "last")``) to choose from on ``select_on``.
    select_on : tuple or None
        Held-out ``(x, y)`` (never test data): the calibrated network before
        fine-tuning and the fine-tuned one both run on it (``select_backend``,
        ``n_steps``), each read out with every candidate readout, and the most
        accurate pair is returned (``LoihiTraining.selected``, the network's
        ``readout``; ties go to the fine-tuned network and to the readout listed
        first).
    select_backend : str
        The backend the selection runs on.
    max_pool : {"refuse", "average"}
        Max pooling in ``model``: refused, or fine-tuned and frozen as average
        pooling of the same window (:func:`snnkit.convert.fold.fold_model`); the
        ReLU epochs and the fine-tuning then recover what the swap costs.
    optimizer : str or tf.optimizers.Optimizer
        Both stages' optimizer (a name is made afresh for each stage; see
        :class:`~snnkit.Trainer`).
    learning_rate : float
        The ReLU stage's learning rate.
    rate_target_hz
        Deprecated name of ``rate_reg_hz`` (removed after the next release).

    Returns
    -------
    LoihiTraining
        Its ``network``: the frozen network with calibrated per-layer scales and
        ``synapse``.
    """
    rate_reg_hz = renamed("train_for_loihi", "rate_target_hz", rate_target_hz,
                          "rate_reg_hz", rate_reg_hz)
    readouts = _check_readouts(readout, select_on)
    if loihi_epochs > 0:  # refused now, not after the ReLU epochs and calibration
        check_convertible(_trainable(model, max_pool), max_pool=max_pool)
    x, y = train_data
    # the procedure's optimizer whatever the model was compiled with
    relu = Trainer(max_epochs=max(relu_epochs, 1), neuron_type="relu", seed=seed,
                   callbacks=_stage_callbacks(callbacks, "relu"),
                   enable_progress_bar=enable_progress_bar,
                   minibatch_size=minibatch_size, max_pool=max_pool,
                   optimizer=optimizer, learning_rate=learning_rate)
    relu_history = relu.fit(model, train_data, val_data) if relu_epochs > 0 else []
    calib_x = x[:calibration_inputs]
    first = relu.calibrate(model, calib_x, target_rate_hz=target_rate_hz,
                           neuron_type=neuron_type, n_steps=n_steps, synapse=synapse,
                           statistic=statistic)
    loihi_history = []
    calibration = first
    if loihi_epochs > 0:
        model = _trainable(model, max_pool)
    calibrated = from_keras(model, neuron_type=neuron_type, max_pool=max_pool,
                            scale_firing_rates=first.scales, synapse=synapse)
    if loihi_epochs > 0:
        tune = Trainer(max_epochs=loihi_epochs, neuron_type=neuron_type,
                       scale_firing_rates=first.scales, synapse=synapse,
                       optimizer=optimizer, learning_rate=fine_tune_learning_rate,
                       seed=seed, rate_reg_hz=rate_reg_hz, rate_weight=rate_weight,
                       callbacks=_stage_callbacks(callbacks, "fine-tune"),
                       enable_progress_bar=enable_progress_bar,
                       minibatch_size=minibatch_size, max_pool=max_pool)
        loihi_history = tune.fit(model, train_data, val_data)
        calibration = tune.calibrate(model, calib_x, target_rate_hz=target_rate_hz,
                                     neuron_type=neuron_type, n_steps=n_steps,
                                     synapse=synapse, statistic=statistic)
    network = from_keras(
        model, neuron_type=neuron_type, scale_firing_rates=calibration.scales,
        synapse=synapse, max_pool=max_pool,
        metadata={"recipe": "train_for_loihi", "relu_epochs": relu_epochs,
                  "loihi_epochs": loihi_epochs, "target_rate_hz": target_rate_hz,
                  "calibration_converged": calibration.converged})
    # the rates describe this network: stamped with its state, so a network made
    # from it later (another calibration, a candidate chosen below) does not show
    # them as its own
    network = record_measurement(
        network.replace(readout=readouts[0]), "calibrated_rates_hz",
        calibration.rates_hz, {"backend": "nengo-dl", "n_steps": n_steps,
                               "n_images": len(calib_x), "statistic": statistic,
                               "images": "training"}, independent_of=("readout",))
    calibrated = calibrated.replace(readout=readouts[0])
    selected = "fine-tuned" if loihi_epochs > 0 else "calibrated"
    if select_on is not None:
        # fine-tuning with Loihi neurons can lose to calibration alone (small layers,
        # few examples), and a deep stack of filtered layers answers late, where a
        # running mean still carries the silent first steps: keep whichever network
        # and readout do best on held-out images, Loihi-exact
        candidates = {"calibrated": calibrated}
        if loihi_epochs > 0:
            candidates = {"fine-tuned": network, **candidates}
        scores = _selection_scores(candidates, readouts, select_on, select_backend,
                                   n_steps)
        selected, chosen = max(scores, key=scores.get)  # first of equals wins
        calibrated = calibrated.replace(readout=chosen)
        network = candidates[selected].replace(
            readout=chosen, metadata=dict(
                network.metadata, selected=selected, selected_readout=chosen,
                selection_accuracy={f"{name}/{r}": acc
                                    for (name, r), acc in scores.items()}))
    return LoihiTraining(network=network, calibration=calibration,
                         first_calibration=first, relu_history=relu_history,
                         loihi_history=loihi_history, calibrated_network=calibrated,
                         selected=selected)


def _stage_callbacks(callbacks, stage: str) -> list:
    """The callbacks of one stage: ``callbacks(stage)`` if it is a function, else the
    same ones for every stage."""
    return list(callbacks(stage)) if callable(callbacks) else list(callbacks)


def _check_readouts(readout, select_on) -> tuple:
    from snnkit.network.readout import check_readout

    readouts = (readout,) if isinstance(readout, str) else tuple(readout)
    if not readouts:
        raise ValidationError("readout: expected a readout or candidates, got none")
    for r in readouts:
        check_readout(r)
    if len(readouts) > 1 and select_on is None:
        raise ValidationError(
            f"readout: {len(readouts)} candidates ({', '.join(readouts)}) need select_on "
            "(held-out images to choose on); got select_on=None")
    return readouts


def _selection_scores(candidates: dict, readouts, select_on, backend_name: str,
                      n_steps: int) -> dict:
    """``{(network name, readout): accuracy on select_on}``, in candidate then
    readout order; one run per network (the readouts are host arithmetic on the same
    outputs)."""
    from snnkit.backends import get_backend
    from snnkit.network.readout import apply_readout

    x_sel, y_sel = select_on
    backend = get_backend(backend_name)
    scores = {}
    for name, net in candidates.items():
        raw = backend.run(net.replace(readout="last"), x_sel, n_steps=n_steps).outputs
        for r in readouts:
            predictions = np.argmax(apply_readout(raw, r)[:, -1], axis=-1)
            scores[(name, r)] = float(np.mean(predictions == np.asarray(y_sel)))
    return scores


@dataclass(frozen=True)
class LatencyTraining:
    """What :func:`train_for_latency` produced.

    The Keras model passed in holds the trained weights too.

    Attributes
    ----------
    network : FrozenNetwork
        The network trained through time steps with Loihi's timing; its metadata
        records the recipe's arguments.
    initial_scales : Scales
        The per-layer scales its training through time started from.
    relu_history : list of dict
        The history of the ReLU training stage.
    time_history : list of dict
        The history of the training through time.
    """

    network: FrozenNetwork
    initial_scales: Scales
    relu_history: list
    time_history: list


def train_for_latency(model: KerasModel, train_data, *, relu_epochs: int = 40,
                      shift_pixels: int = 2, max_rate_hz: float = 2000.0,
                      percentile: float = 99.0,
                      n_steps: int = 16, loss_from_step: int = 8, time_epochs: int = 2,
                      time_shift_pixels: int = 1, learning_rate: float = 1e-4,
                      scale_learning_rate: float = 1e-3, cosine_decay: bool = False,
                      calibration_inputs: int = 500, seed: int | None = 0,
                      progress: bool = True, val_data=None,
                      relu_learning_rate: float = 1e-3,
                      relu_callbacks=()) -> LatencyTraining:
    """Train ``model`` (in place) to answer in few time steps on Loihi.

    1. ``relu_epochs`` of ReLU training with every image shifted at random by up to
       ``shift_pixels`` pixels (Keras, Adam with cosine decay from 1e-3; ReLU rates
       are the network's Keras function, so this is what nengo-dl would train, with
       augmentation); 0 skips it (``model`` is already trained).
    2. Initial per-layer scales that put each layer's ``percentile``-th ReLU
       activation (on ``calibration_inputs`` training images) at ``max_rate_hz``
       (:func:`percentile_scales`): by default 2000 Hz, twice the one-spike-per-step
       ceiling, so the busiest few percent of neurons saturate and every neuron
       reaches its threshold early. A calibration target cannot ask for that
       (measured rates never exceed the ceiling).
    3. ``time_epochs`` of training through the spiking dynamics over ``n_steps``
       steps with Loihi's timing
       (:func:`~snnkit.training.time_training.fit_over_time`), the loss on the
       running-mean readout at every step from ``loss_from_step``; weights and
       scales are learned; images shifted by up to ``time_shift_pixels``.

    Without a synapse every on-chip layer can answer one step after its input
    (measured first spikes: to-spikes step 1, conv0 2, conv1 3, dense0 4, output 5),
    where a 5 ms synapse costs 3–5 steps per layer; the running mean over the
    host's output removes the noise of reading single spikes.

    Parameters
    ----------
    model : KerasModel
        Trained in place: it ends with the weights trained through time.
    train_data : tuple
        ``(x, y)`` training images and labels, used by steps 1 and 3.
    relu_epochs : int
        Epochs of step 1; 0 skips it (``model`` is already trained).
    shift_pixels : int
        Step 1's random shifts, pixels.
    max_rate_hz : float
        The rate step 2 puts each layer's ``percentile``-th activation at, Hz.
    percentile : float
        The percentile of step 2.
    n_steps : int
        Steps per input in step 3.
    loss_from_step : int
        Step 3's loss reads the readout at every step from this one.
    time_epochs : int
        Epochs of step 3.
    time_shift_pixels : int
        Step 3's random shifts, pixels.
    learning_rate, scale_learning_rate, cosine_decay
        Step 3's learning rates (weights, per-layer log-scales) and their decay
        (:func:`~snnkit.training.time_training.fit_over_time`).
    calibration_inputs : int
        How many training images step 2 reads.
    seed : int or None
        Seed of both training stages.
    progress : bool
        Show steps 1 and 3's progress (a bar per epoch).
    val_data : tuple or None
        ``(x, y)`` evaluated after each epoch of step 3.
    relu_learning_rate : float
        Where step 1's cosine decay starts.
    relu_callbacks : sequence of tf.keras.callbacks.Callback
        Given to step 1's ``model.fit`` (e.g. ``tf.keras.callbacks.CSVLogger``,
        ``EarlyStopping(monitor="loss")``).

    Returns
    -------
    LatencyTraining
        Its ``network``: the frozen network: Loihi neurons, no synapse, the
        ``"mean"`` readout.
    """
    from snnkit.training.time_training import fit_over_time

    x, y = train_data
    relu_history = fit_relu_augmented(model, train_data, epochs=relu_epochs,
                                      shift_pixels=shift_pixels, seed=seed,
                                      learning_rate=relu_learning_rate,
                                      callbacks=relu_callbacks, progress=progress) \
        if relu_epochs > 0 else []
    scales = percentile_scales(model, x[:calibration_inputs], max_rate_hz=max_rate_hz,
                               percentile=percentile)
    start = from_keras(
        model, neuron_type="loihi-relu", scale_firing_rates=scales,
        synapse=None, readout="mean")
    trained = fit_over_time(start, train_data, n_steps=n_steps,
                            loss_from_step=loss_from_step, epochs=time_epochs,
                            learning_rate=learning_rate,
                            scale_learning_rate=scale_learning_rate,
                            cosine_decay=cosine_decay, shift_pixels=time_shift_pixels,
                            val_data=val_data, seed=seed,
                            progress=progress)
    for layer in model.layers:
        if layer.name in trained.network.weights:
            layer.set_weights(list(trained.network.weights[layer.name]))
    network = trained.network.replace(metadata={
        "recipe": "train_for_latency", "relu_epochs": relu_epochs,
        "shift_pixels": shift_pixels, "time_shift_pixels": time_shift_pixels,
        "max_rate_hz": max_rate_hz,
        "percentile": percentile, "initial_scales": scales, "time_epochs": time_epochs,
        "n_steps": n_steps, "loss_from_step": loss_from_step,
        "learning_rate": learning_rate, "scale_learning_rate": scale_learning_rate})
    return LatencyTraining(network=network, initial_scales=scales,
                           relu_history=relu_history, time_history=trained.history)


def fit_relu_augmented(model: KerasModel, train_data, *, epochs: int,
                       shift_pixels: int = 2, minibatch_size: int = 200,
                       learning_rate: float = 1e-3, seed: int | None = 0,
                       callbacks=(), progress: bool = False) -> list:
    """Train ``model`` (in place) with ReLU rates on randomly shifted images.

    Each image is shifted at random by up to ``shift_pixels`` pixels per epoch; Adam,
    cosine decay from ``learning_rate``.

    Parameters
    ----------
    model : KerasModel
        Trained in place.
    train_data : tuple
        ``(x, y)`` training images and labels.
    epochs : int
        Epochs of training.
    shift_pixels : int
        The largest shift, pixels.
    minibatch_size : int
        Training minibatch size (examples).
    learning_rate : float
        Where the cosine decay starts.
    seed : int or None
        Seeds TensorFlow and the shifts.
    callbacks : sequence of tf.keras.callbacks.Callback
        Given to ``model.fit``.
    progress : bool
        Show a progress bar per epoch.

    Returns
    -------
    list of dict
        Per-epoch logs (``loss``, ``accuracy``; fewer epochs than ``epochs`` if a
        callback stopped the fit).
    """
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    from snnkit.training.time_training import random_shifts

    x, y = train_data
    x = np.asarray(x, np.float32).reshape((-1,) + tuple(model.input_shape[1:]))
    y = np.asarray(y)
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    rng = np.random.RandomState(seed)
    n_batches = len(x) // minibatch_size
    model.compile(tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(
        learning_rate, epochs * n_batches)),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])

    def batches():
        while True:
            order = rng.permutation(len(x))
            for b in range(n_batches):
                idx = order[b * minibatch_size:(b + 1) * minibatch_size]
                xb = random_shifts(x[idx], shift_pixels, rng) if shift_pixels else x[idx]
                yield xb, y[idx]

    callbacks = list(callbacks)
    if progress:
        callbacks.append(_epoch_bars(tf, epochs, n_batches))
    history = model.fit(batches(), steps_per_epoch=n_batches, epochs=epochs, verbose=0,
                        callbacks=callbacks)
    done = len(history.history["loss"])
    return [{"epoch": i, "loss": float(history.history["loss"][i]),
             "accuracy": float(history.history["accuracy"][i])} for i in range(done)]


def _epoch_bars(tf, epochs: int, n_batches: int):
    """A Keras callback showing a tqdm bar per epoch (loss and accuracy)."""
    from tqdm.auto import tqdm

    class EpochBars(tf.keras.callbacks.Callback):
        bar = None

        def on_epoch_begin(self, epoch, logs=None):
            self.bar = tqdm(total=n_batches, unit="batch", leave=False,
                            desc=f"relu epoch {epoch + 1}/{epochs}")

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in (logs or {}).items()
                                  if k in ("loss", "accuracy")}, refresh=False)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.close()

    return EpochBars()


def percentile_scales(model: KerasModel, x, *, max_rate_hz: float = 1000.0,
                      percentile: float = 99.0) -> Scales:
    """Per-layer scales that put a percentile of each layer's ReLU activations at a rate.

    SNN Toolbox's normalization, in rates. Unlike
    :mod:`snnkit.training.calibration`'s ``"p<q>"`` statistic it reads ReLU
    activations in one pass, so it can ask for more than Loihi's ceiling rate (the
    spiking rates it would measure cannot).

    Parameters
    ----------
    model : KerasModel
    x : array_like
        The inputs.
    max_rate_hz : float
        Hz; an activation ``a`` at scale ``s`` asks for ``s * a`` Hz.
    percentile : float
        Of each layer's positive ReLU activations.

    Returns
    -------
    Scales
        ``{neuron layer: scale}`` that maps the ``percentile``-th percentile of each
        layer's positive ReLU activations on inputs ``x`` to ``max_rate_hz``.

    Raises
    ------
    ValidationError
        If a layer is silent on these inputs.
    """
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    from snnkit.convert.freeze import neuron_layers

    check_number("percentile", percentile, low=0, low_open=True, high=100)
    check_positive("max_rate_hz", max_rate_hz, "Hz")
    names = neuron_layers(model)
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    x = np.asarray(x, np.float32).reshape((-1,) + tuple(model.input_shape[1:]))
    activations = probe.predict(x, verbose=0, batch_size=250)
    if len(names) == 1:
        activations = [activations]
    scales = {}
    for name, values in zip(names, activations):
        active = values[values > 0]
        if active.size == 0:
            raise ValidationError(f"percentile_scales: layer {name!r} is silent on these "
                                  "inputs; it cannot be scaled to a rate")
        scales[name] = float(max_rate_hz / np.percentile(active, percentile))
    return scales


def _trainable(model, max_pool: str = "refuse"):
    """``model`` if NengoDL can train it, else a folded copy that it can (e.g. a
    SeparableConv2D becomes a Conv2D): the fine-tuning then trains the copy, and the
    user's model keeps its Keras-trained weights."""
    from snnkit.exceptions import ConversionError

    try:
        check_convertible(model, max_pool=max_pool)
        return model
    except ConversionError:
        return to_keras(from_keras(model, spike_encoder=False, max_pool=max_pool))

