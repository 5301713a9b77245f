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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_write
from .environment import machine_environment
from .exceptions import UnknownNameError, ValidationError
from .frozen import FrozenNetwork

PJ_PER_SYNOP = 27.1
PJ_PER_NEURON_UPDATE = 81.0
ENERGY_SOURCE = ("Loihi figures as used by KerasSpiking (Davies et al. 2018, IEEE Micro "
                 "38(1)): 27.1 pJ per synaptic operation, 81 pJ per neuron update")
# Backends that run at about one image per second (BASELINE.md): their image count is
# capped so one bench stays bounded in time.
SLOW_BACKENDS = ("nengo", "loihi-emulator", "loihi")
CASE_FORMAT = 2  # 2: latency fields (first spikes, output onset, TTD p95)


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run.

    backends : names of the backends to compare (registry names).
    n_steps : time steps per input (of the network's ``dt``).
    presentation : ``"reset"`` or ``"sequential"`` (see :class:`~snnkit.backends.Backend`).
    max_images_slow : at most this many of the inputs for backends in
        :data:`SLOW_BACKENDS` (the first ones: every backend sees the same images).
    max_images : ``{backend: cap}`` overriding the default caps.
    n_hist : inputs for the per-neuron rate pass (histograms); 0 skips it.
    n_plot : inputs whose outputs over time are plotted.
    plots : write the PNG plots.
    progress : tqdm progress bars.
    """

    backends: tuple = ("nengo-dl", "loihi-emulator")
    n_steps: int = 30
    presentation: str = "reset"
    max_images_slow: int = 50
    max_images: dict = field(default_factory=dict)
    n_hist: int = 50
    n_plot: int = 3
    plots: bool = True
    progress: bool = True

    def cap(self, backend: str, n: int) -> int:
        if backend in self.max_images:
            return min(n, self.max_images[backend])
        if backend in SLOW_BACKENDS:
            return min(n, self.max_images_slow)
        return n


def check_backends(names) -> tuple:
    """Registered and available backend names, or an error that lists the valid ones."""
    from .backends import available_backends, get_backend, registered_backends

    names = tuple(names)
    if not names:
        raise ValidationError("backends: expected at least one backend name, got none")
    registered = registered_backends()
    for name in names:
        if name not in registered:
            raise UnknownNameError(
                f"backends: unknown backend {name!r}; registered backends: "
                f"{', '.join(registered)} (available here: "
                f"{', '.join(available_backends())})")
        backend = get_backend(name)
        reason = backend.unavailable_reason()
        if reason is not None:
            raise ValidationError(
                f"backends: {name!r} is unavailable here ({reason}); available: "
                f"{', '.join(available_backends())}")
    if len(set(names)) != len(names):
        raise ValidationError(f"backends: expected distinct names, got {', '.join(names)}")
    return names


def check_writable_dir(path, argument: str = "out") -> Path:
    """Create ``path`` if needed and prove that files can be written in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValidationError(
            f"{argument}: expected a folder that can be written, got {str(path)!r} "
            f"({e.strerror or e})") from e
    return path


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def network_sha256(network: FrozenNetwork) -> str:
    """Identity of a network's content, for networks that have no file."""
    with tempfile.TemporaryDirectory() as tmp:
        return file_sha256(network.save(Path(tmp) / "network.snn.npz"))


def energy_estimate(network: FrozenNetwork, result) -> dict:
    """Energy per inference from operation counts (an estimate, see module doc).

    Synaptic operations are the Result's count (spikes × fan-out into the next neuron
    layer); neuron updates are every on-chip neuron once per time step, since Loihi
    updates every compartment each step whether it spikes or not. Off-chip layers run
    on the host and are not counted.
    """
    synops = float(result.synaptic_ops_per_input.get("total", 0.0))
    neurons = sum(int(np.prod(network.layer_shape(n))) for n in network.on_chip_layers)
    updates = float(neurons * result.n_steps)
    synop_uj = synops * PJ_PER_SYNOP * 1e-6
    neuron_uj = updates * PJ_PER_NEURON_UPDATE * 1e-6
    return {
        "synaptic_ops_per_inference": synops,
        "neuron_updates_per_inference": updates,
        "synaptic_energy_uj": synop_uj,
        "neuron_energy_uj": neuron_uj,
        "total_energy_uj": synop_uj + neuron_uj,
        "is_estimate": True,
    }


def decision_step(accuracy_by_step, n_images: int, tolerance: float = 0.01) -> int:
    """First step (1-based) from which accuracy stays within ``tolerance`` (or one
    image, if coarser) of its final value: the latency of the whole test set, not of
    single inputs. One image's worth, because on 50 images any flicker exceeds 1 %."""
    acc = np.asarray(accuracy_by_step)
    below = acc < acc[-1] - max(tolerance, 1.0 / n_images) - 1e-12
    if not below.any():
        return 1
    return int(len(acc) - np.argmax(below[::-1]) + 1)


def _case_key(network_id: str, backend: str, n_images: int, config: BenchConfig,
              data_id: str) -> dict:
    """What a stored case must match to be reused: the network file's hash, the
    backend, the data and settings, and the snnkit version that ran it (a new version
    may compute differently, so its cases are run again)."""
    from . import __version__

    return {"format": CASE_FORMAT, "network_sha256": network_id, "backend": backend,
            "n_images": n_images, "n_steps": config.n_steps,
            "presentation": config.presentation, "data": data_id,
            "snnkit_version": __version__}


def _read_case(json_path: Path, npz_path: Path, key: dict):
    """A finished case matching ``key``, or None (missing, other settings, damaged)."""
    if not json_path.is_file() or not npz_path.is_file():
        return None
    try:
        case = json.loads(json_path.read_text())
        if case.get("key") != key:
            return None
        with np.load(npz_path, allow_pickle=False) as f:
            outputs = f["outputs"]
        if outputs.shape[:2] != (key["n_images"], key["n_steps"]) \
                or not np.all(np.isfinite(outputs)) or not _case_values_ok(case, key):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged file is run again, not trusted
    return case, outputs


def _case_values_ok(case: dict, key: dict) -> bool:
    """The stored figures are what a run could have produced: accuracies in [0, 1]
    (one per step), every number finite."""
    by_step = case.get("accuracy_by_step")
    if not isinstance(by_step, list) or len(by_step) != key["n_steps"]:
        return False
    accuracies = [case.get("accuracy")] + by_step
    if not all(isinstance(a, (int, float)) and 0 <= a <= 1 for a in accuracies):
        return False

    def finite(value) -> bool:
        if isinstance(value, dict):
            return all(finite(v) for v in value.values())
        if isinstance(value, list):
            return all(finite(v) for v in value)
        if isinstance(value, float):
            return math.isfinite(value)
        return value is None or isinstance(value, (int, str, bool))

    return finite(case)


def run_case(network: FrozenNetwork, backend: str, x, y, n_images: int,
             config: BenchConfig, key: dict) -> tuple[dict, np.ndarray]:
    from .backends import get_backend

    result = get_backend(backend).run(network, x[:n_images], n_steps=config.n_steps,
                                      presentation=config.presentation,
                                      progress=config.progress)
    labels = y[:n_images]
    by_step = result.accuracy_by_step(labels)
    ttd = result.time_to_decision_stats()
    received = result.output_received_by_step()
    case = {
        "key": key,
        "backend": backend,
        "n_images": n_images,
        "accuracy": result.accuracy(labels),
        "accuracy_by_step": by_step.tolist(),
        "decision_step_within_1pct": decision_step(by_step, n_images),
        "time_to_decision_steps_mean": ttd["mean"],
        "time_to_decision_steps_median": ttd["median"],
        "time_to_decision_steps_p95": ttd["p95"],
        "first_spike_steps": result.first_spike_stats(),
        "output_received_by_step": None if received is None else received.tolist(),
        "wall_time_s": result.wall_time_s,
        "images_per_s": result.images_per_s,
        "layer_rates_hz": result.layer_rates_hz,
        "layer_max_rates_hz": result.layer_max_rates_hz,
        "spikes_per_input": result.spikes_per_input,
        "saturated_fraction": result.saturated_fraction,
        "synaptic_ops_per_input": result.synaptic_ops_per_input,
        "energy_estimate": energy_estimate(network, result),
        "versions": result.versions,
    }
    return case, result.outputs


def neuron_rates(network: FrozenNetwork, x, n_steps: int) -> dict:
    """Firing rate (Hz) of every neuron on every input: ``{layer: (n_inputs,
    n_neurons)}``, from NengoDL with the network's neuron type. The backends keep only
    per-layer summaries, so the histograms need this extra pass. Per input, not
    averaged over inputs: a neuron that fires fast on some digits and not at all on
    others is what Loihi's one-spike-per-step ceiling is about."""
    from ._stack import import_nengo_dl
    from .build import build_network
    from .inputs import check_inputs

    nengo_dl = import_nengo_dl()

    x = check_inputs(network, x)
    built = build_network(network)
    with built.net:
        nengo_dl.configure_settings(stateful=False)
    batch = min(25, len(x))
    padded = np.concatenate([x, np.zeros((-len(x) % batch, x.shape[1]), x.dtype)])
    parts = {name: [] for name in built.probes}
    with nengo_dl.Simulator(built.net, minibatch_size=batch, dt=network.dt,
                            progress_bar=False, seed=0) as sim:
        for start in range(0, len(x), batch):
            stop = min(start + batch, len(x))
            tiled = np.tile(padded[start:start + batch, None, :], (1, n_steps, 1))
            data = sim.predict_on_batch({built.input_node: tiled})
            for name, probe in built.probes.items():
                # output / amplitude is the rate in Hz (nengo includes 1/dt)
                parts[name].append(np.asarray(data[probe])[:stop - start].mean(axis=1)
                                   / built.amplitudes[name])
    return {name: np.concatenate(p).astype(np.float32) for name, p in parts.items()}


def run_bench(network: FrozenNetwork, x, y, out_dir, config: BenchConfig = BenchConfig(),
              *, network_path=None, data_id: str = "inputs") -> dict:
    """Run every backend of ``config`` on ``x`` (labels ``y``), write the files listed
    in the module docstring into ``out_dir`` and return the ``bench.json`` dict.

    ``data_id`` names the inputs (e.g. ``"mnist-test[:1000]"``); it is part of what a
    stored case must match to be reused.
    """
    from tqdm.auto import tqdm

    if not isinstance(network, FrozenNetwork):
        raise ValidationError(
            f"network: expected a snnkit.FrozenNetwork, got {type(network).__name__}")
    backends = check_backends(config.backends)
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if len(x) == 0 or len(x) != len(y):
        raise ValidationError(
            f"x, y: expected the same number (> 0) of inputs and labels, got {len(x)} "
            f"and {len(y)}")
    unknown_caps = sorted(set(config.max_images) - set(backends))
    if unknown_caps:
        raise ValidationError(
            f"max_images: caps for backends that are not benchmarked: "
            f"{', '.join(unknown_caps)}; benchmarked: {', '.join(backends)}")
    from .backends import get_backend

    for backend in backends:
        # before any case runs: a network one backend cannot run (e.g. non-Loihi
        # neurons on the emulator) must not fail the bench minutes in
        get_backend(backend).check_network(network)
    out = check_writable_dir(out_dir)
    cases_dir = out / "cases"
    cases_dir.mkdir(exist_ok=True)
    network_id = file_sha256(network_path) if network_path else network_sha256(network)

    cases, outputs = [], {}
    bar = tqdm(backends, desc="bench", unit="backend", disable=not config.progress)
    for backend in bar:
        bar.set_postfix_str(backend)
        n_images = config.cap(backend, len(x))
        key = _case_key(network_id, backend, n_images, config, data_id)
        json_path, npz_path = cases_dir / f"{backend}.json", cases_dir / f"{backend}.npz"
        stored = _read_case(json_path, npz_path, key)
        if stored is not None:
            case, case_outputs = stored
            case["resumed"] = True
            if config.progress:
                tqdm.write(f"{backend}: finished case found in {json_path}, skipped")
        else:
            case, case_outputs = run_case(network, backend, x, y, n_images, config, key)
            # outputs first, JSON last: the JSON is what marks a case as finished
            with atomic_write(npz_path) as f:
                np.savez(f, outputs=case_outputs.astype(np.float32),
                         labels=y[:n_images].astype(np.int64))
            with atomic_write(json_path, "w") as f:
                json.dump(case, f, indent=2)
            case["resumed"] = False
        # derived from the stored curve, so a resumed case follows the current rule
        case["decision_step_within_1pct"] = decision_step(case["accuracy_by_step"],
                                                          case["n_images"])
        cases.append(case)
        outputs[backend] = case_outputs
    _add_agreement(cases, outputs, y)

    rates = None
    rates_path = out / "neuron_rates.npz"
    n_hist = min(config.n_hist, len(x))
    if n_hist > 0:
        rates_key = json.dumps({"format": 2, "network_sha256": network_id,
                                "n_images": n_hist,
                                "n_steps": config.n_steps, "data": data_id},
                               sort_keys=True)
        rates = _read_rates(rates_path, rates_key)
        if rates is None:
            rates = neuron_rates(network, x[:n_hist], config.n_steps)
            with atomic_write(rates_path) as f:
                np.savez(f, __key__=np.frombuffer(rates_key.encode(), np.uint8),
                         **{f"rates/{k}": v for k, v in rates.items()})

    report = {
        "snnkit_bench": 1,
        "network": {
            "path": str(network_path) if network_path else None,
            "sha256": network_id,
            "neuron_type": network.neuron.name,
            "neuron_layers": list(network.neuron_layers),
            "on_chip_layers": list(network.on_chip_layers),
            "scale_firing_rates": network.scale_firing_rates,
            "synapse_s": network.synapse,
            "dt_s": network.dt,
        },
        "data": data_id,
        "n_inputs": int(len(x)),
        "config": {k: v for k, v in asdict(config).items() if k != "progress"},
        "energy_model": {"pj_per_synaptic_op": PJ_PER_SYNOP,
                         "pj_per_neuron_update": PJ_PER_NEURON_UPDATE,
                         "source": ENERGY_SOURCE,
                         "note": "estimates from operation counts, not measurements; "
                                 "neuron updates count on-chip neurons at every step"},
        "environment": machine_environment(),
        "cases": cases,
        "files": {},
    }
    files = report["files"]
    files["cases"] = [str(cases_dir / f"{b}.json") for b in backends]
    if rates is not None:
        files["neuron_rates"] = str(rates_path)
    if config.plots:
        from . import plots

        files["plots"] = [str(p) for p in plots.bench_plots(
            out, network, cases, outputs, x, y, rates, n_plot=config.n_plot,
            n_hist=n_hist, n_steps=config.n_steps)]
    files["csv"] = str(_write_csv(out / "bench.csv", cases, report["environment"]))
    files["accuracy_by_step_csv"] = str(_write_steps_csv(out / "accuracy_by_step.csv",
                                                         cases, network.dt))
    files["json"] = str(out / "bench.json")
    with atomic_write(out / "bench.json", "w") as f:
        json.dump(report, f, indent=2)
    return report


def _read_rates(path: Path, key: str):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if f["__key__"].tobytes().decode() != key:
                return None
            return {k[len("rates/"):]: f[k] for k in f.files if k.startswith("rates/")}
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return None


def _add_agreement(cases, outputs, y) -> None:
    """Fraction of inputs on which each backend predicts what the first one does (on
    the inputs both ran): how closely a backend reproduces the reference; and the
    reference's accuracy on those same inputs, since a capped backend's accuracy on
    50 images is not comparable with the reference's on 1,000."""
    reference = cases[0]["backend"]
    ref_pred = np.argmax(outputs[reference][:, -1], axis=-1)
    for case in cases:
        pred = np.argmax(outputs[case["backend"]][:, -1], axis=-1)
        n = min(len(pred), len(ref_pred))
        case["agreement_with"] = reference
        case["agreement"] = float(np.mean(pred[:n] == ref_pred[:n]))
        case["reference_accuracy_same_images"] = float(np.mean(ref_pred[:n] == y[:n]))


CSV_FIELDS = (
    "backend", "n_images", "n_steps", "accuracy", "decision_step_within_1pct",
    "time_to_decision_steps_mean", "time_to_decision_steps_p95",
    "output_onset_steps_mean", "output_onset_steps_p95", "agreement", "agreement_with",
    "reference_accuracy_same_images", "wall_time_s",
    "images_per_s", "synaptic_ops_per_inference", "neuron_updates_per_inference",
    "energy_estimate_uj_per_inference",
)


def _write_csv(path: Path, cases, env) -> Path:
    layers = list(dict.fromkeys(name for c in cases for name in c["layer_rates_hz"]))
    env_fields = {"date": env["date"], "cpu": env["cpu"], "python": env["python"]}
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
               c["wall_time_s"], c["images_per_s"],
               e["synaptic_ops_per_inference"], e["neuron_updates_per_inference"],
               e["total_energy_uj"]]
        row += [c["layer_rates_hz"].get(n, "") for n in layers]
        row += list(env_fields.values())
        writer.writerow(row)
    with atomic_write(path, "w") as f:
        f.write(buffer.getvalue())
    return path


def _write_steps_csv(path: Path, cases, dt_s: float) -> Path:
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


def format_table(report: dict) -> str:
    """The cases as a printable table."""
    header = (f"{'backend':<20} {'images':>6} {'accuracy':>9} {'ref@same':>8} {'agree':>6} "
              f"{'decide@':>7} {'TTD':>5} {'synops/inf':>11} {'energy µJ*':>10} "
              f"{'wall s':>7} {'img/s':>7}")
    lines = [header, "-" * len(header)]
    for c in report["cases"]:
        e = c["energy_estimate"]
        lines.append(
            f"{c['backend']:<20} {c['n_images']:>6} {100 * c['accuracy']:8.2f}% "
            f"{100 * c['reference_accuracy_same_images']:7.2f}% "
            f"{100 * c['agreement']:5.1f}% {c['decision_step_within_1pct']:>7} "
            f"{c['time_to_decision_steps_mean']:5.1f} "
            f"{e['synaptic_ops_per_inference']:11.3g} {e['total_energy_uj']:10.2f} "
            f"{c['wall_time_s']:7.1f} {c['images_per_s']:7.2f}"
            + ("  (resumed)" if c.get("resumed") else ""))
    layers = report["network"]["neuron_layers"]
    lines.append("")
    lines.append("mean rate of active neurons, Hz: " + f"{'backend':<20} " + " ".join(
        f"{n:>10}" for n in layers))
    for c in report["cases"]:
        lines.append(" " * 33 + f"{c['backend']:<20} " + " ".join(
            f"{c['layer_rates_hz'].get(n, float('nan')):10.1f}" for n in layers))
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
    return "\n".join(lines)


def format_first_spikes(cases, layers) -> list:
    """Table lines: per case, each layer's first-spike step (mean / p95) and the
    output's onset, then the time to decision (mean / p95)."""
    names = list(layers) + ["output"]
    lines = ["", "first spike step, mean / p95:    " + f"{'backend':<20} " + " ".join(
        f"{n:>11}" for n in names) + f" {'TTD':>11}"]
    for c in cases:
        stats = c.get("first_spike_steps") or {}
        cells = []
        for name in names:
            s = stats.get(name)
            cells.append(f"{'n/a':>11}" if s is None or s["mean"] is None else
                         f"{s['mean']:5.1f} / {_step(s['p95'])}")
        ttd = f"{c['time_to_decision_steps_mean']:5.1f} / " \
              f"{_step(c.get('time_to_decision_steps_p95'))}"
        lines.append(" " * 33 + f"{c['backend']:<20} " + " ".join(cells) + f" {ttd}")
    return lines


def _step(value) -> str:
    return f"{'-':>3}" if value is None else f"{value:3.0f}"
