"""Searches from a JSON configuration: what ``snnkit tune`` and ``python -m
snnkit.tuning`` run, locally, as the chief, or as a worker.

A configuration (a dict, or the path of a JSON file)::

    {
      "search": "scale",                    # or "rate"
      "network": "out/demo/seed.snn.npz",   # scale: a FrozenNetwork file
      "model": "seed_convnet",              # rate: a model from snnkit.models
      "data": {"n_train": 2000, "n_val": 500, "val_from": "train"},
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

``data.val_from``: ``"train"`` (default) takes the *last* ``n_val`` training images
(rate searches train on the first ``n_train``; the two may not overlap), ``"test"``
the first ``n_val`` test images.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from snnkit.validation import check_int

from .distributed import role_env
from .errors import SearchConfigError

SEARCHES = ("scale", "rate")
_KEYS = {"search", "network", "model", "data", "options", "export", "summary"}
_DATA_KEYS = {"dataset", "n_train", "n_val", "val_from"}


def load_config(config) -> dict:
    """A configuration dict from a dict or a JSON file path, checked."""
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise SearchConfigError(f"config: no such file: {path}") from None
        except json.JSONDecodeError as e:
            raise SearchConfigError(f"config: {path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise SearchConfigError(
            f"config: expected a dict or a JSON file path, got {type(config).__name__}")
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise SearchConfigError(f"config: unknown key(s) {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(_KEYS))}")
    if config.get("search") not in SEARCHES:
        raise SearchConfigError(f"config['search']: expected one of {', '.join(SEARCHES)}, "
                                f"got {config.get('search')!r}")
    data = config.get("data", {})
    if not isinstance(data, dict) or set(data) - _DATA_KEYS:
        raise SearchConfigError(f"config['data']: expected a dict with keys among "
                                f"{', '.join(sorted(_DATA_KEYS))}, got {data!r}")
    if data.get("dataset", "mnist") != "mnist":
        raise SearchConfigError(
            f"config['data']['dataset']: only 'mnist' is built in, got {data['dataset']!r}")
    return config


def build_search(config):
    """The :class:`ScaleSearch` or :class:`RateTargetSearch` a configuration describes
    (not run yet)."""
    config = load_config(config)
    options = _from_json(dict(config.get("options", {})))
    train, (x_val, y_val) = _load_data(config)
    if config["search"] == "scale":
        from snnkit.frozen import FrozenNetwork

        from .scale_search import ScaleSearch

        if "network" not in config:
            raise SearchConfigError("config['network']: a scale search needs the path of "
                                    "a FrozenNetwork file (.snn.npz)")
        network = FrozenNetwork.load(config["network"])
        return _construct(ScaleSearch, network, x_val, y_val, **_kwargs(options))
    from snnkit import models

    from .rate_search import RateTargetSearch

    name = config.get("model", "seed_convnet")
    factory = getattr(models, name, None)
    if name.startswith("_") or not callable(factory):
        known = [n for n in dir(models) if n.endswith("convnet")]
        raise SearchConfigError(f"config['model']: unknown model {name!r}; "
                                f"known: {', '.join(known)}")
    return _construct(RateTargetSearch, factory, train, x_val, y_val, **_kwargs(options))


def _construct(cls, *args, **options):
    try:
        return cls(*args, **options)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise SearchConfigError(f"config['options']: {e}") from None


def run_search(config, *, print_summary: bool = True):
    """Build and run the search of ``config`` (locally, or in whatever role the
    ``KERASTUNER_*`` environment gives this process); on the chief or a local run,
    print the summary and write ``export`` / ``summary``. Returns the search."""
    config = load_config(config)
    search = build_search(config)
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
    """Run ``config`` as the chief: serve the oracle on ``address:port`` until every
    worker has finished (and, with ``expected_workers``, until that many workers have
    checked in), then summarize and export like :func:`run_search`."""
    if expected_workers is not None:
        config = dict(load_config(config))
        config["options"] = dict(config.get("options", {}),
                                 expected_workers=expected_workers)
    with _environment(role_env("chief", address, port)):
        return run_search(config, **kwargs)


def run_worker(config, *, address: str, port: int = 8000, worker_id=None,
               chief_timeout_s: float = 120.0):
    """Run ``config`` as a worker of the chief at ``address:port`` until the chief
    has no trial left. Raises :class:`ChiefUnreachableError` if the chief does not
    answer within ``chief_timeout_s``."""
    config = dict(load_config(config))
    config["options"] = dict(config.get("options", {}), chief_timeout_s=chief_timeout_s)
    with _environment(role_env("worker", address, port, worker_id)):
        return run_search(config, print_summary=False)


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


def _load_data(config):
    import snnkit
    from snnkit.data import N_TEST, N_TRAIN

    data = config.get("data", {})
    n_train, n_val = data.get("n_train"), data.get("n_val", 500)
    val_from = data.get("val_from", "train")
    if val_from not in ("train", "test"):
        raise SearchConfigError(
            f"config['data']['val_from']: expected 'train' or 'test', got {val_from!r}")
    val_limit = N_TEST if val_from == "test" else N_TRAIN
    check_int("config['data']['n_val']", n_val, low=1, high=val_limit,
              what=f"MNIST {'test' if val_from == 'test' else 'training'} images, "
                   f"val_from {val_from!r}", error=SearchConfigError)
    if n_train is not None:
        check_int("config['data']['n_train']", n_train, low=1, high=N_TRAIN,
                  what="MNIST training images", error=SearchConfigError)
    if val_from == "test":
        (x_train, y_train), (x_test, y_test) = snnkit.load_mnist(n_train, n_val)
        return (x_train, y_train), (x_test, y_test)
    (x_all, y_all), _ = snnkit.load_mnist(None, 0)
    n_train = n_train if n_train is not None else len(x_all) - n_val
    if n_train + n_val > len(x_all):
        raise SearchConfigError(
            f"config['data']: n_train + n_val must be <= {len(x_all)} (training images) "
            f"with val_from 'train', got {n_train} + {n_val}")
    return (x_all[:n_train], y_all[:n_train]), (x_all[-n_val:], y_all[-n_val:])


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
