"""The ``convert`` and ``export`` subcommands: a Keras model file or a NIR graph to a
FrozenNetwork, and a FrozenNetwork to a NIR graph."""

from __future__ import annotations

import sys

from snnkit.cli import arguments as A
from snnkit.cli.output import emit


def run(args) -> int:
    out = A.output_file(args.out, inputs=[("model", args.model),
                                          ("--from-nir", args.from_nir)])
    if args.from_nir is not None:
        return _convert_from_nir(args, out)
    for flag, value in (("--spikes", args.spikes), ("--dt-graph", args.dt_graph)):
        if value is not None:
            raise A.error(f"{flag}: used with --from-nir only, got {value!r}")
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
    path = _save(network, out)
    A.note_readout(network)
    emit(args, {"command": "convert", "source": str(args.model), "network": path,
                **network_facts(network)})
    return 0


def _convert_from_nir(args, out) -> int:
    import warnings

    from snnkit.exceptions import NIRMeaningWarning
    from snnkit.nir.importer import from_nir

    max_pool = None if args.max_pool == "refuse" else args.max_pool
    for flag, value in (("model", args.model), ("--scale", args.scale),
                        ("--synapse", args.synapse), ("--off-chip", args.off_chip),
                        ("--max-pool", max_pool)):
        if value is not None:
            raise A.error(f"{flag}: not used with --from-nir (the NIR graph sets it), "
                          f"got {value!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NIRMeaningWarning)
        network = from_nir(A.input_file(args.from_nir, "--from-nir"),
                           neuron_type=args.neuron_type, dt=args.dt, spikes=args.spikes,
                           dt_graph=args.dt_graph)
    meaning = []
    for warning in caught:
        if issubclass(warning.category, NIRMeaningWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
            meaning.append(str(warning.message))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    if args.readout is not None:
        network = network.replace(readout=args.readout)
    path = _save(network, out)
    if network.neuron.is_spiking and network.synapse is None \
            and network.readout == "last":
        # a NIR graph sets its synapse: only the readout is the user's to choose here
        print("note: spiking neurons with no synapse and the 'last' readout read one "
              "step's spikes: accuracy will be noisy and differ between backends; "
              "pass --readout mean", file=sys.stderr)
    emit(args, {"command": "convert", "source": str(args.from_nir), "network": path,
                "warnings": meaning, **network_facts(network)})
    return 0


def _save(network, out):
    network.summary()
    path = network.save(out)
    print(f"FrozenNetwork saved to {path}")
    return path


def network_facts(network) -> dict:
    """What a saved network is, for ``--json``: neuron type, synapse, readout, dt,
    scales, layers on and off chip.

    Parameters
    ----------
    network : FrozenNetwork
        The network just saved or loaded.

    Returns
    -------
    dict
        JSON-ready; times in seconds (``synapse_s``, ``dt_s``).
    """
    return {"neuron_type": network.neuron.name, "synapse_s": network.synapse,
            "readout": network.readout, "dt_s": network.dt,
            "scales": {n: network.scale(n) for n in network.neuron_layers},
            "on_chip": list(network.on_chip_layers),
            "off_chip": list(network.off_chip)}


def run_export(args) -> int:
    network = A.load_network(args.network)
    if args.legacy_out is not None:
        if args.out is not None:
            raise A.error(f"--out: given twice, as --out {args.out!r} and as the "
                          f"positional {args.legacy_out!r}; keep --out")
        print("snnkit export: note: the positional output file is deprecated and will "
              "be removed after the next release; use --out", file=sys.stderr)
    target = args.out if args.out is not None else args.legacy_out
    if target is None:
        raise A.error("--out: expected the file to write (e.g. --out net.nir), got none")
    out = A.output_file(target, "--out", inputs=[("network", args.network)])
    from snnkit.nir.export import write_nir

    path = write_nir(network, out, args.reader)
    print(f"NIR graph written to {path}"
          + ("" if args.reader == "nir" else f" (the form {args.reader} reads; "
             "per-step spikes, one reader step = 1e-4 s of graph time)"))
    emit(args, {"command": "export", "network": str(args.network), "format": args.format,
                "reader": args.reader, "out": path})
    return 0
