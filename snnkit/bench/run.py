"""Running the benchmark: settings, checks, one case per backend and the whole run."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from snnkit.bench.energy import ENERGY_MODEL, energy_estimate
from snnkit.bench.report import write_csv, write_steps_csv
from snnkit.bench.store import (
    case_key,
    check_writable_dir,
    file_sha256,
    network_sha256,
    rates_key,
    read_case,
    read_rates,
    write_case,
    write_rates,
)
from snnkit.exceptions import UnknownNameError, ValidationError
from snnkit.network.frozen import FrozenNetwork
from snnkit.utils.environment import machine_environment
from snnkit.utils.files import atomic_write

# Backends that run at about one image per second on the seed network
# (benchmarks/bench_backends.py measures it): their image count is capped so one bench
# stays bounded in time.
SLOW_BACKENDS = ("nengo", "loihi-emulator", "loihi")


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run.

    Attributes
    ----------
    backends : tuple of str
        Names of the backends to compare (registry names).
    n_steps : int
        Time steps per input (of the network's ``dt``).
    presentation : {"reset", "sequential"}
        The presentation mode (see :class:`~snnkit.backends.Backend`).
    max_images_slow : int
        At most this many of the inputs for backends in :data:`SLOW_BACKENDS` (the
        first ones: every backend sees the same images).
    max_images : dict of str to int
        ``{backend: cap}`` overriding the default caps.
    n_hist : int
        Inputs for the per-neuron rate pass (histograms); 0 skips it.
    n_plot : int
        Inputs whose outputs over time are plotted.
    plots : bool
        Write the PNG plots.
    profile_plot : bool
        Also write ``activation_profile.png`` (standard vs Loihi neuron rate curves:
        the same picture for every network, so only on request).
    progress : bool
        tqdm progress bars.
    """

    backends: tuple = ("nengo-dl", "loihi-emulator")
    n_steps: int = 30
    presentation: str = "reset"
    max_images_slow: int = 50
    max_images: dict = field(default_factory=dict)
    n_hist: int = 50
    n_plot: int = 3
    plots: bool = True
    profile_plot: bool = False
    progress: bool = True

    def cap(self, backend: str, n: int) -> int:
        """How many of ``n`` inputs ``backend`` runs."""
        if backend in self.max_images:
            return min(n, self.max_images[backend])
        if backend in SLOW_BACKENDS:
            return min(n, self.max_images_slow)
        return n


def check_backends(names) -> tuple:
    """Registered and available backend names, or an error that lists the valid ones.

    Parameters
    ----------
    names : iterable of str
        Backend names.

    Returns
    -------
    tuple of str

    Raises
    ------
    UnknownNameError
        If a name is not registered.
    ValidationError
        If there is no name, a backend is unavailable here, or a name is repeated.
    """
    from snnkit.backends import available_backends, get_backend, registered_backends

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
        raise ValidationError(
            f"backends: expected distinct names, got {', '.join(names)}")
    return names


def decision_step(accuracy_by_step, n_images: int, tolerance: float = 0.01) -> int:
    """First step (1-based) from which accuracy stays near its final value.

    The latency of the whole test set, not of single inputs.

    Parameters
    ----------
    accuracy_by_step : array_like
        Accuracy at each step.
    n_images : int
        Images the accuracy is over.
    tolerance : float, optional
        Accuracy stays within ``tolerance`` (or one image, if coarser) of its final
        value. One image's worth, because on 50 images any flicker exceeds 1 %.

    Returns
    -------
    int
    """
    acc = np.asarray(accuracy_by_step)
    below = acc < acc[-1] - max(tolerance, 1.0 / n_images) - 1e-12
    if not below.any():
        return 1
    return int(len(acc) - np.argmax(below[::-1]) + 1)


def run_case(network: FrozenNetwork, backend: str, x, y, n_images: int,
             config: BenchConfig, key: dict) -> tuple[dict, np.ndarray]:
    """Run one case: ``backend`` on the first ``n_images`` of ``x`` (labels ``y``).

    The build (``Backend.prepare``: conversion, a Loihi core plan) and the run are
    timed apart: ``images_per_s`` is the run's alone, so it does not depend on what
    the build costs, or on which backend first pays a one-time cost.

    Returns
    -------
    case : dict
        Its figures, with ``key`` (:func:`~snnkit.bench.store.case_key`):
        ``build_time_s``, ``run_time_s``, ``images_per_s`` (``n_images /
        run_time_s``) and ``wall_time_s`` (both) among them.
    outputs : ndarray
        The outputs at every step, ``(n_images, n_steps, n_outputs)``.
    """
    from snnkit.backends import get_backend

    start = time.perf_counter()
    with get_backend(backend).prepare(network) as prepared:
        build_time_s = time.perf_counter() - start
        result = prepared.run(x[:n_images], n_steps=config.n_steps,
                              presentation=config.presentation, progress=config.progress)
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
        "n_outputs": int(result.outputs.shape[-1]),
        "build_time_s": build_time_s,
        "run_time_s": result.wall_time_s,
        "images_per_s": result.images_per_s,
        "wall_time_s": build_time_s + result.wall_time_s,
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
    """Firing rate (Hz) of every neuron on every input, from NengoDL.

    NengoDL runs the network's neuron type. The backends keep only per-layer
    summaries, so the histograms need this extra pass. Per input, not averaged over
    inputs: a neuron that fires fast on some digits and not at all on others is what
    Loihi's one-spike-per-step ceiling is about.

    Parameters
    ----------
    network : FrozenNetwork
        The network.
    x : array_like
        Its inputs.
    n_steps : int
        Steps per input.

    Returns
    -------
    dict of str to ndarray
        ``{layer: (n_inputs, n_neurons)}``, float32, in Hz.
    """
    from snnkit.backends.toolkit import predict_minibatches
    from snnkit.convert.to_nengo import build_network
    from snnkit.network.inputs import check_inputs
    from snnkit.utils.stack import import_nengo_dl

    nengo_dl = import_nengo_dl()

    x = check_inputs(network, x)
    built = build_network(network)
    with built.net:
        nengo_dl.configure_settings(stateful=False)
    batch = min(25, len(x))
    parts = {name: [] for name in built.probes}
    with nengo_dl.Simulator(built.net, minibatch_size=batch, dt=network.dt,
                            progress_bar=False, seed=0) as sim:
        for count, data in predict_minibatches(sim, built, x, n_steps, batch):
            for name, probe in built.probes.items():
                # output / amplitude is the rate in Hz (nengo includes 1/dt)
                parts[name].append(np.asarray(data[probe])[:count].mean(axis=1)
                                   / built.amplitudes[name])
    return {name: np.concatenate(p).astype(np.float32) for name, p in parts.items()}


def run_bench(network: FrozenNetwork, x, y, out_dir, config: BenchConfig = BenchConfig(),
              *, network_path=None, data_id: str = "inputs") -> dict:
    """Run every backend of ``config`` on ``x`` and write the benchmark's files.

    The files are those listed in the module docstring.

    Parameters
    ----------
    network : FrozenNetwork
        The network to benchmark.
    x : array_like
        The inputs.
    y : array_like
        Their labels.
    out_dir : str or Path
        Where the files are written.
    config : BenchConfig, optional
        The settings.
    network_path : str or Path, optional
        The network's file, if it has one: its hash identifies the network.
    data_id : str, optional
        Names the inputs (e.g. ``"mnist-test[:1000]"``); it is part of what a stored
        case must match to be reused.

    Returns
    -------
    dict
        The ``bench.json`` dict.

    Raises
    ------
    ValidationError
        If ``network`` is not a FrozenNetwork, ``x`` and ``y`` are empty or of
        different lengths, or ``config.max_images`` caps a backend that is not
        benchmarked.
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
    from snnkit.backends import get_backend

    for backend in backends:
        # before any case runs: a network one backend cannot run (e.g. non-Loihi
        # neurons on the emulator) must not fail the bench minutes in
        get_backend(backend).check_network(network)
    out = check_writable_dir(out_dir)
    cases_dir = out / "cases"
    cases_dir.mkdir(exist_ok=True)
    network_id = file_sha256(network_path) if network_path else network_sha256(network)
    # the heavy imports once, before any case: timed in the first one's build, they
    # made its figures depend on the order the backends were listed in
    stack_import_s = import_stack(backends)

    cases, outputs = [], {}
    bar = tqdm(backends, desc="bench", unit="backend", disable=not config.progress)
    for backend in bar:
        bar.set_postfix_str(backend)
        n_images = config.cap(backend, len(x))
        key = case_key(network_id, backend, n_images, config, data_id)
        json_path, npz_path = cases_dir / f"{backend}.json", cases_dir / f"{backend}.npz"
        stored = read_case(json_path, npz_path, key)
        if stored is not None:
            case, case_outputs = stored
            case["resumed"] = True
            if config.progress:
                tqdm.write(f"{backend}: finished case found in {json_path}, skipped")
        else:
            case, case_outputs = run_case(network, backend, x, y, n_images, config, key)
            write_case(json_path, npz_path, case, case_outputs, y[:n_images])
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
        key = rates_key(network_id, n_hist, config.n_steps, data_id)
        rates = read_rates(rates_path, key)
        if rates is None:
            rates = neuron_rates(network, x[:n_hist], config.n_steps)
            write_rates(rates_path, key, rates)

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
        "energy_model": dict(ENERGY_MODEL),
        "timing": {"stack_import_s": stack_import_s,
                   "note": "images_per_s: the run alone; build_time_s: "
                           "Backend.prepare (conversion, core plan), after the "
                           "stack's imports (stack_import_s)"},
        "environment": machine_environment(),
        "cases": cases,
        "files": {},
    }
    files = report["files"]
    files["cases"] = [str(cases_dir / f"{b}.json") for b in backends]
    if rates is not None:
        files["neuron_rates"] = str(rates_path)
    if config.plots:
        from snnkit import plots

        files["plots"] = [str(p) for p in plots.bench_plots(
            out, network, cases, outputs, x, y, rates, n_plot=config.n_plot,
            n_hist=n_hist, n_steps=config.n_steps, profile=config.profile_plot)]
    files["csv"] = str(write_csv(out / "bench.csv", cases, report["environment"]))
    files["accuracy_by_step_csv"] = str(write_steps_csv(out / "accuracy_by_step.csv",
                                                         cases, network.dt))
    files["json"] = str(out / "bench.json")
    with atomic_write(out / "bench.json", "w") as f:
        json.dump(report, f, indent=2)
    return report


def import_stack(backends) -> float:
    """Import what the backends' builds import (TensorFlow and nengo-dl, which every
    build converts through; nengo-loihi for a Loihi target), so that no case's build
    time holds them.

    Parameters
    ----------
    backends : sequence of str
        Backend names.

    Returns
    -------
    float
        Seconds the imports took (0 if they were loaded already).
    """
    from snnkit.utils.stack import import_nengo_dl, import_nengo_loihi

    start = time.perf_counter()
    import_nengo_dl()
    if any(name.startswith("loihi") for name in backends):
        import_nengo_loihi()
    return time.perf_counter() - start


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
