from snnkit.convert.freeze import default_off_chip, neuron_layers
from snnkit.models import SEED_OFF_CHIP, seed_convnet


def test_seed_convnet_is_the_notebooks():
    model = seed_convnet()
    shapes = {layer.name: layer.output_shape[1:] for layer in model.layers[1:]}
    assert model.input_shape == (None, 28, 28, 1)
    assert shapes == {"to-spikes": (28, 28, 3), "conv0": (13, 13, 32),
                      "conv1": (6, 6, 64), "flatten": (2304,), "dense0": (100,),
                      "dense1": (10,)}
    assert not model.get_layer("to-spikes").use_bias
    assert not model.get_layer("conv0").use_bias and not model.get_layer("conv1").use_bias
    assert model.get_layer("dense1").activation.__name__ == "linear"
    assert neuron_layers(model) == ["to-spikes", "conv0", "conv1", "dense0"]
    assert default_off_chip(model) == SEED_OFF_CHIP == ("to-spikes", "dense1")


def test_seed_is_reproducible():
    a, b = seed_convnet(seed=3), seed_convnet(seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert (wa == wb).all()
