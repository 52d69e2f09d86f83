"""The scheduling rules every engine calls: plain functions on plain numbers.

`seqsim.model.policy.PolicyConfig` is what a planner writes; this module is
what the engines decide with it, so the per-row engine, the batch engine and
the compiled kernel answer every scheduling question with the same code (the
functions marked ``register_jitable`` are plain Python to the per-row engine
and compiled into :mod:`seqsim.engine.kernel`):

- the policy's choices as integer codes (:class:`Schedule`);
- when a new row is due once a step completes (:func:`next_due`), and where
  all-at-enrolment rows fall (:func:`enrollment_offsets`);
- the poll an instant is first seen at (:func:`first_poll_at_or_after`);
- the two uniforms of a queued message (:func:`send_draw`, keyed by
  :func:`send_seed`), whether its send fails and when retries are exhausted
  (:func:`send_fails`, :func:`retries_exhausted`);
- what the catch-up after an outage skips or moves (:func:`stale_cutoff`,
  :func:`reschedule_shift`);
- whether a (sequence, time zone) send window is open, and when it next opens
  (:class:`SendWindows`); which polls fall in an outage (:class:`Outages`);
  the calendar day a daily cap counts in (:func:`calendar_days`).

The sending draws are keyed, not streamed: a queued message's failure draw
(purpose :data:`FAIL_DRAW`) and pacing-gap draw (:data:`GAP_DRAW`) are
:func:`send_draw` of (the run's seed, its lead's key, how many messages that
lead had queued before it, the purpose). The lead's key is its index in the
run's arrivals in order of first arrival (:func:`seqsim.engine.poll.lead_keys`),
so a message's draws depend on no other lead, whatever order the messages
are queued in, and a shard of the run (a subset of its leads that keeps their
keys) draws what the whole run does. Two runs that differ only in capacity
or policy give the same message the same draws (common random numbers).

Instants here are integer microseconds since 1970 (naive UTC), the unit of
:mod:`seqsim.units`; the per-row engine converts its datetimes with
:func:`seqsim.units.to_us`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numba.extending import register_jitable

from seqsim.model.policy import CATCH_UP, DELAY_FROM, STRATEGIES, PolicyConfig
from seqsim.model.sequence import SequenceConfig
from seqsim.model.windows import CalendarDays, SendWindow
from seqsim.units import DAY_US, ONE_US, from_us, to_us

__all__ = [
    "ALL_AT_ENROLLMENT",
    "BURST",
    "COMPLETED_STEP",
    "DEFAULT_SCHEDULE",
    "ENROLLMENT",
    "FAILED_SEND_ERROR",
    "FAIL_DRAW",
    "GAP_DRAW",
    "NEXT_STEP",
    "ONE_BY_ONE",
    "RESCHEDULE",
    "ROW_STATUSES",
    "SKIPPED_ERROR",
    "SKIP_STALE",
    "DatetimeCalendar",
    "Outages",
    "Schedule",
    "SendWindows",
    "calendar_days",
    "enrollment_offsets",
    "first_poll_at_or_after",
    "is_default_timing",
    "next_due",
    "reschedule_shift",
    "retries_exhausted",
    "send_draw",
    "send_fails",
    "send_seed",
    "stale_cutoff",
    "window_ready_after",
]

#: The statuses a ``sequence_contacts`` row may have (the compiled engine's codes
#: are their indexes: seqsim.engine.kernel_layout.ACTIVE, COMPLETED, FAILED).
ROW_STATUSES = ("active", "completed", "failed")
#: ``last_error`` of a step that ``catch_up = "skip_stale"`` skipped (completed unsent).
SKIPPED_ERROR = "skipped: overdue at recovery"
#: ``last_error`` of a row (and ``error`` of a message) whose send failed.
FAILED_SEND_ERROR = "delivery failed"

# The policy's choices as the engines compute with them: each code is the
# choice's index in the model's tuple of valid values.
ONE_BY_ONE = STRATEGIES.index("one_by_one")
ALL_AT_ENROLLMENT = STRATEGIES.index("all_at_enrollment")
NEXT_STEP = DELAY_FROM.index("next_step")
COMPLETED_STEP = DELAY_FROM.index("completed_step")
ENROLLMENT = DELAY_FROM.index("enrollment")
BURST = CATCH_UP.index("burst")
SKIP_STALE = CATCH_UP.index("skip_stale")
RESCHEDULE = CATCH_UP.index("reschedule")


@dataclass(frozen=True)
class Schedule:
    """How rows are created, timed and advanced: a policy's choices as codes.

    ``strategy``: :data:`ONE_BY_ONE` (a step's row when the previous one
    completes) or :data:`ALL_AT_ENROLLMENT` (every row at enrolment);
    ``delay_from``: :data:`NEXT_STEP`, :data:`COMPLETED_STEP` or
    :data:`ENROLLMENT`; ``on_queue``: a contact advances when its message is
    queued (``progress_on = "queue"``) rather than delivered; ``catch_up``:
    :data:`BURST`, :data:`SKIP_STALE` or :data:`RESCHEDULE`;
    ``stale_after_us``: how overdue a step may be before ``skip_stale`` drops
    it; ``moves_due_times``: the catch-up can move due times (``reschedule``
    with outages), so due times are not checked against the delays.
    """

    strategy: int = ONE_BY_ONE
    delay_from: int = NEXT_STEP
    on_queue: bool = False
    catch_up: int = BURST
    stale_after_us: int = DAY_US
    moves_due_times: bool = False

    @classmethod
    def of(cls, policy: PolicyConfig | None) -> Schedule:
        """Return the schedule of ``policy`` (None: the default policy)."""
        if policy is None:
            return cls()
        catch_up = CATCH_UP.index(policy.catch_up)
        return cls(
            strategy=STRATEGIES.index(policy.strategy),
            delay_from=DELAY_FROM.index(policy.delay_from),
            on_queue=policy.progress_on == "queue",
            catch_up=catch_up,
            stale_after_us=policy.stale_after // ONE_US,
            moves_due_times=catch_up == RESCHEDULE and bool(policy.outages),
        )

    @property
    def all_at_enrollment(self) -> bool:
        """Whether every step's row is created at enrolment."""
        return self.strategy == ALL_AT_ENROLLMENT

    @property
    def anchored(self) -> bool:
        """Whether a row's due time follows the previous row's due time (not its completion)."""
        return self.strategy == ALL_AT_ENROLLMENT or self.delay_from == ENROLLMENT


DEFAULT_SCHEDULE = Schedule()


@register_jitable
def next_due(
    delay_from: int, completed_at: int, completed_due: int, completed_delay_us: int,
    next_delay_us: int,
) -> int:
    """Return when the next step's row is due once a step completes (one-by-one).

    :data:`NEXT_STEP`: completion + the next step's delay (the design);
    :data:`COMPLETED_STEP`: completion + the completed step's delay (the
    earlier version's mistake); :data:`ENROLLMENT`: the completed row's due
    time + the next step's delay, so the schedule stays anchored to enrolment
    whatever the lateness.
    """
    if delay_from == NEXT_STEP:
        return completed_at + next_delay_us
    if delay_from == COMPLETED_STEP:
        return completed_at + completed_delay_us
    return completed_due + next_delay_us


def enrollment_offsets(delay_from: int, delays_us: Sequence[int]) -> list[int]:
    """Return each step's offset from enrolment under ``all_at_enrollment``.

    ``delays_us`` are the steps' trigger delays in day order. The entry step is
    due at enrolment; step k at step k-1's offset + step k's delay (or step
    k-1's own delay under :data:`COMPLETED_STEP`).
    """
    offsets = [0]
    for k in range(1, len(delays_us)):
        step = delays_us[k - 1] if delay_from == COMPLETED_STEP else delays_us[k]
        offsets.append(offsets[-1] + step)
    return offsets


@register_jitable
def first_poll_at_or_after(offset: int, poll: int) -> int:
    """Return the index of the first poll at or after ``offset`` from the run start.

    ``offset`` and ``poll`` are in one unit (microseconds, or timedeltas); a
    lead arriving between two polls is enrolled by the next one, and an event
    at ``offset`` can first be acted on by this poll.
    """
    return -(-offset // poll)


#: The purposes of a queued message's two draws (:func:`send_draw`).
FAIL_DRAW, GAP_DRAW = 0, 1
_MASK32 = 0xFFFFFFFF


@register_jitable
def _mul32(a: int, c: int) -> int:
    """Return ``a * c mod 2**32`` for 32-bit ``a`` and ``c``, in 16-bit halves so no
    product leaves int64 (Python, numpy scalars and numba agree exactly)."""
    low = a * (c & 0xFFFF)
    high = ((a * (c >> 16)) & 0xFFFF) << 16
    return (low + high) & _MASK32


@register_jitable
def _murmur3(seed: int, words: tuple[int, int, int, int, int]) -> int:
    """Return MurmurHash3 (x86, 32-bit) of five 32-bit words under a 32-bit ``seed``."""
    h = seed
    for w in words:
        k = _mul32(w, 0xCC9E2D51)
        k = ((k << 15) | (k >> 17)) & _MASK32
        k = _mul32(k, 0x1B873593)
        h ^= k
        h = ((h << 13) | (h >> 19)) & _MASK32
        h = (_mul32(h, 5) + 0xE6546B64) & _MASK32
    h ^= 20  # the length in bytes
    h ^= h >> 16
    h = _mul32(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


@register_jitable
def send_draw(seed0: int, seed1: int, key: int, counter: int, purpose: int) -> float:
    """Return the uniform in [0, 1) (53 random bits) of purpose ``purpose`` of the
    message queued when lead ``key`` had ``counter`` messages queued before it.

    ``seed0``/``seed1`` are the run's 32-bit seed words (:func:`send_seed`);
    ``key`` and ``counter`` are non-negative int64. Two MurmurHash3 outputs
    over (key, counter, purpose, lane) give 27 + 26 bits, combined as numpy
    makes a double from two 32-bit words. Integer arithmetic only, within
    int64: bit-identical as plain Python, numpy scalars or compiled.
    """
    k_lo, k_hi = key & _MASK32, (key >> 32) & _MASK32
    c_lo, c_hi = counter & _MASK32, (counter >> 32) & _MASK32
    a = _murmur3(seed0, (k_lo, k_hi, c_lo, c_hi, 2 * purpose))
    b = _murmur3(seed1, (k_lo, k_hi, c_lo, c_hi, 2 * purpose + 1))
    return ((a >> 5) * 67108864.0 + (b >> 6)) / 9007199254740992.0


def send_seed(seed: int) -> tuple[int, int]:
    """Return the two 32-bit seed words of a run's sending draws (:func:`send_draw`).

    They come from the second child of the run's seed sequence (the arrivals
    are the first, the faults the third: `seqsim.model.faults.faults_rng`).
    """
    words = np.random.SeedSequence(seed).spawn(2)[1].generate_state(2, np.uint32)
    return int(words[0]), int(words[1])


@register_jitable
def send_fails(u: float, failure_rate: float) -> bool:
    """Return whether a send fails, for the uniform draw ``u`` in [0, 1) of its message."""
    return u < failure_rate


@register_jitable
def retries_exhausted(retries: int, max_retries: int) -> bool:
    """Return whether a row that has failed ``retries`` times fails for good."""
    return retries > max_retries


@register_jitable
def stale_cutoff(now: int, stale_after_us: int) -> int:
    """Return the due time before which ``catch_up = "skip_stale"`` skips a step at ``now``."""
    return now - stale_after_us


@register_jitable
def reschedule_shift(now: int, first_due: int) -> int:
    """Return how far ``catch_up = "reschedule"`` moves a contact's waiting rows:
    so that its earliest overdue row (due ``first_due``) is due at ``now``."""
    return now - first_due


def window_ready_after(now: int) -> int:
    """Return the first instant a row waiting for its send window can go: a
    poll has already selected what it could at ``now``, so from the next one on."""
    return now + 1


def is_default_timing(policy: PolicyConfig, sequences: Iterable[SequenceConfig]) -> bool:
    """Return whether a run uses none of the policies that change when rows are sent
    (one-by-one, delays from the next step, no windows, no outages)."""
    schedule = Schedule.of(policy)
    return (
        schedule.strategy == ONE_BY_ONE
        and schedule.delay_from == NEXT_STEP
        and not policy.outages
        and not SendWindows.configured(policy, sequences)
    )


def calendar_days(policy: PolicyConfig) -> CalendarDays | None:
    """Return the calendar a daily cap counts in, or None for a rolling 24 hours."""
    return CalendarDays(policy.daily_cap_zone) if policy.daily_cap == "calendar" else None


class DatetimeCalendar:
    """:class:`~seqsim.model.windows.CalendarDays` for datetime instants (the per-row engine's)."""

    def __init__(self, days: CalendarDays) -> None:
        self._days = days

    def start(self, t: datetime) -> datetime:
        """Return the local midnight starting the calendar day around ``t`` (naive UTC)."""
        return from_us(self._days.start(to_us(t)))

    def next_start(self, t: datetime) -> datetime:
        """Return the next local midnight after ``t`` (naive UTC)."""
        return from_us(self._days.next_start(to_us(t)))


class SendWindows:
    """The send window of every (sequence, lead time zone) of a run.

    A sequence's own ``send_hours``/``send_days`` replace the policy's; a
    sequence with neither (and a policy with neither) may send at any time.
    """

    def __init__(
        self,
        policy: PolicyConfig,
        sequences: Iterable[SequenceConfig],
        ids: Mapping[str, int],
    ) -> None:
        self._spec: dict[int, tuple[str | None, tuple[str, ...] | None]] = {}
        for seq in sequences:
            hours = seq.send_hours if seq.send_hours is not None else policy.send_hours
            days = seq.send_days if seq.send_days is not None else policy.send_days
            if hours is not None or days is not None:
                self._spec[ids[seq.name]] = (hours, days)
        self._windows: dict[tuple[int, str], SendWindow | None] = {}

    @staticmethod
    def configured(policy: PolicyConfig, sequences: Iterable[SequenceConfig]) -> bool:
        """Return whether any sequence of a run has a send window."""
        return (
            policy.send_hours is not None
            or policy.send_days is not None
            or any(s.send_hours is not None or s.send_days is not None for s in sequences)
        )

    @property
    def active(self) -> bool:
        """Whether any sequence has a window (else every check says "open")."""
        return bool(self._spec)

    @property
    def windowed_sequences(self) -> list[int]:
        """The ids of the sequences that have a window."""
        return sorted(self._spec)

    def window(self, sequence_id: int, zone: str) -> SendWindow | None:
        """Return the window of a sequence for leads in ``zone`` (None: always open)."""
        key = (sequence_id, zone)
        try:
            return self._windows[key]
        except KeyError:
            spec = self._spec.get(sequence_id)
            win = None if spec is None else SendWindow.from_config(spec[0], spec[1], zone)
            self._windows[key] = win
            return win

    def is_open(self, sequence_id: int, zone: str, t: int) -> bool:
        """Return whether a lead of ``zone`` may be sent a step of the sequence at ``t``."""
        win = self.window(sequence_id, zone)
        return win is None or win.is_open(t)

    def next_open(self, sequence_id: int, zone: str, t: int) -> int:
        """Return the first instant >= ``t`` at which the window is open."""
        win = self.window(sequence_id, zone)
        return t if win is None else win.next_open(t)


@dataclass(frozen=True)
class Outages:
    """The polls of a run during which the processor is down.

    ``down`` flags every poll index whose instant lies in an outage;
    ``recovery`` flags the first poll after each outage, where the catch-up
    policy applies.
    """

    down: frozenset[int]
    recovery: frozenset[int]

    @classmethod
    def for_run(
        cls, policy: PolicyConfig, start: datetime, poll: timedelta, total: int
    ) -> Outages:
        """Return the outage polls of a run of ``total`` polls from ``start``."""
        down: set[int] = set()
        for outage in policy.outages:
            first = first_poll_at_or_after(outage.start - start, poll)
            last = first_poll_at_or_after(outage.end - start, poll)  # the first after it
            down.update(range(max(first, 0), min(last, total)))
        recovery = {k + 1 for k in down if k + 1 not in down and k + 1 < total}
        return cls(frozenset(down), frozenset(recovery))
