"""HDF5 files opened with bounded memory: what a file may hold before anything in it
is read (used by the Keras file and NIR file readers)."""

from __future__ import annotations

import math

from snnkit.exceptions import ValidationError


def check_hdf5_storage(source, largest: int, max_datasets: int, argument: str,
                       label: str, text: bool = False) -> None:
    """Check that an HDF5 file can be read in bounded memory, before anything is read.

    Every object is a group or a numeric dataset stored in the file, no dataset holds
    more numbers than ``largest``, no link leads outside the file.

    Parameters
    ----------
    source : str, os.PathLike or file-like
        The HDF5 file, as ``h5py.File`` opens it.
    largest : int
        The most numbers (or text entries) one dataset may hold.
    max_datasets : int
        The most datasets the file may hold.
    argument : str
        Starts every error message.
    label : str
        Names the file in messages.
    text : bool
        Allow datasets of strings too, of at most ``largest`` entries.

    Raises
    ------
    ValidationError
        A file holding anything else, or more.
    """
    import h5py

    problems, count, objects = [], [0], [0]
    max_objects = 8 * max_datasets + 256  # groups: a few per layer and weight

    def check_links(group, name):
        for key in group:
            if isinstance(group.get(key, getlink=True), h5py.ExternalLink):
                problems.append(f"an external link {name}/{key}")

    def visit(name, obj):
        objects[0] += 1
        if isinstance(obj, h5py.Group):
            check_links(obj, name)
        elif isinstance(obj, h5py.Dataset):
            count[0] += 1
            kinds = "fiubSO" if text else "fiub"
            if obj.dtype.kind not in kinds or obj.external \
                    or math.prod(obj.shape or ()) > largest:
                where = " stored outside the file" if obj.external else ""
                problems.append(f"a dataset {name!r} of dtype {obj.dtype} and shape "
                                f"{obj.shape}{where}")
        else:
            problems.append(f"an object {name!r} of type {type(obj).__name__}")
        return True if problems or count[0] > max_datasets \
            or objects[0] > max_objects else None

    with h5py.File(source, "r") as f:
        check_links(f, "")
        if not problems:
            f.visititems(visit)
    if count[0] > max_datasets or objects[0] > max_objects:
        raise ValidationError(f"{argument}: {label!r} has more than {max_datasets} "
                              f"weight datasets or {max_objects} HDF5 objects")
    if problems:
        raise ValidationError(f"{argument}: {label!r} has {problems[0]}; weights must "
                              f"be plain numeric datasets of at most {largest} numbers "
                              "inside the file")
