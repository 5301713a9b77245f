"""The one table formatter (snnkit.utils.text_table) and the tables printed through it."""

import pytest

from snnkit.exceptions import ValidationError
from snnkit.utils.text_table import text_table


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


def test_bench_table_keeps_its_columns():
    from snnkit.bench import format_table

    case = {"backend": "nengo-dl", "n_images": 12, "accuracy": 0.91,
            "reference_accuracy_same_images": 0.9, "agreement": 1.0,
            "decision_step_within_1pct": 7, "time_to_decision_steps_mean": 5.25,
            "time_to_decision_steps_p95": None, "resumed": True,
            "energy_estimate": {"synaptic_ops_per_inference": 123456.0,
                                "total_energy_uj": 3.14159},
            "build_time_s": 4.04, "run_time_s": 12.3, "images_per_s": 0.97,
            "layer_rates_hz": {"conv0": 55.5},
            "first_spike_steps": {"conv0": {"mean": 2.5, "p95": 4.0}}}
    lines = format_table({"cases": [case],
                          "network": {"neuron_layers": ["conv0"]}}).splitlines()
    assert lines[0].split() == ["backend", "images", "accuracy", "ref@same", "agree",
                                "decide@", "TTD", "synops/inf", "energy", "µJ*", "build",
                                "s", "run", "s", "img/s"]
    assert lines[2] == ("nengo-dl                 12    91.00%   90.00% 100.0%       7 "
                        "  5.2    1.23e+05       3.14     4.0    12.3    0.97  (resumed)")
    assert lines[4] == ("mean rate of active neurons, Hz: backend                   "
                        "conv0")
    assert lines[5] == " " * 33 + "nengo-dl                   55.5"
    assert lines[8] == " " * 33 + ("nengo-dl               2.5 /   4         n/a"
                                   "   5.2 /   -")
