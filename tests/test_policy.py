"""seqsim.engine.rules: the policy questions both engines ask."""

from __future__ import annotations

from datetime import datetime, timedelta

from seqsim.engine.rules import (
    COMPLETED_STEP,
    ENROLLMENT,
    NEXT_STEP,
    DatetimeCalendar,
    Outages,
    SendWindows,
    calendar_days,
    enrollment_offsets,
    is_default_timing,
    next_due,
)
from seqsim.model.policy import PolicyConfig
from seqsim.model.sequence import SequenceConfig
from seqsim.model.windows import CalendarDays
from seqsim.units import HOUR_US, from_us, to_us

START = datetime(2025, 7, 1)
POLL = timedelta(minutes=5)


def test_microsecond_round_trip() -> None:
    t = datetime(2025, 7, 1, 12, 30, 0, 123456)
    assert from_us(to_us(t)) == t
    assert to_us(datetime(1970, 1, 1, 1)) == HOUR_US


def test_next_due_by_delay_from() -> None:
    # Completed at 10 h, the row had been due at 7 h; completed step's delay 2 h,
    # next step's 5 h.
    args = (10 * HOUR_US, 7 * HOUR_US, 2 * HOUR_US, 5 * HOUR_US)
    assert next_due(NEXT_STEP, *args) == 15 * HOUR_US
    assert next_due(COMPLETED_STEP, *args) == 12 * HOUR_US
    assert next_due(ENROLLMENT, *args) == 12 * HOUR_US


def test_enrollment_offsets() -> None:
    delays = [0, 48, 72, 72]  # days 1, 3, 6, 9
    assert enrollment_offsets(NEXT_STEP, delays) == [0, 48, 120, 192]
    assert enrollment_offsets(ENROLLMENT, delays) == [0, 48, 120, 192]
    # The completed step's delay: the entry's 0, then 48, then 72.
    assert enrollment_offsets(COMPLETED_STEP, delays) == [0, 0, 48, 120]


def test_outage_polls_on_the_grid() -> None:
    # 01:02-01:07 covers the 01:05 poll only; 01:10 is the recovery poll.
    policy = PolicyConfig(outages=({"start": "2025-07-01T01:02:00", "end": "2025-07-01T01:07:00"},
                                   {"start": "2025-07-01T02:00:00", "duration": "10m"}))
    out = Outages.for_run(policy, START, POLL, total=288)
    assert sorted(out.down) == [13, 24, 25]
    assert sorted(out.recovery) == [14, 26]


def test_outage_running_past_the_end_has_no_recovery() -> None:
    policy = PolicyConfig(outages=({"start": "2025-07-01T23:50:00", "duration": "1h"},))
    out = Outages.for_run(policy, START, POLL, total=288)
    assert sorted(out.down) == [286, 287]
    assert not out.recovery


def test_sequence_window_replaces_policy_window() -> None:
    policy = PolicyConfig(send_hours="09:00-17:00")
    seqs = [SequenceConfig("A", "a", (1,)),
            SequenceConfig("B", "b", (1,), send_hours="20:00-21:00")]
    windows = SendWindows(policy, seqs, {"A": 1, "B": 2})
    at_10 = to_us(datetime(2025, 7, 1, 10))
    assert windows.active and windows.windowed_sequences == [1, 2]
    assert windows.is_open(1, "UTC", at_10)
    assert not windows.is_open(2, "UTC", at_10)
    assert windows.next_open(2, "UTC", at_10) == to_us(datetime(2025, 7, 1, 20))
    # 10:00 UTC is 18:00 in Singapore: closed for A there.
    assert not windows.is_open(1, "Asia/Singapore", at_10)


def test_no_window_is_always_open() -> None:
    windows = SendWindows(PolicyConfig(), [SequenceConfig("A", "a", (1,))], {"A": 1})
    assert not windows.active
    assert windows.is_open(1, "UTC", 0) and windows.next_open(1, "UTC", 5) == 5


def test_default_timing_and_calendar() -> None:
    seqs = [SequenceConfig("A", "a", (1, 2))]
    assert is_default_timing(PolicyConfig(progress_on="queue"), seqs)
    assert not is_default_timing(PolicyConfig(strategy="all_at_enrollment"), seqs)
    assert not is_default_timing(PolicyConfig(delay_from="enrollment"), seqs)
    assert not is_default_timing(PolicyConfig(send_days=("mon",)), seqs)
    assert not is_default_timing(PolicyConfig(), [SequenceConfig("A", "a", (1,),
                                                                 send_hours="09:00-10:00")])
    assert calendar_days(PolicyConfig()) is None
    days = calendar_days(PolicyConfig(daily_cap="calendar", daily_cap_zone="Asia/Singapore"))
    assert days == CalendarDays("Asia/Singapore")
    cal = DatetimeCalendar(days)
    assert cal.start(datetime(2025, 7, 1, 10)) == datetime(2025, 6, 30, 16)
    assert cal.next_start(datetime(2025, 7, 1, 10)) == datetime(2025, 7, 1, 16)


def test_schedule_codes_name_the_model_choices() -> None:
    from seqsim.engine import rules
    from seqsim.model.policy import CATCH_UP, DELAY_FROM, STRATEGIES

    assert STRATEGIES[rules.ALL_AT_ENROLLMENT] == "all_at_enrollment"
    assert DELAY_FROM[rules.COMPLETED_STEP] == "completed_step"
    assert CATCH_UP[rules.RESCHEDULE] == "reschedule"
    schedule = rules.Schedule.of(PolicyConfig(strategy="all_at_enrollment", progress_on="queue"))
    assert schedule.all_at_enrollment and schedule.anchored and schedule.on_queue
    assert rules.Schedule.of(None) == rules.DEFAULT_SCHEDULE
