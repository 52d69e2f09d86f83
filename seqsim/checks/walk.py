"""Each (contact, sequence) pair's rows in day order, walked once
(:func:`seqsim.engine.pair_scan.scan_pairs`): how each row was timed against
its previous row, whether two of a pair's rows overlapped, and each pair's
latest row. :mod:`seqsim.checks.contacts` turns what it finds into problems.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.engine.pair_scan import (
    ALL_AT,
    ANCHORED,
    FROM_COMPLETED,
    MOVES_DUE,
    TIMING,
    UNORDERED,
    scan_pairs,
)
from seqsim.engine.rules import COMPLETED_STEP, Schedule
from seqsim.engine.tallies import dense_codes, group_order

__all__ = ["PairWalk"]

#: The time columns the walk reads.
TIMES = ("created_at", "completed_at", "failed_at", "next_trigger_time")


def _ticks(rows: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.dtype]:
    """Return :data:`TIMES` of ``rows`` as datetime64 of one unit (ns when any
    column has it, else µs: no instant loses precision), and that dtype."""
    values = {name: rows[name].to_numpy() for name in TIMES}
    fine = any(v.dtype.kind == "M" and np.datetime_data(v.dtype)[0] == "ns"
               for v in values.values())
    unit = np.dtype("datetime64[ns]" if fine else "datetime64[us]")
    return {name: v.astype(unit, copy=False) for name, v in values.items()}, unit


def _narrow(values: np.ndarray) -> np.ndarray:
    """Return integers as int32 when they fit (steps and their days do: half the
    memory of a whole-table column), else as int64."""
    if values.dtype == np.int32:
        return values
    if values.dtype.kind not in "iu":
        return values.astype(np.int64)
    if len(values) and (values.min() < -2**31 or values.max() >= 2**31):
        return values.astype(np.int64)
    return values.astype(np.int32)


def _mode(schedule: Schedule | None) -> int:
    if schedule is None:
        return 0
    mode = TIMING
    if schedule.anchored:
        mode |= ANCHORED
    if schedule.delay_from == COMPLETED_STEP:
        mode |= FROM_COMPLETED
    if schedule.all_at_enrollment:
        mode |= ALL_AT
    if schedule.moves_due_times:
        mode |= MOVES_DUE
    return mode


class PairWalk:
    """What one walk over ``rows`` found (``schedule``: the timing to check, None
    for none).

    ``flags``: each row's :mod:`seqsim.engine.pair_scan` timing bits;
    ``overlap``: some pair's rows overlapped in time; ``last``: each pair's
    latest row, in pair code order.
    """

    def __init__(self, rows: pd.DataFrame, steps: pd.DataFrame, step: np.ndarray,
                 pairs: np.ndarray, schedule: Schedule | None) -> None:
        self.times, unit = _ticks(rows)
        hour = np.timedelta64(1, "h").astype(unit.str.replace("M", "m")).astype(np.int64)
        self.day = _narrow(steps["day_number"].to_numpy())[step]
        self.pairs = pairs
        codes, n_codes = dense_codes(pairs)
        delays = steps["trigger_delay_hours"].to_numpy(np.int64) * hour
        entry = steps["is_entry_point"].to_numpy(dtype=bool)
        view = {name: v.view(np.int64) for name, v in self.times.items()}
        self._args = (codes, n_codes, _narrow(step), self.day,
                      view["created_at"], view["completed_at"], view["failed_at"],
                      view["next_trigger_time"], entry, delays, _mode(schedule))
        self._order = np.zeros(0, dtype=np.int64)
        status, self.flags, last, self.overlap = scan_pairs(self._order, *self._args,
                                                            self._order)
        if status == UNORDERED:  # a pair's rows are not in day order in the table
            self._order = group_order(codes, n_codes, self.day)
            _, self.flags, last, self.overlap = scan_pairs(self._order, *self._args,
                                                           np.zeros(0, dtype=np.int64))
        self.last = last[last >= 0]  # each pair's latest row, by pair code
        self._previous: np.ndarray | None = None

    def flagged(self, bit: int) -> np.ndarray:
        """Return the rows with timing flag ``bit``, in (pair, day) order."""
        rows = np.flatnonzero(self.flags & bit)
        return rows[np.lexsort((self.day[rows], self.pairs[rows]))]

    def anchor(self, rows: np.ndarray, schedule: Schedule) -> np.ndarray:
        """Return the instant ``rows``' due times count from (NaT for a pair's first)."""
        name = "next_trigger_time" if schedule.anchored else "completed_at"
        return self._of_previous(rows, name)

    def entry_created(self, rows: np.ndarray) -> np.ndarray:
        """Return when each of ``rows``' pair's first row was created."""
        previous = self.previous()
        first = rows.copy()
        while (previous[first] >= 0).any():
            first = np.where(previous[first] >= 0, previous[first], first)
        return self.times["created_at"][first]

    def previous(self) -> np.ndarray:
        """Return each row's previous row in its pair (-1: none), walking again
        the first time it is asked (only a broken run's examples need it)."""
        if self._previous is None:
            self._previous = np.full(len(self.day), -1, dtype=np.int64)
            scan_pairs(self._order, *self._args, self._previous)
        return self._previous

    def _of_previous(self, rows: np.ndarray, name: str) -> np.ndarray:
        before = self.previous()[rows]
        values = self.times[name][np.maximum(before, 0)]
        values[before < 0] = np.datetime64("NaT")
        return values
