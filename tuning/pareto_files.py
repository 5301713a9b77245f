"""``pareto.csv`` and ``pareto.png`` of a search (apps layer: files and a plot), as
``snnkit tune`` writes them in the search's project directory."""

from __future__ import annotations

import os

from snnkit.plots import plot_pareto

from .pareto import front_axes, pareto_rows, write_pareto_csv

CSV_NAME = "pareto.csv"
PNG_NAME = "pareto.png"


def write_pareto_files(search, directory=None) -> tuple[str, str]:
    """Write the front of ``search`` as ``pareto.csv`` and ``pareto.png``.

    Every trial (:func:`~snnkit.tuning.pareto.pareto_rows`) in ``pareto.csv`` and
    the front's plot in ``pareto.png`` (accuracy vs steps, or vs synaptic operations
    when every trial ran the same steps: :func:`snnkit.plots.plot_pareto`), each
    written atomically.

    Parameters
    ----------
    search : SnnSearch
    directory : str, os.PathLike or None
        Where to write them (default: the search's project directory).

    Returns
    -------
    tuple of (str, str)
        Both paths.
    """
    directory = os.fspath(directory or search.project_dir)
    rows = pareto_rows(search)
    csv_path = write_pareto_csv(rows, os.path.join(directory, CSV_NAME))
    axes = front_axes(search.objective)
    n_done = sum(row["accuracy"] is not None for row in rows)
    png_path = os.path.join(directory, PNG_NAME)
    plot_pareto(rows, steps_label=axes.steps_label(),
                accuracy_label=axes.accuracy_label(),
                title=f"Pareto front of {n_done} completed trials "
                      f"({len(rows)} in all)\noracle: "
                      f"{search.objective.describe()}", path=png_path)
    return csv_path, png_path
