"""String columns from codes (seqsim.strings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqsim.strings import arrow_names, from_codes, plain_strings

NAMES = ["dev-001", "dev-002", "dev-003"]


@given(st.lists(st.integers(-1, 2), max_size=40), st.booleans())
def test_from_codes_looks_each_code_up_and_leaves_negatives_missing(codes: list[int],
                                                                  in_arrow: bool) -> None:
    names = arrow_names(NAMES) if in_arrow else NAMES
    got = from_codes(np.array(codes, dtype=np.int32), names)
    assert got.dtype == "str"
    assert [None if pd.isna(v) else v for v in got] == [NAMES[c] if c >= 0 else None
                                                         for c in codes]


def test_from_codes_takes_any_integer_codes_and_floats_as_integers() -> None:
    assert list(from_codes(np.array([2, 0], dtype=np.uint8), NAMES)) == ["dev-003", "dev-001"]
    assert list(from_codes(np.array([1.0]), NAMES)) == ["dev-002"]


@pytest.mark.parametrize("values", [["b", None, "a", "b"], []])
def test_plain_strings_of_a_categorical_equal_the_str_column(values: list[str | None]) -> None:
    column = pd.Series(values, dtype="str")
    categorical = column.astype(pd.CategoricalDtype(["a", "b", "unused"]))
    got = plain_strings(categorical)
    assert got.dtype == "str"
    pd.testing.assert_extension_array_equal(got, plain_strings(column))
    assert plain_strings(column) is column.array  # a str column as it is


@given(st.lists(st.sampled_from(["a", "b", None]), max_size=30), st.randoms())
def test_plain_strings_in_an_order_equal_the_column_taken_in_it(
        values: list[str | None], random: object) -> None:
    order = np.array(random.sample(range(len(values)), len(values)), dtype=np.int64)
    column = pd.Series(values, dtype="str")
    expected = column.array.take(order)
    for form in (column, column.astype(pd.CategoricalDtype(["b", "a"]))):
        got = plain_strings(form, order)
        assert got.dtype == "str"
        pd.testing.assert_extension_array_equal(got, expected)
