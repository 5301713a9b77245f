"""The main job (``make demo``, ``snnkit demo``): the seed notebook's workflow, scripted,
then carried on to the best procedure we found
(:func:`snnkit.training.recipes.train_for_loihi`).

1. The seed's procedure: train the seed convnet 2 epochs on MNIST with ReLU rates;
   measure per-layer rates; calibrate per-layer scales to 200 Hz with the Loihi neurons
   and the synapse that will run; Loihi-neuron spiking accuracy on NengoDL.
2. The best procedure (:func:`snnkit.training.recipes.train_for_loihi`, called as is):
   train on to 6 ReLU epochs, calibrate to 250 Hz, fine-tune 4 epochs with Loihi
   neurons at those scales, calibrate again; accuracy on NengoDL, on nengo-loihi's
   emulator (first 50 test images: it runs about 1 image/s) and on
   ``loihi-emulator-fast`` (bit-exact with that emulator) over the full test set.
3. Save the FrozenNetwork and print one table: stage, accuracy, rates, wall time.
4. Optional (``latency=True``, ``snnkit demo --latency``; 6–15 more minutes on two
   shared cores): the latency-first procedure
   (:func:`snnkit.training.recipes.train_for_latency`) from a fresh seed network,
   evaluated on ``loihi-emulator-fast``; then a table of accuracy at 5–30 steps and
   each layer's first-spike step, best vs latency-first.

``extra_relu_epochs=0, loihi_epochs=0`` stops after step 1, as the notebook does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from snnkit.utils.files import atomic_write
from snnkit.utils.text_table import text_table

if TYPE_CHECKING:
    from snnkit.network.types import RatesHz


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo; defaults are the seed notebook's.

    Attributes
    ----------
    epochs : int
        Epochs of the seed's ReLU training.
    extra_relu_epochs : int
        More ReLU epochs of the best procedure (0, with ``loihi_epochs=0``: no best
        procedure).
    loihi_epochs : int
        Fine-tuning epochs of the best procedure, with Loihi neurons.
    fine_tune_rate_hz : float
        The best procedure's calibration target, in Hz.
    fine_tune_learning_rate : float
        The learning rate of the fine-tuning.
    n_train : int or None
        MNIST training images (None: all).
    n_test : int
        Test images run on NengoDL.
    n_emulator : int
        Test images run on nengo-loihi's emulator (about 1 image/s).
    n_fast : int
        Test images run on ``loihi-emulator-fast``; 0 skips it.
    n_calibrate : int
        Training images the scales are calibrated on.
    target_rate_hz : float
        The seed's calibration target, in Hz.
    n_steps : int
        Time steps per input.
    synapse_s : float
        The synapse's time constant, in seconds.
    out_dir : str
        Where ``seed.snn.npz``, ``demo.json`` (and ``latency.snn.npz``) are saved.
    seed : int
        The seed of the models and the training.
    progress : bool
        Progress bars and stage names.
    latency : bool
        Also train and evaluate the latency-first procedure.
    latency_relu_epochs, latency_time_epochs : int
        The latency-first procedure's ReLU and time-step epochs.
    """

    epochs: int = 2
    extra_relu_epochs: int = 4
    loihi_epochs: int = 4
    fine_tune_rate_hz: float = 250.0
    fine_tune_learning_rate: float = 1e-4
    n_train: int | None = None
    n_test: int = 1000
    n_emulator: int = 50
    n_fast: int = 10_000
    n_calibrate: int = 200
    target_rate_hz: float = 200.0
    n_steps: int = 30
    synapse_s: float = 0.005
    out_dir: str = "out/demo"
    seed: int = 0
    progress: bool = True
    latency: bool = False
    latency_relu_epochs: int = 40
    latency_time_epochs: int = 2


@dataclass(frozen=True)
class Stage:
    """One stage of the demo: one row of its table.

    Attributes
    ----------
    name : str
        What the stage did.
    accuracy : float or None
        Its accuracy (0 to 1), if it measured one.
    n_images : int
        The images it used.
    rates_hz : RatesHz
        ``{neuron layer: firing rate in Hz}`` it measured (may be empty).
    wall_time_s : float
        Its wall time, in seconds.
    """

    name: str
    accuracy: float | None
    n_images: int
    rates_hz: RatesHz
    wall_time_s: float


def run_demo(config: DemoConfig = DemoConfig()) -> list[Stage]:
    """Run every stage, save the network and ``demo.json``, print the table.

    ``seed.snn.npz`` and ``demo.json`` are saved in ``config.out_dir``.

    Parameters
    ----------
    config : DemoConfig, optional
        The settings.

    Returns
    -------
    list of Stage
    """
    from snnkit.data.datasets import load_mnist, mnist_record
    from snnkit.models import seed_convnet
    from snnkit.training.trainer import Trainer

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_all, y_all) = load_mnist(
        config.n_train, max(config.n_test, config.n_emulator, config.n_fast))
    x_test, y_test = x_all[:config.n_test], y_all[:config.n_test]
    stages = []

    def stage(name, fn):
        start = time.perf_counter()
        if config.progress:
            print(f"-- {name}", flush=True)
        accuracy, n, rates, value = fn()
        stages.append(Stage(name, accuracy, n, rates, time.perf_counter() - start))
        return value

    model = seed_convnet(seed=config.seed)
    trainer = Trainer(max_epochs=config.epochs, neuron_type="relu", seed=config.seed,
                      enable_progress_bar=config.progress)

    def train():
        history = trainer.fit(model, (x_train, y_train))
        return history[-1]["accuracy"], len(x_train), {}, None

    stage(f"train {config.epochs} epochs, ReLU rates (train acc)", train)

    def relu_eval():
        result = trainer.evaluate(model, x_test, y_test, n_steps=10)
        return result.accuracy(y_test), len(x_test), result.layer_rates_hz, None

    stage("ReLU rates, NengoDL, 10 steps", relu_eval)

    def calibrate():
        cal = trainer.calibrate(model, x_train[:config.n_calibrate],
                                target_rate_hz=config.target_rate_hz,
                                neuron_type="loihi-relu", synapse=config.synapse_s,
                                n_steps=config.n_steps)
        return None, config.n_calibrate, cal.rates_hz, cal

    # the MNIST images every network here saw: searches hold them out
    seen = mnist_record((0, len(x_train)), (0, min(config.n_calibrate, len(x_train))))

    def evaluate(network, label, x, y, backend="nengo-dl"):
        def run():
            result = trainer.evaluate(network, x, y, backend=backend,
                                      n_steps=config.n_steps)
            return result.accuracy(y), len(x), result.layer_rates_hz, result

        return stage(f"{label}{backend}, {config.n_steps} steps", run)

    cal = stage(f"calibrate scales to {config.target_rate_hz:g} Hz (Loihi neurons)",
                calibrate)
    network = trainer.freeze(model, neuron_type="loihi-relu",
                             scale_firing_rates=cal.scales,
                             synapse=config.synapse_s, metadata={
                                 "procedure":
                                     "seed demo: ReLU training, calibrated scales",
                                 "calibration": {"target_rate_hz": cal.target_rate_hz,
                                                 "rates_hz": cal.rates_hz,
                                                 "converged": cal.converged},
                                 "data": seen})
    evaluate(network, "Loihi neurons, ", x_test, y_test)

    if config.extra_relu_epochs > 0 or config.loihi_epochs > 0:
        network = _best_stage(config, stage, model, (x_train, y_train), seen)
        evaluate(network, "best: Loihi neurons, ", x_test, y_test)

    label = "best: " if config.extra_relu_epochs > 0 or config.loihi_epochs > 0 else ""
    evaluate(network, label, x_all[:config.n_emulator], y_all[:config.n_emulator],
             backend="loihi-emulator")
    curves = {}
    if config.n_fast > 0:
        result = evaluate(network, label, x_all[:config.n_fast], y_all[:config.n_fast],
                          backend="loihi-emulator-fast")
        curves[label.rstrip(": ") or "seed"] = result
    latency_lines = []
    if config.latency:
        latency_network, result = _latency_stages(config, stage, (x_train, y_train),
                                                  (x_all, y_all))
        latency_network.save(out / "latency.snn.npz")
        curves["latency-first"] = result
        latency_lines = latency_table(curves, y_all[:config.n_fast])

    path = network.save(out / "seed.snn.npz")
    report = {"config": config.__dict__, "frozen_network": str(path),
              "scales": dict(network.scale_firing_rates),
              "stages": [s.__dict__ for s in stages],
              "loihi_exact_accuracy_by_step": {
                  name: r.accuracy_by_step(y_all[:config.n_fast]).tolist()
                  for name, r in curves.items()},
              "first_spike_steps": {name: r.first_spike_stats()
                                    for name, r in curves.items()}}
    with atomic_write(out / "demo.json", "w") as f:
        json.dump(report, f, indent=2)
    print(format_table(stages, network.neuron_layers))
    print(f"FrozenNetwork saved to {path}")
    if latency_lines:
        print("\n".join(latency_lines))
        print(f"latency-first FrozenNetwork saved to {out / 'latency.snn.npz'}")
    return stages


def _best_stage(config, stage, model, train_data, seen: dict):
    """The best procedure, :func:`snnkit.training.recipes.train_for_loihi`, on the seed's
    trained model: more ReLU epochs, calibrate, fine-tune with Loihi neurons,
    calibrate again, freeze. Returns the network, its metadata recording the images
    it ``seen``."""
    from snnkit.training.recipes import train_for_loihi

    def run():
        trained = train_for_loihi(
            model, train_data, relu_epochs=config.extra_relu_epochs,
            loihi_epochs=config.loihi_epochs, target_rate_hz=config.fine_tune_rate_hz,
            synapse=config.synapse_s, n_steps=config.n_steps,
            calibration_inputs=config.n_calibrate,
            fine_tune_learning_rate=config.fine_tune_learning_rate, seed=config.seed,
            enable_progress_bar=config.progress)
        history = trained.loihi_history or trained.relu_history
        return (history[-1]["accuracy"] if history else None, len(train_data[0]),
                trained.calibration.rates_hz, trained)

    trained = stage(f"best: train_for_loihi, {config.extra_relu_epochs} more ReLU + "
                    f"{config.loihi_epochs} Loihi epochs at "
                    f"{config.fine_tune_rate_hz:g} Hz (train acc)", run)
    procedure = (f"seed demo: {config.epochs + config.extra_relu_epochs} ReLU epochs, "
                 f"{config.loihi_epochs} Loihi epoch(s) at calibrated scales, "
                 "recalibrated (recipes.train_for_loihi)")
    return trained.network.replace(metadata=dict(trained.network.metadata,
                                                 procedure=procedure, data=seen))


LATENCY_STEPS = (5, 8, 10, 12, 16, 20, 30)


def _latency_stages(config, stage, train_data, test_data):
    """Train the latency-first network from a fresh seed convnet; evaluate it on
    ``loihi-emulator-fast``. Returns the network and its Result."""
    from snnkit.backends import get_backend
    from snnkit.models import seed_convnet
    from snnkit.training.recipes import train_for_latency

    holder = {}

    def train():
        trained = train_for_latency(
            seed_convnet(seed=config.seed), train_data,
            relu_epochs=config.latency_relu_epochs,
            time_epochs=config.latency_time_epochs, seed=config.seed,
            progress=config.progress)
        holder["network"] = trained.network
        last = trained.time_history[-1]["accuracy_by_step"]
        return last[-1], len(train_data[0]), {}, None

    stage(f"latency-first: {config.latency_relu_epochs} ReLU + "
          f"{config.latency_time_epochs} time-step epochs (train acc)", train)
    x, y = test_data[0][:config.n_fast], test_data[1][:config.n_fast]
    n_steps = max(config.n_steps, max(LATENCY_STEPS))

    def evaluate():
        result = get_backend("loihi-emulator-fast").run(
            holder["network"], x, n_steps=n_steps, progress=config.progress)
        return (float(result.accuracy_by_step(y)[9]), len(x), result.layer_rates_hz,
                result)

    result = stage("latency-first: loihi-emulator-fast, read out at 10 steps", evaluate)
    return holder["network"], result


def latency_table(results: dict, y) -> list:
    """Table lines: accuracy at :data:`LATENCY_STEPS` and first spikes, per network.

    Per network, accuracy at each of :data:`LATENCY_STEPS` and each layer's
    first-spike step (mean over inputs) and the output's onset.

    Parameters
    ----------
    results : dict of str to Result
        ``{network name: its Result}``.
    y : array_like
        The labels of the inputs.

    Returns
    -------
    list of str
    """
    steps = [s for s in LATENCY_STEPS if all(r.n_steps >= s for r in results.values())]
    rows = [("Loihi-exact (fast emulator)", *(f"@{s}" for s in steps))]
    for name, result in results.items():
        acc = result.accuracy_by_step(y)
        rows.append((f"{name} ({result.n_inputs} images)",
                     *(f"{100 * acc[s - 1]:.2f}%" for s in steps)))
    lines = [""] + text_table(rows, "<" + ">" * len(steps), sep="  ", rule="line")
    lines.append("")
    lines.append("first spike step, mean over inputs (output: first step it is more than "
                 "its bias)")
    rows = [(name, "  ".join(f"{layer} {s['mean']:.1f}" if s["mean"] is not None
                             else f"{layer} never"
                             for layer, s in result.first_spike_stats().items()))
            for name, result in results.items()]
    return lines + ["  " + line for line in text_table(rows, "<<", sep="  ")]


def format_table(stages, layers) -> str:
    """The stages as a printable table, with each layer's rate."""
    rows = [("stage", "accuracy", "images", *layers, "wall s")]
    for s in stages:
        rows.append((s.name, f"{100 * s.accuracy:.2f}%" if s.accuracy is not None else "",
                     str(s.n_images),
                     *(f"{s.rates_hz[n]:.1f}Hz" if n in s.rates_hz else ""
                       for n in layers),
                     f"{s.wall_time_s:.1f}"))
    return "\n".join(text_table(rows, "<>>" + ">" * len(layers) + ">", sep="  ",
                                 rule="line"))
