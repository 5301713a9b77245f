"""ScaleSearch: post-training search of per-layer ``scale_firing_rates`` (log scale),
optionally ``synapse`` and ``n_steps``. No retraining: each trial is the same weights
with other scales, run on a backend over a validation subset."""

from __future__ import annotations

import math

import numpy as np
from keras_tuner import HyperParameters

from snnkit.convert.freeze import from_keras
from snnkit.exceptions import (
    BackendCapabilityError,
    BackendUnavailable,
    SnnkitError,
    UnknownNameError,
    ValidationError,
)
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.validation import check_int, check_labels, is_number

from .errors import SearchConfigError
from .objective import metrics_from_result, reported_metrics
from .space import add_dimension, check_bounds, spec_range
from .tuner import SnnSearch

SCALE_PREFIX = "scale/"
SYNAPSE = "synapse_s"
N_STEPS = "n_steps"


class ScaleSearch(SnnSearch):
    """Search per-layer scales of a trained network on a backend.

    Hyperband's budget unit is a share of the validation set: a trial with budget
    ``b`` runs on the first ``ceil(n_val * b / hyperband_max_budget)`` inputs.

    Every trial reports :func:`~snnkit.tuning.reported_metrics`; see
    :class:`~snnkit.tuning.tuner.SnnSearch` for the shared parameters.

    Parameters
    ----------
    network : FrozenNetwork or tf.keras.Model
        A :class:`~snnkit.FrozenNetwork`, or a trained Keras model (frozen here with
        ``neuron_type`` and ``synapse``).
    x_val, y_val : array_like
        Validation images and labels (use data the network was not trained on and
        that is not your final test set).
    scales : dict or None
        ``{layer: (low, high)}`` (log-uniform), ``{layer: [values]}`` or
        ``{layer: value}`` (fixed), for any neuron layer. Layers not given, among
        ``layers``, are searched in ``scale_range`` around their current scale.
    layers : sequence of str or None
        Neuron layers to search (default: the on-chip layers, plus those named in
        ``scales``).
    scale_range : tuple of (float, float)
        ``(down, up)`` factors around the current (e.g. calibrated) scale:
        ``(s / down, s * up)``; default (4, 4).
    calibrate_to_hz : float or None
        If given, first calibrate the scales to this rate with
        :meth:`snnkit.Trainer.calibrate` on ``x_calibrate[:n_calibrate]`` and search
        around them.
    x_calibrate : array_like or None
        Images to calibrate on (needed with ``calibrate_to_hz``): never the
        validation images, which must stay held out.
    n_calibrate : int
        See ``calibrate_to_hz``.
    synapse : None, float, tuple or list
        None (keep the network's), seconds, ``(low, high)`` or a list.
    n_steps : int, tuple or list
        Steps per input: an int, ``(low, high)`` or a list.
    backend : str
        Backend name; default ``"loihi-emulator-fast"`` (Loihi-exact;
        ``"nengo-dl"``, ``"loihi-emulator"``, ... also work).
    backend_options : dict or None
        Go to the backend's constructor.
    check_cores : bool
        Plan Loihi cores for every trial even on a non-Loihi backend, so a
        configuration that would not fit fails as it would on the chip.
    neuron_type : str
        Used when ``network`` is a Keras model.
    n_val : int or None
        Take the first ``n_val`` validation inputs.
    **search_options
        The shared parameters of :class:`~snnkit.tuning.tuner.SnnSearch`.
    """

    default_project_name = "scale_search"

    def __init__(self, network, x_val, y_val, *, scales=None, layers=None,
                 scale_range=(4.0, 4.0), calibrate_to_hz: float | None = None,
                 x_calibrate=None, n_calibrate: int = 200, synapse=None, n_steps=30,
                 backend: str = "loihi-emulator-fast", backend_options=None,
                 check_cores: bool = False, neuron_type="loihi-relu",
                 n_val: int | None = None, **search_options):
        self.network = _as_network(network, neuron_type, synapse)
        x_val, y_val = _check_validation(x_val, y_val, n_val, self.network)
        self.x_val, self.y_val = x_val, y_val
        self.backend_name = backend
        self.backend = _get_backend(backend, backend_options or {}, self.network)
        self.check_cores = bool(check_cores)
        layers = _check_layers(self.network, scales, layers)
        if calibrate_to_hz is not None:
            if x_calibrate is None:
                raise SearchConfigError(
                    "x_calibrate: calibrate_to_hz needs images to calibrate on, other "
                    "than the held-out validation images; got none")
            self.network = _calibrate(self.network, x_calibrate[:n_calibrate],
                                      calibrate_to_hz, n_steps)
        hp = HyperParameters()
        down, up = _check_range(scale_range)
        for layer in layers:
            given = (scales or {}).get(layer)
            if given is None:
                start = self.network.scale(layer)
                given = (start / down, start * up)
            add_dimension(hp, SCALE_PREFIX + layer,
                          check_bounds(f"scales[{layer!r}]", given))
        self.layers = tuple(layers)
        if synapse is not None:
            add_dimension(hp, SYNAPSE, check_bounds("synapse", synapse))
        steps = check_bounds("n_steps", n_steps, integer=True)
        add_dimension(hp, N_STEPS, steps, integer=True)
        super().__init__(hyperparameters=hp,
                         reported=reported_metrics(self.network.neuron_layers),
                         steps_range=spec_range(steps), **search_options)

    def configure(self, values: dict) -> tuple[FrozenNetwork, int]:
        """The network and ``n_steps`` of a configuration (hyperparameter values)."""
        scales = dict(self.network.scale_firing_rates)
        for layer in self.layers:
            if SCALE_PREFIX + layer in values:
                scales[layer] = float(values[SCALE_PREFIX + layer])
        changes = {"scale_firing_rates": scales,
                   "metadata": dict(self.network.metadata, tuning={
                       k: v for k, v in values.items() if not k.startswith("tuner/")})}
        if SYNAPSE in values:
            changes["synapse"] = float(values[SYNAPSE])
        n_steps = int(values.get(N_STEPS, 30))
        return self.network.replace(**changes), n_steps

    def evaluate_trial(self, trial) -> dict:
        network, n_steps = self.configure(trial.hyperparameters.values)
        n = max(1, math.ceil(len(self.x_val) * self.trial_budget(trial)))
        if self.check_cores:
            from snnkit.backends.loihi.planning import plan_loihi_cores

            plan_loihi_cores(network)
        result = self.backend.run(network, self.x_val[:n], n_steps=n_steps)
        metrics = metrics_from_result(result, self.y_val[:n], network, self.latency)
        metrics["n_val"] = n
        return metrics

    def best_network(self) -> FrozenNetwork:
        """The best configuration's network (scales, synapse).

        With the search's figures in ``metadata["tuning"]``.
        """
        best = self.best_trial()
        network, n_steps = self.configure(best["hyperparameters"])
        tuning = dict(network.metadata.get("tuning", {}), n_steps=n_steps,
                      trial_id=best["trial_id"], objective=self.objective.describe(),
                      metrics=best["metrics"], backend=self.backend_name)
        return network.replace(metadata=dict(network.metadata, tuning=tuning))


def _as_network(network, neuron_type, synapse) -> FrozenNetwork:
    if isinstance(network, FrozenNetwork):
        return network
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        tf = None
    if tf is not None and isinstance(network, tf.keras.Model):
        fixed = synapse if isinstance(synapse, (int, float)) else None
        return from_keras(network, neuron_type=neuron_type, synapse=fixed)
    raise SearchConfigError(
        f"network: expected a snnkit.FrozenNetwork or a trained tf.keras.Model, "
        f"got {type(network).__name__}")


def _check_validation(x_val, y_val, n_val, network):
    """``(x, y)``: the first ``n_val`` validation inputs as float32 ``(N, size)`` (what
    every backend runs) and their labels, checked against ``network`` so that a bad
    set fails here, not as a failed trial."""
    from snnkit.network.inputs import check_inputs

    try:
        x = check_inputs(network, x_val, "x_val")
    except ValidationError as e:
        raise SearchConfigError(str(e)) from None
    n_classes = network.layer_shape(network.output_layer)[-1]
    y = check_labels("y_val", np.asarray(y_val).reshape(-1), len(x), n_classes,
                     error=SearchConfigError)
    if n_val is not None:
        check_int("n_val", n_val, low=1, high=len(x), what="len(x_val)",
                  error=SearchConfigError)
        x, y = x[:n_val], y[:n_val]
    return x, y


def _get_backend(name, options, network):
    from snnkit.backends import get_backend, registered_backends

    try:
        backend = get_backend(name, require_available=True, **options)
    except UnknownNameError:
        raise SearchConfigError(
            f"backend: {name!r} not found; registered backends: "
            f"{', '.join(registered_backends())}") from None
    except BackendUnavailable as e:
        raise SearchConfigError(f"backend: {e}") from None
    except TypeError as e:
        raise SearchConfigError(
            f"backend_options: {name!r} does not take them: {e}") from None
    except ValidationError as e:  # a setting out of range
        raise SearchConfigError(f"backend_options: {e}") from None
    try:
        backend.check_network(network)
    except (BackendCapabilityError, SnnkitError) as e:
        raise SearchConfigError(f"network: backend {name!r} cannot run it: {e}") from e
    return backend


def _check_layers(network, scales, layers):
    valid = network.neuron_layers
    if scales is not None and not isinstance(scales, dict):
        raise SearchConfigError(
            f"scales: expected a dict of neuron layer -> (low, high), list or value, "
            f"got {type(scales).__name__}")
    named = list(scales or {})
    chosen = list(network.on_chip_layers) if layers is None else list(layers)
    for name in named + chosen:
        if name not in valid:
            where = "scales" if name in named else "layers"
            raise SearchConfigError(
                f"{where}: unknown layer {name!r}; neuron layers are: "
                f"{', '.join(valid)}")
    ordered = [name for name in valid if name in set(chosen) | set(named)]
    if not ordered:
        raise SearchConfigError(
            f"layers: nothing to search (no on-chip layer and no layer named); neuron "
            f"layers are: {', '.join(valid)}")
    return ordered


def _check_range(scale_range):
    if not (isinstance(scale_range, (tuple, list)) and len(scale_range) == 2 and all(
            is_number(v) and v >= 1 for v in scale_range)) \
            or tuple(scale_range) == (1, 1):
        raise SearchConfigError(
            f"scale_range: expected (down, up) factors >= 1, not both 1, got "
            f"{scale_range!r}")
    return float(scale_range[0]), float(scale_range[1])


def _calibrate(network, x, target_rate_hz, n_steps) -> FrozenNetwork:
    from snnkit.training.trainer import Trainer

    steps = n_steps if isinstance(n_steps, int) else 30
    trainer = Trainer(enable_progress_bar=False, synapse=network.synapse, dt=network.dt)
    cal = trainer.calibrate(network, x, target_rate_hz=target_rate_hz,
                            neuron_type=network.neuron, n_steps=steps)
    return network.replace(scale_firing_rates=cal.scales, metadata=dict(
        network.metadata, calibration={"target_rate_hz": cal.target_rate_hz,
                                       "rates_hz": cal.rates_hz,
                                       "converged": cal.converged}))
