"""A network built whole with nengo-loihi's builder, and one layer cut into cores by one
block shape with nengo-loihi's own splitter: the per-core figures the planner
(:mod:`.core_mapping`) compares with the limits.

The figures are read with the expressions ``nengo_loihi.builder.validate.
validate_block`` uses (``Synapse.bits()``, ``Synapse.n_axons``,
``Axon.axon_slots()``), so they come from the network's actual weights.
"""

import dataclasses
import math
from collections import OrderedDict

from snnkit.utils.stack import import_nengo_loihi

import_nengo_loihi()  # first: nengo-loihi starts nengo-dl and TensorFlow, quietly there

import nengo  # noqa: E402
import nengo_loihi  # noqa: E402
from nengo_loihi.builder import Model  # noqa: E402
from nengo_loihi.builder.builder import ValidationLevel  # noqa: E402
from nengo_loihi.builder.split_blocks import split_axon, split_block, split_synapse  # noqa: E402,E501

from snnkit.backends.loihi.core_plan import RESOURCES  # noqa: E402
from snnkit.exceptions import (
    LoihiMappingError,  # noqa: E402
    NothingOnChipError,  # noqa: E402
)


@dataclasses.dataclass(frozen=True)
class _Layer:
    """One on-chip layer as nengo-loihi built it (unsplit)."""

    name: str
    shape: tuple
    ensemble: nengo.Ensemble
    block: object  # nengo_loihi.block.LoihiBlock


def check_plan_inputs(net, layers, shapes, given):
    """Check the arguments of ``plan_cores`` before anything is built.

    They are described in :func:`~snnkit.backends.loihi.core_mapping.plan_cores`.

    Raises
    ------
    NothingOnChipError
        If ``layers`` is empty.
    LoihiMappingError
        If an argument is malformed: ``net`` not a ``nengo.Network``, a layer not a
        ``nengo.Ensemble``, a shape missing or not matching its layer's neurons, a
        given block shape for an unknown layer, of the wrong length or not positive.
    """
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


def off_chip_labels(net):
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


def build_whole(net, layers, shapes, remove_passthrough):
    """Build ``net`` with nengo-loihi, every layer left on one (oversized) block.

    The model is not discretized or validated: nengo-loihi splits float blocks before
    it discretizes them, so this is the state its own splitter starts from.

    Parameters
    ----------
    net, layers, shapes, remove_passthrough
        As for :func:`~snnkit.backends.loihi.core_mapping.plan_cores`.

    Returns
    -------
    list of _Layer
        The layers in order, with the unsplit `LoihiBlock` of each.

    Raises
    ------
    NothingOnChipError
        If every ensemble runs off chip.
    LoihiMappingError
        If an on-chip ensemble is missing from ``layers``, or a layer runs off chip.
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
    if not out:  # pragma: no cover - check_plan_inputs refuses empty layers first
        raise NothingOnChipError("layers: nothing is on chip")
    return out


@dataclasses.dataclass(frozen=True)
class LayerCut:
    """One layer cut into cores by one block shape, with its own per-core figures.

    Made by :func:`cut_layer`, which cuts it exactly as nengo-loihi's
    ``split_model`` would.

    Attributes
    ----------
    block_shape : tuple of int
        The block shape the layer was cut by (neurons per core along each
        dimension).
    new_blocks : OrderedDict
        New LoihiBlock -> old compartment indices.
    synapse_map : dict
        Old Synapse -> OrderedDict(new Synapse -> old axon ids); the values are None
        when the layer is not split (one block).
    compartments, input_axons, synapse_bits : tuple of int
        Per core: compartments, input axons and synapse bits.
    """

    block_shape: tuple
    new_blocks: OrderedDict
    synapse_map: dict
    compartments: tuple
    input_axons: tuple
    synapse_bits: tuple


def cut_layer(layer, block_shape):
    """Cut ``layer`` by ``block_shape`` exactly as `split_model` would.

    Parameters
    ----------
    layer : _Layer
        One layer of :func:`build_whole`.
    block_shape : tuple of int
        Neurons per core along each dimension.

    Returns
    -------
    LayerCut
        The blocks, the synapse map and the per-core figures of this cut.
    """
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
    return LayerCut(
        block_shape=tuple(block_shape),
        new_blocks=new_blocks,
        synapse_map=synapse_map,
        compartments=tuple(b.compartment.n_compartments for b in new_blocks),
        input_axons=tuple(sum(s.n_axons for s in b.synapses) for b in new_blocks),
        synapse_bits=tuple(sum(s.bits() for s in b.synapses) for b in new_blocks),
    )


def output_axons(layer, cut, synapse_maps):
    """Output axon slots per core of ``layer``, given how its targets are cut.

    Parameters
    ----------
    layer : _Layer
        One layer of :func:`build_whole`.
    cut : LayerCut
        How ``layer`` itself is cut.
    synapse_maps : dict
        Maps each target's old Synapse to its split (None: not split), mirroring
        `split_block_axons`.

    Returns
    -------
    tuple of int
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


def first_excess(figures, limits):
    """The first resource over its limit, in the order of ``RESOURCES``.

    Parameters
    ----------
    figures : dict of str to sequence of int
        Per-core figures of each resource.
    limits : CoreLimits
        The per-core limits.

    Returns
    -------
    tuple or None
        ``(resource, needed, limit)`` for the first resource over its limit, or None.
    """
    for r in RESOURCES:
        needed = max(figures[r])
        if needed > getattr(limits, r):
            return r, needed, getattr(limits, r)
    return None
