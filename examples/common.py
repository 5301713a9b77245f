"""What the examples share: the --small switch, the data, a small convnet trained in
Keras as a user would, and a plot written without touching matplotlib's global backend.

Not part of snnkit: each example imports it from its own folder.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SMALL_ENV = "SNNKIT_EXAMPLES_SMALL"


def parser(description: str, name: str) -> argparse.ArgumentParser:
    """The example's argument parser with ``--small`` and ``--out-dir``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--small", action="store_true",
                   help=f"run on a tiny slice in seconds (also {SMALL_ENV}=1): checks "
                        "that the example works, the figures mean nothing")
    p.add_argument("--out-dir", type=Path, default=Path("out/examples") / name,
                   help="where the files go (default: %(default)s)")
    return p


def small(args) -> bool:
    """``--small`` given, or ``SNNKIT_EXAMPLES_SMALL`` set to anything but 0."""
    return args.small or os.environ.get(SMALL_ENV, "") not in ("", "0")


def digits(n_train: int | None = None, n_test: int | None = None):
    """scikit-learn's 8x8 digits (1,258 training, 539 test images), optionally the
    first ``n_train`` / ``n_test``."""
    import snnkit

    (x_train, y_train), (x_test, y_test) = snnkit.load_digits(seed=0)
    return (x_train[:n_train], y_train[:n_train]), (x_test[:n_test], y_test[:n_test])


def data_file(path):
    """``((x_train, y_train), (x_test, y_test))`` from your ``.npz`` file (arrays
    x_train, y_train, x_test, y_test; checked by snnkit.load_data_file)."""
    import snnkit

    data = snnkit.load_data_file(path)
    return data.pair("train", "--data"), data.pair("test", "--data")


def tensorflow():
    """TensorFlow, imported through snnkit (without its start-up noise)."""
    from snnkit.utils.stack import import_tensorflow

    return import_tensorflow()


def small_convnet(input_shape, n_classes: int = 10, seed: int = 0):
    """A small convnet of the kind users bring: conv, conv, dense, linear output."""
    tf = tensorflow()

    init = tf.keras.initializers.GlorotUniform
    layers = tf.keras.layers
    inp = tf.keras.Input(tuple(input_shape), name="input")
    x = layers.Conv2D(16, 3, activation="relu", kernel_initializer=init(seed),
                      name="conv0")(inp)
    x = layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(seed + 1),
                      name="conv1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", kernel_initializer=init(seed + 2),
                     name="dense0")(x)
    out = layers.Dense(n_classes, kernel_initializer=init(seed + 3), name="out")(x)
    return tf.keras.Model(inp, out)


def train_in_keras(model, x, y, epochs: int, seed: int = 0):
    """Train ``model`` as a user would in Keras (Adam, cross-entropy on logits)."""
    tf = tensorflow()

    tf.keras.utils.set_random_seed(seed)
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def keras_accuracy(model, x, y) -> float:
    """The Keras model's accuracy (ReLU rates: what the spiking network approaches)."""
    import numpy as np

    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))


def save_plot(path: Path, draw) -> Path:
    """``draw(ax)`` on a new figure saved as PNG, without pyplot (no global backend
    switch: safe in a notebook)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
