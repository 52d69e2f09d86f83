"""The sending fleet: devices, their limits and pacing.

Production used only the lead's assigned device and skipped a row when that
device was offline or over its limits (80 messages/hour, 800/day, 50 in
flight). Each device sends one message at a time, waiting a pacing gap drawn
uniformly between the sequence's min and max delay seconds after its
previous send. Limits count messages *queued* on the device within a rolling
hour / day, which is when production counted them; with a ``calendar`` (the
``daily_cap = "calendar"`` policy) the daily limit counts per calendar day
instead, and a capped device waits for the next midnight.

Instants may be datetimes (the per-row engine) or integer microseconds (the
batch engine): a device only compares and adds them, with the hour and day
spans given in the same unit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from numba.extending import register_jitable

__all__ = ["US_PER_SECOND", "Device", "Fleet", "pacing_gap", "pacing_gap_us"]

US_PER_SECOND = 1_000_000


@register_jitable
def pacing_gap_us(u: float, min_seconds: float, max_seconds: float) -> int:
    """Return the pacing gap in whole microseconds for a uniform draw ``u`` in [0, 1)."""
    return round((min_seconds + u * (max_seconds - min_seconds)) * US_PER_SECOND)


def pacing_gap(u: float, min_seconds: float, max_seconds: float) -> timedelta:
    """Return the pacing gap for a uniform draw ``u`` in [0, 1), to the microsecond."""
    return timedelta(microseconds=pacing_gap_us(u, min_seconds, max_seconds))


@dataclass
class Device:
    """One sending device's state (0 in a limit means unlimited)."""

    id: str
    hourly_limit: int
    daily_limit: int
    in_flight_limit: int
    online: bool = True
    last_send_at: Any = None
    in_flight: int = 0
    hour: Any = field(default=timedelta(hours=1), repr=False)
    day: Any = field(default=timedelta(days=1), repr=False)
    #: None: the daily limit counts a rolling ``day``; else an object whose
    #: ``start(t)``/``next_start(t)`` give the calendar day around ``t``.
    calendar: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._last_hour: deque[Any] = deque()
        self._last_day: deque[Any] = deque()

    def remaining(self, now: Any) -> int | None:
        """Return how many more messages the device may queue at ``now`` (None: no limit)."""
        if not self.online:
            return 0
        left = []
        if self.in_flight_limit:
            left.append(self.in_flight_limit - self.in_flight)
        if self.hourly_limit:
            left.append(self.hourly_limit - _count_since(self._last_hour, now - self.hour))
        if self.daily_limit:
            left.append(self.daily_limit - self._day_count(now))
        return max(0, min(left)) if left else None

    def blocked(self, now: Any) -> str | None:
        """Return why the device cannot take a message now, or None if it can."""
        if not self.online:
            return "offline"
        if self.in_flight_limit and self.in_flight >= self.in_flight_limit:
            return "in-flight limit"
        if self._hour_full(now):
            return "hourly limit"
        if self._day_full(now):
            return "daily limit"
        return None

    def unblocks_at(self, now: Any) -> Any:
        """Return the first instant after ``now`` at which a rolling limit that
        blocks the device lapses; None if only a delivery (in-flight limit) or
        nothing can unblock it. Only meaningful while ``blocked(now)``."""
        if not self.online:
            return None
        if self.in_flight_limit and self.in_flight >= self.in_flight_limit:
            return None
        times = []
        if self._hour_full(now):
            times.append(self._last_hour[-self.hourly_limit] + self.hour)
        if self._day_full(now):
            if self.calendar is None:
                times.append(self._last_day[-self.daily_limit] + self.day)
            else:
                times.append(self.calendar.next_start(now))
        return max(times) if times else now

    def _hour_full(self, now: Any) -> bool:
        limit = self.hourly_limit
        return bool(limit) and _count_since(self._last_hour, now - self.hour) >= limit

    def _day_full(self, now: Any) -> bool:
        limit = self.daily_limit
        return bool(limit) and self._day_count(now) >= limit

    def _day_count(self, now: Any) -> int:
        if self.calendar is None:
            return _count_since(self._last_day, now - self.day)
        start = self.calendar.start(now)
        window = self._last_day
        while window and window[0] < start:
            window.popleft()
        return len(window)

    def queue(self, now: Any, gap: Any) -> Any:
        """Queue one message; return when the device will send it."""
        send_at = now if self.last_send_at is None else max(now, self.last_send_at + gap)
        self.last_send_at = send_at
        self.in_flight += 1
        if self.hourly_limit:
            self._last_hour.append(now)
        if self.daily_limit:
            self._last_day.append(now)
        return send_at

    def delivered(self) -> None:
        """A queued message left the device."""
        self.in_flight -= 1


def _count_since(window: deque[Any], cutoff: Any) -> int:
    # Entries are appended in time order; anything at or before the cutoff has
    # left the rolling window for good.
    while window and window[0] <= cutoff:
        window.popleft()
    return len(window)


class Fleet:
    """The devices a run sends from, by id.

    ``hour``/``day`` are the rolling-window spans in the unit instants use
    (timedelta for datetimes, the default; 3_600_000_000 for microseconds);
    ``calendar`` makes the daily limit count calendar days (see `Device`).
    """

    def __init__(
        self,
        device_ids: Iterable[str],
        *,
        hourly_limit: int,
        daily_limit: int,
        in_flight_limit: int,
        hour: Any = timedelta(hours=1),
        day: Any = timedelta(days=1),
        calendar: Any = None,
    ) -> None:
        self.devices = {
            d: Device(d, hourly_limit, daily_limit, in_flight_limit, hour=hour, day=day,
                      calendar=calendar)
            for d in device_ids
        }

    def blocked(self, device_id: str | None, now: Any) -> str | None:
        """Return why ``device_id`` cannot send now (an unknown device never can)."""
        device = self.devices.get(device_id) if device_id is not None else None
        if device is None:
            return "no such device"
        return device.blocked(now)

    def queue(self, device_id: str, now: Any, gap: Any) -> Any:
        """Queue a message on a device; return its send time."""
        return self.devices[device_id].queue(now, gap)

    def delivered(self, device_id: str) -> None:
        """A message left ``device_id``."""
        self.devices[device_id].delivered()
