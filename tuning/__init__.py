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

from __future__ import annotations

from snnkit.utils.lazy import lazy_exports

# public name -> the module that defines it; imported on first use (PEP 562), with
# TensorFlow (which keras-tuner imports) started quietly first, so that importing
# the package, and ``python -m snnkit.tuning --help``, load none of the heavy stack
_EXPORTS = {
    "ORACLES": "tuner",
    "ChiefUnreachableError": "errors",
    "FailedTrialError": "errors",
    "RateTargetSearch": "rate_search",
    "ScaleSearch": "scale_search",
    "SearchConfigError": "errors",
    "SearchLockedError": "errors",
    "SearchStateError": "errors",
    "SearchObjective": "objective",
    "SnnSearch": "tuner",
    "build_search": "config",
    "load_config": "config",
    "metric_direction": "objective",
    "reported_metrics": "objective",
    "role_env": "distributed",
    "run_chief": "config",
    "run_search": "config",
    "run_worker": "config",
}

__all__ = sorted(_EXPORTS)


def _start_tensorflow() -> None:
    from snnkit.utils.stack import import_tensorflow

    import_tensorflow()


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, before_first=_start_tensorflow)
