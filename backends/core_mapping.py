"""Automatic Loihi core mapping: a block shape for every on-chip layer.

Loihi runs a layer on one or more neuron cores; nengo-loihi splits an ensemble into
cores along a `nengo_loihi.BlockShape` (a tile of rows x columns x channels, or of
neurons for a 1-d layer). Every core must stay within the per-core limits below.
:func:`plan_cores` chooses, for every on-chip layer, the tile that needs the fewest
cores and still fits, so users never hand-write a block shape.

How the numbers are computed. The network is built once with nengo-loihi's own builder
(with every layer left whole), and each candidate tile is cut with nengo-loihi's own
``split_block``, ``split_synapse`` and ``split_axon``; the per-core figures are then
read with the same expressions ``nengo_loihi.builder.validate.validate_block`` uses
(``Synapse.bits()``, ``Synapse.n_axons``, ``Axon.axon_slots()``). The numbers therefore
come from the network's actual weights: nengo-loihi 1.1.0 splits blocks *before* it
discretizes them, and synapse memory depends on the number of weights per input axon,
on the index bits, on the weight format (dense weights or shared convolution kernels)
and on which identical weight blocks a core can share. A plan made for one set of
weights is re-checked by nengo-loihi when the network is built.

Interactions between layers: a layer's tile sets its own compartments, input axons and
synapse bits, but its output axons also depend on how the *next* layers are cut (one
output axon per target core that a neuron reaches). The planner first gives each layer
its cheapest tile by its own limits, then moves any layer whose output axons overflow
to its next cheapest tile, until every layer fits.
"""

import dataclasses
import itertools
import math
from collections import OrderedDict
from typing import Mapping

from snnkit._stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
from nengo_loihi.block import (  # noqa: E402
    MAX_COMPARTMENTS,
    MAX_IN_AXONS,
    MAX_OUT_AXONS,
    MAX_SYNAPSE_BITS,
)
from nengo_loihi.builder import Model  # noqa: E402
from nengo_loihi.builder.builder import ValidationLevel  # noqa: E402
from nengo_loihi.builder.split_blocks import split_axon, split_block, split_synapse  # noqa: E402,E501

from snnkit.exceptions import LoihiMappingError  # noqa: E402
from snnkit.text_table import text_table  # noqa: E402

__all__ = [
    "LOIHI_CORE_LIMITS",
    "BlockShapeDoesNotFit",
    "CoreLimits",
    "CorePlan",
    "LayerPlan",
    "NothingOnChipError",
    "plan_cores",
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
_RESOURCE_NAMES = {
    "compartments": "compartments",
    "input_axons": "input axons",
    "output_axons": "output axons",
    "synapse_bits": "synapse bits",
}


class BlockShapeDoesNotFit(LoihiMappingError):
    """A user-given block shape exceeds a per-core limit."""


class NothingOnChipError(LoihiMappingError):
    """The network has no layer to put on the chip."""


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
    def block_shapes(self):
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

        ``net`` must have had `nengo_loihi.add_params` applied (it is the network
        the plan was made for).
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


# ---------------------------------------------------------------------------------
# Building the network whole, once


@dataclasses.dataclass(frozen=True)
class _Layer:
    """One on-chip layer as nengo-loihi built it (unsplit)."""

    name: str
    shape: tuple
    ensemble: nengo.Ensemble
    block: object  # nengo_loihi.block.LoihiBlock


def _check_inputs(net, layers, shapes, given):
    if not isinstance(net, nengo.Network):
        raise LoihiMappingError(
            f"net: expected a nengo.Network, got {type(net).__name__}"
        )
    if not layers:
        raise NothingOnChipError(
            "layers: expected at least one on-chip layer {name: nengo.Ensemble}, got "
            "none; Loihi needs some ensembles on chip (mark ensembles off chip with "
            "net.config[ens].on_chip = False, not all of them)"
        )
    for name, ens in layers.items():
        if not isinstance(ens, nengo.Ensemble):
            raise LoihiMappingError(
                f"layers[{name!r}]: expected a nengo.Ensemble, got {type(ens).__name__}"
            )
        if name not in shapes:
            raise LoihiMappingError(
                f"shapes: expected a shape for every layer, missing {name!r}"
            )
        shape = tuple(int(d) for d in shapes[name])
        if math.prod(shape) != ens.n_neurons or any(d < 1 for d in shape):
            raise LoihiMappingError(
                f"shapes[{name!r}]: expected positive dimensions whose product is the "
                f"layer's {ens.n_neurons} neurons, got {shapes[name]}"
            )
    for name, bs in (given or {}).items():
        if name not in layers:
            raise LoihiMappingError(
                f"given: expected names of on-chip layers {list(layers)}, got {name!r}"
            )
        bs = tuple(bs)
        shape = tuple(shapes[name])
        if len(bs) != len(shape) or any(int(b) < 1 for b in bs):
            raise LoihiMappingError(
                f"given[{name!r}]: expected {len(shape)} positive block dimensions "
                f"for layer shape {shape}, got {bs}"
            )


def _off_chip_labels(net):
    """Labels of ensembles the network marks off chip (host)."""
    labels = []
    for ens in net.all_ensembles:
        try:
            on_chip = net.config[ens].on_chip
        except (AttributeError, KeyError):
            on_chip = True  # no nengo-loihi params: nengo-loihi's default is on chip
        if on_chip is False:
            labels.append(ens.label or str(ens))
    return tuple(labels)


def _block_of(model, ens):
    """The single LoihiBlock an ensemble was built into, or None if off chip."""
    block = model.objs.get(ens, {}).get("in")
    # split_model replaces each block by the list of blocks it was cut into
    if isinstance(block, list):
        block = block[0] if len(block) == 1 else None
    return block


def _build_whole(net, layers, shapes, remove_passthrough):
    """Build ``net`` with nengo-loihi, every layer left on one (oversized) block.

    Returns the layers in order, with the unsplit `LoihiBlock` of each. The model is
    not discretized or validated: nengo-loihi splits float blocks before it
    discretizes them, so this is the state its own splitter starts from.
    """
    ens_names = {ens: name for name, ens in layers.items()}
    model = Model(dt=0.001, label="snnkit core mapping")
    # Oversized blocks are expected here; they are checked after cutting.
    model.validation_level = ValidationLevel.NONE

    def keep_whole(obj):
        # Called after each object is built; a full-size BlockShape keeps
        # nengo-loihi's own splitter from cutting the layer.
        if obj in ens_names and "in" in model.objs.get(obj, {}):
            n = obj.n_neurons
            model.block_shapes[model.objs[obj]["in"]] = nengo_loihi.BlockShape(
                (n,), (n,)
            )

    model.build_callback = keep_whole
    model.build(net, discretize=False, remove_passthrough=remove_passthrough)

    if len(model.blocks) == 0:
        raise NothingOnChipError(
            f"net: expected some ensembles on chip, but all of {list(layers)} run off "
            f"chip (net.config[ens].on_chip is False); Loihi needs at least one layer "
            f"on chip"
        )
    block_owner = {}
    for ens in net.all_ensembles:
        block = _block_of(model, ens)
        if block is not None:
            block_owner[block] = ens
    for block in model.blocks:
        ens = block_owner.get(block)
        if ens not in ens_names:
            raise LoihiMappingError(
                f"layers: expected every on-chip ensemble, but {block} is on chip and "
                f"missing (mark it off chip or add it to layers)"
            )
    out = []
    for name, ens in layers.items():
        block = _block_of(model, ens)
        if block is None or block not in model.blocks:
            raise LoihiMappingError(
                f"layers[{name!r}]: expected an on-chip ensemble, got {ens} which "
                f"runs off chip (net.config[ens].on_chip is False)"
            )
        out.append(_Layer(name, tuple(int(d) for d in shapes[name]), ens, block))
    if not out:  # pragma: no cover - _check_inputs refuses empty layers first
        raise NothingOnChipError("layers: nothing is on chip")
    return out


# ---------------------------------------------------------------------------------
# Cutting one layer with nengo-loihi's splitter


@dataclasses.dataclass(frozen=True)
class _Cut:
    """One layer cut into cores by one block shape, with its own per-core figures."""

    block_shape: tuple
    new_blocks: OrderedDict  # new LoihiBlock -> old compartment indices
    synapse_map: dict  # old Synapse -> OrderedDict(new Synapse -> old axon ids) | None
    compartments: tuple
    input_axons: tuple
    synapse_bits: tuple


def _cut(layer, block_shape):
    """Cut ``layer`` by ``block_shape`` exactly as `split_model` would."""
    shapes = {layer.block: nengo_loihi.BlockShape(tuple(block_shape), layer.shape)}
    new_blocks = split_block(layer.block, shapes, validate=ValidationLevel.NONE)
    if len(new_blocks) == 1:
        # split_model keeps the old block and its synapses untouched in this case
        synapse_map = {s: None for s in layer.block.synapses}
    else:
        synapse_map = {
            s: split_synapse(layer.block, s, new_blocks, validate=ValidationLevel.NONE)
            for s in layer.block.synapses
        }
    # the expressions of nengo_loihi.builder.validate.validate_block
    return _Cut(
        block_shape=tuple(block_shape),
        new_blocks=new_blocks,
        synapse_map=synapse_map,
        compartments=tuple(b.compartment.n_compartments for b in new_blocks),
        input_axons=tuple(sum(s.n_axons for s in b.synapses) for b in new_blocks),
        synapse_bits=tuple(sum(s.bits() for s in b.synapses) for b in new_blocks),
    )


def _output_axons(layer, cut, synapse_maps):
    """Output axon slots per core of ``layer``, given how its targets are cut.

    ``synapse_maps`` maps each target's old Synapse to its split (None: not split),
    mirroring `split_block_axons`.
    """
    per_core = []
    for comp_ids in cut.new_blocks.values():
        ids = list(comp_ids)
        slots = 0
        for old_axon in layer.block.axons:
            axons = split_axon(
                old_axon,
                old_axon.map_axon(ids),
                old_axon.map_atoms(ids),
                synapse_maps.get(old_axon.target),
            )
            slots += sum(a.axon_slots() for a in axons)
        per_core.append(slots)
    return tuple(per_core)


def _first_excess(figures, limits):
    """(resource, needed, limit) for the first resource over its limit, or None."""
    for r in RESOURCES:
        needed = max(figures[r])
        if needed > getattr(limits, r):
            return r, needed, getattr(limits, r)
    return None


# ---------------------------------------------------------------------------------
# Choosing block shapes


def _tile_sizes(n):
    """Distinct tile lengths ceil(n / k) for k = 1..n, largest first."""
    return sorted({-(-n // k) for k in range(1, n + 1)}, reverse=True)


def _candidates(shape, limits):
    """Block shapes that fit the compartment limit, fewest cores first.

    Per dimension only the balanced tile lengths ceil(n / k) are tried: any other
    length needs as many cores as the balanced one for the same k, with a larger
    tile. Ties in core count go to tiles cut along fewer leading (spatial)
    dimensions, then to larger leading tiles; the planner re-ranks equal-core
    candidates by measured headroom.
    """
    options = []
    for tile in itertools.product(*(_tile_sizes(n) for n in shape)):
        if math.prod(tile) > limits.compartments:
            continue
        n_cores = math.prod(-(-n // t) for n, t in zip(shape, tile))
        options.append((n_cores, tuple(-t for t in tile), tile))
    options.sort()
    return [(n_cores, tile) for n_cores, _, tile in options]


class _Layerwise:
    """Cuts each layer lazily, in candidate order, caching every cut."""

    def __init__(self, layers, limits):
        self.layers = layers
        self.limits = limits
        self.cuts = {}  # (layer name, block shape) -> _Cut
        self.last_excess = {}  # layer name -> excess of the last cut that did not fit

    def cut(self, layer, block_shape):
        key = (layer.name, tuple(block_shape))
        if key not in self.cuts:
            self.cuts[key] = _cut(layer, block_shape)
        return self.cuts[key]

    def own_excess(self, cut):
        """First limit a cut exceeds by its own figures (output axons aside)."""
        figures = {
            "compartments": cut.compartments,
            "input_axons": cut.input_axons,
            # output axons depend on the targets' cuts; plan_cores checks them later
            "output_axons": (0,),
            "synapse_bits": cut.synapse_bits,
        }
        return _first_excess(figures, self.limits)

    def own_fitting(self, layer):
        """Candidates that fit by their own figures, fewest cores first.

        If none fits, every candidate is cut once (an exhaustive search), and
        ``last_excess`` holds what the finest one still exceeds.

        Among candidates with equal core counts, the one with the most headroom
        (lowest peak utilization over compartments, input axons, synapse bits)
        comes first, so that later changes to neighbours are less likely to
        overflow it. Yields lazily: only the cheapest core counts are cut.
        """
        cands = _candidates(layer.shape, self.limits)
        for n_cores, group in itertools.groupby(cands, key=lambda c: c[0]):
            fitting = []
            for _, tile in group:
                cut = self.cut(layer, tile)
                excess = self.own_excess(cut)
                if excess is None:
                    fitting.append((self._peak_use(cut), tile, cut))
                else:
                    self.last_excess[layer.name] = excess
            fitting.sort(key=lambda f: f[0])
            for _, _, cut in fitting:
                yield cut

    def _peak_use(self, cut):
        lim = self.limits
        return max(
            max(cut.compartments) / lim.compartments,
            max(cut.input_axons) / lim.input_axons,
            max(cut.synapse_bits) / lim.synapse_bits,
        )


def _synapse_maps(chosen):
    """Old synapse -> its split, over all layers' chosen cuts."""
    maps = {}
    for cut in chosen.values():
        maps.update(cut.synapse_map)
    return maps


def _does_not_fit(name, block_shape, excess, suggestion):
    resource, needed, limit = excess
    hint = (
        f"; {tuple(suggestion)} fits"
        if suggestion is not None
        else "; no block shape fits this layer"
    )
    return BlockShapeDoesNotFit(
        f"{name}: block shape {tuple(block_shape)} needs {needed} "
        f"{_RESOURCE_NAMES[resource]} per core, the limit is {limit}{hint}"
    )


def _no_shape_fits(layer, limits, last_excess):
    detail = ""
    if last_excess is not None:
        resource, needed, limit = last_excess
        detail = (
            f" (the finest cut still needs {needed} {_RESOURCE_NAMES[resource]} "
            f"per core, the limit is {limit})"
        )
    return LoihiMappingError(
        f"{layer.name}: expected a block shape that fits one Loihi core, but none of "
        f"the tiles of shape {layer.shape} does{detail}"
    )


def plan_cores(
    net,
    layers,
    shapes,
    given=None,
    limits=LOIHI_CORE_LIMITS,
    remove_passthrough=True,
):
    """Choose a block shape for every on-chip layer, with as few cores as possible.

    Parameters
    ----------
    net : nengo.Network
        The network to put on Loihi (e.g. from ``nengo_dl.Converter``), with
        `nengo_loihi.add_params` applied and off-chip ensembles marked
        ``on_chip = False``. It is built once with nengo-loihi to read its weights;
        it is not modified.
    layers : dict of str to nengo.Ensemble
        Every on-chip layer, by name.
    shapes : dict of str to tuple of int
        Each layer's neuron shape: (rows, columns, channels) for convolutional
        layers (channels last, the order nengo-dl uses), (n,) for dense layers.
    given : dict of str to tuple of int, optional
        Block shapes the user wants for some layers; they are kept as given.
    limits : CoreLimits, optional
        Per-core limits; nengo-loihi's by default.
    remove_passthrough : bool, optional
        Passed to nengo-loihi's builder; must match the value given to
        ``nengo_loihi.Simulator``, since it decides which connections reach the
        chip. (nengo-loihi 1.1.0 cannot build a nengo-dl AveragePooling2D node right
        after an on-chip layer either way: it can neither merge its convolution
        through the node nor send a convolution from chip to host; the pooling has
        to be folded into the next layer's weights before planning.)

    Returns
    -------
    CorePlan

    Raises
    ------
    NothingOnChipError
        If ``layers`` is empty.
    BlockShapeDoesNotFit
        If a given block shape exceeds a limit; the message names the layer, the
        limit with both numbers and a block shape that fits.
    LoihiMappingError
        On malformed arguments, or if no block shape fits some layer.
    """
    given = dict(given or {})
    _check_inputs(net, layers, shapes, given)
    order = _build_whole(net, layers, shapes, remove_passthrough)
    search = _Layerwise(order, limits)
    given = {name: tuple(int(b) for b in bs) for name, bs in given.items()}

    # 1. Every layer gets its cheapest cut by its own figures (given ones are kept).
    options = {}  # name -> iterator over remaining own-fitting cuts
    chosen = {}  # name -> _Cut
    for layer in order:
        options[layer.name] = search.own_fitting(layer)
        if layer.name in given:
            chosen[layer.name] = search.cut(layer, given[layer.name])
            excess = search.own_excess(chosen[layer.name])
            if excess is not None:
                fit = next(options[layer.name], None)
                raise _does_not_fit(
                    layer.name,
                    given[layer.name],
                    excess,
                    fit.block_shape if fit else None,
                )
        else:
            chosen[layer.name] = next(options[layer.name], None)
            if chosen[layer.name] is None:
                raise _no_shape_fits(layer, limits, search.last_excess.get(layer.name))

    # 2. Output axons depend on how the targets are cut: move any layer that
    # overflows them to its next cheapest cut until all fit. Each round advances
    # one layer, so this ends.
    while True:
        maps = _synapse_maps(chosen)
        out_axons = {
            layer.name: _output_axons(layer, chosen[layer.name], maps)
            for layer in order
        }
        over = [
            layer for layer in order if max(out_axons[layer.name]) > limits.output_axons
        ]
        if not over:
            break
        layer = over[0]
        excess = ("output_axons", max(out_axons[layer.name]), limits.output_axons)
        replacement = None
        for cut in options[layer.name]:
            # the layer's own synapses don't depend on its output; check its axons
            if max(_output_axons(layer, cut, maps)) <= limits.output_axons:
                replacement = cut
                break
        if layer.name in given:
            raise _does_not_fit(
                layer.name,
                given[layer.name],
                excess,
                replacement.block_shape if replacement else None,
            )
        if replacement is None:
            raise _no_shape_fits(layer, limits, excess)
        chosen[layer.name] = replacement

    plans = tuple(
        LayerPlan(
            name=layer.name,
            layer_shape=layer.shape,
            block_shape=chosen[layer.name].block_shape,
            given=layer.name in given,
            compartments=chosen[layer.name].compartments,
            input_axons=chosen[layer.name].input_axons,
            output_axons=out_axons[layer.name],
            synapse_bits=chosen[layer.name].synapse_bits,
            limits=limits,
        )
        for layer in order
    )
    return CorePlan(
        layers=plans,
        off_chip=_off_chip_labels(net),
        limits=limits,
        ensembles=dict(layers),
    )
