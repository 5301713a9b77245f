"""Automatic Loihi core mapping (snnkit.backends.loihi.core_mapping).

The networks are Keras models converted by nengo-dl, as users make them: Loihi spiking
ReLU neurons, per-layer firing-rate scales, a 5 ms synapse, glorot-initialized weights
(Keras' default, seeded), and the input layer 'to-spikes' run off chip.
"""

import json

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
nengo = pytest.importorskip("nengo")
nengo_dl = pytest.importorskip("nengo_dl")
nengo_loihi = pytest.importorskip("nengo_loihi")

from nengo.exceptions import BuildError  # noqa: E402
from nengo_loihi.neurons import LoihiSpikingRectifiedLinear  # noqa: E402

from snnkit import models  # noqa: E402
from snnkit.backends.loihi.core_mapping import (  # noqa: E402
    LOIHI_CORE_LIMITS,
    CorePlan,
    plan_cores,
)
from snnkit.exceptions import (  # noqa: E402
    BlockShapeDoesNotFit,
    LoihiMappingError,
    NothingOnChipError,
)

# The hand-picked block shapes of the seed notebook (the NengoDL/Loihi keras-to-snn
# notebook workflow this project started from).
NOTEBOOK_SHAPES = {"conv0": (16, 16, 4), "conv1": (8, 8, 16), "dense0": (50,)}


def _conv(filters, kernel, strides, name, seed):
    return tf.keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        use_bias=False,
        activation=tf.nn.relu,
        kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed),
        name=name,
    )


def _dense(units, name, seed, activation=tf.nn.relu):
    return tf.keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=tf.keras.initializers.GlorotUniform(seed=seed),
        name=name,
    )


def _convert(model, on_chip, scales):
    """Keras model -> (net, {on-chip name: ensemble}, {name: shape}), seed-style."""
    converter = nengo_dl.Converter(
        model,
        swap_activations={tf.nn.relu: LoihiSpikingRectifiedLinear()},
        scale_firing_rates={model.get_layer(n): s for n, s in scales.items()},
        synapse=0.005,
    )
    net = converter.net
    nengo_loihi.add_params(net)
    layers, shapes = {}, {}
    for layer in model.layers:
        if layer.name not in scales:
            continue
        ens = converter.layers[layer].ensemble
        if layer.name in on_chip:
            layers[layer.name] = ens
            shapes[layer.name] = tuple(layer.output_shape[1:])
        else:
            net.config[ens].on_chip = False
    return net, layers, shapes


def seed_convnet():
    """The seed notebook's convnet (``snnkit.models.seed_convnet``, 28x28x1 MNIST
    input), untrained glorot weights."""
    model = models.seed_convnet(seed=0)
    scales = {"to-spikes": 100, "conv0": 100, "conv1": 120, "dense0": 150}
    return _convert(model, ("conv0", "conv1", "dense0"), scales)


def small_convnet(side=14):
    """A small convnet whose first on-chip layer needs several cores.

    With ``side`` 14, c0 is 12x12x24 = 3456 neurons; with 16 it is 14x14x24 = 4704,
    more input axons than any core of d0 can take.
    """
    inp = tf.keras.Input((side, side, 1), name="input")
    x = _conv(2, 1, 1, "to-spikes", 10)(inp)
    x = _conv(24, 3, 1, "c0", 11)(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = _dense(30, "d0", 12)(x)
    out = _dense(4, "out", 13, activation=None)(x)
    model = tf.keras.Model(inp, out)
    scales = {"to-spikes": 100, "c0": 100, "d0": 100}
    return _convert(model, ("c0", "d0"), scales)


def dense_fanout_net():
    """1024 on-chip neurons feeding a 600-unit layer that needs six cores.

    nengo-loihi's own splitter sizes each layer from its unsplit totals, so it
    leaves 'wide' on one core; once 'fan' is cut into six, every 'wide' neuron needs
    one output axon per 'fan' core: 6144 > 4096.
    """
    inp = tf.keras.Input((16,), name="input")
    x = _dense(16, "to-spikes", 20)(inp)
    x = _dense(1024, "wide", 21)(x)
    x = _dense(600, "fan", 22)(x)
    out = _dense(4, "out", 23, activation=None)(x)
    model = tf.keras.Model(inp, out)
    scales = {"to-spikes": 100, "wide": 100, "fan": 100}
    return _convert(model, ("wide", "fan"), scales)


@pytest.fixture(scope="module")
def seed():
    return seed_convnet()


@pytest.fixture(scope="module")
def seed_plan(seed):
    net, layers, shapes = seed
    return plan_cores(net, layers, shapes)


def _build(net, plan=None):
    """Build ``net`` for the emulator, with ``plan`` applied if given."""
    if plan is not None:
        plan.apply(net)
    return nengo_loihi.Simulator(net, target="sim", progress_bar=False)


def _clear_block_shapes(net, layers):
    for ens in layers.values():
        try:
            del net.config[ens].block_shape  # back to nengo-loihi's default (None)
        except KeyError:
            pass  # was never set


def _nengo_loihi_figures(sim, ens):
    """Per-core figures nengo-loihi computed for the blocks of ``ens``."""
    blocks = sim.model.objs[ens]["in"]
    blocks = blocks if isinstance(blocks, list) else [blocks]
    util = [b.utilization() for b in blocks]
    return {
        "compartments": tuple(u["compartments"][0] for u in util),
        "input_axons": tuple(u["in-axons"][0] for u in util),
        "output_axons": tuple(u["out-axons"][0] for u in util),
        "synapse_bits": tuple(u["synapses"][0] for u in util),
    }


def _assert_matches_nengo_loihi(plan, net, layers):
    try:
        with _build(net, plan) as sim:
            for name, ens in layers.items():
                figures = _nengo_loihi_figures(sim, ens)
                lp = plan[name]
                for resource, per_core in figures.items():
                    assert getattr(lp, resource) == per_core, (name, resource)
            sim.run_steps(3)
    finally:
        _clear_block_shapes(net, layers)


def test_limits_are_nengo_loihis():
    from nengo_loihi.block import (
        MAX_COMPARTMENTS,
        MAX_IN_AXONS,
        MAX_OUT_AXONS,
        MAX_SYNAPSE_BITS,
    )

    assert LOIHI_CORE_LIMITS.compartments == MAX_COMPARTMENTS == 1024
    assert LOIHI_CORE_LIMITS.input_axons == MAX_IN_AXONS == 4096
    assert LOIHI_CORE_LIMITS.output_axons == MAX_OUT_AXONS == 4096
    assert LOIHI_CORE_LIMITS.synapse_bits == MAX_SYNAPSE_BITS == 1048576
    assert LOIHI_CORE_LIMITS.cores_per_chip == 128


def test_small_convnet_plan_builds_and_matches_nengo_loihi():
    net, layers, shapes = small_convnet()
    plan = plan_cores(net, layers, shapes)
    # planning reads the network but does not change it
    assert all(net.config[e].block_shape is None for e in layers.values())
    # 3456 compartments need at least 4 cores
    assert plan["c0"].n_cores == 4
    _assert_matches_nengo_loihi(plan, net, layers)


def test_seed_plan_builds_runs_and_matches_nengo_loihi(seed, seed_plan):
    net, layers, shapes = seed
    for lp in seed_plan.layers:
        for resource, limit in (
            ("compartments", 1024),
            ("input_axons", 4096),
            ("output_axons", 4096),
            ("synapse_bits", 1048576),
        ):
            assert lp.peak(resource) <= limit
    _assert_matches_nengo_loihi(seed_plan, net, layers)


def test_seed_plan_uses_fewer_cores_than_the_notebook(seed, seed_plan):
    net, layers, shapes = seed
    notebook = plan_cores(net, layers, shapes, given=NOTEBOOK_SHAPES)
    assert notebook.n_cores == 8 + 4 + 2
    assert seed_plan.n_cores <= notebook.n_cores
    # lower bound: conv0 5408 and conv1 2304 compartments, dense0 2.06 Mbit of weights
    assert seed_plan.n_cores == 6 + 3 + 2
    assert [lp.n_cores for lp in seed_plan.layers] == [6, 3, 2]


def test_seed_plan_beats_nengo_loihis_own_split(seed, seed_plan):
    # nengo-loihi 1.1.0 builds this network without block shapes too (the notebook's
    # "Total synapse bits (1103808) exceeded max" came from an older nengo-loihi),
    # but its sequential split takes more cores.
    net, layers, shapes = seed
    _clear_block_shapes(net, layers)
    with _build(net) as sim:
        auto_cores = len(sim.model.blocks)
    assert auto_cores == 14
    assert seed_plan.n_cores < auto_cores


def test_nengo_loihis_own_split_overflows_output_axons_where_the_plan_fits():
    net, layers, shapes = dense_fanout_net()
    overflow = r"Output axons \(6144\) exceeded max \(4096\)"
    with pytest.raises(BuildError, match=overflow):
        _build(net)
    plan = plan_cores(net, layers, shapes)
    assert plan.block_shapes == {"wide": (512,), "fan": (100,)}
    assert plan["wide"].peak("output_axons") == 3072
    _assert_matches_nengo_loihi(plan, net, layers)


def test_given_shapes_are_honored(seed):
    net, layers, shapes = seed
    plan = plan_cores(net, layers, shapes, given={"conv1": (6, 6, 16)})
    assert plan.block_shapes["conv1"] == (6, 6, 16)
    assert plan["conv1"].given and not plan["conv0"].given
    assert plan["conv1"].n_cores == 4


def test_given_shape_over_synapse_bits_names_layer_limit_and_a_fit(seed):
    net, layers, shapes = seed
    with pytest.raises(BlockShapeDoesNotFit) as info:
        plan_cores(net, layers, shapes, given={"dense0": (100,)})
    assert str(info.value) == (
        "dense0: block shape (100,) needs 2064384 synapse bits per core, "
        "the limit is 1048576; (50,) fits"
    )
    assert isinstance(info.value, ValueError)


def test_given_shape_over_compartments_names_layer_limit_and_a_fit(seed):
    net, layers, shapes = seed
    with pytest.raises(BlockShapeDoesNotFit) as info:
        plan_cores(net, layers, shapes, given={"conv0": (13, 13, 8)})
    assert str(info.value) == (
        "conv0: block shape (13, 13, 8) needs 1352 compartments per core, "
        "the limit is 1024; (13, 7, 11) fits"
    )


def test_given_shape_over_output_axons_names_the_limit():
    net, layers, shapes = dense_fanout_net()
    with pytest.raises(BlockShapeDoesNotFit) as info:
        plan_cores(net, layers, shapes, given={"wide": (1024,)})
    assert str(info.value) == (
        "wide: block shape (1024,) needs 6144 output axons per core, "
        "the limit is 4096; (512,) fits"
    )


def test_a_layer_no_shape_can_fit_is_refused():
    # every core of d0 needs one input axon per c0 neuron, however d0 is cut
    net, layers, shapes = small_convnet(side=16)
    with pytest.raises(LoihiMappingError) as info:
        plan_cores(net, layers, shapes)
    assert str(info.value) == (
        "d0: expected a block shape that fits one Loihi core, but none of the tiles "
        "of shape (30,) does (the finest cut still needs 4704 input axons per core, "
        "the limit is 4096)"
    )


def test_nothing_on_chip_is_refused(seed):
    net, layers, shapes = seed
    with pytest.raises(NothingOnChipError, match="at least one on-chip layer"):
        plan_cores(net, {}, {})
    with nengo.Network() as host_only:
        nengo_loihi.add_params(host_only)
        ens = nengo.Ensemble(10, 1)
        host_only.config[ens].on_chip = False
    with pytest.raises(NothingOnChipError, match="Loihi needs at least one layer on"):
        plan_cores(host_only, {"e": ens}, {"e": (10,)})


def test_bad_arguments_name_the_argument(seed):
    net, layers, shapes = seed
    with pytest.raises(LoihiMappingError, match=r"shapes\['conv0'\]: .*5408 neurons"):
        plan_cores(net, layers, {**shapes, "conv0": (13, 13, 31)})
    with pytest.raises(LoihiMappingError, match="given: expected names of on-chip"):
        plan_cores(net, layers, shapes, given={"conv9": (1, 1, 1)})
    with pytest.raises(LoihiMappingError, match=r"given\['dense0'\]: expected 1"):
        plan_cores(net, layers, shapes, given={"dense0": (5, 10)})
    missing = {k: v for k, v in layers.items() if k != "conv1"}
    with pytest.raises(LoihiMappingError, match="missing"):
        plan_cores(net, missing, shapes)


def test_plan_is_deterministic_and_reports(seed, seed_plan):
    net, layers, shapes = seed
    assert plan_cores(net, layers, shapes) == seed_plan
    d = json.loads(json.dumps(seed_plan.to_dict()))
    assert d["n_cores"] == seed_plan.n_cores
    assert d["off_chip"] == ["to-spikes.0"]
    assert [layer["block_shape"] for layer in d["layers"]] == [
        list(s) for s in seed_plan.block_shapes.values()
    ]
    table = seed_plan.table()
    for name in ("conv0", "conv1", "dense0", "synapse bits", "off chip: to-spikes.0"):
        assert name in table
    util = seed_plan["dense0"].utilization()
    assert util["synapse_bits"] == pytest.approx(1032192 / 1048576)
    assert isinstance(seed_plan, CorePlan)


def test_apply_sets_block_shapes(seed, seed_plan):
    net, layers, shapes = seed
    try:
        seed_plan.apply(net)
        for name, ens in layers.items():
            bs = net.config[ens].block_shape
            assert bs.shape == seed_plan.block_shapes[name]
            assert bs.ensemble_shape == shapes[name]
    finally:
        _clear_block_shapes(net, layers)


def test_synapse_bits_follow_the_weights_structure_not_their_scale(seed):
    # nengo-loihi splits float weights before discretizing them, and its synapse
    # memory depends on weight counts, index bits and shared kernels: scaling all
    # weights (as a firing-rate scale does) leaves the plan unchanged.
    net, layers, shapes = seed
    base = plan_cores(net, layers, shapes)
    scaled_net, scaled_layers, _ = seed_convnet()
    n_scaled = 0
    for conn in scaled_net.all_connections:
        if isinstance(conn.transform, nengo.Convolution):
            kernel = conn.transform.init
            if isinstance(kernel, np.ndarray):
                type(conn.transform).init.data[conn.transform] = kernel * 7.0
                n_scaled += 1
    assert n_scaled == 3
    scaled = plan_cores(scaled_net, scaled_layers, shapes)
    assert scaled.block_shapes == base.block_shapes
    assert [lp.synapse_bits for lp in scaled.layers] == [
        lp.synapse_bits for lp in base.layers
    ]
