"""The ready rows that became ready in production's order: an ordered log with counts.

While ranks are kept (:func:`seqsim.engine.kernel_ready.rank_rows`), the
kernel must say of a row how many selectable rows come before it (is it
inside the poll's ``batch_size``?). Rows mostly become ready in production's
order (a poll's bucket is promoted oldest first, an import enrols its leads in
phone order), so a row that sorts after the last row appended here is
appended: its position is its place in the order, and a Fenwick tree over the
positions counts the rows still ready. Only the others go into the group's
treap (:mod:`seqsim.engine.kernel_order`). A row's rank is the count of
present positions before its own (or, for a treap row, before where it would
sort: a binary search, as the log is sorted) plus its rank in the treap.

The treap's every step reads a random row record and its links; the tree's
reads fall in one compact int32 array, most of them in cache.

A row's key (:func:`~seqsim.engine.kernel_order.before`) does not change while
the log holds it: only a catch-up moves due times, and it clears the ready
rows first. A row that leaves keeps its entry (its ``pos`` no longer points
there); when the positions fill the tree, the rows still present are
renumbered in place and the tree rebuilt (:func:`_compact`), so positions in
use stay within twice the rows ready. Used for worlds with one ready group
(no send windows), where one count answers for every selectable row.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import C_ORDER_LIMIT, C_ORDERED
from seqsim.engine.kernel_order import before

__all__ = ["ORDER_MIN", "ordered_clear", "ordered_delete", "ordered_insert", "ordered_rank"]

#: The fewest positions the tree spans after a compaction.
ORDER_MIN = 1 << 16


@kernel_jit()
def _add(tree: np.ndarray, n: int, p: int, delta: int) -> None:
    """Add ``delta`` at position ``p`` of the Fenwick ``tree`` over ``n`` positions."""
    while p < n:
        tree[p] += delta
        p |= p + 1


@kernel_jit()
def _prefix(tree: np.ndarray, p: int) -> int:
    """Return the count at positions below ``p``."""
    total = 0
    while p > 0:
        total += tree[p - 1]
        p &= p - 1
    return total


@kernel_jit()
def _compact(links: np.ndarray, rows: np.ndarray, tree: np.ndarray, C: np.ndarray) -> bool:
    """Renumber the rows still present from 0 in order and rebuild the tree over
    twice as many positions (at least :data:`ORDER_MIN`, at most the arrays');
    return whether a position is free."""
    m = 0
    for p in range(C[C_ORDERED]):
        r = rows[p]
        if links[r]["pos"] == p:
            rows[m] = r
            links[r]["pos"] = m
            m += 1
    limit = min(rows.shape[0], max(ORDER_MIN, 2 * m))
    for p in range(limit):
        tree[p] = 0
    for p in range(limit):  # the linear build: each node passes its sum to its parent
        if p < m:
            tree[p] += 1
        up = p | (p + 1)
        if up < limit:
            tree[up] += tree[p]
    C[C_ORDERED], C[C_ORDER_LIMIT] = m, limit
    return m < limit


@kernel_jit()
def ordered_insert(R: np.ndarray, links: np.ndarray, rows: np.ndarray, tree: np.ndarray,
                   C: np.ndarray, i: int) -> bool:
    """Append ready row ``i`` if it sorts after the last row appended; return
    whether it was (if not, it belongs in the treap)."""
    n = C[C_ORDERED]
    if n > 0 and not before(R, np.int64(rows[n - 1]), i):
        return False
    if n == C[C_ORDER_LIMIT]:
        # Dropping rows that left keeps the order: i still sorts after the last.
        if not _compact(links, rows, tree, C):
            return False
        n = C[C_ORDERED]
    rows[n] = i
    links[i]["pos"] = n
    _add(tree, C[C_ORDER_LIMIT], n, 1)
    C[C_ORDERED] = n + 1
    return True


@kernel_jit()
def ordered_delete(links: np.ndarray, tree: np.ndarray, C: np.ndarray, i: int) -> bool:
    """Remove row ``i`` if the log holds it; return whether it did."""
    p = links[i]["pos"]
    if p < 0:
        return False
    _add(tree, C[C_ORDER_LIMIT], p, -1)
    links[i]["pos"] = -1
    return True


@kernel_jit()
def ordered_rank(R: np.ndarray, links: np.ndarray, rows: np.ndarray, tree: np.ndarray,
                 C: np.ndarray, i: int) -> int:
    """Return how many rows of the log come before row ``i`` (held there or not)."""
    p = links[i]["pos"]
    if p < 0:
        lo, hi = 0, C[C_ORDERED]
        while lo < hi:  # the first position whose row does not sort before i
            mid = (lo + hi) >> 1
            if before(R, np.int64(rows[mid]), i):
                lo = mid + 1
            else:
                hi = mid
        p = lo
    return _prefix(tree, p)


@kernel_jit()
def ordered_clear(C: np.ndarray) -> None:
    """Forget every row of the log (the next insert rebuilds the tree)."""
    C[C_ORDERED] = 0
    C[C_ORDER_LIMIT] = 0
