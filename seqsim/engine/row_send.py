"""The per-row engine's sending statements: select due rows, claim, queue, deliver.

Production order per due row (see :mod:`seqsim.engine.row` for enrolment and
advancing): the poll selects active, due, unclaimed rows of active sequences
(:func:`due_rows`), claims each with a conditional update (:func:`claim`),
puts its message on the device's queue (:func:`queue_message`) and records
the delivery when the device sends it (:func:`record_delivery`); a failed send
is retried or fails its row (:func:`fail_step`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from seqsim.engine.db import Connection, bound_now, execute, transaction
from seqsim.engine.rules import retries_exhausted
from seqsim.errors import EngineError

__all__ = [
    "DUE_ORDER",
    "DueRow",
    "OpenWindows",
    "claim",
    "due_rows",
    "fail_step",
    "queue_message",
    "record_delivery",
    "release_stale_claims",
]


@dataclass(frozen=True)
class OpenWindows:
    """Which rows a poll may send under send windows.

    ``windowed`` lists the sequence ids that have a window; ``open`` the
    ``"<sequence_id>|<time zone>"`` keys whose window is open now. Rows of
    other sequences may always be sent.
    """

    windowed: list[int]
    open: list[str]



@dataclass(frozen=True)
class DueRow:
    """A ``sequence_contacts`` row selected for processing."""

    id: int
    sequence_id: int
    contact_phone: str
    current_step: int
    sequence_stepid: int
    assigned_device_id: str | None
    next_trigger_time: datetime
    retry_count: int
    min_delay_seconds: float
    max_delay_seconds: float



_DUE_COLUMNS = """
        SELECT sc.id, sc.sequence_id, sc.contact_phone, sc.current_step, sc.sequence_stepid,
               sc.assigned_device_id, sc.next_trigger_time, sc.retry_count,
               s.min_delay_seconds, s.max_delay_seconds
        FROM sequence_contacts sc
        JOIN sequences s ON s.id = sc.sequence_id
"""
DUE_ORDER = """
        ORDER BY sc.next_trigger_time, sc.sequence_id, sc.contact_phone, sc.current_step
"""


def due_rows(
    con: Connection,
    batch_size: int,
    *,
    now: datetime | None = None,
    windows: OpenWindows | None = None,
) -> list[DueRow]:
    """Select the rows a poll processes: active, due, unclaimed, sequence active.

    Oldest ``next_trigger_time`` first; ties in sequence then phone then step
    order, so the order never depends on row ids. At most ``batch_size`` rows.
    With ``windows``, a row of a windowed sequence is selected only while its
    lead's window is open (a due row outside it waits for the next opening).

    Raises:
        EngineError: ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise EngineError(f"batch_size: {batch_size!r} is not valid; expected an integer >= 1")
    if windows is None:
        rows = execute(con,
            _DUE_COLUMNS
            + """
            WHERE sc.status = 'active'
              AND sc.next_trigger_time <= ?
              AND s.is_active
              AND sc.processing_device_id IS NULL
            """
            + DUE_ORDER
            + "LIMIT ?",
            [bound_now(now), batch_size],
        ).fetchall()
    else:
        rows = execute(con,
            _DUE_COLUMNS
            + """
            JOIN leads l ON l.phone = sc.contact_phone
            WHERE sc.status = 'active'
              AND sc.next_trigger_time <= ?
              AND s.is_active
              AND sc.processing_device_id IS NULL
              AND (NOT list_contains(?::BIGINT[], sc.sequence_id)
                   OR list_contains(?::VARCHAR[], sc.sequence_id::VARCHAR || '|' || l.timezone))
            """
            + DUE_ORDER
            + "LIMIT ?",
            [bound_now(now), windows.windowed, windows.open, batch_size],
        ).fetchall()
    return [DueRow(*r) for r in rows]


def claim(con: Connection, row_id: int, device_id: str, *, now: datetime | None = None) -> bool:
    """Claim a row for sending with a conditional update.

    Returns:
        True if this call claimed it; False if it was already claimed or is
        no longer active (a second claim of the same row fails).
    """
    changed = execute(con,
        """
        UPDATE sequence_contacts
        SET processing_device_id = ?, processing_started_at = ?
        WHERE id = ? AND status = 'active' AND processing_device_id IS NULL
        """,
        [device_id, bound_now(now), row_id],
    ).fetchone()[0]
    return changed == 1


def release_stale_claims(
    con: Connection, timeout: timedelta, *, now: datetime | None = None
) -> list[int]:
    """Release claims older than ``timeout`` (retry_count + 1), as production did.

    Returns:
        The ids of the rows released, in id order.
    """
    cutoff = bound_now(now) - timeout
    released = execute(con,
        """
        UPDATE sequence_contacts
        SET processing_device_id = NULL, processing_started_at = NULL,
            retry_count = retry_count + 1
        WHERE status = 'active' AND processing_started_at < ?
        RETURNING id
        """,
        [cutoff],
    ).fetchall()
    return sorted(r[0] for r in released)


def queue_message(
    con: Connection,
    row: DueRow,
    device_id: str,
    *,
    scheduled_at: datetime,
    now: datetime | None = None,
) -> int:
    """Put a message for a claimed row on its device's queue.

    ``scheduled_at`` is when the device will send it (after its pacing gap).

    Returns:
        The new ``messages.id``.
    """
    return execute(con,
        """
        INSERT INTO messages (sequence_contact_id, contact_phone, sequence_id, sequence_stepid,
                              day_number, device_id, due_at, queued_at, scheduled_at, attempt)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        [row.id, row.contact_phone, row.sequence_id, row.sequence_stepid, row.current_step,
         device_id, row.next_trigger_time, bound_now(now), scheduled_at, row.retry_count + 1],
    ).fetchone()[0]


def record_delivery(
    con: Connection,
    message_id: int,
    outcome: str,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record that a queued message was sent (``outcome='sent'``) or failed.

    Raises:
        EngineError: an unknown outcome, or a message that does not exist or
            already has an outcome.
    """
    if outcome not in ("sent", "failed"):
        raise EngineError(f"outcome: {outcome!r} is not valid; expected 'sent' or 'failed'")
    changed = execute(con,
        "UPDATE messages SET sent_at = ?, outcome = ?, error = ? "
        "WHERE id = ? AND outcome IS NULL",
        [bound_now(now), outcome, error, message_id],
    ).fetchone()[0]
    if changed != 1:
        raise EngineError(
            f"messages.id: {message_id!r} is not valid; no such message waiting for delivery"
        )


def fail_step(
    con: Connection,
    row_id: int,
    error: str,
    max_retries: int,
    *,
    now: datetime | None = None,
) -> str:
    """Record a failed send: retry_count + 1, last_error, claim released.

    The row stays ``active`` (and due, so the next poll retries it) until it
    has failed more than ``max_retries`` times; then it becomes ``failed`` and
    the contact stops in this sequence.

    Returns:
        The row's status afterwards (``active`` or ``failed``).

    Raises:
        EngineError: no such row, a row that is not active, or a negative
            ``max_retries``.
    """
    if max_retries < 0:
        raise EngineError(f"max_retries: {max_retries!r} is not valid; expected an integer >= 0")
    at = bound_now(now)
    with transaction(con):
        row = execute(con,
            "SELECT status, retry_count FROM sequence_contacts WHERE id = ?", [row_id]
        ).fetchone()
        if row is None:
            raise EngineError(f"sequence_contacts.id: {row_id!r} is not valid; no such row")
        if row[0] != "active":
            raise EngineError(
                f"sequence_contacts.id: {row_id!r} is not valid; the row is {row[0]}, not active"
            )
        retries = row[1] + 1
        status = "failed" if retries_exhausted(retries, max_retries) else "active"
        execute(con,
            """
            UPDATE sequence_contacts
            SET retry_count = ?, last_error = ?, status = ?,
                failed_at = CASE WHEN ? = 'failed' THEN ?::TIMESTAMP END,
                processing_device_id = NULL, processing_started_at = NULL
            WHERE id = ?
            """,
            [retries, error, status, status, at, row_id],
        )
    return status


