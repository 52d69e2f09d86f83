"""The batch engine: the one-by-one rules on in-memory state, written as tables at the end.

The per-row engine (:mod:`seqsim.engine.row`) pays about a millisecond per SQL
statement, eight or so per message. This engine applies exactly the same
rules poll by poll, but keeps the state of the run in indexed Python
structures and builds the production tables once, when the run ends. Its
answers are the row engine's (property tests compare every table on random
scenarios); only ``sequence_contacts.id`` may differ, because the
row engine's sequence also counts the ids its no-op enrolments consumed.

What makes it fast:

- due rows sit in a sorted index keyed like the production ``ORDER BY``
  (``next_trigger_time, sequence_id, contact_phone, current_step``), so a
  poll reads only the rows it can act on;
- the same index per device lets a poll skip a device that is over its
  limits as a whole: it can queue only its ``remaining`` quota, and those are
  its first rows in the batch, exactly as the row-by-row check would find;
- polls where nothing can happen, including stretches where every due row's
  device is over a limit, are not run: their timeline rows are computed.

All instants are integer microseconds since 1970-01-01 (naive UTC) inside the
engine; they are converted once, at the end.

Policies follow :mod:`seqsim.engine.row_processor` exactly; with send windows, due rows
are also indexed per (sequence, lead time zone) so a poll merges only the
groups whose window is open.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
from sortedcontainers import SortedList

from seqsim.engine.batch_state import Lead, Messages, Rows, load_definitions, state_tables
from seqsim.engine.fleet import Fleet, pacing_gap_us
from seqsim.engine.poll import Arrivals, Clock, PollStats
from seqsim.engine.rules import (
    FAILED_SEND_ERROR,
    RESCHEDULE,
    SKIP_STALE,
    SKIPPED_ERROR,
    Schedule,
    SendWindows,
    calendar_days,
    enrollment_offsets,
    next_due,
    reschedule_shift,
    retries_exhausted,
    send_fails,
    stale_cutoff,
    window_ready_after,
)
from seqsim.engine.schema import read_tables
from seqsim.model.scenario import Scenario
from seqsim.units import DAY_US, HOUR_US, from_us, to_us

__all__ = ["BatchProcessor"]

_NEVER = 2**62
# "Not blocked": earlier than any instant a run can hold. Instants are µs since
# 1970, so anything before 1970 is negative and 0 would read as blocked.
_UNBLOCKED = -_NEVER
_Key = tuple[int, int, str, int, int]  # due, sequence id, phone, day number, row index


class BatchProcessor:
    """Runs polls on in-memory state; :meth:`tables` returns the tables.

    Same interface as :class:`seqsim.engine.row_processor.RowProcessor`: ``poll``,
    ``idle`` and ``next_event``.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        scenario: Scenario,
        device_ids: list[str],
        rng: np.random.Generator,
    ) -> None:
        self.con = con
        cap = scenario.capacity
        self.batch_size = cap.batch_size
        self.failure_rate = cap.failure_rate
        self.max_retries = cap.max_retries
        policy = self.policy = scenario.policy
        schedule = self.schedule = Schedule.of(policy)
        self.on_queue = schedule.on_queue
        self.all_at_enrollment = schedule.all_at_enrollment
        self.rng = rng
        self.fleet = Fleet(device_ids, hourly_limit=cap.hourly_limit, daily_limit=cap.daily_limit,
                           in_flight_limit=cap.in_flight_limit, hour=HOUR_US, day=DAY_US,
                           calendar=calendar_days(policy))
        self.steps, self.sequences = load_definitions(con)
        ids = {name: seq_id for seq_id, name in con.execute("SELECT id, name FROM sequences")
               .fetchall()}
        self.windows = SendWindows(policy, scenario.sequences, ids)
        # Per (sequence id, time zone): the due index of a send window's rows.
        self._due_by_group: dict[tuple[int, str], SortedList] = {}
        self._offsets = {seq_id: self._schedule(seq_id) for seq_id in self.sequences}
        self._by_trigger = {s.trigger: s for s in self.sequences.values()}
        self.rows = Rows()
        self.messages = Messages()
        self.leads: dict[str, Lead] = {}
        self._keys: set[tuple[int, str, int]] = set()
        self._due: SortedList = SortedList()
        self._due_by_device: dict[str | None, SortedList] = {}
        # Without per-device limits no device is ever over one: the global index
        # alone decides, and the per-device indexes are not kept.
        self._limited = bool(cap.hourly_limit or cap.daily_limit or cap.in_flight_limit)
        self._in_flight: list[tuple[int, int, int]] = []  # (send_at, message index, row)
        self._blocked_until: dict[str, int] = {}
        self._now = _UNBLOCKED
        self.active = 0
        self.completed_contacts = 0
        self._enrolled = self._sent = self._failed = 0

    def _schedule(self, seq_id: int) -> list[tuple[int, int]]:
        """Return a sequence's (step id, offset from enrolment) in day order, for
        all-at-enrolment."""
        step_ids = []
        step: int | None = self.sequences[seq_id].entry_step
        while step is not None:
            step_ids.append(step)
            step = self.steps[step].next_step
        delays = [self.steps[s].delay_us for s in step_ids]
        return list(zip(step_ids, enrollment_offsets(self.schedule.delay_from, delays),
                        strict=True))

    # ------------------------------------------------------------ due index
    def _key(self, i: int) -> _Key:
        r = self.rows
        return (r.due[i], r.sequence_id[i], r.phone[i], self.steps[r.step[i]].day_number, i)

    def _group(self, i: int) -> tuple[int, str]:
        return self.rows.sequence_id[i], self.leads[self.rows.phone[i]].timezone

    def _make_due(self, i: int) -> None:
        key = self._key(i)
        self._due.add(key)
        if self.windows.active:
            group = self._group(i)
            per_group = self._due_by_group.get(group)
            if per_group is None:
                per_group = self._due_by_group[group] = SortedList()
            per_group.add(key)
        if not self._limited:
            return
        device = self.rows.device[i]
        per_device = self._due_by_device.get(device)
        if per_device is None:
            per_device = self._due_by_device[device] = SortedList()
        per_device.add(key)

    def _drop_due(self, key: _Key) -> None:
        self._due.remove(key)
        if self.windows.active:
            self._due_by_group[self._group(key[4])].remove(key)
        if self._limited:
            self._due_by_device[self.rows.device[key[4]]].remove(key)

    def _open_groups(self, now: int) -> list[SortedList]:
        """Return the due indexes of the groups whose send window is open at ``now``."""
        windows = self.windows
        return [keys for (seq_id, zone), keys in self._due_by_group.items()
                if keys and windows.is_open(seq_id, zone, now)]

    def _eligible_count(self, now: int) -> int:
        """Return how many rows a poll at ``now`` could select (due, window open)."""
        if not self.windows.active:
            return self._due_count(now)
        return sum(keys.bisect_left((now + 1,)) for keys in self._open_groups(now))

    def _due_count(self, at: int) -> int:
        return self._due.bisect_left((at + 1,))

    # -------------------------------------------------------------- events
    def next_event(self) -> datetime | None:
        """Return the earliest instant a poll could change anything, or None."""
        best = self._in_flight[0][0] if self._in_flight else _NEVER
        if self.windows.active:
            # A waiting row can go when its window is open, from the next poll on.
            after = window_ready_after(self._now)
            for (seq_id, zone), keys in self._due_by_group.items():
                if keys:
                    first = max(keys[0][0], after)
                    best = min(best, self.windows.next_open(seq_id, zone, first))
            return None if best == _NEVER else from_us(best)
        blocked = {d: u for d, u in self._blocked_until.items() if u > self._now}
        self._blocked_until = blocked
        if not blocked:
            if self._due:
                best = min(best, self._due[0][0])
            return None if best == _NEVER else from_us(best)
        for device, keys in self._due_by_device.items():
            if not keys:
                continue
            first = keys[0][0]
            if first >= best:
                continue
            dev = self.fleet.devices.get(device) if device is not None else None
            if dev is None or not dev.online:
                continue
            until = blocked.get(device, _UNBLOCKED)
            if until == _NEVER:
                continue  # waits for a delivery, which is an event itself
            best = min(best, max(first, until))
        return None if best == _NEVER else from_us(best)

    def idle(self, at: datetime) -> PollStats:
        """Return the timeline row of a poll at which nothing can change.

        Rows may be due there, all on devices over a limit: such a poll would
        select them and skip every one, as the row engine's poll does.
        """
        now = to_us(at)
        due = self._due_count(now)
        return PollStats(at, 0, 0, 0, min(self._eligible_count(now), self.batch_size), due,
                         self.active, self.completed_contacts)

    def down(self, at: datetime) -> PollStats:
        """Return the timeline row of a poll that an outage prevents (nothing runs)."""
        return PollStats(at, 0, 0, 0, 0, self._due_count(to_us(at)), self.active,
                         self.completed_contacts)

    # ---------------------------------------------------------------- poll
    def poll(self, clock: Clock, at: datetime, arrivals: Arrivals, lo: int, hi: int, *,
             recovering: bool = False) -> PollStats:
        """Run one poll at ``at`` enrolling ``arrivals[lo:hi]``; return its timeline row.

        ``recovering``: the first poll after an outage (applies the catch-up).
        """
        now = self._now = to_us(at)
        self._deliver(now, inclusive=False)
        clock.advance_to(at)
        if recovering:
            self._catch_up(now)
        self._enrol(arrivals, lo, hi, now)
        skipped = self._process_due(now)
        self._deliver(now, inclusive=True)
        due = self._due_count(now)
        stats = PollStats(at, self._enrolled, self._sent, self._failed, skipped, due,
                          self.active, self.completed_contacts)
        self._enrolled = self._sent = self._failed = 0
        return stats

    def _enrol(self, arrivals: Arrivals, lo: int, hi: int, now: int) -> None:
        if lo == hi:
            return
        phones = arrivals.phones[lo:hi]
        for phone, trigger, device, t, zone in zip(
            phones, arrivals.triggers[lo:hi], arrivals.devices[lo:hi], arrivals.times_us[lo:hi],
            arrivals.zones[lo:hi], strict=True,
        ):
            lead = self.leads.get(phone)
            if lead is None:
                self.leads[phone] = Lead(device, trigger, t, zone)
            elif trigger not in lead.triggers:
                lead.triggers.append(trigger)
        for phone in phones:
            lead = self.leads[phone]
            matches = sorted(
                self._by_trigger[k].id for k in set(lead.triggers) if k in self._by_trigger
            )
            for seq_id in matches:
                if self.sequences[seq_id].is_active:
                    self._enter(seq_id, phone, now)

    def _enter(self, seq_id: int, phone: str, now: int) -> None:
        seq = self.sequences[seq_id]
        if not seq.is_active:
            return
        key = (seq_id, phone, seq.entry_step)
        if key in self._keys:
            return
        self._keys.add(key)
        lead = self.leads[phone]
        self._enrolled += 1
        # One-by-one creates the entry row only; all-at-enrolment every step's.
        steps = self._offsets[seq_id] if self.all_at_enrollment else [(seq.entry_step, 0)]
        for step, offset in steps:
            self._keys.add((seq_id, phone, step))
            i = self.rows.add(seq_id, phone, None, step, now + offset, lead.device_id, now)
            self.active += 1
            self._make_due(i)

    def _catch_up(self, now: int) -> None:
        """Apply the catch-up policy at the first poll after an outage."""
        if self.schedule.catch_up == SKIP_STALE:
            cutoff = stale_cutoff(now, self.schedule.stale_after_us)
            # Skipping a step of an anchored schedule can create a next step that is
            # stale already: skip again until none is left.
            while stale := list(self._due.irange(maximum=(cutoff,), inclusive=(True, False))):
                for key in stale:
                    self._drop_due(key)
                    self.rows.last_error[key[4]] = SKIPPED_ERROR
                    self._complete(key[4], now)
        elif self.schedule.catch_up == RESCHEDULE:
            first: dict[tuple[int, str], int] = {}
            for key in self._due.irange(maximum=(now,), inclusive=(True, False)):
                first.setdefault((key[1], key[2]), key[0])
            if not first:
                return
            moved = [k for k in self._due if (k[1], k[2]) in first]
            for key in moved:
                self._drop_due(key)
            for key in moved:
                i = key[4]
                self.rows.due[i] += reschedule_shift(now, first[(key[1], key[2])])
                self._make_due(i)

    def _candidates(self, now: int) -> tuple[list[_Key], int]:
        """Return the due rows this poll queues, in processing order, and how many
        selected rows it skips because their device is over a limit."""
        if self.windows.active:
            return self._candidates_in_windows(now)
        selected = min(self._due_count(now), self.batch_size)
        if selected == 0:
            return [], 0
        if not self._limited:
            # Every device the workload assigns exists (scenario validation).
            return list(self._due.islice(0, selected)), 0
        if selected <= 2 * len(self.fleet.devices):
            return self._candidates_by_row(now, list(self._due.islice(0, selected)))
        cutoff = self._due[selected - 1]
        chosen: list[tuple[int, int, str, int, int]] = []
        for device, keys in self._due_by_device.items():
            if not keys or keys[0] > cutoff:
                continue
            dev = self.fleet.devices.get(device) if device is not None else None
            if dev is None or self._blocked_until.get(device, _UNBLOCKED) > now:
                continue
            quota = dev.remaining(now)
            if quota == 0:
                until = dev.unblocks_at(now)
                self._blocked_until[device] = _NEVER if until is None else until
                continue
            for key in keys.irange(maximum=cutoff):
                if quota is not None:
                    if quota == 0:
                        break
                    quota -= 1
                chosen.append(key)
        chosen.sort()
        return chosen, selected - len(chosen)

    def _candidates_in_windows(self, now: int) -> tuple[list[_Key], int]:
        """`_candidates` under send windows: the oldest due rows of the open groups."""
        bound = (now, _NEVER)
        merged = heapq.merge(*(keys.irange(maximum=bound) for keys in self._open_groups(now)))
        selected = list(itertools.islice(merged, self.batch_size))
        if not self._limited:
            return selected, 0
        return self._candidates_by_row(now, selected)

    def _candidates_by_row(self, now: int, selected: list[_Key]) -> tuple[list[_Key], int]:
        """`_candidates` for a short batch of ``selected`` due rows: walk them, a
        quota per device."""
        quotas: dict[str | None, int | None] = {}
        chosen = []
        for key in selected:
            device = self.rows.device[key[4]]
            if device in quotas:
                quota = quotas[device]
            else:
                dev = self.fleet.devices.get(device) if device is not None else None
                if dev is None or self._blocked_until.get(device, _UNBLOCKED) > now:
                    quota = 0
                else:
                    quota = dev.remaining(now)
                    if quota == 0:
                        until = dev.unblocks_at(now)
                        self._blocked_until[device] = _NEVER if until is None else until
            if quota == 0:
                quotas[device] = 0
                continue
            quotas[device] = None if quota is None else quota - 1
            chosen.append(key)
        return chosen, len(selected) - len(chosen)

    def _process_due(self, now: int) -> int:
        chosen, skipped = self._candidates(now)
        if not chosen:
            return skipped
        draws = self.rng.random((len(chosen), 2)).tolist()
        rows, msgs = self.rows, self.messages
        for key, (u_fail, u_gap) in zip(chosen, draws, strict=True):
            i = key[4]
            device = rows.device[i]
            self._drop_due(key)
            rows.claimed_by[i] = device
            rows.claimed_at[i] = now
            seq = self.sequences[rows.sequence_id[i]]
            gap = pacing_gap_us(u_gap, seq.min_delay_seconds, seq.max_delay_seconds)
            send_at = self.fleet.queue(device, now, gap)
            m = len(msgs.row)
            msgs.row.append(i)
            msgs.device.append(device)
            msgs.due.append(rows.due[i])
            msgs.queued.append(now)
            msgs.scheduled.append(send_at)
            msgs.sent.append(None)
            msgs.planned.append("failed" if send_fails(u_fail, self.failure_rate) else "sent")
            msgs.outcome.append(None)
            msgs.attempt.append(rows.retry_count[i] + 1)
            msgs.error.append(None)
            if self.on_queue:
                self._complete(i, now)
            heapq.heappush(self._in_flight, (send_at, m, i))
        return skipped

    def _deliver(self, now: int, *, inclusive: bool) -> None:
        heap = self._in_flight
        msgs = self.messages
        while heap and (heap[0][0] < now or (inclusive and heap[0][0] == now)):
            send_at, m, i = heapq.heappop(heap)
            device = msgs.device[m]
            self.fleet.delivered(device)
            if self._blocked_until.get(device) == _NEVER:
                del self._blocked_until[device]
            msgs.sent[m] = send_at
            msgs.outcome[m] = msgs.planned[m]
            if msgs.outcome[m] == "sent":
                self._sent += 1
                if not self.on_queue:
                    self._complete(i, send_at)
            else:
                msgs.error[m] = FAILED_SEND_ERROR
                self._failed += 1
                if not self.on_queue:
                    self._fail(i, send_at)

    def _complete(self, i: int, now: int) -> None:
        rows = self.rows
        rows.status[i] = "completed"
        rows.completed_at[i] = now
        rows.claimed_by[i] = rows.claimed_at[i] = None
        self.active -= 1
        step = self.steps[rows.step[i]]
        seq_id, phone = rows.sequence_id[i], rows.phone[i]
        if step.next_step is not None:
            key = (seq_id, phone, step.next_step)
            if key in self._keys:
                return
            self._keys.add(key)
            nxt = self.steps[step.next_step]
            due = next_due(self.schedule.delay_from, now, rows.due[i], step.delay_us, nxt.delay_us)
            j = rows.add(seq_id, phone, rows.name[i], nxt.id, due, rows.device[i], now)
            self.active += 1
            self._make_due(j)
            return
        self.completed_contacts += 1
        lead = self.leads.get(phone)
        seq_trigger = self.sequences[seq_id].trigger
        if lead is not None:
            lead.triggers = [k for k in lead.triggers if k != seq_trigger]
        if step.chain is not None and lead is not None:
            chained = self.sequences[step.chain]
            if chained.trigger not in lead.triggers:
                lead.triggers.append(chained.trigger)
            self._enter(chained.id, phone, now)

    def _fail(self, i: int, now: int) -> None:
        rows = self.rows
        rows.retry_count[i] += 1
        rows.last_error[i] = FAILED_SEND_ERROR
        rows.claimed_by[i] = rows.claimed_at[i] = None
        if retries_exhausted(rows.retry_count[i], self.max_retries):
            rows.status[i] = "failed"
            rows.failed_at[i] = now
            self.active -= 1
        else:
            self._make_due(i)

    # -------------------------------------------------------------- tables

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every table of the run: the static ones from the database, and
        ``leads``, ``sequence_contacts`` and ``messages`` built from the engine's state
        (canonical, as the row engine's tables read back from DuckDB are)."""
        own = state_tables(self.leads, self.rows, self.messages, self.steps)
        return {**read_tables(self.con), **own}
