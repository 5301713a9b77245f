"""The ``convert`` and ``export`` subcommands: a Keras model file or a NIR graph to a
FrozenNetwork, and a FrozenNetwork to a NIR graph."""

from __future__ import annotations

from . import arguments as A


def register(commands, common) -> None:
    parser = commands.add_parser(
        "convert", parents=[common],
        help="a saved Keras model (.h5/.keras) to a FrozenNetwork file",
        description="Freeze a saved Keras model into a FrozenNetwork. The file is "
                    "checked against snnkit's layer allowlist before Keras reads it, "
                    "so a Lambda or custom layer is refused and no stored code runs.")
    parser.add_argument("model", nargs="?", default=None,
                        help="Keras model file (.h5 or .keras); omitted with --from-nir")
    parser.add_argument("--from-nir", metavar="FILE", default=None,
                        help="read a NIR graph file (.nir) instead of a Keras model")
    A.add_out_file(parser)
    A.add_saved_neurons(parser, None, "neuron type of the ReLU layers (default relu; "
                                      "with --from-nir: the graph's)",
                        "lowpass synapse on neuron outputs, s, or 'none' (default none)")
    parser.add_argument("--dt", type=A.positive_float, default=None,
                        help="simulation step, s (default 0.001; with --from-nir: the "
                             "graph's snnkit metadata, else 0.001)")
    parser.add_argument("--off-chip", type=A.names, default=None,
                        help="comma-separated layers that run on the host (default: "
                             "the first neuron layer and layers without neurons)")
    parser.set_defaults(func=run)


def register_export(commands, common) -> None:
    parser = commands.add_parser(
        "export", parents=[common],
        help="write a FrozenNetwork as a NIR graph (for Lava/Loihi 2 and other NIR "
             "readers)",
        description="Write a FrozenNetwork in another format, atomically. nir: the "
                    "Neuromorphic Intermediate Representation (HDF5), read by Lava, "
                    "snnTorch, Norse, sinabs, Rockpool, Spyx, SpiNNaker2; see the "
                    "README's 'Leaving and entering snnkit'.")
    A.add_network(parser)
    parser.add_argument("--format", required=True, choices=("nir",),
                        help="output format")
    parser.add_argument("out", help="file to write (e.g. net.nir)")
    parser.set_defaults(func=run_export)


def run(args) -> int:
    out = A.output_file(args.out)
    from ..frozen import FrozenNetwork

    if args.from_nir is not None:
        return _convert_from_nir(args, out)
    if args.model is None:
        raise A.error("model: expected a Keras model file (or --from-nir FILE), got none")
    model = A.load_keras_model(args.model, "model", for_training=False)
    kwargs = {}
    if args.off_chip is not None:
        kwargs["off_chip"] = args.off_chip
    network = FrozenNetwork.from_keras(
        model, neuron_type=args.neuron_type or "relu", scale_firing_rates=args.scale or {},
        synapse=args.synapse, dt=args.dt or 0.001,
        metadata={"procedure": "snnkit convert", "source": str(args.model)}, **kwargs)
    print(network.summary())
    print(f"FrozenNetwork saved to {network.save(out)}")
    return 0


def _convert_from_nir(args, out) -> int:
    from ..nir_import import from_nir

    for flag, value in (("model", args.model), ("--scale", args.scale),
                        ("--synapse", args.synapse), ("--off-chip", args.off_chip)):
        if value is not None:
            raise A.error(f"{flag}: not used with --from-nir (the NIR graph sets it), "
                         f"got {value!r}")
    network = from_nir(A.input_file(args.from_nir, "--from-nir"),
                       neuron_type=args.neuron_type, dt=args.dt)
    print(network.summary())
    print(f"FrozenNetwork saved to {network.save(out)}")
    return 0


def run_export(args) -> int:
    network = A.load_network(args.network)
    out = A.output_file(args.out, "out")
    from ..nir_export import write_nir

    print(f"NIR graph written to {write_nir(network, out)}")
    return 0
