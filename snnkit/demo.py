"""The main job (``make demo``, ``snnkit demo``): the seed notebook's workflow, scripted.

Train the seed convnet on MNIST with ReLU rates, measure per-layer rates, calibrate
per-layer scales to a target rate with the Loihi neurons that will run, evaluate
Loihi-neuron spiking accuracy on NengoDL and on nengo-loihi's emulator, save the
FrozenNetwork, and print one table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ._io import atomic_write


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo; defaults are the seed notebook's."""

    epochs: int = 2
    n_train: int | None = None
    n_test: int = 1000
    n_emulator: int = 50
    n_calibrate: int = 200
    target_rate_hz: float = 200.0
    n_steps: int = 30
    synapse_s: float = 0.005
    out_dir: str = "out/demo"
    seed: int = 0
    progress: bool = True


@dataclass(frozen=True)
class Stage:
    name: str
    accuracy: float | None
    n_images: int
    rates_hz: dict
    wall_time_s: float


def run_demo(config: DemoConfig = DemoConfig()) -> list[Stage]:
    """Run every stage, save ``seed.snn.npz`` and ``demo.json`` in ``config.out_dir``,
    print the table; returns the stages."""
    from .data import load_mnist
    from .models import seed_convnet
    from .trainer import Trainer

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = load_mnist(config.n_train, config.n_test)
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

    cal = stage(f"calibrate scales to {config.target_rate_hz:g} Hz (Loihi neurons)",
                calibrate)
    network = trainer.freeze(model, neuron_type="loihi-relu",
                             scale_firing_rates=cal.scales, synapse=config.synapse_s,
                             metadata={"procedure": "seed demo", "calibration": {
                                 "target_rate_hz": cal.target_rate_hz,
                                 "rates_hz": cal.rates_hz, "converged": cal.converged}})

    def loihi_nengo_dl():
        result = trainer.evaluate(network, x_test, y_test, n_steps=config.n_steps)
        return result.accuracy(y_test), len(x_test), result.layer_rates_hz, result

    stage(f"Loihi neurons, NengoDL, {config.n_steps} steps", loihi_nengo_dl)

    def emulator():
        x, y = x_test[:config.n_emulator], y_test[:config.n_emulator]
        result = trainer.evaluate(network, x, y, backend="loihi-emulator",
                                  n_steps=config.n_steps)
        return result.accuracy(y), len(x), result.layer_rates_hz, result

    stage(f"nengo-loihi emulator, {config.n_steps} steps", emulator)

    path = network.save(out / "seed.snn.npz")
    report = {"config": config.__dict__, "frozen_network": str(path),
              "scales": cal.scales,
              "stages": [s.__dict__ for s in stages]}
    with atomic_write(out / "demo.json", "w") as f:
        json.dump(report, f, indent=2)
    print(format_table(stages, network.neuron_layers))
    print(f"FrozenNetwork saved to {path}")
    return stages


def format_table(stages, layers) -> str:
    header = f"{'stage':<52} {'accuracy':>9} {'images':>7}  " + "  ".join(
        f"{name:>9}" for name in layers) + f"  {'wall s':>7}"
    lines = [header, "-" * len(header)]
    for s in stages:
        acc = f"{100 * s.accuracy:8.2f}%" if s.accuracy is not None else f"{'':>9}"
        rates = "  ".join(f"{s.rates_hz[n]:7.1f}Hz" if n in s.rates_hz else f"{'':>9}"
                          for n in layers)
        lines.append(f"{s.name:<52} {acc} {s.n_images:>7}  {rates}  {s.wall_time_s:7.1f}")
    return "\n".join(lines)
