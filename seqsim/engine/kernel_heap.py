"""The compiled engine's in-flight messages: a binary heap by scheduled send.

Each entry holds its key beside its id (``heap[j] = (instant, id)``), so a
sift compares neighbouring memory instead of chasing ids into the message
table; ties go to the lower id, a total order, the same on every run. The
caller keeps the size. Compiled with numba; with ``NUMBA_DISABLE_JIT=1`` the
same code runs as Python.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit

__all__ = ["heap_pop", "heap_push"]


@kernel_jit(inline="always")
def _sooner(heap: np.ndarray, a: int, t: int, x: int) -> bool:
    """Return whether entry ``a`` comes before the entry (``t``, ``x``)."""
    return heap[a, 0] < t or (heap[a, 0] == t and heap[a, 1] < x)


@kernel_jit()
def heap_push(heap: np.ndarray, n: int, t: int, x: int) -> int:
    """Add id ``x`` at instant ``t`` to the heap of ``n`` entries; return the new size."""
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if _sooner(heap, parent, t, x):
            break
        heap[pos, 0], heap[pos, 1] = heap[parent, 0], heap[parent, 1]
        pos = parent
    heap[pos, 0], heap[pos, 1] = t, x
    return n + 1


@kernel_jit()
def heap_pop(heap: np.ndarray, n: int) -> int:
    """Remove the first entry of a heap of ``n >= 1`` (its size becomes n - 1); return its id."""
    top = heap[0, 1]
    n -= 1
    if n == 0:
        return top
    t, x = heap[n, 0], heap[n, 1]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        if child + 1 < n and _sooner(heap, child + 1, heap[child, 0], heap[child, 1]):
            child += 1
        if not _sooner(heap, child, t, x):
            break
        heap[pos, 0], heap[pos, 1] = heap[child, 0], heap[child, 1]
        pos = child
    heap[pos, 0], heap[pos, 1] = t, x
    return top
