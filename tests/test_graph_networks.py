"""Networks as other people write them, on the Loihi targets: residual sums (identity
and projection skips), channel concatenations, all-convolutional heads read by
global average pooling, 1-D and grouped convolutions, linear convolutions and batch
normalization between neuron layers, two chip-to-host and two host-to-chip links, and
a peer converter's own test models (SNN Toolbox's, at a smaller input size).

For each, three claims:
- folding keeps the Keras function (rate neurons on ``nengo``, rtol 1e-4);
- the Loihi build's rewrites (``backends/loihi/passes.py``) keep it too (the same
  network with rate neurons, built as the Loihi targets build it);
- ``loihi-emulator-fast`` is bit-exact with nengo-loihi's emulator, with every
  on-chip layer spiking.
"""

from __future__ import annotations

import nengo
import numpy as np
import pytest
import tensorflow as tf

from snnkit.backends import get_backend
from snnkit.backends.loihi.build import build_loihi_network
from snnkit.backends.loihi.planning import plan_loihi_cores
from snnkit.convert.freeze import from_keras
from snnkit.exceptions import LoihiMappingError, ValidationError

L = tf.keras.layers
N_STEPS = 20


def _conv(filters, kernel, name, relu=True, bias=False, **options):
    return L.Conv2D(filters, kernel, activation="relu" if relu else None, use_bias=bias,
                    name=name, **options)


def _residual_identity(x):
    """Identity skip around a ReLU conv and a linear conv with batch normalization."""
    c1 = _conv(4, 3, "c1", padding="same")(_conv(3, 1, "to-spikes")(x))
    c3 = L.BatchNormalization(name="bn")(_conv(4, 3, "c3", relu=False, padding="same")(
        _conv(4, 3, "c2", padding="same")(c1)))
    s = L.ReLU(name="add_relu")(L.Add(name="add")([c1, c3]))
    return L.Dense(3, name="out")(L.Dense(8, activation="relu", name="dense0")(
        L.Flatten(name="flatten")(s)))


def _residual_projection(x):
    """A strided 1x1-convolution skip."""
    c1 = _conv(4, 3, "c1", padding="same")(_conv(3, 1, "to-spikes")(x))
    c3 = _conv(6, 3, "c3", relu=False, bias=True, padding="same")(
        _conv(6, 3, "c2", padding="same", strides=2)(c1))
    proj = _conv(6, 1, "proj", relu=False, strides=2)(c1)
    s = L.ReLU(name="add_relu")(L.Add(name="add")([c3, proj]))
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(_conv(4, 3, "c4")(s)))


def _inception(x):
    """Two branches concatenated along channels, read by a convolution."""
    c1 = _conv(4, 3, "c1", padding="same")(_conv(3, 1, "to-spikes")(x))
    cat = L.Concatenate(name="concat")([
        _conv(2, 1, "b1")(c1), _conv(3, 3, "b2", padding="same", bias=True)(c1)])
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(_conv(4, 3, "c_after")(cat)))


def _all_conv(x):
    """An all-convolutional classifier: a linear convolution, then global average
    pooling as the output (the host applies both to the chip's spikes)."""
    c2 = _conv(4, 3, "c2")(_conv(4, 3, "c1")(_conv(3, 1, "to-spikes")(x)))
    return L.GlobalAveragePooling2D(name="gap")(_conv(3, 3, "cls", relu=False,
                                                      bias=True)(c2))


def _conv1d(x):
    """1-D convolutions with pooling, global average pooling into the output."""
    x = L.Conv1D(3, 1, activation="relu", use_bias=False, name="to-spikes")(x)
    x = L.Conv1D(4, 3, padding="same", activation="relu", name="c1")(x)
    x = L.Conv1D(5, 3, activation="relu", name="c2")(L.AveragePooling1D(2, name="p")(x))
    return L.Dense(3, name="out")(L.GlobalAveragePooling1D(name="gap")(x))


def _grouped(x):
    c1 = _conv(4, 3, "c1", padding="same")(_conv(4, 1, "to-spikes")(x))
    g = _conv(6, 3, "grouped", groups=2, bias=True)(c1)
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(g))


def _batch_norm_same(x):
    """Batch normalization after a ReLU, before a 'same' convolution: kept, and
    composed exactly (border included) into that convolution on Loihi."""
    c1 = _conv(4, 3, "c1", padding="same")(_conv(3, 1, "to-spikes")(x))
    c2 = _conv(4, 3, "c2", padding="same", bias=True)(L.BatchNormalization(name="bn")(c1))
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(c2))


def _linear_between(x):
    c1 = _conv(4, 3, "c1")(_conv(3, 1, "to-spikes")(x))
    lin = _conv(4, 3, "lin", relu=False, bias=True)(c1)
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(_conv(4, 3, "c2")(lin)))


def _add_to_output(x):
    """A sum read by the off-chip output: two chip-to-host links."""
    c1 = _conv(4, 3, "c1", padding="same")(_conv(3, 1, "to-spikes")(x))
    s = L.Add(name="add")([c1, _conv(4, 3, "c2", padding="same")(c1)])
    return L.Dense(3, name="out")(L.Flatten(name="flatten")(s))


def _concat_dense(x):
    """Two branches read from the off-chip layer: two host-to-chip links."""
    t = _conv(3, 1, "to-spikes")(x)
    cat = L.Concatenate(name="concat")([_conv(2, 3, "b1", strides=2)(t),
                                        _conv(3, 3, "b2", strides=2)(t)])
    return L.Dense(3, name="out")(L.Dense(8, activation="relu", name="dense0")(
        L.Flatten(name="flatten")(cat)))


def _dense_residual(x):
    d1 = L.Dense(16, activation="relu", name="d1")(L.Dense(
        24, activation="relu", name="to-spikes")(L.Flatten(name="flatten")(x)))
    d3 = L.Dense(16, name="d3")(L.Dense(16, activation="relu", name="d2")(d1))
    s = L.Activation("relu", name="add_relu")(L.Add(name="add")([d1, d3]))
    return L.Dense(3, name="out")(s)


def _snn_toolbox_model_1(x):
    """SNN Toolbox's own test model 1 (its tests/conftest.py), layers unnamed."""
    x = L.Conv2D(16, 5, strides=2, activation="relu", use_bias=False)(x)
    x = L.AveragePooling2D()(L.Conv2D(32, 3, activation="relu", use_bias=False)(x))
    x = L.Conv2D(8, 3, padding="same", activation="relu", use_bias=False)(x)
    return L.Dense(10, activation="softmax", use_bias=False)(L.Dropout(0.01)(
        L.Flatten()(x)))


def _snn_toolbox_model_2(x):
    """SNN Toolbox's own test model 2: batch normalization, average pooling and two
    branches concatenated along channels."""
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 5, strides=2)(x)))
    x = L.AveragePooling2D()(x)
    x = L.Concatenate()([L.Conv2D(32, 3, padding="same", activation="relu")(x),
                         L.Conv2D(8, 1, activation="relu")(x)])
    x = L.Conv2D(10, 3, activation="relu")(x)
    return L.Dense(10, activation="softmax")(L.Dropout(1e-5)(L.Flatten()(x)))


CASES = {
    "residual-identity": ((8, 8, 1), _residual_identity),
    "residual-projection": ((8, 8, 1), _residual_projection),
    "inception": ((8, 8, 1), _inception),
    "all-conv": ((8, 8, 1), _all_conv),
    "conv1d": ((16, 2), _conv1d),
    "grouped": ((8, 8, 1), _grouped),
    "batch-norm-same": ((8, 8, 1), _batch_norm_same),
    "linear-between": ((8, 8, 1), _linear_between),
    "add-to-output": ((8, 8, 1), _add_to_output),
    "concat-dense": ((8, 8, 1), _concat_dense),
    "dense-residual": ((8, 8, 1), _dense_residual),
    "snn-toolbox-1": ((12, 12, 1), _snn_toolbox_model_1),
    "snn-toolbox-2": ((16, 16, 1), _snn_toolbox_model_2),
}


def _model(case, seed=0):
    """The case's Keras model, with seeded weights mostly positive (so that every
    layer of an untrained network fires) and non-trivial normalization statistics."""
    shape, body = CASES[case]
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape, name="input")
    model = tf.keras.Model(inp, body(inp), name=case.replace("-", "_"))
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            n = weights[0].shape[0]
            layer.set_weights([rng.uniform(lo, hi, n).astype(np.float32) for lo, hi in
                               ((0.5, 1.5), (-0.2, 0.3), (-0.2, 0.4), (0.5, 2.0))])
        elif weights:
            fan_in = int(np.prod(weights[0].shape[:-1]))
            layer.set_weights(
                [(rng.uniform(-0.6, 1.0, weights[0].shape) * 2.5 / np.sqrt(fan_in))
                 .astype(np.float32)]
                + [rng.uniform(0, 0.3, w.shape).astype(np.float32) for w in weights[1:]])
    return model


def _images(shape, n=2, seed=0, low=0.0):
    return np.random.RandomState(seed).uniform(low, 1, (n,) + tuple(shape)).astype(
        np.float32)


def _scales(network, x, target_hz=300.0):
    """Per-layer scales that put each neuron layer's mean active ReLU rate (of the
    frozen network: layers merged by the fold have their new names) near the target."""
    from snnkit.convert.keras_model import to_keras

    model = to_keras(network)
    names = network.neuron_layers
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    acts = probe.predict(x, verbose=0)
    acts = acts if isinstance(acts, list) else [acts]
    return {n: float(target_hz / max(a[a > 0].mean() if (a > 0).any() else 1.0, 1e-3))
            for n, a in zip(names, acts)}


def _loihi_build_rates(network, x):
    """The network with rate neurons, built as the Loihi targets build it (every
    rewrite applied), one nengo step per input."""
    built = build_loihi_network(network.replace(neuron="relu", synapse=None),
                                probe_layers=False)
    outputs = []
    for row in x:
        built.input_node.output = row.reshape(-1).astype(np.float64)
        with nengo.Simulator(built.net, progress_bar=False) as sim:
            sim.run_steps(1)
        outputs.append(sim.data[built.output_probe][-1])
    return np.array(outputs)


@pytest.mark.parametrize("case", list(CASES))
def test_keras_function_kept_and_loihi_exact(case):
    model = _model(case)
    x = _images(CASES[case][0])
    keras = model.predict(x, verbose=0).reshape(len(x), -1)
    scale = np.abs(keras).max()

    # a softmax output is read as its logits (argmax unchanged): compare probabilities
    softmax = model.layers[-1].get_config().get("activation") == "softmax"
    as_keras = (lambda z: tf.nn.softmax(z).numpy()) if softmax else (lambda z: z)

    rates = from_keras(model, neuron_type="relu")
    folded = get_backend("nengo").run(rates, x, n_steps=1).outputs[:, -1]
    np.testing.assert_allclose(as_keras(folded), keras, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(as_keras(_loihi_build_rates(rates, x)), keras, rtol=1e-4,
                               atol=1e-5 * scale)

    network = from_keras(model, neuron_type="loihi-relu", synapse=0.002,
                         scale_firing_rates=_scales(rates, x))
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=N_STEPS)
    emulator = get_backend("loihi-emulator").run(network, x, n_steps=N_STEPS)
    np.testing.assert_array_equal(fast.outputs, emulator.outputs)
    for layer in network.on_chip_layers:
        assert fast.spikes_per_input[layer] > 0, (layer, fast.spikes_per_input)
    assert plan_loihi_cores(network).n_cores >= 1


def test_identity_skip_is_a_pointwise_convolution_on_chip():
    """An identity skip between maps shares one C x C kernel over positions (one input
    axon per position, not per neuron)."""
    network = from_keras(_model("residual-identity"), neuron_type="loihi-relu")
    built = build_loihi_network(network, probe_layers=False)
    target = built.neurons["add_relu"]
    kinds = sorted(type(c.transform).__name__ for c in built.net.all_connections
                   if c.post_obj == target)
    assert kinds == ["Convolution", "Convolution"]
    skip = next(c for c in built.net.all_connections if c.post_obj == target
                and c.pre_obj == built.neurons["c1"])
    assert skip.transform.kernel_size == (1, 1)


def test_an_on_chip_layer_convolving_the_raw_input_is_refused_before_building():
    def body(x):
        h = _conv(3, 1, "to-spikes")(x)
        c1 = _conv(2, 3, "c1", relu=False, padding="same")(h)
        s = L.ReLU(name="sum_relu")(L.Add(name="sum")([c1, _conv(2, 1, "lin",
                                                              relu=False)(x)]))
        return L.Dense(3, name="out")(L.Flatten(name="flatten")(s))

    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((6, 6, 1), name="input")
    network = from_keras(tf.keras.Model(inp, body(inp)), neuron_type="loihi-relu")
    with pytest.raises(LoihiMappingError, match="on-chip layer 'sum_relu' reads 'input', "
                                                "a value on the host, through a "
                                                "convolution"):
        get_backend("loihi-emulator-fast").run(network, _images((6, 6, 1)), n_steps=3)


def test_signed_inputs_need_the_signed_encoder():
    """A model with one ReLU layer gets a spike encoder: the identity one clips
    negative inputs, so its network refuses them by name; the signed one (on/off
    channels) runs them exactly."""
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((6,), name="input")
    model = tf.keras.Model(inp, L.Dense(3, name="out")(
        L.Dense(8, activation="relu", name="h")(inp)))
    x = _images((6,), n=4, low=-1.0)
    keras = model.predict(x, verbose=0)

    plain = from_keras(model, neuron_type="relu")
    assert plain.metadata["spike_encoder"] == {"layer": "to-spikes", "signed": False}
    with pytest.raises(ValidationError, match=r"x: .*'to-spikes' passes inputs >= 0 "
                                              r"only.*minimum -0\.\d+ \(input \d\)"):
        get_backend("nengo").run(plain, x, n_steps=1)

    signed = from_keras(model, neuron_type="relu", spike_encoder="signed")
    assert signed.neuron_layers == ("to-spikes", "h")
    assert signed.layer_shape("to-spikes") == (12,)
    got = get_backend("nengo").run(signed, x, n_steps=1).outputs[:, -1]
    np.testing.assert_allclose(got, keras, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_loihi_build_rates(signed, x), keras, rtol=1e-4, atol=1e-5)
