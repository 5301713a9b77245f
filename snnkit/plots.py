"""PNG plots of a benchmark (matplotlib, Agg backend: no display needed).

- ``accuracy_vs_steps.png``: the accuracy–latency curve of every backend;
- ``rate_histograms.png``: per-layer histograms of per-neuron firing rates;
- ``outputs_over_time.png``: output probabilities over time for a few inputs, one
  column per backend (as the seed notebook plots them);
- ``activation_profile.png``: standard vs Loihi neuron rate curves (the notebook's
  ``plot_activation``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnkit.network.results import NO_OUTPUT_BELOW
from snnkit.utils.files import atomic_write


def pyplot():
    """matplotlib's pyplot with the Agg backend (PNG files, no window)."""
    import matplotlib

    # Agg: files only; never try to open a window (servers, CI, tests)
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically, and close it."""
    plt = pyplot()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def bench_plots(out_dir, network, cases, outputs, x, y, rates, *, n_plot: int = 3,
                n_hist: int = 0, n_steps: int | None = None) -> list[Path]:
    """Every plot of a benchmark.

    Parameters
    ----------
    out_dir : str or Path
        Where the PNG files are written.
    network : FrozenNetwork
        The benchmarked network.
    cases : list of dict
        The bench cases.
    outputs : dict of str to ndarray
        ``{backend: outputs (n_images, n_steps, n_outputs)}``.
    x, y : array_like
        The inputs and their labels.
    rates : dict of str to ndarray or None
        Per-neuron rates of :func:`snnkit.bench.neuron_rates`; None or empty: no
        histograms.
    n_plot : int, optional
        Inputs whose outputs over time are plotted; 0: none.
    n_hist : int, optional
        Inputs the rates are over.
    n_steps : int or None, optional
        Steps per input of the rates.

    Returns
    -------
    list of Path
        The paths written.
    """
    out = Path(out_dir)
    paths = [plot_accuracy_vs_steps(out / "accuracy_vs_steps.png", cases, network.dt)]
    if rates:
        paths.append(plot_rate_histograms(out / "rate_histograms.png", rates, network,
                                          n_hist, n_steps))
    if n_plot > 0:
        paths.append(plot_outputs_over_time(out / "outputs_over_time.png", outputs, x, y,
                                            n_plot))
    paths.append(plot_activation_profiles(out / "activation_profile.png"))
    return paths


def output_arrived(case) -> np.ndarray:
    """Per step, whether most inputs' outputs have received a spike.

    Parameters
    ----------
    case : dict
        A bench case; one without ``output_received_by_step`` (e.g. a sequential
        run) has received one at every step.

    Returns
    -------
    ndarray of bool
    """
    received = case.get("output_received_by_step")
    if received is None:
        return np.ones(len(case["accuracy_by_step"]), bool)
    return np.asarray(received) >= NO_OUTPUT_BELOW


def plot_accuracy_vs_steps(path, cases, dt_s: float, title: str | None = None,
                           label_key: str = "backend") -> Path:
    """One accuracy–latency curve per case.

    A step at which most inputs' outputs have not received a spike yet is not plotted
    as accuracy (it would be the output layer's bias): it is marked "no output yet"
    (x) instead.

    Parameters
    ----------
    path : str or Path
        The PNG file.
    cases : list of dict
        Bench case dicts: ``accuracy_by_step``, ``n_images``, optionally
        ``output_received_by_step``.
    dt_s : float
        The step length in seconds.
    title : str or None, optional
        The plot's title.
    label_key : str, optional
        The case field that names a curve.

    Returns
    -------
    Path
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    marked = False
    for i, case in enumerate(cases):
        acc = 100 * np.asarray(case["accuracy_by_step"])
        steps = np.arange(1, len(acc) + 1)
        answered = output_arrived(case)
        color = f"C{i % 10}"
        ax.plot(steps[answered], acc[answered], marker="o", ms=3, lw=1.8, color=color,
                label=f"{case[label_key]} ({case['n_images']} images, "
                      f"final {acc[-1]:.1f}%)")
        if not answered.all():
            ax.plot(steps[~answered], np.full((~answered).sum(), 1.5 + 2.5 * i),
                    ls="none", marker="x", ms=6, color=color)
            marked = True
    if marked:  # one legend entry for every case's marks
        ax.plot([], [], ls="none", marker="x", ms=6, color="grey",
                label="no output yet: most inputs' output is still its bias "
                      "(no spike received)")
    if cases:
        ax.set_xlim(0.5, len(cases[0]["accuracy_by_step"]) + 0.5)
    ax.axhline(10, color="grey", ls=":", lw=1, label="chance (10 classes)")
    ax.set_ylim(0, 101)
    ax.set_xlabel(f"time steps read out after input onset (dt = {1000 * dt_s:g} ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "Accuracy vs time steps (accuracy–latency curve)")
    ax.grid(alpha=0.3)
    # below the axes: inside, it hides the curves it explains
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
              frameon=False)
    return save_figure(fig, Path(path))


def plot_rate_histograms(path, rates: dict, network, n_images: int,
                         n_steps: int | None = None) -> Path:
    """Per-layer histograms of the firing rate of each neuron on each image.

    Parameters
    ----------
    path : str or Path
        The PNG file.
    rates : dict of str to ndarray
        ``{layer: (n_images, n_neurons)}``, in Hz.
    network : FrozenNetwork
        The network the rates are of.
    n_images : int
        Images the rates are over.
    n_steps : int or None, optional
        Steps per input: spiking rates are binned on their grid.

    Returns
    -------
    Path
    """
    plt = pyplot()
    names = list(rates)
    cols = min(len(names), 2)
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    ceiling = 1.0 / network.dt if network.neuron.runs_on_loihi else None
    for ax, name in zip(axes.flat, names):
        per_input = np.asarray(rates[name])
        r = per_input.ravel()
        silent = float(np.mean(r <= 0))
        never = float(np.mean((per_input <= 0).all(axis=0)))
        active = r[r > 0]
        top = max(float(r.max(initial=0.0)), 1.0)
        bins = np.linspace(0, top * 1.02, 41)
        if network.neuron.is_spiking and n_steps:
            # spike counts make rates multiples of 1 / (n_steps * dt): bins on that
            # grid, or bars alternate with empty bins
            res = 1.0 / (n_steps * network.dt)
            k_max = int(np.ceil(top / res))
            group = max(1, int(np.ceil(k_max / 50)))
            bins = (np.arange(0, k_max + group + 1, group) + 0.5) * res
        ax.hist(active, bins=bins, color="tab:blue", alpha=0.85,
                label=f"active (neuron, image) pairs, mean {active.mean():.0f} Hz"
                if len(active) else "no active neurons")
        if ceiling is not None and top >= 0.5 * ceiling:
            ax.axvline(ceiling, color="tab:red", ls="--", lw=1,
                       label=f"Loihi ceiling {ceiling:.0f} Hz")
        where = "off-chip" if name in network.off_chip else "on-chip"
        ax.set_title(f"{name} ({where}), {per_input.shape[1]} neurons: "
                     f"{100 * silent:.0f}% silent per image, "
                     f"{100 * never:.0f}% never fire",
                     fontsize=10)
        ax.set_xlabel("firing rate (Hz)")
        ax.set_ylabel("(neuron, image) pairs")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"Firing rate of each neuron on each of {n_images} images, "
                 f"{network.neuron.name} neurons (NengoDL); silent pairs not drawn",
                 y=1.0)
    fig.tight_layout()
    return save_figure(fig, Path(path))


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def plot_outputs_over_time(path, outputs: dict, x, y, n_plot: int) -> Path:
    """Output probabilities over time for the first inputs, one column per backend.

    Parameters
    ----------
    path : str or Path
        The PNG file.
    outputs : dict of str to ndarray
        ``{backend: (n_images, n_steps, n_outputs)}``.
    x, y : array_like
        The inputs and their labels.
    n_plot : int
        Inputs plotted (the first ones).

    Returns
    -------
    Path
    """
    plt = pyplot()
    backends = list(outputs)
    n_plot = min(n_plot, *(len(o) for o in outputs.values()))
    cols = 1 + len(backends)
    fig, axes = plt.subplots(n_plot, cols, figsize=(2.4 + 4.2 * len(backends),
                                                       2.5 * n_plot), squeeze=False,
                             gridspec_kw={"width_ratios": [0.6] + [1] * len(backends)})
    colors = plt.get_cmap("tab10").colors
    x = np.asarray(x)
    for i in range(n_plot):
        image = x[i].reshape(x[i].shape[0], -1) if x[i].ndim == 3 else x[i]
        if image.ndim == 1:
            side = int(np.sqrt(image.size))
            image = image.reshape(side, -1)
        axes[i, 0].imshow(image, cmap="gray")
        axes[i, 0].set_title(f"input {i} (label {int(y[i])})", fontsize=9)
        axes[i, 0].axis("off")
        for j, backend in enumerate(backends):
            ax = axes[i, j + 1]
            probs = _softmax(np.asarray(outputs[backend][i], np.float64))
            steps = np.arange(1, len(probs) + 1)
            for k in range(probs.shape[1]):
                ax.plot(steps, probs[:, k], color=colors[k % 10], lw=1.6 if k == int(
                    y[i]) else 1.0, label=str(k))
            pred = int(np.argmax(probs[-1]))
            ax.set_title(f"{backend}: predicts {pred}", fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("probability")
            ax.grid(alpha=0.3)
            if i == n_plot - 1:
                ax.set_xlabel("time step")
    from matplotlib.lines import Line2D

    # own handles: the first panel's would show its true class thicker than the rest
    n_classes = np.asarray(next(iter(outputs.values()))).shape[-1]
    handles = [Line2D([], [], color=colors[k % 10], lw=1.6) for k in range(n_classes)]
    fig.legend(handles, [str(k) for k in range(n_classes)],
               title="class\n(true one\nthicker)", loc="center right", fontsize=8)
    fig.suptitle("Output predictions over time (softmax of the output layer)")
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    return save_figure(fig, Path(path))


def plot_activation_profiles(path) -> Path:
    """Standard vs Loihi neurons at gain 1, bias 0 (the notebook's plot_activation).

    Loihi's integer, one-spike-per-step neurons give a staircase that saturates at
    1 / dt.
    """
    import nengo

    from snnkit.utils.stack import import_nengo_loihi

    nengo_loihi = import_nengo_loihi()
    plt = pyplot()
    pairs = (
        (nengo.RectifiedLinear(), nengo_loihi.neurons.LoihiSpikingRectifiedLinear(),
         (-100, 1000)),
        (nengo.LIF(), nengo_loihi.neurons.LoihiLIF(), (-4, 40)),
    )
    fig, axes = plt.subplots(2, 1, figsize=(8, 6))
    for ax, (standard, loihi, (lo, hi)) in zip(axes, pairs):
        x = np.arange(lo, hi, 0.001 * (hi - lo) / 44)
        for neurons, label, style in ((standard, "standard", "-"),
                                      (loihi, "Loihi", "--")):
            rates = neurons.rates(x=x, gain=np.array([1.0]), bias=np.array([0.0]))
            ax.plot(x, np.asarray(rates).ravel(), style, lw=2,
                    label=f"{label}: {type(neurons).__name__}")
        ax.set_title(f"{type(standard).__name__} vs {type(loihi).__name__} "
                     "(gain 1, bias 0)")
        ax.set_xlabel("input signal")
        ax.set_ylabel("firing rate (Hz)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("Activation profiles: standard vs Loihi neurons")
    fig.tight_layout()
    return save_figure(fig, Path(path))


def plot_pareto(path, rows: list[dict], *, steps_label: str = "steps",
                accuracy_label: str = "accuracy", title: str | None = None) -> Path:
    """Accuracy (%) vs steps of a search, one point per completed trial.

    Pareto-front trials (``on_front``) are red and labelled with their trial id and
    synaptic operations per input (the third axis: a front trial below another one
    is on the front for using fewer of them); the line joins the front's best
    accuracy for each step budget. Trials outside the constraints are hollow. Trials
    read out before their output answered (``answered`` False: the accuracy is the
    output layer's bias) are marked x at the bottom edge, so that the accuracy axis
    spans the answers only.

    Parameters
    ----------
    path : str or Path
        The PNG file.
    rows : list of dict
        One per trial (:func:`snnkit.tuning.pareto.pareto_rows`).
    steps_label, accuracy_label : str, optional
        The axes' labels.
    title : str or None, optional
        The plot's title.

    Returns
    -------
    Path
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    done = [r for r in rows if r.get("accuracy") is not None]
    answered = [r for r in done if r.get("answered", True)]
    low = min((100 * r["accuracy"] for r in answered), default=0.0)
    bottom = max(0.0, low - max(1.0, 0.1 * (100 - low)))
    ax.set_ylim(bottom, 100.0 + 0.02 * (100 - bottom))
    for feasible, style in ((True, dict(color="grey", alpha=0.6)),
                            (False, dict(facecolors="none", edgecolors="grey"))):
        pts = [r for r in answered
               if bool(r["feasible"]) is feasible and not r["on_front"]]
        if pts:
            ax.scatter([r["steps"] for r in pts], [100 * r["accuracy"] for r in pts],
                       s=22, label="trial" if feasible else
                       "trial outside the constraints / target not reached", **style)
    silent = [r for r in done if not r.get("answered", True)]
    if silent:
        ax.scatter([r["steps"] for r in silent], [bottom] * len(silent), marker="x",
                   s=30, color="grey", clip_on=False,
                   label=f"no output yet at the readout step ({len(silent)} trial"
                         f"{'s' if len(silent) > 1 else ''}; its accuracy is the bias)")
    front = sorted((r for r in done if r["on_front"]),
                   key=lambda r: (r["steps"], -r["accuracy"]))
    if front:
        ax.scatter([r["steps"] for r in front], [100 * r["accuracy"] for r in front],
                   s=40, color="C3", zorder=3,
                   label="Pareto front (accuracy x steps x synaptic ops), "
                         "labelled trial: synaptic ops per input")
        best, line = -1.0, []
        for r in front:  # best accuracy for each step budget
            if r["accuracy"] > best:
                best = r["accuracy"]
                line.append(r)
        ax.plot([r["steps"] for r in line], [100 * r["accuracy"] for r in line],
                color="C3", lw=1.5, drawstyle="steps-post", zorder=2,
                label="best accuracy on the front within a step budget")
        for r in front:
            ax.annotate(f"{r['trial_id']}: {_short(r['synaptic_ops'])}",
                        (r["steps"], 100 * r["accuracy"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color="C3")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole
    ax.set_xlabel(steps_label)
    ax.set_ylabel(f"{accuracy_label} (%)")
    ax.set_title(title or "Search trials: accuracy vs steps", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, fontsize=8,
              frameon=False)
    return save_figure(fig, Path(path))


def _short(value: float) -> str:
    """``534148`` -> ``"534k"``, ``1.2e6`` -> ``"1.2M"``."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"
