"""The one table formatter (snnkit.text_table) and the tables printed through it."""

import pytest

from snnkit.exceptions import ValidationError
from snnkit.text_table import text_table


def test_columns_take_the_widest_cell_and_align_each_way():
    lines = text_table([("layer", "cores"), ("conv0", "12"), ("d", "3")], "<>", sep="  ",
                       rule="columns")
    assert lines == ["layer  cores",
                     "-----  -----",
                     "conv0     12",
                     "d          3"]


def test_given_widths_pad_but_never_cut():
    lines = text_table([("name", "n"), ("a-very-long-name", "123456")], "<>",
                       widths=(6, 4), rule="line")
    assert lines[0] == "name      n"
    assert lines[1] == "-" * len(lines[0])
    assert lines[2] == "a-very-long-name 123456"  # wider cells push, not truncate


@pytest.mark.parametrize("rows, align, rule, message", [
    ([("a", "b")], "<^", None, "align: expected '<' or '>'"),
    ([("a", "b"), ("c",)], "<>", None, "rows: expected 2 cells a row, got 1"),
    ([("a",)], "<", "dots", "rule: expected 'columns', 'line' or None, got 'dots'"),
])
def test_bad_arguments_are_named(rows, align, rule, message):
    with pytest.raises(ValidationError, match=message):
        text_table(rows, align, rule=rule)
