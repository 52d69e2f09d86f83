"""A scenario's scheduling policy as the engines apply it.

`seqsim.model.scenario.PolicyConfig` is what a planner writes; this module turns it
into what both engines ask at run time, so the per-row engine and the batch
engine answer every policy question with the same code:

- which step's delay sets a new row's due time (:func:`next_due`), and where
  all-at-enrolment rows fall (:func:`enrollment_offsets`);
- whether a (sequence, time zone) send window is open, and when it next opens
  (:class:`SendWindows`);
- which polls fall in an outage (:class:`Outages`);
- the calendar day a daily cap counts in (:class:`seqsim.model.windows.CalendarDays`).

Instants here are integer microseconds since 1970 (naive UTC), the unit of
:mod:`seqsim.model.windows`; the per-row engine converts with :func:`to_us`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from seqsim.model.policy import PolicyConfig
from seqsim.model.sequence import SequenceConfig
from seqsim.model.windows import CalendarDays, SendWindow
from seqsim.units import from_us, to_us

__all__ = [
    "SKIPPED_ERROR",
    "DatetimeCalendar",
    "Outages",
    "SendWindows",
    "calendar_days",
    "enrollment_offsets",
    "is_default_timing",
    "next_due",
]

#: ``last_error`` of a step that ``catch_up = "skip_stale"`` skipped (completed unsent).
SKIPPED_ERROR = "skipped: overdue at recovery"

def next_due(
    delay_from: str, completed_at: int, completed_due: int, completed_delay_us: int,
    next_delay_us: int,
) -> int:
    """Return when the next step's row is due once a step completes (one-by-one).

    ``next_step``: completion + the next step's delay (the design);
    ``completed_step``: completion + the completed step's delay (the earlier
    version's mistake); ``enrollment``: the completed row's due time + the
    next step's delay, so the schedule stays anchored to enrolment whatever
    the lateness.
    """
    if delay_from == "next_step":
        return completed_at + next_delay_us
    if delay_from == "completed_step":
        return completed_at + completed_delay_us
    return completed_due + next_delay_us


def enrollment_offsets(delay_from: str, delays_us: Sequence[int]) -> list[int]:
    """Return each step's offset from enrolment under ``all_at_enrollment``.

    ``delays_us`` are the steps' trigger delays in day order. The entry step is
    due at enrolment; step k at step k-1's offset + step k's delay (or step
    k-1's own delay under ``completed_step``).
    """
    offsets = [0]
    for k in range(1, len(delays_us)):
        step = delays_us[k - 1] if delay_from == "completed_step" else delays_us[k]
        offsets.append(offsets[-1] + step)
    return offsets


def is_default_timing(policy: PolicyConfig, sequences: Iterable[SequenceConfig]) -> bool:
    """Return whether a run uses none of the policies that change when rows are sent
    (one-by-one, delays from the next step, no windows, no outages)."""
    return (
        policy.strategy == "one_by_one"
        and policy.delay_from == "next_step"
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
            first = -(-(outage.start - start) // poll)
            last = -(-(outage.end - start) // poll)  # first poll at or after the end
            down.update(range(max(first, 0), min(last, total)))
        recovery = {k + 1 for k in down if k + 1 not in down and k + 1 < total}
        return cls(frozenset(down), frozenset(recovery))
