"""The reference engine: the production advance logic, one row at a time.

This module reads like the production poller. Every function takes a DuckDB
connection and an optional ``now`` (default: the virtual clock's
:func:`seqsim.units.now`), which is bound into the SQL as a parameter; the
database's own clock is never read.

The one-by-one rules it implements (see ``shared/domain.md``):

1. Enrolment creates only the entry step's row: ``active``,
   ``next_trigger_time = now``. A second enrolment is a no-op (the unique key
   on sequence, phone and step).
2. Processing selects active, due, unclaimed rows of active sequences, oldest
   ``next_trigger_time`` first, at most ``batch_size`` per poll.
3. Completing a step marks its row ``completed`` and, in the same
   transaction, inserts the next step's row due at
   ``now + next step's trigger_delay_hours``.
4. After the last step the sequence's trigger is removed from the lead; if
   the last step's ``next_trigger`` is another sequence's entry trigger, the
   lead is enrolled there.

A :class:`Schedule` selects the other designs planners compare: every
step's row created at enrolment (``all_at_enrollment``, the design the
one-by-one rules replaced), and which delay sets a new row's due time
(``delay_from``). The default is the one-by-one design above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import duckdb

from seqsim.engine.rules import SKIPPED_ERROR, enrollment_offsets, next_due
from seqsim.errors import EngineError
from seqsim.units import HOUR_US, from_us, to_us
from seqsim.units import now as clock_now

__all__ = [
    "DEFAULT_SCHEDULE",
    "Advance",
    "DueRow",
    "Enrollment",
    "OpenWindows",
    "Schedule",
    "claim",
    "complete_step",
    "count_active",
    "count_backlog",
    "due_rows",
    "enroll",
    "enroll_lead",
    "enroll_new_leads",
    "fail_step",
    "next_due_time",
    "overdue_rows",
    "queue_message",
    "record_delivery",
    "release_stale_claims",
    "reschedule_overdue",
    "waiting_rows",
]

T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class Schedule:
    """How rows are created and timed (see :class:`seqsim.model.scenario.PolicyConfig`).

    ``strategy``: ``one_by_one`` (a step's row when the previous completes) or
    ``all_at_enrollment`` (every row at enrolment); ``delay_from``:
    ``next_step``, ``completed_step`` or ``enrollment``.
    """

    strategy: str = "one_by_one"
    delay_from: str = "next_step"


DEFAULT_SCHEDULE = Schedule()


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
class Enrollment:
    """What an enrolment did: ``enrolled`` is False for a no-op, with the reason."""

    sequence: str
    phone: str
    enrolled: bool
    row_id: int | None
    reason: str


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


@dataclass(frozen=True)
class Advance:
    """What completing a step did.

    ``next_row_id`` is the new row of the next step (None after the last
    step); ``finished`` is True when the sequence is done for this contact;
    ``chained`` is the enrolment into the chained sequence, if any.
    """

    row_id: int
    completed: bool
    next_row_id: int | None
    finished: bool
    chained: Enrollment | None
    reason: str


def _now(now: datetime | None) -> datetime:
    return clock_now() if now is None else now


@contextmanager
def _transaction(con: Connection) -> Iterator[None]:
    """Run a block in one transaction: committed on success, rolled back on any error."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _in_transaction(con: Connection, fn: Callable[[], T]) -> T:
    with _transaction(con):
        return fn()


def _sequence(con: Connection, sequence: str | int) -> tuple[int, str, str, bool]:
    if isinstance(sequence, int) and not isinstance(sequence, bool):
        row = con.execute(
            'SELECT id, name, "trigger", is_active FROM sequences WHERE id = ?', [sequence]
        ).fetchone()
    else:
        row = con.execute(
            'SELECT id, name, "trigger", is_active FROM sequences WHERE name = ?', [sequence]
        ).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT name FROM sequences ORDER BY id").fetchall()]
        raise EngineError(
            f"sequence: {sequence!r} is not valid; no such sequence (known: {', '.join(known)})"
        )
    return row


def _insert_entry_row(
    con: Connection,
    seq: tuple[int, str, str, bool],
    phone: str,
    now: datetime,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> Enrollment:
    seq_id, name, _trigger, is_active = seq
    if not is_active:
        return Enrollment(name, phone, False, None, "sequence is inactive")
    lead = con.execute("SELECT name, device_id FROM leads WHERE phone = ?", [phone]).fetchone()
    if lead is None:
        raise EngineError(f"leads.phone: {phone!r} is not valid; no such lead")
    entry = con.execute(
        'SELECT id, day_number, "trigger" FROM sequence_steps '
        "WHERE sequence_id = ? AND is_entry_point",
        [seq_id],
    ).fetchone()
    if entry is None:
        raise EngineError(f"sequences.{name}: has no entry step")
    step_id, day_number, step_trigger = entry
    inserted = con.execute(
        """
        INSERT INTO sequence_contacts (
            sequence_id, contact_phone, contact_name, current_step, status, current_trigger,
            next_trigger_time, sequence_stepid, assigned_device_id, retry_count, created_at)
        VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?, 0, ?)
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        [seq_id, phone, lead[0], day_number, step_trigger, now, step_id, lead[1], now],
    ).fetchall()
    if not inserted:
        reason = "already enrolled (the entry step's row exists)"
        return Enrollment(name, phone, False, None, reason)
    if schedule.strategy == "all_at_enrollment":
        _insert_later_rows(con, seq_id, phone, lead, now, schedule.delay_from)
    return Enrollment(name, phone, True, inserted[0][0], "enrolled")


def _insert_later_rows(
    con: Connection, seq_id: int, phone: str, lead: tuple[str, str], now: datetime,
    delay_from: str,
) -> None:
    """All-at-enrolment: insert every later step's row, due at its precomputed offset."""
    steps = con.execute(
        'SELECT id, day_number, "trigger", trigger_delay_hours FROM sequence_steps '
        "WHERE sequence_id = ? ORDER BY day_number",
        [seq_id],
    ).fetchall()
    offsets = enrollment_offsets(delay_from, [h * HOUR_US for *_, h in steps])
    for step, offset in zip(steps[1:], offsets[1:], strict=True):
        _insert_step_row(con, seq_id, phone, lead[0], step, lead[1],
                         due=now + timedelta(microseconds=offset), now=now)


def _insert_step_row(
    con: Connection,
    seq_id: int,
    phone: str,
    name: str | None,
    step: tuple[int, int, str, int],
    device: str | None,
    *,
    due: datetime,
    now: datetime,
) -> int | None:
    """Insert a later step's row (``step``: id, day_number, trigger, delay), active,
    due at ``due``; return its id, or None when it exists already (the unique key)."""
    step_id, day_number, step_trigger, _ = step
    inserted = con.execute(
        """
        INSERT INTO sequence_contacts (
            sequence_id, contact_phone, contact_name, current_step, status,
            current_trigger, next_trigger_time, sequence_stepid, assigned_device_id,
            retry_count, created_at)
        VALUES (?, ?, ?, ?, 'active', ?, ?, ?, ?, 0, ?)
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        [seq_id, phone, name, day_number, step_trigger, due, step_id, device, now],
    ).fetchall()
    return inserted[0][0] if inserted else None


def enroll(
    con: Connection,
    sequence: str | int,
    phone: str,
    *,
    now: datetime | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> Enrollment:
    """Enrol a lead directly in a sequence (by name or id).

    Creates only the entry step's row, due now (under ``all_at_enrollment``
    every step's row, at its offset). Re-enrolment is a no-op that says so in
    the returned ``reason``.

    Raises:
        EngineError: unknown sequence or lead.
    """
    at = _now(now)
    seq = _sequence(con, sequence)
    return _in_transaction(con, lambda: _insert_entry_row(con, seq, phone, at, schedule))


def enroll_lead(
    con: Connection,
    phone: str,
    *,
    now: datetime | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> list[Enrollment]:
    """Enrol a lead in every active sequence whose trigger its ``trigger`` lists.

    Returns:
        One :class:`Enrollment` per matching sequence, in sequence id order.

    Raises:
        EngineError: unknown lead.
    """
    at = _now(now)
    lead = con.execute('SELECT "trigger" FROM leads WHERE phone = ?', [phone]).fetchone()
    if lead is None:
        raise EngineError(f"leads.phone: {phone!r} is not valid; no such lead")
    keywords = _keywords(lead[0])
    if not keywords:
        return []
    matches = con.execute(
        'SELECT id, name, "trigger", is_active FROM sequences '
        'WHERE is_active AND list_contains(?, "trigger") ORDER BY id',
        [keywords],
    ).fetchall()
    return [_in_transaction(con, lambda s=s: _insert_entry_row(con, s, phone, at, schedule))
            for s in matches]


def enroll_new_leads(
    con: Connection, *, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE
) -> list[Enrollment]:
    """Enrol every lead whose triggers name an active sequence it has no row in.

    This is the enrolment step of each production poll.
    """
    at = _now(now)
    candidates = con.execute(
        """
        SELECT l.phone
        FROM leads l, sequences s
        WHERE s.is_active
          AND list_contains(list_transform(string_split(l."trigger", ','), lambda k: trim(k)),
                            s."trigger")
          AND NOT EXISTS (SELECT 1 FROM sequence_contacts sc
                          WHERE sc.sequence_id = s.id AND sc.contact_phone = l.phone)
        GROUP BY l.phone
        ORDER BY min(l.created_at), l.phone
        """
    ).fetchall()
    out: list[Enrollment] = []
    for (phone,) in candidates:
        out.extend(e for e in enroll_lead(con, phone, now=at, schedule=schedule) if e.enrolled)
    return out


_DUE_COLUMNS = """
        SELECT sc.id, sc.sequence_id, sc.contact_phone, sc.current_step, sc.sequence_stepid,
               sc.assigned_device_id, sc.next_trigger_time, sc.retry_count,
               s.min_delay_seconds, s.max_delay_seconds
        FROM sequence_contacts sc
        JOIN sequences s ON s.id = sc.sequence_id
"""
_DUE_ORDER = """
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
        rows = con.execute(
            _DUE_COLUMNS
            + """
            WHERE sc.status = 'active'
              AND sc.next_trigger_time <= ?
              AND s.is_active
              AND sc.processing_device_id IS NULL
            """
            + _DUE_ORDER
            + "LIMIT ?",
            [_now(now), batch_size],
        ).fetchall()
    else:
        rows = con.execute(
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
            + _DUE_ORDER
            + "LIMIT ?",
            [_now(now), windows.windowed, windows.open, batch_size],
        ).fetchall()
    return [DueRow(*r) for r in rows]


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
            + _DUE_ORDER,
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
    at = _now(now)
    with _transaction(con):
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


def claim(con: Connection, row_id: int, device_id: str, *, now: datetime | None = None) -> bool:
    """Claim a row for sending with a conditional update.

    Returns:
        True if this call claimed it; False if it was already claimed or is
        no longer active (a second claim of the same row fails).
    """
    changed = con.execute(
        """
        UPDATE sequence_contacts
        SET processing_device_id = ?, processing_started_at = ?
        WHERE id = ? AND status = 'active' AND processing_device_id IS NULL
        """,
        [device_id, _now(now), row_id],
    ).fetchone()[0]
    return changed == 1


def release_stale_claims(
    con: Connection, timeout: timedelta, *, now: datetime | None = None
) -> int:
    """Release claims older than ``timeout`` (retry_count + 1), as production did.

    Returns:
        The number of rows released.
    """
    cutoff = _now(now) - timeout
    return con.execute(
        """
        UPDATE sequence_contacts
        SET processing_device_id = NULL, processing_started_at = NULL,
            retry_count = retry_count + 1
        WHERE status = 'active' AND processing_started_at < ?
        """,
        [cutoff],
    ).fetchone()[0]


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
    return con.execute(
        """
        INSERT INTO messages (sequence_contact_id, contact_phone, sequence_id, sequence_stepid,
                              day_number, device_id, due_at, queued_at, scheduled_at, attempt)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        [row.id, row.contact_phone, row.sequence_id, row.sequence_stepid, row.current_step,
         device_id, row.next_trigger_time, _now(now), scheduled_at, row.retry_count + 1],
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
    changed = con.execute(
        "UPDATE messages SET sent_at = ?, outcome = ?, error = ? "
        "WHERE id = ? AND outcome IS NULL",
        [_now(now), outcome, error, message_id],
    ).fetchone()[0]
    if changed != 1:
        raise EngineError(
            f"messages.id: {message_id!r} is not valid; no such message waiting for delivery"
        )


def complete_step(
    con: Connection,
    row_id: int,
    *,
    now: datetime | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
    skipped: bool = False,
) -> Advance:
    """Complete a contact's current step and create the next one, in one transaction.

    Marks the row ``completed`` (``completed_at = now``) and inserts the next
    step's row: ``active``, due at ``now + next step's trigger_delay_hours``
    (or as ``schedule.delay_from`` says), ``current_step`` = its day_number.
    Under ``all_at_enrollment`` the later rows exist already and nothing is
    inserted. After the last step it removes the sequence's trigger from the
    lead and, when the last step's ``next_trigger`` is another sequence's
    entry trigger, enrols the lead there. ``skipped`` records a step the
    catch-up skipped (``last_error`` = :data:`seqsim.engine.rules.SKIPPED_ERROR`).
    Completing a row that is not active is a no-op that says so.

    Raises:
        EngineError: no such row.
    """
    at = _now(now)
    with _transaction(con):
        row = con.execute(
            """
            SELECT sc.status, sc.sequence_id, sc.contact_phone, sc.contact_name,
                   sc.assigned_device_id, st.next_trigger, s."trigger",
                   sc.next_trigger_time, st.trigger_delay_hours
            FROM sequence_contacts sc
            JOIN sequence_steps st ON st.id = sc.sequence_stepid
            JOIN sequences s ON s.id = sc.sequence_id
            WHERE sc.id = ?
            """,
            [row_id],
        ).fetchone()
        if row is None:
            raise EngineError(f"sequence_contacts.id: {row_id!r} is not valid; no such row")
        status, seq_id, phone, name, device, next_trigger, seq_trigger, due, delay = row
        if status != "active":
            return Advance(row_id, False, None, False, None, f"row is {status}, not active")
        con.execute(
            """
            UPDATE sequence_contacts
            SET status = 'completed', completed_at = ?,
                processing_device_id = NULL, processing_started_at = NULL,
                last_error = CASE WHEN ? THEN ? ELSE last_error END
            WHERE id = ?
            """,
            [at, skipped, SKIPPED_ERROR, row_id],
        )
        nxt = con.execute(
            'SELECT id, day_number, "trigger", trigger_delay_hours FROM sequence_steps '
            'WHERE sequence_id = ? AND "trigger" = ?',
            [seq_id, next_trigger],
        ).fetchone()
        if nxt is not None and schedule.strategy == "all_at_enrollment":
            return Advance(row_id, True, None, False, None, "completed (later rows exist)")
        if nxt is not None:
            next_at = from_us(next_due(schedule.delay_from, to_us(at), to_us(due),
                                       delay * HOUR_US, nxt[3] * HOUR_US))
            new_id = _insert_step_row(con, seq_id, phone, name, nxt, device, due=next_at, now=at)
            if new_id is None:
                return Advance(row_id, True, None, False, None, "next step's row already exists")
            return Advance(row_id, True, new_id, False, None, "advanced")
        chained = _finish_sequence(con, phone, seq_trigger, next_trigger, at, schedule)
        return Advance(row_id, True, None, True, chained, "finished")


def _keywords(trigger: str | None) -> list[str]:
    return [k.strip() for k in (trigger or "").split(",") if k.strip()]


def _finish_sequence(
    con: Connection,
    phone: str,
    seq_trigger: str,
    next_trigger: str | None,
    at: datetime,
    schedule: Schedule,
) -> Enrollment | None:
    """Remove the finished sequence's trigger from the lead; enrol the chained one."""
    lead = con.execute('SELECT "trigger" FROM leads WHERE phone = ?', [phone]).fetchone()
    keywords = [k for k in _keywords(lead[0] if lead else None) if k != seq_trigger]
    chained = None
    if next_trigger is not None:
        seq = con.execute(
            'SELECT id, name, "trigger", is_active FROM sequences WHERE "trigger" = ?',
            [next_trigger],
        ).fetchone()
        if seq is not None:
            if next_trigger not in keywords:
                keywords.append(next_trigger)
            chained = _insert_entry_row(con, seq, phone, at, schedule)
    if lead is not None:
        con.execute(
            'UPDATE leads SET "trigger" = ? WHERE phone = ?',
            [",".join(keywords) if keywords else None, phone],
        )
    return chained


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
    at = _now(now)
    with _transaction(con):
        row = con.execute(
            "SELECT status, retry_count FROM sequence_contacts WHERE id = ?", [row_id]
        ).fetchone()
        if row is None:
            raise EngineError(f"sequence_contacts.id: {row_id!r} is not valid; no such row")
        if row[0] != "active":
            raise EngineError(
                f"sequence_contacts.id: {row_id!r} is not valid; the row is {row[0]}, not active"
            )
        retries = row[1] + 1
        status = "failed" if retries > max_retries else "active"
        con.execute(
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
        [_now(now)],
    ).fetchone()[0]


def count_active(con: Connection) -> int:
    """Return the number of active rows (contacts waiting for or at a step)."""
    return con.execute(
        "SELECT count(*) FROM sequence_contacts WHERE status = 'active'"
    ).fetchone()[0]
