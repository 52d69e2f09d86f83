"""The compiled engine's catch-up at the first poll after an outage.

Same policies as every engine (``catch_up`` in :mod:`seqsim.model.policy`):
``burst`` sends the backlog as capacity allows (nothing to do here);
``skip_stale`` completes, unsent, every row more than ``stale_after``
overdue (again and again, since an anchored schedule's next row can be stale
already); ``reschedule`` moves every waiting row of each overdue (contact,
sequence) so that its earliest overdue row is due now
(:func:`~seqsim.engine.rules.reschedule_shift`).
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_advance import complete
from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    CATCH_UP,
    DB_OFFSET,
    NONE,
    S_LINKS,
    S_PAIR_FIRST,
    S_ROWS,
    S_TMP,
    SKIPPED,
    STALE_AFTER,
    W_STAT,
)
from seqsim.engine.kernel_order import skew_merge
from seqsim.engine.kernel_ready import (
    clear_ready,
    make_due,
    promote,
    ready_rows,
    take_pending,
)
from seqsim.engine.rules import RESCHEDULE, SKIP_STALE, reschedule_shift, stale_cutoff

__all__ = ["catch_up"]


@kernel_jit()
def _split_stale(W, S, now: int, cutoff: int) -> int:
    """Rebuild the waiting rows without those due before ``cutoff``; return the
    root of a skew heap holding the stale ones, in production's order (-1: none).

    Pending rows too: with the database clock behind, a row overdue on the
    application's clock may not be selectable yet (without, none is stale)."""
    R, tmp, links = S[S_ROWS], S[S_TMP], S[S_LINKS]
    n = ready_rows(S, now + W[W_STAT][DB_OFFSET])
    clear_ready(S)
    if W[W_STAT][DB_OFFSET] < 0:
        n = take_pending(S, n)
    stale = -1
    for j in range(n):
        i = tmp[j]
        if R[i]["due"] < cutoff:
            links[i]["left"] = links[i]["right"] = -1
            stale = skew_merge(R, links, stale, i)
        else:
            make_due(W, S, i, now)
    return stale


@kernel_jit()
def _skip_stale(W, S, now: int) -> None:
    R, links = S[S_ROWS], S[S_LINKS]
    cutoff = stale_cutoff(now, W[W_STAT][STALE_AFTER])
    while True:
        stale = _split_stale(W, S, now, cutoff)
        if stale < 0:
            return
        while stale >= 0:
            i = stale
            stale = skew_merge(R, links, np.int64(links[i]["left"]), np.int64(links[i]["right"]))
            R[i]["error"] = SKIPPED
            complete(W, S, i, now, now)


@kernel_jit()
def _reschedule(W, S, now: int) -> None:
    R, tmp, first = S[S_ROWS], S[S_TMP], S[S_PAIR_FIRST]
    n = ready_rows(S, now + W[W_STAT][DB_OFFSET])
    clear_ready(S)
    n = take_pending(S, n)
    # Every waiting row, pending ones too: with the database clock behind, a row
    # overdue on the application's clock may not be selectable yet.
    for j in range(n):
        i = tmp[j]
        lead, seq = R[i]["lead"], R[i]["seq"]
        if R[i]["due"] < now and (first[lead, seq] == NONE or R[i]["due"] < first[lead, seq]):
            first[lead, seq] = R[i]["due"]
    for j in range(n):
        i = tmp[j]
        moved_from = first[R[i]["lead"], R[i]["seq"]]
        if moved_from != NONE:
            R[i]["due"] += reschedule_shift(now, moved_from)
    for j in range(n):
        first[R[tmp[j]]["lead"], R[tmp[j]]["seq"]] = NONE
    for j in range(n):
        make_due(W, S, tmp[j], now)


@kernel_jit()
def catch_up(W, S, now: int) -> None:
    """Apply the scenario's catch-up policy at the first poll after an outage."""
    promote(W, S, now)
    policy = W[W_STAT][CATCH_UP]
    if policy == SKIP_STALE:
        _skip_stale(W, S, now)
    elif policy == RESCHEDULE:
        _reschedule(W, S, now)
