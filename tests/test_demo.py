"""The demo (``snnkit demo``) end to end on a small slice of MNIST: every stage runs,
the best stage is :func:`snnkit.training.recipes.train_for_loihi` itself, and what it saves
(the FrozenNetwork, demo.json) loads back and matches what it printed."""

from __future__ import annotations

import json

import pytest

from snnkit.demo import DemoConfig, run_demo
from snnkit.network.frozen import FrozenNetwork


@pytest.mark.slow
def test_demo_runs_every_stage_and_the_best_stage_is_the_recipe(tmp_path, capsys,
                                                                 monkeypatch):
    import snnkit.training.recipes as recipes

    calls = []
    real = recipes.train_for_loihi

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipes, "train_for_loihi", counted)
    config = DemoConfig(epochs=1, extra_relu_epochs=1, loihi_epochs=1, n_train=800,
                        n_test=100, n_emulator=1, n_fast=100, n_calibrate=50,
                        n_steps=10, out_dir=str(tmp_path), progress=False)
    stages = run_demo(config)
    assert len(calls) == 1
    assert calls[0]["relu_epochs"] == 1 and calls[0]["loihi_epochs"] == 1
    assert calls[0]["target_rate_hz"] == config.fine_tune_rate_hz
    names = [s.name for s in stages]
    assert any(n.startswith("best: train_for_loihi") for n in names), names
    assert any("loihi-emulator-fast" in n for n in names), names
    network = FrozenNetwork.load(tmp_path / "seed.snn.npz")
    assert network.metadata["recipe"] == "train_for_loihi"
    assert "recipes.train_for_loihi" in network.metadata["procedure"]
    # which images it saw, so that a search holds them out
    assert network.metadata["data"] == {"dataset": "mnist", "train_images": [0, 800],
                                        "calibration_images": [0, 50]}
    report = json.loads((tmp_path / "demo.json").read_text())
    assert report["scales"] == pytest.approx(dict(network.scale_firing_rates))
    fast = [s for s in stages if "loihi-emulator-fast" in s.name][0]
    assert fast.n_images == 100 and 0.1 < fast.accuracy <= 1  # it learned something
    assert "FrozenNetwork saved to" in capsys.readouterr().out

