"""The ``inspect`` subcommand: a FrozenNetwork's layers, placement and Loihi core plan."""

from __future__ import annotations

from snnkit.cli import arguments as A
from snnkit.cli.output import emit


def run(args) -> int:
    network = A.load_network(args.network)
    report = {"file": str(args.network), "neuron_type": network.neuron.to_dict(),
              "synapse_s": network.synapse, "dt_s": network.dt,
              "input_shape": list(network.input_shape),
              "layers": [{"name": n, "shape": list(network.layer_shape(n)),
                          "neurons": n in network.neuron_layers,
                          "scale": network.scale(n) if n in network.neuron_layers
                          else None,
                          "on_chip": n in network.on_chip_layers,
                          "block_shape": list(network.block_shapes[n])
                          if n in network.block_shapes else None}
                         for n in network.layer_names],
              "readout": network.readout,
              "metadata_keys": sorted(network.metadata),
              "metadata": dict(network.metadata)}
    plan_text, note = None, None
    if args.plan:
        plan_text, note, plan = core_plan(network)
        report["core_plan"] = plan.to_dict() if plan is not None else None
        report["core_plan_note"] = note
    if args.json:
        emit(args, report)
        return 0
    print(f"{args.network}")
    network.summary()
    if network.metadata:
        facts = {k: v for k, v in network.metadata.items()
                 if isinstance(v, (str, int, float, bool)) or v is None}
        if facts:
            print("metadata: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
        cal = network.metadata.get("calibration")
        if isinstance(cal, dict):  # free-form metadata may hold anything here
            print(f"calibration: target {cal.get('target_rate_hz')} Hz, converged "
                  f"{cal.get('converged')}")
    if args.plan:
        print("\nLoihi core plan (fullest core of each layer; % of the per-core limit):")
        if note:
            print(f"note: {note}")
        print(plan_text if plan_text else "(none)")
    return 0


def core_plan(network):
    """The Loihi core plan, or why there is none.

    Parameters
    ----------
    network : FrozenNetwork
        The network to plan.

    Returns
    -------
    table : str or None
        The plan as a printable table; None when nothing is on chip.
    note : str or None
        Why there is no plan, or what it assumed; None when nothing needs saying.
    plan : CorePlan or None
        The plan; None when nothing is on chip.
    """
    from snnkit.backends.loihi.planning import plan_loihi_cores

    if not network.on_chip_layers:
        return None, "no layer is on chip: nothing to map to Loihi cores", None
    note = None
    if not network.neuron.runs_on_loihi:
        note = (f"neuron type {network.neuron.name!r} cannot run on Loihi; planned as "
                "if it were 'loihi-relu' (same weights and scales)")
        network = network.replace(neuron="loihi-relu")
    plan = plan_loihi_cores(network)
    return plan.table(), note, plan
