"""The compiled passes over a run's columns (seqsim.engine.tallies)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.engine.kernel_layout import NONE, ROW_DTYPE
from seqsim.engine.tallies import dense_keys, gather_rows, group_order, most_in_window, row_codes


@settings(deadline=None)  # the first example may compile (a fresh cache)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-2, 2)), max_size=150))
def test_group_order_is_lexsort(rows: list[tuple[int, int]]) -> None:
    """Key, then value, then position: groups small (insertion sort) and large."""
    keys = np.array([k for k, _ in rows], dtype=np.int64)
    within = np.array([w for _, w in rows], dtype=np.int64)
    assert group_order(keys, 4, within).tolist() == np.lexsort((within, keys)).tolist()


def _records() -> np.ndarray:
    R = np.zeros(3, dtype=ROW_DTYPE)
    R["seq"], R["step"], R["lead"] = [1, 0, 1], [2, 0, 1], [7, 8, 9]
    R["dev"], R["day"] = [0, 1, 2], [6, 1, 3]
    R["claimed_at"] = [NONE, 5, NONE]
    R["status"], R["error"] = [0, 1, 2], [0, 1, 2]
    return R


def test_row_codes_read_each_field() -> None:
    sequence, stepid, lead, step, dev, processing, status, error = row_codes(
        _records(), np.array([10, 11], dtype=np.int32), np.array([20, 21, 22], dtype=np.int32))
    assert sequence.tolist() == [11, 10, 11] and stepid.tolist() == [22, 20, 21]
    assert lead.tolist() == [7, 8, 9] and step.tolist() == [2, 0, 1]
    assert dev.tolist() == [0, 1, 2] and processing.tolist() == [-1, 1, -1]  # claimed only
    assert status.tolist() == [0, 1, 2] and error.tolist() == [-1, 0, 1]
    assert status.dtype == error.dtype == np.int8


def test_gather_rows_follows_each_message_to_its_row() -> None:
    out = gather_rows(_records(), np.array([2, 0, 0, 1], dtype=np.int32),
                      np.array([10, 11], dtype=np.int32), np.array([20, 21, 22], dtype=np.int32))
    assert [o.tolist() for o in out] == [[9, 7, 7, 8], [11, 11, 11, 10], [21, 22, 22, 20],
                                         [3, 6, 6, 1]]


def test_keys_outside_the_range_are_refused() -> None:
    keys = np.array([0, 4], dtype=np.int64)
    with pytest.raises(ValueError, match="outside"):
        group_order(keys, 4, keys)
    with pytest.raises(ValueError, match="outside"):
        most_in_window(keys - 1, keys, 4, 1)


def test_dense_keys_counts_slots_only_for_dense_non_negative_codes() -> None:
    assert dense_keys(np.array([0, 3, 3], dtype=np.int64)) == 4
    assert dense_keys(np.array([-1, 3], dtype=np.int64)) is None  # a missing phone
    assert dense_keys(np.array([0, 2 * 2 + 1024], dtype=np.int64)) is None  # sparse
    assert dense_keys(np.array([], dtype=np.int64)) is None
