"""The per-row engine's bookkeeping queries, and the catch-up statements after an outage.

What the processor asks between polls (when the next row falls due, how many
wait) and what the catch-up policy does to overdue rows, as literal SQL.
The polls between two that run are answered from a snapshot of the waiting
rows (:class:`WaitingRows`): nothing writes to the database between them. The
processor's book (:mod:`seqsim.engine.row_waiting`) keeps the snapshot from
its own statements, and reads the rows (:func:`active_rows`) only when it
cannot follow them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from operator import itemgetter

import numpy as np

from seqsim.engine.db import Connection, bound_now, execute, transaction
from seqsim.engine.row_send import DUE_ORDER
from seqsim.engine.rules import SendWindows

__all__ = [
    "Waiting",
    "WaitingRows",
    "active_rows",
    "overdue_rows",
    "reschedule_overdue",
]


def overdue_rows(con: Connection, before: datetime) -> list[int]:
    """Return the ids of the waiting rows due before ``before``, in processing order.

    Waiting: active, unclaimed, of an active sequence (what a poll could pick).
    """
    return [
        r[0]
        for r in execute(con,
            """
            SELECT sc.id
            FROM sequence_contacts sc JOIN sequences s ON s.id = sc.sequence_id
            WHERE sc.status = 'active' AND sc.next_trigger_time < ? AND s.is_active
              AND sc.processing_device_id IS NULL
            """
            + DUE_ORDER,
            [before],
        ).fetchall()
    ]


def reschedule_overdue(con: Connection, *, now: datetime | None = None) -> int:
    """Restart overdue schedules from ``now`` (the ``reschedule`` catch-up).

    For every (contact, sequence) with a waiting row due before ``now``, all
    its waiting rows move by the same amount, so that the earliest is due
    ``now`` and the spacing of the rest is kept. Rows being sent are left alone.

    Returns:
        The number of rows moved.
    """
    at = bound_now(now)
    with transaction(con):
        return execute(con,
            """
            UPDATE sequence_contacts AS sc
            SET next_trigger_time = sc.next_trigger_time + (?::TIMESTAMP - o.first_due)
            FROM (
                SELECT c.sequence_id, c.contact_phone, min(c.next_trigger_time) AS first_due
                FROM sequence_contacts c JOIN sequences s ON s.id = c.sequence_id
                WHERE c.status = 'active' AND s.is_active AND c.processing_device_id IS NULL
                GROUP BY c.sequence_id, c.contact_phone
                HAVING min(c.next_trigger_time) < ?
            ) AS o
            WHERE sc.sequence_id = o.sequence_id AND sc.contact_phone = o.contact_phone
              AND sc.status = 'active' AND sc.processing_device_id IS NULL
            """,
            [at, at],
        ).fetchone()[0]


#: An active row as the bookkeeping keeps it: due time (microseconds since 1970),
#: sequence id, lead time zone ("" when no send window needs it), assigned device.
Waiting = tuple[int, int, str, str | None]


def active_rows(con: Connection, zones: bool) -> tuple[dict[int, Waiting], dict[int, Waiting]]:
    """Return the active rows by id, read in one statement: the unclaimed ones and
    the claimed ones.

    ``zones``: whether to read each row's lead time zone (only send windows
    need it; without, every zone is ``""``). Without it the statement reads one
    table, and plans in a fraction of the join's time.
    """
    zone = "l.timezone" if zones else "''"
    join = "LEFT JOIN leads l ON l.phone = sc.contact_phone" if zones else ""
    rows = execute(con,
        f"""
        SELECT sc.id, epoch_us(sc.next_trigger_time), sc.sequence_id, {zone},
               sc.assigned_device_id, sc.processing_device_id IS NULL
        FROM sequence_contacts sc {join}
        WHERE sc.status = 'active'
        """
    ).fetchall()
    unclaimed: dict[int, Waiting] = {}
    claimed: dict[int, Waiting] = {}
    for row_id, due, seq_id, zone_name, device, free in rows:
        (unclaimed if free else claimed)[row_id] = (due, seq_id, zone_name, device)
    return unclaimed, claimed


class WaitingRows:
    """The rows a poll could pick (active, unclaimed, of an active sequence) and the
    number of active rows after a poll, as one statement reads them
    (:meth:`read`) or as the processor's bookkeeping kept them (:meth:`of`).

    ``due`` holds the due times in microseconds since 1970, oldest first, with
    each row's ``sequences``, lead ``zones`` and assigned ``devices`` beside it.
    Until the next poll that runs writes, :meth:`backlog` at any instant is the
    number of those rows due then, and :meth:`selectable` the number of rows
    :func:`seqsim.engine.row_send.due_rows` would find before its ``LIMIT``.
    """

    def __init__(self, active: int, due: np.ndarray, sequences: list[int], zones: list[str],
                 devices: list[str | None]) -> None:
        self.active = active
        self.due = due
        self.sequences = sequences
        self.zones = zones
        self.devices = devices
        self._by_window: dict[tuple[int, str], np.ndarray] | None = None

    @classmethod
    def of(cls, active: int, rows: Iterable[Waiting]) -> WaitingRows:
        """Return the snapshot of ``active`` active rows, of which ``rows`` wait."""
        ordered = sorted(rows, key=itemgetter(0))
        return cls(active, np.fromiter((r[0] for r in ordered), dtype=np.int64,
                                       count=len(ordered)),
                   [r[1] for r in ordered], [r[2] for r in ordered], [r[3] for r in ordered])

    @classmethod
    def read(cls, con: Connection, active_sequences: set[int], zones: bool) -> WaitingRows:
        """Return the waiting rows and the active count, read in one statement
        (:func:`active_rows`)."""
        unclaimed, claimed = active_rows(con, zones)
        waiting = [r for r in unclaimed.values() if r[1] in active_sequences]
        return cls.of(len(unclaimed) + len(claimed), waiting)

    def backlog(self, t: int) -> int:
        """Return how many of the rows are due at or before ``t``."""
        return int(np.searchsorted(self.due, t, side="right"))

    def selectable(self, t: int, windows: SendWindows, db_offset: int = 0) -> int:
        """Return how many rows a poll at ``t`` would select without a batch limit:
        the ones due by the database clock (``t + db_offset``), less those whose
        send window is closed at ``t`` (windows follow the application's clock)."""
        if not windows.active:
            return self.backlog(t + db_offset)
        if self._by_window is None:
            keys: dict[tuple[int, str], list[int]] = {}
            for due, seq_id, zone in zip(self.due.tolist(), self.sequences, self.zones,
                                         strict=True):
                keys.setdefault((seq_id, zone), []).append(due)
            self._by_window = {k: np.asarray(v, dtype=np.int64) for k, v in keys.items()}
        return sum(int(np.searchsorted(dues, t + db_offset, side="right"))
                   for (seq_id, zone), dues in self._by_window.items()
                   if windows.is_open(seq_id, zone, t))

    def first_due(self, by_window: bool) -> dict[tuple[int, str, str | None], int]:
        """Return the earliest due time per (sequence, zone, device); with
        ``by_window`` False the sequence and zone are 0 and "" (one key a device)."""
        # Oldest first: read backwards, a key's last write is its earliest row.
        dues = self.due.tolist()[::-1]
        if not by_window:
            first = dict(zip(self.devices[::-1], dues, strict=True))
            return {(0, "", device): due for device, due in first.items()}
        keys = zip(self.sequences[::-1], self.zones[::-1], self.devices[::-1], strict=True)
        return dict(zip(keys, dues, strict=True))
