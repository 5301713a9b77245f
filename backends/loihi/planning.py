"""What every Loihi target shares before it runs: the checks a network must pass and
its core plan (a block shape for every on-chip layer, :mod:`.core_mapping`).

Used by the ``loihi-emulator``, ``loihi-emulator-fast`` and ``loihi`` backends (which
convert once and plan on that same build: :func:`build_for_loihi`), by ``snnkit
inspect`` and by the scale search's core check (:func:`plan_loihi_cores`).
"""

from __future__ import annotations

import logging
import math

import numpy as np

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
    _check_loihi_ranges(network)


# nengo-loihi scales each block's largest weight to 255 (8 bits) and its threshold to
# 255 * 2**6 / jump, where jump is the voltage, in thresholds, that one input spike adds
# through that weight; the threshold's mantissa (round(vth / 2**6)) is then 0 for jump
# over ~500 (a bare AssertionError in vth_to_manexp), and no weight exponent fits for
# jump under ~1.5e-5 (255 * 2**-1 / the largest threshold). A LIF decay under half of
# 1/4095 per step rounds to 0 in Loihi's 12 bits. The limits keep a small margin.
LOIHI_JUMP_MAX = 480.0
LOIHI_JUMP_MIN = 2e-5
_PASS_THROUGH = ("Flatten", "ZeroPadding2D", "Reshape")


def _source_neurons(network, name):
    """The neuron layer ``name``'s kernel reads through layers that only move values
    (Flatten, padding, reshape), or None for anything else (sums, pools, several
    inputs: their gains are not checked here)."""
    graph, neurons = network.graph, set(network.neuron_layers)
    inputs = list(graph.layer(name).inputs)
    while len(inputs) == 1 and inputs[0] not in neurons:
        layer = graph.layer(inputs[0])
        if layer.class_name not in _PASS_THROUGH:
            return None
        inputs = list(layer.inputs)
    return inputs[0] if len(inputs) == 1 else None


def _check_loihi_ranges(network) -> None:
    """Refuse, naming the layer and the limit, a network whose weights or time
    constants nengo-loihi cannot discretize (it would fail with a bare
    ``AssertionError`` or an unnamed ``BuildError`` while building)."""
    spec = network.neuron
    amplitude = float(spec.params.get("amplitude", 1.0))
    dt = network.dt
    lif = spec.name == "loihi-lif"
    decay_v = -math.expm1(-dt / float(spec.params.get("tau_rc", 0.02))) if lif else 1.0
    for name in network.on_chip_layers:
        if lif and decay_v < 0.5 / 4095:
            raise LoihiMappingError(
                f"neuron_type: on-chip layer {name!r}: tau_rc "
                f"{spec.params.get('tau_rc')} s decays the voltage by {decay_v:.3g} per "
                f"{dt:g} s step, which Loihi's 12-bit decay rounds to 0 (limit "
                f"{0.5 / 4095:.3g}, tau_rc under ~{dt * 8190:g} s); use loihi-relu for a "
                "neuron without leak")
        source = _source_neurons(network, name)
        if source is None or name not in network.weights:
            continue
        kernel = np.asarray(network.weights[name][0])
        if not kernel.size:
            continue
        # one input spike through the largest weight, in thresholds per step
        jump = float(np.abs(kernel).max()) * network.scale(name) * amplitude / \
            network.scale(source)
        if lif:
            jump *= decay_v / dt
            if network.synapse is not None:
                jump *= -math.expm1(-dt / network.synapse)
        if jump > LOIHI_JUMP_MAX:
            raise LoihiMappingError(
                f"weights: on-chip layer {name!r}: one input spike through its largest "
                f"weight moves the voltage by {jump:.3g} thresholds; Loihi's 8-bit "
                f"weights and threshold mantissa hold at most {LOIHI_JUMP_MAX:g} (a NIR "
                "graph with per-step spikes read as unit-area? import it with "
                "spikes='per-step'; or lower the layer's scale)")
        if jump < LOIHI_JUMP_MIN:
            raise LoihiMappingError(
                f"weights: on-chip layer {name!r}: one input spike through its largest "
                f"weight moves the voltage by {jump:.3g} thresholds, under Loihi's "
                f"resolution ({LOIHI_JUMP_MIN:g}); raise the layer's scale")


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
