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
from numba import njit

from seqsim.engine.kernel_layout import NONE

__all__ = ["compile_send_scan", "enrolments", "schedule_columns"]

_NEVER = np.iinfo(np.int64).max


@njit(cache=True)
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


@njit(cache=True)
def schedule_columns(pair: np.ndarray, step: np.ndarray, sent: np.ndarray,
                     sent_at: np.ndarray, enrolled: np.ndarray, offset: np.ndarray,
                     delay: np.ndarray, first: np.ndarray, rank: np.ndarray, depth: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Return each send's ``designed_at`` (``NONE``: unknown) and ``early``.

    Per send: its pair code (-1: unknown), its step's place in the plan (-1:
    not a step; ``offset``, ``delay``, ``first``, ``rank`` are per plan step:
    its offset from enrolment, its delay, whether it is its sequence's first,
    its place in its sequence, below ``depth``), whether it was ``sent``
    successfully and when. ``enrolled``: per pair, :func:`enrolments`.
    """
    n = pair.shape[0]
    firsts = np.full(enrolled.shape[0] * depth, _NEVER, dtype=np.int64)
    for m in range(n):
        if sent[m] and pair[m] >= 0 and step[m] >= 0 and sent_at[m] != NONE:
            key = pair[m] * depth + rank[step[m]]
            firsts[key] = min(firsts[key], sent_at[m])
    designed = np.empty(n, dtype=np.int64)
    early = np.zeros(n, dtype=np.bool_)
    for m in range(n):
        p, s = pair[m], step[m]
        if p < 0 or s < 0:
            designed[m] = NONE
            continue
        designed[m] = NONE if enrolled[p] == NONE else enrolled[p] + offset[s]
        if sent[m] and not first[s]:
            before = firsts[p * depth + rank[s] - 1]  # the previous step's first send
            early[m] = before != _NEVER and sent_at[m] != NONE and sent_at[m] < before + delay[s]
    return designed, early


def compile_send_scan() -> None:
    """Compile these passes (or load them from the cache) on one send."""
    one = np.zeros(1, dtype=np.int64)
    flag = np.ones(1, dtype=np.bool_)
    schedule_columns(one, one, flag, one, enrolments(one, one, flag, 1), one, one, flag,
                     one, 1)
