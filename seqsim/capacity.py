"""The sending fleet: devices, their limits and pacing.

Production used only the lead's assigned device and skipped a row when that
device was offline or over its limits (80 messages/hour, 800/day, 50 in
flight). Each device sends one message at a time, waiting a pacing gap drawn
uniformly between the sequence's min and max delay seconds after its
previous send. Limits count messages *queued* on the device within a rolling
hour / day, which is when production counted them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Device", "Fleet", "pacing_gap"]

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def pacing_gap(u: float, min_seconds: float, max_seconds: float) -> timedelta:
    """Return the pacing gap for a uniform draw ``u`` in [0, 1), to the microsecond."""
    micros = round((min_seconds + u * (max_seconds - min_seconds)) * 1_000_000)
    return timedelta(microseconds=micros)


@dataclass
class Device:
    """One sending device's state."""

    id: str
    hourly_limit: int
    daily_limit: int
    in_flight_limit: int
    online: bool = True
    last_send_at: datetime | None = None
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._last_hour: deque[datetime] = deque()
        self._last_day: deque[datetime] = deque()

    def blocked(self, now: datetime) -> str | None:
        """Return why the device cannot take a message now, or None if it can."""
        if not self.online:
            return "offline"
        if self.in_flight_limit and self.in_flight >= self.in_flight_limit:
            return "in-flight limit"
        if self.hourly_limit and _count_since(self._last_hour, now - _HOUR) >= self.hourly_limit:
            return "hourly limit"
        if self.daily_limit and _count_since(self._last_day, now - _DAY) >= self.daily_limit:
            return "daily limit"
        return None

    def queue(self, now: datetime, gap: timedelta) -> datetime:
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


def _count_since(window: deque[datetime], cutoff: datetime) -> int:
    # Entries are appended in time order; anything at or before the cutoff has
    # left the rolling window for good.
    while window and window[0] <= cutoff:
        window.popleft()
    return len(window)


class Fleet:
    """The devices a run sends from, by id."""

    def __init__(
        self,
        device_ids: Iterable[str],
        *,
        hourly_limit: int,
        daily_limit: int,
        in_flight_limit: int,
    ) -> None:
        self.devices = {
            d: Device(d, hourly_limit, daily_limit, in_flight_limit) for d in device_ids
        }

    def blocked(self, device_id: str | None, now: datetime) -> str | None:
        """Return why ``device_id`` cannot send now (unknown devices are offline)."""
        device = self.devices.get(device_id) if device_id is not None else None
        if device is None:
            return "no such device"
        return device.blocked(now)

    def queue(self, device_id: str, now: datetime, gap: timedelta) -> datetime:
        """Queue a message on a device; return its send time."""
        return self.devices[device_id].queue(now, gap)

    def delivered(self, device_id: str) -> None:
        """A message left ``device_id``."""
        self.devices[device_id].delivered()
