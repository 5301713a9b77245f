"""Plain-text tables: the one formatter behind every table snnkit prints.

Cells arrive as strings, already formatted (the caller chooses the number format);
this pads them into columns. Padding never cuts a cell: a longer one pushes the rest
of its row to the right, as Python's own ``f"{s:>8}"`` does.
"""

from __future__ import annotations

from typing import Sequence

from snnkit.exceptions import ValidationError

__all__ = ["text_table"]


def text_table(rows: Sequence[Sequence[str]], align: str, *,
               widths: Sequence[int] | None = None, sep: str = " ",
               rule: str | None = None) -> list[str]:
    """The rows as lines of padded columns.

    Parameters
    ----------
    rows : sequence of sequence of str
        The header (if any) first; every row has one cell per column.
    align : str
        One character per column, ``"<"`` (left) or ``">"`` (right).
    widths : sequence of int or None
        Characters per column; by default the column's widest cell.
    sep : str
        What stands between two columns.
    rule : {"columns", "line"} or None
        A dashed line under the first row: ``"columns"`` (one run of dashes per
        column), ``"line"`` (one run as long as the first row) or None.

    Returns
    -------
    list of str
        The lines.

    Raises
    ------
    ValidationError
        An ``align`` or ``rule`` not of these forms, or a row with another number of
        cells.
    """
    if len(align) == 0 or set(align) - {"<", ">"}:
        raise ValidationError(f"align: expected '<' or '>' per column, got {align!r}")
    rows = [tuple(row) for row in rows]
    for row in rows:
        if len(row) != len(align):
            raise ValidationError(f"rows: expected {len(align)} cells a row, got "
                                  f"{len(row)}: {row!r}")
    if widths is None:
        widths = [max((len(row[i]) for row in rows), default=0)
                  for i in range(len(align))]
    lines = [sep.join(cell.ljust(w) if a == "<" else cell.rjust(w)
                      for cell, a, w in zip(row, align, widths)) for row in rows]
    if rule == "columns":
        lines.insert(1, sep.join("-" * w for w in widths))
    elif rule == "line":
        lines.insert(1, "-" * len(lines[0]))
    elif rule is not None:
        raise ValidationError(f"rule: expected 'columns', 'line' or None, got {rule!r}")
    return lines
