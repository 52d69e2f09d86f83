"""Units and time: the epoch, microsecond constants, conversions, durations.

Every engine computes in integer microseconds since 1970-01-01 00:00 naive
UTC ("µs"); the per-row engine's SQL binds datetimes. This module is the one
place that converts between them and reads the (virtual) clock, so every
layer agrees on the unit.

Durations and instants that users write (``"15s"``, ``"1d12h"``,
``"2025-07-01T00:00:00"``) are parsed here too, with one `ScenarioError`
naming the key for anything else.
"""

from __future__ import annotations

import numbers
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from seqsim.validation import fail, is_finite, is_number

__all__ = [
    "DAY_US",
    "DURATION_EXPECTED",
    "DURATION_MAX",
    "EPOCH",
    "HOUR_US",
    "INSTANT_EXPECTED",
    "INSTANT_MAX",
    "INSTANT_MIN",
    "MINUTE_US",
    "ONE_US",
    "SECOND_US",
    "format_duration",
    "format_instant",
    "from_us",
    "now",
    "parse_duration",
    "parse_instant",
    "to_naive_utc",
    "to_us",
]

#: The instant integer microseconds count from (naive UTC).
EPOCH = datetime(1970, 1, 1)
#: One microsecond, the resolution of every instant.
ONE_US = timedelta(microseconds=1)
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

#: The instants every engine, DuckDB column and pandas frame of a run can hold:
#: from 1900-01-01 to 2200-01-01, both included (a run must end by the latter). Step delays add
#: at most 10 years (`seqsim.model.sequence`), so every due time stays well
#: inside what datetime64[ns] (1677-2262) and zoneinfo handle; before 1970 is fine.
INSTANT_MIN = datetime(1900, 1, 1)
INSTANT_MAX = datetime(2200, 1, 1)
#: The longest duration any key accepts: the whole instant range (109,573 days).
DURATION_MAX = INSTANT_MAX - INSTANT_MIN

DURATION_EXPECTED = (
    "a duration like '15s', '5m', '12h', '30d', '1d12h' or '1.5h', or a number of seconds, "
    f"from 0s to {DURATION_MAX.days}d"
)
INSTANT_EXPECTED = (
    "an ISO-8601 date-time such as '2025-07-01T00:00:00' (UTC), from "
    f"{INSTANT_MIN.isoformat()} to {INSTANT_MAX.isoformat()}"
)

_UNIT_SECONDS: dict[str, int] = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])")
_DURATION_FULL = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)[dhms])+")


def to_us(instant: datetime) -> int:
    """Return a naive UTC datetime as integer microseconds since 1970."""
    return (instant - EPOCH) // ONE_US


def from_us(micros: int) -> datetime:
    """Return integer microseconds since 1970 as a naive UTC datetime."""
    return EPOCH + timedelta(microseconds=micros)


def now() -> datetime:
    """Return the current instant as a naive UTC datetime (virtual when frozen).

    Under :class:`seqsim.run.clock.VirtualClock` this is the virtual time:
    freezegun patches ``datetime.now``. The engines read the time only here.
    """
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(instant: datetime) -> datetime:
    """Return ``instant`` as naive UTC (aware values are converted, naive kept)."""
    if instant.tzinfo is not None:
        return instant.astimezone(UTC).replace(tzinfo=None)
    return instant


def parse_duration(value: Any, key: str) -> timedelta:
    """Parse a duration.

    Accepts a string of number+unit parts (units ``s``, ``m``, ``h``, ``d``; e.g.
    ``"15s"``, ``"30d"``, ``"1d12h"``, ``"1.5h"``), a `timedelta`, or an int/float
    number of seconds.

    Returns:
        The duration as a `timedelta`, rounded to whole microseconds, from 0 to
        `DURATION_MAX`.

    Raises:
        ScenarioError: naming ``key`` for any other type, garbage strings,
            negative, non-finite or longer than `DURATION_MAX` values.
    """
    parsed = _parse_duration(value, key)
    if parsed > DURATION_MAX:
        raise fail(key, value, DURATION_EXPECTED)
    return parsed


def _parse_duration(value: Any, key: str) -> timedelta:
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise fail(key, value, DURATION_EXPECTED)
        return value
    if is_number(value):
        if not is_finite(value) or value < 0:
            raise fail(key, value, DURATION_EXPECTED)
        try:
            exact = int(value) if isinstance(value, numbers.Integral) else float(value)
            return timedelta(seconds=exact)
        except OverflowError as exc:
            raise fail(key, value, DURATION_EXPECTED) from exc
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text or not _DURATION_FULL.fullmatch(text):
            raise fail(key, value, DURATION_EXPECTED)
        # Decimal keeps "1.1h" exact; summing floats per part could drift by a microsecond.
        try:
            micros = sum(
                Decimal(num) * _UNIT_SECONDS[unit] * SECOND_US
                for num, unit in _DURATION_PART.findall(text)
            )
            return timedelta(microseconds=int(micros.to_integral_value()))
        except (InvalidOperation, OverflowError) as exc:
            raise fail(key, value, DURATION_EXPECTED) from exc
    raise fail(key, value, DURATION_EXPECTED)


def format_duration(value: timedelta) -> str:
    """Return a duration string that `parse_duration` reads back exactly.

    Uses the largest units that fit, e.g. ``"15s"``, ``"30d"``, ``"1d12h"``,
    ``"1h30m"``, ``"0.25s"``; zero is ``"0s"``.

    Raises:
        ValueError: ``value`` is negative.
    """
    micros = value // ONE_US
    if micros < 0:
        raise ValueError(f"cannot format a negative duration: {value!r}")
    if micros == 0:
        return "0s"
    parts = []
    seconds, frac = divmod(micros, SECOND_US)
    for unit in ("d", "h", "m"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if frac:
        parts.append(f"{seconds}.{frac:06d}".rstrip("0") + "s")
    elif seconds:
        parts.append(f"{seconds}s")
    return "".join(parts)


def parse_instant(value: Any, key: str) -> datetime:
    """Parse an instant.

    Accepts an ISO-8601 string, a `datetime` (TOML gives one for an unquoted
    date-time) or a `date` (midnight). A time-zone-aware value is converted to
    UTC; a naive one is taken as UTC already.

    Returns:
        A naive `datetime` in UTC, from `INSTANT_MIN` to `INSTANT_MAX` (inclusive).

    Raises:
        ScenarioError: naming ``key`` for other types, unparsable strings or
            instants outside that range.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise fail(key, value, INSTANT_EXPECTED) from exc
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        raise fail(key, value, INSTANT_EXPECTED)
    try:
        parsed = to_naive_utc(parsed) if parsed.utcoffset() is not None else parsed
    except OverflowError as exc:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise fail(key, value, INSTANT_EXPECTED) from exc
    if not INSTANT_MIN <= parsed <= INSTANT_MAX:
        raise fail(key, value, INSTANT_EXPECTED)
    # Rebuild as a plain datetime: drops tzinfo and turns subclasses such as
    # pandas.Timestamp into the builtin type so equality and TOML output behave.
    return datetime(parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute,
                    parsed.second, parsed.microsecond)


def format_instant(value: datetime) -> str:
    """Return an instant as the ISO-8601 text `parse_instant` reads back."""
    return value.isoformat()
