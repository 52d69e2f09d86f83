"""Scenario dataclasses, TOML load/save, validation and overrides.

A `Scenario` is everything one simulation run needs: the clock settings
(`SimulationConfig`), the sequences (`seqsim.model.sequence.SequenceConfig`), the
enrolment workload (`WorkloadConfig`), the device fleet (`CapacityConfig`) and
the engine policy (`PolicyConfig`).

Each dataclass validates and normalises itself in ``__post_init__``; that is the
one path that fills defaults and rejects bad input, whether a scenario is built
in Python, loaded from TOML (`Scenario.from_toml`) or derived with
`Scenario.with_overrides`. Every rejection is a `ScenarioError` whose message
reads ``"<key path>: <value> is not valid; expected <what is valid>"``.
"""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from seqsim.errors import ScenarioError
from seqsim.model.sequence import SequenceConfig, check_chains, default_delay_hours
from seqsim.model.windows import check_zone, parse_days, parse_hours
from seqsim.model.workload import device_ids, first_unknown_device, read_trace

__all__ = [
    "CATCH_UP",
    "DAILY_CAPS",
    "DEFAULT_DIURNAL_PROFILE",
    "DELAY_FROM",
    "PROGRESS_ON",
    "STRATEGIES",
    "WORKLOAD_KINDS",
    "CapacityConfig",
    "OutageConfig",
    "PolicyConfig",
    "Scenario",
    "SimulationConfig",
    "WorkloadConfig",
    "format_duration",
    "parse_duration",
    "parse_instant",
    "parse_override",
]

# --------------------------------------------------------------------------- constants

#: Engine names a scenario or `simulate(engine=...)` may choose (see seqsim.engine.registry).
ENGINE_NAMES: tuple[str, ...] = ("row", "batch")
#: The engine used when a scenario does not name one.
DEFAULT_ENGINE = "batch"

#: Workload kinds a scenario may use.
WORKLOAD_KINDS: tuple[str, ...] = ("constant", "poisson", "diurnal", "burst", "trace")

#: Keys each workload kind accepts besides ``kind``; anything else is rejected so a
#: ``count`` left on a poisson workload is not silently ignored.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("trigger", "rate_per_hour", "start", "end", "timezone"),
    "poisson": ("trigger", "rate_per_hour", "start", "end", "timezone"),
    "diurnal": ("trigger", "rate_per_hour", "profile", "start", "end", "timezone"),
    "burst": ("trigger", "count", "at", "timezone"),
    "trace": ("path", "start", "end", "timezone"),
}
_KIND_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("trigger", "rate_per_hour"),
    "poisson": ("trigger", "rate_per_hour"),
    "diurnal": ("trigger", "rate_per_hour"),
    "burst": ("trigger", "count"),
    "trace": ("path",),
}

#: Relative hourly enrolment weights (UTC hours 0..23) used by a diurnal workload
#: that gives no ``profile``: a quiet night, a ramp from 07:00, a morning peak,
#: a lunch dip at 12:00, an afternoon peak and a tail into the evening. Only the
#: shape matters: weights are normalised so the mean rate is ``rate_per_hour``.
DEFAULT_DIURNAL_PROFILE: tuple[float, ...] = (
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1,  # 00-05 night
    0.2, 0.5, 1.0, 1.5, 1.8, 1.8,  # 06-11 morning ramp and peak
    1.4, 1.6, 1.8, 1.8, 1.5, 1.0,  # 12-17 lunch dip, afternoon peak
    0.6, 0.4, 0.3, 0.2, 0.1, 0.1,  # 18-23 evening tail
)  # fmt: skip

#: The values each `[policy]` choice accepts.
STRATEGIES: tuple[str, ...] = ("one_by_one", "all_at_enrollment")
DELAY_FROM: tuple[str, ...] = ("next_step", "completed_step", "enrollment")
PROGRESS_ON: tuple[str, ...] = ("delivery", "queue")
DAILY_CAPS: tuple[str, ...] = ("rolling", "calendar")
CATCH_UP: tuple[str, ...] = ("burst", "skip_stale", "reschedule")

_TOP_LEVEL_KEYS: tuple[str, ...] = ("simulation", "sequences", "workload", "capacity", "policy")

# --------------------------------------------------------------------------- helpers

_UNIT_SECONDS: dict[str, int] = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])")
_DURATION_FULL = re.compile(r"(?:(?:\d+(?:\.\d*)?|\.\d+)[dhms])+")
_DURATION_EXPECTED = (
    "a duration like '15s', '5m', '12h', '30d', '1d12h' or '1.5h', or a number of seconds >= 0"
)
_INSTANT_EXPECTED = "an ISO-8601 date-time such as '2025-07-01T00:00:00' (UTC)"
_MICROSECOND = timedelta(microseconds=1)


def _fail(key: str, value: Any, expected: str) -> ScenarioError:
    """Return (not raise) the standard rejection so call sites read ``raise _fail(...)``."""
    return ScenarioError(f"{key}: {value!r} is not valid; expected {expected}")


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but `devices = true` is a mistake, not 1 device.
    # numbers.Integral also admits numpy integers (sweep grids); callers store int().
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _unknown_key(key: str, name: str, valid: Iterable[str]) -> ScenarioError:
    """Return the ScenarioError for an unknown key, with a did-you-mean when one is close."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    if close:
        return ScenarioError(f"{key}: unknown key; did you mean {close[0]!r}?")
    return ScenarioError(f"{key}: unknown key; expected one of {_quoted(valid)}")


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _check_keys(key: str, table: Mapping[str, Any], valid: Iterable[str]) -> None:
    valid = tuple(valid)
    for name in table:
        if name not in valid:
            raise _unknown_key(f"{key}.{name}" if key else str(name), str(name), valid)


def _table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, value, f"a table ([{key}])")
    return value


def _as_list(key: str, value: Any, expected: str) -> list[Any]:
    """Return a list-like ``value`` as a list; a string, table or scalar is rejected."""
    if isinstance(value, (Mapping, str, bytes)) or not isinstance(value, Iterable):
        raise _fail(key, value, expected)
    return list(value)


def _list_of_tables(key: str, value: Any) -> list[Mapping[str, Any]]:
    items = _as_list(key, value, f"a list of tables ([[{key}]])")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _fail(f"{key}[{i}]", item, f"a table ([[{key}]])")
    return items


# --------------------------------------------------------------------------- parsing


def parse_duration(value: Any, key: str) -> timedelta:
    """Parse a duration.

    Accepts a string of number+unit parts (units ``s``, ``m``, ``h``, ``d``; e.g.
    ``"15s"``, ``"30d"``, ``"1d12h"``, ``"1.5h"``), a `timedelta`, or an int/float
    number of seconds.

    Returns:
        The duration as a `timedelta`, rounded to whole microseconds.

    Raises:
        ScenarioError: naming ``key`` for any other type, garbage strings,
            negative or non-finite values.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise _fail(key, value, _DURATION_EXPECTED)
        return value
    if _is_number(value):
        if not math.isfinite(value) or value < 0:
            raise _fail(key, value, _DURATION_EXPECTED)
        try:
            exact = int(value) if isinstance(value, numbers.Integral) else float(value)
            return timedelta(seconds=exact)
        except OverflowError as exc:
            raise _fail(key, value, _DURATION_EXPECTED) from exc
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if not text or not _DURATION_FULL.fullmatch(text):
            raise _fail(key, value, _DURATION_EXPECTED)
        # Decimal keeps "1.1h" exact; summing floats per part could drift by a microsecond.
        try:
            micros = sum(
                Decimal(num) * _UNIT_SECONDS[unit] * 1_000_000
                for num, unit in _DURATION_PART.findall(text)
            )
            return timedelta(microseconds=int(micros.to_integral_value()))
        except (InvalidOperation, OverflowError) as exc:
            raise _fail(key, value, _DURATION_EXPECTED) from exc
    raise _fail(key, value, _DURATION_EXPECTED)


def format_duration(value: timedelta) -> str:
    """Return a duration string that `parse_duration` reads back exactly.

    Uses the largest units that fit, e.g. ``"15s"``, ``"30d"``, ``"1d12h"``,
    ``"1h30m"``, ``"0.25s"``; zero is ``"0s"``.
    """
    micros = value // _MICROSECOND
    if micros < 0:
        raise ValueError(f"cannot format a negative duration: {value!r}")
    if micros == 0:
        return "0s"
    parts = []
    seconds, frac = divmod(micros, 1_000_000)
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
        A naive `datetime` in UTC.

    Raises:
        ScenarioError: naming ``key`` for other types or unparsable strings.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise _fail(key, value, _INSTANT_EXPECTED) from exc
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        raise _fail(key, value, _INSTANT_EXPECTED)
    if parsed.tzinfo is not None and parsed.utcoffset() is not None:
        parsed = parsed.astimezone(UTC)
    # Rebuild as a plain datetime: drops tzinfo and turns subclasses such as
    # pandas.Timestamp into the builtin type so equality and TOML output behave.
    return datetime(
        parsed.year,
        parsed.month,
        parsed.day,
        parsed.hour,
        parsed.minute,
        parsed.second,
        parsed.microsecond,
    )


def _format_instant(value: datetime) -> str:
    return value.isoformat()


def _parse_choice(key: str, value: Any, supported: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in supported:
        return value
    raise _fail(key, value, f"one of {_quoted(supported)}")


def _parse_trigger(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "," in value or value != value.strip():
        raise _fail(key, value, "a non-empty keyword without commas or surrounding spaces")
    return value


def _parse_int(key: str, value: Any, minimum: int, expected: str) -> int:
    if not _is_int(value) or value < minimum:
        raise _fail(key, value, expected)
    return int(value)


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class SimulationConfig:
    """The virtual clock and run settings (``[simulation]``).

    Attributes:
        start: first instant simulated, naive UTC (ISO string or datetime accepted).
        duration: how long to simulate (duration string, timedelta or seconds).
        poll_interval: time between two polls of the processor (> 0).
        seed: seed of the run's single random generator (int >= 0).
        engine: advance engine, one of `ENGINE_NAMES`.

    Raises:
        ScenarioError: naming ``simulation.<field>``, the value and what is valid.
    """

    start: datetime
    duration: timedelta
    poll_interval: timedelta = timedelta(seconds=15)
    seed: int = 42
    engine: str = DEFAULT_ENGINE

    def __post_init__(self) -> None:
        start = parse_instant(self.start, "simulation.start")
        duration = parse_duration(self.duration, "simulation.duration")
        poll = parse_duration(self.poll_interval, "simulation.poll_interval")
        if poll <= timedelta(0):
            raise _fail(
                "simulation.poll_interval", self.poll_interval, "a duration > 0, e.g. '15s'"
            )
        if duration < poll:
            raise _fail(
                "simulation.duration",
                self.duration,
                f"a duration >= poll_interval ({format_duration(poll)})",
            )
        seed = _parse_int("simulation.seed", self.seed, 0, "an integer >= 0")
        engine = _parse_choice("simulation.engine", self.engine, ENGINE_NAMES)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "duration", duration)
        object.__setattr__(self, "poll_interval", poll)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "engine", engine)

    @property
    def end(self) -> datetime:
        """Return the first instant after the run (start + duration)."""
        return self.start + self.duration


@dataclass(frozen=True)
class WorkloadConfig:
    """One enrolment generator (a ``[[workload]]`` table).

    Kinds and their keys:
        constant: trigger, rate_per_hour; evenly spaced arrivals.
        poisson: trigger, rate_per_hour; exponential gaps.
        diurnal: trigger, rate_per_hour (mean), profile (24 hourly weights,
            default `DEFAULT_DIURNAL_PROFILE`).
        burst: trigger, count; all at ``at`` (default None: the simulation start).
        trace: path to a CSV (``timestamp,phone,trigger[,device_id][,timezone]``); rows
            carry their own trigger. The path is stored absolute (resolved
            against the working directory when relative).
    All kinds but burst accept an optional arrival window ``start``/``end``
    (default: the whole run). All accept ``timezone``: the IANA zone of the
    leads they create (their send windows are in local time; default UTC).
    A trace's own ``timezone`` column wins over it row by row.

    Messages say ``workload.<field>``; `Scenario` rewrites that to
    ``workload[<index>].<field>``.

    Raises:
        ScenarioError: unknown kind, a key that does not belong to the kind, a
            missing required key, or a bad value.
    """

    kind: str
    trigger: str | None = None
    rate_per_hour: float | None = None
    profile: tuple[float, ...] | None = None
    count: int | None = None
    at: datetime | None = None
    path: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in WORKLOAD_KINDS:
            raise _fail("workload.kind", kind, f"one of {_quoted(WORKLOAD_KINDS)}")
        allowed = _KIND_KEYS[kind]
        for name in _field_names(WorkloadConfig):
            value = getattr(self, name)
            if name == "kind" or value is None:
                continue
            if name not in allowed:
                raise ScenarioError(
                    f"workload.{name}: {value!r} is not valid; a {kind!r} workload takes no "
                    f"{name!r}, expected only {_quoted(allowed)}"
                )
        for name in _KIND_REQUIRED[kind]:
            if getattr(self, name) is None:
                needs = _quoted(_KIND_REQUIRED[kind])
                raise ScenarioError(f"workload.{name}: missing; a {kind!r} workload needs {needs}")
        if self.trigger is not None:
            _parse_trigger("workload.trigger", self.trigger)
        if self.rate_per_hour is not None:
            rate = self.rate_per_hour
            if not _is_number(rate) or not math.isfinite(rate) or rate <= 0:
                raise _fail("workload.rate_per_hour", rate, "a finite number of leads per hour > 0")
            object.__setattr__(self, "rate_per_hour", float(rate))
        if kind == "diurnal":
            profile = DEFAULT_DIURNAL_PROFILE if self.profile is None else self.profile
            object.__setattr__(self, "profile", _parse_profile(profile))
        if self.count is not None:
            count = _parse_int("workload.count", self.count, 1, "a whole number of leads >= 1")
            object.__setattr__(self, "count", count)
        if self.at is not None:
            object.__setattr__(self, "at", parse_instant(self.at, "workload.at"))
        if self.path is not None:
            if not isinstance(self.path, (str, os.PathLike)) or not str(self.path).strip():
                raise _fail("workload.path", self.path, "the path of a CSV trace file")
            object.__setattr__(self, "path", os.path.abspath(os.fspath(self.path)))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_instant(value, f"workload.{name}"))
        if self.timezone is not None:
            check_zone("workload.timezone", self.timezone)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise _fail(
                "workload.end",
                _format_instant(self.end),
                f"an instant after workload.start ({_format_instant(self.start)})",
            )


def _parse_profile(value: Any) -> tuple[float, ...]:
    expected = "24 hourly weights >= 0 (UTC hours 0..23), not all zero"
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise _fail("workload.profile", value, expected)
    items = list(value)
    if len(items) != 24:
        raise _fail("workload.profile", value, f"{expected}; got {len(items)} values")
    for i, w in enumerate(items):
        if not _is_number(w) or not math.isfinite(w) or w < 0:
            raise _fail(f"workload.profile[{i}]", w, "a finite weight >= 0")
    if not any(items):
        raise _fail("workload.profile", value, expected)
    return tuple(float(w) for w in items)


@dataclass(frozen=True)
class CapacityConfig:
    """The device fleet and its limits (``[capacity]``).

    Attributes:
        devices: number of sending devices (>= 1), named ``dev-001``...
        batch_size: rows picked per poll (>= 1).
        hourly_limit / daily_limit / in_flight_limit: per device, >= 0; 0 means
            unlimited.
        failure_rate: probability a send fails, in [0, 1).
        max_retries: retries after a failed send (>= 0).

    Raises:
        ScenarioError: naming ``capacity.<field>``; booleans are not integers here.
    """

    devices: int = 8
    batch_size: int = 5000
    hourly_limit: int = 80
    daily_limit: int = 800
    in_flight_limit: int = 50
    failure_rate: float = 0.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        checks = {
            "devices": (1, "a whole number of devices >= 1"),
            "batch_size": (1, "a whole number of rows >= 1"),
            "hourly_limit": (0, "a whole number >= 0 (0 = unlimited)"),
            "daily_limit": (0, "a whole number >= 0 (0 = unlimited)"),
            "in_flight_limit": (0, "a whole number >= 0 (0 = unlimited)"),
            "max_retries": (0, "a whole number >= 0"),
        }
        for name, (minimum, expected) in checks.items():
            value = _parse_int(f"capacity.{name}", getattr(self, name), minimum, expected)
            object.__setattr__(self, name, value)
        rate = self.failure_rate
        if not _is_number(rate) or not math.isfinite(rate) or not 0 <= rate < 1:
            raise _fail("capacity.failure_rate", rate, "a probability in [0, 1)")
        object.__setattr__(self, "failure_rate", float(rate))


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
            raise _fail("policy.outages.end", _format_instant(end),
                        f"an instant after its start ({_format_instant(start)})")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def from_table(cls, key: str, table: Mapping[str, Any]) -> OutageConfig:
        """Build one from a TOML table with ``start`` and ``end`` or ``duration``.

        Raises:
            ScenarioError: unknown or missing keys, both ``end`` and ``duration``.
        """
        _check_keys(key, table, ("start", "end", "duration"))
        if "start" not in table:
            raise ScenarioError(f"{key}.start: missing; expected {_INSTANT_EXPECTED}")
        if ("end" in table) == ("duration" in table):
            raise ScenarioError(
                f"{key}: {dict(table)!r} is not valid; expected exactly one of 'end' or "
                "'duration' with the 'start'"
            )
        try:
            start = parse_instant(table["start"], f"{key}.start")
            if "duration" in table:
                length = parse_duration(table["duration"], f"{key}.duration")
                if length <= timedelta(0):
                    raise _fail(f"{key}.duration", table["duration"], "a duration > 0, e.g. '6h'")
                return cls(start, start + length)
            return cls(start, table["end"])
        except ScenarioError as exc:
            msg = str(exc)
            if msg.startswith("policy.outages."):
                msg = f"{key}." + msg[len("policy.outages."):]
            raise ScenarioError(msg) from exc


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
            by `Scenario`), overlapping outages.
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
        _parse_choice("policy.strategy", self.strategy, STRATEGIES)
        _parse_choice("policy.delay_from", self.delay_from, DELAY_FROM)
        _parse_choice("policy.progress_on", self.progress_on, PROGRESS_ON)
        _parse_choice("policy.daily_cap", self.daily_cap, DAILY_CAPS)
        _parse_choice("policy.catch_up", self.catch_up, CATCH_UP)
        if self.send_hours is not None:
            parse_hours("policy.send_hours", self.send_hours)
        if self.send_days is not None:
            object.__setattr__(self, "send_days", parse_days("policy.send_days", self.send_days))
        check_zone("policy.daily_cap_zone", self.daily_cap_zone)
        stale = parse_duration(self.stale_after, "policy.stale_after")
        if stale <= timedelta(0):
            raise _fail("policy.stale_after", self.stale_after, "a duration > 0, e.g. '24h'")
        object.__setattr__(self, "stale_after", stale)
        object.__setattr__(self, "outages", _outages(self.outages))


def _outages(value: Any) -> tuple[OutageConfig, ...]:
    """Return outages as sorted, non-overlapping `OutageConfig` (tables accepted)."""
    items = []
    for i, item in enumerate(_as_list("policy.outages", value,
                                      "a list of tables ([[policy.outages]])")):
        key = f"policy.outages[{i}]"
        if isinstance(item, OutageConfig):
            items.append(item)
        elif isinstance(item, Mapping):
            items.append(OutageConfig.from_table(key, item))
        else:
            raise _fail(key, item, "a table with start and end or duration")
    items.sort(key=lambda o: o.start)
    for a, b in itertools.pairwise(items):
        if b.start < a.end:
            raise _fail("policy.outages", f"{_format_instant(b.start)} .. {_format_instant(b.end)}",
                        f"outages that do not overlap (it starts before the one from "
                        f"{_format_instant(a.start)} ends at {_format_instant(a.end)})")
    return tuple(items)


# --------------------------------------------------------------------------- scenario


def _reindex_workload_error(exc: ScenarioError, index: int) -> ScenarioError:
    """Return ``exc`` with its ``workload.`` key prefix rewritten to ``workload[index].``."""
    msg = str(exc)
    if msg.startswith("workload."):
        msg = f"workload[{index}]." + msg[len("workload.") :]
    return ScenarioError(msg)


@dataclass(frozen=True)
class Scenario:
    """Everything one simulation run needs.

    Construct it directly, or with `from_dict`, `from_toml`, `from_toml_string`;
    derive variants with `with_overrides`. Lists are stored as tuples.

    Raises:
        ScenarioError: bad parts, no sequences, broken chains
            (`SequenceDefinitionError`), a workload trigger naming no sequence,
            a workload window or burst outside the run, or a trace file that is
            missing, malformed, names unknown triggers or devices.
    """

    simulation: SimulationConfig
    sequences: tuple[SequenceConfig, ...]
    workload: tuple[WorkloadConfig, ...] = ()
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.simulation, SimulationConfig):
            raise _fail("simulation", self.simulation, "a SimulationConfig")
        if not isinstance(self.capacity, CapacityConfig):
            raise _fail("capacity", self.capacity, "a CapacityConfig")
        if not isinstance(self.policy, PolicyConfig):
            raise _fail("policy", self.policy, "a PolicyConfig")
        sequences = self._as_tuple("sequences", self.sequences, SequenceConfig)
        workload = self._as_tuple("workload", self.workload, WorkloadConfig)
        if not sequences:
            raise _fail("sequences", [], "at least one sequence ([[sequences]])")
        check_chains(sequences)
        object.__setattr__(self, "sequences", sequences)
        object.__setattr__(self, "workload", workload)
        for i, wl in enumerate(workload):
            self._check_workload(i, wl)
        self._check_policy()

    def _check_policy(self) -> None:
        policy = self.policy
        if policy.daily_cap == "calendar" and not self.capacity.daily_limit:
            raise _fail("policy.daily_cap", "calendar",
                        "'rolling' when capacity.daily_limit is 0 (unlimited): a calendar "
                        "cap needs a daily limit to count")
        start, end = self.simulation.start, self.simulation.end
        window = f"[{_format_instant(start)}, {_format_instant(end)})"
        for i, outage in enumerate(policy.outages):
            if not start <= outage.start < end:
                raise _fail(f"policy.outages[{i}].start", _format_instant(outage.start),
                            f"an instant in the run {window}")

    @staticmethod
    def _as_tuple(key: str, value: Any, cls: type) -> tuple[Any, ...]:
        items = tuple(_as_list(key, value, f"a list of {cls.__name__}"))
        for i, item in enumerate(items):
            if not isinstance(item, cls):
                raise _fail(f"{key}[{i}]", item, f"a {cls.__name__}")
        return items

    def _check_workload(self, index: int, wl: WorkloadConfig) -> None:
        key = f"workload[{index}]"
        start, end = self.simulation.start, self.simulation.end
        triggers = [s.trigger for s in self.sequences]
        window = f"[{_format_instant(start)}, {_format_instant(end)})"
        if wl.trigger is not None and wl.trigger not in triggers:
            known = _quoted(triggers)
            raise _fail(f"{key}.trigger", wl.trigger, f"the trigger of a sequence, one of {known}")
        if wl.start is not None and not start <= wl.start < end:
            raise _fail(
                f"{key}.start", _format_instant(wl.start), f"an instant in the run {window}"
            )
        # The window end is exclusive, so it may equal the run's end.
        if wl.end is not None and not start < wl.end <= end:
            raise _fail(
                f"{key}.end",
                _format_instant(wl.end),
                f"an instant after the run start and <= its end {window}",
            )
        if wl.at is not None and not start <= wl.at < end:
            raise _fail(f"{key}.at", _format_instant(wl.at), f"an instant in the run {window}")
        if wl.kind == "trace":
            self._check_trace(key, wl, triggers)

    def _check_trace(self, key: str, wl: WorkloadConfig, triggers: list[str]) -> None:
        assert wl.path is not None  # WorkloadConfig requires it for traces
        try:
            rows = read_trace(wl.path)
        except ScenarioError as exc:
            raise ScenarioError(f"{key}.path: {exc}") from exc
        bad = rows[~rows["trigger"].isin(triggers)]
        if len(bad):
            row = bad.iloc[0]
            raise ScenarioError(
                f"{key}.path: {wl.path}:{row['line']}: trigger {row['trigger']!r} is not valid; "
                f"expected the trigger of a sequence, one of {_quoted(triggers)}"
            )
        devices = device_ids(self.capacity.devices)
        row = first_unknown_device(rows, devices)
        if row is not None:
            raise ScenarioError(
                f"{key}.path: {wl.path}:{row['line']}: device_id {row['device_id']!r} is not "
                f"valid; expected one of the {len(devices)} devices "
                f"({devices[0]}..{devices[-1]}, see capacity.devices)"
            )

    # ------------------------------------------------------------------ properties

    @property
    def end(self) -> datetime:
        """Return the first instant after the run (simulation start + duration)."""
        return self.simulation.end

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | str | None = None) -> Scenario:
        """Build a scenario from nested tables, as read from TOML.

        Tables: ``simulation`` (required), ``sequences`` (list, required),
        ``workload`` (list), ``capacity``, ``policy``. Relative trace paths are
        resolved against ``base_dir`` (default: the working directory).

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: unknown keys (with a did-you-mean), missing tables or
                keys, wrong types or bad values, naming the key path.
        """
        d = _table("scenario", d)
        _check_keys("", d, _TOP_LEVEL_KEYS)
        if "simulation" not in d:
            raise ScenarioError(
                "simulation: missing; expected a [simulation] table with start and duration"
            )
        sim_table = _table("simulation", d["simulation"])
        _check_keys("simulation", sim_table, _field_names(SimulationConfig))
        for name, expected in (("start", _INSTANT_EXPECTED), ("duration", _DURATION_EXPECTED)):
            if name not in sim_table:
                raise ScenarioError(f"simulation.{name}: missing; expected {expected}")
        simulation = SimulationConfig(**sim_table)

        if "sequences" not in d:
            raise ScenarioError("sequences: missing; expected at least one [[sequences]] table")
        sequences = tuple(
            _sequence_from_table(i, t)
            for i, t in enumerate(_list_of_tables("sequences", d["sequences"]))
        )

        base = Path(base_dir) if base_dir is not None else Path.cwd()
        workload = tuple(
            _workload_from_table(i, t, base)
            for i, t in enumerate(_list_of_tables("workload", d.get("workload", [])))
        )

        cap_table = _table("capacity", d.get("capacity", {}))
        _check_keys("capacity", cap_table, _field_names(CapacityConfig))
        pol_table = _table("policy", d.get("policy", {}))
        _check_keys("policy", pol_table, _field_names(PolicyConfig))
        return cls(
            simulation=simulation,
            sequences=sequences,
            workload=workload,
            capacity=CapacityConfig(**cap_table),
            policy=PolicyConfig(**pol_table),
        )

    @classmethod
    def from_toml_string(cls, text: str, base_dir: Path | str | None = None) -> Scenario:
        """Parse a scenario from TOML text; see `from_dict` for ``base_dir``.

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: invalid TOML (with tomllib's line/column) or any
                validation error.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"scenario: invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Scenario:
        """Load a scenario file; relative trace paths are resolved against its folder.

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: the file is missing/unreadable or not valid TOML
                (naming the file, and the line for syntax errors), or any
                validation error.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ScenarioError(f"{p}: file not found; expected a scenario TOML file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{p}: cannot read the scenario file: {exc}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{p}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=p.parent)

    # ------------------------------------------------------------------ saving

    def to_dict(self) -> dict[str, Any]:
        """Return the fully resolved scenario as plain tables.

        Defaults are filled, durations are strings (``"15s"``), instants ISO
        strings, tuples lists, and None-valued optional keys are omitted, so
        ``Scenario.from_dict(s.to_dict()) == s``.
        """
        sim = self.simulation
        return {
            "simulation": {
                "start": _format_instant(sim.start),
                "duration": format_duration(sim.duration),
                "poll_interval": format_duration(sim.poll_interval),
                "seed": sim.seed,
                "engine": sim.engine,
            },
            "sequences": [_plain(asdict(s)) for s in self.sequences],
            "workload": [_plain(asdict(w)) for w in self.workload],
            "capacity": asdict(self.capacity),
            "policy": _policy_table(self.policy),
        }

    def to_toml(self) -> str:
        """Return the fully resolved scenario as TOML text (see `to_dict`)."""
        return tomli_w.dumps(self.to_dict())

    # ------------------------------------------------------------------ overrides

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Return a new scenario with dotted keys replaced.

        Keys: ``"capacity.devices"``, ``"simulation.duration"``,
        ``"policy.progress_on"``, ``"sequences.COLD.days"`` (by name) or
        ``"sequences.0.days"`` (by index), ``"workload.0.rate_per_hour"``. A
        value of None removes an optional key (e.g. ``"sequences.COLD.next"``).
        The result goes through `from_dict`, so validation is the same as loading.
        A sequence whose ``delay_hours`` were the default (day gaps x 24) gets
        them re-derived when only its ``days`` are overridden.

        Returns:
            The new, validated `Scenario`; ``self`` is unchanged.

        Raises:
            ScenarioError: unknown paths (with a did-you-mean) or invalid values.
        """
        data = self.to_dict()
        touched: dict[int, set[str]] = {}
        for key, value in overrides.items():
            table, name = _apply_override(data, key, value)
            touched.setdefault(id(table), set()).add(name)
        for seq, table in zip(self.sequences, data["sequences"], strict=True):
            names = touched.get(id(table), set())
            derived = seq.delay_hours == default_delay_hours(seq.days)
            if derived and "days" in names and "delay_hours" not in names:
                table.pop("delay_hours", None)
        return Scenario.from_dict(data)


def _plain(table: dict[str, Any]) -> dict[str, Any]:
    """Return ``table`` ready for TOML: no None values, tuples as lists, ISO instants."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = _format_instant(value)
        out[key] = value
    return out


def _policy_table(policy: PolicyConfig) -> dict[str, Any]:
    table = _plain(asdict(policy))
    table["stale_after"] = format_duration(policy.stale_after)
    table["outages"] = [
        {"start": _format_instant(o.start), "end": _format_instant(o.end)} for o in policy.outages
    ]
    return table


def _sequence_from_table(index: int, table: Mapping[str, Any]) -> SequenceConfig:
    name = table.get("name")
    key = f"sequences.{name}" if isinstance(name, str) and name else f"sequences[{index}]"
    _check_keys(key, table, _field_names(SequenceConfig))
    for required in ("name", "trigger", "days"):
        if required not in table:
            raise ScenarioError(f"{key}.{required}: missing; it is required")
    return SequenceConfig(**table)


def _workload_from_table(index: int, table: Mapping[str, Any], base: Path) -> WorkloadConfig:
    key = f"workload[{index}]"
    _check_keys(key, table, _field_names(WorkloadConfig))
    if "kind" not in table:
        raise ScenarioError(f"{key}.kind: missing; expected one of {_quoted(WORKLOAD_KINDS)}")
    values = dict(table)
    path = values.get("path")
    if isinstance(path, (str, os.PathLike)) and str(path).strip():
        values["path"] = str(base / Path(path).expanduser())
    try:
        return WorkloadConfig(**values)
    except ScenarioError as exc:
        raise _reindex_workload_error(exc, index) from exc


def _override_fields(top: str) -> tuple[str, ...]:
    return _field_names(
        {
            "simulation": SimulationConfig,
            "capacity": CapacityConfig,
            "policy": PolicyConfig,
            "sequences": SequenceConfig,
            "workload": WorkloadConfig,
        }[top]
    )


def _apply_override(data: dict[str, Any], key: Any, value: Any) -> tuple[dict[str, Any], str]:
    """Set dotted ``key`` in the `Scenario.to_dict` tables ``data`` (in place).

    Returns:
        The table that was changed and the key set in it.

    Raises:
        ScenarioError: the path names no table, item or key.
    """
    if not isinstance(key, str) or not key:
        raise _fail("override", key, "a dotted key such as 'capacity.devices'")
    parts = key.split(".")
    top = parts[0]
    if top not in _TOP_LEVEL_KEYS:
        raise _unknown_key(key, top, _TOP_LEVEL_KEYS)
    if top in ("sequences", "workload"):
        if len(parts) != 3:
            raise _fail(
                key,
                value,
                f"a key like '{top}.<name or index>.<field>', e.g. "
                + ("'sequences.COLD.days'" if top == "sequences" else "'workload.0.rate_per_hour'"),
            )
        table = _find_item(data[top], top, parts[1], key)
        name = parts[2]
    else:
        if len(parts) != 2:
            raise _fail(key, value, f"a key like '{top}.<field>'")
        table = data[top]
        name = parts[1]
    valid = _override_fields(top)
    if name not in valid:
        raise _unknown_key(key, name, valid)
    if value is None:
        table.pop(name, None)
    else:
        table[name] = value
    return table, name


def _find_item(items: list[dict[str, Any]], top: str, selector: str, key: str) -> dict[str, Any]:
    """Return the list item a path selects: a sequence by name, else any item by index."""
    if top == "sequences":
        for item in items:
            if item.get("name") == selector:
                return item
    if selector.isdigit() and int(selector) < len(items):
        return items[int(selector)]
    names = [str(i) for i in range(len(items))]
    if top == "sequences":
        names = [item["name"] for item in items] + names
    close = difflib.get_close_matches(selector, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    what = "a sequence name or index" if top == "sequences" else "a workload index"
    known = _quoted(names) or "none"
    raise ScenarioError(f"{key}: {selector!r} is not valid; {hint}expected {what}, one of {known}")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a CLI ``--set key=value``.

    The value is read as a TOML value (``4`` -> int, ``[1, 3]`` -> list,
    ``2025-07-02T00:00:00`` -> datetime) and falls back to the plain string
    (``7d``, ``queue``) when it is not valid TOML.

    Returns:
        ``(key, value)``, e.g. ``("capacity.devices", 4)``.

    Raises:
        ScenarioError: no ``=`` or an empty key.
    """
    if not isinstance(text, str) or "=" not in text:
        raise _fail("--set", text, "key=value, e.g. 'capacity.devices=4'")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise _fail("--set", text, "key=value with a non-empty key, e.g. 'capacity.devices=4'")
    raw = raw.strip()
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return key, raw
    # "1\nx = 2" parses as two keys: that was not one TOML value, keep the text.
    if set(parsed) != {"v"}:
        return key, raw
    return key, parsed["v"]
