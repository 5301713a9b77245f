"""A user's Keras network with biases, batch norm, dropout and pooling runs on the Loihi
backends, Loihi-exact (emulator and fast emulator identical) and close to nengo."""

import numpy as np
import pytest
import tensorflow as tf

from snnkit.backends import get_backend
from snnkit.convert.freeze import from_keras

L = tf.keras.layers


def _users_convnet():
    tf.keras.utils.set_random_seed(0)
    inp = L.Input((12, 12, 1), name="input")
    x = L.Conv2D(3, 1, activation="relu", name="to-spikes")(inp)       # bias, off chip
    x = L.Conv2D(6, 3, strides=2, name="c0")(x)                         # bias, on chip
    x = L.ReLU(name="r0")(L.BatchNormalization(name="bn")(x))
    x = L.Conv2D(8, 3, activation="relu", name="c1")(L.Dropout(0.2, name="do")(x))
    x = L.Flatten(name="f")(L.AveragePooling2D(2, name="p")(x))         # folded into d0
    x = L.Dense(16, activation="relu", name="d0")(x)
    model = tf.keras.Model(inp, L.Dense(4, name="out")(x))
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, L.BatchNormalization):
            layer.set_weights([w + 0.05 + rng.normal(0, 0.02, w.shape)
                               for w in layer.get_weights()])
    return model


def test_conv_biases_batchnorm_and_pooling_run_loihi_exact():
    model = _users_convnet()
    network = from_keras(model, neuron_type="loihi-relu",
                                       scale_firing_rates=2000, synapse=0.005)
    assert network.on_chip_layers == ("c0", "c1", "d0")
    x = np.random.default_rng(0).uniform(0, 1, (6, 12, 12, 1)).astype(np.float32)
    emulator = get_backend("loihi-emulator").run(network, x, n_steps=20)
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=20)
    reference = get_backend("nengo").run(network, x, n_steps=20)
    for name in network.on_chip_layers:
        assert emulator.layer_rates_hz[name] > 50, f"{name} barely fires: weak test"
    np.testing.assert_array_equal(fast.outputs, emulator.outputs)
    # nengo's own Loihi neuron model (no chip discretization): close, not equal;
    # compared as means over the last 10 steps (one step's filtered spikes are noisy)
    got, want = fast.outputs[:, 10:].mean(1), reference.outputs[:, 10:].mean(1)
    np.testing.assert_allclose(got, want, rtol=0, atol=0.2 * np.abs(want).max())


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mlp-1", "conv-batchnorm"])
def test_fast_subset_of_the_conversion_table(arch):
    """bench_conversion.py's procedure on two of its rows (scikit-learn digits, a
    dense net that needs the spike encoder and a convnet with batch norm): Loihi-exact
    accuracy within 2 points of Keras' ReLU accuracy (the benchmark's table, with more
    fine-tuning, holds 1 point)."""
    import warnings

    import snnkit
    from snnkit.models import architecture
    from snnkit.training.recipes import train_for_loihi

    (x, y), (x_test, y_test) = snnkit.load_digits()
    model = architecture(arch, (8, 8, 1))
    tf.keras.utils.set_random_seed(0)
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=40, batch_size=64, verbose=0)
    relu = model.evaluate(x_test, y_test, verbose=0)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # calibration must converge
        trained = train_for_loihi(model, (x, y), relu_epochs=0, loihi_epochs=2,
                                  target_rate_hz=333, statistic="p99", n_steps=50,
                                  calibration_inputs=300, minibatch_size=50,
                                  readout="mean", select_on=(x[-200:], y[-200:]))
    loihi = get_backend("loihi-emulator-fast").run(trained.network, x_test, n_steps=50)
    assert relu > 0.85
    assert loihi.accuracy(y_test) >= relu - 0.02, (relu, loihi.accuracy(y_test))


# the rows bench_conversion.py has for other people's networks and narrow layers
NEW_ROWS = ["resnet-small", "inception", "all-conv", "keras-tutorial", "conv-l2",
            "conv1d-rows", "narrow-conv", "narrow-mlp"]


@pytest.mark.parametrize("arch", NEW_ROWS)
def test_new_conversion_rows_convert_exactly_and_run_loihi_exact(arch):
    """Each new row of the conversion table (untrained, seeded), converted with its
    CONVERSION_OPTIONS: with rate neurons on nengo it computes what Keras computes
    (the Keras tutorial's max pooling as the average pooling it opts into); with
    Loihi neurons both Loihi backends give identical outputs, the layers firing."""
    from snnkit.convert.fold import fold_model
    from snnkit.models import CONVERSION_OPTIONS, architecture

    model = architecture(arch, (8, 8, 1), 10, 0)
    options = CONVERSION_OPTIONS.get(arch, {})
    x = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 1)).astype(np.float32)
    want = fold_model(model, **options).model(x, training=False).numpy()
    rates = get_backend("nengo").run(from_keras(model, neuron_type="relu", **options),
                                     x, n_steps=1)
    np.testing.assert_allclose(rates.outputs[:, -1], want, rtol=1e-4,
                               atol=1e-5 * np.abs(want).max())
    network = from_keras(model, neuron_type="loihi-relu", scale_firing_rates=3000,
                         synapse=0.005, **options)
    emulator = get_backend("loihi-emulator").run(network, x, n_steps=25)
    fast = get_backend("loihi-emulator-fast").run(network, x, n_steps=25)
    np.testing.assert_array_equal(fast.outputs, emulator.outputs)
    firing = [emulator.layer_rates_hz[name] > 10 for name in network.on_chip_layers]
    assert np.abs(fast.outputs).max() > 0 and np.mean(firing) >= 0.8, \
        f"weak test: {emulator.layer_rates_hz}"


def test_conversion_options_are_those_the_rows_need():
    """bench_conversion.py converts each row with CONVERSION_OPTIONS: exactly the rows
    with max pooling opt into max_pool="average" (the others would get a note), and
    every option names a row."""
    from snnkit.models import ARCHITECTURES, CONVERSION_OPTIONS, architecture

    assert set(CONVERSION_OPTIONS) <= set(ARCHITECTURES)
    for name in ARCHITECTURES:
        model = architecture(name, (8, 8, 1))
        has_max = any("MaxPooling" in type(layer).__name__ for layer in model.layers)
        assert (CONVERSION_OPTIONS.get(name, {}).get("max_pool") == "average") \
            == has_max, name


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["narrow-conv", "narrow-mlp"])
def test_narrow_rows_keep_their_accuracy_on_a_digits_slice(arch, digits_slice):
    """The narrow rows (on-chip layers 16-32 units wide), end to end on a slice of
    digits with the table's procedure (calibrated p99 at 333 Hz; the readout, mean or
    last, chosen on the last 90 training images, which Keras did not train on):
    Loihi-exact accuracy at 30 steps within 5 points of the Keras network's on 200
    test images. To stay fast: no fine-tuning with Loihi neurons (the table, with it
    and on all of digits, measures the gap)."""
    from snnkit.models import architecture
    from snnkit.training.recipes import train_for_loihi

    (x, y), (x_test, y_test) = digits_slice
    n_train = len(x) - 90
    model = architecture(arch, (8, 8, 1))
    tf.keras.utils.set_random_seed(0)
    model.compile(tf.keras.optimizers.Adam(3e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x[:n_train], y[:n_train], epochs=20, batch_size=64, verbose=0)
    relu = model.evaluate(x_test, y_test, verbose=0)[1]
    trained = train_for_loihi(model, (x[:n_train], y[:n_train]), relu_epochs=0,
                              loihi_epochs=0, target_rate_hz=333, statistic="p99",
                              n_steps=30, calibration_inputs=50, minibatch_size=50,
                              readout=("mean", "last"),
                              select_on=(x[n_train:], y[n_train:]),
                              enable_progress_bar=False)
    assert trained.network.metadata["selected_readout"] == trained.network.readout
    loihi = get_backend("loihi-emulator-fast").run(trained.network, x_test, n_steps=30)
    assert relu > 0.85, relu
    assert loihi.accuracy(y_test) >= relu - 0.05, (relu, loihi.accuracy(y_test))


@pytest.fixture(scope="module")
def digits_slice():
    """scikit-learn's digits: the first 600 training images and 200 test images."""
    import snnkit

    (x, y), (x_test, y_test) = snnkit.load_digits()
    return (x[:600], y[:600]), (x_test[:200], y_test[:200])


def test_fine_tuning_trains_a_folded_copy_of_what_nengo_dl_cannot_train():
    from snnkit.convert.freeze import check_convertible
    from snnkit.models import architecture
    from snnkit.training.recipes import _trainable

    model = architecture("conv-separable", (8, 8, 1))
    copy = _trainable(model)
    assert copy is not model
    assert type(copy.get_layer("sep1")).__name__ == "Conv2D"
    check_convertible(copy)  # NengoDL can train it
    x = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)
    plain = architecture("conv-narrow", (8, 8, 1))
    assert _trainable(plain) is plain


def test_selection_scores_every_network_and_readout_from_one_run_each(mnist_small):
    """The best procedure picks network and readout on held-out images; the readouts
    are host arithmetic on one run's outputs, so each score equals a run with that
    readout."""
    from tiny_networks import tiny_network

    from snnkit.training.recipes import _selection_scores

    (x, y), (x_test, y_test) = mnist_small
    tiny = tiny_network(x[:2000], y[:2000], off_chip=("a", "out"))
    net = tiny.replace(scale_firing_rates={"a": 200.0, "b": 200.0})
    other = tiny.replace(scale_firing_rates={"a": 40.0, "b": 40.0})
    x_sel, y_sel = x_test[:40], y_test[:40]
    scores = _selection_scores({"one": net, "two": other}, ("mean", "last"),
                               (x_sel, y_sel), "loihi-emulator-fast", 20)
    assert list(scores) == [("one", "mean"), ("one", "last"), ("two", "mean"),
                            ("two", "last")]
    fast = get_backend("loihi-emulator-fast")
    for (name, readout), score in scores.items():
        run = fast.run({"one": net, "two": other}[name].replace(readout=readout),
                       x_sel, n_steps=20)
        assert score == run.accuracy(y_sel), (name, readout)
    assert len(set(scores.values())) > 1  # the candidates differ: a real choice


@pytest.mark.parametrize("readout, select_on, match", [
    (("mean", "last"), None, "readout: 2 candidates \\(mean, last\\) need select_on"),
    (("mean", "first"), "given", "readout: expected one of last, mean, got 'first'"),
    ((), "given", "readout: expected a readout or candidates, got none"),
])
def test_readout_candidates_are_checked(readout, select_on, match):
    from snnkit.exceptions import ValidationError
    from snnkit.training.recipes import _check_readouts

    with pytest.raises(ValidationError, match=match):
        _check_readouts(readout, select_on)
