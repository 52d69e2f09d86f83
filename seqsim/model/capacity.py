"""The device fleet: `CapacityConfig` (``[capacity]``) and the device names `device_ids`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqsim.validation import fail, is_number, parse_int

__all__ = ["CapacityConfig", "device_ids"]


def device_ids(n: int) -> list[str]:
    """Return the names of ``n`` devices: ``["dev-001", "dev-002", ...]``.

    Names are zero-padded to at least 3 digits (wider fleets get wider numbers,
    all the same width) so lexical order equals numeric order.
    """
    width = max(3, len(str(n)))
    return [f"dev-{i:0{width}d}" for i in range(1, n + 1)]


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
            value = parse_int(f"capacity.{name}", getattr(self, name), minimum, expected)
            object.__setattr__(self, name, value)
        rate = self.failure_rate
        if not is_number(rate) or not math.isfinite(rate) or not 0 <= rate < 1:
            raise fail("capacity.failure_rate", rate, "a probability in [0, 1)")
        object.__setattr__(self, "failure_rate", float(rate))
