"""RateTargetSearch: search per-layer firing-rate targets (Hz) and the weight of the
rate regularization; each trial trains a fresh model with :class:`snnkit.Trainer`,
freezes it with the neuron type that will run, and evaluates it on a backend."""

from __future__ import annotations

import math
import os

from keras_tuner import HyperParameters

from snnkit.exceptions import SnnkitError, ValidationError
from snnkit.network.frozen import FrozenNetwork

from .errors import SearchConfigError
from .objective import metrics_from_result, reported_metrics
from .scale_search import _check_validation, _get_backend
from .space import add_dimension, check_bounds
from .tuner import SnnSearch

RATE_PREFIX = "rate_hz/"
RATE_WEIGHT = "rate_weight"
NETWORK_FILE = "network.snn.npz"
_SET_BY_SEARCH = ("rate_reg_hz", "rate_target_hz", "rate_weight", "default_root_dir",
                  "enable_progress_bar")


class RateTargetSearch(SnnSearch):
    """Search rate targets and regularization weight by training.

    Hyperband's budget unit is a training epoch (``hyperband_max_budget`` epochs at
    most; each trial trains from scratch for its budget). Each trial's network is
    saved in its trial folder, so :meth:`best_network` needs no retraining.

    Parameters
    ----------
    model : callable or tf.keras.Model
        A function returning a fresh, untrained Keras model (e.g.
        ``snnkit.models.seed_convnet``), or a Keras model whose *current* weights
        every trial starts from.
    train_data : tuple
        ``(x, y)`` for :meth:`snnkit.Trainer.fit`.
    x_val, y_val : array_like
        Validation images and labels.
    rate_targets : dict or None
        ``{layer: (low, high)}`` Hz bounds (log-uniform), a list of values or a
        fixed value per layer; layers not given, among ``layers``, use
        ``default_rate_range``.
    layers : sequence of str or None
        Neuron layers to regularize (default: every neuron layer).
    default_rate_range : tuple of (float, float)
        Hz bounds of the layers ``rate_targets`` does not give.
    rate_weight : tuple, list or float
        ``(low, high)`` (log-uniform), a list, or a fixed number.
    trainer_options : dict or None
        Other :class:`snnkit.Trainer` arguments (``max_epochs``,
        ``minibatch_size``, ``neuron_type`` for training, ``scale_firing_rates``,
        ``seed``, ...).
    neuron_type, synapse, n_steps
        How the trained network is frozen and run.
    backend : str
        Default ``"loihi-emulator-fast"`` (Loihi-exact).
    backend_options : dict or None
        Go to the backend's constructor.
    calibrate_to_hz : float or None
        If given, calibrate scales after training (on the first ``n_calibrate``
        training images: validation images stay held out) before evaluating.
    n_calibrate : int
        See ``calibrate_to_hz``.
    n_val : int or None
        Take the first ``n_val`` validation inputs.
    **search_options
        The shared parameters of :class:`~snnkit.tuning.tuner.SnnSearch`.
    """

    default_project_name = "rate_target_search"

    def __init__(self, model, train_data, x_val, y_val, *, rate_targets=None, layers=None,
                 default_rate_range=(50.0, 500.0), rate_weight=(1.0, 100.0),
                 trainer_options=None, neuron_type="loihi-relu", synapse=0.005,
                 n_steps: int = 30, backend: str = "loihi-emulator-fast",
                 backend_options=None,
                 calibrate_to_hz: float | None = None, n_calibrate: int = 200,
                 n_val: int | None = None, **search_options):
        import tensorflow as tf

        from snnkit.training.trainer import Trainer

        if isinstance(model, tf.keras.Model):
            initial = [w.copy() for w in model.get_weights()]
            template = model

            def make_model():
                fresh = tf.keras.models.clone_model(template)
                fresh.set_weights(initial)
                return fresh

            self.make_model = make_model
        elif callable(model):
            self.make_model = model
        else:
            raise SearchConfigError(
                f"model: expected a Keras model or a function returning one, "
                f"got {type(model).__name__}")
        self.train_data = train_data
        options = dict(trainer_options or {})
        clash = [k for k in options if k in _SET_BY_SEARCH]
        if clash:
            raise SearchConfigError(
                f"trainer_options: {', '.join(clash)} are set by the search; remove them")
        options.setdefault("seed", 0)
        try:
            probe_trainer = Trainer(enable_progress_bar=False, **options)
        except TypeError as e:
            raise SearchConfigError(f"trainer_options: {e}") from e
        except ValidationError as e:
            raise SearchConfigError(f"trainer_options: {e}") from e
        self.trainer_options = options
        self.max_epochs = probe_trainer.max_epochs

        sample = self.make_model()
        try:
            self.template = probe_trainer.freeze(sample, neuron_type=neuron_type,
                                                 synapse=synapse)
        except SnnkitError as e:
            raise SearchConfigError(f"model/neuron_type/synapse: {e}") from e
        self.x_val, self.y_val = _check_validation(x_val, y_val, n_val, self.template)
        self.neuron_type, self.synapse, self.n_steps = neuron_type, synapse, n_steps
        if check_bounds("n_steps", n_steps, integer=True)[0] != "fixed":
            raise SearchConfigError(
                f"n_steps: expected one int > 0 (a rate search does not search it), "
                f"got {n_steps!r}")
        self.backend_name = backend
        self.backend = _get_backend(backend, backend_options or {}, self.template)
        self.calibrate_to_hz, self.n_calibrate = calibrate_to_hz, n_calibrate

        valid = self.template.neuron_layers
        rate_targets = dict(rate_targets or {})
        chosen = list(valid) if layers is None else list(layers)
        for name in list(rate_targets) + chosen:
            if name not in valid:
                where = "rate_targets" if name in rate_targets else "layers"
                raise SearchConfigError(
                    f"{where}: unknown layer {name!r}; neuron layers are: "
                    f"{', '.join(valid)}")
        check_bounds("default_rate_range", tuple(default_rate_range))
        training_on_loihi = probe_trainer.neuron_type.runs_on_loihi
        hp = HyperParameters()
        self.layers = tuple(n for n in valid if n in set(chosen) | set(rate_targets))
        for name in self.layers:
            given = rate_targets.get(name, tuple(default_rate_range))
            spec = check_bounds(f"rate_targets[{name!r}]", given)
            highest = max(spec[1]) if spec[0] != "fixed" else spec[1]
            if training_on_loihi and highest > 1.0 / self.template.dt:
                raise SearchConfigError(
                    f"rate_targets[{name!r}]: Loihi neurons fire at most once per step "
                    f"({1 / self.template.dt:.0f} Hz), got up to {highest:g} Hz")
            add_dimension(hp, RATE_PREFIX + name, spec)
        add_dimension(hp, RATE_WEIGHT, check_bounds("rate_weight", rate_weight))
        super().__init__(hyperparameters=hp,
                         reported=reported_metrics(valid) + ("train_accuracy",),
                         steps_range=(int(n_steps), int(n_steps)), **search_options)

    def evaluate_trial(self, trial) -> dict:
        from snnkit.training.trainer import Trainer

        values = trial.hyperparameters.values
        targets = {name: float(values[RATE_PREFIX + name]) for name in self.layers}
        epochs = values.get("tuner/epochs")
        options = dict(self.trainer_options)
        if epochs is not None:
            options["max_epochs"] = int(epochs)
        trial_dir = self.get_trial_dir(trial.trial_id)
        trainer = Trainer(rate_reg_hz=targets,
                          rate_weight=float(values[RATE_WEIGHT]),
                          default_root_dir=trial_dir, enable_progress_bar=False,
                          **options)
        model = self.make_model()
        history = trainer.fit(model, self.train_data)
        network = trainer.freeze(model, neuron_type=self.neuron_type,
                                 synapse=self.synapse, metadata={"tuning": {
                                     "rate_target_hz": targets,
                                     "rate_weight": float(values[RATE_WEIGHT]),
                                     "epochs": trainer.max_epochs,
                                     "train_accuracy": history[-1]["accuracy"]}})
        if self.calibrate_to_hz is not None:
            cal = trainer.calibrate(network, self.train_data[0][:self.n_calibrate],
                                    target_rate_hz=self.calibrate_to_hz,
                                    neuron_type=network.neuron, n_steps=self.n_steps,
                                    synapse=self.synapse)
            network = network.replace(scale_firing_rates=cal.scales)
        network.save(os.path.join(trial_dir, NETWORK_FILE))
        result = self.backend.run(network, self.x_val, n_steps=self.n_steps)
        metrics = metrics_from_result(result, self.y_val, network, self.latency)
        metrics["train_accuracy"] = history[-1]["accuracy"]
        metrics["epochs"] = len(history)
        if not math.isfinite(history[-1].get("loss", 0.0)):
            metrics["accuracy"] = 0.0
        return metrics

    def best_network(self) -> FrozenNetwork:
        """The network trained in the best trial (read from its trial folder)."""
        best = self.best_trial()
        path = os.path.join(self.project_dir, f"trial_{best['trial_id']}", NETWORK_FILE)
        if not os.path.isfile(path):
            raise SnnkitError(
                f"best_network: trial {best['trial_id']}'s network is not in {path}; "
                "in a distributed search it stays on the worker that trained it (copy "
                "its trial folder here)")
        network = FrozenNetwork.load(path)
        tuning = dict(network.metadata.get("tuning", {}), trial_id=best["trial_id"],
                      objective=self.objective.describe(), metrics=best["metrics"],
                      backend=self.backend_name, n_steps=self.n_steps)
        return network.replace(metadata=dict(network.metadata, tuning=tuning))
