"""The benchmark's report: the CSV files and the printed table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from snnkit.bench.energy import ENERGY_SOURCE
from snnkit.utils.files import atomic_write
from snnkit.utils.text_table import text_table

CSV_FIELDS = (
    "backend", "n_images", "n_steps", "accuracy", "decision_step_within_1pct",
    "time_to_decision_steps_mean", "time_to_decision_steps_p95",
    "output_onset_steps_mean", "output_onset_steps_p95", "agreement", "agreement_with",
    "reference_accuracy_same_images", "build_time_s", "run_time_s", "images_per_s",
    "wall_time_s", "synaptic_ops_per_inference", "neuron_updates_per_inference",
    "energy_estimate_uj_per_inference",
)


def write_csv(path: Path, cases, env) -> Path:
    """Write ``bench.csv`` atomically: one row per case.

    Parameters
    ----------
    path : Path
        Where to write it.
    cases : list of dict
        The bench cases; each row also has the case's per-layer rates (Hz).
    env : dict
        The machine environment, added to every row (the BLAS libraries as one
        ``blas`` column: library, version, kernel, threads).

    Returns
    -------
    Path
        ``path``.
    """
    layers = list(dict.fromkeys(name for c in cases for name in c["layer_rates_hz"]))
    from snnkit.utils.environment import blas_summary

    env_fields = {"date": env["date"], "cpu": env["cpu"], "python": env["python"],
                  "blas": blas_summary(env.get("blas", [])),
                  "blas_variables": " ".join(f"{k}={v}" for k, v in env.get(
                      "blas_variables", {}).items())}
    env_fields.update({f"version_{k}": v for k, v in env["versions"].items()})
    header = list(CSV_FIELDS) + [f"rate_hz_{n}" for n in layers] + list(env_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for c in cases:
        e = c["energy_estimate"]
        onset = (c.get("first_spike_steps") or {}).get("output") or {}
        row = [c["backend"], c["n_images"], c["key"]["n_steps"], c["accuracy"],
               c["decision_step_within_1pct"], c["time_to_decision_steps_mean"],
               c.get("time_to_decision_steps_p95"), onset.get("mean"), onset.get("p95"),
               c["agreement"], c["agreement_with"], c["reference_accuracy_same_images"],
               c["build_time_s"], c["run_time_s"], c["images_per_s"], c["wall_time_s"],
               e["synaptic_ops_per_inference"], e["neuron_updates_per_inference"],
               e["total_energy_uj"]]
        row += [c["layer_rates_hz"].get(n, "") for n in layers]
        row += list(env_fields.values())
        writer.writerow(row)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())
    return path


def write_steps_csv(path: Path, cases, dt_s: float) -> Path:
    """Write ``accuracy_by_step.csv`` atomically: one row per case and step.

    Parameters
    ----------
    path : Path
        Where to write it.
    cases : list of dict
        The bench cases.
    dt_s : float
        The step length in seconds.

    Returns
    -------
    Path
        ``path``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["backend", "step", "time_ms", "accuracy", "n_images",
                     "output_received_fraction"])
    for c in cases:
        received = c.get("output_received_by_step") or [""] * len(c["accuracy_by_step"])
        for i, acc in enumerate(c["accuracy_by_step"]):
            writer.writerow([c["backend"], i + 1, round((i + 1) * dt_s * 1000, 6), acc,
                             c["n_images"], received[i]])
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())
    return path


_COLUMNS = (("backend", "<", 20), ("images", ">", 6), ("accuracy", ">", 9),
            ("ref@same", ">", 8), ("agree", ">", 6), ("decide@", ">", 7),
            ("TTD", ">", 5), ("synops/inf", ">", 11), ("energy µJ*", ">", 10),
            ("build s", ">", 7), ("run s", ">", 7), ("img/s", ">", 7))
# the per-layer tables stand to the right of their title, which is this wide
_TITLE_WIDTH = 33


def format_table(report: dict) -> str:
    """The cases as a printable table."""
    rows = [[name for name, _, _ in _COLUMNS]]
    for c in report["cases"]:
        e = c["energy_estimate"]
        rows.append([
            c["backend"], str(c["n_images"]), f"{100 * c['accuracy']:.2f}%",
            f"{100 * c['reference_accuracy_same_images']:.2f}%",
            f"{100 * c['agreement']:.1f}%", str(c["decision_step_within_1pct"]),
            f"{c['time_to_decision_steps_mean']:.1f}",
            f"{e['synaptic_ops_per_inference']:.3g}", f"{e['total_energy_uj']:.2f}",
            f"{c['build_time_s']:.1f}", f"{c['run_time_s']:.1f}",
            f"{c['images_per_s']:.2f}"])
    lines = text_table(rows, "".join(a for _, a, _ in _COLUMNS),
                       widths=[w for _, _, w in _COLUMNS], rule="line")
    for i, c in enumerate(report["cases"]):
        if c.get("resumed"):
            lines[i + 2] += "  (resumed)"
    layers = report["network"]["neuron_layers"]
    lines.append("")
    rows = [["backend", *layers]] + [
        [c["backend"], *(f"{c['layer_rates_hz'].get(n, float('nan')):.1f}"
                         for n in layers)] for c in report["cases"]]
    lines += _titled("mean rate of active neurons, Hz:", text_table(
        rows, "<" + ">" * len(layers), widths=[20] + [10] * len(layers)))
    lines += format_first_spikes(report["cases"], layers)
    lines.append("")
    lines.append(f"ref@same: {report['cases'][0]['backend']}'s accuracy on the same "
                 "images (capped backends run the first N)")
    lines.append("agree: predictions equal to the first backend's on the same images; "
                 "decide@: first step from which accuracy stays within 1 point of its "
                 "final value (or within one image); TTD: mean per-image time to "
                 "decision (steps)")
    lines.append("first spike: step of each layer's first spike on an input (any "
                 "neuron), mean / 95th percentile over inputs; 'output': first step at "
                 "which the output is more than its bias; '-': more than 5% never")
    lines.append(f"* energy per inference is an ESTIMATE: {ENERGY_SOURCE}; on-chip "
                 "neurons updated every step")
    lines.append(format_speed_note(report))
    return "\n".join(lines)


def format_speed_note(report: dict) -> str:
    """What the speed columns measure, and the BLAS behind them."""
    from snnkit.utils.environment import blas_summary

    env = report.get("environment", {})
    variables = " ".join(f"{k}={v}" for k, v in env.get("blas_variables", {}).items())
    imports = (report.get("timing") or {}).get("stack_import_s")
    after = "" if imports is None else f", after {imports:.1f} s of imports"
    return (f"build s: Backend.prepare (conversion, core plan){after}; run s and "
            f"img/s: the run alone; BLAS: {blas_summary(env.get('blas', []))}"
            + (f" ({variables})" if variables else ""))


def format_first_spikes(cases, layers) -> list:
    """Table lines of first-spike steps and times to decision, one per case.

    Per case, each layer's first-spike step (mean / p95) and the output's onset, then
    the time to decision (mean / p95).

    Parameters
    ----------
    cases : list of dict
        The bench cases.
    layers : sequence of str
        The neuron layers, in order.

    Returns
    -------
    list of str
    """
    names = list(layers) + ["output"]
    rows = [["backend", *names, "TTD"]]
    for c in cases:
        stats = c.get("first_spike_steps") or {}
        cells = []
        for name in names:
            s = stats.get(name)
            cells.append("n/a" if s is None or s["mean"] is None else
                         f"{s['mean']:5.1f} / {_step(s['p95'])}")
        ttd = f"{c['time_to_decision_steps_mean']:5.1f} / " \
              f"{_step(c.get('time_to_decision_steps_p95'))}"
        rows.append([c["backend"], *cells, ttd])
    return [""] + _titled("first spike step, mean / p95:", text_table(
        rows, "<" + ">" * (len(names) + 1), widths=[20] + [11] * (len(names) + 1)))


def _titled(title: str, table: list) -> list:
    """The title left of the table's first line, the other lines indented under it."""
    return [title.ljust(_TITLE_WIDTH) + table[0]] + [
        " " * _TITLE_WIDTH + line for line in table[1:]]


def _step(value) -> str:
    return f"{'-':>3}" if value is None else f"{value:3.0f}"
