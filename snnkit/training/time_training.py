"""Training with time in the loop: fit a FrozenNetwork's weights and per-layer scales
through its spiking dynamics over ``n_steps`` steps
(:class:`~snnkit.training.unrolled.UnrolledLoihi`: Loihi's timing, reset and
one-spike-per-step ceiling), so that its read-out output is right *early*.

The loss is the cross-entropy of the read-out output averaged over the steps from
``loss_from_step`` to ``n_steps``: every one of those steps is a readout the network
is asked to get right. Gradients flow through spikes by a surrogate derivative.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from snnkit.exceptions import ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.training.fit_data import check_data, read_data
from snnkit.training.unrolled import UnrolledLoihi
from snnkit.utils.stack import import_tensorflow
from snnkit.utils.validation import check_int

logger = logging.getLogger(__name__)
tf = import_tensorflow()  # this module is imported only to train through time


@dataclass(frozen=True)
class TimeTraining:
    """What :func:`fit_over_time` produced.

    Attributes
    ----------
    network : FrozenNetwork
        The network passed in, with the trained weights and the learned
        ``scale_firing_rates``.
    history : list of dict
        One log per epoch (``loss``; ``accuracy_by_step`` on the training
        minibatches, read out at every step; ``val_accuracy_by_step`` when
        validation data was given; ``scales``).
    """

    network: FrozenNetwork
    history: list


def fit_over_time(network: FrozenNetwork, train_data, *, n_steps: int = 16,
                  loss_from_step: int = 6, epochs: int = 2, minibatch_size: int = 100,
                  learning_rate: float = 1e-4, scale_learning_rate: float = 1e-3,
                  shift_pixels: int = 0, cosine_decay: bool = False, val_data=None,
                  seed: int | None = 0, progress: bool = False) -> TimeTraining:
    """Train ``network`` (not changed; a new one is returned) over ``n_steps`` steps.

    Parameters
    ----------
    network : FrozenNetwork
        The network to train; not changed.
    train_data : tuple or tf.data.Dataset
        ``(x, y)`` training images and labels, or a Dataset of such pairs.
    n_steps : int
        Steps each input runs for.
    loss_from_step : int
        The loss averages the read-out output's cross-entropy over the steps from
        this one to ``n_steps``.
    epochs : int
        Epochs of training.
    minibatch_size : int
        Training minibatch size (examples).
    learning_rate : float
        For weights (Adam).
    scale_learning_rate : float
        For the per-layer log-scales (0 keeps the scales).
    shift_pixels : int
        Augment each training image with a random shift of up to that many pixels
        in each direction (2-D inputs only).
    cosine_decay : bool
        Lower both learning rates to 0 along a cosine over the whole training.
    val_data : tuple or tf.data.Dataset or None
        ``(x, y)`` evaluated after each epoch with the same model (float weights: an
        estimate of what the chip will do).
    seed : int or None
        Seeds TensorFlow, the minibatch order and the shifts.
    progress : bool
        Show a progress bar per epoch.

    Returns
    -------
    TimeTraining
    """
    check_int("n_steps", n_steps, low=1)
    check_int("loss_from_step", loss_from_step, low=1)
    if loss_from_step > n_steps:
        raise ValidationError(f"loss_from_step: expected a step <= n_steps={n_steps}, "
                              f"got {loss_from_step}")
    check_int("epochs", epochs, low=1)
    check_int("minibatch_size", minibatch_size, low=1)
    check_int("shift_pixels", shift_pixels, low=0)
    x, y = check_data("train_data", network, read_data("train_data", train_data))
    val = None if val_data is None else check_data(
        "val_data", network, read_data("val_data", val_data))
    if len(x) < minibatch_size:
        raise ValidationError(f"train_data: expected at least minibatch_size="
                              f"{minibatch_size} examples, got {len(x)}")
    if seed is not None:
        tf.random.set_seed(seed)
    rng = np.random.RandomState(seed)
    model = UnrolledLoihi(network, n_steps, train_scales=scale_learning_rate > 0)
    weights = list(model.model.trainable_variables)
    scales = [v for v in model.log_scales.values() if v.trainable]
    n_batches = len(x) // minibatch_size

    def rate(value):
        if not cosine_decay:
            return value
        return tf.keras.optimizers.schedules.CosineDecay(value, epochs * n_batches)

    weight_opt = tf.keras.optimizers.Adam(rate(learning_rate))
    scale_opt = tf.keras.optimizers.Adam(rate(scale_learning_rate)) if scales else None
    shape = (-1,) + tuple(network.input_shape)
    first = loss_from_step - 1

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            out = model(xb)
            losses = tf.keras.losses.sparse_categorical_crossentropy(
                tf.repeat(yb[:, None], n_steps, axis=1), out, from_logits=True)
            loss = tf.reduce_mean(losses[:, first:])
        grads = tape.gradient(loss, weights + scales)
        weight_opt.apply_gradients(zip(grads[:len(weights)], weights))
        if scales:
            scale_opt.apply_gradients(zip(grads[len(weights):], scales))
        correct = tf.cast(tf.equal(tf.argmax(out, axis=-1), yb[:, None]), tf.float32)
        return loss, tf.reduce_sum(correct, axis=0)

    predict = tf.function(lambda xb: tf.argmax(model(xb), axis=-1))
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        loss_sum, correct = 0.0, np.zeros(n_steps)
        batches = range(n_batches)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=f"time-steps epoch {epoch + 1}/{epochs}",
                           unit="batch", leave=False)
        for b in batches:
            idx = order[b * minibatch_size:(b + 1) * minibatch_size]
            xb = x[idx].reshape(shape)
            if shift_pixels:
                xb = random_shifts(xb, shift_pixels, rng)
            loss, right = train_step(tf.constant(xb, tf.float32),
                                     tf.constant(y[idx], tf.int64))
            loss_sum += float(loss)
            correct += right.numpy()
        log = {"epoch": epoch, "loss": loss_sum / n_batches,
               "accuracy_by_step": (correct / (n_batches * minibatch_size)).tolist(),
               "scales": model.scales()}
        if val is not None:
            log["val_accuracy_by_step"] = _accuracy_by_step(predict, val, shape,
                                                            minibatch_size).tolist()
        logger.info("time-step training epoch %d: loss %.4f, accuracy at step %d %.4f",
                    epoch, log["loss"], n_steps, log["accuracy_by_step"][-1])
        history.append(log)
    trained = model.export(metadata={"time_training": {
        "n_steps": n_steps, "loss_from_step": loss_from_step, "epochs": epochs,
        "learning_rate": learning_rate, "scale_learning_rate": scale_learning_rate,
        "cosine_decay": cosine_decay, "shift_pixels": shift_pixels}})
    return TimeTraining(network=trained, history=history)


def _accuracy_by_step(predict, data, shape, batch) -> np.ndarray:
    x, y = data
    right = None
    for start in range(0, len(x), batch):
        pred = predict(x[start:start + batch].reshape(shape).astype(np.float32)).numpy()
        hits = (pred == y[start:start + batch, None]).sum(axis=0)
        right = hits if right is None else right + hits
    return right / len(x)


def random_shifts(xb, pixels, rng):
    """Shift each image by up to ``pixels`` in height and width (zero fill)."""
    if xb.ndim != 4:
        raise ValidationError(f"shift_pixels: needs image inputs (height, width, "
                              f"channels), got input shape {xb.shape[1:]}")
    out = np.zeros_like(xb)
    h, w = xb.shape[1:3]
    for i, (dy, dx) in enumerate(rng.randint(-pixels, pixels + 1, (len(xb), 2))):
        out[i, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            xb[i, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out

