"""snnkit.keras.config: output and weight shapes computed from the config alone agree
with Keras' own for every supported layer type, and bad graphs or fields are refused
with messages naming the layer and field."""

from __future__ import annotations

import copy
import json

import pytest
import tensorflow as tf

from snnkit.exceptions import ValidationError
from snnkit.keras.config import parse_model_config
from snnkit.keras.layers import SUPPORTED_LAYERS

L = tf.keras.layers


def _model(input_shape, *layers):
    inp = tf.keras.Input(input_shape, name="input")
    x = inp
    for layer in layers:
        x = layer(x)
    return tf.keras.Model(inp, x)


def _branches():
    inp = tf.keras.Input((6, 5, 3), name="input")
    a = L.Conv2D(4, 1, name="a")(inp)
    b = L.Activation("relu", name="b")(inp)
    c = L.Concatenate(name="cat")([a, b])
    d = L.Concatenate(axis=1, name="cat1")([c, c])
    e = L.Add(name="add")([d, L.Conv2D(7, 1, name="f")(d)])
    return tf.keras.Model(inp, e)


# every supported layer class, with the options that change its shapes
CASES = {
    "dense": lambda: _model((7,), L.Dense(5, name="d"), L.Dense(3, use_bias=False)),
    "dense-3d": lambda: _model((4, 7), L.Dense(5)),
    "conv1d": lambda: _model((20, 3), L.Conv1D(4, 3), L.Conv1D(5, 4, strides=3,
                                                                padding="same"),
                             L.Conv1D(2, 2, padding="causal", dilation_rate=2,
                                      use_bias=False)),
    "conv2d": lambda: _model((25, 15, 2), L.Conv2D(4, 3, strides=2),
                             L.Conv2D(6, (2, 3), padding="same", strides=(2, 1)),
                             L.Conv2D(6, 3, dilation_rate=2, groups=3)),
    "depthwise": lambda: _model((9, 11, 3), L.DepthwiseConv2D(3, depth_multiplier=2),
                                L.DepthwiseConv2D(2, strides=2, padding="same",
                                                  use_bias=False)),
    "separable": lambda: _model((12, 10, 4), L.SeparableConv2D(5, 3, depth_multiplier=2),
                                L.SeparableConv2D(3, 2, strides=2, padding="same")),
    "pooling": lambda: _model((13, 11, 2), L.AveragePooling2D(), L.MaxPooling2D(
        3, strides=1, padding="same"), L.AveragePooling2D((2, 3), strides=(1, 2))),
    "pooling1d": lambda: _model((15, 2), L.AveragePooling1D(), L.MaxPooling1D(
        3, strides=2, padding="same"), L.MaxPooling1D(2, strides=1)),
    "global": lambda: _model((5, 4, 3), L.GlobalAveragePooling2D(keepdims=True),
                             L.Reshape((1, 3)), L.GlobalAveragePooling1D()),
    "padding": lambda: _model((5, 4, 3), L.ZeroPadding2D(((1, 2), (0, 3))),
                              L.ZeroPadding2D(2), L.Reshape((-1, 3)),
                              L.ZeroPadding1D((2, 1))),
    "shape-keeping": lambda: _model(
        (6, 5, 3), L.BatchNormalization(), L.BatchNormalization(center=False, axis=1),
        L.ReLU(), L.Activation("relu"), L.Dropout(0.1), L.SpatialDropout2D(0.1),
        L.GaussianNoise(0.1), L.Flatten(), L.Reshape((5, 18)), L.SpatialDropout1D(0.2)),
    "merge": _branches,
    "identities": lambda: _model(
        (4, 3, 2, 5), L.SpatialDropout3D(0.1), L.Reshape((24, 5)), L.GaussianDropout(0.1),
        L.AlphaDropout(0.1), L.GlobalMaxPooling1D(keepdims=True), L.Reshape((1, 1, 5)),
        L.GlobalMaxPooling2D()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_agree_with_keras(case):
    tf.keras.utils.set_random_seed(0)
    model = CASES[case]()
    graph = parse_model_config(json.loads(model.to_json()),
                               allowed_layers=SUPPORTED_LAYERS)
    assert graph.input_shape == tuple(model.input_shape[1:])
    assert graph.output_layer == model.layers[-1].name
    for layer in model.layers:
        keras_shape = layer.output_shape
        keras_shape = keras_shape[0] if isinstance(keras_shape, list) else keras_shape
        ours = graph.layer(layer.name)
        assert ours.output_shape == tuple(keras_shape[1:]), layer.name
        assert ours.weight_shapes == tuple(w.shape for w in layer.get_weights()), \
            layer.name


def test_every_supported_layer_is_covered_against_keras():
    covered = set()
    for build in CASES.values():
        covered |= {type(layer).__name__ for layer in build().layers}
    assert covered == SUPPORTED_LAYERS


def test_sequential_configs_are_read():
    model = tf.keras.Sequential([L.Conv2D(2, 3, input_shape=(8, 8, 1)), L.Flatten(),
                                 L.Dense(4)])
    graph = parse_model_config(json.loads(model.to_json()),
                               allowed_layers=SUPPORTED_LAYERS,
                               kinds=("Functional", "Sequential"))
    assert graph.input_shape == (8, 8, 1)
    assert graph.layer(model.layers[-1].name).output_shape == (4,)
    assert graph.layer(model.layers[0].name).weight_shapes == ((3, 3, 1, 2), (2,))


@pytest.fixture(scope="module")
def config():
    return json.loads(_model((8, 8, 1), L.Conv2D(2, 3, name="conv"),
                             L.Flatten(name="flat"), L.Dense(4, name="dense")).to_json())


def _refused(config, match):
    with pytest.raises(ValidationError, match=match):
        parse_model_config(config, allowed_layers=SUPPORTED_LAYERS)


def _layer(config, name):
    return next(l for l in config["config"]["layers"] if l["name"] == name)


def test_graph_errors_name_the_layer(config):
    bad = copy.deepcopy(config)
    _layer(bad, "conv")["inbound_nodes"] = [[["dense", 0, 0, {}]]]
    _refused(bad, r"model_json: the layer graph has a cycle through 'conv', 'flat'")
    bad = copy.deepcopy(config)
    _layer(bad, "flat")["inbound_nodes"] = [[["conv", 3, 0, {}]]]
    _refused(bad, r"layer 'flat': inbound_nodes\[0\]\[0\]: expected node index 0 and "
                  r"tensor index 0 of layer 'conv'")
    bad = copy.deepcopy(config)
    _layer(bad, "flat")["inbound_nodes"] = [[["nowhere", 0, 0, {}]]]
    _refused(bad, r"unknown layer 'nowhere'")
    bad = copy.deepcopy(config)
    _layer(bad, "dense")["config"]["name"] = _layer(bad, "dense")["name"] = "conv"
    _refused(bad, r"layer names must be unique, 'conv' appear")
    bad = copy.deepcopy(config)
    bad["config"]["output_layers"] = [["flat", 0, 0]]
    _refused(bad, r"layer\(s\) 'dense' do not lead to the output 'flat'")
    bad = copy.deepcopy(config)
    bad["config"]["input_layers"].append(["conv", 0, 0])
    _refused(bad, r"config.input_layers: expected exactly one")


@pytest.mark.parametrize("field, value, match", [
    ("units", 2 ** 31, r"layer 'dense': units: expected an int in 1..16777216, got "
                       r"2147483648"),
    ("units", True, r"units: expected an int"),
    ("activation", {"class_name": "function", "config": "system", "module": "os"},
     r"activation: expected a built-in activation name"),
    ("activation", "my_custom", r"activation: expected a built-in activation name"),
    ("kernel_initializer", {"class_name": "GlorotUniform", "config": {},
                            "module": "evil"}, r"kernel_initializer.module"),
    ("kernel_initializer", {"class_name": "MyInit", "config": {}},
     r"kernel_initializer: expected a built-in initializer"),
    ("kernel_regularizer", {"class_name": "L2", "config": {"l2": {"class_name": "x"}}},
     r"kernel_regularizer.config.l2: expected a finite number"),
    ("kernel_constraint", "custom>Clip", r"kernel_constraint: expected a built-in"),
    ("bias_constraint", {"class_name": "MaxNorm", "config": {},
                         "registered_name": "Custom>MaxNorm"}, r"registered_name"),
    ("function", ["code", None, None], r"unknown field\(s\) 'function'"),
    ("dtype", {"class_name": "Policy", "config": {"name": "mixed_float16"}},
     r"dtype: expected one of"),
])
def test_code_carrying_fields_are_refused(config, field, value, match):
    bad = copy.deepcopy(config)
    _layer(bad, "dense")["config"][field] = value
    _refused(bad, match)


def test_nested_models_wrappers_and_module_entries_are_refused(config):
    bad = copy.deepcopy(config)
    inner = copy.deepcopy(config)
    _layer(bad, "dense").update(class_name="Functional", config=inner["config"])
    _layer(bad, "dense")["config"]["name"] = "dense"
    _refused(bad, r"layer 'dense' is a nested Functional model")
    bad = copy.deepcopy(config)
    _layer(bad, "dense").update(class_name="TimeDistributed", config={
        "name": "dense", "layer": {"class_name": "Lambda", "config": {}}})
    _refused(bad, r"layer 'dense' is a TimeDistributed, which snnkit does not support")
    bad = copy.deepcopy(config)
    _layer(bad, "dense")["module"] = "antigravity"
    _refused(bad, r"layer 'dense': module: expected keras.layers or none")
    bad = copy.deepcopy(config)
    bad["module"] = "os"
    _refused(bad, r"model_json: module: expected a Keras module")
    bad = copy.deepcopy(config)
    bad["compile_config"] = {"optimizer": {"class_name": "Evil", "module": "os"}}
    _refused(bad, r"compile_config: expected none")
    bad = copy.deepcopy(config)
    _layer(bad, "flat")["inbound_nodes"][0][0][0] = "_CONSTANT_VALUE"
    _refused(bad, r"unknown layer '_CONSTANT_VALUE'")


def test_shape_errors_name_the_layer(config):
    bad = copy.deepcopy(config)
    _layer(bad, "conv")["config"]["kernel_size"] = [9, 9]
    _refused(bad, r"layer 'conv' \(Conv2D\): a window of 9 does not fit an input of "
                  r"size 8")
    bad = copy.deepcopy(config)
    _layer(bad, "input")["config"]["batch_input_shape"] = [None, 4096, 4096, 1]
    _layer(bad, "conv")["config"]["padding"] = "same"
    _refused(bad, r"layer 'conv' \(Conv2D\): output shape \(4096, 4096, 2\) holds more "
                  r"than 16777216 numbers")
