"""Send windows and calendar days in a time zone: pure time math.

Both simulation engines ask the same questions ("may this group send now?",
"when does the window open next?", "when does the local day start?") and must
get identical answers, so the answers live here, with no SQL and no pandas.

Every instant is an ``int`` count of microseconds since 1970-01-01 00:00 naive
UTC ("µs"). Zones are IANA names resolved with :mod:`zoneinfo`.

Semantics of a :class:`SendWindow` (``start_minute``, ``end_minute``, ``days``,
``zone``):

* The window is local wall-clock time in ``zone``. On each allowed weekday D
  it opens at D + start and closes at D + end when start < end, or at
  D+1 + end when start > end (a window that crosses midnight, such as
  '22:00-06:00'). A crossing window belongs to the day it OPENS on: with
  mon-fri, Friday 22:00 to Saturday 06:00 is open, Monday 01:00 is not.
* Each opening is the half-open interval [open, close). An end of 1440
  ('24:00') closes at the next local midnight, so '00:00-24:00' on
  consecutive allowed days is open without a break.
* Local wall times become instants the way zoneinfo resolves them:
  ``datetime(..., tzinfo=zone)`` with fold=0, then ``.astimezone(UTC)``. A
  local time inside a DST gap (spring forward) is read with the offset in
  force before the change, so it lands after the change: in New York on
  2025-03-09, 02:30 means 07:30 UTC (03:30 EDT). A local time inside a DST
  overlap (fall back) means its first occurrence. An opening whose close is
  not after its open once converted (a window lying inside a gap) is empty
  and skipped; openings that touch or overlap once converted are merged.
  The window is open at t when t lies in any opening, so ``is_open``,
  ``next_open`` and ``next_close`` always agree with each other.

Results are cached per instance (the current open or closed stretch, and the
openings of recently used local days), so repeated calls for nearby instants
cost a couple of comparisons. Instances are safe to share between threads:
the caches only ever hold correct values.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from seqsim.errors import ScenarioError
from seqsim.units import EPOCH, to_naive_utc, to_us
from seqsim.validation import close_match, fail, is_int, quoted, show

__all__ = [
    "WEEKDAYS",
    "CalendarDays",
    "SendWindow",
    "check_zone",
    "parse_days",
    "parse_hours",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Three-letter weekday names; the index is ``datetime.weekday()`` (0 = Monday)."""

_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX: dict[str, int] = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{name: i for i, name in enumerate(_FULL_NAMES)},
}

_HOURS_RE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_HOURS_EXPECTED = (
    "a time range 'HH:MM-HH:MM' such as '09:00-20:00' (hours 00-23, minutes 00-59, "
    "the end may be '24:00'; an end before the start crosses midnight, as in '22:00-06:00')"
)
_DAYS_EXPECTED = "a list of weekday names such as ['mon', 'tue', 'wed', 'thu', 'fri']"
_ZONE_EXPECTED = "an IANA time zone such as 'UTC' or 'Asia/Singapore'"

_DAY_MINUTES = 1440
_EPOCH_UTC = EPOCH.replace(tzinfo=UTC)
_FOREVER = 2**63 - 1  # next_close of a window that never closes (the largest int64)
_NO_SEGMENT = (0, 0, False)  # an empty cached stretch: matches no instant
_DAY_CACHE_LIMIT = 4096  # local days of openings kept per window before the cache is reset
_SEARCH_DAYS = 7 * 60  # give up looking for an opening after this many days (never in practice)


# ----------------------------------------------------------------------------- parsing


def parse_hours(key: str, value: object) -> tuple[int, int]:
    """Parse a daily send window such as ``'09:00-20:00'``.

    Returns ``(start, end)`` in minutes after local midnight, e.g. ``(540, 1200)``:
    start 0-1439, end 1-1440. An end before the start means the window crosses
    midnight (``'22:00-06:00'`` -> ``(1320, 360)``). An end of '00:00' means the
    next midnight, like '24:00' (``'23:00-00:00'`` -> ``(1380, 1440)``).

    Raises:
        ScenarioError: ``value`` is not a string of the form 'HH:MM-HH:MM', has
            an hour or minute out of range ('25:00', '09:60'), or has equal start
            and end (an empty window).
    """
    match = _HOURS_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise fail(key, value, _HOURS_EXPECTED)
    sh, sm, eh, em = (int(part) for part in match.groups())
    end_ok = (eh <= 23 and em <= 59) or (eh == 24 and em == 0)
    if sh > 23 or sm > 59 or not end_ok:
        raise fail(key, value, _HOURS_EXPECTED)
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end:
        raise ScenarioError(
            f"{key}: {show(value)} is not valid; expected a non-empty window (start and end are "
            "equal, so the window is empty; use '00:00-24:00' for the whole day)"
        )
    return start, end or _DAY_MINUTES


def parse_days(key: str, value: object) -> tuple[str, ...]:
    """Parse the weekdays a send window opens on.

    Accepts a list or tuple of weekday names: three-letter ('mon') or full
    English ('Monday') names, in any case. Returns the three-letter lowercase
    names in week order without duplicates, e.g. ``('mon', 'fri')``.

    Raises:
        ScenarioError: ``value`` is not a list or tuple (a bare string is
            rejected too), is empty, or holds something that is not a weekday
            name; the message names the offending item as ``key[i]`` and
            suggests the closest name when there is one.
    """
    if not isinstance(value, list | tuple):
        raise fail(key, value, _DAYS_EXPECTED)
    if not value:
        raise ScenarioError(
            f"{key}: {show(value)} is not valid; expected at least one weekday, "
            "such as ['mon', 'tue', 'wed', 'thu', 'fri']"
        )
    found: set[int] = set()
    for i, item in enumerate(value):
        index = _DAY_INDEX.get(item.lower()) if isinstance(item, str) else None
        if index is None:
            raise fail(f"{key}[{i}]", item, _day_hint(item))
        found.add(index)
    return tuple(WEEKDAYS[i] for i in sorted(found))


def _day_hint(item: object) -> str:
    """Return the 'expected ...' text for a bad weekday name, with a suggestion."""
    hint = f"a weekday name: one of {quoted(WEEKDAYS)} (or the full English name)"
    if isinstance(item, str):
        close = close_match(item.lower(), _DAY_INDEX)
        if close is not None:
            hint += f"; did you mean {show(WEEKDAYS[_DAY_INDEX[close]])}?"
    return hint


def check_zone(key: str, value: object) -> str:
    """Check that ``value`` names an IANA time zone of the tzdata database.

    Only the zones tzdata lists are accepted (``'UTC'``, ``'Asia/Singapore'``,
    links such as ``'US/Eastern'``): names that mean something different on
    each machine (``'localtime'``, ``'posixrules'``, ``'right/UTC'`` with leap
    seconds, ``'Factory'``) would make a run depend on where it ran.

    Returns the name unchanged (e.g. ``'Asia/Singapore'``).

    Raises:
        ScenarioError: ``value`` is not a string or not such a zone
            (``''``, ``'../etc'``, ``'Mars/Base'``, ``'localtime'``); never any
            other exception.
    """
    if isinstance(value, str) and value in _zone_names():
        try:
            ZoneInfo(value)
        except Exception:  # zoneinfo raises ValueError, KeyError or OSError for junk
            pass
        else:
            return value
    raise fail(key, value, _zone_hint(value))


@cache
def _zone_names() -> frozenset[str]:
    """Return the zone names tzdata ships (the same on every machine), 'Factory' aside."""
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


def _zone_hint(value: object) -> str:
    """Return the 'expected ...' text for a bad zone, with a suggestion if one is close."""
    if not isinstance(value, str) or not value:
        return _ZONE_EXPECTED
    close = close_match(value, sorted(_zone_names()), cutoff=0.8)
    return f"{_ZONE_EXPECTED}; did you mean {show(close)}?" if close is not None else _ZONE_EXPECTED


# ----------------------------------------------------------------------------- conversions


def _local_ordinal(t: int, tz: ZoneInfo) -> int:
    """Return the proleptic ordinal of the local date at instant ``t`` (µs)."""
    return (_EPOCH_UTC + timedelta(microseconds=t)).astimezone(tz).toordinal()


def _local_to_us(ordinal: int, minute: int, tz: ZoneInfo) -> int:
    """Return the instant (µs) of local wall time ``minute`` on local day ``ordinal``.

    ``minute`` may be 1440 (the next local midnight). Gaps and overlaps are
    resolved as zoneinfo does with fold=0.
    """
    day, minute = divmod(minute, _DAY_MINUTES)
    d = date.fromordinal(ordinal + day)
    local = datetime(d.year, d.month, d.day, minute // 60, minute % 60, tzinfo=tz)
    return to_us(to_naive_utc(local))


# ----------------------------------------------------------------------------- send windows


@dataclass(frozen=True)
class SendWindow:
    """The local hours and weekdays in which messages may be sent.

    ``start_minute`` (0-1439) and ``end_minute`` (1-1440, not equal to the
    start) are minutes after local midnight; an end before the start crosses
    midnight. ``days`` holds the weekdays (0 = Monday) on which the window
    OPENS. ``zone`` is an IANA zone name. See the module docstring for the
    exact semantics, including DST gaps and overlaps.

    Raises:
        ScenarioError: a field is out of range, ``days`` is empty or not
            weekday numbers, or ``zone`` is unknown.
    """

    start_minute: int
    end_minute: int
    days: frozenset[int]
    zone: str
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _always: bool = field(init=False, repr=False, compare=False, hash=False)
    # _segment[0] = (lo, hi, open): the state is `open` for every instant in [lo, hi).
    _segment: list[tuple[int, int, bool]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=lambda: [_NO_SEGMENT]
    )
    # local day ordinal -> that day's opening (open, close), or None when it has none.
    _openings: dict[int, tuple[int, int] | None] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        start, end = self.start_minute, self.end_minute
        if not is_int(start) or not 0 <= start <= _DAY_MINUTES - 1:
            raise fail("start_minute", start, "a whole number from 0 to 1439")
        if not is_int(end) or not 1 <= end <= _DAY_MINUTES or end == start:
            expected = f"a whole number from 1 to 1440 other than start_minute ({start})"
            raise fail("end_minute", end, expected)
        days = self.days
        if not isinstance(days, set | frozenset | list | tuple) or not days:
            raise fail("days", days, "a non-empty set of weekday numbers 0-6 (0 = Monday)")
        if not all(is_int(d) and 0 <= d <= 6 for d in days):
            raise fail("days", days, "weekday numbers 0-6 (0 = Monday)")
        # is_int admits numpy integers: store plain ints so equality and repr stay the same.
        object.__setattr__(self, "start_minute", int(start))
        object.__setattr__(self, "end_minute", int(end))
        object.__setattr__(self, "days", frozenset(int(d) for d in days))
        check_zone("zone", self.zone)
        object.__setattr__(self, "_tz", ZoneInfo(self.zone))
        always = start == 0 and end == _DAY_MINUTES and len(self.days) == 7
        object.__setattr__(self, "_always", always)

    @classmethod
    def from_config(cls, hours: str | None, days: Sequence[str] | None, zone: str) -> SendWindow:
        """Build a window from scenario values.

        ``hours`` is 'HH:MM-HH:MM' (None: the whole day, '00:00-24:00'); ``days``
        is a list of weekday names (None: all seven days); ``zone`` an IANA name.
        Returns the :class:`SendWindow`.

        Raises:
            ScenarioError: any value is invalid (keys 'hours', 'days', 'zone').
        """
        start, end = (0, _DAY_MINUTES) if hours is None else parse_hours("hours", hours)
        names = WEEKDAYS if days is None else parse_days("days", days)
        return cls(
            start, end, frozenset(WEEKDAYS.index(n) for n in names), check_zone("zone", zone)
        )

    def is_open(self, t: int) -> bool:
        """Return True when sending is allowed at instant ``t`` (µs)."""
        if self._always:
            return True
        segment = self._segment[0]
        if not segment[0] <= t < segment[1]:
            segment = self._find(t)
        return segment[2]

    def next_open(self, t: int) -> int:
        """Return the smallest instant >= ``t`` (µs) at which the window is open.

        That is ``t`` itself when the window is open at ``t``.

        Raises:
            ScenarioError: the window never opens in the next year (only
                possible for a window lying entirely in DST gaps; no real zone).
        """
        if self._always:
            return t
        segment = self._segment[0]
        if not segment[0] <= t < segment[1]:
            segment = self._find(t)
        return t if segment[2] else segment[1]

    def next_close(self, t: int) -> int:
        """Return when the window next closes, seen from instant ``t`` (µs).

        When open at ``t``: the first instant > ``t`` at which it is closed
        (openings that touch, such as '00:00-24:00' on consecutive days, count
        as one). When closed at ``t``: ``t``. A window that is never closed
        (the whole day on all seven days) returns 2**63 - 1, the largest int64.
        """
        if self._always:
            return _FOREVER
        segment = self._segment[0]
        if not segment[0] <= t < segment[1]:
            segment = self._find(t)
        return segment[1] if segment[2] else t

    # -- the slow path: work out the open or closed stretch around t and cache it

    def _opening(self, ordinal: int) -> tuple[int, int] | None:
        """Return the opening [open, close) of the window that opens on local day ``ordinal``."""
        cache = self._openings
        try:
            return cache[ordinal]
        except KeyError:
            pass
        opening: tuple[int, int] | None = None
        if (ordinal - 1) % 7 in self.days:  # date.fromordinal(1) is a Monday
            start, end = self.start_minute, self.end_minute
            opened = _local_to_us(ordinal, start, self._tz)
            closed = _local_to_us(ordinal, end if end > start else end + _DAY_MINUTES, self._tz)
            if closed > opened:
                opening = (opened, closed)
        if len(cache) >= _DAY_CACHE_LIMIT:
            cache.clear()
        cache[ordinal] = opening
        return opening

    def _find(self, t: int) -> tuple[int, int, bool]:
        """Compute, cache and return the stretch (lo, hi, open) containing ``t``."""
        first = _local_ordinal(t, self._tz) - 2  # a crossing opening from 2 days back ends by now
        last = first + 10
        while True:
            # Openings are in increasing order of open (one per day, a day apart
            # give or take an offset change); merge those that touch or overlap.
            runs: list[tuple[int, int, int]] = []  # (open, close, last day in the run)
            for ordinal in range(first, last + 1):
                opening = self._opening(ordinal)
                if opening is None:
                    continue
                opened, closed = opening
                if runs and opened <= runs[-1][1]:
                    runs[-1] = (runs[-1][0], max(runs[-1][1], closed), ordinal)
                else:
                    runs.append((opened, closed, ordinal))
            # An opening from a day after `last` opens later than every opening
            # seen, and could only extend a run that ends on day `last`. So the run
            # containing t must not end on `last`; the first run after t may.
            i = bisect_right(runs, t, key=lambda run: run[0]) - 1
            if i >= 0 and t < runs[i][1]:
                if runs[i][2] < last:
                    segment = (runs[i][0], runs[i][1], True)
                    break
            elif i + 1 < len(runs):
                lo = runs[i][1] if i >= 0 else t
                segment = (lo, runs[i + 1][0], False)
                break
            if last - first > _SEARCH_DAYS:
                raise ScenarioError(
                    f"send window: {show(self)} is not valid; expected a window that opens at "
                    "least once a year in its zone"
                )
            last += 7
        self._segment[0] = segment
        return segment


# ----------------------------------------------------------------------------- calendar days


@dataclass(frozen=True)
class CalendarDays:
    """Local calendar days in ``zone`` (an IANA name).

    Day D runs from the instant of local midnight D 00:00 (fold=0, as zoneinfo
    resolves it) up to, not including, the instant of D+1 00:00. The days
    therefore tile time with no gap or overlap, including across DST changes
    (a 23-hour or 25-hour day).

    Raises:
        ScenarioError: ``zone`` is unknown.
    """

    zone: str
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    # _day[0] = (start, next_start) of the most recently used local day.
    _day: list[tuple[int, int]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=lambda: [(0, 0)]
    )

    def __post_init__(self) -> None:
        check_zone("zone", self.zone)
        object.__setattr__(self, "_tz", ZoneInfo(self.zone))

    def start(self, t: int) -> int:
        """Return the instant (µs) of the local midnight that starts the day containing ``t``."""
        day = self._day[0]
        if not day[0] <= t < day[1]:
            day = self._find(t)
        return day[0]

    def next_start(self, t: int) -> int:
        """Return the instant (µs) of the next local midnight after ``t`` (> ``t``)."""
        day = self._day[0]
        if not day[0] <= t < day[1]:
            day = self._find(t)
        return day[1]

    def _find(self, t: int) -> tuple[int, int]:
        """Compute, cache and return (start, next_start) of the local day containing ``t``."""
        tz = self._tz
        ordinal = _local_ordinal(t, tz)
        start = _local_to_us(ordinal, 0, tz)
        # A midnight inside a DST gap can resolve after t (or the next one at or
        # before it): step so that start <= t < next_start always holds.
        while start > t:
            ordinal -= 1
            start = _local_to_us(ordinal, 0, tz)
        following = _local_to_us(ordinal + 1, 0, tz)
        while following <= t:
            ordinal += 1
            start, following = following, _local_to_us(ordinal + 1, 0, tz)
        day = (start, following)
        self._day[0] = day
        return day
