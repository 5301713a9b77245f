"""A scale search with a Pareto front: accuracy against time steps and synaptic
operations.

A trained network's per-layer ``scale_firing_rates`` trade accuracy for activity
(synaptic operations, hence energy) and for latency (how many steps it needs).
``snnkit.tuning.ScaleSearch`` searches them, and the number of steps, with
keras-tuner, each trial Loihi-exact (``loihi-emulator-fast``) on held-out images;
the ``pareto`` objective keeps the front of accuracy x steps x synaptic operations.
``pareto.csv`` lists every trial (``on_front`` marks the front) and ``pareto.png``
plots it.

The network: a small convnet trained in Keras on scikit-learn's digits, frozen with
Loihi neurons, no synapse and the running-mean readout (the latency-first settings),
at scales that put each layer's 99th-percentile ReLU activation at 1000 Hz
(``snnkit.training.recipes.percentile_scales``); the search looks from a quarter to
four times those. The same from the command line, with a JSON
configuration (``snnkit tune --help``; ``tuning/README.md``)::

    snnkit tune search.json --objective pareto

Writes the search's directory (resumable: run it again to add trials),
``pareto.csv``, ``pareto.png`` and the best network to ``--out-dir``.
``--small`` runs 4 trials on a slice, in seconds (the figures then mean nothing).
"""

from __future__ import annotations

import common


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], "scale_search_pareto")
    p.add_argument("--trials", type=int, help="trials in all (default: 40; 4 small)")
    args = p.parse_args()
    small = common.small(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    import snnkit
    from snnkit.training.recipes import percentile_scales
    from snnkit.tuning import ScaleSearch
    from snnkit.tuning.pareto_files import write_pareto_files

    (x_train, y_train), _ = common.digits(300 if small else None)
    # the last 20% of the training images validate: the model never trains on them,
    # and the test images stay out of every choice
    n_fit = int(len(x_train) * 0.8)
    model = common.train_in_keras(common.small_convnet(x_train.shape[1:]),
                                  x_train[:n_fit], y_train[:n_fit],
                                  epochs=3 if small else 40)
    scales = percentile_scales(model, x_train[:n_fit], max_rate_hz=1000.0)
    network = snnkit.from_keras(model, neuron_type="loihi-relu", synapse=None,
                                scale_firing_rates=scales, readout="mean")

    search = ScaleSearch(
        network, x_train[n_fit:], y_train[n_fit:], scale_range=(4.0, 4.0),
        n_steps=(5, 30), objective="pareto", oracle="random" if small else "bayesian",
        max_trials=args.trials or (4 if small else 40), seed=0,
        directory=args.out_dir, project_name="scales")
    search.search()
    csv_path, png_path = write_pareto_files(search, args.out_dir)
    best = search.export_best(args.out_dir / "best.snn.npz")

    from snnkit.tuning.pareto import pareto_rows

    front = [row for row in pareto_rows(search) if row["on_front"]]
    print(f"{len(front)} trial(s) on the front of accuracy x steps x synaptic ops:")
    for row in sorted(front, key=lambda r: r["steps"]):
        print(f"  {row['steps']:>4.0f} steps  {100 * row['accuracy']:6.2f}%  "
              f"{row['synaptic_ops']:>10.0f} synaptic ops per image  (trial "
              f"{row['trial_id']})")
    print(f"wrote {csv_path}, {png_path}, {best}")


if __name__ == "__main__":
    main()
