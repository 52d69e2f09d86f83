"""seqsim.testing: the invariants a user's CI asserts on a run (tables and send log)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import pytest

from seqsim import PolicyConfig, simulate
from seqsim.baseline import BaselineMismatch, record_baseline, write_baseline
from seqsim.engine.schema import canonical_frame, column_types
from seqsim.testing import (
    InvariantError,
    assert_invariants,
    assert_matches_baseline,
    check_contacts,
    invariant_violations,
    max_active_rows,
    result_violations,
    send_violations,
    skipped_rows,
)
from tests.ci_helpers import break_engine, burst
from tests.definitions import cold_tables


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


@pytest.mark.parametrize("as_category", [False, True])
def test_unknown_and_missing_statuses_are_caught(run, as_category: bool) -> None:
    steps = run.tables["sequence_steps"]
    contacts = run.contacts.copy()
    if as_category:  # as a run's own checks read it (KernelTables.working)
        contacts["status"] = contacts["status"].astype("category")
    assert not [p for p in check_contacts(contacts, steps).problems if "status" in p]
    broken = contacts.copy()
    if as_category:
        broken["status"] = broken["status"].cat.add_categories(["paused"])
    broken.loc[[1, 4], "status"] = ["paused", None]
    problems = check_contacts(broken, steps).problems
    assert [p for p in problems if "status" in p] == [
        f"2 rows have an unknown status: id={broken.loc[1, 'id']}, status=paused; "
        f"id={broken.loc[4, 'id']}, status=nan"], problems


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


# ------------------------------------------------------------------ hand-built tables

T0 = datetime(2025, 7, 1)
H = timedelta(hours=1)
M = timedelta(minutes=1)
SKIPPED = "skipped: overdue at recovery"


STEPS = cold_tables()["sequence_steps"]
SEQUENCES = cold_tables()["sequences"]


def contacts(*rows: tuple) -> pd.DataFrame:
    """Rows ``(phone, day, status, created_at, due, completed_at[, last_error])``, ids 1.."""
    step = STEPS.set_index("day_number")
    frame = pd.DataFrame(
        [
            {
                "id": i, "sequence_id": 1, "contact_phone": phone, "current_step": day,
                "status": status, "current_trigger": step.loc[day, "trigger"],
                "next_trigger_time": due, "sequence_stepid": step.loc[day, "id"],
                "completed_at": done, "created_at": created, "retry_count": 0,
                "last_error": rest[0] if rest else None,
            }
            for i, (phone, day, status, created, due, done, *rest) in enumerate(rows, start=1)
        ]
    )
    for name, _ in column_types("sequence_contacts"):
        if name not in frame:
            frame[name] = pd.Series([None] * len(frame), dtype=object)
    return canonical_frame("sequence_contacts", frame)


def one_by_one(delay_from: str = "next_step") -> pd.DataFrame:
    """One contact through COLD, one-by-one: step 1 completes at +5 min, step 2
    at +48h20m, step 3 is active; due times as ``delay_from`` says."""
    c1, c2 = T0 + 5 * M, T0 + 48 * H + 20 * M
    due2, due3 = {
        "next_step": (c1 + 48 * H, c2 + 72 * H),
        "completed_step": (c1, c2 + 48 * H),
        "enrollment": (T0 + 48 * H, T0 + 120 * H),
    }[delay_from]
    return contacts(
        ("+1", 1, "completed", T0, T0, c1),
        ("+1", 3, "completed", c1, due2, c2),
        ("+1", 6, "active", c2, due3, None),
    )


def at_enrolment(delay_from: str = "next_step") -> pd.DataFrame:
    """One contact, all_at_enrollment: every row created at T0; step 1 sent."""
    due2, due3 = (T0, T0 + 48 * H) if delay_from == "completed_step" else (
        T0 + 48 * H, T0 + 120 * H)
    return contacts(
        ("+1", 1, "completed", T0, T0, T0 + 5 * M),
        ("+1", 3, "active", T0, due2, None),
        ("+1", 6, "active", T0, due3, None),
    )


def shift_due(frame: pd.DataFrame, row_id: int, by: timedelta = H) -> pd.DataFrame:
    out = frame.copy()
    out.loc[out["id"] == row_id, "next_trigger_time"] += by
    return out


@pytest.mark.parametrize("delay_from", ["next_step", "completed_step", "enrollment"])
def test_timing_one_by_one_follows_delay_from(delay_from: str) -> None:
    policy = PolicyConfig(delay_from=delay_from)
    table = one_by_one(delay_from)
    assert invariant_violations(table, STEPS, policy=policy) == []
    problems = invariant_violations(shift_due(table, 3), STEPS, policy=policy)
    assert len(problems) == 1 and "1 rows are not due at" in problems[0], problems
    assert "id=3" in problems[0]
    # The other rules' tables do not pass under this one.
    for other in {"next_step", "completed_step", "enrollment"} - {delay_from}:
        assert invariant_violations(one_by_one(other), STEPS, policy=policy) != []


def test_timing_messages_name_the_rule() -> None:
    cases = [
        ("next_step", "previous step's completion + their step's delay"),
        ("completed_step", "previous step's completion + the previous step's delay"),
        ("enrollment", "previous row's due time + their step's delay"),
    ]
    for delay_from, text in cases:
        broken = shift_due(one_by_one(delay_from), 2)
        with pytest.raises(InvariantError, match=re.escape(text)):
            assert_invariants((broken, STEPS), policy=PolicyConfig(delay_from=delay_from))


def test_default_policy_is_next_step_one_by_one() -> None:
    assert invariant_violations(one_by_one(), STEPS) == []
    assert invariant_violations(one_by_one(), STEPS, policy=PolicyConfig()) == []
    assert invariant_violations(one_by_one("enrollment"), STEPS) != []


def test_one_by_one_row_needs_its_previous_row_completed() -> None:
    table = one_by_one("enrollment")
    table.loc[table["id"] == 2, ["status", "completed_at"]] = ["active", pd.NaT]
    problems = invariant_violations(table, STEPS, policy=PolicyConfig(delay_from="enrollment"))
    assert any("more than one active row" in p for p in problems)
    assert any("1 rows are not due at the previous row's due time" in p and "id=3" in p
               for p in problems), problems


@pytest.mark.parametrize("delay_from", ["next_step", "completed_step", "enrollment"])
def test_timing_all_at_enrollment(delay_from: str) -> None:
    policy = PolicyConfig(strategy="all_at_enrollment", delay_from=delay_from)
    table = at_enrolment(delay_from)
    assert invariant_violations(table, STEPS, policy=policy) == []
    problems = invariant_violations(shift_due(table, 2, -H), STEPS, policy=policy)
    # row 2 off by an hour; row 3 is anchored on row 2's due time, so it is off too
    assert len(problems) == 1 and problems[0].startswith("2 rows are not due at the previous "
                                                         "row's due time"), problems
    assert "id=2" in problems[0] and "id=3" in problems[0]
    problems = invariant_violations(shift_due(table, 3), STEPS, policy=policy)
    assert len(problems) == 1 and "1 rows are not due" in problems[0] and "id=3" in problems[0]


def test_all_at_enrollment_rows_are_created_at_enrolment() -> None:
    policy = PolicyConfig(strategy="all_at_enrollment")
    table = at_enrolment()
    table.loc[table["id"] == 3, "created_at"] = T0 + M
    with pytest.raises(InvariantError, match=r"1 rows were not created with their contact's "
                                             r"entry row .*id=3"):
        assert_invariants((table, STEPS), policy=policy)


def test_several_active_rows_allowed_only_all_at_enrollment() -> None:
    table = at_enrolment()
    all_at = PolicyConfig(strategy="all_at_enrollment")
    checks = check_contacts(table, STEPS, policy=all_at)
    assert checks.problems == [] and checks.max_active_rows == 3
    problems = invariant_violations(table, STEPS, check_timing=False)
    assert len(problems) == 1
    assert "1 contacts have more than one active row in a sequence (max 2)" in problems[0]


def outage_policy(catch_up: str) -> PolicyConfig:
    return PolicyConfig(catch_up=catch_up,
                        outages=[{"start": "2025-07-02T00:00:00", "duration": "2d"}])


def test_rescheduled_due_times_are_not_checked_after_an_outage() -> None:
    moved = shift_due(one_by_one(), 3, 7 * H)
    assert invariant_violations(moved, STEPS, policy=outage_policy("reschedule")) == []
    # without an outage nothing was rescheduled: the check applies
    assert invariant_violations(moved, STEPS, policy=PolicyConfig(catch_up="reschedule")) != []
    assert invariant_violations(moved, STEPS, policy=outage_policy("burst")) != []
    # the structural checks still run
    early_entry = shift_due(moved, 1)
    assert invariant_violations(early_entry, STEPS, policy=outage_policy("reschedule")) == []
    lost = moved[moved["id"] != 3]
    assert any("contacts are lost" in p for p in
               invariant_violations(lost, STEPS, policy=outage_policy("reschedule")))


def test_skipped_step_counts_as_completed_at_the_skip() -> None:
    skip = T0 + 50 * H
    table = contacts(
        ("+1", 1, "completed", T0, T0, T0 + 5 * M),
        ("+1", 3, "completed", T0 + 5 * M, T0 + 5 * M + 48 * H, skip, SKIPPED),
        ("+1", 6, "active", skip, skip + 72 * H, None),
    )
    policy = outage_policy("skip_stale")
    assert invariant_violations(table, STEPS, policy=policy) == []
    assert invariant_violations(shift_due(table, 3), STEPS, policy=policy) != []


def sends_of(rows: list[tuple]) -> pd.DataFrame:
    """Send rows ``(phone, day, sent_at, outcome)`` of COLD."""
    return pd.DataFrame(
        [{"contact_phone": p, "sequence": "COLD", "day_number": d, "due_at": T0,
          "sent_at": t, "outcome": o, "attempt": 1} for p, d, t, o in rows]
    )


def test_send_violations_skipped_rows_need_no_send() -> None:
    table = contacts(
        ("+1", 1, "completed", T0, T0, T0 + M),
        ("+1", 3, "completed", T0 + M, T0 + 48 * H + M, T0 + 60 * H, SKIPPED),
        ("+2", 1, "completed", T0, T0, T0 + M, "an old error"),
    )
    sends = sends_of([("+1", 1, T0 + M, "sent"), ("+2", 1, T0 + M, "sent")])
    assert send_violations(sends, table, SEQUENCES) == []
    assert send_violations(sends, table, SEQUENCES, progress_on="queue") == []
    # a failed attempt before the skip is fine; a successful one is not
    failed = pd.concat([sends, sends_of([("+1", 3, T0 + 49 * H, "failed")])])
    assert send_violations(failed, table, SEQUENCES) == []
    sent = pd.concat([sends, sends_of([("+1", 3, T0 + 49 * H, "sent")])])
    problems = send_violations(sent, table, SEQUENCES)
    assert len(problems) == 1 and "1 steps were skipped (catch_up = 'skip_stale') but also sent" \
        in problems[0]
    # a completed row whose last_error is not a skip still needs its send
    problems = send_violations(sends.iloc[:1], table, SEQUENCES)
    assert len(problems) == 1 and "1 completed rows have no successful send" in problems[0]
    assert "contact_phone=+2" in problems[0]
    assert skipped_rows(table).tolist() == [False, True, False]


def test_result_violations_use_the_run_policy(run) -> None:
    assert result_violations(run) == []
    # the run's tables are one-by-one: judged as all-at-enrolment they break it
    problems = result_violations(run, policy=PolicyConfig(strategy="all_at_enrollment"))
    assert any("were not created with their contact's entry row" in p for p in problems)
    with pytest.raises(InvariantError, match="previous row's due time"):
        assert_invariants(run, policy=PolicyConfig(delay_from="enrollment"))


@pytest.mark.parametrize("categorical", [False, True])
def test_a_row_whose_step_fields_disagree_with_its_step_is_named(categorical: bool) -> None:
    table = one_by_one()
    table.loc[table["id"] == 2, "current_trigger"] = "cold_day6"
    table.loc[table["id"] == 3, "current_step"] = 9
    if categorical:  # as a compiled run's own checks read it
        table["current_trigger"] = table["current_trigger"].astype("category")
    problems = invariant_violations(table, STEPS)
    assert len(problems) == 1, problems
    assert problems[0].startswith("2 rows have current_step/current_trigger different from "
                                  "their step's day_number/trigger: ")
    assert "id=2, current_step=3, day_number=3, current_trigger=cold_day6" in problems[0]
    assert "id=3, current_step=9, day_number=6" in problems[0]


def test_a_missing_current_trigger_is_a_wrong_step() -> None:
    table = one_by_one()
    table["current_trigger"] = table["current_trigger"].astype(object)
    table.loc[table["id"] == 1, "current_trigger"] = None
    problems = invariant_violations(table, STEPS)
    assert len(problems) == 1 and problems[0].startswith("1 rows have current_step"), problems


def test_a_row_naming_no_step_of_its_sequence_is_named_and_the_rest_checked() -> None:
    table = one_by_one()
    table.loc[table["id"] == 3, "sequence_stepid"] = 999
    problems = invariant_violations(table, STEPS)
    assert problems[0] == ("1 rows name a step that is not in sequence_steps: "
                           "id=3, sequence_id=1, sequence_stepid=999"), problems
    # Without its day-6 row the contact's completed day-3 row is lost.
    assert len(problems) == 2 and problems[1].startswith("1 contacts are lost"), problems
