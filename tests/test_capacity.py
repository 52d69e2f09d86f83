"""Unit tests of seqsim.engine.fleet: pacing gaps, device limits and the fleet."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from seqsim.engine.fleet import Device, Fleet, pacing_gap

T0 = datetime(2025, 7, 1, 9, 0)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def device(hourly: int = 0, daily: int = 0, in_flight: int = 0) -> Device:
    return Device("dev-001", hourly_limit=hourly, daily_limit=daily, in_flight_limit=in_flight)


# ----------------------------------------------------------------------- pacing_gap


@pytest.mark.parametrize(
    ("u", "lo", "hi", "expected"),
    [
        (0.0, 5, 15, timedelta(seconds=5)),
        (0.5, 5, 15, timedelta(seconds=10)),
        (0.999999, 5, 15, timedelta(seconds=14, microseconds=999990)),
        (0.25, 10, 30, timedelta(seconds=15)),
        (0.7, 0, 0, timedelta(0)),
        (0.3, 7, 7, timedelta(seconds=7)),
        (0.5, 0.5, 1.5, timedelta(seconds=1)),
    ],
)
def test_pacing_gap_is_uniform_between_min_and_max(
    u: float, lo: float, hi: float, expected: timedelta
) -> None:
    assert pacing_gap(u, lo, hi) == expected


def test_pacing_gap_rounds_to_the_microsecond() -> None:
    gap = pacing_gap(1 / 3, 0, 1)
    assert gap == timedelta(microseconds=333_333)
    assert gap.microseconds == 333_333


# ----------------------------------------------------------------------- Device


def test_fresh_device_is_not_blocked() -> None:
    assert device(hourly=1, daily=1, in_flight=1).blocked(T0) is None


def test_offline_device_is_blocked_first() -> None:
    d = device(in_flight=1)
    d.queue(T0, timedelta(0))
    d.online = False
    assert d.blocked(T0) == "offline"


def test_unlimited_device_never_blocks() -> None:
    d = device()
    for i in range(1000):
        assert d.blocked(T0) is None
        d.queue(T0 + i * US, timedelta(0))
    assert d.in_flight == 1000


def test_queue_idle_device_sends_now() -> None:
    d = device()
    assert d.queue(T0, timedelta(seconds=10)) == T0
    assert d.last_send_at == T0
    # Long after the last send, the gap has already passed: send right away.
    later = T0 + timedelta(minutes=5)
    assert d.queue(later, timedelta(seconds=10)) == later
    assert d.last_send_at == later


def test_queue_busy_device_sends_at_previous_send_plus_gap() -> None:
    d = device()
    gap = timedelta(seconds=10)
    assert d.queue(T0, gap) == T0
    assert d.queue(T0, gap) == T0 + gap
    assert d.queue(T0, timedelta(seconds=7)) == T0 + timedelta(seconds=17)
    # Queued 5 s after a send: waits for the rest of the gap, measured from the send.
    d2 = device()
    d2.queue(T0, gap)
    assert d2.queue(T0 + timedelta(seconds=5), gap) == T0 + gap
    # Exactly at the end of the gap.
    assert d2.queue(T0 + 2 * gap, gap) == T0 + 2 * gap


def test_in_flight_counts_queued_minus_delivered() -> None:
    d = device(in_flight=2)
    d.queue(T0, timedelta(0))
    assert d.in_flight == 1
    assert d.blocked(T0) is None
    d.queue(T0, timedelta(0))
    assert d.in_flight == 2
    assert d.blocked(T0) == "in-flight limit"
    d.delivered()
    assert d.in_flight == 1
    assert d.blocked(T0) is None


def test_hourly_limit_rolling_window_exact_boundary() -> None:
    d = device(hourly=2)
    d.queue(T0, timedelta(0))
    d.queue(T0 + timedelta(minutes=30), timedelta(0))
    assert d.blocked(T0 + timedelta(minutes=30)) == "hourly limit"
    # One microsecond before the first message leaves the rolling hour: still full.
    assert d.blocked(T0 + HOUR - US) == "hourly limit"
    # At exactly one hour, the first message no longer counts.
    assert d.blocked(T0 + HOUR) is None
    d.queue(T0 + HOUR, timedelta(0))
    assert d.blocked(T0 + HOUR) == "hourly limit"
    # The second leaves at 01:30.
    assert d.blocked(T0 + HOUR + timedelta(minutes=30) - US) == "hourly limit"
    assert d.blocked(T0 + HOUR + timedelta(minutes=30)) is None


def test_hourly_limit_counts_queue_time_not_send_time() -> None:
    d = device(hourly=1)
    # Queued now, sent 50 minutes later because of a long gap: the hour runs
    # from the queue instant.
    d.queue(T0, timedelta(0))
    send_at = d.queue(T0, timedelta(minutes=50))
    assert send_at == T0 + timedelta(minutes=50)
    assert d.blocked(T0 + HOUR - US) == "hourly limit"
    assert d.blocked(T0 + HOUR) is None


def test_daily_limit_rolling_window_exact_boundary() -> None:
    d = device(daily=3)
    for h in (0, 6, 12):
        assert d.blocked(T0 + h * HOUR) is None
        d.queue(T0 + h * HOUR, timedelta(0))
    assert d.blocked(T0 + 12 * HOUR) == "daily limit"
    assert d.blocked(T0 + DAY - US) == "daily limit"
    assert d.blocked(T0 + DAY) is None


def test_hourly_limit_reported_before_daily_limit() -> None:
    d = device(hourly=1, daily=1)
    d.queue(T0, timedelta(0))
    assert d.blocked(T0) == "hourly limit"
    # After the hour only the daily limit binds.
    assert d.blocked(T0 + HOUR) == "daily limit"
    assert d.blocked(T0 + DAY) is None


def test_in_flight_limit_reported_before_rate_limits() -> None:
    d = device(hourly=1, in_flight=1)
    d.queue(T0, timedelta(0))
    assert d.blocked(T0) == "in-flight limit"
    d.delivered()
    assert d.blocked(T0) == "hourly limit"


def test_zero_limits_mean_unlimited() -> None:
    d = device(hourly=0, daily=0, in_flight=0)
    for _ in range(500):
        d.queue(T0, timedelta(0))
    assert d.blocked(T0) is None


# ----------------------------------------------------------------------- Fleet


def test_fleet_unknown_device_is_blocked() -> None:
    fleet = Fleet(["dev-001"], hourly_limit=0, daily_limit=0, in_flight_limit=0)
    assert fleet.blocked("dev-999", T0) == "no such device"
    assert fleet.blocked(None, T0) == "no such device"
    assert fleet.blocked("dev-001", T0) is None


def test_fleet_devices_are_independent() -> None:
    fleet = Fleet(["dev-001", "dev-002"], hourly_limit=1, daily_limit=0, in_flight_limit=0)
    gap = timedelta(seconds=10)
    assert fleet.queue("dev-001", T0, gap) == T0
    assert fleet.blocked("dev-001", T0) == "hourly limit"
    assert fleet.blocked("dev-002", T0) is None
    # Pacing is per device too: dev-002 is idle and sends at once.
    assert fleet.queue("dev-002", T0, gap) == T0


def test_fleet_queue_and_delivered_track_in_flight() -> None:
    fleet = Fleet(["dev-001"], hourly_limit=0, daily_limit=0, in_flight_limit=1)
    fleet.queue("dev-001", T0, timedelta(0))
    assert fleet.devices["dev-001"].in_flight == 1
    assert fleet.blocked("dev-001", T0) == "in-flight limit"
    fleet.delivered("dev-001")
    assert fleet.devices["dev-001"].in_flight == 0
    assert fleet.blocked("dev-001", T0) is None


def test_fleet_applies_limits_to_every_device() -> None:
    fleet = Fleet(
        ["dev-001", "dev-002", "dev-003"], hourly_limit=80, daily_limit=800, in_flight_limit=50
    )
    assert list(fleet.devices) == ["dev-001", "dev-002", "dev-003"]
    for d in fleet.devices.values():
        assert (d.hourly_limit, d.daily_limit, d.in_flight_limit) == (80, 800, 50)
        assert d.online
