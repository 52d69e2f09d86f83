"""How the engine schedules and advances contacts: `PolicyConfig` (``[policy]``).

Also the outages it lives through (`OutageConfig`, ``[[policy.outages]]``) and
the values each ``[policy]`` choice accepts (`STRATEGIES`, `DELAY_FROM`,
`PROGRESS_ON`, `DAILY_CAPS`, `CATCH_UP`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from seqsim.errors import ScenarioError
from seqsim.model.windows import check_zone, parse_days, parse_hours
from seqsim.units import (
    INSTANT_EXPECTED,
    INSTANT_MAX,
    format_instant,
    parse_duration,
    parse_instant,
)
from seqsim.validation import (
    as_list,
    check_keys,
    fail,
    parse_choice,
    show,
    with_key_prefix,
)

__all__ = [
    "CATCH_UP",
    "DAILY_CAPS",
    "DELAY_FROM",
    "PROGRESS_ON",
    "STRATEGIES",
    "OutageConfig",
    "PolicyConfig",
    "window_bounds",
    "window_list",
]

#: The values each `[policy]` choice accepts.
STRATEGIES: tuple[str, ...] = ("one_by_one", "all_at_enrollment")
DELAY_FROM: tuple[str, ...] = ("next_step", "completed_step", "enrollment")
PROGRESS_ON: tuple[str, ...] = ("delivery", "queue")
DAILY_CAPS: tuple[str, ...] = ("rolling", "calendar")
CATCH_UP: tuple[str, ...] = ("burst", "skip_stale", "reschedule")


@dataclass(frozen=True)
class OutageConfig:
    """A window during which the processor does not poll (``[[policy.outages]]``).

    In TOML give ``start`` and either ``end`` or ``duration``; the resolved
    form keeps ``start`` and ``end`` (naive UTC, end exclusive).

    Raises:
        ScenarioError: naming ``policy.outages.<field>``; an end not after the start.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = parse_instant(self.start, "policy.outages.start")
        end = parse_instant(self.end, "policy.outages.end")
        if end <= start:
            raise fail(
                "policy.outages.end",
                format_instant(end),
                f"an instant after its start ({format_instant(start)})",
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def from_table(cls, key: str, table: Mapping[str, Any]) -> OutageConfig:
        """Build one from a TOML table with ``start`` and ``end`` or ``duration``.

        Raises:
            ScenarioError: unknown or missing keys, both ``end`` and ``duration``.
        """
        start, end = window_bounds(key, table, ("start", "end", "duration"), "outage")
        try:
            return cls(start, end)
        except ScenarioError as exc:
            raise with_key_prefix(exc, "policy.outages.", f"{key}.") from exc


def window_list(key: str, value: Any, cls: Any, expected: str) -> tuple[Any, ...]:
    """Return a list of window tables (``[[key]]``) as ``cls`` items (each built with
    ``cls.from_table``, or given as ``cls``), sorted by start.

    Raises:
        ScenarioError: ``value`` is not a list, or an item is neither a table nor a ``cls``.
    """
    items = []
    for i, item in enumerate(as_list(key, value, f"a list of tables ([[{key}]])")):
        if isinstance(item, cls):
            items.append(item)
        elif isinstance(item, Mapping):
            items.append(cls.from_table(f"{key}[{i}]", item))
        else:
            raise fail(f"{key}[{i}]", item, expected)
    return tuple(sorted(items, key=lambda w: w.start))


def window_bounds(key: str, table: Mapping[str, Any], valid: tuple[str, ...],
                  what: str = "window") -> tuple[datetime, Any]:
    """Return the ``start`` and the end of a window table (``[[policy.outages]]``,
    ``[[faults.device_offline]]``): its ``end`` as given, or ``start + duration``.

    Raises:
        ScenarioError: naming ``key``: a key not in ``valid``, no ``start``, both
            or neither of ``end`` and ``duration``, a duration that is not > 0
            or ends after `seqsim.units.INSTANT_MAX`.
    """
    check_keys(key, table, valid)
    if "start" not in table:
        raise ScenarioError(f"{key}.start: missing; expected {INSTANT_EXPECTED}")
    if ("end" in table) == ("duration" in table):
        raise ScenarioError(
            f"{key}: {show(dict(table))} is not valid; expected exactly one of 'end' or "
            "'duration' with the 'start'"
        )
    start = parse_instant(table["start"], f"{key}.start")
    if "end" in table:
        return start, table["end"]
    length = parse_duration(table["duration"], f"{key}.duration")
    if length <= timedelta(0) or start + length > INSTANT_MAX:
        raise fail(f"{key}.duration", table["duration"],
                   f"a duration > 0, e.g. '6h', that ends the {what} by "
                   f"{format_instant(INSTANT_MAX)}")
    return start, start + length


@dataclass(frozen=True)
class PolicyConfig:
    """How the engine schedules and advances contacts (``[policy]``).

    Attributes:
        strategy: one of `STRATEGIES`: ``one_by_one`` creates a step's row when
            the previous step completes; ``all_at_enrollment`` (the design it
            replaced) creates every step's row at enrolment with precomputed
            times, all active.
        delay_from: one of `DELAY_FROM`: which ``trigger_delay_hours`` sets the
            next step's due time: the next step's own (``next_step``), the
            completed step's (``completed_step``, an earlier version's bug), or
            anchored offsets from enrolment that do not drift (``enrollment``:
            the previous step's due time + the next step's delay).
        progress_on: one of `PROGRESS_ON`: advance when the message is
            delivered or as soon as it is queued (as production did).
        send_hours: allowed local hours, ``"09:00-20:00"`` (may cross
            midnight, ``"22:00-06:00"``; end ``24:00`` allowed); None: any hour.
            A sequence's own ``send_hours``/``send_days`` replace these.
        send_days: allowed weekdays (``["mon", ..., "fri"]``; the day a window
            opens on); None: every day. Windows are in each lead's time zone.
        daily_cap: one of `DAILY_CAPS`: ``capacity.daily_limit`` counts the
            messages queued over a ``rolling`` 24 hours or per ``calendar`` day
            in ``daily_cap_zone``.
        daily_cap_zone: the IANA zone whose midnight starts a calendar day.
        outages: windows during which the processor does not poll.
        catch_up: one of `CATCH_UP`, applied at the first poll after an
            outage: ``burst`` sends everything overdue; ``skip_stale`` skips
            (completes without sending) steps overdue by more than
            ``stale_after``; ``reschedule`` moves each contact's overdue
            schedule so its earliest overdue step is due at the recovery poll.
        stale_after: how overdue a step may be before ``skip_stale`` drops it.

    Raises:
        ScenarioError: unknown values, an empty send window, an unknown time
            zone or weekday, ``calendar`` caps without a daily limit (checked
            by `seqsim.model.scenario.Scenario`), overlapping outages.
    """

    strategy: str = "one_by_one"
    delay_from: str = "next_step"
    progress_on: str = "delivery"
    send_hours: str | None = None
    send_days: tuple[str, ...] | None = None
    daily_cap: str = "rolling"
    daily_cap_zone: str = "UTC"
    outages: tuple[OutageConfig, ...] = ()
    catch_up: str = "burst"
    stale_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        parse_choice("policy.strategy", self.strategy, STRATEGIES)
        parse_choice("policy.delay_from", self.delay_from, DELAY_FROM)
        parse_choice("policy.progress_on", self.progress_on, PROGRESS_ON)
        parse_choice("policy.daily_cap", self.daily_cap, DAILY_CAPS)
        parse_choice("policy.catch_up", self.catch_up, CATCH_UP)
        if self.send_hours is not None:
            parse_hours("policy.send_hours", self.send_hours)
        if self.send_days is not None:
            object.__setattr__(self, "send_days", parse_days("policy.send_days", self.send_days))
        check_zone("policy.daily_cap_zone", self.daily_cap_zone)
        stale = parse_duration(self.stale_after, "policy.stale_after")
        if stale <= timedelta(0):
            raise fail("policy.stale_after", self.stale_after, "a duration > 0, e.g. '24h'")
        object.__setattr__(self, "stale_after", stale)
        object.__setattr__(self, "outages", _outages(self.outages))


def _outages(value: Any) -> tuple[OutageConfig, ...]:
    """Return outages as sorted, non-overlapping `OutageConfig` (tables accepted)."""
    items = list(window_list("policy.outages", value, OutageConfig,
                             "a table with start and end or duration"))
    items.sort(key=lambda o: o.start)
    for a, b in itertools.pairwise(items):
        if b.start < a.end:
            raise fail(
                "policy.outages",
                f"{format_instant(b.start)} .. {format_instant(b.end)}",
                f"outages that do not overlap (it starts before the one from "
                f"{format_instant(a.start)} ends at {format_instant(a.end)})",
            )
    return tuple(items)

