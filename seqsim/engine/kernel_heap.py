"""The compiled engine's time-ordered queues, as binary heaps of int64 ids.

Two heaps order ids by an instant per id, ties by id (a total order, the same
on every run): the *pending* rows (due later than the current poll, by due
time) and the messages *in flight* on devices (by scheduled send). A heap is
an int64 array whose size the caller keeps. Compiled with numba; with
``NUMBA_DISABLE_JIT=1`` the same code runs as Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["heap_pop", "heap_push"]


@njit(cache=True, inline="always")
def _sooner(t: np.ndarray, a: int, b: int) -> bool:
    return t[a] < t[b] or (t[a] == t[b] and a < b)


@njit(cache=True)
def heap_push(heap: np.ndarray, n: int, x: int, t: np.ndarray) -> int:
    """Add id ``x`` (instant ``t[x]``) to the heap of ``n`` ids; return the new size."""
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if not _sooner(t, x, heap[parent]):
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = x
    return n + 1


@njit(cache=True)
def heap_pop(heap: np.ndarray, n: int, t: np.ndarray) -> int:
    """Remove and return the first id of a heap of ``n >= 1`` ids (its size becomes n - 1)."""
    top = heap[0]
    n -= 1
    if n == 0:
        return top
    x = heap[n]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _sooner(t, heap[child + 1], heap[child]):
            child += 1
        if not _sooner(t, heap[child], x):
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = x
    return top
