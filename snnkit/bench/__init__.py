"""Backend benchmarks: one FrozenNetwork, several backends, the same inputs.

For every backend (a *case*) :func:`run_bench` records accuracy at each time step (the
accuracy–latency curve), final accuracy, time to decision, per-layer rates, synaptic
operations, an energy *estimate* per inference, wall time and images/s. It writes

- ``cases/<backend>.json`` and ``cases/<backend>.npz`` (per-step outputs): one pair
  per case, each written atomically, the JSON last, so a case whose JSON exists is
  complete. A re-run with the same output folder and the same settings skips it;
  with other settings it is run again and replaced (atomically: the old file stays
  whole until the new one is complete).
- ``neuron_rates.npz``: per-neuron firing rates from one small NengoDL pass with the
  network's neuron type (the backends report per-layer means only).
- ``bench.json`` (everything plus the environment), ``bench.csv`` (one row per
  backend), ``accuracy_by_step.csv`` (one row per backend and step) and the PNG
  plots of :mod:`snnkit.plots`.

Energy is an estimate from operation counts with Loihi's per-operation figures as
KerasSpiking uses them (Davies et al. 2018, IEEE Micro 38(1)): 27.1 pJ per synaptic
operation and 81 pJ per neuron update. It is not a measurement.

The package: :mod:`.run` (settings, checks, the run), :mod:`.store` (the files a run
keeps and what a stored case must match to be reused), :mod:`.energy` (the energy
model) and :mod:`.report` (CSV files and the printed table).
"""

from snnkit.bench.energy import (
                     ENERGY_SOURCE,
                     PJ_PER_NEURON_UPDATE,
                     PJ_PER_SYNOP,
                     energy_estimate,
)
from snnkit.bench.report import CSV_FIELDS, format_first_spikes, format_table
from snnkit.bench.run import (
                     SLOW_BACKENDS,
                     BenchConfig,
                     check_backends,
                     decision_step,
                     neuron_rates,
                     run_bench,
                     run_case,
)
from snnkit.bench.store import (
                     CASE_FORMAT,
                     check_writable_dir,
                     file_sha256,
                     network_sha256,
)

__all__ = [
    "CASE_FORMAT", "CSV_FIELDS", "ENERGY_SOURCE", "PJ_PER_NEURON_UPDATE", "PJ_PER_SYNOP",
    "SLOW_BACKENDS", "BenchConfig", "check_backends", "check_writable_dir",
    "decision_step", "energy_estimate", "file_sha256", "format_first_spikes",
    "format_table", "network_sha256", "neuron_rates", "run_bench", "run_case",
]
