"""The send log's schedule columns in two compiled passes (:mod:`seqsim.results.sends`).

A send's ``designed_at`` is its pair's enrolment plus its step's offset in the
sequence; it is ``early`` when it went out before its pair's first successful
send of the previous step plus this step's delay. In NumPy each was a chain
of full-length keys, gathers and temporaries over millions of sends; here a
table indexed by pair holds each enrolment, one indexed by (pair, step) each
first send, and every send is read once more to answer.

Instants are int64 µs with ``NONE`` for NaT.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import column_forms, compiled
from seqsim.engine.kernel_layout import NONE

__all__ = ["HUGE", "MIXED", "compile_send_scan", "enrolments", "send_columns"]

_NEVER = np.iinfo(np.int64).max


@compiled(nogil=True)
def enrolments(pair: np.ndarray, created: np.ndarray, is_entry: np.ndarray,
               n_pairs: int) -> np.ndarray:
    """Return per pair code in ``[0, n_pairs)`` the earliest ``created`` of its
    rows flagged ``is_entry`` (``NONE``: none), NaT creations left out."""
    out = np.full(n_pairs, _NEVER, dtype=np.int64)
    for i in range(pair.shape[0]):
        if is_entry[i] and created[i] != NONE and created[i] < out[pair[i]]:
            out[pair[i]] = created[i]
    for p in range(n_pairs):
        if out[p] == _NEVER:
            out[p] = NONE
    return out


#: Statuses of :func:`send_columns` (bits): a send's step is not of its row's
#: sequence (keys by place in the sequence would mix sequences); a lateness is
#: beyond 2**53 µs (its seconds are left to pandas' rounding).
MIXED, HUGE = 1, 2
_EXACT = 2**53  # below it, seconds + residual / 10**6 is what pandas computes
_US_PER_S, _US_PER_H = 1_000_000, 3_600_000_000


@compiled(nogil=True)
def _first_sends(row: np.ndarray, step: np.ndarray, sent: np.ndarray, sent_at: np.ndarray,
                 row_pair: np.ndarray, row_seq: np.ndarray, plan_seq: np.ndarray,
                 rank: np.ndarray, depth: int, n_pairs: int) -> tuple[np.ndarray, bool]:
    """Return each (pair, step key)'s first successful send (``_NEVER``: none), and
    whether some send's step is not of its row's sequence."""
    firsts = np.full(n_pairs * depth, _NEVER, dtype=np.int64)
    mixed = False
    for m in range(row.shape[0]):
        r, s = row[m], step[m]
        if r < 0 or s < 0:
            continue
        mixed |= plan_seq[s] != row_seq[r]
        if sent[m] and sent_at[m] != NONE:
            key = row_pair[r] * depth + rank[s]
            firsts[key] = min(firsts[key], sent_at[m])
    return firsts, mixed


@compiled(nogil=True)
def send_columns(row: np.ndarray, step: np.ndarray, sent: np.ndarray, sent_at: np.ndarray,
                 due_at: np.ndarray, row_pair: np.ndarray, row_seq: np.ndarray,
                 enrolled: np.ndarray, plan: np.ndarray, rank: np.ndarray, depth: int,
                 keep_designed: bool = True
                 ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(status, designed_at, early, lateness_s, drift_hours)`` of the sends.

    Per send: its row (-1: unknown; ``row_pair``, ``row_seq``: each row's pair
    code and sequence), its step's place in the plan (-1: not a step), whether it
    was ``sent`` successfully, when, and when it was due. ``plan``: per plan step
    its sequence, offset from enrolment, delay and whether it is its sequence's
    first (rows of a 4-column array); ``rank``: its key within a pair, below
    ``depth``. ``enrolled``: per pair, :func:`enrolments`. Times in µs (``NONE``:
    NaT); lateness and drift NaN where NaT. With status :data:`MIXED` the early
    flags are left False: call again with every plan step its own key (``rank``
    0, 1, ... and ``depth`` the plan's length). ``keep_designed`` False: the
    designed instants are not returned (an empty array), only their drift.
    """
    n = row.shape[0]
    firsts, mixed = _first_sends(row, step, sent, sent_at, row_pair, row_seq, plan[:, 0],
                                 rank, depth, enrolled.shape[0])
    mixed &= depth < plan.shape[0]  # keys by plan step never mix sequences
    designed = np.full(n if keep_designed else 0, NONE, dtype=np.int64)
    early = np.zeros(n, dtype=np.bool_)
    lateness = np.full(n, np.nan)
    drift = np.full(n, np.nan)
    status = MIXED if mixed else 0
    for m in range(n):
        if sent_at[m] != NONE and due_at[m] != NONE:
            late = sent_at[m] - due_at[m]
            status |= HUGE if abs(late) > _EXACT else 0
            lateness[m] = late // _US_PER_S + (late % _US_PER_S) / _US_PER_S
        r, s = row[m], step[m]
        if r < 0 or s < 0:
            continue
        p = row_pair[r]
        if enrolled[p] != NONE:
            at = enrolled[p] + plan[s, 1]
            if keep_designed:
                designed[m] = at
            if sent_at[m] != NONE:
                drift[m] = (sent_at[m] - at) / _US_PER_H
        if sent[m] and plan[s, 3] == 0 and not mixed:
            before = firsts[p * depth + rank[s] - 1]  # the previous step's first send
            early[m] = before != _NEVER and sent_at[m] != NONE and sent_at[m] < before + plan[s, 2]
    return status, designed, early, lateness, drift


def compile_send_scan() -> None:
    """Compile these passes (or load them from the cache) on one send."""
    one = np.zeros(1, dtype=np.int64)
    small = np.zeros(1, dtype=np.int32)  # step ids, places and sequence ids are int32
    flag = np.ones(1, dtype=np.bool_)
    for row in (one, small):  # row positions: int32 when found by id, else int64
        send_columns(row, small, flag, one, one, one, small, enrolments(one, one, flag, 1),
                     np.zeros((1, 4), dtype=np.int64), one, 1)
    # The forms the results pass: the tables' columns read-only, times strided.
    two, pair = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int32)
    sent, seq = column_forms(np.ones(2, dtype=np.bool_))[0], column_forms(pair)[0]
    for times in column_forms(two):
        enrolled = enrolments(two, times, np.ones(2, dtype=np.bool_), 1)
        send_columns(pair, pair, sent, times, times, two, seq, enrolled,
                     np.array([[0, 0, 0, 1]], dtype=np.int64), two, 1, False)
