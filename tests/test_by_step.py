"""Rows grouped by step for the step table (seqsim.results.by_step)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.results import by_step
from seqsim.results.by_step import StepGroups, step_codes

KEYS = [("COLD", 1), ("COLD", 3), ("WARM", 1)]


def test_each_row_gets_its_keys_index_and_the_rest_minus_one() -> None:
    labels = pd.array(["WARM", "COLD", None, "COLD", "HOT", "COLD"], dtype="str")
    days = np.array([1, 3, 1, 2, 1, 1])
    assert step_codes(labels, days, KEYS).tolist() == [2, 1, -1, -1, -1, 0]


def test_a_repeated_key_answers_with_its_first_index() -> None:
    keys = [("COLD", 1), ("COLD", 3), ("COLD", 1)]
    assert step_codes(np.array(["COLD", "COLD"]), np.array([1, 3]), keys).tolist() == [0, 1]


def test_day_numbers_far_apart_are_looked_up_by_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    labels, days = np.array(["COLD", "WARM", "COLD", "COLD"]), np.array([3, 1, 1, 9])
    table = step_codes(labels, days, KEYS)
    monkeypatch.setattr(by_step, "_SPAN", 2)
    assert step_codes(labels, days, KEYS).tolist() == table.tolist() == [1, 2, 0, -1]


def test_no_rows_or_no_keys_give_no_codes() -> None:
    assert step_codes(np.array([], dtype=object), np.array([]), KEYS).tolist() == []
    assert step_codes(np.array(["COLD"]), np.array([1]), []).tolist() == [-1]


@settings(deadline=None)  # the first example loads the compiled means (or compiles them)
@given(st.lists(st.tuples(st.integers(-1, 3), st.one_of(st.none(), st.floats(-5, 5))),
                max_size=60))
def test_groups_equal_pandas_groupby(rows: list[tuple[int, float | None]]) -> None:
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    values = np.array([np.nan if v is None else v for _, v in rows], dtype=float)
    groups = StepGroups(codes, 4)
    frame = pd.DataFrame({"code": codes, "v": values})
    by = frame[frame["code"] >= 0].groupby("code")["v"]
    assert groups.counts().tolist() == [int((codes == g).sum()) for g in range(4)]
    for g, got in enumerate(groups.values(values)):
        expected = by.get_group(g).dropna().to_numpy() if g in by.groups else []
        assert got.tolist() == list(expected)  # in row order, missing dropped
    means = groups.mean({"v": values})["v"]
    expected_means = by.mean().reindex(range(4))
    pd.testing.assert_series_equal(means, expected_means, check_names=False,
                                   check_index_type=False)
