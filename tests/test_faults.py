"""[faults]: every key validated, the fast engine refuses the interleaving ones, and
the row engine reproduces each production failure in SQL (and its fix prevents it).

Worlds are tiny (8 contacts, two steps, two hours) because the row engine costs
milliseconds a statement; the property's budget follows
``SEQSIM_HYPOTHESIS_EXAMPLES`` (default 4 here; ``make test-deep`` raises it).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from seqsim import Result, Scenario, ScenarioError, simulate
from seqsim.baseline import scenario_fingerprint
from seqsim.model.faults import DeviceOffline, FaultsConfig

EXAMPLES = int(os.environ.get("SEQSIM_HYPOTHESIS_EXAMPLES", "4"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 10,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def world(faults: dict[str, Any] | None = None, *, progress_on: str = "queue", count: int = 8,
          delays: tuple[int, ...] = (0, 1), duration: str = "2h", seed: int = 1,
          engine: str = "row") -> dict[str, Any]:
    """Return a tiny scenario's tables: ``count`` leads at the start, one sequence."""
    data: dict[str, Any] = {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": duration,
                       "poll_interval": "1m", "seed": seed, "engine": engine},
        "sequences": [{"name": "DRIP", "trigger": "drip",
                       "days": list(range(1, len(delays) + 1)), "delay_hours": list(delays),
                       "min_delay_seconds": 1, "max_delay_seconds": 3}],
        "workload": [{"kind": "burst", "trigger": "drip", "count": count,
                      "at": "2025-07-01T00:00:00"}],
        "capacity": {"devices": 2},
        "policy": {"progress_on": progress_on},
    }
    if faults is not None:
        data["faults"] = faults
    return data


def run(faults: dict[str, Any] | None = None, **kwargs: Any) -> Result:
    return simulate(Scenario.from_dict(world(faults, **kwargs)), progress=False)


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("faults", "match"), [
    ({"pollers": 0}, r"faults\.pollers: 0 is not valid; expected a whole number of pollers"),
    ({"pollers": 9}, r"faults\.pollers: 9 is not valid"),
    ({"pollers": True}, r"faults\.pollers: True is not valid"),
    ({"pollers": 2, "poller_offsets": ["0s"]},
     r"faults\.poller_offsets: \['0s'\] is not valid; expected one offset per poller \(2\)"),
    ({"pollers": 2, "poller_offsets": ["0s", "1m"]},
     r"faults\.poller_offsets\[1\]: '1m' is not valid; expected a duration below "
     r"simulation\.poll_interval \(1m\)"),
    ({"poller_offsets": ["-1s"]}, r"faults\.poller_offsets\[0\]: '-1s' is not valid"),
    ({"claiming": "lock"}, r"faults\.claiming: 'lock' is not valid; expected one of "
                           r"'conditional_update', 'none'"),
    ({"duplicate_guard": "hope"}, r"faults\.duplicate_guard: 'hope' is not valid"),
    ({"crash_between_statements": 1.5},
     r"faults\.crash_between_statements: 1\.5 is not valid; expected a probability in \[0, 1\]"),
    ({"crash_between_statements": -0.1}, r"faults\.crash_between_statements: -0\.1 is not"),
    ({"crash_between_statements": float("nan")}, r"faults\.crash_between_statements: nan"),
    ({"stuck_claims": 2}, r"faults\.stuck_claims: 2 is not valid; expected a probability"),
    ({"stuck_claims": "0.1"}, r"faults\.stuck_claims: '0\.1' is not valid"),
    ({"atomic_advance": "yes"}, r"faults\.atomic_advance: 'yes' is not valid; expected true "
                                r"or false"),
    ({"claim_timeout": "-5m"}, r"faults\.claim_timeout: '-5m' is not valid"),
    ({"claim_timeout": "0s"}, r"faults\.claim_timeout: '0s' is not valid; expected a duration "
                              r"> 0"),
    ({"db_clock_offset": "2d"}, r"faults\.db_clock_offset: '2d' is not valid; expected a "
                                r"signed duration of at most 1 day"),
    ({"db_clock_offset": "soon"}, r"faults\.db_clock_offset: 'soon' is not valid"),
    ({"device_offline": {"start": "2025-07-01T00:00:00"}},
     r"faults\.device_offline: .* is not valid; expected a list of tables"),
    ({"device_offline": [{"duration": "1h", "share": 0.5}]},
     r"faults\.device_offline\[0\]\.start: missing"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "share": 0.5}]},
     r"faults\.device_offline\[0\]: .* expected exactly one of 'end' or 'duration'"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "1h"}]},
     r"faults\.device_offline\[0\]: expected exactly one of 'devices' .* or 'share'"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "1h", "share": 0}]},
     r"faults\.device_offline\[0\]\.share: 0 is not valid; expected a share of the fleet"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "0s", "share": 1}]},
     r"faults\.device_offline\[0\]\.duration: '0s' is not valid"),
    ({"device_offline": [{"start": "2025-07-01T01:00:00", "end": "2025-07-01T00:00:00",
                          "share": 1}]},
     r"faults\.device_offline\[0\]\.end: '2025-07-01T00:00:00' is not valid; expected an "
     r"instant after its start"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "1h",
                          "devices": ["dev-009"]}]},
     r"faults\.device_offline\[0\]\.devices: 'dev-009' is not valid; expected a device of the "
     r"fleet \(dev-001 to dev-002\)"),
    ({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "1h", "devices": [],
                          "x": 1}]},
     r"faults\.device_offline\[0\]\.x: unknown key"),
    ({"pollers": 2, "typo": 1}, r"faults\.typo: unknown key"),
    ({"pollerz": 2}, r"faults\.pollerz: unknown key; did you mean 'pollers'\?"),
])
def test_every_faults_key_is_validated(faults: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(world(faults))


def test_faults_with_the_replaced_design_are_one_clear_error() -> None:
    data = world({"pollers": 2})
    data["policy"]["strategy"] = "all_at_enrollment"
    with pytest.raises(ScenarioError, match=r"policy\.strategy: 'all_at_enrollment' is not "
                                            r"valid; expected 'one_by_one' with \[faults\]"):
        Scenario.from_dict(data)


def test_overrides_validate_faults_on_the_same_path() -> None:
    scenario = Scenario.from_dict(world())
    with pytest.raises(ScenarioError, match=r"faults\.pollers: 0 is not valid"):
        scenario.with_overrides({"faults.pollers": 0})
    with pytest.raises(ScenarioError, match=r"faults\.nope: unknown key"):
        scenario.with_overrides({"faults.nope": 1})
    changed = scenario.with_overrides({"faults.stuck_claims": 0.5, "faults.claim_timeout": "2m"})
    assert changed.faults.stuck_claims == 0.5
    assert changed.faults.claim_timeout == timedelta(minutes=2)


def test_no_faults_changes_nothing_a_baseline_sees() -> None:
    plain = Scenario.from_dict(world())
    defaults = Scenario.from_dict(world({"pollers": 1, "claiming": "conditional_update",
                                         "db_clock_offset": "0h"}))
    assert plain == defaults and plain.faults == FaultsConfig()
    assert "faults" not in plain.to_dict()
    assert scenario_fingerprint(plain) == scenario_fingerprint(defaults)
    faulty = plain.with_overrides({"faults.db_clock_offset": "-8h"})
    assert faulty.to_dict()["faults"] == {"db_clock_offset": "-8h"}
    assert scenario_fingerprint(faulty) != scenario_fingerprint(plain)


def test_faults_round_trip_through_toml() -> None:
    scenario = Scenario.from_dict(world({
        "pollers": 2, "poller_offsets": ["0s", "20s"], "claiming": "none",
        "duplicate_guard": "check_then_insert", "crash_between_statements": 0.25,
        "atomic_advance": False, "stuck_claims": 0.5, "claim_timeout": "90s",
        "db_clock_offset": "-8h",
        "device_offline": [{"start": "2025-07-01T00:30:00", "duration": "1h", "share": 0.5},
                           {"start": "2025-07-01T00:00:00", "end": "2025-07-01T00:10:00",
                            "devices": ["dev-002"]}]}))
    assert Scenario.from_toml_string(scenario.to_toml()) == scenario
    first, second = scenario.faults.device_offline
    assert first.devices == ("dev-002",) and second.device_ids(["dev-001", "dev-002"]) == (
        "dev-001",)
    assert isinstance(first, DeviceOffline)


# --------------------------------------------------------------------------- engines

def test_the_fast_engine_refuses_interleaving_faults_naming_the_fault_and_the_row_engine(
) -> None:
    scenario = Scenario.from_dict(world({"pollers": 2}, engine="batch"))
    with pytest.raises(ScenarioError, match=r"faults\.pollers: 2 is not valid with engine "
                                            r"'batch'.*engine = \"row\", which runs it"):
        simulate(scenario, progress=False)
    # A one-message fault runs on it (tests/test_faults_kernel.py: the same tables).
    skewed = Scenario.from_dict(world({"db_clock_offset": "1h"}))
    assert simulate(skewed, engine="batch", progress=False).info["compiled"]


def test_two_pollers_without_claims_send_twice_and_conditional_claims_do_not() -> None:
    racing = run({"pollers": 2, "claiming": "none"})
    assert racing.summary["duplicate_sends"] > 0
    sent = racing.sends[racing.sends["outcome"] == "sent"]
    assert sent.duplicated(["contact_phone", "day_number"]).sum() == (
        racing.summary["duplicate_sends"])
    assert racing.info["invariant_violations"] == []  # broken on purpose: the metric says so
    fixed = run({"pollers": 2, "claiming": "conditional_update"})
    assert fixed.summary["duplicate_sends"] == 0
    assert fixed.summary["messages_sent"] == 16


def test_a_check_then_insert_guard_lets_two_rows_in() -> None:
    racing = run({"pollers": 2, "duplicate_guard": "check_then_insert"},
                 progress_on="delivery")
    assert racing.summary["max_active_rows_per_contact"] == 2
    assert racing.summary["duplicate_sends"] > 0
    assert racing.info["invariant_violations"] == []
    fixed = run({"pollers": 2, "duplicate_guard": "unique_key"}, progress_on="delivery")
    assert fixed.summary["max_active_rows_per_contact"] == 1
    assert fixed.summary["duplicate_sends"] == 0


def test_a_crash_outside_a_transaction_loses_contacts_and_inside_one_does_not() -> None:
    faults = {"crash_between_statements": 0.5, "atomic_advance": False}
    lost = run(faults, progress_on="delivery")
    contacts = lost.contacts
    assert lost.summary["lost_contacts"] > 0
    # A lost contact: its step-1 row completed, no step-2 row, nothing active.
    phones = set(contacts["contact_phone"])
    with_next = set(contacts.loc[contacts["current_step"] == 2, "contact_phone"])
    assert len(phones - with_next) == lost.summary["lost_contacts"]
    assert lost.summary["contacts_completed"] == 8 - lost.summary["lost_contacts"]
    safe = run({**faults, "atomic_advance": True}, progress_on="delivery")
    assert safe.summary["lost_contacts"] == 0
    assert safe.summary["contacts_completed"] == 8


@pytest.mark.parametrize("engine", ["row", "batch"])
def test_a_crash_after_the_last_steps_mark_still_finishes_the_contact_in_the_timeline(
        engine: str) -> None:
    res = run({"crash_between_statements": 0.5, "atomic_advance": False},
              progress_on="delivery", engine=engine)
    # The worker died after marking a last step's row: the lead keeps its trigger.
    kept = set(res.sql('SELECT phone FROM leads WHERE "trigger" IS NOT NULL')["phone"])
    contacts = res.contacts
    finished = contacts[(contacts["current_step"] == 2) & (contacts["status"] == "completed")]
    assert finished["contact_phone"].isin(kept).sum() == 4
    assert res.summary["contacts_completed"] == len(finished) == 5
    assert res.timeline["completed_contacts"].iloc[-1] == 5


@pytest.mark.parametrize("engine", ["row", "batch"])
def test_a_chained_entry_lost_by_a_crash_counts_as_a_lost_contact(engine: str) -> None:
    data = world({"crash_between_statements": 0.5, "atomic_advance": False},
                 progress_on="delivery", engine=engine, duration="6h")
    data["sequences"][0]["next"] = "NEXT"
    data["sequences"].append({"name": "NEXT", "trigger": "next", "days": [1],
                              "min_delay_seconds": 1, "max_delay_seconds": 3})
    res = simulate(Scenario.from_dict(data), progress=False)
    contacts, first = res.contacts, res.tables["sequences"]["id"].min()
    drip = contacts[contacts["sequence_id"] == first]
    finished = set(drip.loc[(drip["current_step"] == 2) & (drip["status"] == "completed"),
                            "contact_phone"])
    entered = set(contacts.loc[contacts["sequence_id"] != first, "contact_phone"])
    stopped = 8 - len(set(drip.loc[drip["current_step"] == 2, "contact_phone"]))
    assert (len(finished), len(finished - entered), stopped) == (5, 4, 3)
    assert res.summary["lost_contacts"] == stopped + len(finished - entered)
    assert any("lost at a chain" in p for p in res.info["fault_effects"])
    data["faults"]["atomic_advance"] = True
    safe = simulate(Scenario.from_dict(data), progress=False)
    assert safe.summary["lost_contacts"] == 0


def test_a_last_step_that_chains_nowhere_is_not_read_as_a_chain() -> None:
    # The last step's next trigger is NULL; the step before names "a_day2", which
    # is also B's trigger. Read as a chain, every finished contact was "lost".
    data = world(count=3, duration="6h")
    data["sequences"] = [
        {"name": "A", "trigger": "a", "days": [1, 2], "delay_hours": [0, 1]},
        {"name": "B", "trigger": "a_day2", "days": [1]},
    ]
    data["workload"][0]["trigger"] = "a"
    res = simulate(Scenario.from_dict(data), progress=False)
    assert res.summary["contacts_completed"] == 3
    assert res.summary["lost_contacts"] == 0
    assert res.info["invariant_violations"] == []


@pytest.mark.parametrize("offset_h", [8, -1])
def test_the_database_clock_moves_a_step_by_exactly_its_offset(offset_h: int) -> None:
    result = run({"db_clock_offset": f"{offset_h}h"}, delays=(0, 12), duration="16h")
    sends = result.sends
    picked = (sends["queued_at"] - sends["due_at"]).dt.total_seconds()
    if offset_h > 0:  # ahead: the second step is picked 8 hours before it is due
        assert (picked[sends["day_number"] == 2] == -offset_h * 3600).all()
        assert result.summary["early_sends"] == 8
    else:  # behind: every step is picked an hour after it is due
        assert (picked == -offset_h * 3600).all()
    assert result.summary["messages_sent"] == 16


def test_a_stuck_claim_is_released_after_the_timeout_with_retry_count_plus_one() -> None:
    always = run({"stuck_claims": 1.0, "claim_timeout": "5m"}, duration="20m")
    contacts = always.contacts
    # Claimed at 00:00, released by the polls at 00:06, 00:12 and 00:18 and claimed again.
    assert (contacts["retry_count"] == 3).all()
    assert contacts["processing_device_id"].notna().all() and always.sends.empty
    assert always.summary["stuck_contacts"] == 8
    some = run({"stuck_claims": 0.5, "claim_timeout": "5m"})
    assert some.summary["stuck_contacts"] > 0
    assert some.summary["late_by_claim_release_s"] >= 300
    assert some.summary["duplicate_sends"] == 0 and some.summary["contacts_completed"] == 8


def test_rows_of_an_offline_device_are_skipped_until_it_is_back() -> None:
    result = run({"device_offline": [{"start": "2025-07-01T00:00:00", "duration": "30m",
                                      "devices": ["dev-001"]}]}, duration="3h")
    first = result.sends[result.sends["day_number"] == 1]
    offline = first["device_id"] == "dev-001"
    assert offline.any() and (~offline).any()
    assert (first.loc[offline, "queued_at"] == np.datetime64("2025-07-01T00:30:00")).all()
    assert (first.loc[~offline, "queued_at"] == np.datetime64("2025-07-01T00:00:00")).all()
    assert result.summary["contacts_completed"] == 8


def test_skipping_idle_polls_gives_the_same_tables_under_faults() -> None:
    scenario = Scenario.from_dict(world({
        "pollers": 2, "poller_offsets": ["0s", "30s"], "stuck_claims": 0.3,
        "claim_timeout": "3m", "db_clock_offset": "-10m",
        "device_offline": [{"start": "2025-07-01T00:20:00", "duration": "20m", "share": 0.5}]},
        count=4))
    skipped = simulate(scenario, progress=False)
    every = simulate(scenario, progress=False, skip_idle=False)
    for name in ("sequence_contacts", "messages"):
        assert skipped.tables[name].equals(every.tables[name]), name
    assert skipped.info["polls_run"] < every.info["polls_run"]


# --------------------------------------------------------------------------- the property

@st.composite
def protected_faults(draw: st.DrawFn) -> dict[str, Any]:
    """Any mix of the faults, with the three protections on."""
    pollers = draw(st.integers(1, 3))
    faults: dict[str, Any] = {
        "pollers": pollers,
        "poller_offsets": [f"{draw(st.integers(0, 59))}s" for _ in range(pollers)],
        "claiming": "conditional_update", "duplicate_guard": "unique_key",
        "atomic_advance": True,
        "crash_between_statements": draw(st.sampled_from([0.0, 0.2, 0.5])),
        "stuck_claims": draw(st.sampled_from([0.0, 0.2, 0.5])),
        "claim_timeout": draw(st.sampled_from(["2m", "5m"])),
        "db_clock_offset": f"{draw(st.integers(-90, 90))}m",
    }
    if draw(st.booleans()):
        faults["device_offline"] = [{"start": "2025-07-01T00:00:00",
                                     "duration": f"{draw(st.integers(1, 60))}m",
                                     "share": draw(st.sampled_from([0.5, 1.0]))}]
    return faults


@PROPERTY
@given(protected_faults(), st.sampled_from(["queue", "delivery"]), st.integers(0, 2**16))
def test_protected_engine_loses_and_doubles_nothing_under_any_faults(
    faults: dict[str, Any], progress_on: str, seed: int
) -> None:
    result = run(faults, progress_on=progress_on, count=6, duration="3h", seed=seed)
    summary = result.summary
    assert summary["lost_contacts"] == 0
    assert summary["duplicate_sends"] == 0
    assert summary["max_active_rows_per_contact"] <= 1
    active = result.contacts[result.contacts["status"] == "active"]
    assert not active.duplicated(["sequence_id", "contact_phone"]).any()
    assert result.info["invariant_violations"] == []
