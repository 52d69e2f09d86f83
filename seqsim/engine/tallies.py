"""Compiled tallies over a finished run's integer columns, for its summary.

A big run's summary makes a few passes over millions of sends whose NumPy
form is a sort (or several full-length temporaries); written as loops over
the integer codes they are one linear pass. Each function takes plain int64
arrays, so every engine's tables go through the same code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["compile_tallies", "most_in_window"]

#: Groups up to this size are sorted by insertion (a phone's few sends);
#: larger ones by NumPy's sort, so a trace with one busy phone stays n log n.
_SMALL_GROUP = 32


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
def most_in_window(keys: np.ndarray, times: np.ndarray, n_keys: int, window: int) -> int:
    """Return the most ``times`` one key has within any half-open window
    ``(t - window, t]`` (0 when there are none).

    ``keys`` are codes in ``[0, n_keys)``, ``times`` int64 of the same length.
    The times are grouped by key with a counting sort (linear), each group
    sorted, then counted with two pointers.
    """
    n = keys.shape[0]
    if n == 0:
        return 0
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for j in range(n):
        start[keys[j] + 1] += 1
    for c in range(n_keys):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    grouped = np.empty(n, dtype=np.int64)
    for j in range(n):
        grouped[fill[keys[j]]] = times[j]
        fill[keys[j]] += 1
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


def compile_tallies() -> None:
    """Compile the tallies (or load them from the cache) on one value."""
    one = np.zeros(1, dtype=np.int64)
    most_in_window(one, one, 1, 1)
