"""Which images a search from a configuration trains on, calibrates on and validates
on, and the check that the validation images are held out: never an image the
network was trained or calibrated on (by the search itself, or before it, as recorded
in the network's ``metadata["data"]``, see :func:`snnkit.data.datasets.mnist_record`).

``data`` keys: ``file`` (your images: an ``.npz`` of ``x_train``, ``y_train`` and/or
``x_test``, ``y_test``, read by :func:`snnkit.data.files.load_data_file`; default
MNIST), ``n_train`` (training images, the first ones of the training set), ``n_val``
(validation images, default 500) and ``val_from``: ``"train"`` takes the *last*
``n_val`` training images, ``"test"`` the *last* ``n_val`` test images (figures are
reported on the first test images: with MNIST and ``n_val`` = 500, the first 9,500
are never validated on).
Default: ``"train"`` for a rate search (it trains on the first ``n_train``), ``"test"``
for a scale search (its network was trained elsewhere, often on every training
image). A scale search validates on training images only if its network records
which ones it was trained and calibrated on and they leave the validation images
out (records name MNIST images: with a ``file``, a scale search validates on its test
images). Search calibration (``calibrate_to_hz``) uses the first ``n_calibrate``
training images, never validation images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from snnkit.data.datasets import DATA_RECORD_KEY, N_TEST, N_TRAIN
from snnkit.utils.validation import check_int, is_int

from .errors import SearchConfigError

if TYPE_CHECKING:
    from snnkit.data.files import DataFile

VAL_FROM = ("train", "test")


@dataclass(frozen=True)
class DataSplit:
    """Index ranges ``[start, stop)`` of the images a search uses.

    Of MNIST, or of ``file`` when it is not None.

    Attributes
    ----------
    train, calibrate : tuple of (int, int)
        Into the training set.
    val : tuple of (int, int)
        Into the set named by ``val_from``.
    val_from : {"train", "test"}
        The set the validation images come from.
    file : DataFile or None
        A :class:`~snnkit.data.files.DataFile`; None: MNIST.
    """

    train: tuple[int, int]
    calibrate: tuple[int, int]
    val: tuple[int, int]
    val_from: str
    file: DataFile | None = None

    def fitted(self) -> list[tuple[str, tuple[int, int]]]:
        """What the search itself fits on: ``(what, training-set range)``."""
        return [("training", self.train), ("calibration", self.calibrate)]

    def check_held_out(self, network_record=None, *, trained_elsewhere=False) -> None:
        """Check that the validation images are held out.

        Parameters
        ----------
        network_record : dict or None
            The network's ``metadata["data"]`` record (:func:`network_record`).
        trained_elsewhere : bool
            Whether the network was trained elsewhere (a scale search's network).

        Raises
        ------
        SearchConfigError
            If a validation image is one the search trains or calibrates on, or one
            the network's record says it saw; with ``trained_elsewhere`` and no
            record, if the validation images are training images at all.
        """
        if self.val_from != "train":
            return
        if self.file is not None:  # records name MNIST images, not the file's
            network_record = None
        if trained_elsewhere and network_record is None:
            raise SearchConfigError(
                "config['data']['val_from']: validation images must be held out, but "
                f"the network does not record which training images it saw "
                f"(metadata[{DATA_RECORD_KEY!r}], see "
                "snnkit.data.datasets.mnist_record); "
                "expected 'test' for this network, got 'train'")
        used = [(f"the search's {what} images", r) for what, r in self.fitted()]
        for what, r in _record_ranges(network_record):
            used.append((f"the network's {what} images (metadata['data'])", r))
        for what, (start, stop) in used:
            low, high = max(start, self.val[0]), min(stop, self.val[1])
            if low < high:
                raise SearchConfigError(
                    f"config['data']: validation images must be held out, but training "
                    f"images {self.val[0]}..{self.val[1]} (val_from 'train') overlap "
                    f"{what} {start}..{stop} (at {low}..{high}); expected disjoint "
                    f"ranges: use val_from 'test' or fewer images")

    def load(self):
        """``(x_train, y_train), (x_val, y_val)`` as arrays."""
        if self.file is not None:
            x_all, y_all = self.file.train or (self.file.test[0][:0],
                                               self.file.test[1][:0])
            x_test, y_test = self.file.test or (x_all[:0], y_all[:0])
        else:
            import snnkit

            (x_all, y_all), (x_test, y_test) = snnkit.load_mnist(
                None, N_TEST if self.val_from == "test" else 0)
        x_src, y_src = (x_test, y_test) if self.val_from == "test" else (x_all, y_all)
        (a, b), (c, d) = self.train, self.val
        return (x_all[a:b], y_all[a:b]), (x_src[c:d], y_src[c:d])


def data_split(data: dict, *, search: str, n_calibrate: int = 200) -> DataSplit:
    """The :class:`DataSplit` of a configuration's ``data`` dict, checked."""
    val_from = data.get("val_from", "train" if search == "rate" else "test")
    if val_from not in VAL_FROM:
        raise SearchConfigError(
            f"config['data']['val_from']: expected 'train' or 'test', got {val_from!r}")
    file, source = _data_file(data.get("file"), val_from), "MNIST"
    n_all, n_test = N_TRAIN, N_TEST
    if file is not None:
        source = "the file's"
        n_all, n_test = (0 if pair is None else len(pair[0])
                         for pair in (file.train, file.test))
    n_val = data.get("n_val", min(500, n_test if val_from == "test" else n_all))
    check_int("config['data']['n_val']", n_val, low=1,
              high=n_test if val_from == "test" else n_all,
              what=f"{source} {'test' if val_from == 'test' else 'training'} images, "
                   f"val_from {val_from!r}", error=SearchConfigError)
    n_train = data.get("n_train")
    if n_train is not None:
        check_int("config['data']['n_train']", n_train, low=1, high=n_all,
                  what=f"{source} training images", error=SearchConfigError)
    if val_from == "test":
        n_train = n_all if n_train is None else n_train
        val = (n_test - n_val, n_test)
    else:
        n_train = n_all - n_val if n_train is None else n_train
        if n_train + n_val > n_all:
            raise SearchConfigError(
                f"config['data']: n_train + n_val must be <= {n_all} ({source} training "
                f"images) with val_from 'train', got {n_train} + {n_val}")
        val = (n_all - n_val, n_all)
    return DataSplit(train=(0, n_train), calibrate=(0, min(n_calibrate, n_train)),
                     val=val, val_from=val_from, file=file)


def _data_file(path, val_from: str):
    """The configuration's data file (``data.file``), read and checked, with the
    images ``val_from`` names; None: MNIST."""
    if path is None:
        return None
    from snnkit.data.files import load_data_file
    from snnkit.exceptions import ValidationError

    argument = "config['data']['file']"
    if not isinstance(path, str) or not Path(path).is_file():
        raise SearchConfigError(f"{argument}: expected the path of an .npz file of "
                                f"arrays, got {path!r} (no such file)")
    try:
        file = load_data_file(path, argument)
        file.pair(val_from, argument)
    except ValidationError as e:  # the file's own checks, as a configuration error
        raise SearchConfigError(str(e)) from None
    return file


def network_record(network):
    """The network's ``metadata["data"]`` record.

    Returns
    -------
    dict or None
        The record (None if it has none).

    Raises
    ------
    SearchConfigError
        If it is malformed.
    """
    record = network.metadata.get(DATA_RECORD_KEY)
    if record is not None:
        _record_ranges(record)
    return record


def _record_ranges(record) -> list[tuple[str, tuple[int, int]]]:
    if record is None:
        return []
    where = f"network: metadata[{DATA_RECORD_KEY!r}]"
    if not isinstance(record, dict) or record.get("dataset") != "mnist":
        raise SearchConfigError(
            f"{where}: expected a dict with 'dataset': 'mnist' and 'train_images': "
            f"[start, stop] (snnkit.data.datasets.mnist_record), got {record!r}")
    ranges = []
    for key, what in (("train_images", "training"),
                      ("calibration_images", "calibration")):
        value = record.get(key)
        if value is None and key == "calibration_images":
            continue
        if not (isinstance(value, list) and len(value) == 2 and all(map(is_int, value))
                and 0 <= value[0] <= value[1] <= N_TRAIN):
            raise SearchConfigError(
                f"{where}[{key!r}]: expected [start, stop] with 0 <= start <= stop <= "
                f"{N_TRAIN} (MNIST training images), got {value!r}")
        ranges.append((what, (int(value[0]), int(value[1]))))
    return ranges
