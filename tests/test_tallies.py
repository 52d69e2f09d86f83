"""The compiled passes over a run's columns (seqsim.engine.tallies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.engine.kernel_layout import NONE, ROW_DTYPE
from seqsim.engine.schema import contact_pair_codes
from seqsim.engine.tallies import (
    as_keys,
    count_distinct,
    dense_keys,
    gather_rows,
    group_mean,
    group_order,
    id_table,
    look_up,
    most_in_window,
    pair_codes,
    read_only,
    row_codes,
    step_places,
)

# Values whose sums round (wide magnitudes, so the compensation matters), and the
# missing and infinite ones.
_MEANS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-1e6, 1e6), st.sampled_from([0.1, 1e-17, 1e17, -0.0]))


def _kahan_means(codes: np.ndarray, values: np.ndarray, n: int) -> list[float]:
    """The compensated mean of each group, written out plainly in Python."""
    sums, compensations, counts = [0.0] * n, [0.0] * n, [0] * n
    for g, v in zip(codes.tolist(), values.tolist(), strict=True):
        if g < 0 or v != v:
            continue
        counts[g] += 1
        y = v - compensations[g]
        t = sums[g] + y
        compensation = t - sums[g] - y
        compensations[g] = 0.0 if compensation != compensation else compensation
        sums[g] = t
    return [sums[g] / counts[g] if counts[g] else float("nan") for g in range(n)]


@settings(deadline=None)  # the first example may compile (a fresh cache)
@given(st.lists(st.tuples(st.integers(-1, 3), _MEANS), max_size=200))
def test_group_mean_is_the_compensated_mean_of_each_group(rows: list[tuple[int, float]]) -> None:
    codes = np.array([c for c, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.float64)
    got = group_mean(read_only(codes), read_only(values), 4)
    expected = np.array(_kahan_means(codes, values, 4))
    # Bit for bit: NaN where the reference has NaN, else the same float.
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    known = ~np.isnan(expected)
    assert got[known].view(np.int64).tolist() == expected[known].view(np.int64).tolist()
    # And what pandas' groupby gives, to its last bits, for unsorted labels.
    by_pandas = (pd.Series(values).groupby(codes).mean().reindex(range(4))
                 .to_numpy(dtype=np.float64))
    np.testing.assert_allclose(got, by_pandas, rtol=1e-12, atol=0)


def test_group_mean_of_a_long_run_keeps_the_compensation() -> None:
    values = np.full(100_001, 0.1)
    values[0] = 1e8
    codes = np.zeros(len(values), dtype=np.int64)
    got = group_mean(read_only(codes), read_only(values), 1)[0]
    assert got == pd.Series(values).groupby(codes).mean().iloc[0] == 1000.089999100009
    assert got != values.sum() / len(values)  # naive summation differs in the last bits


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


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 40)), max_size=120),
       st.integers(1, 15))
def test_most_in_window_counts_as_a_sliding_window_does(sends: list[tuple[int, int]],
                                                         window: int) -> None:
    keys = np.array([k for k, _ in sends], dtype=np.int64)
    times = np.array([t for _, t in sends], dtype=np.int64)
    expected = max((sum(1 for k2, t2 in sends if k2 == k and t - window < t2 <= t)
                    for k, t in sends), default=0)
    assert most_in_window(keys, times, 5, window) == expected


@settings(deadline=None)
@given(st.lists(st.integers(-3, 12), max_size=8, unique=True),
       st.lists(st.integers(-6, 16), max_size=40), st.sampled_from([np.int32, np.int64]))
def test_an_id_table_finds_what_get_indexer_finds(ids: list[int], keys: list[int],
                                                   dtype: type) -> None:
    table = id_table(np.array(ids, dtype=np.int64))
    if not ids:
        assert table is None
        return
    lowest, places = table
    found = look_up(np.array(keys, dtype=dtype), places, lowest, -1)
    assert found.dtype == np.int32
    assert found.tolist() == [ids.index(k) if k in ids else -1 for k in keys]
    entry = np.zeros(len(places), dtype=bool)
    entry[np.array(ids[:1], dtype=np.int64) - lowest] = True
    flags = look_up(np.array(keys, dtype=dtype), entry, lowest, False)
    assert flags.dtype == np.bool_ and flags.tolist() == [k == ids[0] for k in keys]


def test_no_id_table_for_repeated_or_scattered_ids() -> None:
    assert id_table(np.array([3, 3])) is None
    assert id_table(np.array([0, 10**6])) is None  # a million slots for two ids
    assert id_table(np.array([], dtype=np.int64)) is None
    assert id_table(np.array([0, 4 * 2 + 1023]))[1].shape == (4 * 2 + 1024,)  # at the limit
    assert id_table(np.array([0, 4 * 2 + 1024])) is None


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 3)), max_size=40))
def test_step_places_check_the_step_is_of_the_row_sequence(rows: list[tuple[int, int]]) -> None:
    step_ids, step_sequence = np.array([2, 3, 5, 7], dtype=np.int64), np.array([1, 1, 2, 3])
    lowest, places = id_table(step_ids)
    stepid = np.array([r for r, _ in rows], dtype=np.int32)
    sequence = np.array([q for _, q in rows], dtype=np.int32)
    out = step_places(stepid, sequence, places, lowest, step_sequence)
    expected = [int(np.flatnonzero(step_ids == r)[0]) if r in step_ids
                and step_sequence[step_ids == r][0] == q else -1 for r, q in rows]
    assert out.dtype == np.int32 and out.tolist() == expected


@settings(deadline=None)
@given(st.lists(st.integers(-4, 30), max_size=60))
def test_count_distinct_counts_as_unique_does(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    if values:
        assert count_distinct(array, min(values), max(values) - min(values) + 1) == len(
            set(values))
        assert count_distinct(array.astype(np.int32), min(values),
                              max(values) - min(values) + 1) == len(set(values))


def test_as_keys_keeps_int32_and_int64_and_widens_the_rest() -> None:
    small, wide = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int64)
    assert as_keys(small) is small and as_keys(wide) is wide
    assert as_keys(np.zeros(2, dtype=np.uint16)).dtype == np.int64


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), max_size=60),
       st.lists(st.integers(1, 10**6), min_size=3, max_size=3, unique=True))
def test_pair_codes_number_as_contact_pair_codes_does(rows: list[tuple[int, int]],
                                                       ids: list[int]) -> None:
    """Leads (phones) numbered by first appearance, times the rows' largest
    sequence_id + 1 (not the largest of every sequence), plus the sequence_id."""
    R = np.zeros(len(rows), dtype=ROW_DTYPE)
    R["lead"] = [lead for lead, _ in rows]
    R["seq"] = [seq for _, seq in rows]
    sequence_ids = np.array(ids, dtype=np.int64)
    table = pd.DataFrame({"contact_phone": [f"+1{lead:04d}" for lead, _ in rows],
                          "sequence_id": sequence_ids[R["seq"]]})
    expected = contact_pair_codes(table) if len(rows) else np.empty(0, dtype=np.int64)
    got = pair_codes(R, sequence_ids, 6)
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()
