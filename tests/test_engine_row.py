"""The one-by-one rules of shared/domain.md, one test (or more) per rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from seqsim.engine import row, row_queries, row_send
from seqsim.engine.rules import Schedule
from seqsim.errors import EngineError
from seqsim.model.policy import PolicyConfig
from seqsim.model.sequence import SequenceConfig
from seqsim.run import clock
from seqsim.testing import assert_invariants, invariant_violations
from seqsim.units import to_us
from tests.conftest import T0, make_db, table

H = timedelta(hours=1)


def _check(con) -> None:
    assert_invariants((table(con, "sequence_contacts"), table(con, "sequence_steps")))


def _run_to_end(con, *, late: dict[int, timedelta] | None = None, limit: int = 50) -> list:
    """Complete every due row as soon as it is due (+ optional lateness per day)."""
    late = late or {}
    sends = []
    for _ in range(limit):
        nxt = con.execute(
            "SELECT min(next_trigger_time) FROM sequence_contacts WHERE status = 'active'"
        ).fetchone()[0]
        if nxt is None:
            return sends
        due = row_send.due_rows(con, 100, now=nxt)
        for r in due:
            at = nxt + late.get(r.current_step, timedelta(0))
            sends.append((r.contact_phone, r.sequence_id, r.current_step, at))
            row.complete_step(con, r.id, now=at)
        _check(con)
    raise AssertionError("did not finish")


# Rule 1: enrolment creates only the entry step's row.
def test_enrolment_creates_only_the_entry_row(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    result = row.enroll(con, "COLD", "+1", now=T0)
    assert result.enrolled and result.reason == "enrolled"
    rows = table(con, "sequence_contacts")
    assert len(rows) == 1
    r = rows.iloc[0]
    assert (r.status, r.current_step, r.current_trigger) == ("active", 1, "cold_day1")
    assert r.next_trigger_time == T0 and r.created_at == T0
    assert r.contact_name == "lead +1" and r.assigned_device_id == "dev-001"
    assert r.retry_count == 0


def test_reenrolment_is_a_noop_that_says_so(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    row.enroll(con, "COLD", "+1", now=T0)
    again = row.enroll(con, "COLD", "+1", now=T0 + H)
    assert not again.enrolled and "already enrolled" in again.reason
    assert len(table(con, "sequence_contacts")) == 1
    # Even after the contact moved on, the entry row blocks a second start.
    row.complete_step(con, 1, now=T0 + H)
    assert not row.enroll(con, "COLD", "+1", now=T0 + 2 * H).enrolled
    _check(con)


def test_enrol_by_trigger_keyword(cold: SequenceConfig) -> None:
    warm = SequenceConfig("WARM", "warm", (1, 2))
    con = make_db([cold, warm], [("+1", "vip, cold"), ("+2", "none"), ("+3", "cold,warm")])
    assert [e.sequence for e in row.enroll_lead(con, "+1", now=T0)] == ["COLD"]
    assert row.enroll_lead(con, "+2", now=T0) == []
    assert [e.sequence for e in row.enroll_lead(con, "+3", now=T0)] == ["COLD", "WARM"]
    assert not any(e.enrolled for e in row.enroll_lead(con, "+3", now=T0))


def test_enroll_new_leads_is_the_poll_step(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold"), ("+2", "cold"), ("+3", "other")])
    assert [e.phone for e in row.enroll_new_leads(con, now=T0)] == ["+1", "+2"]
    assert row.enroll_new_leads(con, now=T0 + H) == []


def test_inactive_sequence_is_not_enrolled_or_processed() -> None:
    seq = SequenceConfig("OFF", "off", (1, 2), is_active=False)
    con = make_db([seq], [("+1", "off")])
    assert row.enroll_lead(con, "+1", now=T0) == []
    direct = row.enroll(con, "OFF", "+1", now=T0)
    assert not direct.enrolled and direct.reason == "sequence is inactive"


def test_unknown_sequence_and_lead(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    with pytest.raises(EngineError, match=r"sequence: 'NOPE' is not valid; no such sequence"):
        row.enroll(con, "NOPE", "+1", now=T0)
    with pytest.raises(EngineError, match=r"leads\.phone: '\+9' is not valid; no such lead"):
        row.enroll(con, "COLD", "+9", now=T0)
    with pytest.raises(EngineError, match=r"no such lead"):
        row.enroll_lead(con, "+9", now=T0)
    with pytest.raises(EngineError, match=r"sequence_contacts\.id: 99 .*no such row"):
        row.complete_step(con, 99, now=T0)


# Rule 2: processing picks active, due, unclaimed rows, oldest first, batch-limited.
def test_due_rows_oldest_first_limited_and_unclaimed(cold: SequenceConfig) -> None:
    con = make_db([cold], [(f"+{i}", "cold") for i in range(1, 6)])
    for i in (3, 1, 2, 5, 4):
        row.enroll(con, "COLD", f"+{i}", now=T0 + i * timedelta(minutes=1))
    assert row_send.due_rows(con, 10, now=T0) == []
    due = row_send.due_rows(con, 3, now=T0 + 10 * H)
    assert [r.contact_phone for r in due] == ["+1", "+2", "+3"]
    assert row_send.claim(con, due[0].id, "dev-001", now=T0 + 10 * H)
    assert [r.contact_phone for r in row_send.due_rows(con, 10, now=T0 + 10 * H)] == [
        "+2", "+3", "+4", "+5"
    ]
    # Not yet due at the instant before +4 was enrolled.
    assert len(row_send.due_rows(con, 10, now=T0 + 3 * timedelta(minutes=1))) == 2
    with pytest.raises(EngineError, match="batch_size: 0"):
        row_send.due_rows(con, 0, now=T0)


def test_ties_are_ordered_by_sequence_then_phone_not_row_id(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+2", "cold"), ("+1", "cold")])
    row.enroll(con, "COLD", "+2", now=T0)
    row.enroll(con, "COLD", "+1", now=T0)
    assert [r.contact_phone for r in row_send.due_rows(con, 10, now=T0)] == ["+1", "+2"]


def test_double_claim_fails(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    assert row_send.claim(con, rid, "dev-001", now=T0)
    assert not row_send.claim(con, rid, "dev-002", now=T0)
    r = table(con, "sequence_contacts").iloc[0]
    assert r.processing_device_id == "dev-001" and r.processing_started_at == T0


def test_stale_claims_are_released_with_a_retry(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    row_send.claim(con, rid, "dev-001", now=T0)
    timeout = timedelta(minutes=5)
    assert row_send.release_stale_claims(con, timeout, now=T0 + timedelta(minutes=4)) == []
    assert row_send.release_stale_claims(con, timeout, now=T0 + timedelta(minutes=6)) == [rid]
    r = table(con, "sequence_contacts").iloc[0]
    assert r.retry_count == 1 and r.processing_device_id is None
    assert len(row_send.due_rows(con, 10, now=T0 + timedelta(minutes=6))) == 1


# Rule 3: completion marks completed and inserts the next step, due after its delay.
def test_complete_creates_next_step_due_after_its_delay(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    adv = row.complete_step(con, rid, now=T0 + timedelta(seconds=15))
    assert adv.completed and not adv.finished and adv.next_row_id is not None
    rows = table(con, "sequence_contacts")
    assert rows.status.tolist() == ["completed", "active"]
    assert rows.completed_at.iloc[0] == T0 + timedelta(seconds=15)
    nxt = rows.iloc[1]
    assert (nxt.current_step, nxt.current_trigger) == (3, "cold_day3")
    assert nxt.next_trigger_time == T0 + timedelta(seconds=15) + 48 * H
    _check(con)


def test_completing_twice_is_a_noop(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    row.complete_step(con, rid, now=T0)
    again = row.complete_step(con, rid, now=T0 + H)
    assert not again.completed and "completed, not active" in again.reason
    assert len(table(con, "sequence_contacts")) == 2


@pytest.mark.parametrize(
    ("days", "delays"),
    [((1, 3, 6, 9), (0, 48, 72, 72)), ((2, 5, 10), (0, 72, 120))],
)
def test_non_consecutive_day_numbers(days: tuple, delays: tuple) -> None:
    seq = SequenceConfig("S", "s", days)
    con = make_db([seq], [("+1", "s")])
    row.enroll(con, "S", "+1", now=T0)
    sends = _run_to_end(con)
    assert [s[2] for s in sends] == list(days)
    offsets = [(s[3] - T0) / H for s in sends]
    assert offsets == [sum(delays[: i + 1]) for i in range(len(days))]
    rows = table(con, "sequence_contacts")
    assert rows.current_step.tolist() == list(days)
    assert set(rows.status) == {"completed"}


def test_a_late_step_pushes_every_later_step_back(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold"), ("+2", "cold")])
    row.enroll(con, "COLD", "+1", now=T0)
    row.enroll(con, "COLD", "+2", now=T0)
    on_time = {s[2]: s[3] for s in _run_to_end(con) if s[0] == "+1"}
    con2 = make_db([cold], [("+1", "cold")])
    row.enroll(con2, "COLD", "+1", now=T0)
    late = {s[2]: s[3] for s in _run_to_end(con2, late={3: 3 * H})}
    assert late[1] == on_time[1]
    assert late[3] == on_time[3] + 3 * H
    assert late[6] == on_time[6] + 3 * H
    assert late[9] == on_time[9] + 3 * H


# Rule 4: the last step removes the trigger; chaining enrols the next sequence.
def test_last_step_removes_the_trigger(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "vip,cold,x")])
    row.enroll_lead(con, "+1", now=T0)
    _run_to_end(con)
    assert table(con, "leads").trigger.tolist() == ["vip,x"]
    assert row.enroll_new_leads(con, now=T0 + 1000 * H) == []


def test_cold_warm_chaining() -> None:
    cold = SequenceConfig("COLD", "cold", (1, 3), next="WARM")
    warm = SequenceConfig("WARM", "warm", (1, 2), next="HOT")
    hot = SequenceConfig("HOT", "hot", (1,))
    con = make_db([cold, warm, hot], [("+1", "cold")])
    row.enroll_lead(con, "+1", now=T0)
    sends = _run_to_end(con)
    assert [(s[1], s[2]) for s in sends] == [(1, 1), (1, 3), (2, 1), (2, 2), (3, 1)]
    rows = table(con, "sequence_contacts")
    assert len(rows) == 5 and set(rows.status) == {"completed"}
    # WARM's entry row is due at COLD's last completion.
    warm_entry = rows[(rows.sequence_id == 2) & (rows.current_step == 1)].iloc[0]
    assert warm_entry.next_trigger_time == sends[1][3]
    assert table(con, "leads").trigger.isna().all()


def test_chain_reports_the_enrolment() -> None:
    cold = SequenceConfig("COLD", "cold", (1,), next="WARM")
    warm = SequenceConfig("WARM", "warm", (1,))
    con = make_db([cold, warm], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    adv = row.complete_step(con, rid, now=T0)
    assert adv.finished and adv.chained is not None and adv.chained.sequence == "WARM"
    assert table(con, "leads").trigger.tolist() == ["warm"]


# Failures and retries.
def test_fail_step_retries_then_fails(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    row_send.claim(con, rid, "dev-001", now=T0)
    assert row_send.fail_step(con, rid, "timeout", max_retries=2, now=T0) == "active"
    assert row_send.fail_step(con, rid, "timeout", max_retries=2, now=T0) == "active"
    assert len(row_send.due_rows(con, 10, now=T0)) == 1
    assert row_send.fail_step(con, rid, "device offline", max_retries=2, now=T0 + H) == "failed"
    r = table(con, "sequence_contacts").iloc[0]
    assert (r.status, r.retry_count, r.last_error) == ("failed", 3, "device offline")
    assert r.failed_at == T0 + H
    assert row_send.due_rows(con, 10, now=T0 + H) == []
    with pytest.raises(EngineError, match="the row is failed, not active"):
        row_send.fail_step(con, rid, "x", max_retries=2, now=T0)
    with pytest.raises(EngineError, match="max_retries: -1"):
        row_send.fail_step(con, rid, "x", max_retries=-1, now=T0)
    _check(con)


def test_messages_log_queue_and_delivery(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    row.enroll(con, "COLD", "+1", now=T0)
    due = row_send.due_rows(con, 10, now=T0 + H)[0]
    row_send.claim(con, due.id, "dev-001", now=T0 + H)
    mid = row_send.queue_message(con, due, "dev-001", scheduled_at=T0 + H + timedelta(seconds=9),
                            now=T0 + H)
    row_send.record_delivery(con, mid, "sent", now=T0 + H + timedelta(seconds=9))
    msg = table(con, "messages").iloc[0]
    assert (msg.due_at, msg.queued_at, msg.sent_at) == (
        T0, T0 + H, T0 + H + timedelta(seconds=9)
    )
    assert (msg.outcome, msg.attempt, msg.day_number) == ("sent", 1, 1)
    with pytest.raises(EngineError, match="no such message waiting"):
        row_send.record_delivery(con, mid, "sent", now=T0 + 2 * H)
    with pytest.raises(EngineError, match="outcome: 'lost'"):
        row_send.record_delivery(con, mid, "lost", now=T0 + 2 * H)


def test_engine_reads_the_virtual_clock_by_default(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    with clock.VirtualClock(datetime(2025, 7, 1, 9)) as c:
        rid = row.enroll(con, "COLD", "+1").row_id
        c.tick(timedelta(minutes=1))
        assert [r.id for r in row_send.due_rows(con, 10)] == [rid]
        row_send.claim(con, rid, "dev-001")
        c.tick(timedelta(minutes=1))
        row.complete_step(con, rid)
    rows = table(con, "sequence_contacts")
    assert rows.created_at.iloc[0] == datetime(2025, 7, 1, 9)
    assert rows.processing_started_at.isna().all()
    assert rows.completed_at.iloc[0] == datetime(2025, 7, 1, 9, 2)
    assert rows.next_trigger_time.iloc[1] == datetime(2025, 7, 3, 9, 2)


def test_invariant_checker_catches_a_crash_between_complete_and_insert(
    cold: SequenceConfig,
) -> None:
    """The production failure: completed without a next row is a lost contact."""
    con = make_db([cold], [("+1", "cold"), ("+2", "cold")])
    for phone in ("+1", "+2"):
        row.enroll(con, "COLD", phone, now=T0)
    con.execute("UPDATE sequence_contacts SET status = 'completed', completed_at = ? "
                "WHERE contact_phone = '+1'", [T0])
    problems = invariant_violations(table(con, "sequence_contacts"), table(con, "sequence_steps"))
    assert len(problems) == 1 and "1 contacts are lost" in problems[0]


def test_invariant_checker_catches_two_active_rows(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    row.complete_step(con, rid, now=T0)
    con.execute("UPDATE sequence_contacts SET status = 'active' WHERE id = ?", [rid])
    problems = invariant_violations(table(con, "sequence_contacts"), table(con, "sequence_steps"))
    assert any("more than one active row" in p for p in problems)


def test_invariant_checker_catches_wrong_delay(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    rid = row.enroll(con, "COLD", "+1", now=T0).row_id
    row.complete_step(con, rid, now=T0)
    con.execute("UPDATE sequence_contacts SET next_trigger_time = next_trigger_time + "
                "INTERVAL 1 HOUR WHERE status = 'active'")
    problems = invariant_violations(table(con, "sequence_contacts"), table(con, "sequence_steps"))
    assert len(problems) == 1 and "previous step's completion" in problems[0]


# ------------------------------------------------------------------ policies

H = timedelta(hours=1)
ALL_AT = Schedule.of(PolicyConfig(strategy="all_at_enrollment"))


def test_all_at_enrollment_creates_every_row_at_its_offset(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    row.enroll(con, "COLD", "+1", now=T0, schedule=ALL_AT)
    rows = table(con, "sequence_contacts")
    assert rows["current_step"].tolist() == [1, 3, 6, 9]
    assert rows["status"].tolist() == ["active"] * 4
    assert rows["next_trigger_time"].tolist() == [T0, T0 + 48 * H, T0 + 120 * H, T0 + 192 * H]
    assert set(rows["created_at"]) == {T0}
    # Completing a step inserts nothing; the last one finishes the sequence.
    assert row.complete_step(con, 1, now=T0, schedule=ALL_AT).next_row_id is None
    assert len(table(con, "sequence_contacts")) == 4
    assert row.complete_step(con, 4, now=T0 + 200 * H, schedule=ALL_AT).finished


@pytest.mark.parametrize(
    ("delay_from", "due"),
    [("next_step", T0 + 53 * H),        # completed at 5 h + step 3's 48 h
     ("completed_step", T0 + 5 * H),    # + the entry step's own 0 h
     ("enrollment", T0 + 48 * H)],      # the entry's due time (T0) + 48 h
)
def test_delay_from_sets_the_next_due_time(cold: SequenceConfig, delay_from: str,
                                           due: datetime) -> None:
    con = make_db([cold], [("+1", "cold")])
    row.enroll(con, "COLD", "+1", now=T0)
    schedule = Schedule.of(PolicyConfig(delay_from=delay_from))
    row.complete_step(con, 1, now=T0 + 5 * H, schedule=schedule)
    assert table(con, "sequence_contacts")["next_trigger_time"].tolist()[1] == due


def test_skipped_step_is_completed_with_the_marker(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold")])
    row.enroll(con, "COLD", "+1", now=T0)
    advance = row.complete_step(con, 1, now=T0 + H, skipped=True)
    rows = table(con, "sequence_contacts")
    assert advance.completed and rows["last_error"].tolist()[0] == "skipped: overdue at recovery"
    assert rows["status"].tolist() == ["completed", "active"]


def test_windows_select_only_open_sequence_zone_pairs(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold"), ("+2", "cold")])
    con.execute("UPDATE leads SET timezone = 'Asia/Singapore' WHERE phone = '+2'")
    for phone in ("+1", "+2"):
        row.enroll(con, "COLD", phone, now=T0)
    only_utc = row_send.OpenWindows(windowed=[1], open=["1|UTC"])
    assert [r.contact_phone for r in row_send.due_rows(con, 10, now=T0, windows=only_utc)] == ["+1"]
    none_open = row_send.OpenWindows(windowed=[1], open=[])
    assert row_send.due_rows(con, 10, now=T0, windows=none_open) == []
    unwindowed = row_send.OpenWindows(windowed=[], open=[])
    assert len(row_send.due_rows(con, 10, now=T0, windows=unwindowed)) == 2
    waiting = row_queries.WaitingRows.read(con, {1}, zones=True)
    assert sorted(zip(waiting.due.tolist(), waiting.sequences, waiting.zones, strict=True)) == [
        (to_us(T0), 1, "Asia/Singapore"), (to_us(T0), 1, "UTC")]


def test_overdue_rows_and_reschedule(cold: SequenceConfig) -> None:
    con = make_db([cold], [("+1", "cold"), ("+2", "cold")])
    row.enroll(con, "COLD", "+1", now=T0, schedule=ALL_AT)
    row.enroll(con, "COLD", "+2", now=T0 + 50 * H, schedule=ALL_AT)
    recovery = T0 + 60 * H
    # +1's entry (T0) and day 3 (T0 + 48 h) and +2's entry are overdue.
    assert len(row_queries.overdue_rows(con, recovery)) == 3
    assert row_queries.overdue_rows(con, T0 + H) == [1]
    moved = row_queries.reschedule_overdue(con, now=recovery)
    assert moved == 8  # every waiting row of both contacts
    due = table(con, "sequence_contacts").set_index(["contact_phone", "current_step"])
    due = due["next_trigger_time"]
    # +1 moved by 60 h (its earliest was T0), +2 by 10 h: spacing kept.
    assert due[("+1", 1)] == recovery and due[("+1", 3)] == recovery + 48 * H
    assert due[("+2", 1)] == recovery and due[("+2", 9)] == recovery + 192 * H
