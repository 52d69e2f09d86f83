"""The production processor: what one poll does, on the per-row engine.

Each poll, in production order:

1. deliveries: messages whose device send time has come leave the device;
   under ``progress_on = "delivery"`` the contact advances at that instant (the
   virtual clock is moved there), a failed send is retried or fails the row;
2. enrolment of the leads that arrived since the last poll;
3. due rows are selected (oldest first, ``batch_size``); each row uses only
   its lead's device and is skipped when that device is offline or over a
   limit; otherwise it is claimed and queued behind the device's pacing gap
   (under ``progress_on = "queue"`` the contact advances right away, and a
   failed delivery is only logged, as production did);
4. messages whose send time is the poll instant itself are delivered.

Random draws (failure, then pacing gap) are two per queued message, keyed by
its lead (:func:`seqsim.engine.rules.send_draw`): (the run's seed, the lead's
key, how many messages the lead had queued before, the purpose). The
processor keeps each lead's key and count; no stream is shared between leads,
so every engine, and a shard of the leads, draws the same for a message.

Policies (:class:`seqsim.model.policy.PolicyConfig`) change this as follows:
rows of a sequence with a send window are selected only while their lead's
window is open; during an outage no poll runs (:meth:`RowProcessor.down`
gives its timeline row; devices still deliver what they had queued, recorded
by the next poll); the first poll after an outage applies the catch-up
policy before enrolling (:meth:`RowProcessor.poll` with ``recovering``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from seqsim.engine import row, row_queries, row_send, schema
from seqsim.engine.fleet import Fleet, pacing_gap
from seqsim.engine.poll import Arrivals, Clock, PollStats
from seqsim.engine.row_waiting import WaitingBook
from seqsim.engine.rules import (
    FAIL_DRAW,
    FAILED_SEND_ERROR,
    GAP_DRAW,
    RESCHEDULE,
    SKIP_STALE,
    DatetimeCalendar,
    Schedule,
    SendWindows,
    calendar_days,
    send_draw,
    send_fails,
    send_seed,
    stale_cutoff,
    window_ready_after,
)
from seqsim.engine.wait_log import WaitLog, full_changes
from seqsim.model.scenario import Scenario
from seqsim.units import from_us, to_us

__all__ = ["RowProcessor"]

@dataclass(order=True)
class _InFlight:
    send_at: datetime
    seq: int
    message_id: int
    row_id: int
    device_id: str
    outcome: str


class RowProcessor:
    """Runs polls against a DuckDB database with the per-row engine."""

    #: Whether the book of active rows can follow every statement this processor
    #: runs (:class:`seqsim.engine.row_waiting.WaitingBook`); if not, it reads them
    #: after every poll that ran.
    _follows = True

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        scenario: Scenario,
        devices: list[str],
    ) -> None:
        self.con = con
        # Each statement reads or writes a few rows: a second DuckDB thread only
        # adds scheduling to every one (0.1-0.4 ms, a fifth of the run's time).
        con.execute("SET threads = 1")
        cap = self.capacity = scenario.capacity
        policy = self.policy = scenario.policy
        self.schedule = Schedule.of(policy)
        self.on_queue = self.schedule.on_queue
        days = calendar_days(policy)
        fleet = Fleet(devices, hourly_limit=cap.hourly_limit, daily_limit=cap.daily_limit,
                      in_flight_limit=cap.in_flight_limit,
                      calendar=None if days is None else DatetimeCalendar(days))
        sequences = con.execute("SELECT name, id, is_active FROM sequences").fetchall()
        ids = self._sequence_ids = {name: seq_id for name, seq_id, _ in sequences}
        # The sequences table is static during a run: the snapshot filters on it.
        self._active_sequences = {seq_id for _, seq_id, active in sequences if active}
        self.windows = SendWindows(policy, scenario.sequences, ids)
        self._zones: set[str] = set()
        self._now: datetime | None = None
        # The database clock's lead on the application's (`[faults]`; 0 here): a row
        # due at `due` is selected from `due - offset` on.
        self._db_offset_us = 0
        self._waiting = row_queries.WaitingRows(0, np.empty(0, dtype=np.int64), [], [], [])
        self._book = WaitingBook(self._active_sequences, self.windows.active,
                                 follows=self._follows)
        self.fleet = fleet
        self._device_ids = list(devices)
        # The lateness attribution's log (WaitLog): devices full after each poll's
        # selection, and claims dead workers held (row, claimed, released).
        self._full: set[int] = set()
        self._full_log: list[tuple[int, int]] = []
        self._held: list[tuple[int, int, int]] = []
        self._seed = send_seed(scenario.simulation.seed)
        # Per lead (phone): its key, and how many messages it has had queued; its
        # device and time zone as the book keeps them.
        self._lead_key: dict[str, int] = {}
        self._lead_row: dict[str, tuple[str, str | None]] = {}
        self._lead_queued: dict[str, int] = {}
        self._in_flight: list[_InFlight] = []
        self._queued = 0
        self._enrolled = 0
        self._sent = 0
        self._failed = 0
        self.completed_contacts = 0

    # ----------------------------------------------------------------- events
    def next_event(self) -> datetime | None:
        """Return the earliest instant at which a poll could do anything.

        That is the next delivery, or the first instant after the last poll at
        which a waiting row is due, its send window open and its device under
        its limits (a device only gets below a limit when its rolling hour or
        day lapses, or when a delivery frees an in-flight slot, which is an
        event of its own). Arrivals are the caller's to add. None when nothing
        is pending. Answered from the last poll's snapshot: no query.
        """
        times = [to_us(self._in_flight[0].send_at)] if self._in_flight else []
        if self._now is not None:
            now = self._now
            # A poll has already selected what it could at `now`: from the next one on.
            after = window_ready_after(to_us(now))
            windowed = self.windows.active
            for (seq_id, zone, device), due in self._waiting.first_due(windowed).items():
                free = self._free_at(device, now)
                if free is None:
                    continue
                t = max(due - self._db_offset_us, free, after)
                times.append(self.windows.next_open(seq_id, zone, t) if windowed else t)
        return from_us(min(times)) if times else None

    def _free_at(self, device_id: str | None, now: datetime) -> int | None:
        """Return the first instant from ``now`` on at which a device may take a
        message, if nothing is delivered first; None: only a delivery (or nothing)
        can free it."""
        device = self.fleet.devices.get(device_id) if device_id is not None else None
        if device is None:
            return None
        if device.blocked(now) is None:
            return to_us(now)
        lapses = device.unblocks_at(now)
        return None if lapses is None else to_us(lapses)

    def idle(self, at: datetime) -> PollStats:
        """Return the timeline row of a poll at which nothing can happen.

        Only called before :meth:`next_event`, when no row can be sent yet:
        none is due, or the due ones wait for their window or for their
        device, which skips each one the poll selects (up to ``batch_size``).
        """
        t = to_us(at)
        # Due by the database clock, windows open by the application's (as a poll selects).
        skipped = min(self.capacity.batch_size,
                      self._waiting.selectable(t, self.windows, self._db_offset_us))
        return PollStats(at, 0, 0, 0, skipped, self._waiting.backlog(t), self._waiting.active,
                         self.completed_contacts)

    def down(self, clock: Clock, at: datetime) -> PollStats:
        """Return the timeline row of a poll that an outage prevents.

        The processor does not poll, but the devices still send what they hold:
        those sends are recorded, as a poll records them, and counted in this
        row; the backlog is what is due and waiting at ``at``.
        """
        if self._in_flight and self._in_flight[0].send_at <= at:
            self._deliver(clock, before=at, inclusive=True)
            self._waiting = self._book.snapshot(self.con)
        return self._stats(at, 0)

    # ------------------------------------------------------------------- poll
    def poll(
        self,
        clock: Clock,
        at: datetime,
        arrivals: Arrivals,
        lo: int,
        hi: int,
        *,
        recovering: bool = False,
    ) -> PollStats:
        """Run one poll at ``at`` and return its statistics.

        ``arrivals.frame.iloc[lo:hi]`` are the leads (time, phone, trigger,
        device_id, timezone) that arrived since the previous poll; they are
        enrolled at ``at``. ``recovering``: the first poll after an outage,
        which applies the catch-up policy first.
        """
        self._deliver(clock, before=at, inclusive=False)
        clock.advance_to(at)
        self._now = at
        if recovering:
            self._catch_up(at)
        if lo < hi:
            self._enrol(arrivals, lo, hi, at)
        skipped = self._process_due(at)
        self._note_full(at)
        self._deliver(clock, before=at, inclusive=True)
        # The polls until the next event are answered from this snapshot.
        self._waiting = self._book.snapshot(self.con)
        return self._stats(at, skipped)

    def _stats(self, at: datetime, skipped: int) -> PollStats:
        """Return the timeline row of a poll at ``at`` (from the counts since the
        last one, which start again at zero, and the waiting rows' snapshot)."""
        stats = PollStats(time=at, enrolled=self._enrolled, sent=self._sent,
                          failed=self._failed, skipped=skipped,
                          backlog=self._waiting.backlog(to_us(at)),
                          active=self._waiting.active,
                          completed_contacts=self.completed_contacts)
        self._enrolled = self._sent = self._failed = 0
        return stats

    def _device_full(self, device_id: str, at: datetime) -> bool:
        """Return whether ``device_id`` can queue nothing more at ``at``."""
        return self.fleet.blocked(device_id, at) is not None

    def _note_full(self, at: datetime) -> None:
        """Log which devices' "full" flag changed after the selection at ``at``."""
        full = {i for i, d in enumerate(self._device_ids) if self._device_full(d, at)}
        self._full_log.extend(full_changes(self._full, full, to_us(at)))
        self._full = full

    def wait_log(self) -> WaitLog:
        """Return what the lateness attribution needs besides the tables."""
        return WaitLog.of(self._full_log, self._held)

    def _enrol(self, arrivals: Arrivals, lo: int, hi: int, at: datetime) -> None:
        for phone in self._add_leads(arrivals, lo, hi):
            enrolments = row.enroll_lead(self.con, phone, now=at, schedule=self.schedule)
            self._enrolled += sum(e.enrolled for e in enrolments)
            for e in enrolments:
                if e.enrolled:
                    self._book_entry(e, phone, at)

    def _book_entry(self, enrolment: row.Enrollment, phone: str, at: datetime) -> None:
        """Note an entry step's row (due ``at``) in the book; the later rows created
        with it (``all_at_enrollment``) are read."""
        assert enrolment.row_id is not None  # an enrolment that took has its row
        device, zone = self._lead_row[phone]
        seq_id = self._sequence_ids[enrolment.sequence]
        self._book.added(enrolment.row_id, (to_us(at), seq_id, zone, device))
        if self.schedule.all_at_enrollment:
            self._book.lose_track()

    def _add_leads(self, arrivals: Arrivals, lo: int, hi: int) -> list[str]:
        """Add the leads that arrived (``arrivals`` rows ``lo:hi``); return their phones."""
        # A phone seen before (a trace may repeat one with another trigger) gets
        # the new keyword added to its lead, as a CRM import would. New leads go in
        # first, in one prepared statement; then the added keywords; then enrolment.
        phones = arrivals.phones[lo:hi]
        new, again = [], []
        for i, phone in enumerate(phones, start=lo):
            if phone in self._lead_key:
                again.append((phone, arrivals.triggers[i]))
                continue
            self._lead_key[phone] = arrivals.keys[i]
            self._lead_row[phone] = (arrivals.devices[i],
                                     arrivals.zones[i] if self._book.zones else "")
            new.append((phone, arrivals.devices[i], arrivals.triggers[i],
                        from_us(arrivals.times_us[i]), arrivals.zones[i]))
        self._zones.update(arrivals.zones[lo:hi])
        schema.add_lead_rows(self.con, new)
        for phone, trigger in again:
            schema.add_lead_trigger(self.con, phone, trigger)
        return phones

    def _catch_up(self, at: datetime) -> None:
        """Apply the catch-up policy at the first poll after an outage."""
        self._book.lose_track()
        if self.schedule.catch_up == SKIP_STALE:
            # Skipping a step of an anchored schedule can create a next step that is
            # stale already: skip again until none is left.
            cutoff = from_us(stale_cutoff(to_us(at), self.schedule.stale_after_us))
            while stale := row_queries.overdue_rows(self.con, cutoff):
                for row_id in stale:
                    self._advance(row.complete_step(self.con, row_id, now=at,
                                                    schedule=self.schedule, skipped=True))
        elif self.schedule.catch_up == RESCHEDULE:
            row_queries.reschedule_overdue(self.con, now=at)

    def _open_windows(self, at: datetime) -> row_send.OpenWindows | None:
        if not self.windows.active:
            return None
        t = to_us(at)
        windowed = self.windows.windowed_sequences
        keys = [f"{seq_id}|{zone}" for seq_id in windowed for zone in sorted(self._zones)
                if self.windows.is_open(seq_id, zone, t)]
        return row_send.OpenWindows(windowed, keys)

    def _process_due(self, at: datetime) -> int:
        skipped = 0
        windows = self._open_windows(at)
        for due in row_send.due_rows(self.con, self.capacity.batch_size, now=at, windows=windows):
            device = due.assigned_device_id
            if self.fleet.blocked(device, at) is not None:
                skipped += 1
                continue
            if not row_send.claim(self.con, due.id, device, now=at):
                self._book.lose_track()
                continue
            self._book.claimed(due.id)
            self._queue(due, device, at)
            if self.on_queue:
                self._complete(due.id, at)
        return skipped

    def _queue(self, due: row_send.DueRow, device: str, at: datetime) -> None:
        """Queue a claimed row's message behind its device's pacing gap (two draws,
        keyed by its lead and the lead's count of queued messages)."""
        phone = due.contact_phone
        key, count = self._lead_key[phone], self._lead_queued.get(phone, 0)
        self._lead_queued[phone] = count + 1
        u_fail = send_draw(*self._seed, key, count, FAIL_DRAW)
        u_gap = send_draw(*self._seed, key, count, GAP_DRAW)
        gap = pacing_gap(u_gap, due.min_delay_seconds, due.max_delay_seconds)
        send_at = self.fleet.queue(device, at, gap)
        outcome = "failed" if send_fails(u_fail, self.capacity.failure_rate) else "sent"
        message_id = row_send.queue_message(self.con, due, device, scheduled_at=send_at, now=at)
        self._queued += 1
        heapq.heappush(
            self._in_flight,
            _InFlight(send_at, self._queued, message_id, due.id, device, outcome),
        )

    def _complete(self, row_id: int, at: datetime) -> None:
        """Advance the contact whose step's message was queued or delivered at ``at``."""
        advance = row.complete_step(self.con, row_id, now=at, schedule=self.schedule)
        self._advance(advance)
        self._book_advance(advance, at)

    def _book_advance(self, advance: row.Advance, at: datetime) -> None:
        """Note a completion in the book: the row ends, and the next step's row or
        the chained sequence's entry row (due ``at``) waits, for the same lead."""
        ended = self._book.ended(advance.row_id) if advance.completed else None
        if ended is None:
            self._book.lose_track()
            return
        _, seq_id, zone, device = ended
        if advance.next_row_id is not None:
            assert advance.next_due is not None  # a new row has its due time
            self._book.added(advance.next_row_id, (to_us(advance.next_due), seq_id, zone, device))
        chained = advance.chained
        if chained is not None and chained.enrolled:
            assert chained.row_id is not None
            self._book.added(chained.row_id,
                             (to_us(at), self._sequence_ids[chained.sequence], zone, device))
            if self.schedule.all_at_enrollment:
                self._book.lose_track()

    def _deliver(self, clock: Clock, *, before: datetime, inclusive: bool) -> None:
        heap = self._in_flight
        while heap and (heap[0].send_at < before or (inclusive and heap[0].send_at == before)):
            msg = heapq.heappop(heap)
            clock.advance_to(msg.send_at)
            self.fleet.delivered(msg.device_id)
            error = FAILED_SEND_ERROR if msg.outcome == "failed" else None
            row_send.record_delivery(self.con, msg.message_id, msg.outcome, error=error,
                                now=msg.send_at)
            if msg.outcome == "sent":
                self._sent += 1
                if not self.on_queue:
                    self._complete(msg.row_id, msg.send_at)
            else:
                self._failed += 1
                if not self.on_queue:
                    self._fail(msg.row_id, msg.send_at)

    def _fail(self, row_id: int, at: datetime) -> None:
        """Record the failed delivery of a row's message at ``at`` (retried or failed)."""
        status = row_send.fail_step(self.con, row_id, FAILED_SEND_ERROR,
                                    self.capacity.max_retries, now=at)
        if status == "active":
            self._book.released(row_id)
        else:
            self._book.ended(row_id)

    def _advance(self, advance: row.Advance) -> None:
        if advance.finished:
            self.completed_contacts += 1
        if advance.chained is not None and advance.chained.enrolled:
            self._enrolled += 1

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every table of the run, read back from the database."""
        return schema.read_tables(self.con)
