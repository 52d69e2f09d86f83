"""One compiled pass over ``sequence_contacts`` that walks each (contact,
sequence) pair's rows in day order, for the checks (:mod:`seqsim.checks.contacts`).

A pair's rows are checked against its previous row: how it was timed, whether
the two overlapped, and which row is the pair's latest. In NumPy that was a
sort of the whole table by (pair, day) and one random gather per column into
that order (each a full-length temporary). Here each pair keeps only its last
row so far, and the table is read in its own order: an engine's table lists a
pair's rows in day order already (a row is created when the previous one
completes, or all at enrolment in step order), so a row and its previous row
are read as two streams moving forward together.
When a table does not, :func:`scan_pairs` says so and is called again with the
rows' (pair, day) order.

Instants are int64 ticks (one unit for every column) with ``NONE`` (NaT's int64) for NaT; a
comparison with NaT is "different", as in NumPy.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import column_forms, compiled
from seqsim.engine.kernel_layout import NONE

__all__ = ["ALL_AT", "ANCHORED", "EARLY_ENTRY", "FROM_COMPLETED", "MOVES_DUE",
           "NOT_AT_ENROLMENT", "OFF_SCHEDULE", "TIMING", "UNORDERED", "compile_pair_scan",
           "scan_pairs"]

#: ``mode`` bits of :func:`scan_pairs`: due times are checked at all; a row's anchor
#: is the previous row's due time (not its completion); its delay is the previous
#: step's; every row is created at enrolment; the catch-up moved due times (only
#: the creation times are checked).
TIMING, ANCHORED, FROM_COMPLETED, ALL_AT, MOVES_DUE = 1, 2, 4, 8, 16
#: ``flags`` bits: an entry row not due at its creation; a later row not due at its
#: anchor + delay (or without a completed previous row, one-by-one); a row not
#: created with its pair's entry row (``all_at_enrollment``).
EARLY_ENTRY, OFF_SCHEDULE, NOT_AT_ENROLMENT = 1, 2, 4
#: What :func:`scan_pairs` returns as its status when, visiting the table in its
#: own order, a pair's rows were not in day order.
UNORDERED = 1


@compiled(inline="always")
def _differ(a: int, b: int) -> bool:
    return a == NONE or b == NONE or a != b


@compiled(inline="always")
def _flags_of(first: bool, created: int, entry: int, due: int, is_entry: bool, anchor: int,
              delay: int, previous_done: int, all_at: bool, moves: bool) -> int:
    """Return the timing flags of a row created at ``created``, due at ``due``,
    whose pair's first row was created at ``entry`` (``first``: it is that row).
    ``anchor`` + ``delay``: when its previous row says it is due;
    ``previous_done``: when its previous row completed. (Scalars only: array
    arguments would cost a reference count each, per row.)"""
    flags = 0
    if all_at and not first and _differ(created, entry):
        flags = NOT_AT_ENROLMENT
    if moves:
        return flags
    if is_entry:
        if _differ(due, created):
            flags |= EARLY_ENTRY
    elif (first or anchor == NONE or _differ(due, anchor + delay)
          or (not all_at and previous_done == NONE)):  # one-by-one: created at a completion
        flags |= OFF_SCHEDULE
    return flags


@compiled(nogil=True)
def scan_pairs(order: np.ndarray, pairs: np.ndarray, n_pairs: int, step: np.ndarray,
               day: np.ndarray, created: np.ndarray, completed: np.ndarray,
               failed: np.ndarray, due: np.ndarray, step_entry: np.ndarray,
               step_delay: np.ndarray, mode: int, previous: np.ndarray
               ) -> tuple[int, np.ndarray, np.ndarray, bool]:
    """Walk every pair's rows in day order; return ``(status, flags, last, overlap)``.

    ``order``: the rows in (pair, day) order, or empty to visit them in table
    order (then a pair whose days go down stops the walk: ``status`` is
    :data:`UNORDERED`, else 0). ``pairs``: each row's pair code in ``[0,
    n_pairs)``; ``step``: its step's place in ``step_entry`` / ``step_delay``
    (delays in ticks), -1 for a row left out; ``day``: its step's day number.
    ``previous``: filled with each row's previous row in its pair (-1: the
    pair's first), when it is as long as ``pairs`` (empty: not wanted).

    Returns per row its ``flags`` (the bits above, 0 unless ``mode & TIMING``);
    per pair code its ``last`` row (-1: none); and ``overlap``: some row was
    created before its previous row ended (or while it had not).
    """
    n = pairs.shape[0]
    flags = np.zeros(n, dtype=np.uint8)
    # Per pair only its last row so far: the rows' own columns say the rest (a
    # table in day order reads them as a second stream, not a random gather).
    last = np.full(n_pairs, -1, dtype=np.int64)
    entry = np.empty(n_pairs if mode & ALL_AT else 0, dtype=np.int64)
    keep = previous.shape[0] == n
    overlap = False
    visit = order.shape[0] > 0
    timing, anchored, from_completed = mode & TIMING != 0, mode & ANCHORED != 0, \
        mode & FROM_COMPLETED != 0
    all_at, moves = mode & ALL_AT != 0, mode & MOVES_DUE != 0
    for k in range(order.shape[0] if visit else n):
        i = order[k] if visit else k
        if step[i] < 0:
            continue
        p = pairs[i]
        j = last[p]
        if j >= 0:
            if not visit and day[i] < day[j]:
                return UNORDERED, flags, last, overlap
            end = completed[j] if completed[j] != NONE else failed[j]
            if end == NONE or (created[i] != NONE and created[i] < end):
                overlap = True
        elif all_at:
            entry[p] = created[i]
        if keep:
            previous[i] = j
        if timing:
            before = max(j, 0)  # a first row's anchor and delay are not read
            flags[i] = _flags_of(
                j < 0, created[i], entry[p] if all_at else NONE, due[i], step_entry[step[i]],
                due[before] if anchored else completed[before],
                step_delay[step[before]] if from_completed else step_delay[step[i]],
                completed[before], all_at, moves)
        last[p] = i
    return 0, flags, last, overlap


def compile_pair_scan() -> None:
    """Compile :func:`scan_pairs` (or load it from the cache) on one row."""
    one = np.zeros(1, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    for small in (one, np.zeros(1, dtype=np.int32)):  # steps and days: int32 when they fit
        scan_pairs(none, one, 1, small, small, one, one, one, one, np.zeros(1, dtype=np.bool_),
                   one, TIMING, none)
    # The forms the results pass: the tables' columns read-only, times strided.
    two, small = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int32)
    entry = column_forms(np.zeros(2, dtype=np.bool_))[0]
    for times in column_forms(two):
        scan_pairs(none, two, 1, small, small, times, times, times, times, entry, one, TIMING,
                   none)
