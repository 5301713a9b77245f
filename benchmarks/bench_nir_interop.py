"""snnTorch and Norse running snnkit's NIR export, against snnkit's ``nengo`` backend and
snnkit's NIR reference interpreter, in one run.

The network: the demo's (``out/demo/seed.snn.npz``, as ``snnkit demo`` writes it), or
--network PATH. It is exported twice: NIR's exact form (run by the reference
interpreter, ``tests/nir_reference.py``, written from NIR's equations) and the torch
readers' form (``snnkit.to_nir(network, reader="snntorch")``, loaded unpatched by
snnTorch 1.0's ``import_from_nir`` and Norse 1.1's ``from_nir(dt=1e-4)`` and run
batched as the README's recipes say). For the first --n test images (1,000) at --steps
(30) it prints the fraction whose predicted digit equals the ``nengo`` backend's
(argmax at the last step; the readers' output filtered with the synapse), each one's
accuracy and wall time.

Where the interpreter differs from nengo, it prints why, in the same run:
- the interpreter read k steps earlier than nengo (k = 0..4): nengo's synapses each
  delay a layer's input by one step, which NIR's equations (and the readers) do not;
- the same with Loihi's voltage floor (v >= 0 after every step, which NIR does not
  have) added to the interpreter: with both, k = the number of synapses between the
  first spiking layer and the output, it should agree on (nearly) every image;
- spikes per image of every neuron layer in nengo, the interpreter and the interpreter
  with the floor: the first layer that differs is where the divergence starts.

The other direction, in the same run (``--import-n``, 1,000 test images): MLPs
784-100-10 trained 1 epoch on 2,000 MNIST images in snnTorch and in Norse (LIF and IF),
exported by each library's own NIR export (``tests/nir_reader_graphs.py``, the graphs
``tests/test_nir_readers.py`` checks on 200 images), imported with ``snnkit.from_nir``
read per-step as the README says, run on snnkit's ``nengo`` backend at 25 steps: the
fraction of images whose digit equals the library's own simulation's, and the same
files read as NIR's unit-area spikes for contrast.

Writes the figures as JSON next to --out and a PNG (agreement per simulator; the
interpreter's agreement against k, with and without the floor).

    .venv/bin/python benchmarks/bench_nir_interop.py [--network out/demo/seed.snn.npz]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the reference interpreter lives with the tests


def lowpass(outputs, a):
    """The README's readout filter: y_t = a y_(t-1) + (1 - a) out_t, y_0 = 0."""
    y, filtered = np.zeros(outputs.shape[:1] + outputs.shape[2:]), []
    for t in range(outputs.shape[1]):
        y = a * y + (1 - a) * outputs[:, t]
        filtered.append(y)
    return np.stack(filtered, axis=1)


def run_snntorch(graph, x, n_steps, batch):
    import snntorch.utils
    import torch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per layer
        net = import_from_nir(copy.deepcopy(graph))
    outputs = []
    with torch.no_grad():
        for i in tqdm(range(0, len(x), batch), desc="snnTorch", unit="batch"):
            snntorch.utils.reset(net)  # before every batch
            xb = torch.from_numpy(x[i:i + batch])
            outputs.append(torch.stack([net(xb)[0] for _ in range(n_steps)], 1))
    return torch.cat(outputs).numpy()


def run_norse(graph, x, n_steps, batch):
    import norse.torch
    import torch

    net = norse.torch.from_nir(copy.deepcopy(graph), dt=1e-4)
    outputs = []
    with torch.no_grad():
        for i in tqdm(range(0, len(x), batch), desc="Norse", unit="batch"):
            xb, state, steps = torch.from_numpy(x[i:i + batch]), None, []
            for _ in range(n_steps):
                out, state = net(xb, state)
                steps.append(out)
            outputs.append(torch.stack(steps, 1))
    return torch.cat(outputs).numpy()


def import_agreement(n_test: int, n_train: int = 2000, n_steps: int = 25) -> dict:
    """Graphs exported by snnTorch and Norse, imported into snnkit: per graph, the
    fraction of the first ``n_test`` MNIST test images on which snnkit's ``nengo``
    backend predicts the library's own digit, read per-step and read as unit-area."""
    import warnings

    import torch
    from nir_reader_graphs import IMPORTS, chw_images, reader_graphs

    import snnkit
    from snnkit.backends import get_backend
    from snnkit.exceptions import NIRMeaningWarning

    (x_train, y_train), (x_test, y_test) = snnkit.load_mnist(n_train, n_test)
    start = time.perf_counter()
    graphs = reader_graphs(chw_images(x_train),
                           torch.from_numpy(y_train.astype(np.int64)),
                           chw_images(x_test), n_steps)
    print(f"import direction: 3 graphs trained and exported by their libraries "
          f"({time.perf_counter() - start:.0f} s); {n_test} test images, {n_steps} "
          "steps, spike count")
    print(f"{'':14s} {'own accuracy':>12s} {'agrees, per-step':>17s} "
          f"{'agrees, unit-area':>18s}")
    x01 = np.asarray(x_test, np.float32) / 255  # as the libraries were fed
    figures = {}
    for name, (graph, own) in graphs.items():
        agreement = {}
        for reading, options in (("per-step", IMPORTS[name]),
                                 ("unit-area", {"spikes": "unit-area"})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NIRMeaningWarning)
                network = snnkit.from_nir(graph, **options)
            predictions = get_backend("nengo").run(network, x01, n_steps=n_steps,
                                                   progress=True).predictions
            agreement[reading] = float(np.mean(predictions == own))
        figures[name] = {"own_accuracy": float(np.mean(own == y_test)), **agreement}
        print(f"{name:14s} {figures[name]['own_accuracy']:12.4f} "
              f"{agreement['per-step']:17.4f} {agreement['unit-area']:18.4f}")
    return {"n_images": n_test, "n_train": n_train, "n_steps": n_steps,
            "graphs": figures}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="out/demo/seed.snn.npz")
    parser.add_argument("--n", type=int, default=1000, help="test images")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--import-n", type=int, default=1000,
                        help="test images for the import direction (0: skip it)")
    parser.add_argument("--out", default="out/bench_nir_interop.json")
    args = parser.parse_args(argv)

    from nir_reference import run_graph

    import snnkit
    from snnkit.backends import get_backend
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.nir.export import NEURONS_SUFFIX
    from snnkit.utils.environment import machine_environment
    from snnkit.utils.files import atomic_write

    if not Path(args.network).is_file():
        print(f"--network: no file {args.network}; run `snnkit demo` first (it writes "
              "out/demo/seed.snn.npz) or pass a FrozenNetwork file", file=sys.stderr)
        return 1
    network = FrozenNetwork.load(args.network)
    _, (x, y) = snnkit.load_mnist(0, args.n)
    x_nchw = np.asarray(x, np.float32).transpose(0, 3, 1, 2).copy()
    rows, timings = {}, {}

    start = time.perf_counter()
    nengo_result = get_backend("nengo").run(network, x, n_steps=args.steps,
                                            progress=True)
    timings["nengo"] = time.perf_counter() - start
    nengo, nengo_spikes = nengo_result.predictions, nengo_result.spikes_per_input
    print(f"{args.network}: {network.neuron.name}, synapse {network.synapse} s, dt "
          f"{network.dt} s; {args.n} test images, {args.steps} steps")
    print(f"nengo backend (the reference): accuracy {np.mean(nengo == y):.4f} "
          f"({timings['nengo']:.1f} s)")

    exact = snnkit.to_nir(network)
    x64 = x_nchw.astype(np.float64)
    shifted, spikes = {}, {"nengo": {}}
    for label, floor in (("reference interpreter", None),
                         ("interpreter, voltage floor 0", 0.0)):
        counts, chunks = {}, []
        start = time.perf_counter()
        for i in tqdm(range(0, len(x64), args.batch), desc=label, unit="batch"):
            chunk_counts = {}
            chunks.append(run_graph(exact, x64[i:i + args.batch], args.steps,
                                    dt=network.dt, v_floor=floor,
                                    spike_counts=chunk_counts))
            for node, c in chunk_counts.items():
                counts[node] = np.concatenate([counts.get(node, np.zeros(0)), c])
        reference = np.concatenate(chunks)
        timings[label] = time.perf_counter() - start
        shifted[label] = {k: float(np.mean(
            reference[:, args.steps - 1 - k].argmax(-1) == nengo)) for k in range(5)}
        spikes[label] = {node.removesuffix(NEURONS_SUFFIX): float(np.mean(c))
                         for node, c in counts.items()}
        if floor is None:
            rows[label] = reference[:, -1].argmax(-1)
    spikes["nengo"] = {layer: n for layer, n in nengo_spikes.items()
                       if layer in spikes["reference interpreter"]}

    torch_form = snnkit.to_nir(network, reader="snntorch")
    a = json.loads(torch_form.metadata["snnkit_reader"])["readout_filter"]
    for name, run in (("snnTorch 1.0.0", run_snntorch), ("Norse 1.1.0", run_norse)):
        start = time.perf_counter()
        outputs = run(torch_form, x_nchw, args.steps, args.batch)
        timings[name] = time.perf_counter() - start
        rows[name] = (outputs if a is None else lowpass(outputs, a))[:, -1].argmax(-1)

    print(f"{'':24s} {'agrees with nengo':>18s} {'accuracy':>9s} {'wall s':>7s}")
    figures = {}
    for name, predictions in rows.items():
        agreement = float(np.mean(predictions == nengo))
        figures[name] = {"agreement": agreement,
                         "accuracy": float(np.mean(predictions == y)),
                         "wall_s": timings[name]}
        print(f"{name:24s} {agreement:18.4f} {figures[name]['accuracy']:9.4f} "
              f"{timings[name]:7.1f}")
    for label, values in shifted.items():
        print(f"{label} at step N - k vs nengo at step N: "
              + ", ".join(f"k={k}: {v:.4f}" for k, v in values.items()))
    print("spikes per image, per neuron layer (the first layer that differs is where "
          "the divergence starts):")
    layers = list(spikes["reference interpreter"])
    print(f"{'':30s}" + "".join(f"{layer:>12s}" for layer in layers))
    for label, counts in spikes.items():
        print(f"{label:30s}" + "".join(f"{counts.get(layer, float('nan')):12.1f}"
                                       for layer in layers))
    imported = import_agreement(args.import_n) if args.import_n else {}
    environment = machine_environment()
    print(f"{environment['date']}, {environment['cpu']}, {environment['cpu_count']} "
          f"CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    result = {"network": str(args.network), "n_images": args.n, "n_steps": args.steps,
              "nengo_accuracy": float(np.mean(nengo == y)), "nengo_wall_s":
              timings["nengo"], "figures": figures, "reference_shifted": shifted,
              "spikes_per_image": spikes, "timings_s": timings,
              "imported_reader_graphs": imported,
              "load_average": os.getloadavg(), "environment": environment}
    out = Path(args.out)
    with atomic_write(out, "w") as f:
        json.dump(result, f, indent=2)
    _plot(out.with_suffix(".png"), figures, shifted)
    print(f"written {out} and {out.with_suffix('.png')}")
    return 0


def _plot(path, figures, shifted):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnkit.utils.files import atomic_write

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    names = list(figures)
    left.barh(names, [figures[n]["agreement"] * 100 for n in names])
    left.axvline(95, color="k", linestyle=":")
    left.set_xlim(80, 100)
    left.set_xlabel("predictions equal to nengo's, %")
    for label, values in shifted.items():
        right.plot(list(values), [v * 100 for v in values.values()], marker="o",
                   label=label)
    right.legend()
    right.set_xlabel("interpreter read k steps before nengo")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


if __name__ == "__main__":
    sys.exit(main())
