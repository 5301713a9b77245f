"""Ready-made Keras models.

snnkit's convention for where layers run (see :func:`default_off_chip`): the first
layer with neurons turns input values into spikes and runs off-chip (Loihi only
receives spikes), and layers without neurons (a linear output) run off-chip as plain
computation on the host.
"""

from __future__ import annotations

import tensorflow as tf

SEED_OFF_CHIP = ("to-spikes", "dense1")


def seed_convnet(seed: int | None = 0) -> tf.keras.Model:
    """The seed notebook's MNIST network (``keras-to-loihi.ipynb``).

    input 28×28×1 (pixel values 0..255) → ``to-spikes`` 1×1 conv, 3 filters, no bias
    (off-chip) → ``conv0`` 32 filters 3×3 stride 2 → ``conv1`` 64 filters 3×3 stride 2
    → ``flatten`` → ``dense0`` 100 → ``dense1`` 10 linear (off-chip). All hidden layers
    are ReLU; convolutions have no bias, as in the notebook. Off-chip layers are listed
    in :data:`SEED_OFF_CHIP`; :func:`default_off_chip` finds the same ones.

    ``seed`` seeds the weight initializers, so two calls give the same model.
    """
    init = (lambda k: tf.keras.initializers.GlorotUniform(seed=None if seed is None else seed + k))
    inp = tf.keras.Input(shape=(28, 28, 1), name="input")
    x = tf.keras.layers.Conv2D(3, 1, activation=tf.nn.relu, use_bias=False,
                               kernel_initializer=init(0), name="to-spikes")(inp)
    x = tf.keras.layers.Conv2D(32, 3, strides=2, activation=tf.nn.relu, use_bias=False,
                               kernel_initializer=init(1), name="conv0")(x)
    x = tf.keras.layers.Conv2D(64, 3, strides=2, activation=tf.nn.relu, use_bias=False,
                               kernel_initializer=init(2), name="conv1")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(100, activation=tf.nn.relu, kernel_initializer=init(3),
                              name="dense0")(x)
    out = tf.keras.layers.Dense(10, kernel_initializer=init(4), name="dense1")(x)
    return tf.keras.Model(inputs=inp, outputs=out, name="seed_convnet")


def neuron_layers(model: tf.keras.Model) -> list[str]:
    """Names of the layers that become neurons (ReLU activation), in model order."""
    return [layer.name for layer in model.layers if _has_relu(layer)]


def default_off_chip(model: tf.keras.Model) -> tuple[str, ...]:
    """Layers that run off-chip by snnkit's convention: the first neuron layer (it
    turns input values into spikes) and every weighted layer without neurons."""
    neurons = neuron_layers(model)
    off = [neurons[0]] if neurons else []
    for layer in model.layers:
        if layer.get_weights() and layer.name not in neurons:
            off.append(layer.name)
    return tuple(name for name in (layer.name for layer in model.layers) if name in off)


def _has_relu(layer) -> bool:
    if isinstance(layer, tf.keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "relu"
