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

A :class:`seqsim.engine.rules.Schedule` selects the other designs planners compare: every
step's row created at enrolment (``all_at_enrollment``, the design the
one-by-one rules replaced), and which delay sets a new row's due time
(``delay_from``). The default is the one-by-one design above.

This module holds enrolment and advancing (rules 1, 3 and 4); the sending
statements of rule 2 are in :mod:`seqsim.engine.row_send`, the bookkeeping
queries and the catch-up statements in :mod:`seqsim.engine.row_queries`, and
:mod:`seqsim.engine.row_processor` runs them poll by poll.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from seqsim.engine.db import Connection, bound_now, execute, in_transaction, transaction
from seqsim.engine.rules import (
    DEFAULT_SCHEDULE,
    SKIPPED_ERROR,
    Schedule,
    enrollment_offsets,
    next_due,
)
from seqsim.errors import EngineError
from seqsim.units import HOUR_US, from_us, to_us

__all__ = [
    "MARKED",
    "Advance",
    "Enrollment",
    "advance_statements",
    "complete_step",
    "enroll",
    "enroll_lead",
    "enroll_new_leads",
    "is_last_step",
    "run_statements",
    "step_row_exists",
]

T = TypeVar("T")
#: What :func:`advance_statements` yields once the row is marked completed and
#: before the next step's row is inserted: where a crash loses the contact.
MARKED = "marked completed"


@dataclass(frozen=True)
class Enrollment:
    """What an enrolment did: ``enrolled`` is False for a no-op, with the reason."""

    sequence: str
    phone: str
    enrolled: bool
    row_id: int | None
    reason: str



@dataclass(frozen=True)
class Advance:
    """What completing a step did.

    ``next_row_id`` is the new row of the next step (None after the last
    step) and ``next_due`` its ``next_trigger_time``; ``finished`` is True when
    the sequence is done for this contact; ``chained`` is the enrolment into the
    chained sequence, if any.
    """

    row_id: int
    completed: bool
    next_row_id: int | None
    finished: bool
    chained: Enrollment | None
    reason: str
    next_due: datetime | None = None



def _sequence(con: Connection, sequence: str | int) -> tuple[int, str, str, bool]:
    if isinstance(sequence, int) and not isinstance(sequence, bool):
        row = execute(con,
            'SELECT id, name, "trigger", is_active FROM sequences WHERE id = ?', [sequence]
        ).fetchone()
    else:
        row = execute(con,
            'SELECT id, name, "trigger", is_active FROM sequences WHERE name = ?', [sequence]
        ).fetchone()
    if row is None:
        known = [r[0] for r in execute(con, "SELECT name FROM sequences ORDER BY id").fetchall()]
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
    unique_key: bool = True,
) -> Enrollment:
    seq_id, name, _trigger, is_active = seq
    if not is_active:
        return Enrollment(name, phone, False, None, "sequence is inactive")
    lead = execute(con, "SELECT name, device_id FROM leads WHERE phone = ?", [phone]).fetchone()
    if lead is None:
        raise EngineError(f"leads.phone: {phone!r} is not valid; no such lead")
    entry = execute(con,
        'SELECT id, day_number, "trigger" FROM sequence_steps '
        "WHERE sequence_id = ? AND is_entry_point",
        [seq_id],
    ).fetchone()
    if entry is None:
        raise EngineError(f"sequences.{name}: has no entry step")
    step_id, day_number, step_trigger = entry
    inserted = _insert_row(con, seq_id, phone, lead[0], (step_id, day_number, step_trigger),
                           lead[1], due=now, now=now, unique_key=unique_key)
    if inserted is None:
        reason = "already enrolled (the entry step's row exists)"
        return Enrollment(name, phone, False, None, reason)
    if schedule.all_at_enrollment:
        _insert_later_rows(con, seq_id, phone, lead, now, schedule.delay_from, unique_key)
    return Enrollment(name, phone, True, inserted, "enrolled")


def _insert_later_rows(
    con: Connection, seq_id: int, phone: str, lead: tuple[str, str], now: datetime,
    delay_from: int, unique_key: bool,
) -> None:
    """All-at-enrolment: insert every later step's row, due at its precomputed offset."""
    steps = execute(con,
        'SELECT id, day_number, "trigger", trigger_delay_hours FROM sequence_steps '
        "WHERE sequence_id = ? ORDER BY day_number",
        [seq_id],
    ).fetchall()
    offsets = enrollment_offsets(delay_from, [h * HOUR_US for *_, h in steps])
    for step, offset in zip(steps[1:], offsets[1:], strict=True):
        _insert_row(con, seq_id, phone, lead[0], step[:3], lead[1],
                    due=now + timedelta(microseconds=offset), now=now, unique_key=unique_key)


#: A contact's row for a step, due at ``due``; with ``unique_key`` only when the
#: contact has no row for that step yet. The guard is production's unique key
#: (which stays on the table) stated in the statement: DuckDB 2 plans ``ON
#: CONFLICT DO NOTHING`` as a MERGE that scans the whole table, 3.5 ms a row
#: against 1.6 ms for this at 6,000 rows. Without the key (the
#: check-then-insert deployment of ``[faults]``) the insert is unguarded.
_INSERT_ROW = """
    INSERT INTO sequence_contacts (
        sequence_id, contact_phone, contact_name, current_step, status,
        current_trigger, next_trigger_time, sequence_stepid, assigned_device_id,
        retry_count, created_at)
    SELECT $1, $2, $3, $4, 'active', $5, $6, $7, $8, 0, $9
    {guard}
    RETURNING id
"""
_GUARDED = _INSERT_ROW.format(guard="""WHERE NOT EXISTS (
        SELECT 1 FROM sequence_contacts
        WHERE sequence_id = $1 AND contact_phone = $2 AND sequence_stepid = $7)""")
_UNGUARDED = _INSERT_ROW.format(guard="")


def _insert_row(
    con: Connection,
    seq_id: int,
    phone: str,
    name: str | None,
    step: tuple[int, int, str],
    device: str | None,
    *,
    due: datetime,
    now: datetime,
    unique_key: bool,
) -> int | None:
    """Insert a contact's row for ``step`` (id, day_number, trigger), active, due at
    ``due``; return its id, or None when the unique key (``unique_key``) finds the
    contact's row for the step already there."""
    step_id, day_number, step_trigger = step
    inserted = execute(con,
        _GUARDED if unique_key else _UNGUARDED,
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
    unique_key: bool = True,
) -> Enrollment:
    """Enrol a lead directly in a sequence (by name or id).

    Creates only the entry step's row, due now (under ``all_at_enrollment``
    every step's row, at its offset). Re-enrolment is a no-op that says so in
    the returned ``reason``. ``unique_key``: the table has production's unique key
    (False under the check-then-insert guard of ``[faults]``: nothing stops a
    second row).

    Raises:
        EngineError: unknown sequence or lead.
    """
    at = bound_now(now)
    seq = _sequence(con, sequence)
    return in_transaction(
        con, lambda: _insert_entry_row(con, seq, phone, at, schedule, unique_key))


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
    at = bound_now(now)
    lead = execute(con, 'SELECT "trigger" FROM leads WHERE phone = ?', [phone]).fetchone()
    if lead is None:
        raise EngineError(f"leads.phone: {phone!r} is not valid; no such lead")
    keywords = _keywords(lead[0])
    if not keywords:
        return []
    matches = execute(con,
        'SELECT id, name, "trigger", is_active FROM sequences '
        'WHERE is_active AND list_contains(?, "trigger") ORDER BY id',
        [keywords],
    ).fetchall()
    return [in_transaction(con, lambda s=s: _insert_entry_row(con, s, phone, at, schedule))
            for s in matches]


def enroll_new_leads(
    con: Connection, *, now: datetime | None = None, schedule: Schedule = DEFAULT_SCHEDULE
) -> list[Enrollment]:
    """Enrol every lead whose triggers name an active sequence it has no row in.

    This is the enrolment step of each production poll.
    """
    at = bound_now(now)
    candidates = execute(con,
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
    Completing a row that is not active is a no-op that says so. The
    statements are those of :func:`advance_statements`.

    Raises:
        EngineError: no such row.
    """
    at = bound_now(now)
    with transaction(con):
        return run_statements(advance_statements(con, row_id, at, schedule, skipped=skipped))


def run_statements(statements: Generator[str, None, T]) -> T:
    """Run every statement of a generator such as :func:`advance_statements`; return
    what it returns."""
    while True:
        try:
            next(statements)
        except StopIteration as done:
            return done.value


#: The advance's first statements: read the row (and its step and sequence), then
#: mark it completed.
_READ_ROW = """
    SELECT sc.status, sc.sequence_id, sc.contact_phone, sc.contact_name,
           sc.assigned_device_id, st.next_trigger, s."trigger",
           sc.next_trigger_time, st.trigger_delay_hours
    FROM sequence_contacts sc
    JOIN sequence_steps st ON st.id = sc.sequence_stepid
    JOIN sequences s ON s.id = sc.sequence_id
    WHERE sc.id = ?
"""
_MARK_COMPLETED = """
    UPDATE sequence_contacts
    SET status = 'completed', completed_at = ?,
        processing_device_id = NULL, processing_started_at = NULL,
        last_error = CASE WHEN ? THEN ? ELSE last_error END
    WHERE id = ?
"""


def advance_statements(
    con: Connection,
    row_id: int,
    at: datetime,
    schedule: Schedule = DEFAULT_SCHEDULE,
    *,
    skipped: bool = False,
    check_then_insert: bool = False,
) -> Generator[str, None, Advance]:
    """The statements of :func:`complete_step` one by one, outside any transaction.

    Yields a label after each statement that reads or writes
    ``sequence_contacts`` (:data:`MARKED` right after the row is marked
    completed, before the next step's row is inserted), so a caller can
    interleave two workers' statements or stop one between them (a crash);
    returns the :class:`Advance`. ``check_then_insert``: guard the next
    step's row with a SELECT of its existence and then an INSERT (the guard
    that races) rather than the unique key alone.

    Raises:
        EngineError: no such row.
    """
    row = execute(con, _READ_ROW, [row_id]).fetchone()
    if row is None:
        raise EngineError(f"sequence_contacts.id: {row_id!r} is not valid; no such row")
    status, seq_id, phone, name, device, next_trigger, seq_trigger, due, delay = row
    if status != "active":
        return Advance(row_id, False, None, False, None, f"row is {status}, not active")
    yield "read"
    execute(con, _MARK_COMPLETED, [at, skipped, SKIPPED_ERROR, row_id])
    yield MARKED
    nxt = execute(con,
        'SELECT id, day_number, "trigger", trigger_delay_hours FROM sequence_steps '
        'WHERE sequence_id = ? AND "trigger" = ?',
        [seq_id, next_trigger],
    ).fetchone()
    if nxt is not None and schedule.all_at_enrollment:
        return Advance(row_id, True, None, False, None, "completed (later rows exist)")
    if nxt is not None:
        next_at = from_us(next_due(schedule.delay_from, to_us(at), to_us(due),
                                   delay * HOUR_US, nxt[3] * HOUR_US))
        exists = False
        if check_then_insert:
            exists = step_row_exists(con, seq_id, phone, nxt[0])
            yield "checked"
        new_id = None if exists else _insert_row(con, seq_id, phone, name, nxt[:3], device,
                                                 due=next_at, now=at,
                                                 unique_key=not check_then_insert)
        if new_id is None:
            return Advance(row_id, True, None, False, None, "next step's row already exists")
        return Advance(row_id, True, new_id, False, None, "advanced", next_at)
    chained = _finish_sequence(con, phone, seq_trigger, next_trigger, at, schedule,
                               unique_key=not check_then_insert)
    return Advance(row_id, True, None, True, chained, "finished")


def is_last_step(con: Connection, row_id: int) -> bool:
    """Return whether row ``row_id`` is at its sequence's last step (no step of the
    sequence has the trigger its step names next): once that row is completed, the
    contact has finished the sequence. Not a statement of production's advance;
    the faulty processor asks it when a worker dies right after the mark."""
    return execute(con,
        "SELECT NOT EXISTS (SELECT 1 FROM sequence_steps nx "
        'WHERE nx.sequence_id = sc.sequence_id AND nx."trigger" = st.next_trigger) '
        "FROM sequence_contacts sc JOIN sequence_steps st ON st.id = sc.sequence_stepid "
        "WHERE sc.id = ?",
        [row_id],
    ).fetchone()[0]


def step_row_exists(con: Connection, seq_id: int, phone: str, step_id: int) -> bool:
    """Return whether the contact has a row for the step (the check of check-then-insert)."""
    return execute(con,
        "SELECT count(*) > 0 FROM sequence_contacts "
        "WHERE sequence_id = ? AND contact_phone = ? AND sequence_stepid = ?",
        [seq_id, phone, step_id],
    ).fetchone()[0]


def _keywords(trigger: str | None) -> list[str]:
    return [k.strip() for k in (trigger or "").split(",") if k.strip()]


def _finish_sequence(
    con: Connection,
    phone: str,
    seq_trigger: str,
    next_trigger: str | None,
    at: datetime,
    schedule: Schedule,
    *,
    unique_key: bool,
) -> Enrollment | None:
    """Remove the finished sequence's trigger from the lead; enrol the chained one."""
    lead = execute(con, 'SELECT "trigger" FROM leads WHERE phone = ?', [phone]).fetchone()
    keywords = [k for k in _keywords(lead[0] if lead else None) if k != seq_trigger]
    chained = None
    if next_trigger is not None:
        seq = execute(con,
            'SELECT id, name, "trigger", is_active FROM sequences WHERE "trigger" = ?',
            [next_trigger],
        ).fetchone()
        if seq is not None:
            if next_trigger not in keywords:
                keywords.append(next_trigger)
            chained = _insert_entry_row(con, seq, phone, at, schedule, unique_key)
    if lead is not None:
        execute(con,
            'UPDATE leads SET "trigger" = ? WHERE phone = ?',
            [",".join(keywords) if keywords else None, phone],
        )
    return chained
