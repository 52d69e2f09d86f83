"""The batch engine gives the per-row engine's answers, on random scenarios.

Hypothesis draws small worlds (sequences with random day numbers and delays,
including 0, chains, pacing, a few devices with tight limits, failures with
retries, small batches, bursts and random arrivals, both progress_on
policies) and runs each on both engines; a second property adds every
scheduling policy (strategies, delay_from, send windows in several time
zones, calendar caps, outages with each catch-up). ``SEQSIM_HYPOTHESIS_EXAMPLES``
raises the budget (``make test-deep``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings

import seqsim
from seqsim import spill
from seqsim.engine import kernel_run
from seqsim.testing import assert_invariants
from tests.equivalence import assert_same_tables, run_both_engines
from tests.strategies import day_numbers

# Each example runs the row engine (~8 ms a message): keep `make test` quick;
# `make test-deep` raises the budget.
EXAMPLES = int(os.environ.get("SEQSIM_HYPOTHESIS_EXAMPLES", "10"))
ENGINE_PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])


@st.composite
def sequences(draw: st.DrawFn) -> list[dict]:
    n = draw(st.integers(1, 3))
    out = []
    for i in range(n):
        days = draw(day_numbers(max_steps=4, max_gap=4, max_first=2))
        steps = len(days)
        later = st.lists(st.sampled_from([0, 1, 2, 3, 5, 12, 24]),
                         min_size=steps - 1, max_size=steps - 1)
        delays = [0, *draw(later)]
        lo = draw(st.sampled_from([0, 0, 5, 30, 120]))
        seq = {
            "name": f"S{i}", "trigger": f"s{i}", "days": days, "delay_hours": delays,
            "min_delay_seconds": lo, "max_delay_seconds": lo + draw(st.sampled_from([0, 10, 90])),
        }
        if i + 1 < n and draw(st.booleans()):
            seq["next"] = f"S{i + 1}"
        out.append(seq)
    return out


_HOURS = ["09:00-17:00", "22:00-06:00", "00:00-12:00", "13:30-14:00", "06:00-24:00"]
_DAYS = [["mon", "tue", "wed", "thu", "fri"], ["tue"], ["wed", "thu"], ["sat", "sun"]]
_ZONES = ["UTC", "Asia/Singapore", "America/New_York"]


@st.composite
def policies(draw: st.DrawFn, seqs: list[dict], workload: list[dict], duration: str) -> dict:
    """A random [policy] table; may also give sequences windows and workloads zones."""
    policy: dict = {
        "strategy": draw(st.sampled_from(["one_by_one", "all_at_enrollment"])),
        "delay_from": draw(st.sampled_from(["next_step", "completed_step", "enrollment"])),
        "daily_cap": draw(st.sampled_from(["rolling", "calendar"])),
        "daily_cap_zone": draw(st.sampled_from(_ZONES)),
        "catch_up": draw(st.sampled_from(["burst", "skip_stale", "reschedule"])),
        "stale_after": draw(st.sampled_from(["30m", "2h", "1d"])),
    }
    if draw(st.booleans()):
        policy["send_hours"] = draw(st.sampled_from(_HOURS))
    if draw(st.booleans()):
        policy["send_days"] = draw(st.sampled_from(_DAYS))
    for seq in seqs:
        if draw(st.integers(0, 3)) == 0:
            seq["send_hours"] = draw(st.sampled_from(_HOURS))
    for wl in workload:
        wl["timezone"] = draw(st.sampled_from(_ZONES))
    outages = []
    last_hour = 47 if duration == "2d" else 23
    count = draw(st.sampled_from([0, 1, 1, 2]))
    for start in sorted(draw(st.sets(st.integers(0, last_hour), min_size=count,
                                     max_size=count))):
        day, hour = divmod(start, 24)
        outages.append({"start": f"2025-07-0{1 + day}T{hour:02d}:10:00",
                        "duration": draw(st.sampled_from(["20m", "1h", "6h"]))})
    # Sorted starts an hour or more apart; drop an outage that overlaps the previous.
    policy["outages"] = [o for i, o in enumerate(outages)
                         if i == 0 or o["start"] >= _end(outages[i - 1])]
    return policy


def _end(outage: dict) -> str:
    from seqsim.units import parse_duration, parse_instant

    end = parse_instant(outage["start"], "start") + parse_duration(outage["duration"], "d")
    return end.isoformat()


@st.composite
def scenarios(draw: st.DrawFn, with_policies: bool = False) -> seqsim.Scenario:
    seqs = draw(sequences())
    triggers = [s["trigger"] for s in seqs]
    workload = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["poisson", "constant", "burst"]))
        wl = {"kind": kind, "trigger": draw(st.sampled_from(triggers))}
        if kind == "burst":
            wl["count"] = draw(st.integers(1, 8))
            hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
            wl["at"] = f"2025-07-01T{hour:02d}:{minute:02d}:00"
        else:
            wl["rate_per_hour"] = draw(st.sampled_from([0.5, 1, 2, 4]))
            wl["end"] = "2025-07-01T06:00:00"
        workload.append(wl)
    duration = draw(st.sampled_from(["1d", "2d"]))
    policy = {"progress_on": draw(st.sampled_from(["delivery", "queue"]))}
    if with_policies:
        policy.update(draw(policies(seqs, workload, duration)))
    data = {
        "simulation": {
            "start": "2025-07-01T00:00:00",
            # Each poll that runs costs the row engine a due SELECT and a snapshot
            # besides its ~15 statements a message: coarse polls keep examples short.
            "duration": duration,
            "poll_interval": draw(st.sampled_from(["2m", "7m", "30m"])),
            "seed": draw(st.integers(0, 2**16)),
        },
        "sequences": seqs,
        "workload": workload,
        "capacity": {
            "devices": draw(st.integers(1, 4)),
            "batch_size": draw(st.sampled_from([1, 2, 5, 5000])),
            "hourly_limit": draw(st.sampled_from([0, 1, 3, 10])),
            "daily_limit": draw(st.sampled_from([0, 4, 30])),
            "in_flight_limit": draw(st.sampled_from([0, 1, 2, 5])),
            "failure_rate": draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
            "max_retries": draw(st.integers(0, 2)),
        },
        "policy": policy,
    }
    if policy.get("daily_cap") == "calendar" and not data["capacity"]["daily_limit"]:
        policy["daily_cap"] = "rolling"
    return seqsim.Scenario.from_dict(data)


@ENGINE_PROPERTY
@given(scenarios())
def test_batch_engine_matches_row_engine(scenario: seqsim.Scenario) -> None:
    _, batch = run_both_engines(scenario)
    assert_invariants(batch)


@ENGINE_PROPERTY
@given(scenarios(with_policies=True))
def test_batch_engine_matches_row_engine_under_policies(scenario: seqsim.Scenario) -> None:
    policy = scenario.policy
    event(f"strategy={policy.strategy}")
    event(f"windows={policy.send_hours is not None or policy.send_days is not None}")
    event(f"outages={len(policy.outages)}, catch_up={policy.catch_up}")
    _, batch = run_both_engines(scenario)
    assert_invariants(batch)
    if policy.catch_up == "skip_stale" and batch.summary.get("skipped_steps"):
        event("some steps skipped")
    if _sends_in_outages(batch):
        event("a device sent during an outage")


@ENGINE_PROPERTY
@given(scenarios(with_policies=True))
def test_records_kept_in_a_file_change_no_table(scenario: seqsim.Scenario) -> None:
    """The kernel's records in a file's pages (seqsim.spill), grown from room for
    eight rows, their pages handed back after every seven polls and all the time
    while the result reads them: the tables of the records kept in memory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQSIM_RECORDS_DIR", "")
        kept = seqsim.simulate(scenario, engine="batch", progress=False)
        assert spill.backed(kept.tables.records[0]) is None
    real_world = kernel_run.build_world
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SEQSIM_RECORDS_DIR", raising=False)
        if spill.records_dir() is None:
            pytest.skip("records stay in memory on this system (tmpfs or not Linux)")
        patch.setattr(spill, "MIN_BYTES", 0)
        patch.setattr(spill, "PAGER_EVERY_S", 0.0)
        patch.setattr(kernel_run, "CHUNK", 7)
        patch.setattr(kernel_run, "build_world",
                      lambda *a, **k: real_world(*a, **k)._replace(rows_hint=8))
        filed = seqsim.simulate(scenario, engine="batch", progress=False)
        assert all(spill.backed(r) is not None for r in filed.tables.records)
        assert_same_tables(kept, filed)


def _sends_in_outages(result: seqsim.Result) -> bool:
    """Return whether a message was sent while the processor was down."""
    sent = result.sends["sent_at"].dropna()
    return any(((sent >= o.start) & (sent < o.end)).any() for o in result.scenario.policy.outages)


@pytest.mark.parametrize("skip_idle", [True, False])
def test_batch_skipping_blocked_polls_changes_nothing(skip_idle: bool) -> None:
    """A backlog on capped devices: polls at which every due row's device is capped
    are jumped over (both engines), and the tables are those of a run that polls each."""
    scn = seqsim.Scenario.from_dict(
        {
            "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d",
                           "poll_interval": "1m"},
            "sequences": [{"name": "C", "trigger": "c", "days": [1, 2, 3]}],
            "workload": [{"kind": "burst", "trigger": "c", "count": 60}],
            "capacity": {"devices": 2, "hourly_limit": 5, "daily_limit": 40},
        }
    )
    row, batch = run_both_engines(scn, skip_idle=skip_idle)
    assert row.summary["peak_backlog"] > 0
    if skip_idle:
        for result in (row, batch):
            assert result.info["polls_run"] < (result.timeline["backlog"] > 0).sum()


def test_shipped_scenarios_agree_at_small_size() -> None:
    folder = Path(__file__).resolve().parents[1] / "data" / "scenarios"
    shrink = {
        "baseline.toml": {"simulation.duration": "2d", "workload.0.end": "2025-07-01T06:00:00"},
        "backlog.toml": {"simulation.duration": "2d", "workload.0.end": "2025-07-02T00:00:00"},
        "launch_burst.toml": {"workload.0.count": 60, "capacity.devices": 3,
                              "capacity.hourly_limit": 10},
        "chained.toml": {"workload.0.rate_per_hour": 4, "workload.0.end": "2025-07-01T06:00:00"},
        "production_month.toml": {"capacity.devices": 3, "workload.0.rate_per_hour": 2.75,
                                  "simulation.duration": "1d"},
    }
    for path in sorted(folder.glob("*.toml")):
        base = seqsim.Scenario.from_toml(path)
        overrides = shrink.get(path.name)
        assert overrides is not None, f"{path.name}: add a small-size override here"
        scn = base.with_overrides(overrides)
        run_both_engines(scn)


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[1] / "data" / "scenarios" / "policies")
           .glob("*.toml")),
    ids=lambda p: p.stem,
)
def test_policy_scenarios_agree_at_small_size(path: Path) -> None:
    # A fortieth of the arrivals and coarser polls: the row engine pays ~15
    # statements a message and two a poll that runs.
    base = seqsim.Scenario.from_toml(path)
    overrides = {f"workload.{i}.rate_per_hour": wl.rate_per_hour / 40
                 for i, wl in enumerate(base.workload)}
    scn = base.with_overrides({**overrides, "simulation.poll_interval": "5m"})
    _, batch = run_both_engines(scn)
    assert_invariants(batch)


@st.composite
def unhindered_scenarios(draw: st.DrawFn) -> seqsim.Scenario:
    """Worlds where nothing can hold a message back: no limits, zero pacing, no failures."""
    data = draw(scenarios()).to_dict()
    for seq in data["sequences"]:
        seq["min_delay_seconds"] = seq["max_delay_seconds"] = 0
    data["capacity"].update(hourly_limit=0, daily_limit=0, in_flight_limit=0, failure_rate=0.0)
    return seqsim.Scenario.from_dict(data)


@ENGINE_PROPERTY
@given(unhindered_scenarios())
def test_unhindered_worlds_match_row_engine(scenario: seqsim.Scenario) -> None:
    row = seqsim.simulate(scenario, engine="row", progress=False)
    batch = seqsim.simulate(scenario, engine="batch", progress=False)
    event("compiled" if batch.info["compiled"] else "polls (windows or outages)")
    assert_same_tables(row, batch)
    assert_invariants(batch)


def test_kernel_runs_chains_zero_delays_and_overflowing_polls() -> None:
    data = {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d", "poll_interval": "5m"},
        "sequences": [
            {"name": "A", "trigger": "a", "days": [1, 2], "next": "B",
             "min_delay_seconds": 0, "max_delay_seconds": 0},
            {"name": "B", "trigger": "b", "days": [1, 2, 3], "delay_hours": [0, 0, 5],
             "min_delay_seconds": 0, "max_delay_seconds": 0},
        ],
        "workload": [{"kind": "burst", "trigger": "a", "count": 20},
                     {"kind": "poisson", "trigger": "a", "rate_per_hour": 1.5}],
        "capacity": {"hourly_limit": 0, "daily_limit": 0, "in_flight_limit": 0},
    }
    scn = seqsim.Scenario.from_dict(data)
    row = seqsim.simulate(scn, engine="row", progress=False)
    fast = seqsim.simulate(scn, engine="batch", progress=False)
    assert fast.info["compiled"]
    assert_same_tables(row, fast)
    assert row.summary["peak_backlog"] > 0  # zero-delay and chained rows wait a poll
    small = scn.with_overrides({"capacity.batch_size": 5})
    tight = seqsim.simulate(small, engine="batch", progress=False)
    assert tight.info["compiled"]
    assert (tight.timeline["skipped"] == 0).all() and tight.timeline["sent"].max() == 5
    assert_same_tables(seqsim.simulate(small, engine="row", progress=False), tight)


@pytest.mark.parametrize(
    ("start", "zone"),
    [("1969-07-01T00:00:00", "UTC"), ("1900-01-01T00:00:00", "America/New_York")],
)
def test_runs_before_1970_send_what_the_row_engine_sends(start: str, zone: str) -> None:
    """Instants before 1970 are negative microseconds: none may read as 'device blocked'.

    The batch engine once took a missing block as instant 0, so every device
    was blocked until 1970 and a pre-1970 run enrolled leads but sent nothing.
    """
    scn = seqsim.Scenario.from_dict(
        {
            "simulation": {"start": start, "duration": "2d", "poll_interval": "1m"},
            "sequences": [{"name": "C", "trigger": "c", "days": [1, 2]}],
            "workload": [{"kind": "burst", "trigger": "c", "count": 30, "timezone": zone}],
            "capacity": {"devices": 2, "hourly_limit": 5, "daily_limit": 40},
            "policy": {"send_hours": "09:00-17:00"},
        }
    )
    row, batch = run_both_engines(scn)
    assert batch.summary["contacts_enrolled"] == 30
    assert batch.summary["messages_sent"] == row.summary["messages_sent"] == 60


def test_a_retry_made_due_by_a_send_at_the_poll_instant_is_the_next_polls() -> None:
    # Pacing equal to the poll interval delivers at a poll instant; the failure there
    # makes the row due again after the poll's selection, with nothing else to do.
    # The kernel used to jump to the next arrival (4:00) instead of retrying at 2:04.
    seq = {"days": [0], "delay_hours": [0], "min_delay_seconds": 120,
           "max_delay_seconds": 120}
    scenario = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "1d",
                       "poll_interval": "2m", "seed": 0},
        "sequences": [{"name": "S0", "trigger": "s0", **seq}],
        "workload": [{"kind": "constant", "trigger": "s0", "rate_per_hour": 0.5,
                      "end": "2025-07-01T06:00:00"}] * 2,
        "capacity": {"devices": 1, "batch_size": 2, "hourly_limit": 0, "daily_limit": 0,
                     "in_flight_limit": 0, "failure_rate": 0.2, "max_retries": 1},
    })
    row, _ = run_both_engines(scenario)
    retry = row.sends[row.sends["attempt"] == 2]
    assert retry["sent_at"].tolist() == [pd.Timestamp("2025-07-01T02:04:00")]


@st.composite
def paced_into_outages(draw: st.DrawFn) -> seqsim.Scenario:
    """A burst of more leads than devices, queued by the poll just before an
    outage: the devices, pacing them, send during it (the run may end inside it)."""
    poll = draw(st.sampled_from([2, 5, 7]))  # minutes
    gap = draw(st.sampled_from([30, 120, 600]))
    outage_at = timedelta(minutes=poll * draw(st.integers(1, 3)),
                          seconds=draw(st.sampled_from([1, 20, 90])))
    duration = draw(st.sampled_from(["20m", "1h", "6h"]))
    start = datetime(2025, 7, 1)
    return seqsim.Scenario.from_dict({
        "simulation": {"start": start.isoformat(), "poll_interval": f"{poll}m",
                       "duration": draw(st.sampled_from(["1h", "3h", "1d"])),
                       "seed": draw(st.integers(0, 2**16))},
        "sequences": [{"name": "S", "trigger": "s", "days": [1, 2], "delay_hours": [0, 1],
                       "min_delay_seconds": gap,
                       "max_delay_seconds": gap + draw(st.sampled_from([0, 60]))}],
        "workload": [{"kind": "burst", "trigger": "s", "count": draw(st.integers(3, 10)),
                      "at": (start + timedelta(minutes=poll)).isoformat()}],
        "capacity": {"devices": draw(st.integers(1, 2)), "hourly_limit": 0, "daily_limit": 0,
                     "in_flight_limit": draw(st.sampled_from([0, 3])),
                     "failure_rate": draw(st.sampled_from([0.0, 0.3])),
                     "max_retries": draw(st.integers(0, 1))},
        "policy": {"progress_on": draw(st.sampled_from(["delivery", "queue"])),
                   "catch_up": draw(st.sampled_from(["burst", "skip_stale", "reschedule"])),
                   "stale_after": "30m",
                   "outages": [{"start": (start + outage_at).isoformat(), "duration": duration}]},
    })


@ENGINE_PROPERTY
@given(paced_into_outages())
def test_sends_during_outages_match_and_count_at_their_polls(scenario: seqsim.Scenario) -> None:
    _, batch = run_both_engines(scenario)
    assert_invariants(batch)
    outage = scenario.policy.outages[0]
    event("the run ends in the outage" if scenario.simulation.end <= outage.end
          else "the run outlasts the outage")
    if _sends_in_outages(batch):
        event("a device sent during the outage")
    # Each poll's row counts the sends (and failures) since the poll before it.
    polls = batch.timeline["time"].to_numpy()
    for outcome, column in (("sent", "sent"), ("failed", "failed")):
        at = batch.sends.loc[batch.sends["outcome"] == outcome, "sent_at"].to_numpy()
        since = np.bincount(np.searchsorted(polls, at, side="left"), minlength=len(polls))
        assert batch.timeline[column].tolist() == since.tolist()


def test_a_send_at_the_poll_instant_frees_its_full_device_for_the_next_poll() -> None:
    # 10-minute gaps on a 2-minute grid: each send lands on a poll instant, after
    # that poll found the device at its in-flight limit. The next poll queues on
    # it; the kernel used to sleep until the following send (m5 at 00:22).
    seq = {"days": [1], "delay_hours": [0], "min_delay_seconds": 600, "max_delay_seconds": 600}
    scenario = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "1h",
                       "poll_interval": "2m", "seed": 0},
        "sequences": [{"name": "S", "trigger": "s", **seq}],
        "workload": [{"kind": "burst", "trigger": "s", "count": 7, "at": "2025-07-01T00:02:00"}],
        "capacity": {"devices": 1, "hourly_limit": 0, "daily_limit": 0, "in_flight_limit": 3},
    })
    _, batch = run_both_engines(scenario)
    queued = batch.tables["messages"]["queued_at"].dt.strftime("%H:%M").tolist()
    assert queued == ["00:02", "00:02", "00:02", "00:04", "00:14", "00:24", "00:34"]
