"""The compiled engine under the one-message faults of ``[faults]``.

The faults :class:`seqsim.engine.row_faults.FaultyRowProcessor` runs in SQL,
on the kernel's arrays, with the same draws in the same order (its module
doc is the reference): a crash between the two statements of an advance
(rolled back and retried at the next poll when ``atomic_advance``, else the
contact is lost), a claim left stuck until a poll releases claims older than
``claim_timeout`` (retry_count + 1), devices offline, and the database clock
offset from the application's. A poll with faults (``FAULTS`` set, see
:func:`seqsim.engine.kernel.run_polls`) runs, after enrolment, the retries
and then the release of stale claims, as the row engine's poller does.

Draws: the fault streams' uniforms are drawn ahead into ``S_FAULT_U``, one
row per stream, each read in order (:func:`strikes`); a stream is read only
when its probability is above 0, as the row engine draws.

A released claim can leave a row waiting while its message is still on the
device (``progress_on = "delivery"``): when that message is delivered the row
is taken out of the waiting rows first (:func:`withdraw`), and a later
duplicate's delivery finds the row completed and does nothing.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_advance import complete, fail_send
from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    ACTIVE,
    ATOMIC,
    C_ACTIVE,
    C_CLAIMS,
    C_DONE,
    C_DRAWN,
    C_FLIGHT,
    C_MSGS,
    C_NEED,
    C_PENDING,
    C_PROMOTED,
    C_RELEASED,
    C_RETRY,
    C_ROWS,
    CLAIM_AT,
    CLAIM_KIND,
    CLAIM_RELEASED,
    CLAIM_RETRY,
    CLAIM_ROW,
    CLAIM_TIMEOUT,
    COMPLETED,
    CRASH,
    DB_OFFSET,
    FAULTS,
    NEEDS_DRAWS,
    NEEDS_MESSAGES,
    NEVER,
    NONE,
    RELEASED_CLAIM,
    S_BACKLOG,
    S_CLAIMS,
    S_COUNT,
    S_FAULT_U,
    S_LINKS,
    S_PENDING,
    S_ROWS,
    S_TMP,
    STUCK,
    STUCK_CLAIM,
    T_NEXT,
    W_FAILURE,
    W_OFFLINE,
    W_STAT,
    W_STEPS,
)
from seqsim.engine.kernel_order import before
from seqsim.engine.kernel_ready import (
    backlog_add,
    cell_min,
    cell_pop,
    cell_push,
    device_first,
    due_poll,
    make_due,
    take,
)

__all__ = ["advance_row", "backlog_rebuild", "fail_row", "fault_event", "fault_room",
           "front_cell", "log_claim", "next_offline", "offline_until", "retry_and_release",
           "strikes", "withdraw"]


@kernel_jit()
def strikes(chances, uniforms, counts, which: int) -> bool:
    """Return whether fault ``which`` (``CRASH`` or ``STUCK``) strikes now: the next
    uniform of its stream below its probability (no draw when that is 0).
    ``chances``, ``uniforms``, ``counts``: ``W[W_FAILURE]``, ``S[S_FAULT_U]``,
    ``S[S_COUNT]`` (helpers take arrays: see :func:`~seqsim.engine.kernel_ready.due_poll`)."""
    p = chances[1 + which]
    if p <= 0:
        return False
    u = uniforms[which, counts[C_DRAWN + which]]
    counts[C_DRAWN + which] += 1
    return u < p


@kernel_jit()
def _unlink_pending(stat, counts, R, links, heads, i: int) -> bool:
    """Take row ``i`` out of its pending bucket (``heads``: ``S[S_PENDING]``); return
    False when it is not in one."""
    b = due_poll(stat, R[i]["due"] - stat[DB_OFFSET])
    if b < counts[C_PROMOTED]:
        return False  # that bucket was promoted: the row is ready
    prev, j = -1, heads[b]
    while j >= 0 and j != i:
        prev, j = j, links[j]["left"]
    if j < 0:
        return False  # made ready at once (due by the poll that made it due)
    if prev < 0:
        heads[b] = links[i]["left"]
    else:
        links[prev]["left"] = links[i]["left"]
    counts[C_PENDING] -= 1
    return True


@kernel_jit()
def withdraw(W, S, i: int) -> None:
    """Take waiting row ``i`` (active, unclaimed) out of the pending or ready rows,
    before it is completed or failed by the delivery of a message it was released
    with. Rare: the ready row's cell heap is popped down to it and rebuilt."""
    stat, R, links = W[W_STAT], S[S_ROWS], S[S_LINKS]
    if stat[DB_OFFSET] != 0:
        backlog_add(stat, S[S_BACKLOG], R[i]["due"], -1)
    if _unlink_pending(stat, S[S_COUNT], R, links, S[S_PENDING], i):
        return
    tmp = S[S_TMP]
    c = links[i]["cell"]
    n = 0
    while True:
        j = cell_pop(S, c)
        if j == i:
            break
        tmp[n] = j
        n += 1
    for q in range(n):
        cell_push(S, c, tmp[q])
    take(S, i)


@kernel_jit(inline="always")
def advance_row(W, S, i: int, t: int, now: int) -> None:
    """Advance the contact of row ``i`` whose message was queued or sent at ``t``
    (``now``: the poll's instant): :func:`~seqsim.engine.kernel_advance.complete`,
    unless a crash strikes between its two statements (one draw per advance)."""
    stat, R, C = W[W_STAT], S[S_ROWS], S[S_COUNT]
    if stat[FAULTS] == 0:
        complete(W, S, i, t, now)
        return
    crash = strikes(W[W_FAILURE], S[S_FAULT_U], C, CRASH)
    if R[i]["status"] != ACTIVE:
        return  # a duplicate message of a row already advanced
    if crash and stat[ATOMIC] != 0:
        S[S_CLAIMS][C[C_RETRY], CLAIM_RETRY] = i  # rolled back: as it was until the retry
        C[C_RETRY] += 1
        return
    if R[i]["claimed_at"] == NONE:
        withdraw(W, S, i)
    if crash:
        # The UPDATE committed, the INSERT never ran: the contact stops here.
        R[i]["status"] = COMPLETED
        R[i]["completed_at"] = t
        R[i]["claimed_at"] = NONE
        C[C_ACTIVE] -= 1
        if W[W_STEPS][T_NEXT, R[i]["step"]] < 0:
            # Its last step's row is completed, so the contact finished (what is
            # lost is the trigger's removal and any chained entry).
            C[C_DONE] += 1
        return
    complete(W, S, i, t, now)


@kernel_jit(inline="always")
def fail_row(W, S, i: int, t: int, now: int) -> None:
    """Record the failed send of row ``i``'s message at ``t``: as
    :func:`~seqsim.engine.kernel_advance.fail_send`, but a row no longer active
    stays as it is, and a waiting one leaves the waiting rows first."""
    R = S[S_ROWS]
    if W[W_STAT][FAULTS] != 0:
        if R[i]["status"] != ACTIVE:
            return
        if R[i]["claimed_at"] == NONE:
            withdraw(W, S, i)
    fail_send(W, S, i, t, now)


@kernel_jit(inline="always")
def _holds(L, R, offset: int, p: int) -> bool:
    """Return whether logged claim ``p`` (of ``L``, ``S[S_CLAIMS]``) still holds its
    row: active, and claimed at that instant (``offset``: the database clock's)."""
    i = L[p, CLAIM_ROW]
    return R[i]["status"] == ACTIVE and R[i]["claimed_at"] == L[p, CLAIM_AT] + offset


@kernel_jit()
def retry_and_release(W, S, now: int) -> None:
    """The poller's steps before its SELECT at the poll ``now``: retry the advances
    a crash rolled back (a fresh worker runs each whole, no draw, if its row is
    still active), then release every claim older than ``claim_timeout``
    (retry_count + 1; the row waits again, due as it was). Both sides of the
    release's comparison are on the database clock, so the offset cancels."""
    stat, R, C, L = W[W_STAT], S[S_ROWS], S[S_COUNT], S[S_CLAIMS]
    for j in range(C[C_RETRY]):
        i = L[j, CLAIM_RETRY]
        if R[i]["status"] != ACTIVE:
            continue
        if R[i]["claimed_at"] == NONE:
            withdraw(W, S, i)
        complete(W, S, i, now, now)
    C[C_RETRY] = 0
    cutoff = now - stat[CLAIM_TIMEOUT]
    p = C[C_RELEASED]
    while p < C[C_CLAIMS] and L[p, CLAIM_AT] < cutoff:
        if _holds(L, R, stat[DB_OFFSET], p):
            i = L[p, CLAIM_ROW]
            if L[p, CLAIM_KIND] == STUCK_CLAIM:
                L[p, CLAIM_KIND], L[p, CLAIM_RELEASED] = RELEASED_CLAIM, now
            R[i]["claimed_at"] = NONE
            R[i]["retry"] += 1
            make_due(W, S, i, now)
        p += 1
    C[C_RELEASED] = p


@kernel_jit()
def log_claim(claims, counts, i: int, now: int, stuck: bool) -> None:
    """Log the claim of row ``i`` at ``now`` in ``claims`` (``S[S_CLAIMS]``; claims
    are logged in time order); ``stuck``: its worker died holding it (CLAIM_KIND is
    then STUCK_CLAIM, and RELEASED_CLAIM with the release instant in CLAIM_RELEASED
    once a poll releases it: the lateness attribution's held claims)."""
    claims[counts[C_CLAIMS], CLAIM_ROW] = i
    claims[counts[C_CLAIMS], CLAIM_AT] = now
    claims[counts[C_CLAIMS], CLAIM_KIND] = STUCK_CLAIM if stuck else 0
    counts[C_CLAIMS] += 1


@kernel_jit()
def fault_event(W, S, now: int) -> int:
    """Return the first instant after ``now`` at which a fault needs a poll (NEVER:
    none): a held claim's release (forgetting the logged claims that no longer
    hold their row), or the start of an offline window."""
    stat, counts, R, claims = W[W_STAT], S[S_COUNT], S[S_ROWS], S[S_CLAIMS]
    if stat[FAULTS] == 0:
        return NEVER
    p = counts[C_RELEASED]
    while p < counts[C_CLAIMS] and not _holds(claims, R, stat[DB_OFFSET], p):
        p += 1
    counts[C_RELEASED] = p
    release = NEVER if p == counts[C_CLAIMS] else claims[p, CLAIM_AT] + stat[CLAIM_TIMEOUT] + 1
    return min(release, next_offline(W[W_OFFLINE], now))


@kernel_jit()
def next_offline(windows, now: int) -> int:
    """Return the first start of an offline window after ``now`` (NEVER: none);
    ``windows``: ``W[W_OFFLINE]``. A poll runs there even when nothing can be
    queued, because the row engine's record of full devices (the lateness
    attribution's ``device`` cause) changes there."""
    first = NEVER
    for w in range(windows.shape[0]):
        if windows[w, 0] > now:
            first = min(first, windows[w, 0])
    return first


@kernel_jit()
def offline_until(windows, d: int, now: int) -> int:
    """Return when device ``d``'s offline window at ``now`` ends (NONE: online);
    ``windows``: ``W[W_OFFLINE]``."""
    until = NONE
    for w in range(windows.shape[0]):
        if windows[w, 2 + d] and windows[w, 0] <= now < windows[w, 1]:
            until = max(until, windows[w, 1])
    return until


@kernel_jit()
def front_cell(S, room: np.ndarray, slots: int) -> int:
    """Return the open cell holding the oldest selectable row of a device with room
    (-1: none)."""
    R = S[S_ROWS]
    best, oldest = -1, -1
    for d in range(room.shape[0]):
        if room[d] == 0:
            continue
        c = device_first(S, d, slots)
        if c < 0:
            continue
        i = cell_min(S, c)
        if oldest < 0 or before(R, i, oldest):
            best, oldest = c, i
    return best


@kernel_jit()
def fault_room(stat, C, claims, uniforms, batch: int) -> int:
    """Return 0 if a faulty poll that claims at most ``batch`` rows fits in the claim
    log (``S[S_CLAIMS]``, sized as the retry list), and the drawn ``uniforms``, else
    what must grow (the size needed goes into ``C_NEED``; ``C`` is ``S[S_COUNT]``)."""
    need = max(C[C_CLAIMS], C[C_RETRY] + C[C_FLIGHT], C[C_MSGS]) + batch
    if need > claims.shape[0]:
        C[C_NEED] = need
        return NEEDS_MESSAGES
    draws = max(C[C_DRAWN + CRASH] + C[C_FLIGHT], C[C_DRAWN + STUCK]) + batch
    if draws > uniforms.shape[1]:
        C[C_NEED] = draws
        return NEEDS_DRAWS
    return 0


@kernel_jit()
def backlog_rebuild(stat, counts, R, tree) -> None:
    """Recount the backlog's Fenwick ``tree`` from the rows ``R`` (after a catch-up,
    which moves and completes waiting rows wholesale)."""
    if stat[DB_OFFSET] == 0:
        return
    tree[:] = 0
    for i in range(counts[C_ROWS]):
        if R[i]["status"] == ACTIVE and R[i]["claimed_at"] == NONE:
            backlog_add(stat, tree, R[i]["due"], 1)
