"""What every ``snnkit`` subcommand shares: the parser class, argument types that name
what they expected and what they got (``commands.toml`` names them through
:data:`TYPES`), and file checks made before any work starts. Standard library only at
import time: ``--help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from snnkit.keras.files import KERAS_SUFFIXES

if TYPE_CHECKING:
    from snnkit.network.frozen import FrozenNetwork
    from snnkit.network.types import KerasModel, Scales

MNIST_TEST = 10_000
MNIST_TRAIN = 60_000
MAX_MESSAGE = 2_000  # characters of an error line


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where to find help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def run_reporting_errors(command: str, func, args) -> int:
    """``func(args)`` under the output conventions; a failure becomes one line on
    stderr.

    Parameters
    ----------
    command : str
        The subcommand, named in the message.
    func : callable
        ``func(args) -> int``.
    args : argparse.Namespace
        The parsed arguments (``args.debug``: raise instead; ``-q``, ``-v`` and
        ``--json``: :func:`snnkit.cli.output.session`).

    Returns
    -------
    int
        What ``func`` returns; 1 on a failure (or its traceback with ``--debug``),
        130 when interrupted, 141 when the output pipe was closed (quietly).
    """
    from snnkit.cli import output

    try:
        with output.session(args):
            code = func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at the exit
        return code
    except BrokenPipeError:  # the reader went away (`| head`): nothing to report
        return output.closed_output()
    except KeyboardInterrupt:
        print(f"snnkit {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line for users; the traceback with --debug
        if getattr(args, "debug", False):
            raise
        from snnkit.exceptions import SnnkitError, shortened

        kind = "error" if isinstance(e, (SnnkitError, OSError)) else type(e).__name__
        # one line, even for multi-line messages, and a bounded one: a value read
        # from a file may be megabytes long
        text = str(e)
        message = shortened(" ".join(text[:4 * MAX_MESSAGE].split()), MAX_MESSAGE)
        print(f"snnkit {command}: {kind}: {message}", file=sys.stderr)
        return 1


# --- argument types: each names what it expected and what it got -----------------
def int_at_least(low: int):
    """An argument type: an int >= ``low``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an int >= {low}, got {value}")
        return value
    return parse


def positive_float(text):
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def synapse_value(text):
    """A time constant in seconds > 0, ``none`` or ``0`` (None), or the placeholders
    ``keep`` (calibrate's default: the network's own) and ``auto`` (train's default:
    what the recipe uses)."""
    if text in ("keep", "auto"):
        return text
    if text.lower() in ("none", "0"):
        return None
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a time constant in seconds > 0 or 'none', got {text!r}")


def scale_value(text: str) -> float | Scales:
    """``100`` (every layer) or ``conv0=50,conv1=80``."""
    if "=" not in text:
        return positive_float(text)
    scales = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if not name.strip():
            raise argparse.ArgumentTypeError(
                f"expected LAYER=SCALE pairs separated by commas, got {text!r}")
        scales[name.strip()] = positive_float(value)
    return scales


def rate_target(text: str) -> float | tuple[float, float]:
    """``200`` (Hz) or ``100:300`` (a range in Hz)."""
    low, sep, high = text.partition(":")
    if not sep:
        return positive_float(text)
    lo, hi = positive_float(low), positive_float(high)
    if lo > hi:
        raise argparse.ArgumentTypeError(
            f"expected LOW:HIGH with LOW <= HIGH, got {text!r}")
    return (lo, hi)


def fraction(text):
    """A number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a fraction between 0 and 1, got {text!r}")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction between 0 and 1 (both excluded), got {text!r}")
    return value


READOUTS = ("last", "mean")


def readouts(text):
    """``last``, ``mean`` or several, comma-separated (``mean,last``), as a tuple."""
    chosen = tuple(r.strip() for r in text.split(","))
    bad = [r for r in chosen if r not in READOUTS]
    if bad or len(set(chosen)) != len(chosen):
        raise argparse.ArgumentTypeError(
            f"expected {' or '.join(READOUTS)}, or both comma-separated, got {text!r}")
    return chosen


def names(text):
    """Comma-separated names, as a tuple."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def caps(text):
    """``loihi-emulator=20,nengo=10``."""
    caps = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(
                f"expected BACKEND=N pairs separated by commas, got {text!r}")
        caps[name.strip()] = int_at_least(1)(value)
    return caps


# the types commands.toml names (snnkit.cli.declared)
TYPES = {"int": int, "int>=0": int_at_least(0), "int>=1": int_at_least(1),
         "positive_float": positive_float, "synapse": synapse_value, "scale": scale_value,
         "rate_target": rate_target, "names": names, "caps": caps,
         "fraction": fraction, "readouts": readouts}


# --- checks made before any work ------------------------------------------------
def error(message):
    """A :class:`~snnkit.exceptions.ValidationError` with ``message``."""
    from snnkit.exceptions import ValidationError

    return ValidationError(message)


def input_file(path, argument: str, suffixes=None) -> Path:
    """``path`` as a readable file; errors name ``argument``.

    With ``suffixes``, the file's suffix must be one of them.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{argument}: no such file: {str(path)!r}")
    if not path.is_file():
        raise error(f"{argument}: expected a file, got a folder: {str(path)!r}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise error(f"{argument}: expected a {' or '.join(suffixes)} file, "
                     f"got {str(path)!r}")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise error(f"{argument}: cannot read {str(path)!r} ({e.strerror or e})") from e
    return path


def output_file(path, argument: str = "--out", inputs=()) -> Path:
    """Fail before hours of work, not after: the output's folder must be writable,
    the output a new or regular file (not a folder, FIFO or device) and none of the
    command's ``inputs`` (``(argument, path)`` pairs; the same file or a link to it).
    """
    from snnkit.bench import check_writable_dir
    from snnkit.utils.validation import check_not_input

    path = Path(path)
    check_not_input(argument, path, inputs)
    check_writable_dir(path.parent if str(path.parent) else Path("."), argument)
    return path


def load_network(path, argument: str = "network") -> FrozenNetwork:
    """The FrozenNetwork in the file ``path``."""
    from snnkit.network.frozen import FrozenNetwork

    return FrozenNetwork.load(input_file(path, argument))


def check_count(argument: str, value: int, limit: int, what: str) -> None:
    """Raise if ``value`` is over ``limit``; ``what`` says where the limit comes from."""
    if value > limit:
        raise error(f"{argument}: expected at most {limit} ({what}), got {value}")


class Images:
    """Where a command's images come from: the ``--data`` file, or MNIST.

    The file is read and checked once, when this is made; MNIST once, when first taken
    from.

    Parameters
    ----------
    path : str or Path or None
        The ``--data`` file; None for MNIST.
    pairs : tuple of {"train", "test"}
        The images the command takes: only those are read from the file.
    """

    def __init__(self, path, pairs=("train", "test")):
        self.file = None
        self._mnist = None
        if path is not None:
            from snnkit.data.files import load_data_file

            self.file = load_data_file(input_file(path, "--data", (".npz",)),
                                       pairs=pairs)

    def take(self, which: str, flag: str, count: int | None, default: int | None = None,
             *, network=None, labels: bool = True):
        """The first ``count`` images and labels, checked against what there is.

        Parameters
        ----------
        which : {"train", "test"}
            Which images.
        flag : str
            Names the count in errors.
        count : int or None
            How many (None: ``default``, or all when fewer or no default).
        default : int or None, optional
            The count when ``count`` is None.
        network : FrozenNetwork, optional
            The images must fit its input and (``labels``) the labels its outputs,
            checked now, before any work.
        labels : bool, optional
            Check the labels against ``network``'s outputs.

        Returns
        -------
        x : ndarray
            The images.
        y : ndarray
            The labels.
        data_id : str
            Names them (the file by its contents' digest).
        """
        x, y, data_id = self._take(which, flag, count, default)
        if network is not None:
            from snnkit.network.inputs import check_inputs
            from snnkit.utils.validation import check_labels

            source = "--data" if self.file is not None else "MNIST"
            check_inputs(network, x, f"{source} {which} images")
            if labels:
                check_labels(f"{source} {which} labels", y, len(x),
                             network.layer_shape(network.output_layer)[-1])
        return x, y, data_id

    def _take(self, which, flag, count, default):
        if self.file is None:
            available = MNIST_TRAIN if which == "train" else MNIST_TEST
            what = f"the MNIST {'training' if which == 'train' else 'test'} set's size"
        else:
            x, y = self.file.pair(which, "--data")
            available, what = len(x), f"the {which} images of --data"
        if count is None:
            count = available if default is None else min(default, available)
        check_count(flag, count, available, what)
        if self.file is not None:
            return x[:count], y[:count], \
                f"{self.file.path.name} ({self.file.digest})[{which}][:{count}]"
        if self._mnist is None:
            from snnkit.data.datasets import load_mnist

            self._mnist = dict(zip(("train", "test"), load_mnist()))
        x, y = self._mnist[which]
        return x[:count], y[:count], f"mnist-{which}[:{count}]"


def check_model_data(model, x, y, what: str) -> None:
    """Images ``x`` and labels ``y`` fit a Keras ``model``, checked before training.

    Parameters
    ----------
    model : KerasModel
        The model: images ``(N,) + its input shape`` (or flattened), integer labels
        below its number of outputs.
    x, y : ndarray
        The images and labels.
    what : str
        Names them in errors (``"--data test"``).

    Raises
    ------
    ValidationError
        Naming ``what``.
    """
    import math

    from snnkit.utils.validation import check_labels

    shape = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) not in (shape, (math.prod(shape),)):
        raise error(f"{what} images: expected shape (N, {', '.join(map(str, shape))}) "
                    f"or (N, {math.prod(shape)}) for the model, got {tuple(x.shape)}")
    check_labels(f"{what} labels", y, len(x), int(model.output_shape[-1]))


def load_keras_model(path, argument: str = "model", *, for_training: bool = True,
                     max_pool: str = "refuse") -> KerasModel:
    """A saved Keras model, loaded and checked to convert natively.

    Loaded by :func:`snnkit.convert.keras_model.load_keras_model` (no stored code
    runs) and checked by :func:`snnkit.convert.freeze.check_convertible`.

    Parameters
    ----------
    path : str or Path
        The model file.
    argument : str, optional
        The argument named in errors.
    for_training : bool, optional
        Checked to be trained (True), or only frozen (False).
    max_pool : {"refuse", "average"}, optional
        As ``--max-pool``.

    Returns
    -------
    KerasModel
    """
    from snnkit.convert.freeze import check_convertible
    from snnkit.convert.keras_model import load_keras_model as load

    model = load(input_file(path, argument, KERAS_SUFFIXES), argument)
    check_convertible(model, for_training=for_training, max_pool=max_pool)
    return model


def note_readout(network) -> None:
    """A line on stderr when ``network`` (about to be saved) reads single spikes out
    (a warning: ``--quiet`` keeps it).

    Spiking neurons, no synapse and the 'last' readout give each step's output from
    that step's spikes alone, an accuracy that is noisy and differs between backends
    (spike phases differ); the 'mean' readout or a synapse fixes that.
    """
    if network.neuron.is_spiking and network.synapse is None \
            and network.readout == "last":
        print("note: spiking neurons with no synapse and the 'last' readout read one "
              "step's spikes: accuracy will be noisy and differ between backends; "
              "pass --readout mean or a --synapse (e.g. 0.005)", file=sys.stderr)


def load_model(spec: str, seed: int, max_pool: str = "refuse") -> KerasModel:
    """``"seed"``: a fresh seed convnet made with ``seed``; else a Keras model file
    (checked to be trained, with ``max_pool`` as ``--max-pool``)."""
    if spec == "seed":
        from snnkit.models import seed_convnet

        return seed_convnet(seed=seed)
    return load_keras_model(spec, "--model", max_pool=max_pool)
