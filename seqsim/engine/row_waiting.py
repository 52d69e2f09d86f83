"""The per-row processor's book of its active rows, kept from its own statements.

Between two polls that run, nothing writes to the database; during a poll
only the processor does, and each of its statements says what it changed
(the id an insert returns and the due time it bound, a claim that took, a
completion, a failed send's row released or failed). The book applies those
changes to the rows read at the start, so the bookkeeping (the timeline's
backlog and active count, when the next poll could do anything) costs no
query. A change the book cannot
follow (a catch-up, rows created at enrolment, a claim that did not take)
makes it read every active row again at the next snapshot.
"""

from __future__ import annotations

from seqsim.engine.db import Connection
from seqsim.engine.row_queries import Waiting, WaitingRows, active_rows

__all__ = ["WaitingBook"]


class WaitingBook:
    """The active rows of a per-row run, waiting (unclaimed) or claimed, by id.

    ``active_sequences``: the ids of the active sequences (a poll selects only
    their rows); ``zones``: whether rows carry their lead's time zone (only
    send windows need it). With ``follows`` False (a processor whose
    statements it cannot follow) every snapshot reads the rows.
    """

    def __init__(self, active_sequences: set[int], zones: bool, *, follows: bool = True) -> None:
        self._active_sequences = active_sequences
        self.zones = zones
        self._follows = follows
        self._waiting: dict[int, Waiting] = {}
        self._claimed: dict[int, Waiting] = {}
        self._unread = False  # something changed rows the book did not see
        self._snapshot: WaitingRows | None = None

    def snapshot(self, con: Connection) -> WaitingRows:
        """Return the rows a poll could pick now and the active count (read first
        when the book lost track)."""
        if self._unread or not self._follows:
            self._waiting, self._claimed = active_rows(con, self.zones)
            self._unread, self._snapshot = False, None
        if self._snapshot is None:
            waiting = [r for r in self._waiting.values() if r[1] in self._active_sequences]
            self._snapshot = WaitingRows.of(len(self._waiting) + len(self._claimed), waiting)
        return self._snapshot

    def lose_track(self) -> None:
        """Read every active row at the next snapshot."""
        self._unread, self._snapshot = True, None

    def added(self, row_id: int, row: Waiting) -> None:
        """Note a new active, unclaimed row."""
        self._waiting[row_id] = row
        self._snapshot = None

    def claimed(self, row_id: int) -> None:
        """Note that a waiting row was claimed."""
        self._move(row_id, self._waiting, self._claimed)

    def released(self, row_id: int) -> None:
        """Note that a claimed row waits again (due as before)."""
        self._move(row_id, self._claimed, self._waiting)

    def ended(self, row_id: int) -> Waiting | None:
        """Note that a row is no longer active; return what the book had of it."""
        self._snapshot = None
        row = self._claimed.pop(row_id, None) or self._waiting.pop(row_id, None)
        if row is None:
            self.lose_track()
        return row

    def _move(self, row_id: int, source: dict[int, Waiting], target: dict[int, Waiting]) -> None:
        self._snapshot = None
        row = source.pop(row_id, None)
        if row is None:
            self.lose_track()
        else:
            target[row_id] = row
