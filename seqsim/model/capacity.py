"""The device fleet: `CapacityConfig` (``[capacity]``) and the device names `device_ids`."""

from __future__ import annotations

from dataclasses import dataclass

from seqsim.validation import INT32_MAX, fail, is_finite, parse_int

__all__ = ["MAX_DEVICES", "MAX_RETRIES", "CapacityConfig", "device_ids"]

#: The largest fleet a run simulates (production was sized for 3,000 devices):
#: every device is a table row, a limit tracker and a due index in memory.
MAX_DEVICES = 100_000
#: The most retries after a failed send; each attempt is a row of the send log.
MAX_RETRIES = 1_000


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
        devices: number of sending devices, 1 to `MAX_DEVICES`, named ``dev-001``...
        batch_size: rows picked per poll, 1 to 2**31 - 1.
        hourly_limit / daily_limit / in_flight_limit: per device, 0 to 2**31 - 1
            (they are DuckDB INTEGER columns); 0 means unlimited.
        failure_rate: probability a send fails, in [0, 1).
        max_retries: retries after a failed send, 0 to `MAX_RETRIES`.

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
        limit = f"a whole number from 0 to {INT32_MAX:,} (0 = unlimited)"
        checks = {
            "devices": (1, MAX_DEVICES, f"a whole number of devices from 1 to {MAX_DEVICES:,}"),
            "batch_size": (1, INT32_MAX, f"a whole number of rows from 1 to {INT32_MAX:,}"),
            "hourly_limit": (0, INT32_MAX, limit),
            "daily_limit": (0, INT32_MAX, limit),
            "in_flight_limit": (0, INT32_MAX, limit),
            "max_retries": (0, MAX_RETRIES, f"a whole number from 0 to {MAX_RETRIES:,}"),
        }
        for name, (minimum, maximum, expected) in checks.items():
            value = parse_int(f"capacity.{name}", getattr(self, name), minimum, expected, maximum)
            object.__setattr__(self, name, value)
        rate = self.failure_rate
        if not is_finite(rate) or not 0 <= rate < 1:
            raise fail("capacity.failure_rate", rate, "a probability in [0, 1)")
        object.__setattr__(self, "failure_rate", float(rate))
