"""Acceptance tests of the simulator: `seqsim.simulate` on small scenarios.

Every run goes through `run`, which also checks the engine's invariants, so a
test that looks at something else still fails when the tables are broken.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import seqsim
import seqsim.run.simulate as simulate_module
from seqsim import Scenario, ScenarioError
from seqsim.engine.registry import ENGINES
from seqsim.results.result import SUMMARY_KEYS
from seqsim.testing import assert_invariants

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "data" / "scenarios"
TRACE = ROOT / "data" / "traces" / "sample.csv"

SENDS_CONTRACT = ["contact_phone", "sequence", "day_number", "due_at", "sent_at", "lateness_s",
                  "device_id", "outcome", "attempt"]
TIMELINE_CONTRACT = ["time", "enrolled", "sent", "failed", "backlog", "active",
                     "completed_contacts"]


def run(scn: Scenario, **kw: Any) -> seqsim.Result:
    """Simulate without a progress bar and check every invariant of the result."""
    kw.setdefault("progress", False)
    result = seqsim.simulate(scn, **kw)
    assert_invariants(result)
    assert result.info["invariant_violations"] == []
    assert result.summary["duplicate_sends"] == 0
    assert result.summary["lost_contacts"] == 0
    assert result.summary["max_active_rows_per_contact"] <= 1
    return result


@pytest.fixture(params=tuple(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    """Every acceptance test runs on every engine: they must all behave the same."""
    return request.param


def small(**overrides: Any) -> Scenario:
    """A small one-sequence scenario (COLD, 3 steps an hour or two apart), then overrides."""
    base = {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "6h",
                       "poll_interval": "1m", "seed": 7},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 2, 3],
                       "delay_hours": [0, 1, 2], "min_delay_seconds": 5,
                       "max_delay_seconds": 15}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 10,
                      "end": "2025-07-01T02:00:00"}],
        "capacity": {"devices": 2, "hourly_limit": 80, "daily_limit": 800,
                     "in_flight_limit": 50},
    }
    return Scenario.from_dict(base).with_overrides(overrides)


UNLIMITED = {"capacity.hourly_limit": 0, "capacity.daily_limit": 0,
             "capacity.in_flight_limit": 0}
NO_PACING = {"sequences.COLD.min_delay_seconds": 0, "sequences.COLD.max_delay_seconds": 0}


def key(frame: pd.DataFrame) -> pd.Series:
    """(phone, sequence, day) of each row of sends or contacts, as one string."""
    seq = frame["sequence"] if "sequence" in frame else frame["sequence_id"].astype(str)
    day = frame["day_number"] if "day_number" in frame else frame["current_step"]
    return frame["contact_phone"].astype(str) + "/" + seq.astype(str) + "/" + day.astype(str)


# --------------------------------------------------------------------- determinism


def test_same_scenario_and_seed_give_identical_tables(engine: str) -> None:
    scn = small(**{"capacity.failure_rate": 0.2, "capacity.hourly_limit": 5})
    a, b = run(scn, engine=engine), run(scn, engine=engine)
    assert_frame_equal(a.sends, b.sends)
    assert_frame_equal(a.timeline, b.timeline)
    assert_frame_equal(a.contacts, b.contacts)
    assert a.summary == b.summary
    assert len(a.sends) > 20


def test_different_seed_changes_poisson_arrivals(engine: str) -> None:
    a = run(small(**{"simulation.duration": "2h"}), engine=engine)
    b = run(small(**{"simulation.duration": "2h", "simulation.seed": 8}), engine=engine)
    arrivals_a = a.tables["leads"]["created_at"].tolist()
    arrivals_b = b.tables["leads"]["created_at"].tolist()
    assert arrivals_a != arrivals_b
    assert a.contacts["created_at"].tolist() != b.contacts["created_at"].tolist()


# --------------------------------------------------------------------- exact timing


def ceil_to_grid(t: pd.Timestamp, start: datetime, poll: timedelta) -> pd.Timestamp:
    """Return the first poll instant start + n*poll at or after ``t``."""
    n = -(-(t - pd.Timestamp(start)) // pd.Timedelta(poll))
    return pd.Timestamp(start) + n * pd.Timedelta(poll)


def test_unlimited_capacity_sends_at_first_poll_at_or_after_due(engine: str) -> None:
    delays = [0, 1, 2, 5]  # hours; none a multiple of the 7-minute poll
    scn = small(**UNLIMITED, **NO_PACING, **{
        "simulation.poll_interval": "7m",
        "simulation.duration": "12h",
        "sequences.COLD.days": [1, 2, 4, 9],
        "sequences.COLD.delay_hours": delays,
        "workload.0.kind": "constant",
        "workload.0.rate_per_hour": 3,
    })
    result = run(scn, engine=engine)
    start, poll = scn.simulation.start, scn.simulation.poll_interval
    last_poll = pd.Timestamp(start) + (result.info["polls"] - 1) * pd.Timedelta(poll)

    expected = []
    for lead in result.tables["leads"].itertuples():
        t = ceil_to_grid(lead.created_at, start, poll)  # enrolled, and day 1 sent, here
        due = t
        for day, delay in zip([1, 2, 4, 9], delays, strict=True):
            if day != 1:
                due = t + pd.Timedelta(hours=delay)
                t = ceil_to_grid(due, start, poll)
            if t > last_poll:
                break
            expected.append((lead.phone, day, due, t))
    assert len(expected) == 4 * len(result.tables["leads"]) > 0  # everyone finishes
    got = result.sends[["contact_phone", "day_number", "due_at", "sent_at"]]
    want = pd.DataFrame(expected, columns=got.columns).astype(got.dtypes.to_dict())
    sort = ["sent_at", "contact_phone"]
    assert_frame_equal(got.sort_values(sort).reset_index(drop=True),
                       want.sort_values(sort).reset_index(drop=True))

    sends = result.sends
    assert (sends["outcome"] == "sent").all() and (sends["attempt"] == 1).all()
    assert (sends["lateness_s"] < poll.total_seconds()).all()
    assert (sends["lateness_s"] > 0).any(), "the rounding to the poll grid must matter"
    offsets = (sends["sent_at"] - pd.Timestamp(start)) / pd.Timedelta(poll)
    assert (offsets == offsets.round()).all()
    # Every lead enrolled at the first poll at or after its arrival.
    entry = result.contacts[result.contacts["current_step"] == 1].set_index("contact_phone")
    leads = result.tables["leads"].set_index("phone")
    enrolled = leads["created_at"].map(lambda t: ceil_to_grid(t, start, poll))
    assert (entry.loc[leads.index, "created_at"] == enrolled).all()
    assert leads["created_at"].ne(enrolled).any(), "some arrivals must fall between polls"


def test_unlimited_capacity_completes_every_contact_on_schedule(engine: str) -> None:
    scn = small(**UNLIMITED, **NO_PACING, **{
        "simulation.poll_interval": "7m", "simulation.duration": "10h",
        "workload.0.kind": "constant", "workload.0.rate_per_hour": 4,
    })
    result = run(scn, engine=engine)
    n = len(result.tables["leads"])
    assert result.summary["contacts_enrolled"] == n
    assert result.summary["contacts_completed"] == n
    assert result.summary["messages_sent"] == 3 * n
    assert result.summary["peak_backlog"] == 0
    assert (result.timeline["backlog"] == 0).all()
    # Designed 3 h; rounding up to the 7-minute grid adds under 7 minutes per step.
    assert 3 <= result.summary["mean_completion_hours"] < 3 + 2 * 7 / 60


# --------------------------------------------------------------------- backlog


def backlog_small() -> Scenario:
    """backlog.toml for one day: 2 leads an hour (8 messages), 2 devices x 3 an hour."""
    return Scenario.from_toml(SCENARIOS / "backlog.toml").with_overrides({
        "simulation.duration": "1d",
        "simulation.poll_interval": "5m",
        "workload.0.rate_per_hour": 2,
        "workload.0.end": None,
        "sequences.COLD.delay_hours": [0, 2, 3, 3],
        "capacity.hourly_limit": 3,
    })


def test_capacity_below_demand_builds_a_backlog(engine: str) -> None:
    result = run(backlog_small(), engine=engine)
    summary, timeline = result.summary, result.timeline
    assert summary["peak_backlog"] > 0
    # The backlog grows over the run: each quarter's mean is above the previous one.
    quarters = [q.mean() for q in np.array_split(timeline["backlog"].to_numpy(), 4)]
    assert all(a < b for a, b in itertools.pairwise(quarters)), quarters
    # Lateness grows: later sends are later than earlier ones on average.
    sent = result.sends[result.sends["outcome"] == "sent"].sort_values("sent_at")
    first, second = np.array_split(sent["lateness_s"].to_numpy(), 2)
    assert second.mean() > first.mean()
    assert summary["lateness_max_s"] > 3600
    # Contacts take longer than designed, and many have not finished at all.
    assert summary["designed_completion_hours"] == 8
    assert summary["contacts_completed"] > 0
    assert summary["mean_completion_hours"] > summary["designed_completion_hours"]
    assert summary["contacts_active"] > 0
    # No device ever queued more than 3 messages in a rolling hour.
    for _, q in result.sends.groupby("device_id"):
        times = q["queued_at"].sort_values().to_numpy()
        ends = np.searchsorted(times, times + np.timedelta64(1, "h"), side="left")
        assert (ends - np.arange(len(times))).max() <= 3


# --------------------------------------------------------------------- skip idle


def test_skipping_idle_polls_gives_identical_results(engine: str) -> None:
    scn = small(**{
        "simulation.duration": "5h",
        "sequences.COLD.min_delay_seconds": 20,
        "sequences.COLD.max_delay_seconds": 90,
        "capacity.hourly_limit": 6,
        "capacity.in_flight_limit": 2,
        "capacity.failure_rate": 0.2,
        "capacity.max_retries": 1,
    })
    skipping = run(scn, engine=engine)
    every = run(scn, skip_idle=False, engine=engine)
    assert_frame_equal(skipping.sends, every.sends)
    assert_frame_equal(skipping.timeline, every.timeline)
    assert_frame_equal(skipping.contacts, every.contacts)
    assert skipping.summary == every.summary
    assert skipping.info["polls_run"] < skipping.info["polls"]
    assert every.info["polls_run"] == every.info["polls"] == len(every.timeline)
    # The scenario exercises what skipping must get right.
    assert skipping.summary["peak_backlog"] > 0
    assert (skipping.sends["outcome"] == "failed").any()
    assert (skipping.sends["sent_at"] > skipping.sends["queued_at"]).any()


# --------------------------------------------------------------------- failures


def test_failures_are_retried_then_fail_the_row(engine: str) -> None:
    max_retries = 2
    scn = small(**UNLIMITED, **{
        "simulation.duration": "4h",
        "capacity.failure_rate": 0.45,
        "capacity.max_retries": max_retries,
    })
    result = run(scn, engine=engine)
    sends, contacts = result.sends, result.contacts
    assert (sends["outcome"] == "failed").any()
    assert (sends["attempt"] > 1).any()

    # Each sent message completes exactly one row (progress on delivery).
    assert (sends["outcome"] == "sent").sum() == (contacts["status"] == "completed").sum()
    assert result.summary["messages_sent"] == (sends["outcome"] == "sent").sum()
    assert result.summary["messages_failed"] == (sends["outcome"] == "failed").sum()

    attempts = sends.assign(k=key(sends)).groupby("k")
    rows = contacts.assign(k=key(contacts.assign(sequence_id="COLD"))).set_index("k")
    failed = rows[rows["status"] == "failed"]
    assert len(failed) > 0, "the seed should make some row use up its retries"
    assert result.summary["contacts_failed"] == len(failed)
    for k, row in failed.iterrows():
        tries = attempts.get_group(k)
        assert list(tries["outcome"]) == ["failed"] * (max_retries + 1)
        assert list(tries["attempt"]) == list(range(1, max_retries + 2))
        assert row["retry_count"] == max_retries + 1
        assert row["last_error"] == "delivery failed"
        assert row["failed_at"] == tries["sent_at"].max()
    for k in rows.index[rows["status"] == "completed"]:
        tries = attempts.get_group(k)
        assert list(tries["outcome"]) == ["failed"] * (len(tries) - 1) + ["sent"]
        assert list(tries["attempt"]) == list(range(1, len(tries) + 1))
        assert len(tries) <= max_retries + 1
    # A failed row stops the contact: no later step for it.
    later = contacts.merge(failed[["contact_phone", "current_step"]], on="contact_phone",
                           suffixes=("", "_failed"))
    assert (later["current_step"] <= later["current_step_failed"]).all()


def test_zero_failure_rate_never_fails(engine: str) -> None:
    result = run(small(**{"simulation.duration": "2h"}), engine=engine)
    assert (result.sends["outcome"] == "sent").all()
    assert (result.sends["attempt"] == 1).all()
    assert result.summary["messages_failed"] == 0


# --------------------------------------------------------------------- progress_on


def paced(progress_on: str, **extra: Any) -> Scenario:
    """One device, a slow pacing gap and a burst: messages wait well past their queue time."""
    return small(**UNLIMITED, **{
        "simulation.duration": "4h",
        "capacity.devices": 1,
        "sequences.COLD.min_delay_seconds": 60,
        "sequences.COLD.max_delay_seconds": 120,
        "workload.0.kind": "burst",
        "workload.0.count": 8,
        "workload.0.rate_per_hour": None,
        "workload.0.end": None,
        "policy.progress_on": progress_on,
        **extra,
    })


def sent_rows(result: seqsim.Result) -> pd.DataFrame:
    """Each completed row with its successful message's queued_at and sent_at."""
    sent = result.sends[result.sends["outcome"] == "sent"].assign(k=key(result.sends))
    rows = result.contacts.assign(k=key(result.contacts.assign(sequence_id="COLD")))
    done = rows[rows["status"] == "completed"]
    return done.merge(sent[["k", "queued_at", "sent_at"]], on="k", validate="one_to_one")


def test_progress_on_queue_advances_at_queue_time(engine: str) -> None:
    result = run(paced("queue"), engine=engine)
    done = sent_rows(result)
    assert len(done) == 8 * 3
    assert (done["completed_at"] == done["queued_at"]).all()
    assert (done["sent_at"] > done["queued_at"]).any()
    # The next step is due at the previous message's queue time + its delay.
    delay = {2: 1, 3: 2}
    nxt = result.contacts[result.contacts["current_step"] > 1]
    prev = done.set_index(["contact_phone", "current_step"])["queued_at"]
    for row in nxt.itertuples():
        queued = prev[(row.contact_phone, row.current_step - 1)]
        assert row.next_trigger_time == queued + pd.Timedelta(hours=delay[row.current_step])


def test_progress_on_delivery_advances_at_send_time(engine: str) -> None:
    result = run(paced("delivery"), engine=engine)
    done = sent_rows(result)
    assert len(done) == 8 * 3
    assert (done["completed_at"] == done["sent_at"]).all()
    assert (done["sent_at"] > done["queued_at"]).any()


def test_progress_on_queue_ignores_delivery_failures(engine: str) -> None:
    scn = paced("queue", **{"capacity.failure_rate": 0.5, "capacity.max_retries": 0})
    result = run(scn, engine=engine)
    assert (result.sends["outcome"] == "failed").any()
    # Production did not feed failures back: every contact advanced anyway.
    assert (result.contacts["status"] != "failed").all()
    assert result.summary["contacts_completed"] == 8
    assert len(result.sends) == 8 * 3
    assert (result.sends["attempt"] == 1).all()


# --------------------------------------------------------------------- chains


def test_chained_sequences_cold_warm_hot(engine: str) -> None:
    scn = Scenario.from_toml(SCENARIOS / "chained.toml").with_overrides({
        "simulation.duration": "12h",
        "simulation.poll_interval": "1m",
        "workload.0.rate_per_hour": 4,
        "workload.0.end": "2025-07-01T02:00:00",
        "sequences.COLD.delay_hours": [0, 1, 1, 1],
        "sequences.WARM.delay_hours": [0, 1, 1],
        "sequences.HOT.delay_hours": [0, 1],
    })
    result = run(scn, engine=engine)
    sends = result.sends[result.sends["outcome"] == "sent"]
    phones = result.tables["leads"]["phone"].tolist()
    assert len(phones) >= 3
    journey = [("COLD", 1), ("COLD", 3), ("COLD", 6), ("COLD", 9),
               ("WARM", 1), ("WARM", 2), ("WARM", 4), ("HOT", 1), ("HOT", 2)]
    for phone, mine in sends.sort_values("sent_at", kind="stable").groupby("contact_phone"):
        assert list(zip(mine["sequence"], mine["day_number"], strict=True)) == journey, phone
    assert set(sends["contact_phone"]) == set(phones)

    # Each chained entry is created when the previous sequence's last step completes.
    contacts = result.contacts
    ids = result.tables["sequences"].set_index("name")["id"]
    for before, after, last_day in (("COLD", "WARM", 9), ("WARM", "HOT", 4)):
        done = contacts[(contacts["sequence_id"] == ids[before])
                        & (contacts["current_step"] == last_day)].set_index("contact_phone")
        entry = contacts[(contacts["sequence_id"] == ids[after])
                         & (contacts["current_step"] == 1)].set_index("contact_phone")
        assert (entry.loc[done.index, "created_at"] == done["completed_at"]).all()

    # contacts_completed counts finished (contact, sequence) pairs.
    finished = 0
    for name, last_day in (("COLD", 9), ("WARM", 4), ("HOT", 2)):
        rows = contacts[(contacts["sequence_id"] == ids[name])
                        & (contacts["current_step"] == last_day)
                        & (contacts["status"] == "completed")]
        finished += rows["contact_phone"].nunique()
    assert result.summary["contacts_completed"] == finished == 3 * len(phones)
    assert result.summary["contacts_enrolled"] == 3 * len(phones)
    # The chain's end removes the last trigger from the lead.
    assert result.tables["leads"]["trigger"].isna().all()


# --------------------------------------------------------------------- burst


def test_burst_enrols_at_one_poll_and_the_backlog_drains(engine: str) -> None:
    scn = Scenario.from_toml(SCENARIOS / "launch_burst.toml").with_overrides({
        "workload.0.count": 200,
        "capacity.devices": 2,
        "simulation.duration": "14h",
        "simulation.poll_interval": "1m",
    })
    result = run(scn, engine=engine)
    at = pd.Timestamp(scn.workload[0].at)
    contacts, timeline = result.contacts, result.timeline
    entries = contacts[contacts["current_step"] == 1]
    assert len(entries) == 200
    assert (entries["created_at"] == at).all()
    assert (entries["status"] == "completed").all()
    assert timeline.loc[timeline["time"] == at, "enrolled"].item() == 200
    assert timeline["enrolled"].sum() == 200
    # 2 devices x 80 an hour: more than an hour of backlog, then it drains.
    peak = timeline["backlog"].idxmax()
    assert timeline.loc[peak, "backlog"] >= 200 - 2 * 50
    # The hourly limits bind until the first hour's messages leave the rolling window.
    before_hour = timeline.loc[timeline["time"] == at + pd.Timedelta(minutes=59), "backlog"]
    assert before_hour.item() == 200 - 2 * 80
    assert timeline["backlog"].iloc[-1] == 0
    drained = timeline.loc[(timeline["time"] > at) & (timeline["backlog"] == 0), "time"].min()
    assert (timeline.loc[timeline["time"] >= drained, "backlog"] == 0).all()
    assert result.summary["messages_sent"] == 200
    assert (result.sends["day_number"] == 1).all()
    assert result.sends["sent_at"].max() > at + pd.Timedelta(hours=1)
    assert (result.sends.groupby("device_id").size() == 100).all()


# --------------------------------------------------------------------- trace


def test_trace_workload_uses_trace_phones_and_pinned_devices(engine: str) -> None:
    scn = Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "3d",
                       "poll_interval": "5m", "seed": 1},
        "sequences": [
            {"name": "COLD", "trigger": "cold", "days": [1, 2], "delay_hours": [0, 6]},
            {"name": "WARM", "trigger": "warm", "days": [1, 2], "delay_hours": [0, 6]},
        ],
        "workload": [{"kind": "trace", "path": str(TRACE)}],
        "capacity": {"devices": 3},
    })
    result = run(scn, engine=engine)
    trace = pd.read_csv(TRACE, dtype=str)
    sends = result.sends
    assert set(sends["contact_phone"]) == set(trace["phone"])
    pairs = set(zip(sends["contact_phone"], sends["sequence"].str.lower(), strict=True))
    assert pairs == set(zip(trace["phone"], trace["trigger"], strict=True))
    pinned = trace.dropna(subset=["device_id"])
    assert len(pinned) > 0
    for phone, device in zip(pinned["phone"], pinned["device_id"], strict=True):
        assert set(sends.loc[sends["contact_phone"] == phone, "device_id"]) == {device}
    # Enrolled at the first poll at or after the trace timestamp.
    first = sends[sends["day_number"] == 1].set_index(["contact_phone", "sequence"])
    for row in trace.itertuples():
        arrived = pd.Timestamp(row.timestamp)
        sent = first.loc[(row.phone, row.trigger.upper()), "due_at"]
        assert arrived <= sent < arrived + pd.Timedelta(minutes=5)
    assert result.summary["messages_sent"] == 2 * len(trace)


# --------------------------------------------------------------------- contract


@pytest.fixture(scope="module", params=tuple(ENGINES))
def small_result(request: pytest.FixtureRequest) -> seqsim.Result:
    scn = small(**{"capacity.failure_rate": 0.2, "simulation.duration": "4h"})
    return run(scn, engine=request.param)


def test_summary_has_every_key_and_is_json(small_result: seqsim.Result) -> None:
    summary = small_result.summary
    assert set(SUMMARY_KEYS) <= set(summary)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["contacts_enrolled"] == len(small_result.tables["leads"])
    assert summary["messages_sent"] + summary["messages_failed"] == len(small_result.sends)
    assert summary["peak_backlog"] == small_result.timeline["backlog"].max()


def test_sends_and_timeline_columns(small_result: seqsim.Result) -> None:
    sends, timeline = small_result.sends, small_result.timeline
    assert set(SENDS_CONTRACT) <= set(sends.columns)
    assert set(TIMELINE_CONTRACT) <= set(timeline.columns)
    expected = (sends["sent_at"] - sends["due_at"]).dt.total_seconds()
    assert (sends["lateness_s"] == expected).all()
    assert (sends["lateness_s"] >= 0).all()
    assert set(sends["outcome"]) <= {"sent", "failed"}
    assert sends["sent_at"].is_monotonic_increasing


def test_timeline_has_one_row_per_poll(small_result: seqsim.Result) -> None:
    scn, timeline = small_result.scenario, small_result.timeline
    grid = pd.date_range(scn.simulation.start, periods=small_result.info["polls"],
                         freq=scn.simulation.poll_interval)
    assert list(timeline["time"]) == list(grid)
    sends = small_result.sends
    assert timeline["sent"].sum() == (sends["outcome"] == "sent").sum()
    assert timeline["failed"].sum() == (sends["outcome"] == "failed").sum()
    assert timeline["completed_contacts"].is_monotonic_increasing
    assert timeline["completed_contacts"].iloc[-1] == small_result.summary["contacts_completed"]
    assert timeline["active"].iloc[-1] == (small_result.contacts["status"] == "active").sum()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: seqsim.simulate(s, engine="turbo", progress=False), r"engine: 'turbo'"),
        (lambda s: seqsim.simulate(s.to_dict(), progress=False), r"scenario: dict"),
        (lambda s: seqsim.simulate(s, progress="yes"), r"progress: 'yes'"),
    ],
    ids=["engine", "not-a-scenario", "progress"],
)
def test_simulate_rejects_bad_arguments(call: Any, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        call(small())


# --------------------------------------------------------------------- shipped files


def shrink(scn: Scenario) -> Scenario:
    """Return ``scn`` at test size: half a day, few leads, delays of an hour."""
    overrides: dict[str, Any] = {
        "simulation.duration": "12h",
        "simulation.poll_interval": "5m",
    }
    for seq in scn.sequences:
        overrides[f"sequences.{seq.name}.delay_hours"] = [0] + [1] * (len(seq.days) - 1)
    for i, wl in enumerate(scn.workload):
        if wl.kind == "burst":
            overrides[f"workload.{i}.count"] = min(wl.count or 1, 60)
            overrides[f"workload.{i}.at"] = None
        elif wl.kind != "trace":
            overrides[f"workload.{i}.rate_per_hour"] = min(wl.rate_per_hour or 1.0, 4.0)
            overrides[f"workload.{i}.start"] = None
            overrides[f"workload.{i}.end"] = None
    return scn.with_overrides(overrides)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_scenario_runs_small(path: Path, engine: str) -> None:
    scn = shrink(Scenario.from_toml(path))
    result = run(scn, engine=engine)
    assert result.summary["contacts_enrolled"] > 0
    assert result.summary["messages_sent"] > 0


@pytest.mark.parametrize("name", ["baseline", "backlog", "launch_burst", "chained"])
def test_expected_scenarios_are_shipped(name: str) -> None:
    scn = Scenario.from_toml(SCENARIOS / f"{name}.toml")
    assert scn.simulation.duration >= timedelta(days=14)
    assert scn.sequences[0].days == (1, 3, 6, 9)


# ------------------------------------------------- regressions found in review


@pytest.mark.parametrize(
    "engine_name",
    [
        "row",
        "batch",
    ],
)
def test_messages_still_in_flight_at_the_end_are_not_sends(engine_name: str) -> None:
    # One device, a 60 s pacing gap and 3 leads at the last poll: only the first
    # message leaves the device before the run ends.
    scn = Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "10m",
                       "poll_interval": "5m"},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1],
                       "min_delay_seconds": 60, "max_delay_seconds": 60}],
        "workload": [{"kind": "burst", "trigger": "cold", "count": 3,
                      "at": "2025-07-01T00:05:00"}],
        "capacity": {"devices": 1},
    })
    result = run(scn, engine=engine_name)
    assert result.sends["sent_at"].notna().all()
    assert result.sends["lateness_s"].notna().all()
    assert len(result.sends) == result.summary["messages_sent"] == 1
    messages = result.tables["messages"]
    assert len(messages) == 3
    assert messages["outcome"].isna().sum() == 2


def test_designed_completion_counts_only_enrolled_sequences(engine: str) -> None:
    scn = Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "6h",
                       "poll_interval": "5m"},
        "sequences": [
            {"name": "COLD", "trigger": "cold", "days": [1, 2, 3], "delay_hours": [0, 1, 2],
             "min_delay_seconds": 0, "max_delay_seconds": 0},
            {"name": "WARM", "trigger": "warm", "days": [1, 2], "delay_hours": [0, 9]},
        ],
        "workload": [{"kind": "burst", "trigger": "cold", "count": 3}],
        "capacity": {"devices": 1, "hourly_limit": 0, "daily_limit": 0, "in_flight_limit": 0},
    })
    result = run(scn, engine=engine)
    assert result.summary["mean_completion_hours"] == 3.0  # exactly on schedule
    assert result.summary["designed_completion_hours"] == 3.0


def test_wall_seconds_include_building_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = simulate_module.build_result

    def slow_build(*args: Any, **kwargs: Any) -> seqsim.Result:
        time.sleep(0.3)  # a stand-in for the tables, checks and summary of a big run
        return real_build(*args, **kwargs)

    monkeypatch.setattr(simulate_module, "build_result", slow_build)
    result = run(small())
    assert result.info["wall_seconds"] >= 0.3
    keys = list(result.info)  # set in place: the key keeps its position
    assert keys.index("wall_seconds") == keys.index("kernel_seconds") + 1
