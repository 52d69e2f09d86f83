"""The per-row engine's bookkeeping queries, and the catch-up statements after an outage.

What the processor asks between polls (when the next row falls due, how many
wait) and what the catch-up policy does to overdue rows, as literal SQL.
"""

from __future__ import annotations

from datetime import datetime

from seqsim.engine.db import Connection, bound_now, transaction
from seqsim.engine.row_send import DUE_ORDER

__all__ = [
    "count_active",
    "count_backlog",
    "next_due_time",
    "overdue_rows",
    "reschedule_overdue",
    "waiting_rows",
]


def overdue_rows(con: Connection, before: datetime) -> list[int]:
    """Return the ids of the waiting rows due before ``before``, in processing order.

    Waiting: active, unclaimed, of an active sequence (what a poll could pick).
    """
    return [
        r[0]
        for r in con.execute(
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
        return con.execute(
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


def next_due_time(con: Connection) -> datetime | None:
    """Return the earliest ``next_trigger_time`` a poll could pick, or None.

    Only active, unclaimed rows of active sequences count.
    """
    return con.execute(
        """
        SELECT min(sc.next_trigger_time)
        FROM sequence_contacts sc JOIN sequences s ON s.id = sc.sequence_id
        WHERE sc.status = 'active' AND s.is_active AND sc.processing_device_id IS NULL
        """
    ).fetchone()[0]


def waiting_rows(con: Connection) -> list[tuple[datetime, int, str]]:
    """Return (due time, sequence id, lead time zone) of every row a poll could
    pick (active, unclaimed, of an active sequence), oldest due first.

    Send windows are per sequence and zone: this says when each window has
    work, and :func:`count_backlog` at any instant is the number of these due
    at or before it, while nothing changes.
    """
    return con.execute(
        """
        SELECT sc.next_trigger_time, sc.sequence_id, l.timezone
        FROM sequence_contacts sc
        JOIN sequences s ON s.id = sc.sequence_id
        JOIN leads l ON l.phone = sc.contact_phone
        WHERE sc.status = 'active' AND s.is_active AND sc.processing_device_id IS NULL
        ORDER BY sc.next_trigger_time, sc.sequence_id, l.timezone
        """
    ).fetchall()


def count_backlog(con: Connection, *, now: datetime | None = None) -> int:
    """Return how many rows are due now but not picked up (active, due, unclaimed)."""
    return con.execute(
        """
        SELECT count(*)
        FROM sequence_contacts sc JOIN sequences s ON s.id = sc.sequence_id
        WHERE sc.status = 'active' AND sc.next_trigger_time <= ? AND s.is_active
          AND sc.processing_device_id IS NULL
        """,
        [bound_now(now)],
    ).fetchone()[0]


def count_active(con: Connection) -> int:
    """Return the number of active rows (contacts waiting for or at a step)."""
    return con.execute(
        "SELECT count(*) FROM sequence_contacts WHERE status = 'active'"
    ).fetchone()[0]
