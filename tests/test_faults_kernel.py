"""The compiled engine runs the one-message faults with the per-row engine's tables,
and refuses the interleaving ones with one clear error.

The property draws the worlds of ``tests/test_engine_batch.py`` (random
sequences, limits, pacing, failures and retries, both progress_on policies)
and adds any mix of the one-message faults: a crash between the two
statements (atomic or not), stuck claims with a claim timeout, offline
windows, a signed database clock offset in hours. ``SEQSIM_HYPOTHESIS_EXAMPLES``
raises the budget (``make test-deep``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, given, settings

import seqsim
from seqsim.baseline import baseline_path_for, compare_to_baseline
from seqsim.checks.invariants import result_violations
from seqsim.engine.registry import ENGINES, ONE_MESSAGE_FAULTS
from tests.equivalence import assert_same_tables, run_both_engines
from tests.test_engine_batch import policies, scenarios
from tests.test_faults import world

EXAMPLES = int(os.environ.get("SEQSIM_HYPOTHESIS_EXAMPLES", "10"))
FAULT_PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
FAULT_SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "faults"
ONE_POLLER = sorted(p for p in FAULT_SCENARIOS.glob("*.toml")
                    if seqsim.Scenario.from_toml(p).faults.pollers == 1)


@st.composite
def one_message_faults(draw: st.DrawFn, devices: int, duration_h: int) -> dict[str, Any]:
    """Any mix of the faults that act on one message at a time (maybe none but a
    default-valued key, which still runs the faulty poll)."""
    faults: dict[str, Any] = {
        "crash_between_statements": draw(st.sampled_from([0.0, 0.0, 0.2, 0.5, 1.0])),
        "atomic_advance": draw(st.booleans()),
        "stuck_claims": draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
        "claim_timeout": draw(st.sampled_from(["1m", "5m", "20m", "2h"])),
        "db_clock_offset": f"{draw(st.integers(-8, 8))}h",
        "claiming": draw(st.sampled_from(["conditional_update", "none"])),
    }
    windows = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, duration_h * 60 - 1))
        window: dict[str, Any] = {
            "start": f"2025-07-0{1 + start // 1440}T{start // 60 % 24:02d}:{start % 60:02d}:00",
            "duration": f"{draw(st.integers(1, 600))}m"}
        if draw(st.booleans()):
            window["share"] = draw(st.sampled_from([0.25, 0.5, 1.0]))
        else:
            picked = draw(st.sets(st.integers(1, devices), min_size=1, max_size=devices))
            window["devices"] = [f"dev-{d:03d}" for d in sorted(picked)]
        windows.append(window)
    if windows:
        faults["device_offline"] = windows
    return faults


@st.composite
def faulty_scenarios(draw: st.DrawFn, with_policies: bool = False) -> seqsim.Scenario:
    """The engine property's worlds with one-message faults; ``with_policies``:
    send windows, calendar caps, outages and each catch-up too (the faults need
    the one-by-one strategy)."""
    data = draw(scenarios()).to_dict()
    duration = data["simulation"]["duration"]
    if with_policies:
        policy = draw(policies(data["sequences"], data["workload"], duration))
        policy["strategy"] = "one_by_one"
        if policy.get("daily_cap") == "calendar" and not data["capacity"]["daily_limit"]:
            policy["daily_cap"] = "rolling"
        data["policy"].update(policy)
    hours = 48 if duration == "2d" else 24
    data["faults"] = draw(one_message_faults(data["capacity"]["devices"], hours))
    return seqsim.Scenario.from_dict(data)


@FAULT_PROPERTY
@given(faulty_scenarios())
def test_batch_engine_matches_row_engine_under_one_message_faults(
    scenario: seqsim.Scenario,
) -> None:
    faults = scenario.faults
    event(f"progress_on={scenario.policy.progress_on}, atomic={faults.atomic_advance}")
    event(f"crash={faults.crash_between_statements > 0}, stuck={faults.stuck_claims > 0}, "
          f"offline={len(faults.device_offline)}")
    row, batch = run_both_engines(scenario)
    assert batch.info["compiled"]
    if row.summary["lost_contacts"]:
        event("contacts lost")
    if row.summary["duplicate_sends"]:
        event("duplicate sends (a claim released while its message was on the device)")
    # The faults break invariants on purpose: both engines break the same ones.
    assert batch.info["invariant_violations"] == row.info["invariant_violations"]


@FAULT_PROPERTY
@given(faulty_scenarios(with_policies=True))
def test_batch_engine_matches_row_engine_under_faults_and_policies(
    scenario: seqsim.Scenario,
) -> None:
    policy = scenario.policy
    event(f"outages={len(policy.outages)}, catch_up={policy.catch_up}")
    event(f"windows={policy.send_hours is not None or policy.send_days is not None}")
    row, batch = run_both_engines(scenario)
    assert batch.info["invariant_violations"] == row.info["invariant_violations"]


def test_a_claim_released_while_its_message_is_on_the_device_sends_it_twice() -> None:
    # Pacing gaps of 40-80 s on one device keep messages queued for minutes; a
    # 1-minute claim timeout releases their rows, which are claimed and queued
    # again: the first delivery advances the contact, the duplicate's does nothing.
    for faults in ({"claim_timeout": "1m", "crash_between_statements": 0.5},
                   {"claim_timeout": "1m", "crash_between_statements": 0.5,
                    "atomic_advance": False}):
        data = world(faults, progress_on="delivery", count=6, duration="3h")
        data["sequences"][0].update(min_delay_seconds=40, max_delay_seconds=80)
        data["capacity"].update(devices=1, failure_rate=0.3, max_retries=2)
        row, _ = run_both_engines(seqsim.Scenario.from_dict(data))
        assert row.summary["duplicate_sends"] > 0
        assert (row.sends["attempt"] > 1).any()
        # An effect of the fault, counted by the metric, not a broken invariant;
        # and the lateness causes of the second send stay non-negative.
        assert result_violations(row) == []


def test_batch_skipping_idle_polls_changes_nothing_under_faults() -> None:
    scenario = seqsim.Scenario.from_dict(world({
        "stuck_claims": 0.3, "claim_timeout": "3m", "db_clock_offset": "-10m",
        "crash_between_statements": 0.3,
        "device_offline": [{"start": "2025-07-01T00:20:00", "duration": "20m", "share": 0.5}]},
        count=6, progress_on="delivery", duration="3h", delays=(0, 1, 1)))
    row = seqsim.simulate(scenario, engine="row", progress=False)
    skipped = seqsim.simulate(scenario, engine="batch", progress=False)
    every = seqsim.simulate(scenario, engine="batch", progress=False, skip_idle=False)
    assert_same_tables(row, skipped)
    assert_same_tables(row, every)
    assert skipped.info["polls_run"] < every.info["polls_run"]



def test_a_device_going_offline_while_its_rows_wait_outside_the_batch_counts_as_device() -> None:
    # Found by the 300-example property: a batch of 1 is taken by the oldest row,
    # of dev-001 (over its daily limit), so nothing can be queued for hours and
    # the compiled engine jumps those polls; dev-002 goes offline for one poll in
    # between. Its waiting row spends that poll on the device, not the batch: the
    # offline start is an event, as the row engine's poll there records it.
    scenario = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d", "poll_interval": "2m",
                       "seed": 1561},
        "sequences": [{"name": "S0", "trigger": "s0", "days": [0, 1, 2, 3],
                       "delay_hours": [0, 0, 0, 0]}],
        "workload": [{"kind": "poisson", "trigger": "s0", "rate_per_hour": 1.0,
                      "end": "2025-07-01T06:00:00"}],
        "capacity": {"devices": 3, "batch_size": 1, "daily_limit": 4},
        "faults": {"crash_between_statements": 0.2, "atomic_advance": False,
                   "device_offline": [{"start": "2025-07-01T11:52:00", "duration": "1m",
                                       "devices": ["dev-001", "dev-002"]}]}})
    _row, batch = run_both_engines(scenario)
    waited = batch.sends.loc[batch.sends["device_id"] == "dev-002"]
    assert (waited["wait_device_s"] == 120.0).sum() == 1
    assert batch.info["polls_run"] < batch.info["polls"]

@pytest.mark.parametrize("path", ONE_POLLER, ids=lambda p: p.stem)
def test_shipped_one_poller_fault_scenarios_agree_and_keep_their_baselines(path: Path) -> None:
    scenario = seqsim.Scenario.from_toml(path)
    _, batch = run_both_engines(scenario)
    report = compare_to_baseline(batch, baseline_path_for(path))
    assert report.ok, report


@pytest.mark.parametrize(("faults", "key", "shown"), [
    ({"pollers": 2}, "pollers", "2"),
    ({"pollers": 3, "claiming": "none", "stuck_claims": 0.5}, "pollers", "3"),
    ({"duplicate_guard": "check_then_insert"}, "duplicate_guard", "'check_then_insert'"),
    ({"poller_offsets": ["20s"]}, "poller_offsets", r"\['20s'\]"),
])
def test_the_compiled_engine_refuses_the_interleaving_faults(faults: dict[str, Any], key: str,
                                                             shown: str) -> None:
    scenario = seqsim.Scenario.from_dict(world(faults, engine="batch"))
    with pytest.raises(seqsim.ScenarioError,
                       match=rf"^faults\.{key}: {shown} is not valid with engine 'batch', "
                             r"which does not run it; expected engine = \"row\", which runs "
                             r"it$"):
        seqsim.simulate(scenario, progress=False)


def test_zero_poller_offsets_and_one_message_faults_run_compiled() -> None:
    scenario = seqsim.Scenario.from_dict(world({"poller_offsets": ["0s"], "claiming": "none",
                                                "stuck_claims": 0.5}, engine="batch"))
    row, batch = run_both_engines(scenario)
    assert batch.info["compiled"] and row.summary["stuck_contacts"] > 0


def test_the_registry_keeps_one_list_of_the_faults_each_engine_runs() -> None:
    assert ENGINES["batch"].runs_faults == ONE_MESSAGE_FAULTS
    assert ENGINES["row"].runs_faults > ONE_MESSAGE_FAULTS
    assert {"pollers", "poller_offsets", "duplicate_guard"}.isdisjoint(ONE_MESSAGE_FAULTS)


def test_check_then_insert_matters_with_one_poller_so_the_compiled_engine_refuses_it(
    tmp_path: Path,
) -> None:
    # A lead in B and in A, which chains into B: the unique key makes the chained
    # entry a no-op; check-then-insert's table has no key, and the chain's INSERT
    # adds a second entry row to B (the enrolment's SELECT guards only new leads).
    trace = tmp_path / "leads.csv"
    trace.write_text("timestamp,phone,trigger,device_id\n"
                     "2025-07-01T00:00:00,+15550000001,a,\n"
                     "2025-07-01T00:00:00,+15550000001,b,\n", encoding="utf-8")
    data = {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "6h",
                       "poll_interval": "1m", "engine": "row"},
        "sequences": [{"name": "A", "trigger": "a", "days": [1, 2], "delay_hours": [0, 1],
                       "next": "B"},
                      {"name": "B", "trigger": "b", "days": [1, 2], "delay_hours": [0, 1]}],
        "workload": [{"kind": "trace", "path": str(trace)}],
        "capacity": {"devices": 1},
    }
    keyed = seqsim.simulate(seqsim.Scenario.from_dict(data), progress=False)
    racing = seqsim.Scenario.from_dict({**data, "faults": {"duplicate_guard":
                                                           "check_then_insert"}})
    guarded = seqsim.simulate(racing, progress=False)
    assert len(keyed.contacts) == 4 and len(guarded.contacts) == 5
    assert guarded.summary["max_active_rows_per_contact"] == 2
    with pytest.raises(seqsim.ScenarioError, match=r"faults\.duplicate_guard: .*engine = \"row\""):
        seqsim.simulate(racing, engine="batch", progress=False)


def test_the_claim_log_and_the_drawn_uniforms_grow_as_the_run_needs() -> None:
    # Every claim sticks and is released a minute later: 8 claims every other poll,
    # several times the arrays' first size, and a uniform per claim.
    scenario = seqsim.Scenario.from_dict(world({"stuck_claims": 1.0, "claim_timeout": "1m"},
                                               duration="6h"))
    _, batch = run_both_engines(scenario)
    assert batch.summary["stuck_contacts"] == 8 and batch.sends.empty
    assert (batch.contacts["retry_count"] > 100).all()  # 8 claims each: > 1024 in all
