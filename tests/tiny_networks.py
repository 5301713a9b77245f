"""A tiny MNIST network for the tuning tests: Flatten -> Dense 32 -> Dense 16 -> 10,
trained for 2 Keras epochs on 2,000 images (about 1 s). Its trials take well under a
second on nengo's reference simulator, which keeps searches cheap."""

from __future__ import annotations

import numpy as np

from snnkit.convert.freeze import from_keras

TINY_LAYERS = ("a", "b")


def tiny_network(x_train, y_train, off_chip=("out",)):
    import tensorflow as tf


    tf.keras.utils.set_random_seed(0)
    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((28, 28, 1), name="input")
    h = tf.keras.layers.Flatten(name="flatten")(inp)
    h = tf.keras.layers.Dense(32, activation="relu", name="a", kernel_initializer=init(0))(h)
    h = tf.keras.layers.Dense(16, activation="relu", name="b", kernel_initializer=init(1))(h)
    out = tf.keras.layers.Dense(10, name="out", kernel_initializer=init(2))(h)
    model = tf.keras.Model(inp, out)
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.asarray(x_train, np.float32) / 255, y_train, epochs=2, batch_size=50,
              verbose=0)
    # trained on pixel/255; snnkit feeds raw pixels: fold the 1/255 into layer a
    kernel, bias = model.get_layer("a").get_weights()
    model.get_layer("a").set_weights([kernel / 255, bias])
    return from_keras(model, neuron_type="loihi-relu", synapse=0.002,
                                    off_chip=off_chip)
