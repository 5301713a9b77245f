"""Firing-rate regularization: loss terms that pull each layer's rates toward a target.

Two forms, as in the Nengo examples:

- a target ``T`` Hz (NengoDL's keras-to-snn example): mean squared error of every
  neuron's rate to ``T``, here relative to ``T`` (``((r - T) / T) ** 2``) so the loss
  is unitless and one weight fits every target;
- a range ``(low, high)`` Hz (NengoLoihi's CIFAR-10 example): per neuron, the
  ``percentile`` of its rate over the minibatch, penalized below ``low`` and above
  ``high`` (squared, relative to ``high``).

During nengo-dl training a neuron layer outputs ``amplitude * rate``, where the
amplitude already includes the layer's ``scale_firing_rates`` (``amplitude / scale``);
the losses divide by it so targets are in Hz.
"""

from __future__ import annotations

from snnkit.exceptions import UnknownNameError, ValidationError
from snnkit.network.neurons import MAX_LOIHI_RATE_HZ
from snnkit.utils.validation import is_number


def parse_rate_targets(targets, neuron_layers, *, loihi: bool, dt: float = 0.001) -> dict:
    """The rate targets of every regularized layer, checked.

    Parameters
    ----------
    targets : float, tuple of (float, float), dict or None
        A number or ``(low, high)`` for every neuron layer, or a dict per layer.
        Rates must be > 0 Hz and, for Loihi neurons, at most one spike per step.
    neuron_layers : sequence of str
        The network's neuron layers.
    loihi : bool
        Whether the neurons are Loihi neurons.
    dt : float
        The step, s.

    Returns
    -------
    dict
        ``{layer: float or (low, high)}`` for every regularized layer (Hz).
    """
    if targets is None:
        return {}
    if isinstance(targets, dict):
        unknown = [name for name in targets if name not in neuron_layers]
        if unknown:
            raise UnknownNameError(
                f"rate_reg_hz: unknown layer(s) {', '.join(map(repr, unknown))}; "
                f"neuron layers are: {', '.join(neuron_layers)}")
        items = dict(targets)
    else:
        items = {name: targets for name in neuron_layers}
    ceiling = min(MAX_LOIHI_RATE_HZ, 1.0 / dt)
    return {name: _check_target(name, value, loihi, ceiling)
            for name, value in items.items()}


def _check_target(layer, value, loihi, ceiling):
    where = f"rate_reg_hz[{layer!r}]"
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(is_number(v) for v in value):
            raise ValidationError(f"{where}: expected a number of Hz or a (low, high) "
                                  f"pair of numbers, got {value!r}")
        low, high = float(value[0]), float(value[1])
        if not 0 <= low < high:
            raise ValidationError(f"{where}: expected 0 <= low < high Hz, got {value!r}")
        _check_ceiling(where, high, loihi, ceiling)
        return (low, high)
    if not is_number(value) or not value > 0:
        raise ValidationError(f"{where}: expected a rate > 0 Hz, got {value!r}")
    _check_ceiling(where, float(value), loihi, ceiling)
    return float(value)


def _check_ceiling(where, rate, loihi, ceiling):
    if loihi and rate > ceiling:
        raise ValidationError(
            f"{where}: Loihi neurons fire at most once per step ({ceiling:.0f} Hz at "
            f"this dt), got {rate:g} Hz")


def rate_loss(target, amplitude: float, percentile: float = 99.0):
    """A Keras loss on a neuron probe.

    ``y_pred`` is ``(batch, steps, neurons)``; the target array it receives is a
    placeholder and ignored.

    Parameters
    ----------
    target : float or tuple of (float, float)
        A target ``T`` Hz, or a range ``(low, high)`` Hz (see the module docstring).
    amplitude : float
        The layer's amplitude, which includes its ``scale_firing_rates``; the loss
        divides by it so targets are in Hz.
    percentile : float
        For a range: the percentile of each neuron's rate over the minibatch that is
        penalized.

    Returns
    -------
    callable
        ``loss(y_true, y_pred)``.
    """
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    amplitude = float(amplitude)
    if isinstance(target, tuple):
        low, high = target

        def range_loss(y_true, y_pred):
            rates = y_pred / amplitude
            rates = tf.reshape(rates, (-1, tf.shape(rates)[-1]))
            ordered = tf.sort(rates, axis=0)
            n = tf.shape(ordered)[0]
            index = tf.cast(tf.round((percentile / 100.0) * tf.cast(n - 1, tf.float32)),
                            tf.int32)
            top = ordered[index]
            below = tf.nn.relu(low - top) / high
            above = tf.nn.relu(top - high) / high
            return tf.reduce_mean(below ** 2 + above ** 2)

        return range_loss

    target = float(target)

    def mse_loss(y_true, y_pred):
        return tf.reduce_mean(((y_pred / amplitude - target) / target) ** 2, axis=-1)

    return mse_loss
