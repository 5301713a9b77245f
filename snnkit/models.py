"""Ready-made Keras models: the seed notebook's network and a table of ordinary
architectures (the conversion benchmark and the tests use them)."""

from __future__ import annotations

from snnkit.utils.stack import import_tensorflow

tf = import_tensorflow()

SEED_OFF_CHIP = ("to-spikes", "dense1")


def seed_convnet(seed: int | None = 0) -> tf.keras.Model:
    """The seed notebook's MNIST network (the NengoDL/Loihi keras-to-snn notebook
    workflow this project started from).

    input 28×28×1 (pixel values 0..255) → ``to-spikes`` 1×1 conv, 3 filters, no bias
    (off-chip) → ``conv0`` 32 filters 3×3 stride 2 → ``conv1`` 64 filters 3×3 stride 2
    → ``flatten`` → ``dense0`` 100 → ``dense1`` 10 linear (off-chip). All hidden layers
    are ReLU; convolutions have no bias, as in the notebook. Off-chip layers are listed
    in :data:`SEED_OFF_CHIP`; :func:`snnkit.convert.freeze.default_off_chip` finds the
    same ones.

    Parameters
    ----------
    seed : int or None
        Seeds the weight initializers, so two calls give the same model.

    Returns
    -------
    tf.keras.Model
        A fresh, untrained model.
    """
    init = (lambda k: tf.keras.initializers.GlorotUniform(
        seed=None if seed is None else seed + k))
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


# --- a table of ordinary Keras architectures (bench_conversion, tests) --------------

def _stack(name, input_shape, n_classes, seed, build):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape=input_shape, name="input")
    return tf.keras.Model(inp, build(inp, tf.keras.layers, n_classes), name=name)


def _mlp1(x, L, n):
    return L.Dense(n, name="out")(L.Dense(128, activation="relu", name="h0")(
        L.Flatten(name="flatten")(x)))


def _mlp3_dropout(x, L, n):
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.2, name="drop0")(L.Dense(256, activation="relu", name="h0")(x))
    x = L.Dropout(0.2, name="drop1")(L.Dense(128, activation="relu", name="h1")(x))
    x = L.Dense(64, activation="relu", name="h2")(x)
    return L.Dense(n, activation="softmax", name="out")(x)


def _conv_narrow(x, L, n):
    x = L.Conv2D(8, 3, activation="relu", name="conv0")(x)
    x = L.Conv2D(16, 3, strides=2, activation="relu", name="conv1")(x)
    return L.Dense(n, name="out")(L.Flatten(name="flatten")(x))


def _conv_wide(x, L, n):
    # both convolutions strided: with a stride-1 first layer, dense0 would need
    # 12 x 12 x 64 = 9,216 input axons on MNIST, more than a Loihi core has (4,096)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv0")(x)
    x = L.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.Dense(128, activation="relu", name="dense0")(L.Flatten(name="flatten")(x))
    return L.Dense(n, name="out")(x)


def _conv_batchnorm(x, L, n):
    x = L.ReLU(name="relu0")(L.BatchNormalization(name="bn0")(
        L.Conv2D(16, 3, use_bias=False, name="conv0")(x)))
    x = L.ReLU(name="relu1")(L.BatchNormalization(name="bn1")(
        L.Conv2D(32, 3, strides=2, use_bias=False, name="conv1")(x)))
    return L.Dense(n, name="out")(L.Flatten(name="flatten")(x))


def _conv_avgpool(x, L, n):
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv0")(x)
    x = L.AveragePooling2D(2, name="pool0")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(x)
    x = L.AveragePooling2D(2, name="pool1")(x)
    return L.Dense(n, name="out")(L.Flatten(name="flatten")(x))


def _conv_gap_dropout(x, L, n):
    # strided, so that the last layer's units see enough of the image for a global
    # average to classify it (two unstrided 3x3 layers see 5x5 pixels: 37% on MNIST)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv0")(x)
    x = L.SpatialDropout2D(0.1, name="drop0")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return L.Dense(n, name="out")(x)


def _conv_separable(x, L, n):
    x = L.Conv2D(16, 3, activation="relu", name="conv0")(x)
    x = L.SeparableConv2D(32, 3, strides=2, activation="relu", name="sep1")(x)
    return L.Dense(n, name="out")(L.Flatten(name="flatten")(x))


def _bn_relu(x, L, name):
    return L.ReLU(name=f"{name}_relu")(L.BatchNormalization(name=f"{name}_bn")(x))


def _resnet_small(x, L, n):
    # a strided stem keeps the maps small (14x14 on MNIST): Loihi cores, and time
    x = _bn_relu(L.Conv2D(16, 3, strides=2, padding="same", use_bias=False,
                          name="stem")(x), L, "stem")
    for i, (filters, stride) in enumerate(((16, 1), (32, 2), (32, 1))):
        y = _bn_relu(L.Conv2D(filters, 3, strides=stride, padding="same",
                              use_bias=False, name=f"b{i}_conv0")(x), L, f"b{i}_conv0")
        y = L.BatchNormalization(name=f"b{i}_conv1_bn")(L.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"b{i}_conv1")(y))
        if stride != 1 or filters != x.shape[-1]:  # a 1x1-convolution skip
            x = L.BatchNormalization(name=f"b{i}_skip_bn")(L.Conv2D(
                filters, 1, strides=stride, use_bias=False, name=f"b{i}_skip")(x))
        x = L.ReLU(name=f"b{i}_relu")(L.Add(name=f"b{i}_add")([x, y]))
    return L.Dense(n, name="out")(L.GlobalAveragePooling2D(name="gap")(x))


def _inception(x, L, n):
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    b1 = L.Conv2D(8, 1, activation="relu", name="branch1x1")(x)
    b3 = L.Conv2D(8, 3, padding="same", activation="relu", name="branch3x3")(x)
    b5 = L.Conv2D(4, 1, activation="relu", name="branch5_reduce")(x)
    b5 = L.Conv2D(8, 3, padding="same", activation="relu", name="branch5_a")(b5)
    b5 = L.Conv2D(8, 3, padding="same", activation="relu", name="branch5_b")(b5)
    x = L.Concatenate(name="concat")([b1, b3, b5])
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    return L.Dense(n, name="out")(L.Flatten(name="flatten")(x))


def _all_conv(x, L, n):
    # Springenberg et al.'s all-convolutional classifier, small: strided convolutions
    # instead of pooling, a 1x1 convolution to the classes, global average as output
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv0")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Conv2D(n, 1, name="classes")(x)
    return L.GlobalAveragePooling2D(name="gap")(x)


def _keras_tutorial(x, L, n):
    # Keras' "Simple MNIST convnet" example; on inputs too small for its 'valid'
    # convolutions and pooling (8x8 digits: 8 -> 6 -> 3 -> 1), 'same' padding
    padding = "valid" if min(x.shape[1:3]) >= 16 else "same"
    x = L.Conv2D(32, 3, padding=padding, activation="relu", name="conv0")(x)
    x = L.MaxPooling2D(2, name="pool0")(x)
    x = L.Conv2D(64, 3, padding=padding, activation="relu", name="conv1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Dropout(0.5, name="dropout")(L.Flatten(name="flatten")(x))
    return L.Dense(n, activation="softmax", name="out")(x)


def _conv_l2(x, L, n):
    reg = {"kernel_regularizer": "l2", "bias_regularizer": "l2"}
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv0",
                 **reg)(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1",
                 **reg)(x)
    x = L.Dense(64, activation="relu", name="dense0", **reg)(L.Flatten(name="flatten")(x))
    return L.Dense(n, name="out", kernel_regularizer="l2")(x)


def _conv1d_rows(x, L, n):
    # the image's rows as a sequence: (rows, columns) = (steps, features)
    x = L.Reshape(tuple(x.shape[1:3]), name="rows")(x)
    x = L.Conv1D(32, 3, padding="same", activation="relu", name="conv0")(x)
    x = L.Conv1D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.AveragePooling1D(2, name="pool")(x)
    x = L.Conv1D(64, 3, padding="same", activation="relu", name="conv2")(x)
    return L.Dense(n, name="out")(L.GlobalAveragePooling1D(name="gap")(x))


def _narrow_conv(x, L, n):
    # on chip: 16 filters, then 32 units
    x = L.Conv2D(8, 3, activation="relu", name="conv0")(x)
    x = L.Conv2D(16, 3, strides=2, activation="relu", name="conv1")(x)
    x = L.Dense(32, activation="relu", name="dense0")(L.Flatten(name="flatten")(x))
    return L.Dense(n, name="out")(x)


def _narrow_mlp(x, L, n):
    # on chip: 32 units, then 16
    x = L.Dense(32, activation="relu", name="h0")(L.Flatten(name="flatten")(x))
    x = L.Dense(32, activation="relu", name="h1")(x)
    x = L.Dense(16, activation="relu", name="h2")(x)
    return L.Dense(n, name="out")(x)


ARCHITECTURES = {
    "mlp-1": (_mlp1, "Dense 128 → 10"),
    "mlp-3-dropout": (_mlp3_dropout, "Dense 256/128/64 with Dropout, softmax output"),
    "conv-narrow": (_conv_narrow, "Conv 8 → Conv 16 s2, biases"),
    "conv-wide": (_conv_wide, "Conv 32 s2 → Conv 64 s2 → Dense 128, biases"),
    "conv-batchnorm": (_conv_batchnorm, "Conv → BatchNorm → ReLU, twice"),
    "conv-avgpool": (_conv_avgpool, "Conv same → AvgPool 2, twice"),
    "conv-gap-dropout": (_conv_gap_dropout,
                         "Conv s2 → SpatialDropout → Conv s2 → Conv → GlobalAvgPool"),
    "conv-separable": (_conv_separable, "Conv → SeparableConv s2"),
    "resnet-small": (_resnet_small,
                     "stem Conv 16 s2 → 3 residual blocks (16; 32 s2 with a 1x1-conv "
                     "skip; 32), BatchNorm, Add → GlobalAvgPool"),
    "inception": (_inception, "stem → Concatenate(1x1, 3x3, 1x1→3x3→3x3) → Conv s2"),
    "all-conv": (_all_conv, "Conv s2 → Conv s2 → Conv → Conv 1x1 to classes → "
                            "GlobalAvgPool as the output"),
    "keras-tutorial": (_keras_tutorial,
                       "Keras' simple MNIST convnet: Conv 32 → MaxPool → Conv 64 → "
                       "MaxPool → Dropout → softmax (max_pool='average')"),
    "conv-l2": (_conv_l2, "Conv s2 → Conv s2 → Dense 64, L2 kernel and bias "
                          "regularizers"),
    "conv1d-rows": (_conv1d_rows, "rows as a sequence: Conv1D 32 → Conv1D 32 s2 → "
                                  "AvgPool1D → Conv1D 64 → GlobalAvgPool1D"),
    "narrow-conv": (_narrow_conv, "Conv 8 → Conv 16 s2 → Dense 32 (on chip: 16, 32)"),
    "narrow-mlp": (_narrow_mlp, "Dense 32 → 32 → 16 (on chip: 32, 16)"),
}
# what from_keras needs for each (e.g. max_pool="average" for max pooling)
CONVERSION_OPTIONS = {"keras-tutorial": {"max_pool": "average"}}


def architecture(name: str, input_shape, n_classes: int = 10,
                 seed: int = 0) -> tf.keras.Model:
    """A fresh, seeded Keras model from :data:`ARCHITECTURES`.

    Parameters
    ----------
    name : str
        A key of :data:`ARCHITECTURES`.
    input_shape : tuple of int
        The images' shape (e.g. ``(28, 28, 1)`` or ``(8, 8, 1)``).
    n_classes : int
        Outputs of the model.
    seed : int
        The random seed set before the model is built.

    Returns
    -------
    tf.keras.Model

    Raises
    ------
    UnknownNameError
        An unknown ``name``.
    """
    if name not in ARCHITECTURES:
        from snnkit.exceptions import UnknownNameError

        raise UnknownNameError(f"architecture: unknown name {name!r}; known: "
                               f"{', '.join(ARCHITECTURES)}")
    return _stack(name, tuple(input_shape), n_classes, seed, ARCHITECTURES[name][0])
