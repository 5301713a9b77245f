"""snnkit.tuning: keras-tuner searches over per-layer scales and rate targets, local or
distributed.

>>> from snnkit.tuning import ScaleSearch
>>> search = ScaleSearch(network, x_val, y_val, objective="accuracy",
...                      constraints={"synaptic_ops": 2e6}, max_trials=20,
...                      directory="out/tune")
>>> search.search().results_summary()
>>> search.export_best("out/tune/best.snn.npz")

Multi-process and multi-machine runs: see ``tuning/README.md``; the CLI entry points are
:func:`run_search`, :func:`run_chief`, :func:`run_worker` (each takes a configuration
dict or JSON path, see :mod:`snnkit.tuning.config`; ``python -m snnkit.tuning`` wraps
them).
"""

from snnkit._stack import import_tensorflow

import_tensorflow()  # keras-tuner imports TensorFlow: let it start quietly

from .config import build_search, load_config, run_chief, run_search, run_worker
from .distributed import role_env
from .errors import (
    ChiefUnreachableError,
    FailedTrialError,
    SearchConfigError,
    SearchLockedError,
    SearchStateError,
)
from .objective import SearchObjective, metric_direction, reported_metrics
from .rate_search import RateTargetSearch
from .scale_search import ScaleSearch
from .tuner import ORACLES, SnnSearch

__all__ = [
    "ORACLES",
    "ChiefUnreachableError",
    "FailedTrialError",
    "RateTargetSearch",
    "ScaleSearch",
    "SearchConfigError",
    "SearchLockedError",
    "SearchStateError",
    "SearchObjective",
    "SnnSearch",
    "build_search",
    "load_config",
    "metric_direction",
    "reported_metrics",
    "role_env",
    "run_chief",
    "run_search",
    "run_worker",
]
