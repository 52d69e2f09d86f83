"""Finding rows by id or key in the result tables: sort + search, no hashing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.engine.tallies import as_keys, count_distinct

__all__ = ["distinct_count", "entry_step_ids", "find", "marked", "rows_of"]


def find(keys: np.ndarray, queries: np.ndarray, *, tiebreak: np.ndarray | None = None
         ) -> np.ndarray:
    """Return, for each query, the position in ``keys`` of an equal key, or -1.

    Among equal keys the one with the smallest ``tiebreak`` (else the first)
    is returned. Sort + searchsorted: no hashing, no Python loop.
    """
    if not len(keys):
        return np.full(len(queries), -1, dtype=np.int64)
    order = (np.argsort(keys, kind="stable") if tiebreak is None
             else np.lexsort((tiebreak, keys)))
    ordered = keys[order]
    at = np.minimum(np.searchsorted(ordered, queries), len(ordered) - 1)
    return np.where(ordered[at] == queries, order[at], -1)


def distinct_count(values: np.ndarray) -> int:
    """Return how many distinct integers ``values`` holds (0 when empty).

    Codes and ids span a range not much wider than their count: a table of
    flags indexed by value answers in one pass. Otherwise a sort. Both are
    several times faster than ``np.unique`` (numpy 2 hashes every value).
    """
    if not len(values):
        return 0
    lo, hi = int(values.min()), int(values.max())
    if hi - lo <= 8 * len(values) + 1024:
        return int(count_distinct(as_keys(values), lo, hi - lo + 1))
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the position of each ``wanted`` id in ``ids`` (-1 when absent).

    The engines number rows 1..n in order: then the position is the id - 1,
    returned as int32 when n fits (half the memory of millions of positions).
    """
    n = len(ids)
    if not _one_to_n(ids):
        return find(ids, wanted)
    outside = (wanted < 1) | (wanted > n)
    # Ids outside 1..n may wrap in int32: they are overwritten with -1 next.
    out = np.subtract(wanted, 1, dtype=np.int32 if n < 2**31 else np.int64, casting="unsafe")
    if outside.any():
        out[outside] = -1
    return out


def marked(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return ``np.isin(ids, wanted)``: by position when ``ids`` are 1..n (the
    engines' numbering), one pass instead of a sort of both."""
    if not _one_to_n(ids):
        return np.isin(ids, wanted)
    out = np.zeros(len(ids), dtype=bool)
    inside = wanted[(wanted >= 1) & (wanted <= len(ids))]
    out[inside - 1] = True
    return out


def _one_to_n(ids: np.ndarray, block: int = 1 << 20) -> bool:
    """Return whether ``ids`` is exactly 1, 2, ..., n. Block by block: one diff of
    a big run's ids was a 32 MB temporary."""
    n = len(ids)
    if not n or ids[0] != 1 or ids[-1] != n:
        return False
    return all(bool((np.diff(ids[i:i + block + 1]) == 1).all()) for i in range(0, n - 1, block))


def entry_step_ids(steps: pd.DataFrame) -> np.ndarray:
    """Return the ids (int64) of the entry steps in a ``sequence_steps`` table: the
    step a contact's first row of a sequence is created on."""
    # In NumPy: a .loc was a millisecond, and a small run's results ask five times.
    return steps["id"].to_numpy(np.int64)[steps["is_entry_point"].to_numpy(dtype=bool)]
