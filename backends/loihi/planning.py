"""What every Loihi target shares before it runs: the checks a network must pass and
its core plan (a block shape for every on-chip layer, :mod:`.core_mapping`).

Used by the ``loihi-emulator``, ``loihi-emulator-fast`` and ``loihi`` backends (which
convert once and plan on that same build: :func:`build_for_loihi`), by ``snnkit
inspect`` and by the scale search's core check (:func:`plan_loihi_cores`).
"""

from __future__ import annotations

import logging

from snnkit.exceptions import BackendCapabilityError, LoihiMappingError
from snnkit.network.neurons import LOIHI_NEURON_TYPES

logger = logging.getLogger(__name__)


def check_loihi_network(network) -> None:
    """Loihi runs only Loihi neuron types, and something must be on the chip."""
    if not network.on_chip_layers:
        raise LoihiMappingError(
            "network: no layer is on chip (off_chip lists every neuron layer: "
            f"{', '.join(network.off_chip)}); Loihi needs at least one on-chip layer")
    if not network.neuron.runs_on_loihi:
        layers = ", ".join(repr(name) for name in network.on_chip_layers)
        raise BackendCapabilityError(
            f"neuron_type: on-chip layer(s) {layers} use {network.neuron.name!r}, "
            f"which Loihi cannot run; allowed on chip: {', '.join(LOIHI_NEURON_TYPES)} "
            "(or list the layer in off_chip)")


def plan_built_network(built, block_shapes: dict | None = None):
    """The core plan of ``built`` (a :class:`~snnkit.convert.to_nengo.BuiltNetwork`
    converted
    with ``loihi=True``): the network's own block shapes and ``block_shapes``
    (``{layer: shape}``, these win) are kept as given, the rest are chosen to fit
    Loihi's per-core limits with as few cores as possible. The build is not
    changed (``plan.apply(built.net)`` sets the block shapes)."""
    from snnkit.backends.loihi.core_mapping import plan_cores

    network = built.network
    check_loihi_network(network)
    given = dict(network.block_shapes)
    given.update(block_shapes or {})
    layers = {name: built.neurons[name].ensemble for name in network.on_chip_layers}
    shapes = {name: network.layer_shape(name) for name in network.on_chip_layers}
    plan = plan_cores(built.net, layers, shapes, given=given)
    logger.info("Loihi core plan: %d core(s); block shapes %s", plan.n_cores,
                {name: tuple(shape) for name, shape in plan.block_shapes.items()})
    return plan


def plan_loihi_cores(network, block_shapes: dict | None = None):
    """The core plan (:class:`~snnkit.backends.loihi.core_mapping.CorePlan`) of every
    on-chip layer of a FrozenNetwork, as :func:`plan_built_network` makes it.
    ``plan.table()`` prints it."""
    from snnkit.backends.loihi.build import build_loihi_network

    check_loihi_network(network)
    # Built whole (no block shapes): the planner cuts each layer itself.
    built = build_loihi_network(network.replace(block_shapes={}), probe_layers=False)
    given = dict(network.block_shapes)
    given.update(block_shapes or {})
    return plan_built_network(built, given)


def loihi_block_shapes(network, block_shapes: dict | None = None) -> dict:
    """A block shape for every on-chip layer: given ones (the network's, then
    ``block_shapes``) as they are, missing ones planned by :func:`plan_loihi_cores`."""
    return dict(plan_loihi_cores(network, block_shapes).block_shapes)


def build_for_loihi(network, *, probe_layers: bool):
    """Convert ``network`` once for Loihi, plan its cores on that build and apply the
    plan: ``(built, plan)``, ready for a nengo-loihi simulator."""
    from snnkit.backends.loihi.build import build_loihi_network

    check_loihi_network(network)
    built = build_loihi_network(network, probe_layers=probe_layers)
    plan = plan_built_network(built)
    plan.apply(built.net)
    return built, plan
