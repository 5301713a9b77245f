"""The supported-layer table (README, snnkit/fold.py), row by row: every folded model
computes what the user's Keras model computes at inference; refused layers give one
error naming the layer and the alternative."""

import numpy as np
import pytest
import tensorflow as tf

from snnkit.convert.fold import fold_model, write_back
from snnkit.convert.freeze import from_keras
from snnkit.convert.keras_model import to_keras
from snnkit.exceptions import ConversionError

L = tf.keras.layers


def _model(body, shape=(12, 12, 2), seed=0):
    tf.keras.utils.set_random_seed(seed)
    inp = L.Input(shape, name="input")
    out = body(inp)
    model = tf.keras.Model(inp, out)
    # non-trivial batch-norm statistics and weights
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([rng.uniform(0.5, 2, w.shape).astype(np.float32)
                               if "variance" in w.name or "gamma" in w.name
                               else rng.normal(0, 0.5, w.shape).astype(np.float32)
                               for w in layer.weights])
        elif layer.weights:
            rng = np.random.default_rng(len(layer.name) + 7)
            layer.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


def _x(shape, n=6):
    return np.random.default_rng(1).uniform(0, 1, (n,) + shape).astype(np.float32)


def _check_same(model, shape=(12, 12, 2), *, softmax_output=False, n_layers=None):
    folded = fold_model(model)
    x = _x(shape)
    want = model(x, training=False).numpy()
    got = folded.model(x, training=False).numpy()
    if softmax_output:
        np.testing.assert_array_equal(np.argmax(got, -1), np.argmax(want, -1))
        got = tf.nn.softmax(got).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    if n_layers is not None:
        assert len(folded.model.layers) == n_layers, [l.name for l in folded.model.layers]
    return folded


# --- rows that convert ---------------------------------------------------------------

def test_conv_dense_with_bias_unchanged():
    model = _model(lambda x: L.Dense(5, name="out")(L.Flatten(name="f")(
        L.Conv2D(4, 3, activation="relu", name="c")(x))))
    folded = fold_model(model)
    assert folded.model is model and not folded.changed


def test_batchnorm_after_conv_and_dense_is_folded():
    def body(x):
        x = L.Conv2D(4, 3, use_bias=False, name="c")(x)
        x = L.BatchNormalization(name="bn0")(x)
        x = L.ReLU(name="r0")(x)
        x = L.Flatten(name="f")(x)
        x = L.Dense(8, name="d")(x)
        x = L.BatchNormalization(name="bn1")(x)
        x = L.Activation("relu", name="r1")(x)
        return L.Dense(3, name="out")(x)

    folded = _check_same(_model(body), n_layers=5)
    assert folded.merged == {"bn0": "c", "r0": "c", "bn1": "d", "r1": "d"}
    assert folded.model.get_layer("c").get_config()["activation"] == "relu"
    assert folded.model.get_layer("c").use_bias


def test_dropout_family_and_linear_activation_removed():
    def body(x):
        x = L.Conv2D(4, 3, activation="relu", name="c")(x)
        x = L.SpatialDropout2D(0.3, name="sd")(x)
        x = L.GaussianNoise(0.5, name="gn")(x)
        x = L.Flatten(name="f")(x)
        x = L.Dropout(0.5, name="do")(x)
        x = L.Dense(3, name="out")(x)
        return L.Activation("linear", name="lin")(x)

    folded = _check_same(_model(body), n_layers=4)
    assert folded.merged["sd"] is None and folded.merged["do"] is None


def test_softmax_output_keeps_argmax():
    body = lambda x: L.Dense(4, activation="softmax", name="out")(L.Flatten(name="f")(
        L.Conv2D(3, 3, activation="relu", name="c")(x)))
    _check_same(_model(body), softmax_output=True)
    body = lambda x: L.Activation("softmax", name="sm")(L.Dense(4, name="out")(
        L.Flatten(name="f")(x)))
    _check_same(_model(body), softmax_output=True)


@pytest.mark.parametrize("pool", ["avg", "gap"])
def test_pooling_folded_into_next_dense(pool):
    def body(x):
        x = L.Conv2D(4, 3, activation="relu", name="c")(x)  # 10x10x4
        if pool == "avg":
            x = L.Flatten(name="f")(L.AveragePooling2D(3, name="p")(x))  # 3x3, remainder
        else:
            x = L.GlobalAveragePooling2D(name="p")(x)
        return L.Dense(3, name="out")(x)

    folded = _check_same(_model(body))
    assert "p" not in [l.name for l in folded.model.layers]


@pytest.mark.parametrize("padding,strides", [("valid", 1), ("valid", 2), ("same", 1)])
def test_pooling_folded_into_next_conv(padding, strides):
    def body(x):
        x = L.Conv2D(4, 3, padding="same", activation="relu", name="c0")(x)  # 12x12
        x = L.AveragePooling2D(2, name="p")(x)  # 6x6
        x = L.Conv2D(5, 3, strides=strides, padding=padding, activation="relu",
                     name="c1")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    folded = _check_same(_model(body))
    c1 = folded.model.get_layer("c1")
    assert c1.kernel_size == (6, 6) and c1.strides == (2 * strides, 2 * strides)


def test_pooling_that_cannot_fold_is_kept():
    # 'same' conv with stride 2 after pooling: padding would not line up
    def body(x):
        x = L.Conv2D(4, 3, padding="same", activation="relu", name="c0")(x)
        x = L.AveragePooling2D(2, name="p")(x)
        x = L.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c1")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    folded = _check_same(_model(body))
    assert "p" in [l.name for l in folded.model.layers]


@pytest.mark.parametrize("cls", ["DepthwiseConv2D", "SeparableConv2D"])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_depthwise_and_separable_become_conv2d(cls, batchnorm):
    def body(x):
        if cls == "DepthwiseConv2D":
            x = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
        else:
            x = L.SeparableConv2D(5, 3, depth_multiplier=2, name="dw")(x)
        if batchnorm:
            x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU(name="r")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    folded = _check_same(_model(body))
    assert type(folded.model.get_layer("dw")).__name__ == "Conv2D"
    with pytest.raises(ConversionError, match=f"'dw' is a {cls}, which NengoDL cannot train"):
        fold_model(_model(body), for_training=True)


def test_conv1d_with_pooling_and_batchnorm():
    def body(x):
        x = L.Conv1D(4, 3, name="c0")(x)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Activation("relu", name="r")(x)
        x = L.AveragePooling1D(2, name="p")(x)
        x = L.Conv1D(4, 3, activation="relu", name="c1")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    _check_same(_model(body, shape=(20, 2)), shape=(20, 2))


def test_sequential_models_fold_too():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        L.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"), L.BatchNormalization(name="bn"),
        L.ReLU(name="r"), L.Dropout(0.2, name="do"), L.Flatten(name="f"),
        L.Dense(3, name="out")])
    _check_same(model, shape=(8, 8, 1), n_layers=4)


def test_write_back_after_training_fold():
    def body(x):
        x = L.Conv2D(4, 3, use_bias=False, name="c")(x)
        x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU(name="r")(x)
        x = L.Dropout(0.5, name="do")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    model = _model(body)
    folded = fold_model(model, for_training=True)
    # "train": change the folded model's weights, then write them back
    for layer in folded.model.layers:
        if layer.weights:
            layer.set_weights([w * 1.5 + 0.1 for w in layer.get_weights()])
    write_back(folded, model)
    x = _x((12, 12, 2))
    np.testing.assert_allclose(model(x, training=False).numpy(),
                               folded.model(x, training=False).numpy(), rtol=1e-4,
                               atol=1e-5)


def test_freeze_records_what_was_folded():
    body = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(L.ReLU(name="r")(
        L.BatchNormalization(name="bn")(L.Conv2D(4, 3, name="c")(x)))))
    network = from_keras(_model(body), spike_encoder=False)
    assert network.neuron_layers == ("c",)
    assert any("bn: BatchNormalization folded into 'c'" in c
               for c in network.metadata["folded"])


def test_converting_draws_nothing_from_the_users_seeded_random_stream():
    """Layers rebuilt only to receive weights are built with zero initializers: a
    user's ``set_random_seed`` stream is untouched (and Keras' float ``randint`` on
    it raises a DeprecationWarning under ``-W error``)."""
    import warnings

    from keras import backend

    body = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(L.ReLU(name="r")(
        L.BatchNormalization(name="bn")(L.Conv2D(4, 3, name="c")(x)))))
    model = _model(body)
    tf.keras.utils.set_random_seed(5)
    state = backend._SEED_GENERATOR.generator.getstate()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        network = from_keras(model)
        to_keras(network)
    assert backend._SEED_GENERATOR.generator.getstate() == state


# --- rows that are refused ------------------------------------------------------------

@pytest.mark.parametrize("layer,match", [
    (lambda: L.MaxPooling2D(2, name="bad"), "'bad' is a MaxPooling2D; .*use AveragePooling2D"),
    (lambda: L.ReLU(max_value=6.0, name="bad"), r"'bad' is ReLU\(max_value=6.0\).*use ReLU\(\)"),
    (lambda: L.LeakyReLU(name="bad"), "'bad' is a LeakyReLU; .*use ReLU"),
    (lambda: L.Activation("tanh", name="bad"), "'bad' has activation 'tanh'"),
])
def test_refused_layers_name_layer_and_alternative(layer, match):
    body = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(layer()(
        L.Conv2D(4, 3, activation="relu", name="c")(x))))
    with pytest.raises(ConversionError, match=match):
        fold_model(_model(body))


def test_batchnorm_without_preceding_linear_layer_is_kept_to_run_refused_to_train():
    on_input = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(
        L.BatchNormalization(name="bn")(x)))
    after_relu = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(
        L.BatchNormalization(name="bn")(L.Conv2D(4, 3, activation="relu", name="c")(x))))
    for body in (on_input, after_relu):
        folded = _check_same(_model(body))
        assert "BatchNormalization" in [type(l).__name__ for l in folded.model.layers]
        assert any(c.startswith("bn: BatchNormalization kept") for c in folded.changes)
    with pytest.raises(ConversionError, match="BatchNormalization 'bn' follows 'input'"):
        fold_model(_model(on_input), for_training=True)
    with pytest.raises(ConversionError, match="'bn' follows 'c' .*activation relu"):
        fold_model(_model(after_relu), for_training=True)


def test_residual_sums_and_channel_concatenations_are_kept():
    def body(x):
        a = L.Conv2D(2, 3, padding="same", activation="relu", name="a")(x)
        s = L.ReLU(name="sum_relu")(L.Add(name="sum")([a, x]))
        c = L.Concatenate(name="cat")([s, L.Conv2D(3, 1, name="proj")(x)])
        return L.Dense(3, name="out")(L.Flatten(name="f")(c))
    folded = _check_same(_model(body))
    assert [type(l).__name__ for l in folded.model.layers[1:]] == [
        "Conv2D", "Add", "Activation", "Conv2D", "Concatenate", "Flatten", "Dense"]


def test_grouped_dilated_causal_and_dense_on_maps_become_plain_layers():
    def body(x):
        x = L.Conv2D(4, 3, padding="same", activation="relu", name="c")(x)
        x = L.Conv2D(4, 3, groups=2, activation="relu", name="grouped")(x)
        x = L.Conv2D(3, 3, dilation_rate=2, padding="same", activation="relu",
                     name="dilated")(x)
        x = L.Dense(5, activation="relu", name="per_position")(x)
        x = L.Reshape((-1, 5), name="seq")(x)
        x = L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu",
                     name="causal")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    folded = _check_same(_model(body))
    layers = {l.name: l.get_config() for l in folded.model.layers}
    assert layers["grouped"]["groups"] == 1
    assert layers["dilated"]["dilation_rate"] == (1, 1)
    assert layers["dilated"]["kernel_size"] == (5, 5)
    assert folded.model.get_layer("per_position").__class__.__name__ == "Conv2D"
    assert layers["causal"]["padding"] == "valid" and "causal.causal" in layers
    notes = " | ".join(folded.changes)
    for note in ("grouped: groups=2 written as one block-diagonal kernel",
                 "dilated: dilation_rate=(2, 2) written as one (5, 5) kernel",
                 "per_position: Dense on a rank-3 input written as the 1x1 Conv2D",
                 "causal: 'causal' padding written as ZeroPadding1D((4, 0))"):
        assert note in notes, notes


def test_training_only_options_are_dropped_and_said_so():
    def body(x):
        reg = tf.keras.regularizers
        x = L.Conv2D(4, 3, activation="relu", name="c", kernel_regularizer=reg.l2(1e-4),
                     bias_regularizer=reg.l1(1e-5), activity_regularizer=reg.l2(1e-5),
                     kernel_constraint=tf.keras.constraints.max_norm(3.0),
                     kernel_initializer=tf.keras.initializers.Constant(
                         np.full((3, 3, 2, 4), 0.1, np.float32)))(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    model = _model(body)
    for for_training in (False, True):
        folded = fold_model(model, for_training=for_training)
        config = folded.model.get_layer("c").get_config()
        assert config["kernel_regularizer"] is None and config["kernel_constraint"] is None
        assert ("c: activity_regularizer, bias_regularizer, kernel_constraint, "
                "kernel_regularizer dropped (training-only options") in folded.changes[0]
    _check_same(model)


def test_max_pooling_opt_in_becomes_average_pooling():
    body = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(L.MaxPooling2D(
        2, name="mp")(L.Conv2D(4, 3, padding="same", activation="relu", name="c")(x))))
    model = _model(body)
    with pytest.raises(ConversionError, match=r"'mp' is a MaxPooling2D; use "
                                              r"AveragePooling2D .*max_pool='average'"):
        fold_model(model)
    folded = fold_model(model, max_pool="average")
    assert folded.changes[0] == ("mp: max pooling replaced by average pooling "
                                 "(max_pool='average'; the function changes: fine-tune)")
    assert "mp: AveragePooling2D folded into 'out'" in folded.changes
    averaged = _model(lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(
        L.AveragePooling2D(2, name="mp")(L.Conv2D(4, 3, padding="same", activation="relu",
                                                  name="c")(x)))))
    x = _x((12, 12, 2))
    np.testing.assert_allclose(folded.model(x).numpy(), averaged(x).numpy(),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="max_pool: expected one of refuse, average, "
                                         "got 'min'"):
        fold_model(model, max_pool="min")


def test_same_max_pooling_becomes_padding_and_valid_average_pooling():
    """A 'same' max pooling (Xception, ResNet stems) becomes TensorFlow's zero padding
    and a 'valid' average pooling, which every backend runs."""
    body = lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(L.MaxPooling2D(
        3, strides=2, padding="same", name="mp")(L.Conv2D(4, 3, activation="relu",
                                                          name="c")(x))))
    folded = fold_model(_model(body), max_pool="average")
    padding = folded.model.get_layer("mp.pad")
    assert padding.get_config()["padding"] == ((0, 1), (0, 1))  # TF's 'same' for 10x10
    expected = _model(lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(
        L.AveragePooling2D(3, strides=2, name="mp")(L.ZeroPadding2D(((0, 1), (0, 1)))(
            L.Conv2D(4, 3, activation="relu", name="c")(x))))))
    x = _x((12, 12, 2))
    np.testing.assert_allclose(folded.model(x).numpy(), expected(x).numpy(), rtol=1e-4,
                               atol=1e-5)


def test_a_refused_multi_input_layer_is_named_by_its_class():
    def body(x):
        a = L.Conv2D(2, 3, padding="same", activation="relu", name="a")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(L.Multiply(name="gate")([a, a])))
    with pytest.raises(ConversionError, match="'gate' is a Multiply; spiking neurons "
                                              "cannot multiply two signals"):
        fold_model(_model(body))


@pytest.mark.parametrize("shape", [(6, 6, 2), (10,)])
def test_single_neuron_layer_gets_an_identity_spike_encoder(shape):
    def body(x):
        x = L.Flatten(name="f")(x) if len(shape) > 1 else x
        return L.Dense(3, name="out")(L.Dense(8, activation="relu", name="h")(x))

    model = _model(body, shape=shape)
    network = from_keras(model, neuron_type="relu")
    assert network.neuron_layers == ("to-spikes", "h")
    assert network.on_chip_layers == ("h",)
    x = _x(shape)  # inputs >= 0: the encoder is an identity
    np.testing.assert_allclose(to_keras(network)(x).numpy(), model(x).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert from_keras(model, spike_encoder=False).on_chip_layers == ()


def test_model_without_neurons_is_refused():
    model = _model(lambda x: L.Dense(3, name="out")(L.Flatten(name="f")(x)))
    with pytest.raises(ValueError, match="model: no layer has ReLU neurons"):
        from_keras(model)


def test_pooling_that_cannot_fold_between_on_chip_layers_runs_loihi_exact():
    from snnkit.backends import get_backend

    def body(x):
        x = L.Conv2D(2, 1, activation="relu", use_bias=False, name="to-spikes")(x)
        x = L.Conv2D(4, 3, padding="same", activation="relu", name="c0")(x)
        x = L.AveragePooling2D(2, name="p")(x)
        x = L.Conv2D(5, 3, strides=2, padding="same", activation="relu", name="c1")(x)
        return L.Dense(3, name="out")(L.Flatten(name="f")(x))

    network = from_keras(_model(body), neuron_type="loihi-relu",
                         scale_firing_rates=1000)
    assert network.on_chip_layers == ("c0", "c1")
    x = _x((12, 12, 2), n=2)
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=20)
    emulator = get_backend("loihi-emulator").run(network, x, n_steps=20)
    assert fast.spikes_per_input["c1"] > 0
    np.testing.assert_array_equal(fast.outputs, emulator.outputs)


def test_relu_after_pooling_stays_a_neuron_layer_and_padding_runs_as_is():
    def body(x):
        x = L.Conv2D(4, 3, name="c")(x)                  # linear, its ReLU comes later
        x = L.ZeroPadding2D(1, name="pad")(L.AveragePooling2D(2, name="p")(x))
        x = L.Activation("relu", name="r")(x)
        return L.Dense(3, name="out")(L.Reshape((-1,), name="flat")(x))

    folded = _check_same(_model(body))
    assert [type(l).__name__ for l in folded.model.layers[1:]] == [
        "Conv2D", "AveragePooling2D", "ZeroPadding2D", "Activation", "Reshape", "Dense"]
    assert from_keras(_model(body), spike_encoder=False).neuron_layers == ("r",)


@pytest.mark.parametrize("case,match", [
    ("concatenate", "'cat' concatenates along axis 1 of its rank-3 inputs; snnkit "
                    "concatenates channels"),
    ("none-size", r"input 'input' has shape \(None, None, 2\) with unknown sizes"),
    ("named-relu", "'fake' has an activation function named 'relu' .*not Keras' own"),
    ("global-max", "'gmp' is a GlobalMaxPooling2D; use GlobalAveragePooling2D"),
    ("nested", "layer 'inner' is a nested model; flatten it"),
])
def test_more_refusals(case, match):
    def body(x):
        a = L.Conv2D(2, 3, padding="same", activation="relu", name="a")(x)
        if case == "concatenate":
            h = L.Flatten(name="f")(L.Concatenate(axis=1, name="cat")([a, x]))
        elif case == "named-relu":
            def relu(v):  # not a ReLU at all
                return 2 * tf.maximum(v, 0) + 0.5
            h = L.Flatten(name="f")(L.Conv2D(2, 3, activation=relu, name="fake")(a))
        elif case == "global-max":
            h = L.GlobalMaxPooling2D(name="gmp")(a)
        else:
            inner_in = L.Input(a.shape[1:])
            inner = tf.keras.Model(inner_in, L.Flatten()(inner_in), name="inner")
            h = inner(a)
        return L.Dense(3, name="out")(h)

    shape = (None, None, 2) if case == "none-size" else (12, 12, 2)
    if case == "none-size":
        body = lambda x: L.Dense(3, name="out")(L.GlobalAveragePooling2D(name="g")(
            L.Conv2D(2, 3, activation="relu", name="a")(x)))
    with pytest.raises(ConversionError, match=match):
        fold_model(_model(body, shape=shape))
