"""Data: MNIST without internet and scikit-learn's digits (:mod:`.datasets`), and a
user's own images and labels in one ``.npz`` file (:mod:`.files`)."""

from snnkit.data.datasets import (
    DATA_RECORD_KEY,
    N_TEST,
    N_TRAIN,
    load_digits,
    load_mnist,
    mnist_record,
)
from snnkit.data.files import DataFile, load_data_file

__all__ = ["DATA_RECORD_KEY", "N_TEST", "N_TRAIN", "DataFile", "load_data_file",
           "load_digits", "load_mnist", "mnist_record"]
