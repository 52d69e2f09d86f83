"""Send windows and calendar days: hand-computed instants, properties, rejections."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from seqsim.errors import ScenarioError
from seqsim.model.windows import (
    WEEKDAYS,
    CalendarDays,
    SendWindow,
    check_zone,
    parse_days,
    parse_hours,
)

EPOCH = datetime(1970, 1, 1)
MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEKDAYS_ONLY = ["mon", "tue", "wed", "thu", "fri"]


def us(iso: str) -> int:
    """Return a naive UTC ISO timestamp as microseconds since the epoch."""
    return (datetime.fromisoformat(iso) - EPOCH) // timedelta(microseconds=1)


def window(hours: str | None, days: list[str] | None = None, zone: str = "UTC") -> SendWindow:
    return SendWindow.from_config(hours, days, zone)


# ----------------------------------------------------------------------------- parsing


def test_parse_hours() -> None:
    assert parse_hours("hours", "09:00-20:00") == (540, 1200)
    assert parse_hours("hours", "22:00-06:00") == (1320, 360)
    assert parse_hours("hours", "00:00-24:00") == (0, 1440)
    assert parse_hours("hours", "23:59-00:00") == (1439, 1440)  # ends at the next midnight
    assert parse_hours("hours", "00:30-00:00") == (30, 1440)
    assert window("23:00-00:00") == window("23:00-24:00")


@pytest.mark.parametrize(
    "value",
    ["9-17", "25:00-26:00", "09:60-10:00", "09:00-24:01", "24:00-09:00", "9:00-17:00",
     " 09:00-17:00", "09:00-17:00\n", "０９:00-17:00", "", None, 900, ["09:00-17:00"]],
)  # fmt: skip
def test_parse_hours_rejects_bad_forms(value: object) -> None:
    with pytest.raises(
        ScenarioError, match=r"^send\.hours: .* is not valid; expected .*HH:MM-HH:MM"
    ):
        parse_hours("send.hours", value)


@pytest.mark.parametrize("value", ["09:00-09:00", "00:00-00:00", "23:59-23:59"])
def test_parse_hours_rejects_empty_window(value: str) -> None:
    with pytest.raises(ScenarioError, match=r"^hours: '.*' is not valid; expected .*empty"):
        parse_hours("hours", value)


def test_parse_hours_message_names_key_and_value() -> None:
    with pytest.raises(ScenarioError, match=r"^hours: 900 is not valid; expected a time range"):
        parse_hours("hours", 900)


def test_parse_days() -> None:
    assert parse_days("days", ["fri", "Mon", "WEDNESDAY", "monday", "mon"]) == ("mon", "wed", "fri")
    assert parse_days("days", ("Sunday", "sat")) == ("sat", "sun")
    assert parse_days("days", list(WEEKDAYS)) == WEEKDAYS


def test_parse_days_rejections() -> None:
    with pytest.raises(ScenarioError, match=r"^days: \[\] is not valid; expected at least one"):
        parse_days("days", [])
    with pytest.raises(
        ScenarioError,
        match=r"^days\[1\]: 'frday' is not valid; expected a weekday name: one of 'mon', "
        r"'tue', .*'sun'.*did you mean 'fri'\?",
    ):
        parse_days("days", ["mon", "frday"])
    with pytest.raises(ScenarioError, match=r"^days\[0\]: 'tues' .*did you mean 'tue'\?"):
        parse_days("days", ["tues"])
    with pytest.raises(ScenarioError, match=r"^days\[0\]: 'xyz' is not valid; expected a weekday"):
        parse_days("days", ["xyz"])
    with pytest.raises(ScenarioError, match=r"^days\[2\]: 3 is not valid"):
        parse_days("days", ["mon", "tue", 3])
    with pytest.raises(ScenarioError, match=r"^days: 'mon' is not valid; expected a list"):
        parse_days("days", "mon")
    with pytest.raises(ScenarioError, match=r"^days: None is not valid; expected a list"):
        parse_days("days", None)


def test_check_zone() -> None:
    assert check_zone("zone", "UTC") == "UTC"
    assert check_zone("zone", "Asia/Singapore") == "Asia/Singapore"


@pytest.mark.parametrize(
    "value",
    ["Mars/Base", "", "../etc", "/etc/passwd", "America", "Asia/Singapore\x00", "x" * 5000,
     "Asia/", None, 8, b"UTC"],
)  # fmt: skip
def test_check_zone_rejects_junk_with_scenario_error_only(value: object) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^send\.zone: .* is not valid; expected an IANA time zone such as 'UTC' or "
        r"'Asia/Singapore'",
    ):
        check_zone("send.zone", value)


def test_check_zone_suggests_a_close_name() -> None:
    with pytest.raises(ScenarioError, match=r"did you mean 'Asia/Singapore'\?"):
        check_zone("zone", "Asia/Singapor")


def test_window_fields_are_validated() -> None:
    with pytest.raises(ScenarioError, match=r"^zone: 'Mars/Base' is not valid"):
        window("09:00-17:00", zone="Mars/Base")
    with pytest.raises(ScenarioError, match=r"^zone: '' is not valid"):
        SendWindow(540, 1200, frozenset({0}), "")
    with pytest.raises(ScenarioError, match=r"^hours: '9-17' is not valid"):
        window("9-17")
    with pytest.raises(ScenarioError, match=r"^days: \[\] is not valid"):
        window("09:00-17:00", [])
    with pytest.raises(ScenarioError, match=r"^start_minute: 1440 is not valid"):
        SendWindow(1440, 10, frozenset({0}), "UTC")
    with pytest.raises(ScenarioError, match=r"^end_minute: 540 is not valid"):
        SendWindow(540, 540, frozenset({0}), "UTC")
    with pytest.raises(ScenarioError, match=r"^end_minute: 0 is not valid"):
        SendWindow(540, 0, frozenset({0}), "UTC")
    with pytest.raises(ScenarioError, match=r"^days: frozenset\(\) is not valid"):
        SendWindow(540, 1200, frozenset(), "UTC")
    with pytest.raises(ScenarioError, match=r"^days: .* is not valid; expected weekday numbers"):
        SendWindow(540, 1200, frozenset({7}), "UTC")


def test_from_config_defaults_and_equality() -> None:
    w = window(None, None, "UTC")
    assert (w.start_minute, w.end_minute, w.days, w.zone) == (0, 1440, frozenset(range(7)), "UTC")
    a = window("22:00-06:00", ["Friday", "mon"], "Asia/Singapore")
    assert a == SendWindow(1320, 360, frozenset({0, 4}), "Asia/Singapore")
    assert hash(a) == hash(SendWindow(1320, 360, frozenset({4, 0}), "Asia/Singapore"))
    a.is_open(us("2025-07-04T15:00:00"))  # fills the caches: equality is unaffected
    assert a == SendWindow(1320, 360, frozenset({0, 4}), "Asia/Singapore")
    assert "_segment" not in repr(a)
    b = pickle.loads(pickle.dumps(a))
    assert b == a
    assert b.is_open(us("2025-07-04T15:00:00"))


# ----------------------------------------------------------------------------- UTC windows


def test_daily_window_in_utc() -> None:
    w = window("09:00-20:00")
    assert not w.is_open(us("2025-07-01T08:59:59"))
    assert w.is_open(us("2025-07-01T09:00:00"))
    assert w.is_open(us("2025-07-01T19:59:59.999999"))
    assert not w.is_open(us("2025-07-01T20:00:00"))
    assert w.next_open(us("2025-07-01T20:00:00")) == us("2025-07-02T09:00:00")
    assert w.next_open(us("2025-07-01T08:59:59")) == us("2025-07-01T09:00:00")
    assert w.next_open(us("2025-07-01T12:00:00")) == us("2025-07-01T12:00:00")
    assert w.next_close(us("2025-07-01T12:00:00")) == us("2025-07-01T20:00:00")
    assert w.next_close(us("2025-07-01T20:00:00")) == us("2025-07-01T20:00:00")
    assert w.next_close(us("2025-07-01T19:59:59.999999")) == us("2025-07-01T20:00:00")


def test_weekday_window_skips_the_weekend() -> None:
    w = window("09:00-20:00", WEEKDAYS_ONLY)
    friday_evening = us("2025-07-04T21:00:00")  # 2025-07-04 is a Friday
    assert not w.is_open(friday_evening)
    assert w.next_open(friday_evening) == us("2025-07-07T09:00:00")
    assert not w.is_open(us("2025-07-05T12:00:00"))
    assert w.next_open(us("2025-07-05T12:00:00")) == us("2025-07-07T09:00:00")


def test_window_crossing_midnight_belongs_to_the_day_it_opens() -> None:
    w = window("22:00-06:00", WEEKDAYS_ONLY)
    assert not w.is_open(us("2025-07-04T21:59:59"))
    assert w.is_open(us("2025-07-04T22:00:00"))  # Friday's window
    assert w.is_open(us("2025-07-05T05:59:59.999999"))  # ... runs into Saturday
    assert w.next_close(us("2025-07-04T23:00:00")) == us("2025-07-05T06:00:00")
    assert not w.is_open(us("2025-07-05T06:00:00"))
    assert not w.is_open(us("2025-07-05T22:00:00"))  # Saturday: no window
    assert not w.is_open(us("2025-07-07T01:00:00"))  # Monday 01:00 is Sunday's window
    assert w.is_open(us("2025-07-08T01:00:00"))  # Tuesday 01:00 is Monday's
    assert w.next_open(us("2025-07-05T07:00:00")) == us("2025-07-07T22:00:00")
    assert w.next_open(us("2025-07-07T01:00:00")) == us("2025-07-07T22:00:00")


def test_crossing_window_on_consecutive_days() -> None:
    w = window("20:00-08:00")
    assert w.is_open(us("2025-07-01T02:00:00"))
    assert w.next_close(us("2025-07-01T02:00:00")) == us("2025-07-01T08:00:00")
    assert w.next_open(us("2025-07-01T08:00:00")) == us("2025-07-01T20:00:00")


def test_whole_days_on_chosen_weekdays() -> None:
    w = window("00:00-24:00", ["sat", "sun"])
    assert not w.is_open(us("2025-07-04T23:59:59.999999"))
    assert w.next_open(us("2025-07-04T12:00:00")) == us("2025-07-05T00:00:00")
    assert w.is_open(us("2025-07-05T00:00:00"))
    assert w.is_open(us("2025-07-06T00:00:00"))  # Saturday and Sunday form one stretch
    assert w.next_close(us("2025-07-05T10:00:00")) == us("2025-07-07T00:00:00")
    assert not w.is_open(us("2025-07-07T00:00:00"))
    assert w.next_open(us("2025-07-07T00:00:00")) == us("2025-07-12T00:00:00")


def test_ending_at_midnight() -> None:
    w = window("18:00-24:00", ["mon"])
    assert w.is_open(us("2025-07-07T23:59:59.999999"))
    assert not w.is_open(us("2025-07-08T00:00:00"))
    assert w.next_close(us("2025-07-07T18:00:00")) == us("2025-07-08T00:00:00")


@pytest.mark.parametrize("zone", ["UTC", "Asia/Singapore", "America/New_York"])
def test_whole_week_window_is_always_open(zone: str) -> None:
    w = window(None, None, zone)
    for t in (us("2025-03-09T07:00:00"), us("2025-07-01T00:00:00"), 0, -5, us("2999-01-01")):
        assert w.is_open(t)
        assert w.next_open(t) == t
        assert w.next_close(t) == 2**63 - 1
    assert window("00:00-24:00", list(WEEKDAYS), zone).is_open(1)


# ----------------------------------------------------------------------------- other zones


def test_singapore_window() -> None:
    w = window("09:00-20:00", zone="Asia/Singapore")  # UTC+8, no DST
    assert not w.is_open(us("2025-07-01T00:59:59"))
    assert w.is_open(us("2025-07-01T01:00:00"))
    assert w.is_open(us("2025-07-01T11:59:59"))
    assert not w.is_open(us("2025-07-01T12:00:00"))
    assert w.next_open(us("2025-07-01T12:00:00")) == us("2025-07-02T01:00:00")
    weekdays = window("09:00-20:00", WEEKDAYS_ONLY, "Asia/Singapore")
    assert not weekdays.is_open(us("2025-07-04T12:30:00"))  # Friday 20:30 local
    assert weekdays.next_open(us("2025-07-04T12:30:00")) == us("2025-07-07T01:00:00")
    # Monday 08:00 local is Sunday 2025-07-06 in UTC.
    assert weekdays.next_open(us("2025-07-06T20:00:00")) == us("2025-07-07T01:00:00")


def test_new_york_across_dst_changes() -> None:
    w = window("09:00-17:00", zone="America/New_York")
    # Spring forward on Sunday 2025-03-09: EST (UTC-5) before, EDT (UTC-4) after.
    assert w.next_open(us("2025-03-08T00:00:00")) == us("2025-03-08T14:00:00")
    assert w.next_close(us("2025-03-08T14:00:00")) == us("2025-03-08T22:00:00")
    assert w.next_open(us("2025-03-08T22:00:00")) == us("2025-03-09T13:00:00")
    assert w.next_close(us("2025-03-09T13:00:00")) == us("2025-03-09T21:00:00")
    assert not w.is_open(us("2025-03-09T12:59:59"))
    # Fall back on Sunday 2025-11-02: EDT before, EST after.
    assert w.next_open(us("2025-11-01T00:00:00")) == us("2025-11-01T13:00:00")
    assert w.next_open(us("2025-11-01T21:00:00")) == us("2025-11-02T14:00:00")
    assert w.is_open(us("2025-11-02T21:59:59"))
    assert not w.is_open(us("2025-11-02T22:00:00"))


def test_local_times_in_dst_gap_and_overlap_follow_zoneinfo_fold_0() -> None:
    # 02:00-03:00 does not exist on 2025-03-09 in New York: 02:00 (read as EST) and
    # 03:00 (EDT) are both 07:00 UTC, so that day's window is empty and skipped.
    gap = window("02:00-03:00", zone="America/New_York")
    assert not gap.is_open(us("2025-03-09T07:00:00"))
    assert gap.next_open(us("2025-03-09T06:30:00")) == us("2025-03-10T06:00:00")
    assert gap.next_open(us("2025-03-08T08:00:00")) == us("2025-03-10T06:00:00")
    # 02:30 in the gap is read as EST: 07:30 UTC, which is 03:30 EDT.
    half = window("02:30-04:00", zone="America/New_York")
    assert half.next_open(us("2025-03-09T00:00:00")) == us("2025-03-09T07:30:00")
    assert half.next_close(us("2025-03-09T07:30:00")) == us("2025-03-09T08:00:00")
    # 01:00 on 2025-11-02 happens twice; fold=0 is the first (EDT): the window
    # 01:00-02:00 then lasts two hours, 05:00-07:00 UTC.
    overlap = window("01:00-02:00", zone="America/New_York")
    assert overlap.next_open(us("2025-11-02T00:00:00")) == us("2025-11-02T05:00:00")
    assert overlap.next_close(us("2025-11-02T05:00:00")) == us("2025-11-02T07:00:00")


def test_lord_howe_half_hour_dst() -> None:
    # Lord Howe Island: UTC+11 in summer, UTC+10:30 in winter, changing by 30 minutes
    # (2025-04-06 02:00 -> 01:30, 2025-10-05 02:00 -> 02:30).
    w = window("09:00-17:00", zone="Australia/Lord_Howe")
    assert w.next_open(us("2025-04-04T12:00:00")) == us("2025-04-04T22:00:00")  # Apr 5 09:00
    assert w.next_open(us("2025-04-05T12:00:00")) == us("2025-04-05T22:30:00")  # Apr 6 09:00
    assert w.next_open(us("2025-10-04T12:00:00")) == us("2025-10-04T22:00:00")  # Oct 5 09:00


# ----------------------------------------------------------------------------- calendar days


def test_calendar_days_utc() -> None:
    days = CalendarDays("UTC")
    assert days.start(us("2025-07-01T10:00:00")) == us("2025-07-01T00:00:00")
    assert days.next_start(us("2025-07-01T10:00:00")) == us("2025-07-02T00:00:00")
    assert days.start(us("2025-07-01T00:00:00")) == us("2025-07-01T00:00:00")
    assert days.next_start(us("2025-07-01T23:59:59.999999")) == us("2025-07-02T00:00:00")
    assert days.next_start(us("2025-07-02T00:00:00")) == us("2025-07-03T00:00:00")
    assert days.start(us("2025-06-30T23:59:59")) == us("2025-06-30T00:00:00")


def test_calendar_days_singapore() -> None:
    days = CalendarDays("Asia/Singapore")
    assert days.start(us("2025-07-01T10:00:00")) == us("2025-06-30T16:00:00")
    assert days.next_start(us("2025-07-01T10:00:00")) == us("2025-07-01T16:00:00")
    assert days.start(us("2025-07-01T16:00:00")) == us("2025-07-01T16:00:00")


def test_calendar_days_across_dst() -> None:
    days = CalendarDays("America/New_York")
    t = us("2025-03-09T12:00:00")
    assert days.start(t) == us("2025-03-09T05:00:00")
    assert days.next_start(t) == us("2025-03-10T04:00:00")  # a 23-hour day
    t = us("2025-11-02T12:00:00")
    assert days.start(t) == us("2025-11-02T04:00:00")
    assert days.next_start(t) == us("2025-11-03T05:00:00")  # a 25-hour day


def test_calendar_days_rejects_unknown_zone() -> None:
    with pytest.raises(ScenarioError, match=r"^zone: 'Mars/Base' is not valid"):
        CalendarDays("Mars/Base")


# ----------------------------------------------------------------------------- properties

ZONES = ["UTC", "Asia/Singapore", "America/New_York", "Australia/Lord_Howe"]
YEAR_START, YEAR_END = us("2025-01-01T00:00:00"), us("2026-01-01T00:00:00")
# The 2025 DST changes of New York and Lord Howe (30 minutes), and a plain midnight.
CHANGES = [
    us("2025-03-09T07:00:00"),
    us("2025-11-02T06:00:00"),
    us("2025-04-05T15:00:00"),
    us("2025-10-04T15:30:00"),
    us("2025-07-04T00:00:00"),
]
# Any instant in 2025, or a whole minute (give or take 1 µs) within 3 days of a change,
# so that window edges and DST changes are hit exactly.
instants = st.one_of(
    st.integers(YEAR_START, YEAR_END),
    st.builds(
        lambda base, minutes, nudge: base + minutes * MINUTE + nudge,
        st.sampled_from(CHANGES),
        st.integers(-3 * 1440, 3 * 1440),
        st.sampled_from([0, -1, 1]),
    ),
)


def oracle_is_open(w: SendWindow, t: int) -> bool:
    """Straight from the spec: is t inside some day's [open, close)?"""
    tz = ZoneInfo(w.zone)
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=t)).astimezone(tz)
    for back in range(-1, 3):
        d = local.date() - timedelta(days=back)
        if d.weekday() not in w.days:
            continue
        end_day = d if w.end_minute > w.start_minute else d + timedelta(days=1)
        opened = datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(minutes=w.start_minute)
        closed = datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)
        closed += timedelta(minutes=w.end_minute)  # wall-clock addition, then fold=0
        lo = (opened.astimezone(UTC).replace(tzinfo=None) - EPOCH) // timedelta(microseconds=1)
        hi = (closed.astimezone(UTC).replace(tzinfo=None) - EPOCH) // timedelta(microseconds=1)
        if lo <= t < hi:
            return True
    return False


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    start = draw(st.integers(0, 1439))
    end = draw(st.integers(1, 1440).filter(lambda m: m != start))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return SendWindow(start, end, days, draw(st.sampled_from(ZONES)))


@settings(max_examples=200, deadline=None)
@given(
    w=windows(),
    t1=instants,
    t2=instants,
)
def test_window_properties(w: SendWindow, t1: int, t2: int) -> None:
    fresh = SendWindow(w.start_minute, w.end_minute, w.days, w.zone)
    for t in (t1, t2, t1, t2 - 1):
        nxt = w.next_open(t)
        assert nxt >= t
        assert w.is_open(nxt)
        assert (nxt == t) == w.is_open(t)
        assert w.is_open(t) == oracle_is_open(w, t)
        if nxt > t:  # nothing open in between
            for probe in (t + 1, (t + nxt) // 2, nxt - 1):
                if t <= probe < nxt:
                    assert not w.is_open(probe)
        close = w.next_close(t)
        if w.is_open(t):
            assert close > t
            if close != 2**63 - 1:
                assert w.is_open(close - 1)
                assert not w.is_open(close)
                assert w.is_open((t + close) // 2)
        else:
            assert close == t
        # the cache never changes an answer
        assert fresh.is_open(t) == w.is_open(t)
        assert fresh.next_open(t) == nxt
        assert fresh.next_close(t) == close
    lo, hi = sorted((t1, t2))
    assert w.next_open(lo) <= w.next_open(hi)


@settings(max_examples=100, deadline=None)
@given(zone=st.sampled_from(ZONES), t=instants)
def test_calendar_day_properties(zone: str, t: int) -> None:
    days = CalendarDays(zone)
    start, following = days.start(t), days.next_start(t)
    assert start <= t < following
    assert days.next_start(start - 1) == start
    assert days.start(following) == following
    assert 23 * HOUR <= following - start <= 25 * HOUR
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=start)).astimezone(
        ZoneInfo(zone)
    )
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
