"""Plots say what they draw, return figures and leave matplotlib's global state
alone."""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from snnkit import plots
from snnkit.keras.specs import LayerSpec, model_config
from snnkit.network.frozen import FrozenNetwork

PNG = b"\x89PNG\r\n\x1a\n"


def _case(name, accuracies, n_outputs=None):
    case = {"backend": name, "n_images": 30, "accuracy_by_step": accuracies,
            "output_received_by_step": [1.0] * len(accuracies)}
    if n_outputs is not None:
        case["n_outputs"] = n_outputs
    return case


def _chance_lines(fig):
    ax = fig.axes[0]
    return [(line.get_label(), line.get_ydata()[0]) for line in ax.get_lines()
            if line.get_label().startswith("chance")]


def test_chance_is_one_over_the_classes_not_ten_percent(tmp_path):
    # a 3-class network's 23% is below chance (33.3%), not above it
    fig = plots.plot_accuracy_vs_steps([_case("nengo-dl", [0.2, 0.23])], 0.001,
                                       n_classes=3, path=tmp_path / "a.png")
    assert _chance_lines(fig) == [("chance (3 classes: 33.3%)",
                                   pytest.approx(100 / 3))]
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    # from the cases when not given; none when the cases do not say
    fig = plots.plot_accuracy_vs_steps([_case("x", [0.5], 100)], 0.001)
    assert _chance_lines(fig) == [("chance (100 classes: 1%)", pytest.approx(1.0))]
    assert _chance_lines(plots.plot_accuracy_vs_steps([_case("x", [0.5])], 0.001)) == []


def test_titles_say_what_was_drawn():
    one = plots.plot_accuracy_vs_steps([_case("latency", [0.5, 0.9])], 0.001,
                                       n_classes=10, label_key="backend")
    assert one.axes[0].get_title() == "Accuracy vs time steps: 1 backend (latency)"
    two = plots.plot_accuracy_vs_steps(
        [_case("nengo-dl", [0.5]), _case("loihi-emulator-fast", [0.6])], 0.001)
    assert two.axes[0].get_title() == ("Accuracy vs time steps: 2 backends (nengo-dl, "
                                       "loihi-emulator-fast)")
    labels = [t.get_text() for t in two.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["nengo-dl (30 images, final 50.0%)",
                          "loihi-emulator-fast (30 images, final 60.0%)"]


def test_plots_leave_the_backend_and_pyplot_alone(tmp_path):
    """In a fresh process with an interactive-looking backend chosen, drawing and
    saving every plot changes neither the backend nor pyplot's open figures."""
    code = f"""
import matplotlib
matplotlib.use("svg")  # what a notebook or GUI session would have chosen
import matplotlib.pyplot as plt
import numpy as np
from snnkit import plots
case = {{"backend": "b", "n_images": 3, "accuracy_by_step": [0.1, 0.9]}}
fig = plots.plot_accuracy_vs_steps([case], 0.001, n_classes=10,
                                   path={str(tmp_path / "a.png")!r})
outputs = {{"b": np.zeros((2, 4, 3))}}
fig2 = plots.plot_outputs_over_time(outputs, np.zeros((2, 4, 4)), [0, 1], 2)
row = dict(trial_id=0, accuracy=0.9, steps=10, synaptic_ops=1e5, feasible=True,
           answered=True, on_front=True)
fig3 = plots.plot_pareto([row], path={str(tmp_path / "p.png")!r})
assert type(fig).__name__ == "Figure", type(fig)
print(matplotlib.get_backend(), plt.get_fignums())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["svg", "[]"]
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


def _network(classes=3):
    config = model_config([
        LayerSpec("InputLayer", "input", {"batch_input_shape": [None, 4]}),
        LayerSpec("Dense", "hidden", {"units": 3, "activation": "relu"}, ("input",)),
        LayerSpec("Dense", "out", {"units": classes}, ("hidden",)),
    ])
    weights = {"hidden": (np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
               "out": (np.ones((3, classes), np.float32), np.zeros(classes, np.float32))}
    return FrozenNetwork(model_json=json.dumps(config), weights=weights, neuron="relu")


def test_bench_plots_draw_the_profile_only_on_request(tmp_path):
    network = _network(classes=3)
    cases = [_case("nengo", [0.2, 0.4])]
    outputs = {"nengo": np.zeros((1, 2, 3))}
    paths = plots.bench_plots(tmp_path / "a", network, cases, outputs, np.zeros((1, 4)),
                              [0], None, n_plot=0)
    assert [p.name for p in paths] == ["accuracy_vs_steps.png"]
    assert not (tmp_path / "a" / "activation_profile.png").exists()
    paths = plots.bench_plots(tmp_path / "b", network, cases, outputs, np.zeros((1, 4)),
                              [0], None, n_plot=0, profile=True)
    assert [p.name for p in paths] == ["accuracy_vs_steps.png", "activation_profile.png"]
    assert (tmp_path / "b" / "activation_profile.png").read_bytes()[:8] == PNG


def _label_boxes(fig):
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in fig.axes[0].texts]


def test_pareto_plot_of_a_fixed_step_search_spreads_the_trials(tmp_path):
    """Every trial at 30 steps: a steps axis stacks them in one column, their labels
    over each other. The x axis becomes synaptic operations, and no two labels
    overlap."""
    rows = [dict(trial_id=f"{i:02d}", accuracy=0.95 + 0.004 * i, steps=30,
                 synaptic_ops=2e5 * (1 + 0.3 * i), feasible=True, answered=True,
                 on_front=True) for i in range(8)]
    rows.append(dict(trial_id="99", accuracy=0.9, steps=30, synaptic_ops=6e5,
                     feasible=True, answered=True, on_front=False))
    fig = plots.plot_pareto(rows, steps_label="n_steps", path=tmp_path / "p.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == ("synaptic operations per input (every trial: n_steps "
                               "= 30)")
    xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert len(set(xs.tolist())) == 9  # one column no more
    texts = [t.get_text() for t in ax.texts]
    assert texts and set(texts) <= {r["trial_id"] for r in rows[:8]}
    for a, b in itertools.combinations(_label_boxes(fig), 2):
        assert not a.overlaps(b)


def test_pareto_plot_labels_never_overprint(tmp_path):
    # five front trials in one step column, a tenth of a point apart
    rows = [dict(trial_id=str(i), accuracy=0.97 + 0.001 * i, steps=12 + (i > 4),
                 synaptic_ops=5e5 - 1e4 * i, feasible=True, answered=True, on_front=True)
            for i in range(7)]
    fig = plots.plot_pareto(rows)
    assert fig.axes[0].get_xlabel() == "steps"
    boxes = _label_boxes(fig)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    left_out = len(rows) - len(boxes)
    assert left_out == 0 or any(f"({left_out} front label" in t for t in legend)


def test_bench_latency_titles_its_plot_with_the_procedures_it_ran():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "bench_latency.py"
    spec = importlib.util.spec_from_file_location("bench_latency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.plot_title([{"procedure": "latency"}]) == (
        "Loihi-exact accuracy vs time steps: procedure (latency)")
    assert module.plot_title([{"procedure": p} for p in ("seed", "best")]) == (
        "Loihi-exact accuracy vs time steps: 2 procedures (seed, best)")
