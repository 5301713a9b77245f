"""NIR out and in: a FrozenNetwork to the Neuromorphic Intermediate Representation
and back.

NIR (https://neuroir.org, the ``nir`` package) is the graph format Lava-DL (Loihi 2),
snnTorch, Norse, sinabs/Speck, Rockpool/Xylo, Spyx and SpiNNaker2 read or write.
``snnkit.to_nir`` / ``snnkit.nir.export.write_nir`` write a spiking network as NIR's
continuous-time nodes (``Conv2d``, ``Affine``, ``IF`` ...); ``snnkit.from_nir`` reads a
NIR graph into a FrozenNetwork without TensorFlow. Here a small convnet trained in
Keras on scikit-learn's digits goes out and comes back in, and both run Loihi-exact
(``loihi-emulator-fast``) on the test images: the same outputs, step for step.

The same from the command line::

    snnkit export network.snn.npz --format nir --out network.nir
    snnkit convert --from-nir network.nir --out back.snn.npz

Writes ``network.snn.npz``, ``network.nir`` and ``back.snn.npz`` to ``--out-dir``.
``--small`` trains on a slice for 3 epochs, in seconds.
"""

from __future__ import annotations

import common


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], "nir_out_and_in")
    args = p.parse_args()
    small = common.small(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    import nir
    import numpy as np

    import snnkit
    from snnkit.backends import get_backend
    from snnkit.nir.export import write_nir
    from snnkit.training.recipes import percentile_scales

    (x_train, y_train), (x_test, y_test) = common.digits(
        *((300, 100) if small else (None, None)))
    model = common.train_in_keras(common.small_convnet(x_train.shape[1:]), x_train,
                                  y_train, epochs=3 if small else 40)
    # a spiking network: Loihi neurons, 5 ms synapse, each layer's 99th-percentile
    # ReLU activation at 250 Hz
    network = snnkit.from_keras(
        model, neuron_type="loihi-relu", synapse=0.005, readout="mean",
        scale_firing_rates=percentile_scales(model, x_train, max_rate_hz=250.0))
    network.save(args.out_dir / "network.snn.npz")

    path = write_nir(network, args.out_dir / "network.nir")
    graph = nir.read(path)
    kinds = {}
    for node in graph.nodes.values():
        kinds[type(node).__name__] = kinds.get(type(node).__name__, 0) + 1
    print(f"wrote {path}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))

    back = snnkit.from_nir(path)
    back.save(args.out_dir / "back.snn.npz")
    fast = get_backend("loihi-emulator-fast")
    out, came_back = (fast.run(net, x_test, n_steps=30) for net in (network, back))
    same = np.array_equal(out.outputs, came_back.outputs)
    print(f"Loihi-exact on {len(x_test)} test images, 30 steps: "
          f"{100 * out.accuracy(y_test):.2f}% before, "
          f"{100 * came_back.accuracy(y_test):.2f}% after the round trip; "
          f"outputs identical at every step: {same}")
    if not same:
        raise SystemExit("the network read back from NIR does not run the same")


if __name__ == "__main__":
    main()
