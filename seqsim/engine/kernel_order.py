"""Production's order on due rows, and the two structures the kernel keeps it in.

Production selected ``ORDER BY next_trigger_time, sequence_id, contact_phone,
current_step``; :func:`before` is that order on row ids (the phone as its
rank among all phones, the row id breaking the last ties, so the order is
total). Ready rows are kept twice (see :mod:`seqsim.engine.kernel_ready`):

- in skew heaps, one per (group, device) cell, linked through ``R_LEFT`` /
  ``R_RIGHT``, so a device takes its oldest rows without touching others';
- in treaps with subtree sizes, one per group, linked through ``R_TLEFT`` /
  ``R_TRIGHT`` / ``R_TSIZE``, so :func:`treap_rank` says how many ready rows
  sort before a row: whether it falls inside the poll's ``batch_size``.

Treap priorities are a fixed hash of the row id: the shape, and so the
run, is the same everywhere.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from seqsim.engine.kernel_layout import (
    R_DAY,
    R_DUE,
    R_LEFT,
    R_RANK,
    R_RIGHT,
    R_SEQ,
    R_TLEFT,
    R_TRIGHT,
    R_TSIZE,
)

__all__ = ["before", "skew_merge", "treap_delete", "treap_insert", "treap_rank"]


@njit(cache=True)
def before(R: np.ndarray, a: int, b: int) -> bool:
    """Return whether row ``a`` comes before row ``b`` in production's order."""
    for col in (R_DUE, R_SEQ, R_RANK, R_DAY):
        if R[a, col] != R[b, col]:
            return R[a, col] < R[b, col]
    return a < b


@njit(cache=True)
def skew_merge(R: np.ndarray, a: int, b: int) -> int:
    """Merge two skew heaps (roots ``a``, ``b``; -1 is empty); return the root."""
    if a < 0:
        return b
    if b < 0:
        return a
    if before(R, b, a):
        a, b = b, a
    root = a
    while True:
        # Top-down skew merge: the merged right spine becomes the left child.
        nxt = R[a, R_RIGHT]
        R[a, R_RIGHT] = R[a, R_LEFT]
        if nxt < 0:
            R[a, R_LEFT] = b
            return root
        if before(R, b, nxt):
            nxt, b = b, nxt
        R[a, R_LEFT] = nxt
        a = nxt


@njit(cache=True)
def _priority(i: int) -> np.uint64:
    z = np.uint64(i) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _size(R: np.ndarray, t: int) -> int:
    return R[t, R_TSIZE] if t >= 0 else 0


@njit(cache=True)
def _resize(R: np.ndarray, t: int) -> None:
    R[t, R_TSIZE] = 1 + _size(R, R[t, R_TLEFT]) + _size(R, R[t, R_TRIGHT])


@njit(cache=True)
def _split(R: np.ndarray, t: int, x: int) -> tuple[int, int]:
    """Split treap ``t`` into the rows before ``x`` and those after it."""
    if t < 0:
        return -1, -1
    if before(R, t, x):
        lo, hi = _split(R, R[t, R_TRIGHT], x)
        R[t, R_TRIGHT] = lo
        _resize(R, t)
        return t, hi
    lo, hi = _split(R, R[t, R_TLEFT], x)
    R[t, R_TLEFT] = hi
    _resize(R, t)
    return lo, t


@njit(cache=True)
def _join(R: np.ndarray, a: int, b: int) -> int:
    """Join treaps ``a`` and ``b`` (every row of ``a`` before every row of ``b``)."""
    if a < 0:
        return b
    if b < 0:
        return a
    if _priority(a) > _priority(b):
        R[a, R_TRIGHT] = _join(R, R[a, R_TRIGHT], b)
        _resize(R, a)
        return a
    R[b, R_TLEFT] = _join(R, a, R[b, R_TLEFT])
    _resize(R, b)
    return b


@njit(cache=True)
def treap_insert(R: np.ndarray, t: int, x: int) -> int:
    """Insert row ``x`` into treap ``t``; return the new root."""
    if t < 0 or _priority(x) > _priority(t):
        lo, hi = _split(R, t, x)
        R[x, R_TLEFT], R[x, R_TRIGHT] = lo, hi
        _resize(R, x)
        return x
    if before(R, x, t):
        R[t, R_TLEFT] = treap_insert(R, R[t, R_TLEFT], x)
    else:
        R[t, R_TRIGHT] = treap_insert(R, R[t, R_TRIGHT], x)
    R[t, R_TSIZE] += 1
    return t


@njit(cache=True)
def treap_delete(R: np.ndarray, t: int, x: int) -> int:
    """Remove row ``x`` (which is in it) from treap ``t``; return the new root."""
    if t == x:
        return _join(R, R[x, R_TLEFT], R[x, R_TRIGHT])
    if before(R, x, t):
        R[t, R_TLEFT] = treap_delete(R, R[t, R_TLEFT], x)
    else:
        R[t, R_TRIGHT] = treap_delete(R, R[t, R_TRIGHT], x)
    R[t, R_TSIZE] -= 1
    return t


@njit(cache=True)
def treap_rank(R: np.ndarray, t: int, x: int) -> int:
    """Return how many rows of treap ``t`` come before row ``x``."""
    count = 0
    while t >= 0:
        if before(R, t, x):
            count += _size(R, R[t, R_TLEFT]) + 1
            t = R[t, R_TRIGHT]
        else:
            t = R[t, R_TLEFT]
    return count
