"""Plots of a benchmark or a search, as matplotlib figures.

Every ``plot_*`` function returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API (no ``pyplot``, so matplotlib's global backend, a notebook's
inline display and pyplot's list of open figures are left alone); given ``path``,
it also writes the figure there as a PNG (:func:`save_figure`: Agg canvas, atomic).
Show one in a notebook by leaving it as a cell's last value, or with
``IPython.display.display(fig)``.

- :func:`plot_accuracy_vs_steps`: the accuracy-latency curve of every case
  (``accuracy_vs_steps.png``);
- :func:`plot_rate_histograms`: per-layer histograms of per-neuron firing rates
  (``rate_histograms.png``);
- :func:`plot_outputs_over_time`: output probabilities over time for a few inputs,
  one column per backend, as the seed notebook plots them (``outputs_over_time.png``);
- :func:`plot_activation_profiles`: standard vs Loihi neuron rate curves, the
  notebook's ``plot_activation`` (``activation_profile.png``, written by ``snnkit
  bench --profile-plot`` only: it is the same picture for every network);
- :func:`plot_pareto`: a search's trials and Pareto front (``pareto.png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnkit.network.results import NO_OUTPUT_BELOW
from snnkit.utils.files import atomic_write


def new_figure(figsize):
    """A matplotlib ``Figure`` of ``figsize`` inches, with an Agg canvas.

    Made without ``pyplot``: nothing global changes, and the figure is not in
    pyplot's list of open figures (it is freed with its last reference).

    Parameters
    ----------
    figsize : tuple of (float, float)
        Width and height, inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure (one made with pyplot too).
    path : str or Path
        The PNG file.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) \
        else fig.canvas
    with atomic_write(path) as f:
        canvas.print_figure(f, format="png", dpi=110, bbox_inches="tight")
    return path


def _finish(fig, path):
    if path is not None:
        save_figure(fig, path)
    return fig


def bench_plots(out_dir, network, cases, outputs, x, y, rates, *, n_plot: int = 3,
                n_hist: int = 0, n_steps: int | None = None,
                profile: bool = False) -> list[Path]:
    """Every plot of a benchmark, written as PNG files.

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
    profile : bool, optional
        Also write ``activation_profile.png`` (the same for every network).

    Returns
    -------
    list of Path
        The paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_classes = network.layer_shape(network.output_layer)[-1]
    plot_accuracy_vs_steps(cases, network.dt, n_classes=n_classes,
                           path=out / "accuracy_vs_steps.png")
    paths = [out / "accuracy_vs_steps.png"]
    if rates:
        plot_rate_histograms(rates, network, n_hist, n_steps,
                             path=out / "rate_histograms.png")
        paths.append(out / "rate_histograms.png")
    if n_plot > 0:
        plot_outputs_over_time(outputs, x, y, n_plot, path=out / "outputs_over_time.png")
        paths.append(out / "outputs_over_time.png")
    if profile:
        plot_activation_profiles(path=out / "activation_profile.png")
        paths.append(out / "activation_profile.png")
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


def plot_accuracy_vs_steps(cases, dt_s: float, *, n_classes: int | None = None,
                           title: str | None = None, label_key: str = "backend",
                           path=None):
    """One accuracy-latency curve per case.

    A step at which most inputs' outputs have not received a spike yet is not plotted
    as accuracy (it would be the output layer's bias): it is marked "no output yet"
    (x) instead.

    Parameters
    ----------
    cases : list of dict
        Bench case dicts: ``accuracy_by_step``, ``n_images``, optionally
        ``output_received_by_step`` and ``n_outputs``.
    dt_s : float
        The step length in seconds.
    n_classes : int or None, optional
        Classes the network tells apart: the chance line is drawn at
        ``100 / n_classes`` %. None: the cases' ``n_outputs`` if they agree, else no
        chance line.
    title : str or None, optional
        The plot's title (default: says how many curves of what are drawn).
    label_key : str, optional
        The case field that names a curve.
    path : str, Path or None, optional
        Where to write it as a PNG too (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        Accuracy (%) against steps read out (dt named), one curve per case.
    """
    fig = new_figure((7, 4.2))
    ax = fig.subplots()
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
        ax.set_xlim(0.5, max(len(c["accuracy_by_step"]) for c in cases) + 0.5)
    if n_classes is None:
        known = {c.get("n_outputs") for c in cases}
        n_classes = known.pop() if len(known) == 1 else None
    if n_classes:
        ax.axhline(100 / n_classes, color="grey", ls=":", lw=1,
                   label=f"chance ({n_classes} classes: {100 / n_classes:.3g}%)")
    ax.set_ylim(0, 101)
    ax.set_xlabel(f"time steps read out after input onset (dt = {1000 * dt_s:g} ms)")
    ax.set_ylabel("test accuracy (%)")
    if title is None:
        what = label_key if len(cases) == 1 else f"{label_key}s"
        title = (f"Accuracy vs time steps: {len(cases)} {what} "
                 f"({', '.join(str(c[label_key]) for c in cases)})")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    # below the axes: inside, it hides the curves it explains
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
              frameon=False)
    return _finish(fig, path)


def plot_rate_histograms(rates: dict, network, n_images: int,
                         n_steps: int | None = None, *, path=None):
    """Per-layer histograms of the firing rate of each neuron on each image.

    Parameters
    ----------
    rates : dict of str to ndarray
        ``{layer: (n_images, n_neurons)}``, in Hz.
    network : FrozenNetwork
        The network the rates are of.
    n_images : int
        Images the rates are over.
    n_steps : int or None, optional
        Steps per input: spiking rates are binned on their grid.
    path : str, Path or None, optional
        Where to write it as a PNG too (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per neuron layer, two columns; rates in Hz.
    """
    names = list(rates)
    cols = min(len(names), 2)
    rows = int(np.ceil(len(names) / cols))
    fig = new_figure((5.2 * cols, 3.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
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
    return _finish(fig, path)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def plot_outputs_over_time(outputs: dict, x, y, n_plot: int, *, path=None):
    """Output probabilities over time for the first inputs, one column per backend.

    Parameters
    ----------
    outputs : dict of str to ndarray
        ``{backend: (n_images, n_steps, n_outputs)}``.
    x, y : array_like
        The inputs and their labels.
    n_plot : int
        Inputs plotted (the first ones).
    path : str, Path or None, optional
        Where to write it as a PNG too (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        One row per input: the input image, then one panel per backend.
    """
    import matplotlib

    backends = list(outputs)
    n_plot = min(n_plot, *(len(o) for o in outputs.values()))
    cols = 1 + len(backends)
    fig = new_figure((2.4 + 4.2 * len(backends), 2.5 * n_plot))
    axes = fig.subplots(n_plot, cols, squeeze=False,
                        gridspec_kw={"width_ratios": [0.6] + [1] * len(backends)})
    colors = matplotlib.colormaps["tab10"].colors
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
    if n_classes <= 12:
        handles = [Line2D([], [], color=colors[k % 10], lw=1.6)
                   for k in range(n_classes)]
        fig.legend(handles, [str(k) for k in range(n_classes)],
                   title="class\n(true one\nthicker)", loc="center right", fontsize=8)
    else:  # a legend of every class would be taller than the figure
        fig.text(0.995, 0.5, f"{n_classes} classes;\nthe true one\nthicker",
                 ha="right", va="center", fontsize=8)
    fig.suptitle(f"Output of the first {n_plot} input{'s' if n_plot > 1 else ''} over "
                 f"time (softmax of the output layer), {len(backends)} backend"
                 f"{'s' if len(backends) > 1 else ''}")
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    return _finish(fig, path)


def plot_activation_profiles(*, path=None):
    """Standard vs Loihi neurons at gain 1, bias 0 (the notebook's plot_activation).

    Loihi's integer, one-spike-per-step neurons give a staircase that saturates at
    1 / dt. The picture depends on no network.

    Parameters
    ----------
    path : str, Path or None, optional
        Where to write it as a PNG too (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (ReLU, LIF), rate in Hz against input current.
    """
    import nengo

    from snnkit.utils.stack import import_nengo_loihi

    nengo_loihi = import_nengo_loihi()
    pairs = (
        (nengo.RectifiedLinear(), nengo_loihi.neurons.LoihiSpikingRectifiedLinear(),
         (-100, 1000)),
        (nengo.LIF(), nengo_loihi.neurons.LoihiLIF(), (-4, 40)),
    )
    fig = new_figure((8, 6))
    axes = fig.subplots(2, 1)
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
    return _finish(fig, path)


def plot_pareto(rows: list[dict], *, steps_label: str = "steps",
                accuracy_label: str = "accuracy", title: str | None = None, path=None):
    """Accuracy (%) of a search's trials against steps, or synaptic operations.

    One point per completed trial. When the trials ran different numbers of steps,
    the x axis is steps, and Pareto-front trials (``on_front``) are red and labelled
    with their trial id and synaptic operations per input (the third axis: a front
    trial below another one is on the front for using fewer of them). When every
    trial has the same steps (a search over scales at fixed ``n_steps``), a steps
    axis would stack them all in one column: the x axis is then synaptic operations
    per input and front trials are labelled with their id. The line joins the
    front's best accuracy within each budget. Trials outside the constraints are
    hollow. Trials read out before their output answered (``answered`` False: the
    accuracy is the output layer's bias) are marked x at the bottom edge, so that
    the accuracy axis spans the answers only. Labels that would overlap one already
    drawn are left out (the legend says how many; ``pareto.csv`` lists every trial).

    Parameters
    ----------
    rows : list of dict
        One per trial (:func:`snnkit.tuning.pareto.pareto_rows`).
    steps_label, accuracy_label : str, optional
        The axes' labels.
    title : str or None, optional
        The plot's title.
    path : str, Path or None, optional
        Where to write it as a PNG too (see the module docstring).

    Returns
    -------
    matplotlib.figure.Figure
        Accuracy against cost, the front's trials joined.
    """
    fig = new_figure((7, 4.4))
    ax = fig.subplots()
    done = [r for r in rows if r.get("accuracy") is not None]
    answered = [r for r in done if r.get("answered", True)]
    steps = sorted({r["steps"] for r in done})
    by_ops = len(steps) == 1  # one column of steps: spread the trials by cost
    if by_ops:
        def at(r):
            return r["synaptic_ops"]
        x_label = (f"synaptic operations per input (every trial: {steps_label} = "
                   f"{steps[0]:g})")
    else:
        def at(r):
            return r["steps"]
        x_label = steps_label
    low = min((100 * r["accuracy"] for r in answered), default=0.0)
    bottom = max(0.0, low - max(1.0, 0.1 * (100 - low)))
    ax.set_ylim(bottom, 100.0 + 0.02 * (100 - bottom))
    _set_x_range(ax, [at(r) for r in done], log=by_ops)
    for feasible, style in ((True, dict(color="grey", alpha=0.6)),
                            (False, dict(facecolors="none", edgecolors="grey"))):
        pts = [r for r in answered
               if bool(r["feasible"]) is feasible and not r["on_front"]]
        if pts:
            ax.scatter([at(r) for r in pts], [100 * r["accuracy"] for r in pts],
                       s=22, label="trial" if feasible else
                       "trial outside the constraints / target not reached", **style)
    silent = [r for r in done if not r.get("answered", True)]
    if silent:
        ax.scatter([at(r) for r in silent], [bottom] * len(silent), marker="x",
                   s=30, color="grey", clip_on=False,
                   label=f"no output yet at the readout step ({len(silent)} trial"
                         f"{'s' if len(silent) > 1 else ''}; its accuracy is the bias)")
    front = sorted((r for r in done if r["on_front"]),
                   key=lambda r: (at(r), -r["accuracy"]))
    if front:
        what = "trial id" if by_ops else "trial id: synaptic ops per input"
        ax.scatter([at(r) for r in front], [100 * r["accuracy"] for r in front],
                   s=40, color="C3", zorder=3,
                   label=f"Pareto front (accuracy x steps x synaptic ops), labelled "
                         f"{what}")
        best, line = -1.0, []
        for r in front:  # best accuracy for each budget
            if r["accuracy"] > best:
                best = r["accuracy"]
                line.append(r)
        ax.plot([at(r) for r in line], [100 * r["accuracy"] for r in line],
                color="C3", lw=1.5, drawstyle="steps-post", zorder=2,
                label="best accuracy on the front within a "
                      + ("synaptic-ops budget" if by_ops else "step budget"))
        texts = [str(r["trial_id"]) if by_ops else
                 f"{r['trial_id']}: {_short(r['synaptic_ops'])}" for r in front]
        left_out = _place_labels(fig, ax, [(at(r), 100 * r["accuracy"]) for r in front],
                                 texts, color="C3")
        if left_out:
            ax.plot([], [], ls="none", label=f"({left_out} front label"
                    f"{'s' if left_out > 1 else ''} left out where "
                    f"{'they' if left_out > 1 else 'it'} would overlap another; "
                    "pareto.csv lists every trial)")
    if not by_ops:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole
    elif ax.get_xscale() == "linear":
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.set_xlabel(x_label)
    ax.set_ylabel(f"{accuracy_label} (%)")
    ax.set_title(title or f"Search trials: accuracy vs "
                 f"{'synaptic operations' if by_ops else 'steps'}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, fontsize=8,
              frameon=False)
    return _finish(fig, path)


def _set_x_range(ax, values, *, log: bool) -> None:
    """x limits with a margin, fixed before labels are placed (they are placed in
    display coordinates); a log scale for costs spanning more than 20x."""
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not values:
        return
    lo, hi = min(values), max(values)
    if log and lo > 0 and hi / lo > 20:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.3, hi * 1.3)
        return
    pad = 0.06 * (hi - lo) if hi > lo else max(0.5, 0.06 * abs(hi))
    ax.set_xlim(lo - pad, hi + pad)


# where a label may go around its point (offset points), in order of preference
_LABEL_OFFSETS = ((4, -10), (4, 4), (-4, 4), (-4, -10), (4, 12), (4, -18), (-4, 12),
                  (-4, -18))


def _place_labels(fig, ax, points, texts, *, color) -> int:
    """Annotate each point with its text where it overlaps no label placed before.

    Returns
    -------
    int
        How many labels were left out (every place around the point was taken).
    """
    renderer = fig.canvas.get_renderer()
    placed, left_out = [], 0
    for (x, y), text in zip(points, texts):
        for dx, dy in _LABEL_OFFSETS:
            label = ax.annotate(text, (x, y), textcoords="offset points",
                                xytext=(dx, dy), fontsize=7, color=color,
                                ha="left" if dx > 0 else "right")
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                placed.append(box)
                break
            label.remove()
        else:
            left_out += 1
    return left_out


def _short(value: float) -> str:
    """``534148`` -> ``"534k"``, ``1.2e6`` -> ``"1.2M"``."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"
