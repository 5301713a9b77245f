"""Searches from a JSON configuration: what ``snnkit tune`` and ``python -m
snnkit.tuning`` run, locally, as the chief, or as a worker.

A configuration (a dict, or the path of a JSON file)::

    {
      "search": "scale",                    # or "rate"
      "network": "out/demo/seed.snn.npz",   # scale: a FrozenNetwork file
      "model": "seed_convnet",              # rate: a model from snnkit.models
      "data": {"n_train": 2000, "n_val": 500, "val_from": "test"},
      "options": {                          # ScaleSearch / RateTargetSearch arguments
        "scales": {"conv0": {"low": 10, "high": 100}},
        "objective": "accuracy", "constraints": {"synaptic_ops": 2e6},
        "oracle": "bayesian", "max_trials": 20,
        "directory": "out/tune", "project_name": "seed_scales"
      },
      "export": "out/tune/best.snn.npz",    # optional: best FrozenNetwork
      "summary": "out/tune/summary.json"    # optional: every trial as JSON
    }

JSON has no tuples: a search range is ``{"low": a, "high": b}``; a list is a set of
values to choose from; a number is fixed. A constraint may be ``[">=", 0.98]``.

``data``: which images train, calibrate and validate, and the check that validation
images are held out: see :mod:`snnkit.tuning.data_split`. ``options.objective`` may
be a latency objective (``"accuracy_at_steps/10"``, ``"steps_to_accuracy/98"``,
``"pareto"``, ``"pareto/98"``: :mod:`snnkit.tuning.latency`);
:func:`with_objective` replaces it (``snnkit tune --objective``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from snnkit.exceptions import SnnkitError, ValidationError
from snnkit.utils.files import check_json_value

from .config_check import MAX_CONFIG_DEPTH, check_config, read_config_file
from .data_split import data_split, network_record
from .distributed import role_env
from .errors import SearchConfigError


def load_config(config) -> dict:
    """A configuration dict from a dict or a JSON file path, checked field by field.

    The file is read bounded and every field checked by type and range, every path
    too (:mod:`snnkit.tuning.config_check`), before anything is loaded or run.

    Parameters
    ----------
    config : dict, str or os.PathLike
        A configuration, or the path of its JSON file.

    Returns
    -------
    dict
        The configuration as read, every field checked (nothing filled in).

    Raises
    ------
    SearchConfigError
        For a missing or unreadable file, or an invalid configuration, naming the
        field.
    """
    path = None
    if isinstance(config, (str, os.PathLike)):
        path = config
        config = read_config_file(path)
    elif isinstance(config, dict):
        try:
            check_json_value("config", config, MAX_CONFIG_DEPTH)
        except ValidationError as e:
            raise SearchConfigError(str(e)) from None
    else:
        raise SearchConfigError(
            f"config: expected a dict or a JSON file path, got {type(config).__name__}")
    return check_config(config, path)


def build_search(config):
    """The search a configuration describes (not run yet).

    Parameters
    ----------
    config : dict, str or os.PathLike
        Read and checked by :func:`load_config`.

    Returns
    -------
    ScaleSearch or RateTargetSearch
        Set up with the configuration's data split, options and network (for a
        scale search); :meth:`search` runs it.

    Raises
    ------
    SearchConfigError
        As :func:`load_config`, or for a ``network`` file that does not load.
    """
    config = load_config(config)
    options = _from_json(dict(config.get("options", {})))
    split = data_split(config.get("data", {}), search=config["search"],
                       n_calibrate=options.get("n_calibrate", 200))
    if config["search"] == "scale":
        from snnkit.network.frozen import FrozenNetwork

        from .scale_search import ScaleSearch

        if "network" not in config:
            raise SearchConfigError("config['network']: a scale search needs the path of "
                                    "a FrozenNetwork file (.snn.npz)")
        try:
            network = FrozenNetwork.load(config["network"])
        except SnnkitError as e:
            raise SearchConfigError(f"config['network']: {e}") from None
        split.check_held_out(network_record(network), trained_elsewhere=True)
        (x_train, _), (x_val, y_val) = split.load()
        if options.get("calibrate_to_hz") is not None:
            options["x_calibrate"] = x_train[slice(*split.calibrate)]
        return _construct(ScaleSearch, network, x_val, y_val, **_kwargs(options))
    split.check_held_out()
    train, (x_val, y_val) = split.load()
    from snnkit import models

    from .rate_search import RateTargetSearch

    name = config.get("model", "seed_convnet")
    factory = getattr(models, name, None)
    if name.startswith("_") or not callable(factory) or not _needs_no_arguments(factory):
        known = [n for n in dir(models) if n.endswith("convnet")]
        raise SearchConfigError(f"config['model']: unknown model {name!r}; "
                                f"known: {', '.join(known)}")
    return _construct(RateTargetSearch, factory, train, x_val, y_val, **_kwargs(options))


def _needs_no_arguments(factory) -> bool:
    """Whether ``factory()`` can be called (every parameter has a default)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in parameters)


def with_objective(config, objective: str | None) -> dict:
    """``config`` with ``options.objective`` replaced by ``objective``.

    Parameters
    ----------
    config : dict, str or os.PathLike
        A configuration, or the path of its JSON file.
    objective : str or None
        The new objective (None: ``config`` unchanged).

    Returns
    -------
    dict
        A copy of the loaded configuration (``config`` itself is not changed).
    """
    config = dict(load_config(config))
    if objective is not None:
        config["options"] = dict(config.get("options", {}), objective=objective)
    return config


# the search's arguments that come from the configuration's data, not its options
_DATA_ARGUMENTS = ("x_val", "y_val", "train_data", "x_calibrate")


def _construct(cls, *args, **options):
    """``cls(*args, **options)``; an error about one of its arguments names the
    configuration's field it came from (``config['options']['objective']``,
    ``config['data']`` for the images)."""
    try:
        return cls(*args, **options)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise SearchConfigError(f"config['options']: {e}") from None
    except SnnkitError as e:
        message = str(e)
        if message.startswith("config["):
            raise
        argument = message.split(":", 1)[0]
        where = ("config['data']" if argument in _DATA_ARGUMENTS else
                 f"config['options'][{argument!r}]" if argument in options else
                 "config")
        raise SearchConfigError(f"{where}: {message}") from None


def run_search(config, *, print_summary: bool = True, on_trial_end=None):
    """Build and run the search of ``config``.

    Locally, or in whatever role the ``KERASTUNER_*`` environment gives this process;
    on the chief or a local run, print the summary and write ``export`` /
    ``summary``.

    Parameters
    ----------
    config : dict, str or os.PathLike
        A configuration, or the path of its JSON file.
    print_summary : bool
        Print the summary.
    on_trial_end : callable or None
        ``on_trial_end(search, trial)``, called after each trial this process runs
        has ended and been recorded (keras-tuner's ``on_trial_end``): how ``snnkit
        tune`` reports progress.

    Returns
    -------
    ScaleSearch or RateTargetSearch
        The search.
    """
    config = load_config(config)
    search = build_search(config)
    for key in ("export", "summary"):  # checked already; their folders made now
        if config.get(key):
            Path(config[key]).parent.mkdir(parents=True, exist_ok=True)
    if on_trial_end is not None:
        _observe_trials(search, on_trial_end)
    search.search()
    from . import distributed

    if not distributed.is_worker():
        if print_summary:
            search.results_summary()
        if config.get("summary"):
            search.write_summary(config["summary"])
        if config.get("export"):
            search.export_best(config["export"])
    return search


def run_chief(config, *, address: str = "0.0.0.0", port: int = 8000,
              expected_workers: int | None = None, **kwargs):
    """Run ``config`` as the chief.

    Serve the oracle on ``address:port`` until every worker has finished (and, with
    ``expected_workers``, until that many workers have checked in), then summarize
    and export like :func:`run_search`.

    Parameters
    ----------
    config : dict, str or os.PathLike
        A configuration, or the path of its JSON file.
    address, port : str, int
        Where the oracle is served.
    expected_workers : int or None
        How many workers to wait for.
    **kwargs
        Of :func:`run_search`.

    Returns
    -------
    ScaleSearch or RateTargetSearch
        The search.
    """
    if expected_workers is not None:
        config = dict(load_config(config))
        config["options"] = dict(config.get("options", {}),
                                 expected_workers=expected_workers)
    with _environment(role_env("chief", address, port)):
        return run_search(config, **kwargs)


def run_worker(config, *, address: str, port: int = 8000, worker_id=None,
               chief_timeout_s: float = 120.0, on_trial_end=None):
    """Run ``config`` as a worker of the chief at ``address:port``.

    It runs until the chief has no trial left.

    Parameters
    ----------
    config : dict, str or os.PathLike
        A configuration, or the path of its JSON file.
    address, port : str, int
        Where the chief serves its oracle.
    worker_id : str, int or None
        The worker's name is ``worker<worker_id>`` (default: its process id).
    chief_timeout_s : float
        Seconds the chief may take to answer.
    on_trial_end : callable or None
        As in :func:`run_search`.

    Returns
    -------
    ScaleSearch or RateTargetSearch
        The search.

    Raises
    ------
    ChiefUnreachableError
        If the chief does not answer within ``chief_timeout_s``.
    """
    config = dict(load_config(config))
    config["options"] = dict(config.get("options", {}), chief_timeout_s=chief_timeout_s)
    with _environment(role_env("worker", address, port, worker_id)):
        return run_search(config, print_summary=False, on_trial_end=on_trial_end)


def _observe_trials(search, listener) -> None:
    """Call ``listener(search, trial)`` after keras-tuner's per-trial hook of this
    search object (its public ``on_trial_end``)."""
    recorded = search.on_trial_end

    def on_trial_end(trial):
        recorded(trial)
        listener(search, trial)

    search.on_trial_end = on_trial_end


@contextlib.contextmanager
def _environment(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _from_json(value):
    """``{"low": a, "high": b}`` -> ``(a, b)``, recursively."""
    if isinstance(value, dict):
        if set(value) == {"low", "high"}:
            return (value["low"], value["high"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _kwargs(options: dict) -> dict:
    # a constraint given as a JSON list ([">=", 0.98]) is a pair, not a choice
    if isinstance(options.get("constraints"), dict):
        options["constraints"] = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in options["constraints"].items()}
    return options
