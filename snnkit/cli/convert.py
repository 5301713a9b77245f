"""The ``convert`` and ``export`` subcommands: a Keras model file or a NIR graph to a
FrozenNetwork, and a FrozenNetwork to a NIR graph."""

from __future__ import annotations

from snnkit.cli import arguments as A


def run(args) -> int:
    out = A.output_file(args.out)
    if args.from_nir is not None:
        return _convert_from_nir(args, out)
    if args.model is None:
        raise A.error("model: expected a Keras model file (or --from-nir FILE), got none")
    from snnkit.convert.freeze import from_keras

    model = A.load_keras_model(args.model, "model", for_training=False,
                               max_pool=args.max_pool)
    kwargs = {}
    if args.off_chip is not None:
        kwargs["off_chip"] = args.off_chip
    network = from_keras(
        model, neuron_type=args.neuron_type or "relu",
        scale_firing_rates=args.scale or {},
        synapse=args.synapse, dt=args.dt or 0.001, readout=args.readout or "last",
        max_pool=args.max_pool,
        metadata={"procedure": "snnkit convert", "source": str(args.model)}, **kwargs)
    network.summary()
    print(f"FrozenNetwork saved to {network.save(out)}")
    A.note_readout(network)
    return 0


def _convert_from_nir(args, out) -> int:
    from snnkit.nir.importer import from_nir

    max_pool = None if args.max_pool == "refuse" else args.max_pool
    for flag, value in (("model", args.model), ("--scale", args.scale),
                        ("--synapse", args.synapse), ("--off-chip", args.off_chip),
                        ("--readout", args.readout), ("--max-pool", max_pool)):
        if value is not None:
            raise A.error(f"{flag}: not used with --from-nir (the NIR graph sets it), "
                         f"got {value!r}")
    network = from_nir(A.input_file(args.from_nir, "--from-nir"),
                       neuron_type=args.neuron_type, dt=args.dt)
    network.summary()
    print(f"FrozenNetwork saved to {network.save(out)}")
    A.note_readout(network)
    return 0


def run_export(args) -> int:
    network = A.load_network(args.network)
    out = A.output_file(args.out, "out")
    from snnkit.nir.export import write_nir

    print(f"NIR graph written to {write_nir(network, out)}")
    return 0
