"""Production's order on due rows, and the two structures the kernel keeps it in.

Production selected ``ORDER BY next_trigger_time, sequence_id, contact_phone,
current_step``; :func:`before` is that order on row ids (the phone as its
rank among all phones, the row id breaking the last ties, so the order is
total). Ready rows are kept twice (see :mod:`seqsim.engine.kernel_ready`):

- in skew heaps, one per (group, device) cell, linked through ``left`` /
  ``right`` (the rows' links, :data:`~seqsim.engine.kernel_layout.LINK_DTYPE`),
  so a device takes its oldest rows without touching others';
- in treaps with subtree sizes, one per group, linked through ``tleft`` /
  ``tright`` / ``tsize``, so :func:`treap_rank` says how many of them sort
  before a row: with the ordered log's count
  (:mod:`seqsim.engine.kernel_rank`, which holds the rows that became ready
  in order), whether it falls inside the poll's ``batch_size``.

Treap priorities are a fixed hash of the row id: the shape, and so the
run, is the same everywhere.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit

__all__ = ["before", "skew_merge", "treap_delete", "treap_insert", "treap_rank"]


@kernel_jit()
def before(R: np.ndarray, a: int, b: int) -> bool:
    """Return whether row ``a`` comes before row ``b`` in production's order."""
    ra, rb = R[a], R[b]
    if ra["due"] != rb["due"]:
        return ra["due"] < rb["due"]
    if ra["seq"] != rb["seq"]:
        return ra["seq"] < rb["seq"]
    if ra["rank"] != rb["rank"]:
        return ra["rank"] < rb["rank"]
    if ra["day"] != rb["day"]:
        return ra["day"] < rb["day"]
    return a < b


@kernel_jit()
def skew_merge(R: np.ndarray, links: np.ndarray, a: int, b: int) -> int:
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
        nxt = links[a]["right"]
        links[a]["right"] = links[a]["left"]
        if nxt < 0:
            links[a]["left"] = b
            return root
        if before(R, b, nxt):
            nxt, b = b, nxt
        links[a]["left"] = nxt
        a = nxt


@kernel_jit()
def _priority(i: int) -> np.uint64:
    z = np.uint64(i) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@kernel_jit()
def _size(links: np.ndarray, t: int) -> int:
    return links[t]["tsize"] if t >= 0 else 0


@kernel_jit()
def _resize(links: np.ndarray, t: int) -> None:
    links[t]["tsize"] = (1 + _size(links, np.int64(links[t]["tleft"]))
                         + _size(links, np.int64(links[t]["tright"])))


@kernel_jit()
def _split(R: np.ndarray, links: np.ndarray, t: int, x: int) -> tuple[int, int]:
    """Split treap ``t`` into the rows before ``x`` and those after it."""
    if t < 0:
        return -1, -1
    if before(R, t, x):
        lo, hi = _split(R, links, np.int64(links[t]["tright"]), x)
        links[t]["tright"] = lo
        _resize(links, t)
        return t, hi
    lo, hi = _split(R, links, np.int64(links[t]["tleft"]), x)
    links[t]["tleft"] = hi
    _resize(links, t)
    return lo, t


@kernel_jit()
def _join(R: np.ndarray, links: np.ndarray, a: int, b: int) -> int:
    """Join treaps ``a`` and ``b`` (every row of ``a`` before every row of ``b``)."""
    if a < 0:
        return b
    if b < 0:
        return a
    if _priority(a) > _priority(b):
        links[a]["tright"] = _join(R, links, np.int64(links[a]["tright"]), b)
        _resize(links, a)
        return a
    links[b]["tleft"] = _join(R, links, a, np.int64(links[b]["tleft"]))
    _resize(links, b)
    return b


@kernel_jit()
def treap_insert(R: np.ndarray, links: np.ndarray, t: int, x: int) -> int:
    """Insert row ``x`` into treap ``t``; return the new root."""
    if t < 0 or _priority(x) > _priority(t):
        lo, hi = _split(R, links, t, x)
        links[x]["tleft"], links[x]["tright"] = lo, hi
        _resize(links, x)
        return x
    if before(R, x, t):
        links[t]["tleft"] = treap_insert(R, links, np.int64(links[t]["tleft"]), x)
    else:
        links[t]["tright"] = treap_insert(R, links, np.int64(links[t]["tright"]), x)
    links[t]["tsize"] += 1
    return t


@kernel_jit()
def treap_delete(R: np.ndarray, links: np.ndarray, t: int, x: int) -> int:
    """Remove row ``x`` (which is in it) from treap ``t``; return the new root."""
    if t == x:
        return _join(R, links, np.int64(links[x]["tleft"]), np.int64(links[x]["tright"]))
    if before(R, x, t):
        links[t]["tleft"] = treap_delete(R, links, np.int64(links[t]["tleft"]), x)
    else:
        links[t]["tright"] = treap_delete(R, links, np.int64(links[t]["tright"]), x)
    links[t]["tsize"] -= 1
    return t


@kernel_jit()
def treap_rank(R: np.ndarray, links: np.ndarray, t: int, x: int) -> int:
    """Return how many rows of treap ``t`` come before row ``x``."""
    count = 0
    while t >= 0:
        if before(R, t, x):
            count += _size(links, np.int64(links[t]["tleft"])) + 1
            t = links[t]["tright"]
        else:
            t = links[t]["tleft"]
    return count
