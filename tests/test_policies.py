"""Scheduling policies, with hand-computed send times, on both engines.

Every scenario here is small enough to reason about by hand: one or a few
leads, no pacing (messages leave at the poll that queues them), 5-minute
polls. Each test states the expected send instants, runs the per-row and the
batch engine, checks both give those instants and identical tables, and
checks the invariants.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import seqsim
from seqsim.testing import assert_invariants
from tests.equivalence import run_both_engines

UNLIMITED = {"devices": 1, "hourly_limit": 0, "daily_limit": 0, "in_flight_limit": 0}


def scenario(
    *,
    start: str = "2025-07-01T00:00:00",
    duration: str = "3d",
    days: list[int] | None = None,
    delays: list[int] | None = None,
    arrivals: list[tuple[str, str]] | None = None,
    policy: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
    sequence: dict[str, Any] | None = None,
) -> seqsim.Scenario:
    """One sequence without pacing; ``arrivals`` are (instant, time zone) bursts of one lead."""
    seq = {"name": "S", "trigger": "s", "days": days or [1, 2, 3],
           "min_delay_seconds": 0, "max_delay_seconds": 0, **(sequence or {})}
    if delays is not None:
        seq["delay_hours"] = delays
    workload = [{"kind": "burst", "trigger": "s", "count": 1, "at": at, "timezone": zone}
                for at, zone in (arrivals or [(start, "UTC")])]
    return seqsim.Scenario.from_dict({
        "simulation": {"start": start, "duration": duration, "poll_interval": "5m"},
        "sequences": [seq],
        "workload": workload,
        "capacity": {**UNLIMITED, **(capacity or {})},
        "policy": policy or {},
    })


def run_both(scn: seqsim.Scenario) -> seqsim.Result:
    row, batch = run_both_engines(scn)
    assert_invariants(row)
    assert_invariants(batch)
    return batch


def sent_at(result: seqsim.Result, phone: str | None = None) -> list[str]:
    """The successful send instants (ISO, to the minute), in order."""
    sends = result.sends[result.sends["outcome"] == "sent"]
    if phone is not None:
        sends = sends[sends["contact_phone"] == phone]
    return [t.strftime("%a %Y-%m-%d %H:%M") for t in sends["sent_at"]]


# ------------------------------------------------------------------ send windows


def test_window_crossing_midnight() -> None:
    # Tue 12:00 arrival; window 22:00-06:00. Entry waits for Tue 22:00; step 2
    # (+4 h) is due Wed 02:00, inside Tuesday's window; step 3 (+8 h) is due
    # Wed 10:00, closed, and waits for Wed 22:00.
    scn = scenario(delays=[0, 4, 8], arrivals=[("2025-07-01T12:00:00", "UTC")],
                   policy={"send_hours": "22:00-06:00"})
    res = run_both(scn)
    assert sent_at(res) == ["Tue 2025-07-01 22:00", "Wed 2025-07-02 02:00",
                            "Wed 2025-07-02 22:00"]
    # Lateness is measured from the due time: the window's wait shows there.
    assert res.sends["lateness_s"].tolist() == [10 * 3600.0, 0.0, 12 * 3600.0]


def test_window_in_the_leads_time_zone_utc_plus_8() -> None:
    # 14:00 UTC is 22:00 in Singapore: after the 09:00-20:00 window. It opens
    # at 09:00 local = 01:00 UTC on Wednesday. Step 2 (+24 h) is due Thu
    # 01:00 UTC = 09:00 local, open. A UTC lead arriving at the same instant is
    # inside its own window and goes at once.
    scn = scenario(delays=[0, 24, 24], duration="4d",
                   arrivals=[("2025-07-01T14:00:00", "Asia/Singapore"),
                             ("2025-07-01T14:00:00", "UTC")],
                   policy={"send_hours": "09:00-20:00"})
    res = run_both(scn)
    phones = sorted(res.tables["leads"]["phone"])
    zones = dict(zip(res.tables["leads"]["phone"], res.tables["leads"]["timezone"], strict=True))
    sg = next(p for p in phones if zones[p] == "Asia/Singapore")
    utc = next(p for p in phones if zones[p] == "UTC")
    assert sent_at(res, sg) == ["Wed 2025-07-02 01:00", "Thu 2025-07-03 01:00",
                                "Fri 2025-07-04 01:00"]
    assert sent_at(res, utc) == ["Tue 2025-07-01 14:00", "Wed 2025-07-02 14:00",
                                 "Thu 2025-07-03 14:00"]


def test_friday_evening_step_waits_for_monday() -> None:
    # Business hours Mon-Fri 09:00-18:00. Fri 17:00 arrival goes at once; step
    # 2 (+2 h) is due Fri 19:00, after hours: the next opening is Mon 09:00.
    scn = scenario(start="2025-07-04T00:00:00", duration="4d", days=[1, 2], delays=[0, 2],
                   arrivals=[("2025-07-04T17:00:00", "UTC")],
                   policy={"send_hours": "09:00-18:00",
                           "send_days": ["mon", "tue", "wed", "thu", "fri"]})
    res = run_both(scn)
    assert sent_at(res) == ["Fri 2025-07-04 17:00", "Mon 2025-07-07 09:00"]
    # The timeline counts the waiting step as backlog over the weekend.
    weekend = res.timeline[res.timeline["time"] == "2025-07-05T12:00:00"]
    assert weekend["backlog"].tolist() == [1]


def test_sequence_window_replaces_the_policy_window() -> None:
    scn = scenario(days=[1], arrivals=[("2025-07-01T12:00:00", "UTC")],
                   policy={"send_hours": "09:00-20:00"},
                   sequence={"send_hours": "18:00-19:00"})
    assert sent_at(run_both(scn)) == ["Tue 2025-07-01 18:00"]


# ------------------------------------------------------------------ daily caps


@pytest.mark.parametrize(
    ("cap", "zone", "third"),
    [
        # Rolling: the first two were queued Tue 23:00; a slot frees 24 h later.
        ("rolling", "UTC", "Wed 2025-07-02 23:00"),
        # Calendar (UTC): a new day starts at midnight.
        ("calendar", "UTC", "Wed 2025-07-02 00:00"),
        # Calendar in Singapore: its midnight is 16:00 UTC.
        ("calendar", "Asia/Singapore", "Wed 2025-07-02 16:00"),
    ],
)
def test_rolling_vs_calendar_daily_cap(cap: str, zone: str, third: str) -> None:
    scn = scenario(days=[1], arrivals=[("2025-07-01T23:00:00", "UTC")] * 3,
                   capacity={"daily_limit": 2},
                   policy={"daily_cap": cap, "daily_cap_zone": zone})
    res = run_both(scn)
    assert sent_at(res) == ["Tue 2025-07-01 23:00", "Tue 2025-07-01 23:00", third]


# ------------------------------------------------------------------ delay_from


@pytest.mark.parametrize(
    ("delay_from", "expected"),
    [
        # Each step waits its own delay after the previous completes; the outage
        # (01:00-03:00) makes step 2 go at 03:00, and step 3 follows 5 h later.
        ("next_step", ["00:00", "03:00", "08:00"]),
        # The completed step's delay: 0 h after the entry (next poll, 00:05),
        # then step 2's 2 h after it, 02:05, in the outage: sent at recovery.
        ("completed_step", ["00:00", "00:05", "03:00"]),
        # Anchored: step 3 is due 02:00 + 5 h whatever step 2's lateness.
        ("enrollment", ["00:00", "03:00", "07:00"]),
    ],
)
def test_delay_from(delay_from: str, expected: list[str]) -> None:
    outage = {"start": "2025-07-01T01:00:00", "end": "2025-07-01T03:00:00"}
    scn = scenario(delays=[0, 2, 5], duration="1d",
                   policy={"delay_from": delay_from, "outages": [outage]})
    res = run_both(scn)
    assert [t[-5:] for t in sent_at(res)] == expected


# ------------------------------------------------------------------ strategies and outages


OUTAGE = [{"start": "2025-07-01T01:00:00", "duration": "5h"}]  # 01:00-06:00


@pytest.mark.parametrize(
    ("strategy", "catch_up", "expected", "skipped"),
    [
        # Steps due 00:00, +2 h, +2 h; nothing runs 01:00-06:00.
        # One-by-one: step 2 (due 02:00) goes at recovery; step 3 is created then.
        ("one_by_one", "burst", ["00:00", "06:00", "08:00"], 0),
        # All at enrolment: steps 2 (02:00) and 3 (04:00) go together at 06:00.
        ("all_at_enrollment", "burst", ["00:00", "06:00", "06:00"], 0),
        # Skip steps overdue more than 3 h at 06:00 (due before 03:00): step 2.
        ("one_by_one", "skip_stale", ["00:00", "08:00"], 1),
        ("all_at_enrollment", "skip_stale", ["00:00", "06:00"], 1),
        # Restart the schedule at recovery: step 2 at 06:00, step 3 2 h later.
        ("one_by_one", "reschedule", ["00:00", "06:00", "08:00"], 0),
        ("all_at_enrollment", "reschedule", ["00:00", "06:00", "08:00"], 0),
    ],
)
def test_catch_up_after_outage(
    strategy: str, catch_up: str, expected: list[str], skipped: int
) -> None:
    scn = scenario(delays=[0, 2, 2], duration="1d",
                   policy={"strategy": strategy, "catch_up": catch_up, "stale_after": "3h",
                           "outages": OUTAGE})
    res = run_both(scn)
    assert [t[-5:] for t in sent_at(res)] == expected
    assert res.summary["skipped_steps"] == skipped
    assert res.summary["contacts_completed"] == 1
    down = res.timeline[(res.timeline["time"] >= "2025-07-01T01:00:00")
                        & (res.timeline["time"] < "2025-07-01T06:00:00")]
    assert down["sent"].sum() == 0


def test_all_at_enrollment_shows_its_known_failures() -> None:
    # The burst after the outage: two messages to one contact in one poll, step 3
    # sent before step 2 + its delay (early), and two active rows at once (steps
    # 2 and 3 wait side by side; the entry row completes at its creation instant).
    scn = scenario(delays=[0, 2, 2], duration="1d",
                   policy={"strategy": "all_at_enrollment", "outages": OUTAGE})
    res = run_both(scn)
    summary = res.summary
    assert summary["max_active_rows_per_contact"] == 2
    assert summary["max_messages_per_contact_per_hour"] == 2
    assert summary["early_sends"] == 1
    assert res.sends["early"].tolist() == [False, False, True]
    # Step 3 was designed for 04:00 and went at 06:00.
    assert res.sends["drift_hours"].tolist() == [0.0, 4.0, 2.0]

    one_by_one = run_both(scn.with_overrides({"policy.strategy": "one_by_one"}))
    assert one_by_one.summary["max_active_rows_per_contact"] == 1
    assert one_by_one.summary["max_messages_per_contact_per_hour"] == 1
    assert one_by_one.summary["early_sends"] == 0


def test_arrivals_during_an_outage_are_enrolled_at_recovery() -> None:
    scn = scenario(days=[1], duration="1d", arrivals=[("2025-07-01T02:00:00", "UTC")],
                   policy={"outages": OUTAGE})
    res = run_both(scn)
    assert sent_at(res) == ["Tue 2025-07-01 06:00"]
    assert res.contacts["created_at"].tolist() == [res.contacts["created_at"].iloc[0]]
    assert str(res.contacts["created_at"].iloc[0]) == "2025-07-01 06:00:00"


# A device still sends what it holds while the processor is down: three leads
# queued at 00:50 on one device, 10-15 min apart, so the second and third go
# during the outage (01:00-06:00).
PACED_INTO_OUTAGE = {"days": [1, 2], "duration": "1d",
                     "arrivals": [("2025-07-01T00:50:00", "UTC")] * 3,
                     "sequence": {"min_delay_seconds": 600, "max_delay_seconds": 900},
                     "policy": {"outages": OUTAGE}}


@pytest.mark.parametrize("progress_on", ["queue", "delivery"])
def test_sends_during_an_outage_count_at_their_own_polls(progress_on: str) -> None:
    res = run_both(scenario(**{**PACED_INTO_OUTAGE, "policy": {
        "outages": OUTAGE, "progress_on": progress_on}}))
    sent = res.sends.loc[res.sends["outcome"] == "sent", "sent_at"]
    in_outage = sent[(sent >= "2025-07-01T01:00:00") & (sent < "2025-07-01T06:00:00")]
    assert len(in_outage) == 2  # the world this test means
    # Each poll's row counts the sends since the poll before it, outage or not.
    polls = res.timeline["time"]
    since = np.searchsorted(polls.to_numpy(), sent.to_numpy(), side="left")
    per_poll = np.bincount(since, minlength=len(polls))
    assert res.timeline["sent"].tolist() == per_poll.tolist()


def test_a_run_that_ends_in_an_outage_keeps_the_sends_made_before_its_end() -> None:
    whole = run_both(scenario(**PACED_INTO_OUTAGE))
    cut = run_both(scenario(**{**PACED_INTO_OUTAGE, "duration": "2h"}))  # ends in the outage
    last_poll = cut.timeline["time"].iloc[-1]
    made = whole.sends[(whole.sends["outcome"] == "sent") & (whole.sends["sent_at"] <= last_poll)]
    assert len(made) == 3
    assert cut.summary["messages_sent"] == 3
    assert cut.sends["sent_at"].tolist() == made["sent_at"].tolist()
    assert cut.summary["unsent_queued_at_end"] == 0


def test_skip_stale_also_skips_anchored_steps_that_are_stale_when_created() -> None:
    # Anchored at enrolment (00:00): steps due 01:00, 02:00, 03:00. At the 06:00
    # recovery, steps overdue by more than 90 min (due before 04:30) are
    # skipped: skipping step 2 creates step 3 due 02:00, stale too, and so on.
    policy = {"delay_from": "enrollment", "catch_up": "skip_stale", "stale_after": "90m",
              "outages": OUTAGE}
    scn = scenario(days=[1, 2, 3, 4], delays=[0, 1, 1, 1], duration="1d", policy=policy)
    res = run_both(scn)
    assert [t[-5:] for t in sent_at(res)] == ["00:00"]
    assert res.summary["skipped_steps"] == 3
    assert res.summary["contacts_completed"] == 1
    # Delays from the next step restart at recovery: only step 2 is stale.
    res = run_both(scn.with_overrides({"policy.delay_from": "next_step"}))
    assert [t[-5:] for t in sent_at(res)] == ["00:00", "07:00", "08:00"]
    assert res.summary["skipped_steps"] == 1
