"""The ranks' ordered log: counts against a direct count, through compactions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.engine.kernel_layout import C_ORDER_LIMIT, C_ORDERED, COUNTERS, LINK_DTYPE, ROW_DTYPE
from seqsim.engine.kernel_order import before
from seqsim.engine.kernel_rank import (
    ordered_clear,
    ordered_delete,
    ordered_insert,
    ordered_rank,
)

ROWS = 24


def _rows(keys: list[tuple[int, int, int, int]]) -> np.ndarray:
    R = np.zeros(len(keys), dtype=ROW_DTYPE)
    for i, (due, seq, rank, day) in enumerate(keys):
        R[i]["due"], R[i]["seq"], R[i]["rank"], R[i]["day"] = due, seq, rank, day
    return R


def _key(R: np.ndarray, i: int) -> tuple[int, int, int, int, int]:
    return (int(R[i]["due"]), int(R[i]["seq"]), int(R[i]["rank"]), int(R[i]["day"]), i)


small = st.integers(0, 2)
operations = st.lists(st.tuples(st.sampled_from(["add", "drop", "clear"]),
                                st.integers(0, ROWS - 1)), max_size=120)


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.tuples(st.integers(0, 5), small, small, small),
                     min_size=ROWS, max_size=ROWS),
       ops=operations, capacity=st.integers(1, ROWS))
def test_ranks_count_the_rows_before(keys: list, ops: list, capacity: int) -> None:
    """Whatever the order rows come and go in, and however small the arrays (so
    that they fill and compact), a row's rank is the count of the log's rows
    before it; a refused row is one that sorts before the last appended."""
    R = _rows(keys)
    links = np.zeros(ROWS, dtype=LINK_DTYPE)
    order, tree = np.zeros(capacity, dtype=np.int32), np.zeros(capacity, dtype=np.int32)
    C = np.zeros(COUNTERS, dtype=np.int64)
    held: set[int] = set()  # in the log
    ready: set[int] = set()  # in the log or refused by it (the treap's)
    last = -1
    for op, i in ops:
        if op == "clear":
            ordered_clear(C)
            held.clear()
            ready.clear()
            last = -1
        elif op == "add" and i not in ready:
            took = ordered_insert(R, links, order, tree, C, i)
            after = last < 0 or before(R, last, i)
            assert not took or after
            if took:
                held.add(i)
                last = i
            else:
                links[i]["pos"] = -1
            ready.add(i)
        elif op == "drop" and i in ready:
            assert ordered_delete(links, tree, C, i) == (i in held)
            held.discard(i)
            ready.discard(i)
        assert C[C_ORDERED] <= C[C_ORDER_LIMIT] <= capacity
        for j in ready | {i}:
            if j not in ready:
                links[j]["pos"] = -1  # ranked as a row of the treap
            expected = sum(_key(R, r) < _key(R, j) for r in held)
            assert ordered_rank(R, links, order, tree, C, j) == expected


def test_full_arrays_refuse_a_row_and_compaction_frees_positions() -> None:
    R = _rows([(t, 0, 0, 0) for t in range(6)])
    links = np.zeros(6, dtype=LINK_DTYPE)
    links["pos"] = -1  # rows in no structure yet
    order, tree = np.zeros(3, dtype=np.int32), np.zeros(3, dtype=np.int32)
    C = np.zeros(COUNTERS, dtype=np.int64)
    assert all(ordered_insert(R, links, order, tree, C, i) for i in range(3))
    assert not ordered_insert(R, links, order, tree, C, 3)  # three of three held
    assert ordered_delete(links, tree, C, 0)
    assert ordered_insert(R, links, order, tree, C, 3)  # row 0's position freed
    assert list(order) == [1, 2, 3]
    assert [ordered_rank(R, links, order, tree, C, i) for i in (1, 2, 3, 5)] == [0, 1, 2, 3]
