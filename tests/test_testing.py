"""seqsim.testing: the invariants a user's CI asserts on a run (tables and send log)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from seqsim import simulate
from seqsim.baseline import BaselineMismatch, record_baseline, write_baseline
from seqsim.testing import (
    InvariantError,
    assert_invariants,
    assert_matches_baseline,
    check_contacts,
    max_active_rows,
    result_violations,
    send_violations,
)
from tests.ci_helpers import break_engine, burst


@pytest.fixture(scope="module")
def run():
    return simulate(burst(), progress=False)


@pytest.fixture(scope="module")
def failing_run():
    """A run with failures and retries: rows complete, fail (after 2 attempts) or stay."""
    scenario = burst({"capacity.failure_rate": 0.4, "capacity.max_retries": 1})
    return simulate(scenario, progress=False)


def _with_sends(result, sends):
    """Return a shallow copy of ``result`` with another send log."""
    return type(result)(result.scenario, sends, result.timeline, result.contacts,
                        result.summary, result.tables, result.info)


def test_valid_runs_break_no_invariant(run, failing_run) -> None:
    assert result_violations(run) == []
    assert_invariants(run)
    assert (failing_run.contacts["status"] == "failed").any()
    assert (failing_run.sends["outcome"] == "failed").any()
    assert result_violations(failing_run) == []


def test_queue_policy_run_breaks_no_invariant() -> None:
    scenario = burst({"capacity.failure_rate": 0.3, "policy.progress_on": "queue"})
    result = simulate(scenario, progress=False)
    assert (result.sends["outcome"] == "failed").any()
    assert result_violations(result) == []


def test_pair_of_tables_still_accepted(run) -> None:
    assert_invariants((run.contacts, run.tables["sequence_steps"]))
    broken = run.contacts.copy()
    broken.loc[broken["status"] == "completed", "status"] = "active"
    with pytest.raises(InvariantError, match="more than one active row"):
        assert_invariants((broken, run.tables["sequence_steps"]))


def test_step_sent_before_due_is_caught(run) -> None:
    sends = run.sends.copy()
    sends.loc[0, "sent_at"] = sends.loc[0, "due_at"] - timedelta(minutes=5)
    with pytest.raises(InvariantError, match=r"1 sends went out before their step was due"):
        assert_invariants(_with_sends(run, sends))


def test_queued_before_due_is_caught(run) -> None:
    sends = run.sends.copy()
    sends.loc[3, "queued_at"] = sends.loc[3, "due_at"] - timedelta(hours=1)
    problems = result_violations(_with_sends(run, sends))
    assert any("queued before their step was due" in p for p in problems), problems


def test_duplicate_send_is_caught(run) -> None:
    sends = pd.concat([run.sends, run.sends.iloc[[5]]], ignore_index=True)
    with pytest.raises(InvariantError, match="1 steps were sent more than once"):
        assert_invariants(_with_sends(run, sends))


def test_send_without_contact_row_is_caught(run) -> None:
    extra = run.sends.iloc[[0]].assign(contact_phone="+19999999999")
    sends = pd.concat([run.sends, extra], ignore_index=True)
    with pytest.raises(InvariantError, match="have no sequence_contacts row"):
        assert_invariants(_with_sends(run, sends))


def test_completed_row_without_send_is_caught(run) -> None:
    sends = run.sends.drop(index=[7]).reset_index(drop=True)
    with pytest.raises(InvariantError, match="1 completed rows have no successful send"):
        assert_invariants(_with_sends(run, sends))


def test_failed_row_needs_max_retries_plus_one_attempts(failing_run) -> None:
    sends = failing_run.sends
    failed_rows = failing_run.contacts[failing_run.contacts["status"] == "failed"]
    phone = failed_rows.iloc[0]["contact_phone"]
    day = failed_rows.iloc[0]["current_step"]
    drop = sends[(sends["contact_phone"] == phone) & (sends["day_number"] == day)].index[:1]
    problems = result_violations(_with_sends(failing_run, sends.drop(index=drop)))
    assert any("do not have max_retries + 1 = 2 failed attempts" in p for p in problems), problems


def test_send_violations_takes_plain_frames(run) -> None:
    assert send_violations(run.sends, run.contacts, run.tables["sequences"]) == []


def test_broken_engine_two_active_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    break_engine(monkeypatch)
    result = simulate(burst(), progress=False)
    assert result.summary["max_active_rows_per_contact"] >= 2
    with pytest.raises(InvariantError) as info:
        assert_invariants(result)
    message = str(info.value)
    assert "more than one active row" in message
    assert "sent but their row is not completed" in message


def test_assert_matches_baseline(run, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_baseline(tmp_path / "burst.json", record_baseline(burst()))
    report = assert_matches_baseline(run, path)
    assert report.ok
    smaller = simulate(burst({"capacity.devices": 3}), progress=False)
    with pytest.raises(BaselineMismatch) as info:
        assert_matches_baseline(smaller, path)
    assert isinstance(info.value, AssertionError)
    assert "summary.lateness_max_s" in str(info.value)
    assert "capacity.devices: 4 -> 3" in str(info.value)
    break_engine(monkeypatch)
    broken = simulate(burst(), progress=False)
    with pytest.raises(AssertionError, match="max_active_rows_per_contact"):
        assert_matches_baseline(broken, path)


def test_max_active_rows_one_pass_agrees_with_the_sweep(run) -> None:
    steps = run.tables["sequence_steps"]
    contacts = run.contacts
    assert check_contacts(contacts, steps).max_active_rows == max_active_rows(contacts) == 1
    # The design it replaced: every step's row active from enrolment on.
    entry = contacts.groupby(["sequence_id", "contact_phone"])["created_at"].transform("min")
    all_at_once = contacts.assign(created_at=entry)
    steps_per_contact = int(contacts.groupby("contact_phone").size().max())
    assert max_active_rows(all_at_once) == steps_per_contact
    assert check_contacts(all_at_once, steps, check_timing=False).max_active_rows == (
        steps_per_contact
    )
    # A row left active under a later one overlaps it until the run ends.
    left_open = contacts.copy()
    first = left_open.index[left_open["status"] == "completed"][0]
    left_open.loc[first, ["status", "completed_at"]] = ["active", pd.NaT]
    assert check_contacts(left_open, steps, check_timing=False).max_active_rows == 2
