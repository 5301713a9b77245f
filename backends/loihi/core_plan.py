"""A Loihi core plan: the per-core limits, and for every on-chip layer the block shape
chosen and the per-core resources it uses (:func:`.core_mapping.plan_cores` makes it).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Mapping

from snnkit.utils.stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
from nengo_loihi.block import (  # noqa: E402
    MAX_COMPARTMENTS,
    MAX_IN_AXONS,
    MAX_OUT_AXONS,
    MAX_SYNAPSE_BITS,
)

from snnkit.exceptions import LoihiMappingError  # noqa: E402
from snnkit.utils.text_table import text_table  # noqa: E402

if TYPE_CHECKING:
    from snnkit.network.types import BlockShapes

__all__ = [
    "LOIHI_CORE_LIMITS",
    "RESOURCES",
    "CoreLimits",
    "CorePlan",
    "LayerPlan",
]


@dataclasses.dataclass(frozen=True)
class CoreLimits:
    """Per-core resources of a Loihi chip, as nengo-loihi 1.1.0 enforces them.

    Attributes
    ----------
    compartments : int
        Neuron compartments per core.
    input_axons : int
        Input axons per core (``Synapse.n_axons`` summed over the core's synapses).
    output_axons : int
        Output axon slots per core (``Axon.axon_slots()`` summed over its axons).
    synapse_bits : int
        Synapse (weight) memory per core, in bits.
    cores_per_chip : int
        Neuron cores on one Loihi chip.
    """

    compartments: int = MAX_COMPARTMENTS
    input_axons: int = MAX_IN_AXONS
    output_axons: int = MAX_OUT_AXONS
    synapse_bits: int = MAX_SYNAPSE_BITS
    cores_per_chip: int = 128


LOIHI_CORE_LIMITS = CoreLimits()

# The four per-core resources, in the order nengo-loihi checks them.
RESOURCES = ("compartments", "input_axons", "output_axons", "synapse_bits")
RESOURCE_NAMES = {
    "compartments": "compartments",
    "input_axons": "input axons",
    "output_axons": "output axons",
    "synapse_bits": "synapse bits",
}


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """How one on-chip layer is cut into Loihi cores.

    Attributes
    ----------
    name : str
        Layer name (the key in ``layers``).
    layer_shape : tuple of int
        Shape of the layer's neurons, e.g. (rows, columns, channels) or (n,).
    block_shape : tuple of int
        Neurons per core along each dimension (the `nengo_loihi.BlockShape` tile).
    given : bool
        True if the user gave this block shape, False if the planner chose it.
    compartments, input_axons, output_axons, synapse_bits : tuple of int
        Per core, in nengo-loihi's core order: compartments (neurons), input axons,
        output axon slots, and synapse memory in bits.
    limits : CoreLimits
        The limits the figures were checked against.
    """

    name: str
    layer_shape: tuple
    block_shape: tuple
    given: bool
    compartments: tuple
    input_axons: tuple
    output_axons: tuple
    synapse_bits: tuple
    limits: CoreLimits = LOIHI_CORE_LIMITS

    @property
    def n_cores(self):
        """Number of cores the layer occupies."""
        return len(self.compartments)

    def peak(self, resource):
        """Largest per-core use of ``resource`` (one of `RESOURCES`), in its unit."""
        return max(getattr(self, resource))

    def utilization(self):
        """{resource: fraction of the limit used by the fullest core} (0 to 1)."""
        return {r: self.peak(r) / getattr(self.limits, r) for r in RESOURCES}

    def to_dict(self):
        """A JSON-ready dict of the plan for this layer."""
        d = {
            "name": self.name,
            "layer_shape": list(self.layer_shape),
            "block_shape": list(self.block_shape),
            "given": self.given,
            "n_cores": self.n_cores,
        }
        for r in RESOURCES:
            d[r] = list(getattr(self, r))
        d["utilization"] = self.utilization()
        return d


@dataclasses.dataclass(frozen=True)
class CorePlan:
    """Block shapes for every on-chip layer, with the per-core resources they use.

    Attributes
    ----------
    layers : tuple of LayerPlan
        One entry per on-chip layer, in the order of ``layers`` given to `plan_cores`.
    off_chip : tuple of str
        Labels of ensembles the network runs off chip (on the host).
    limits : CoreLimits
        The per-core limits the plan satisfies.
    ensembles : mapping of str to nengo.Ensemble
        The layers' ensembles, used by `apply`; not part of equality or `to_dict`.
    """

    layers: tuple
    off_chip: tuple
    limits: CoreLimits = LOIHI_CORE_LIMITS
    ensembles: Mapping = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def block_shapes(self) -> BlockShapes:
        """{layer name: block shape tuple}."""
        return {lp.name: lp.block_shape for lp in self.layers}

    @property
    def n_cores(self):
        """Total number of neuron cores used by on-chip layers."""
        return sum(lp.n_cores for lp in self.layers)

    @property
    def n_chips(self):
        """Loihi chips needed at `CoreLimits.cores_per_chip` cores each."""
        return math.ceil(self.n_cores / self.limits.cores_per_chip)

    def __getitem__(self, name):
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise LoihiMappingError(
            f"layer: expected one of {[lp.name for lp in self.layers]}, got {name!r}"
        )

    def apply(self, net):
        """Set ``net.config[ensemble].block_shape`` for every planned layer.

        Parameters
        ----------
        net : nengo.Network
            The network the plan was made for; it must have had
            `nengo_loihi.add_params` applied.

        Returns
        -------
        nengo.Network
            ``net``, changed in place.

        Raises
        ------
        LoihiMappingError
            If ``net`` is not a ``nengo.Network``, or the plan has no ensembles (it
            was not made by :func:`~snnkit.backends.loihi.core_mapping.plan_cores`).
        """
        if not isinstance(net, nengo.Network):
            raise LoihiMappingError(
                f"net: expected a nengo.Network, got {type(net).__name__}"
            )
        if self.ensembles is None:
            raise LoihiMappingError(
                "CorePlan.apply: this plan has no ensembles (it was not made by "
                "plan_cores); set block shapes from CorePlan.block_shapes instead"
            )
        for lp in self.layers:
            ens = self.ensembles[lp.name]
            net.config[ens].block_shape = nengo_loihi.BlockShape(
                tuple(lp.block_shape), tuple(lp.layer_shape)
            )
        return net

    def table(self):
        """The plan as a printable table: cores and per-core use of each resource.

        Figures are the fullest core of each layer; percentages are of the limit.
        """
        header = (
            "layer",
            "shape",
            "block",
            "cores",
            "compartments",
            "in axons",
            "out axons",
            "synapse bits",
        )
        rows = [header]
        for lp in self.layers:
            util = lp.utilization()
            rows.append(
                (
                    lp.name,
                    "x".join(map(str, lp.layer_shape)),
                    "x".join(map(str, lp.block_shape))
                    + (" (given)" if lp.given else ""),
                    str(lp.n_cores),
                    *(
                        f"{lp.peak(r)} ({100 * util[r]:.1f}%)"
                        for r in RESOURCES
                    ),
                )
            )
        lines = text_table(rows, "<<<" + ">" * (len(header) - 3), sep="  ",
                           rule="columns")
        lim = self.limits
        lines.append(
            f"total: {self.n_cores} cores on {self.n_chips} chip(s); per-core limits "
            f"{lim.compartments} compartments, {lim.input_axons} input axons, "
            f"{lim.output_axons} output axons, {lim.synapse_bits} synapse bits"
        )
        lines.append(
            "off chip: " + (", ".join(self.off_chip) if self.off_chip else "(nothing)")
        )
        return "\n".join(lines)

    def to_dict(self):
        """A JSON-ready dict: layers, totals, off-chip ensembles and limits."""
        return {
            "layers": [lp.to_dict() for lp in self.layers],
            "n_cores": self.n_cores,
            "n_chips": self.n_chips,
            "off_chip": list(self.off_chip),
            "limits": dataclasses.asdict(self.limits),
        }
