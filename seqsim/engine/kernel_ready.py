"""The compiled engine's due rows, grouped as production's poll sees them.

A row is *pending* before its due time (in a bucket per poll: the first poll
at or after its due time, so making it ready costs nothing) and
*ready* after it, until a poll queues it. Ready rows are kept per *group*
(without send windows, one group; with them, a (sequence, lead time zone)
pair, since a poll sees only the groups whose window is open) and per
*cell* (a group's rows on one device), in two structures
(:mod:`seqsim.engine.kernel_order`):

- per cell, a run of rows in order and a skew heap for the rest, so a
  device with room takes its oldest rows and a device over a limit costs
  nothing, however many rows wait on it (rows mostly become ready in order:
  appending to the run touches one row, where the heap's merge walked a
  path of rows, each a cache miss);
- ranks: a row's rank among every selectable row says whether it falls
  inside the poll's ``batch_size``, rows of capped devices included (they
  take batch slots, as in production). In a world of one group the rows
  that became ready in order are counted in an ordered log
  (:mod:`seqsim.engine.kernel_rank`); the rest, and every row of a world
  with send windows, sit in a treap per group. Ranks matter only while more
  rows are selectable than a batch holds, so they are built when that first
  happens (:func:`rank_rows`) and dropped once the selectable rows fall to
  half a batch (``C_RANKED`` says which).

Each window's open intervals over the run are precomputed as arrays
(``W_WIN_*``).
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    ACTIVE,
    C_PENDING,
    C_PROMOTED,
    C_RANKED,
    C_READY,
    C_ROWS,
    DB_OFFSET,
    NEVER,
    NONE,
    POLL,
    S_BACKLOG,
    S_CELL_COUNT,
    S_CELL_ROOT,
    S_CELL_RUN,
    S_COUNT,
    S_GROUP_COUNT,
    S_GROUP_OPEN,
    S_LINKS,
    S_ORDER_ROWS,
    S_ORDER_TREE,
    S_PENDING,
    S_ROWS,
    S_TMP,
    S_TREAP_ROOT,
    START,
    TOTAL,
    W_STAT,
    W_WIN_END,
    W_WIN_HI,
    W_WIN_LO,
    W_WIN_START,
)
from seqsim.engine.kernel_order import (
    before,
    skew_merge,
    treap_delete,
    treap_insert,
    treap_rank,
)
from seqsim.engine.kernel_rank import (
    ordered_clear,
    ordered_delete,
    ordered_insert,
    ordered_rank,
)
from seqsim.engine.rules import first_poll_at_or_after

__all__ = ["backlog_add", "backlog_at", "cell_min", "cell_pop", "cell_push", "clear_ready",
           "device_first", "due_poll", "first_pending", "make_due", "open_groups", "promote",
           "rank_of", "rank_rows", "ready_push", "ready_rows", "take", "take_pending",
           "window_change"]


@kernel_jit(inline="always")
def cell_push(S, c: int, i: int) -> None:
    """Add row ``i`` to cell ``c``: at the end of the cell's run when it sorts after
    the run's last row (the usual case), else into the cell's heap."""
    R, links, run = S[S_ROWS], S[S_LINKS], S[S_CELL_RUN]
    links[i]["left"] = links[i]["right"] = -1
    last = run[1, c]
    if last < 0:
        run[0, c] = run[1, c] = i
    elif before(R, last, i):
        links[last]["right"] = i
        run[1, c] = i
    else:
        S[S_CELL_ROOT][c] = skew_merge(R, links, S[S_CELL_ROOT][c], i)
    S[S_CELL_COUNT][c] += 1


@kernel_jit(inline="always")
def cell_min(S, c: int) -> int:
    """Return cell ``c``'s oldest row (-1: none): its run's first row or its heap's
    root, whichever production's order puts first."""
    top, first = S[S_CELL_ROOT][c], S[S_CELL_RUN][0, c]
    if top < 0 or (first >= 0 and before(S[S_ROWS], first, top)):
        return first
    return top


@kernel_jit(inline="always")
def _rank_insert(S, g: int, i: int) -> None:
    """Count ready row ``i`` (of group ``g``) in the ranks: in the ordered log when
    the world has one group and ``i`` sorts after its last row, else in the treap."""
    R, links, roots = S[S_ROWS], S[S_LINKS], S[S_TREAP_ROOT]
    if roots.shape[0] == 1 and ordered_insert(R, links, S[S_ORDER_ROWS], S[S_ORDER_TREE],
                                              S[S_COUNT], i):
        return
    links[i]["pos"] = -1
    roots[g] = treap_insert(R, links, roots[g], i)


@kernel_jit(inline="always")
def rank_of(S, i: int) -> int:
    """Return how many selectable rows (of the open groups) come before ready row
    ``i`` (ranks kept)."""
    R, links, roots, is_open = S[S_ROWS], S[S_LINKS], S[S_TREAP_ROOT], S[S_GROUP_OPEN]
    rank = 0
    for g in range(roots.shape[0]):
        if is_open[g]:
            rank += treap_rank(R, links, roots[g], i)
    if roots.shape[0] == 1 and is_open[0]:
        rank += ordered_rank(R, links, S[S_ORDER_ROWS], S[S_ORDER_TREE], S[S_COUNT], i)
    return rank


@kernel_jit(inline="always")
def ready_push(S, i: int) -> None:
    """Add row ``i`` to the ready rows (its cell and, while they are kept, the ranks)."""
    links = S[S_LINKS]
    c, g = links[i]["cell"], links[i]["group"]
    cell_push(S, c, i)
    if S[S_COUNT][C_RANKED]:
        _rank_insert(S, g, i)
    S[S_GROUP_COUNT][g] += 1
    S[S_COUNT][C_READY] += 1


@kernel_jit(inline="always")
def cell_pop(S, c: int) -> int:
    """Remove and return the oldest row of cell ``c`` from the cell (not yet from
    its group: see :func:`take`)."""
    R, links, roots, run = S[S_ROWS], S[S_LINKS], S[S_CELL_ROOT], S[S_CELL_RUN]
    i = cell_min(S, c)
    if i == run[0, c]:
        run[0, c] = links[i]["right"]
        if run[0, c] < 0:
            run[1, c] = -1
    else:
        roots[c] = skew_merge(R, links, np.int64(links[i]["left"]),
                              np.int64(links[i]["right"]))
    S[S_CELL_COUNT][c] -= 1
    return i


@kernel_jit(inline="always")
def take(S, i: int) -> None:
    """Finish removing a row that :func:`cell_pop` took from its cell."""
    g = S[S_LINKS][i]["group"]
    if S[S_COUNT][C_RANKED] and not ordered_delete(S[S_LINKS], S[S_ORDER_TREE], S[S_COUNT], i):
        S[S_TREAP_ROOT][g] = treap_delete(S[S_ROWS], S[S_LINKS], S[S_TREAP_ROOT][g], i)
    S[S_GROUP_COUNT][g] -= 1
    S[S_COUNT][C_READY] -= 1


@kernel_jit()
def due_poll(stat, due: int) -> int:
    """Return the first poll at or after ``due`` (the run's poll count when none);
    ``stat`` is ``W[W_STAT]`` (helpers take arrays, not ``W``/``S``: a function of
    the big tuples costs about a second of compile time)."""
    return min(first_poll_at_or_after(due - stat[START], stat[POLL]), stat[TOTAL])


@kernel_jit()
def backlog_add(stat, tree, due: int, delta: int) -> None:
    """Count (``delta`` 1) or uncount (-1) a waiting row due at ``due`` in the
    backlog's Fenwick ``tree`` (``S[S_BACKLOG]``), kept only while the database
    clock is offset (otherwise the backlog is the ready rows' count)."""
    j = due_poll(stat, due) + 1
    while j < tree.shape[0]:
        tree[j] += delta
        j += j & -j


@kernel_jit(inline="always")
def backlog_at(stat, counts, tree, k: int) -> int:
    """Return the backlog after poll ``k``: the waiting rows due by its instant on
    the application's clock (``counts``: ``S[S_COUNT]``)."""
    if stat[DB_OFFSET] == 0:
        return counts[C_READY]
    total, j = 0, k + 1
    while j > 0:
        total += tree[j]
        j -= j & -j
    return total


@kernel_jit(inline="always")
def make_due(W, S, i: int, now: int) -> None:
    """Put row ``i`` among the ready rows if the poll at ``now`` selects it, else
    pending in the bucket of the first poll that does (rows due after the run's
    last poll wait in the bucket past it, never promoted). A poll selects a row
    once the database clock (``now + DB_OFFSET``) reaches its due time."""
    R, C, stat = S[S_ROWS], S[S_COUNT], W[W_STAT]
    offset = stat[DB_OFFSET]
    if offset != 0:
        backlog_add(stat, S[S_BACKLOG], R[i]["due"], 1)
    if R[i]["due"] - offset <= now:
        ready_push(S, i)
        return
    # Spelled out rather than due_poll: this is the hot path of every new row.
    b = min(first_poll_at_or_after(R[i]["due"] - offset - stat[START], stat[POLL]), stat[TOTAL])
    heads = S[S_PENDING]
    S[S_LINKS][i]["left"] = heads[b]  # a pending row is in no heap: its link chains the bucket
    heads[b] = i
    C[C_PENDING] += 1


@kernel_jit()
def _order_bucket(R, tmp, n: int) -> None:
    """Put a bucket's ``n`` rows (``tmp``, newest first as chained) in production's
    order, so that they join their cells' runs and the ordered log: reversed
    (rows mostly enter a bucket in order), then an insertion sort that gives up
    after about ``4 n`` moves (the order speeds the structures up; no result
    depends on it)."""
    for a in range(n // 2):
        tmp[a], tmp[n - 1 - a] = tmp[n - 1 - a], tmp[a]
    budget = 4 * n + 64
    for j in range(1, n):
        x = tmp[j]
        p = j
        while p > 0 and before(R, x, tmp[p - 1]) and budget > 0:
            tmp[p] = tmp[p - 1]
            p -= 1
            budget -= 1
        tmp[p] = x


@kernel_jit()
def promote(W, S, now: int) -> None:
    """Make the pending rows due by ``now`` (a poll instant) ready."""
    stat, heads, C, links, tmp = W[W_STAT], S[S_PENDING], S[S_COUNT], S[S_LINKS], S[S_TMP]
    k = (now - stat[START]) // stat[POLL]
    for b in range(C[C_PROMOTED], min(k, stat[TOTAL] - 1) + 1):
        n, i = 0, heads[b]
        heads[b] = -1
        while i >= 0:
            tmp[n] = i
            n += 1
            i = links[i]["left"]
        C[C_PENDING] -= n
        _order_bucket(S[S_ROWS], tmp, n)
        for j in range(n):
            ready_push(S, tmp[j])
    C[C_PROMOTED] = max(C[C_PROMOTED], k + 1)


@kernel_jit()
def first_pending(S, lo: int, hi: int) -> int:
    """Return the first poll in [``lo``, ``hi``) at which pending rows become due
    (``hi`` when none does)."""
    heads = S[S_PENDING]
    for b in range(max(lo, S[S_COUNT][C_PROMOTED]), hi):
        if heads[b] >= 0:
            return b
    return hi


@kernel_jit()
def take_pending(S, at: int) -> int:
    """Move every pending row to ``S_TMP`` from index ``at`` on; return the new end."""
    heads, tmp, links = S[S_PENDING], S[S_TMP], S[S_LINKS]
    for b in range(heads.shape[0]):
        i = heads[b]
        heads[b] = -1
        while i >= 0:
            tmp[at] = i
            at += 1
            i = links[i]["left"]
    S[S_COUNT][C_PENDING] = 0
    return at


@kernel_jit()
def ready_rows(S, now: int) -> int:
    """Write the ids of every ready row (due by ``now``, active, not queued) to
    ``S_TMP`` in id order; return how many."""
    R, tmp = S[S_ROWS], S[S_TMP]
    n = 0
    for i in range(S[S_COUNT][C_ROWS]):
        if R[i]["status"] == ACTIVE and R[i]["claimed_at"] == NONE and R[i]["due"] <= now:
            tmp[n] = i
            n += 1
    return n


@kernel_jit()
def clear_ready(S) -> None:
    """Forget every ready row (to rebuild the structures after a catch-up)."""
    S[S_CELL_ROOT][:] = -1
    S[S_CELL_RUN][:] = -1
    S[S_CELL_COUNT][:] = 0
    S[S_TREAP_ROOT][:] = -1
    ordered_clear(S[S_COUNT])
    S[S_GROUP_COUNT][:] = 0
    S[S_COUNT][C_READY] = 0


@kernel_jit()
def _interval(W, g: int, t: int) -> int:
    """Return the index of group ``g``'s last window interval opening at or before
    ``t`` (below ``W_WIN_LO[g]`` when none did)."""
    lo, hi = W[W_WIN_LO][g], W[W_WIN_HI][g]
    return lo + np.searchsorted(W[W_WIN_START][lo:hi], t, side="right") - 1


@kernel_jit()
def _window_open(W, g: int, t: int) -> bool:
    lo = W[W_WIN_LO][g]
    if lo < 0:
        return True
    j = _interval(W, g, t)
    return j >= lo and t < W[W_WIN_END][j]


@kernel_jit()
def window_change(W, g: int, t: int) -> int:
    """Return the first instant after ``t`` at which group ``g``'s window opens or
    closes (NEVER: it does not)."""
    lo, hi = W[W_WIN_LO][g], W[W_WIN_HI][g]
    if lo < 0:
        return NEVER
    j = _interval(W, g, t)
    if j >= lo and t < W[W_WIN_END][j]:
        return W[W_WIN_END][j]
    return W[W_WIN_START][j + 1] if j + 1 < hi else NEVER


@kernel_jit()
def open_groups(W, S, now: int) -> int:
    """Mark which groups a poll at ``now`` may send (``S_GROUP_OPEN``); return how
    many ready rows those groups hold."""
    counts, is_open = S[S_GROUP_COUNT], S[S_GROUP_OPEN]
    total = 0
    for g in range(counts.shape[0]):
        is_open[g] = _window_open(W, g, now)
        if is_open[g]:
            total += counts[g]
    return total


@kernel_jit(inline="always")
def device_first(S, d: int, slots: int) -> int:
    """Return the open cell holding device ``d``'s oldest selectable row (-1: none).

    ``slots`` is the number of device slots per group (devices + 1).
    """
    R, is_open = S[S_ROWS], S[S_GROUP_OPEN]
    best, oldest = -1, -1
    for g in range(is_open.shape[0]):
        if not is_open[g]:
            continue
        c = g * slots + d
        i = cell_min(S, c)
        if i >= 0 and (oldest < 0 or before(R, i, oldest)):
            best, oldest = c, i
    return best


@kernel_jit()
def rank_rows(S, now: int, selectable: int, batch: int) -> None:
    """Keep the ranks while ``selectable`` rows exceed half a ``batch`` (counting
    every ready row when they first do), drop them below."""
    C, links, roots = S[S_COUNT], S[S_LINKS], S[S_TREAP_ROOT]
    if C[C_RANKED] and 2 * selectable < batch:
        C[C_RANKED] = 0
        roots[:] = -1
        ordered_clear(C)
    elif not C[C_RANKED] and selectable > batch:
        C[C_RANKED] = 1
        n = ready_rows(S, now)
        tmp = S[S_TMP]
        for j in range(n):
            _rank_insert(S, np.int64(links[tmp[j]]["group"]), tmp[j])
