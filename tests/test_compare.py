"""seqsim.compare: one row of KPIs per result, differences to the first, readable tables."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqsim
from seqsim import Result, SeqsimError
from seqsim.analysis.compare import (
    EXTRA_KPIS,
    format_comparison,
    format_differences,
    format_value,
    kpi_columns,
    readable,
    scenario_differences,
)
from seqsim.results.result import SUMMARY_FLAGS, SUMMARY_KEYS
from tests.small_runs import backlog_run


@pytest.fixture(scope="module")
def runs() -> dict[str, Result]:
    return {"2 devices": backlog_run(2), "3 devices": backlog_run(3), "4 devices": backlog_run(4)}


def test_compare_is_public() -> None:
    assert "compare" in seqsim.__all__
    assert inspect.isfunction(seqsim.compare)  # the function, not the module


def test_one_row_per_result_with_every_kpi_and_its_diff(runs: dict[str, Result]) -> None:
    frame = seqsim.compare(runs)
    assert list(frame.index) == list(runs) and frame.index.name == "result"
    kpis = [*(k for k in SUMMARY_KEYS if k not in SUMMARY_FLAGS), *EXTRA_KPIS]
    assert list(frame.columns) == [c for k in kpis for c in (k, f"{k}_diff")]
    for name, result in runs.items():
        for key in kpis[:-len(EXTRA_KPIS)]:
            value = result.summary[key]
            if value is None:
                assert pd.isna(frame.at[name, key])
            else:
                assert frame.at[name, key] == pytest.approx(value)


def test_diffs_are_to_the_first_result(runs: dict[str, Result]) -> None:
    frame = seqsim.compare(runs)
    first = frame.iloc[0]
    assert (frame.iloc[0].filter(like="_diff").fillna(0) == 0).all()
    for name in runs:
        for kpi in ("messages_sent", "peak_backlog", "lateness_p95_s"):
            assert frame.at[name, f"{kpi}_diff"] == pytest.approx(frame.at[name, kpi] - first[kpi])
    assert frame.at["4 devices", "peak_backlog_diff"] < 0
    assert pd.api.types.is_integer_dtype(frame["messages_sent_diff"])


def test_peak_sends_are_counted_from_the_sends(runs: dict[str, Result]) -> None:
    frame = seqsim.compare(runs, diffs=False)
    assert list(frame.columns) == kpi_columns()
    sends = runs["2 devices"].sends
    sent = sends.loc[sends["outcome"] == "sent", "sent_at"]
    assert frame.at["2 devices", "peak_sends_per_hour"] == sent.dt.floor("1h").value_counts().max()
    assert frame.at["2 devices", "peak_sends_per_day"] == sent.dt.floor("1D").value_counts().max()


def test_a_list_of_results_or_directories(runs: dict[str, Result], tmp_path: Path) -> None:
    frame = seqsim.compare(list(runs.values()))
    assert list(frame.index) == ["run 1", "run 2", "run 3"]
    a = runs["2 devices"].save(tmp_path / "a" / "small")
    b = runs["4 devices"].save(tmp_path / "b")
    assert list(seqsim.compare([a, str(b)]).index) == ["small", "b"]
    c = runs["3 devices"].save(tmp_path / "c" / "small")
    assert list(seqsim.compare([a, c]).index) == [str(a), str(c)]  # same names: paths
    by_name = seqsim.compare({"x": a, "y": runs["4 devices"]})
    assert by_name.at["y", "messages_sent"] == runs["4 devices"].summary["messages_sent"]


def test_missing_values_give_nan_diffs(runs: dict[str, Result]) -> None:
    first = runs["2 devices"]
    empty = Result(first.scenario, first.sends, first.timeline, first.contacts,
                   {**first.summary, "lateness_p95_s": None}, first.tables, first.info)
    frame = seqsim.compare({"none": empty, "some": first})
    assert np.isnan(frame.at["some", "lateness_p95_s_diff"])
    assert readable(frame).loc["lateness p95 (sent only)", "none"] == "-"


def test_new_numeric_summary_keys_are_compared(runs: dict[str, Result]) -> None:
    first = runs["2 devices"]
    extra = Result(first.scenario, first.sends, first.timeline, first.contacts,
                   {**first.summary, "new_kpi": 3, "note": "text"}, first.tables, first.info)
    frame = seqsim.compare({"a": extra, "b": extra})
    assert "new_kpi" in frame.columns and "note" not in frame.columns


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "results: an empty collection is not valid"),
        ([], "results: an empty collection is not valid"),
        (3, "results: int is not valid; expected a dict of name -> seqsim.Result"),
        ("out/run1", "results: str is not valid"),
        ({"a": 3}, "results['a']: int is not valid; expected a seqsim.Result or the path"),
        ([None], "results[0]: NoneType is not valid"),
    ],
)
def test_bad_input_names_the_argument(value: object, message: str) -> None:
    with pytest.raises(SeqsimError) as info:
        seqsim.compare(value)
    assert message in str(info.value)


def test_a_directory_that_is_not_a_result(tmp_path: Path) -> None:
    with pytest.raises(SeqsimError, match="is not a seqsim result directory"):
        seqsim.compare([tmp_path])


def test_readable_has_kpis_as_rows_with_units_and_diffs(runs: dict[str, Result]) -> None:
    table = readable(seqsim.compare(runs))
    assert list(table.columns) == list(runs)
    assert table.index[0] == "contacts enrolled"
    p95 = table.loc["lateness p95 (sent only)"]
    assert p95["2 devices"].endswith((" h", " d"))          # hours or days, not seconds
    assert "(-" in p95["4 devices"]                          # better than the first
    assert "(" not in p95["2 devices"]                       # the reference has no diff
    assert table.loc["designed completion time", "3 devices"] == "3.00 d"  # 72 h, same


def test_format_comparison_is_an_aligned_text_table(runs: dict[str, Result]) -> None:
    text = format_comparison(seqsim.compare(runs))
    lines = text.splitlines()
    assert lines[0].split()[0] == "KPI" and lines[0].endswith("4 devices")
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(kpi_columns())
    assert any(line.startswith("peak backlog") for line in lines)


def test_scenario_differences_name_the_keys_that_differ(runs: dict[str, Result]) -> None:
    diff = scenario_differences(runs)
    assert list(diff.index) == ["capacity.devices"]
    assert diff.loc["capacity.devices"].tolist() == ["2", "3", "4"]
    assert "capacity.devices" in format_differences(diff)
    same = scenario_differences({"a": runs["2 devices"], "b": runs["2 devices"]})
    assert same.empty and format_differences(same) == "scenarios: identical"


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1234, "", "1,234"), (0.5, "", "0.500"), (None, "", "-"), (float("nan"), "s", "-"),
        (4.4, "s", "4.4 s"), (750, "s", "12.5 min"), (9000, "s", "2.5 h"),
        (302_400, "s", "3.50 d"), (12.5, "h", "12.5 h"), (192, "h", "8.00 d"),
    ],
)
def test_format_value(value: object, unit: str, expected: str) -> None:
    assert format_value(value, unit) == expected


def test_format_value_signed() -> None:
    assert format_value(3, "", signed=True) == "+3"
    assert format_value(-90, "s", signed=True) == "-90.0 s"


@pytest.mark.parametrize(("value", "unit"), [(-0.01, "h"), (0.04, "h"), (-0.004, "h"),
                                             (-1e-4, ""), (-0.02, "s"), (-0.0, "")])
def test_a_difference_that_shows_as_zero_has_no_sign(value: float, unit: str) -> None:
    shown = format_value(value, unit, signed=True)
    assert shown[0] not in "+-" and float(shown.split()[0]) == 0


def test_a_negative_value_keeps_its_sign_and_precision() -> None:
    assert format_value(-0.06, "h", signed=True) == "-0.1 h"
    assert format_value(-50, "h") == "-2.08 d"
    assert format_value(-1234, "") == "-1,234"
    assert format_value(-0.5, "") == "-0.500"
