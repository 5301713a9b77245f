"""What the command-line tests share: running ``snnkit`` in-process, a tiny MNIST
network that spikes in every layer, and the digits as a ``--data`` file with an
untrained Keras model for them."""

from __future__ import annotations

import numpy as np

import snnkit
from snnkit.cli import main


def run_cli(capsys, argv):
    """``snnkit argv`` in this process: ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tiny_keras(lambda_layer=False):
    """An untrained 28x28 network: a 1x1 to-spikes conv, a strided conv, two dense.

    With ``lambda_layer``, a ``Lambda`` layer (code a file must not run) comes first.
    """
    import tensorflow as tf

    # seeded initializers: the global seed alone gives weights that depend on how
    # many ops the process made before (test order)
    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((28, 28, 1), name="input")
    x = inp
    if lambda_layer:
        x = tf.keras.layers.Lambda(lambda t: t * 2, name="double")(x)
    to_spikes = tf.keras.layers.Conv2D(2, 1, activation="relu", use_bias=False,
                                       kernel_initializer=init(0), name="to-spikes")
    x = to_spikes(x)
    x = tf.keras.layers.Conv2D(4, 3, strides=3, activation="relu", use_bias=False,
                               kernel_initializer=init(1), name="conv0")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(16, activation="relu", kernel_initializer=init(2),
                              name="dense0")(x)
    out = tf.keras.layers.Dense(10, kernel_initializer=init(3), name="dense1")(x)
    # pixels are >= 0: a negative 1x1 kernel would leave the input layer silent
    to_spikes.set_weights([np.abs(w) for w in to_spikes.get_weights()])
    return tf.keras.Model(inp, out)


def save_digits(root):
    """Write ``root/digits.npz`` (a ``--data`` file) and ``root/model.h5`` (an
    untrained Keras model for the 8x8 digits); return ``root``."""
    import tensorflow as tf

    (x_train, y_train), (x_test, y_test) = snnkit.load_digits(seed=0)
    np.savez(root / "digits.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test)
    init = tf.keras.initializers.GlorotUniform
    inp = tf.keras.Input((8, 8, 1), name="input")
    x = tf.keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init(0),
                               name="conv0")(inp)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(32, activation="relu", kernel_initializer=init(1),
                              name="dense0")(x)
    out = tf.keras.layers.Dense(10, kernel_initializer=init(2), name="out")(x)
    tf.keras.Model(inp, out).save(root / "model.h5")
    return root
