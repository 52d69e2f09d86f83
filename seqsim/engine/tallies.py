"""Compiled passes over a finished run's columns, for its tables, checks and summary.

A big run's results make a few passes over millions of rows whose NumPy
form is a sort, several full-length temporaries or one strided gather per
column; written as loops they are one linear pass. :func:`most_in_window`
and :func:`group_order` take plain integer arrays, so every engine's tables
go through the same code; :func:`gather_rows` and :func:`row_codes` read the
compiled engine's row records.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from seqsim.engine.kernel_layout import NONE, ROW_DTYPE

__all__ = ["compile_tallies", "dense_codes", "dense_keys", "gather_rows", "group_order",
           "most_in_window", "row_codes"]

#: Groups up to this size are sorted by insertion (a phone's few sends);
#: larger ones by NumPy's sort, so a trace with one busy phone stays n log n.
_SMALL_GROUP = 32


def dense_keys(codes: np.ndarray) -> int | None:
    """Return the key count (largest code + 1) for :func:`most_in_window` and
    :func:`group_order`, which allocate one slot per code, when ``codes`` are
    non-negative and dense (at most about two slots a value); else None."""
    if not len(codes) or codes.min() < 0 or int(codes.max()) >= 2 * len(codes) + 1024:
        return None
    return int(codes.max()) + 1


def dense_codes(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Return ``codes`` as int64 codes in ``[0, n)``, and ``n``: as they are when
    :func:`dense_keys` finds them dense, else numbered in sorted order."""
    n_keys = dense_keys(codes)
    if n_keys is not None:
        return codes.astype(np.int64, copy=False), n_keys
    values, dense = np.unique(codes, return_inverse=True)
    return dense.astype(np.int64, copy=False).reshape(-1), len(values)


@njit(cache=True)
def _sort_small(values: np.ndarray, lo: int, hi: int) -> None:
    """Sort ``values[lo:hi]`` in place (insertion sort: the slices are short)."""
    for j in range(lo + 1, hi):
        v = values[j]
        i = j - 1
        while i >= lo and values[i] > v:
            values[i + 1] = values[i]
            i -= 1
        values[i + 1] = v


@njit(cache=True)
def _key_order(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the positions of ``keys`` (codes in ``[0, n_keys)``) ordered by key,
    stably (a counting sort), and where each key's positions start (``n_keys + 1``).

    Raises:
        ValueError: a key outside ``[0, n_keys)``.
    """
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for j in range(keys.shape[0]):
        if keys[j] < 0 or keys[j] >= n_keys:  # compiled code does not check bounds
            raise ValueError("a key is outside [0, n_keys)")
        start[keys[j] + 1] += 1
    for c in range(n_keys):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for j in range(keys.shape[0]):
        order[fill[keys[j]]] = j
        fill[keys[j]] += 1
    return order, start


@njit(cache=True)
def most_in_window(keys: np.ndarray, times: np.ndarray, n_keys: int, window: int) -> int:
    """Return the most ``times`` one key has within any half-open window
    ``(t - window, t]`` (0 when there are none).

    ``keys`` are codes in ``[0, n_keys)``, ``times`` int64 of the same length.
    The times are grouped by key with a counting sort (linear), each group
    sorted, then counted with two pointers.
    """
    if keys.shape[0] == 0:
        return 0
    order, start = _key_order(keys, n_keys)
    grouped = times[order]
    most = 0
    for c in range(n_keys):
        lo, hi = start[c], start[c + 1]
        if hi - lo <= most:
            continue  # cannot beat the best so far
        if hi - lo <= _SMALL_GROUP:
            _sort_small(grouped, lo, hi)
        else:
            grouped[lo:hi] = np.sort(grouped[lo:hi])
        first = lo
        for j in range(lo, hi):
            while grouped[first] <= grouped[j] - window:
                first += 1
            most = max(most, j - first + 1)
    return most


@njit(cache=True)
def group_order(keys: np.ndarray, n_keys: int, within: np.ndarray) -> np.ndarray:
    """Return the positions of ``keys`` ordered by key, then by ``within``, then
    by position: ``np.lexsort((within, keys))`` in linear time for codes in
    ``[0, n_keys)`` whose groups are small (each is sorted on its own)."""
    order, start = _key_order(keys, n_keys)
    for c in range(n_keys):
        lo, hi = start[c], start[c + 1]
        if hi - lo <= _SMALL_GROUP:
            # Insertion sort, moving only past strictly greater values: stable.
            for j in range(lo + 1, hi):
                p = order[j]
                i = j - 1
                while i >= lo and within[order[i]] > within[p]:
                    order[i + 1] = order[i]
                    i -= 1
                order[i + 1] = p
        else:
            part = order[lo:hi].copy()
            order[lo:hi] = part[np.argsort(within[part], kind="mergesort")]
    return order


@njit(cache=True)
def gather_rows(R: np.ndarray, rows: np.ndarray, sequence_ids: np.ndarray,
                step_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return, per message, its row's lead code, ``sequence_id``, ``sequence_stepid``
    and ``day_number`` (contiguous int32 arrays).

    ``R``: the row records (:data:`~seqsim.engine.kernel_layout.ROW_DTYPE`);
    ``rows``: each message's row; ``sequence_ids`` / ``step_ids``: the ids by
    the kernel's codes. One read of each message's record, where four NumPy
    gathers would read it four times.
    """
    n = rows.shape[0]
    lead, sequence = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    step, day = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    for j in range(n):
        r = R[rows[j]]
        lead[j] = r["lead"]
        sequence[j] = sequence_ids[r["seq"]]
        step[j] = step_ids[r["step"]]
        day[j] = r["day"]
    return lead, sequence, step, day


@njit(cache=True)
def row_codes(R: np.ndarray, sequence_ids: np.ndarray,
              step_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return, per row record (:data:`~seqsim.engine.kernel_layout.ROW_DTYPE`), its
    ``sequence_id``, ``sequence_stepid``, lead, step, device, processing device
    (-1 unless claimed), status and error - 1 (-1: none), as contiguous arrays
    (int32; int8 for the last two): one read of the records, where a NumPy
    gather or comparison per column reads all of them (80 bytes each) again.
    """
    n = R.shape[0]
    # One array each (not one block): a column that pandas narrows is freed.
    sequence, stepid = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    lead, step = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    dev, processing = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    status, error = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    for i in range(n):
        r = R[i]
        sequence[i] = sequence_ids[r["seq"]]
        stepid[i] = step_ids[r["step"]]
        lead[i] = r["lead"]
        step[i] = r["step"]
        dev[i] = r["dev"]
        processing[i] = r["dev"] if r["claimed_at"] != NONE else -1
        status[i] = r["status"]
        error[i] = r["error"] - 1
    return sequence, stepid, lead, step, dev, processing, status, error


def compile_tallies() -> None:
    """Compile these passes (or load them from the cache) on one value."""
    one = np.zeros(1, dtype=np.int64)
    most_in_window(one, one, 1, 1)
    group_order(one, 1, one)
    ints = np.zeros(1, dtype=np.int32)
    records = np.zeros(1, dtype=ROW_DTYPE)
    gather_rows(records, ints, ints, ints)
    row_codes(records, ints, ints)
