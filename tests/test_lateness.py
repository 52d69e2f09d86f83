"""The lateness causes (``wait_*_s``): each wait lands on its cause, the parts add up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqsim
from seqsim.checks.invariants import wait_violations
from seqsim.engine.kernel_layout import NONE
from seqsim.engine.lateness import WAIT_COLUMNS, SendTimes, wait_parts
from seqsim.engine.wait_log import WaitLog
from seqsim.results.sends import build_sends
from seqsim.testing import assert_invariants
from tests.equivalence import run_both_engines

FAULTS = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "faults"
H = 3600.0


def _scenario(**parts: object) -> seqsim.Scenario:
    data: dict = {
        "simulation": {"start": "2025-07-03T00:00:00", "duration": "4d",
                       "poll_interval": "1m", "seed": 7},
        "sequences": [{"name": "S", "trigger": "s", "days": [1], "min_delay_seconds": 0,
                       "max_delay_seconds": 0}],
        "workload": [{"kind": "burst", "trigger": "s", "count": 4,
                      "at": "2025-07-03T10:00:00"}],
        "capacity": {"devices": 1},
    }
    for key, value in parts.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return seqsim.Scenario.from_dict(data)


def _steps(delays: list[int], gap: int = 0) -> list[dict]:
    """One sequence S of ``len(delays)`` steps, ``delays`` hours apart, pacing ``gap`` s."""
    return [{"name": "S", "trigger": "s", "days": list(range(1, len(delays) + 1)),
             "delay_hours": delays, "min_delay_seconds": gap, "max_delay_seconds": gap}]


def _burst(count: int, at: str) -> list[dict]:
    return [{"kind": "burst", "trigger": "s", "count": count, "at": f"2025-07-03T{at}"}]


def _both(scn: seqsim.Scenario) -> pd.DataFrame:
    """Run both engines (identical tables, invariants, causes adding up); return sends."""
    row, batch = run_both_engines(scn)
    assert_invariants(row)
    assert_invariants(batch)
    return batch.sends


def _only(sends: pd.DataFrame, cause: str) -> None:
    """Assert every send's lateness is ``cause`` alone."""
    others = [c for c in WAIT_COLUMNS if c != cause]
    assert (sends[others] == 0).all().all(), sends[list(WAIT_COLUMNS)]
    assert (sends[cause] == sends["lateness_s"]).all()


def test_a_weekend_only_window_is_the_wait() -> None:
    # Thursday 10:00; the window is Saturday and Sunday: 38 h to Saturday 00:00.
    scn = _scenario(sequences=[{"name": "S", "trigger": "s", "days": [1],
                                "min_delay_seconds": 0, "max_delay_seconds": 0,
                                "send_days": ["sat", "sun"]}])
    sends = _both(scn)
    assert len(sends) == 4
    _only(sends, "wait_window_s")
    assert (sends["wait_window_s"] == 38 * H).all()


def test_a_binding_daily_cap_is_the_device() -> None:
    sends = _both(_scenario(capacity={"devices": 1, "daily_limit": 2}))
    on_time, capped = sends.iloc[:2], sends.iloc[2:]
    assert (on_time["lateness_s"] == 0).all()
    _only(capped, "wait_device_s")
    assert (capped["wait_device_s"] == 24 * H).all()  # the rolling day lapses


def test_an_outage_is_the_outage() -> None:
    # Step 2 is due at 09:00, in an outage from 08:30 to 11:30.
    scn = _scenario(policy={"outages": [{"start": "2025-07-03T08:30:00", "duration": "3h"}]},
                    sequences=_steps([0, 1]), workload=_burst(3, "08:00:00"))
    sends = _both(scn)
    second = sends[sends["day_number"] == 2]
    _only(second, "wait_outage_s")
    assert (second["wait_outage_s"] == 2.5 * H).all()


def test_a_full_batch_is_the_batch_and_pacing_is_pacing() -> None:
    scn = _scenario(capacity={"devices": 1, "batch_size": 1}, sequences=_steps([0], gap=10))
    sends = _both(scn)
    # One row a poll: the k-th waits k - 1 polls for the batch, then its pacing gap
    # behind the previous send (10 s, less what the poll interval already covered).
    assert sends["wait_batch_s"].tolist() == [0.0, 60.0, 120.0, 180.0]
    assert (sends["wait_pacing_s"] == sends["sent_at"].sub(sends["queued_at"])
            .dt.total_seconds()).all()
    assert (sends[["wait_window_s", "wait_device_s", "wait_outage_s"]] == 0).all().all()


def test_a_retry_waits_from_the_failed_attempt() -> None:
    scn = _scenario(capacity={"devices": 1, "failure_rate": 0.5, "max_retries": 3},
                    workload=_burst(12, "10:00:00"))
    sends = _both(scn)
    keys = ["contact_phone", "sequence", "day_number"]
    previous = sends.sort_values([*keys, "attempt"]).groupby(keys)["sent_at"].shift()
    retried = sends["attempt"] > 1
    assert retried.sum() > 0 and sends.loc[retried, "wait_retry_s"].gt(0).any()
    expected = (previous - sends["due_at"]).dt.total_seconds()
    assert (sends.loc[retried, "wait_retry_s"] == expected[retried]).all()
    assert (sends.loc[~retried, "wait_retry_s"] == 0).all()


def test_a_due_time_between_polls_waits_for_the_poll() -> None:
    # Step 2 is due 1 h after step 1's delivery, which a pacing gap put between polls.
    sends = _both(_scenario(sequences=_steps([0, 1], gap=10), workload=_burst(2, "10:00:00")))
    # The second contact's step 1 left 10 s after the first's: due at 11:00:10.
    second = sends[sends["day_number"] == 2].iloc[1]
    assert second["due_at"] == pd.Timestamp("2025-07-03T11:00:10")
    assert second["wait_poll_s"] == 50.0
    assert second["lateness_s"] == second["wait_poll_s"] + second["wait_pacing_s"]


def _times(due: int, queued: int, sent: int) -> SendTimes:
    one = np.ones(1, dtype=np.int64)
    return SendTimes(due * one, queued * one, sent * one, np.full(1, NONE), 0 * one, one,
                     0 * one, one, due * one, 0 * one, np.array(["UTC"], dtype=object))


def test_an_outage_takes_precedence_over_a_full_device() -> None:
    # Polls every minute from 10:00; an outage 10:00-10:02 while the device is full
    # from 10:01 to 10:03: 2 minutes of outage, then 1 of device, then 1 of batch.
    scn = _scenario(policy={"outages": [{"start": "2025-07-03T10:00:00", "duration": "2m"}]})
    t0 = int(np.datetime64("2025-07-03T10:00:00", "us").astype(np.int64))
    m = 60_000_000
    log = WaitLog.of([(t0 + m, 0), (t0 + 3 * m, 0)])
    parts = wait_parts(scn, pd.DataFrame({"id": [1], "name": ["S"]}), ["dev-001"], log,
                       _times(t0, t0 + 4 * m, t0 + 4 * m))
    got = dict(zip(WAIT_COLUMNS, parts[0].tolist(), strict=True))
    assert got["wait_outage_s"] == 2 * m and got["wait_device_s"] == m
    assert got["wait_batch_s"] == m and sum(got.values()) == 4 * m


def test_stuck_claims_are_the_claim() -> None:
    result = seqsim.simulate(seqsim.Scenario.from_toml(FAULTS / "stuck_claims.toml"),
                             progress=False)
    sends = result.sends
    assert sends["wait_claim_s"].sum() > 0
    # A claim is released by the first poll 5 min after it: at least 5 minutes each.
    held = sends[sends["wait_claim_s"] > 0]
    assert (held["wait_claim_s"] >= 300).all()
    assert_invariants(result)


def test_a_database_clock_ahead_sends_early_by_the_offset() -> None:
    result = seqsim.simulate(seqsim.Scenario.from_toml(FAULTS / "clock_skew.toml"),
                             progress=False)
    offset = result.scenario.faults.db_clock_offset.total_seconds()
    sends = result.sends
    # Step 1 is due when its row is created: the clock cannot make it early. Step 2
    # is due 12 h after step 1: the clock 8 h ahead selects it 8 h early.
    first, second = sends[sends["day_number"] == 1], sends[sends["day_number"] == 2]
    assert (first["wait_clock_s"] == 0).all()
    assert len(second) and (second["wait_clock_s"] == -offset).all()
    assert wait_violations(sends) == []


def test_a_row_created_overdue_waited_for_the_previous_step() -> None:
    # Anchored with no delay: step 2 is due at enrolment, but the hourly limit sends
    # the second contact's step 1 an hour late, so its step 2 row is created overdue.
    scn = _scenario(policy={"delay_from": "enrollment"},
                    capacity={"devices": 1, "hourly_limit": 1},
                    sequences=_steps([0, 0]), workload=_burst(2, "10:00:00"))
    sends = _both(scn)
    assert sends["wait_previous_s"].gt(0).any()
    assert (sends.loc[sends["day_number"] == 1, "wait_previous_s"] == 0).all()


def test_without_the_run_the_causes_are_unknown() -> None:
    result = seqsim.simulate(_scenario(), progress=False)
    sends = build_sends(result.tables["messages"], result.tables["sequences"])
    assert sends[list(WAIT_COLUMNS)].isna().all().all()


@pytest.mark.parametrize("name", sorted(p.stem for p in FAULTS.glob("*.toml")))
def test_fault_scenarios_explain_their_lateness(name: str) -> None:
    result = seqsim.simulate(seqsim.Scenario.from_toml(FAULTS / f"{name}.toml"),
                             progress=False)
    assert wait_violations(result.sends) == []
