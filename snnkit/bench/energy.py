"""The benchmark's energy model: energy per inference estimated from operation counts.

Loihi's per-operation figures as KerasSpiking uses them (Davies et al. 2018, IEEE
Micro 38(1)): 27.1 pJ per synaptic operation and 81 pJ per neuron update. It is an
estimate, not a measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snnkit.network.frozen import FrozenNetwork

if TYPE_CHECKING:
    from snnkit.network.results import Result

PJ_PER_SYNOP = 27.1
PJ_PER_NEURON_UPDATE = 81.0
ENERGY_SOURCE = ("Loihi figures as used by KerasSpiking (Davies et al. 2018, IEEE Micro "
                 "38(1)): 27.1 pJ per synaptic operation, 81 pJ per neuron update")


def energy_estimate(network: FrozenNetwork, result: Result) -> dict:
    """Energy per inference from operation counts (an estimate, see module doc).

    Synaptic operations are the Result's count (spikes × fan-out into the next neuron
    layer); neuron updates are every on-chip neuron once per time step, since Loihi
    updates every compartment each step whether it spikes or not. Off-chip layers run
    on the host and are not counted.

    Parameters
    ----------
    network : FrozenNetwork
        The network that ran.
    result : Result
        What it did.

    Returns
    -------
    dict
        ``synaptic_ops_per_inference``, ``neuron_updates_per_inference``, the
        energies in µJ (``synaptic_energy_uj``, ``neuron_energy_uj``,
        ``total_energy_uj``) and ``is_estimate`` (True).
    """
    synops = float(result.synaptic_ops_per_input.get("total", 0.0))
    neurons = sum(int(np.prod(network.layer_shape(n))) for n in network.on_chip_layers)
    updates = float(neurons * result.n_steps)
    synop_uj = synops * PJ_PER_SYNOP * 1e-6
    neuron_uj = updates * PJ_PER_NEURON_UPDATE * 1e-6
    return {
        "synaptic_ops_per_inference": synops,
        "neuron_updates_per_inference": updates,
        "synaptic_energy_uj": synop_uj,
        "neuron_energy_uj": neuron_uj,
        "total_energy_uj": synop_uj + neuron_uj,
        "is_estimate": True,
    }


ENERGY_MODEL = {"pj_per_synaptic_op": PJ_PER_SYNOP,
                "pj_per_neuron_update": PJ_PER_NEURON_UPDATE,
                "source": ENERGY_SOURCE,
                "note": "estimates from operation counts, not measurements; "
                        "neuron updates count on-chip neurons at every step"}
