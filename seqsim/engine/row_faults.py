"""The per-row engine under production faults (``[faults]``): the races happen in SQL.

:class:`FaultyRowProcessor` runs the production poll of
:class:`seqsim.engine.row_processor.RowProcessor` with the failure modes of
:class:`seqsim.model.faults.FaultsConfig`, literally, against DuckDB:

- **Pollers.** Each poll instant, every poller runs a poll at its own offset
  (``poll instant + poller_offsets[i]``): release stale claims, enrol the
  leads that arrived (when any did), select the due rows, then per row claim
  it, queue its message and (``progress_on = "queue"``) advance the contact.
  The pollers' statements **interleave**: each poller is a generator that
  stops after every statement; before each statement, while two or more
  pollers still have work, one draw from the faults stream picks which of
  them (uniformly) runs its next statement. Statements commit on their own;
  a transaction (an atomic advance) runs whole, as one statement of the
  interleaving. So two pollers may SELECT the same due rows before either
  claims them; with ``claiming = "none"`` the claim is an unconditional
  UPDATE and both send. With ``duplicate_guard = "check_then_insert"`` the
  table has no unique key and a row is inserted after a SELECT found none:
  two pollers enrolling the same lead (or two workers advancing the same
  contact, without an atomic advance) both insert.
- **Crash between statements.** At each advance, with probability
  ``crash_between_statements``, the worker dies after the UPDATE that marks
  the row completed and before the INSERT of the next step's row. Without
  ``atomic_advance`` the UPDATE has committed: the contact is lost. With it
  the transaction rolls back (the row stays claimed) and a fresh worker
  retries the advance at the next poll, before anything else runs; the
  retry does not crash.
- **Stuck claims.** After each successful claim, with probability
  ``stuck_claims``, the worker dies before queueing the message; the row
  stays claimed until a poll's release of claims older than
  ``claim_timeout`` (retry_count + 1), and is then sent late.
- **Offline devices.** A row whose assigned device is offline (a
  ``[[faults.device_offline]]`` window) is skipped, like a device over its
  limits.
- **Database clock.** The statements production wrote with the database clock bind
  the application's now plus ``db_clock_offset``: the selection of due rows
  (``next_trigger_time <=`` the database clock), the claim's ``processing_started_at`` and
  the release of stale claims. The application's own writes (due times,
  completion and creation times, the send log) bind its clock.

Draws (:func:`seqsim.model.faults.faults_rng`: streams of their own, so the
arrivals and the sending draws are unchanged, one per purpose, so a run that
skips idle polls draws exactly what one that runs them does): the
interleaving of the poll at ``t`` comes from a stream keyed by ``t``: one
``integers(live pollers)`` before each statement while two or more pollers
are live; the stuck-claims stream gives one ``random()`` after each
successful claim, in claim order, when ``stuck_claims > 0``; the crash stream
one ``random()`` at the start of each advance (not a retry), in advance
order, when ``crash_between_statements > 0``. The sending draws (failure,
pacing gap) are keyed per lead as without faults (two per queued message:
:func:`seqsim.engine.rules.send_draw`); the fault streams are not keyed per
lead, so a run with faults is not yet shard-invariant.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import suppress
from datetime import datetime, timedelta

import duckdb
import numpy as np

from seqsim.engine import row, row_send, schema
from seqsim.engine.db import transaction
from seqsim.engine.poll import Arrivals, Clock, PollStats
from seqsim.engine.row_processor import RowProcessor
from seqsim.errors import EngineError
from seqsim.model.faults import faults_rng
from seqsim.model.scenario import Scenario
from seqsim.units import from_us, to_us

__all__ = ["FaultyRowProcessor", "enrolment_candidates", "unconditional_claim"]

_US = timedelta(microseconds=1)


class _WorkerDied(Exception):
    """The worker running a transaction died in it (the transaction rolls back)."""


def unconditional_claim(con: duckdb.DuckDBPyConnection, row_id: int, device_id: str, *,
                        now: datetime) -> bool:
    """Mark an active row as being sent without checking it is unclaimed (``claiming =
    "none"``): a second worker that selected the row "claims" it too.

    Returns:
        True when the row was still active.
    """
    return con.execute(
        """
        UPDATE sequence_contacts
        SET processing_device_id = ?, processing_started_at = ?
        WHERE id = ? AND status = 'active'
        """,
        [device_id, now, row_id],
    ).fetchone()[0] == 1


def enrolment_candidates(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int]]:
    """Return (phone, sequence name, sequence id, entry step id) for every lead whose
    triggers name an active sequence it has no row in, oldest lead first."""
    return con.execute(
        """
        SELECT l.phone, s.name, s.id, st.id
        FROM leads l, sequences s
        JOIN sequence_steps st ON st.sequence_id = s.id AND st.is_entry_point
        WHERE s.is_active
          AND list_contains(list_transform(string_split(l."trigger", ','), lambda k: trim(k)),
                            s."trigger")
          AND NOT EXISTS (SELECT 1 FROM sequence_contacts sc
                          WHERE sc.sequence_id = s.id AND sc.contact_phone = l.phone)
        ORDER BY l.created_at, l.phone, s.id
        """
    ).fetchall()


class FaultyRowProcessor(RowProcessor):
    """The per-row processor with the scenario's ``[faults]`` (see the module doc)."""

    # Pollers interleave, crash and race: the book reads the rows after each poll.
    _follows = False

    def __init__(self, con: duckdb.DuckDBPyConnection, scenario: Scenario,
                 devices: list[str]) -> None:
        faults = self.faults = scenario.faults
        self.check_then_insert = faults.duplicate_guard == "check_then_insert"
        if self.check_then_insert:
            schema.drop_unique_key(con)
        super().__init__(con, scenario, devices)
        self.streams = faults_rng(scenario.simulation.seed)
        self._db_offset_us = faults.db_clock_offset // _US
        self._lead = max((faults.offset(i) for i in range(faults.pollers)), default=timedelta(0))
        self._offline = [(w.start, w.end, frozenset(w.device_ids(devices)))
                         for w in faults.device_offline]
        self._retry: list[int] = []
        self._stuck: dict[int, int] = {}  # row id -> when the dead worker claimed it
        self._arrived = False
        self._release_at: datetime | None = None
        self._skipped = 0

    # ----------------------------------------------------------------- events
    def next_event(self) -> datetime | None:
        """Return the earliest instant a poll could do anything (see the base class),
        moved earlier by the largest poller offset; also the next poll when an
        advance waits for its retry, and when the oldest claim is released."""
        times = []
        base = super().next_event()
        if base is not None:
            times.append(base - self._lead)
        if self._retry and self._now is not None:
            times.append(self._now + _US)
        if self._release_at is not None:
            times.append(self._release_at - self._lead)
        return min(times) if times else None

    def _free_at(self, device_id: str | None, now: datetime) -> int | None:
        """Return the base class's answer, no earlier than the end of an offline window
        the device is in at ``now``."""
        free = super()._free_at(device_id, now)
        for start, end, ids in self._offline:
            if free is not None and device_id in ids and start <= now < end:
                free = max(free, to_us(end))
        return free

    def _device_full(self, device_id: str, at: datetime) -> bool:
        """Return whether ``device_id`` can queue nothing: offline, or over a limit."""
        return self._offline_at(device_id, at) or super()._device_full(device_id, at)

    def _offline_at(self, device_id: str | None, at: datetime) -> bool:
        """Return whether ``device_id`` is in an offline window at ``at``."""
        return any(device_id in ids and start <= at < end for start, end, ids in self._offline)

    def _next_release(self) -> datetime | None:
        """Return the first instant a poll releases the oldest claim (application clock)."""
        oldest = self.con.execute(
            "SELECT epoch_us(min(processing_started_at)) FROM sequence_contacts "
            "WHERE status = 'active' AND processing_started_at IS NOT NULL"
        ).fetchone()[0]
        if oldest is None:
            return None
        return from_us(oldest - self._db_offset_us) + self.faults.claim_timeout + _US

    # ------------------------------------------------------------------- poll
    def poll(self, clock: Clock, at: datetime, arrivals: Arrivals, lo: int, hi: int, *,
             recovering: bool = False) -> PollStats:
        """Run one poll of every poller at ``at`` (see the base class and the module doc)."""
        self._arrived = lo < hi
        stats = super().poll(clock, at, arrivals, lo, hi, recovering=recovering)
        self._release_at = self._next_release()
        return stats

    def _enrol(self, arrivals: Arrivals, lo: int, hi: int, at: datetime) -> None:
        # The leads arrive once; each poller enrols them (see _enrol_statements).
        self._add_leads(arrivals, lo, hi)

    def _process_due(self, at: datetime) -> int:
        retry, self._retry = self._retry, []
        for row_id in retry:  # a fresh worker retries the advance, and it completes
            row.run_statements(self._advance_statements(row_id, at, may_crash=False))
        self._skipped = 0
        self._interleave([self._poller(i, at) for i in range(self.faults.pollers)],
                         self.streams.interleaving(to_us(at)))
        return self._skipped

    @staticmethod
    def _interleave(workers: list[Iterator[None]], rng: np.random.Generator) -> None:
        """Run the workers' statements, one at a time, in a seeded random interleaving."""
        live = list(workers)
        while live:
            i = int(rng.integers(len(live))) if len(live) > 1 else 0
            try:
                next(live[i])
            except StopIteration:
                del live[i]

    @staticmethod
    def _draw(rng: np.random.Generator, probability: float) -> bool:
        """Return whether a fault of ``probability`` strikes (no draw when it is 0)."""
        return probability > 0 and bool(rng.random() < probability)

    def _poller(self, index: int, at: datetime) -> Iterator[None]:
        """One poller's poll at its offset; stops after each statement."""
        faults = self.faults
        now = at + faults.offset(index)
        db_now = now + faults.db_clock_offset
        for row_id in row_send.release_stale_claims(self.con, faults.claim_timeout, now=db_now):
            if row_id in self._stuck:
                self._held.append((row_id, self._stuck.pop(row_id), to_us(now)))
        yield
        if self._arrived:
            yield from self._enrol_statements(now)
        due_rows = row_send.due_rows(self.con, self.capacity.batch_size, now=db_now,
                                     windows=self._open_windows(now))
        yield
        for due in due_rows:
            device = due.assigned_device_id
            if self._offline_at(device, now) or self.fleet.blocked(device, now) is not None:
                self._skipped += 1
                continue
            if faults.claiming == "none":
                claimed = unconditional_claim(self.con, due.id, device, now=db_now)
            else:
                claimed = row_send.claim(self.con, due.id, device, now=db_now)
            yield
            if not claimed:
                continue  # taken by another worker
            if self._draw(self.streams.stuck, faults.stuck_claims):
                self._stuck.setdefault(due.id, to_us(now))
                continue  # this worker died holding the claim
            self._queue(due, device, now)
            yield
            if self.on_queue:
                yield from self._advance_statements(due.id, now)

    def _enrol_statements(self, now: datetime) -> Iterator[None]:
        """Enrol the leads with a trigger and no row, guarded as ``duplicate_guard`` says."""
        candidates = enrolment_candidates(self.con)
        yield
        for phone, name, seq_id, step_id in candidates:
            if self.check_then_insert:
                exists = row.step_row_exists(self.con, seq_id, phone, step_id)
                yield
                if exists:
                    continue
            enrolment = row.enroll(self.con, name, phone, now=now, schedule=self.schedule,
                                   unique_key=not self.check_then_insert)
            self._enrolled += enrolment.enrolled
            yield

    def _advance_statements(self, row_id: int, at: datetime, *, may_crash: bool = True
                            ) -> Iterator[None]:
        """Advance a contact, stopping after each statement; a crash (``may_crash``) may
        stop it between marking the row completed and inserting the next step's row."""
        crash = may_crash and self._draw(self.streams.crash,
                                            self.faults.crash_between_statements)
        statements = row.advance_statements(self.con, row_id, at, self.schedule,
                                            check_then_insert=self.check_then_insert)
        if self.faults.atomic_advance:
            try:
                with transaction(self.con):
                    advance = row.run_statements(self._dying(statements, crash))
            except _WorkerDied:
                self._retry.append(row_id)  # rolled back: the row is as it was
            else:
                self._advance(advance)
            yield
            return
        while True:
            try:
                label = next(statements)
            except StopIteration as done:
                self._advance(done.value)
                return
            yield
            if crash and label == row.MARKED:
                # The worker died: its UPDATE is committed, the INSERT never runs. A
                # last step's row completed all the same: that contact finished.
                if row.is_last_step(self.con, row_id):
                    self.completed_contacts += 1
                return

    @staticmethod
    def _dying(statements: Generator[str, None, row.Advance], crash: bool
               ) -> Generator[str, None, row.Advance]:
        """Pass ``statements`` through and return what they return; with ``crash``,
        raise `_WorkerDied` right after the row is marked completed."""
        while True:
            try:
                label = next(statements)
            except StopIteration as done:
                return done.value
            yield label
            if crash and label == row.MARKED:
                raise _WorkerDied

    def _complete(self, row_id: int, at: datetime) -> None:
        # A delivery's advance: the same statements as a poller's, run through at once.
        row.run_statements(self._advance_statements(row_id, at))

    def _fail(self, row_id: int, at: datetime) -> None:
        # A duplicate message of a row another worker completed has no row to fail.
        with suppress(EngineError):
            super()._fail(row_id, at)
