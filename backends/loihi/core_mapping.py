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

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from snnkit.backends.loihi.core_cuts import (
    build_whole,
    check_plan_inputs,
    cut_layer,
    first_excess,
    off_chip_labels,
    output_axons,
)
from snnkit.backends.loihi.core_plan import (
    LOIHI_CORE_LIMITS,
    RESOURCE_NAMES,
    CoreLimits,
    CorePlan,
    LayerPlan,
)
from snnkit.exceptions import BlockShapeDoesNotFit, LoihiMappingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import nengo

    from snnkit.network.types import BlockShapes

__all__ = [
    "LOIHI_CORE_LIMITS",
    "CoreLimits",
    "CorePlan",
    "LayerPlan",
    "plan_cores",
]


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
        self.cuts = {}  # (layer name, block shape) -> LayerCut
        self.last_excess = {}  # layer name -> excess of the last cut that did not fit

    def cut(self, layer, block_shape):
        key = (layer.name, tuple(block_shape))
        if key not in self.cuts:
            self.cuts[key] = cut_layer(layer, block_shape)
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
        return first_excess(figures, self.limits)

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
        f"{RESOURCE_NAMES[resource]} per core, the limit is {limit}{hint}"
    )


def _no_shape_fits(layer, limits, last_excess):
    detail = ""
    if last_excess is not None:
        resource, needed, limit = last_excess
        detail = (
            f" (the finest cut still needs {needed} {RESOURCE_NAMES[resource]} "
            f"per core, the limit is {limit})"
        )
    return LoihiMappingError(
        f"{layer.name}: expected a block shape that fits one Loihi core, but none of "
        f"the tiles of shape {layer.shape} does{detail}"
    )


def plan_cores(
    net: nengo.Network,
    layers: Mapping[str, nengo.Ensemble],
    shapes: Mapping[str, tuple[int, ...]],
    given: BlockShapes | None = None,
    limits: CoreLimits = LOIHI_CORE_LIMITS,
    remove_passthrough: bool = True,
) -> CorePlan:
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
    check_plan_inputs(net, layers, shapes, given)
    order = build_whole(net, layers, shapes, remove_passthrough)
    search = _Layerwise(order, limits)
    given = {name: tuple(int(b) for b in bs) for name, bs in given.items()}

    # 1. Every layer gets its cheapest cut by its own figures (given ones are kept).
    options = {}  # name -> iterator over remaining own-fitting cuts
    chosen = {}  # name -> LayerCut
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
            layer.name: output_axons(layer, chosen[layer.name], maps)
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
            if max(output_axons(layer, cut, maps)) <= limits.output_axons:
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
        off_chip=off_chip_labels(net),
        limits=limits,
        ensembles=dict(layers),
    )
