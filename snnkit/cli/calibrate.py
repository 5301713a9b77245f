"""The ``calibrate`` subcommand: per-layer scales measured with the neurons that will
run."""

from __future__ import annotations

from snnkit.cli import arguments as A
from snnkit.cli.output import emit, progress


def run(args) -> int:
    network = A.load_network(args.network)
    images = A.Images(args.data, ("train",))
    x, _, _ = images.take("train", "--n-train", args.n_train, default=200,
                          network=network, labels=False)
    out = A.output_file(args.out, inputs=[("network", args.network),
                                          ("--data", args.data)])
    from snnkit.training.trainer import Trainer

    synapse = network.synapse if args.synapse == "keep" else args.synapse
    trainer = Trainer(enable_progress_bar=progress(args), synapse=synapse)
    # synapse passed explicitly: given a FrozenNetwork, Trainer.calibrate's default
    # ("trainer") keeps the network's own synapse rather than the Trainer's, and the
    # rates must be measured with the synapse that will run
    cal = trainer.calibrate(network, x, target_rate_hz=args.target_rate,
                            neuron_type=args.neuron_type, n_steps=args.n_steps,
                            tolerance=args.tolerance, max_iterations=args.max_iterations,
                            synapse=synapse, statistic=args.statistic)
    metadata = dict(network.metadata)
    if args.data is None:  # MNIST training images: the network's record says which
        metadata.update(calibration_record(metadata, len(x)))
    metadata["calibration"] = {"target_rate_hz": cal.target_rate_hz,
                               "statistic": cal.statistic, "rates_hz": cal.rates_hz,
                               "plateau_fraction": cal.plateau_fraction,
                               "converged": cal.converged,
                               "iterations": len(cal.history), "n_images": len(x),
                               "n_steps": args.n_steps}
    readout = network.readout if args.readout == "keep" else args.readout
    calibrated = network.replace(neuron=cal.neuron_type, scale_firing_rates=cal.scales,
                                 synapse=synapse, readout=readout, metadata=metadata)
    state = "converged" if cal.converged else "NOT converged (best found is saved)"
    print(f"calibration {state} after {len(cal.history)} iteration(s), "
          f"target {cal.statistic} {cal.target_rate_hz:g} Hz, {cal.neuron_type} neurons:")
    from snnkit.utils.text_table import text_table

    rows = [("layer", "scale", "rate (Hz)", "on the 500 Hz plateau")]
    rows += [(name, f"{cal.scales[name]:.4g}",
              f"{cal.rates_hz.get(name, float('nan')):.1f}",
              f"{cal.plateau_fraction.get(name, 0.0):.1%}")
             for name in calibrated.neuron_layers]
    print("\n".join("  " + line for line in text_table(rows, "<>>>", sep="  ")))
    path = calibrated.save(out)
    print(f"FrozenNetwork saved to {path}")
    A.note_readout(calibrated)
    from snnkit.cli.convert import network_facts

    emit(args, {"command": "calibrate", "network": path, "source": str(args.network),
                "converged": cal.converged, "iterations": len(cal.history),
                "target_rate_hz": cal.target_rate_hz, "statistic": cal.statistic,
                "rates_hz": cal.rates_hz, "plateau_fraction": cal.plateau_fraction,
                "n_images": len(x), "n_steps": args.n_steps, **network_facts(calibrated)})
    return 0 if cal.converged or not args.strict else 1


def calibration_record(metadata: dict, n_images: int) -> dict:
    """The record of the MNIST training images the network has seen, calibration added.

    Parameters
    ----------
    metadata : dict
        The network's metadata; its record is ``metadata["data"]``
        (:func:`snnkit.data.datasets.mnist_record`).
    n_images : int
        The first ``n_images`` training images calibrated it.

    Returns
    -------
    dict
        ``{"data": record}``; ``{}`` when the network keeps no record (then nobody
        knows what it has seen, and a search will not validate on training images).
    """
    from snnkit.data.datasets import DATA_RECORD_KEY, mnist_record

    record = metadata.get(DATA_RECORD_KEY)
    if not isinstance(record, dict) or record.get("dataset") != "mnist":
        return {}
    before = record.get("calibration_images") or [0, 0]
    return {DATA_RECORD_KEY: mnist_record(tuple(record["train_images"]),
                                          (0, max(int(before[1]), n_images)))}
