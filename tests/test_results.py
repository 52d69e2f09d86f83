"""Result.save / load_result: round trip, the directory's files, atomic writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import seqsim
from seqsim import Result, Scenario, SeqsimError, load_result
from seqsim.checks.contacts import check_contacts
from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.engine.schema import canonical_frame, column_types, contact_pair_codes
from seqsim.results.result import SENDS_COLUMNS, SUMMARY_KEYS
from seqsim.results.sends import build_sends
from seqsim.results.summary import _max_sends_in_an_hour, build_summary
from seqsim.testing import assert_invariants
from tests.definitions import cold_tables
from tests.store_helpers import tiny_scenario as tiny

FILES = ["sends.parquet", "timeline.parquet", "contacts.parquet", "summary.json",
         "scenario.toml", "seqsim.duckdb"]


def simulate(scn: Scenario) -> Result:
    result = seqsim.simulate(scn, progress=False)
    assert_invariants(result)
    assert result.info["invariant_violations"] == []
    return result


@pytest.fixture(scope="module")
def result() -> Result:
    res = simulate(tiny())
    assert len(res.sends) > 0 and (res.sends["outcome"] == "failed").any()
    return res


@pytest.fixture(scope="module")
def other() -> Result:
    return simulate(tiny(seed=4, failure_rate=0.0))


def leftovers(parent: Path, name: str) -> list[str]:
    """Temporary siblings Result.save may have left next to ``parent / name``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def assert_same(a: Result, b: Result) -> None:
    assert_frame_equal(a.sends, b.sends)
    assert_frame_equal(a.timeline, b.timeline)
    assert_frame_equal(a.contacts, b.contacts)
    assert a.summary == b.summary
    assert a.scenario == b.scenario


def test_round_trip(result: Result, tmp_path: Path) -> None:
    out = result.save(tmp_path / "run1")
    assert out == tmp_path / "run1"
    loaded = load_result(out)
    assert_same(result, loaded)
    assert loaded.info == result.info
    assert set(loaded.tables) == set(result.tables)
    for name, frame in result.tables.items():
        assert_frame_equal(frame, loaded.tables[name], obj=name)
    assert_invariants(loaded)


def test_round_trip_accepts_str_path(result: Result, tmp_path: Path) -> None:
    result.save(str(tmp_path / "run"))
    assert_same(result, load_result(str(tmp_path / "run")))


def test_directory_contents(result: Result, tmp_path: Path) -> None:
    out = result.save(tmp_path / "deep" / "er" / "run1")
    names = {p.name for p in out.iterdir()}
    assert set(FILES) <= names
    assert json.loads((out / "summary.json").read_text()) == result.summary
    assert Scenario.from_toml(out / "scenario.toml") == result.scenario
    con = duckdb.connect(str(out / "seqsim.duckdb"), read_only=True)
    try:
        count = con.execute("SELECT count(*) FROM sequence_contacts").fetchone()[0]
        sends = con.execute("SELECT count(*) FROM sends").fetchone()[0]
        polls = con.execute("SELECT count(*) FROM timeline").fetchone()[0]
    finally:
        con.close()
    assert count == len(result.contacts) > 0
    assert sends == len(result.sends)
    assert polls == len(result.timeline)
    assert leftovers(out.parent, out.name) == []


def test_saving_over_a_result_directory_replaces_it(
    result: Result, other: Result, tmp_path: Path
) -> None:
    target = tmp_path / "run"
    result.save(target)
    other.save(target)
    loaded = load_result(target)
    assert_same(other, loaded)
    assert loaded.summary != result.summary
    assert leftovers(tmp_path, "run") == []
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_saving_into_an_empty_directory(result: Result, tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    result.save(target)
    assert_same(result, load_result(target))


def test_saving_into_a_foreign_directory_is_refused(result: Result, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(SeqsimError, match="not a seqsim result directory"):
        result.save(target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"
    assert leftovers(tmp_path, "mine") == []


def test_saving_over_a_file_is_refused(result: Result, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("data")
    with pytest.raises(SeqsimError, match="out:"):
        result.save(target)
    assert target.read_text() == "data"


def failing_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Result._write fail after writing its first file."""

    def _write(self: Result, folder: Path) -> None:
        self.sends.to_parquet(folder / "sends.parquet", index=False)
        raise OSError("disk full")

    monkeypatch.setattr(Result, "_write", _write)


def test_failure_while_writing_leaves_no_directory(
    result: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_write(monkeypatch)
    target = tmp_path / "run"
    with pytest.raises(OSError, match="disk full"):
        result.save(target)
    assert not target.exists()
    assert leftovers(tmp_path, "run") == []
    assert list(tmp_path.iterdir()) == []


def test_failure_while_replacing_keeps_the_old_result(
    result: Result, other: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "run"
    result.save(target)
    failing_write(monkeypatch)
    with pytest.raises(OSError, match="disk full"):
        other.save(target)
    assert_same(result, load_result(target))
    assert leftovers(tmp_path, "run") == []


def test_load_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SeqsimError, match="not a seqsim result directory") as info:
        load_result(tmp_path / "nope")
    for name in FILES:
        assert name in str(info.value)


def test_load_incomplete_directory_names_missing_files(result: Result, tmp_path: Path) -> None:
    out = result.save(tmp_path / "run")
    (out / "timeline.parquet").unlink()
    (out / "seqsim.duckdb").unlink()
    with pytest.raises(SeqsimError) as info:
        load_result(out)
    message = str(info.value)
    assert "timeline.parquet" in message and "seqsim.duckdb" in message
    assert "sends.parquet" not in message and "summary.json" not in message


def test_load_result_does_not_need_the_trace_file(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text(
        "timestamp,phone,trigger\n"
        "2025-07-01T00:10:00,+15550000001,cold\n"
        "2025-07-01T00:20:00,+15550000002,cold\n"
    )
    scn = Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "1h",
                       "poll_interval": "5m"},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1]}],
        "workload": [{"kind": "trace", "path": str(trace)}],
    })
    res = simulate(scn)
    out = res.save(tmp_path / "run")
    trace.unlink()
    loaded = load_result(out)
    assert_frame_equal(loaded.sends, res.sends)


# ------------------------------------------------------------------ schedule columns, new KPIs

T0 = datetime(2025, 7, 1)
H = timedelta(hours=1)
M = timedelta(minutes=1)


TABLES = cold_tables()
STEPS, SEQUENCES = TABLES["sequence_steps"], TABLES["sequences"]
STEP_ID = dict(zip(STEPS["day_number"], STEPS["id"], strict=True))


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    data = pd.DataFrame(rows)
    for name, _ in column_types(table):
        if name not in data:
            data[name] = pd.Series([None] * len(data), dtype=object)
    return canonical_frame(table, data)


def contacts_of(*rows: tuple) -> pd.DataFrame:
    """Rows ``(id, phone, day, status, created_at[, last_error])`` of COLD."""
    return frame("sequence_contacts", [
        {"id": i, "sequence_id": 1, "contact_phone": phone, "current_step": day,
         "status": status, "next_trigger_time": created, "sequence_stepid": STEP_ID[day],
         "created_at": created, "retry_count": 0, "last_error": rest[0] if rest else None,
         "completed_at": created if status == "completed" else None}
        for i, phone, day, status, created, *rest in rows
    ])


def messages_of(*rows: tuple) -> pd.DataFrame:
    """Rows ``(contact row id, phone, day, sent_at, outcome[, attempt])``, ids 1.. ."""
    return frame("messages", [
        {"id": i, "sequence_contact_id": cid, "contact_phone": phone, "sequence_id": 1,
         "sequence_stepid": STEP_ID[day], "day_number": day, "device_id": "dev-001",
         "due_at": sent, "queued_at": sent, "scheduled_at": sent, "sent_at": sent,
         "outcome": outcome, "attempt": rest[0] if rest else 1}
        for i, (cid, phone, day, sent, outcome, *rest) in enumerate(rows, start=1)
    ])


#: +1 enrolled at T0: day 1 sent 10 min late, day 3 exactly 48 h after it, day 6
#: 100 h after enrolment (early: 20 h before day 3's send + 72 h).
#: +2 enrolled at T0+1h: day 1 fails, then is sent at T0+3h; day 3 is sent at
#: T0+50h, before that first successful send + 48 h (early).
#: +3 enrolled at T0: day 1 only failed (never sent); day 3 sent at T0+48h.
CONTACTS = contacts_of(
    (1, "+1", 1, "completed", T0), (2, "+1", 3, "completed", T0 + 10 * M),
    (3, "+1", 6, "completed", T0 + 48 * H + 10 * M),
    (4, "+2", 1, "completed", T0 + H), (5, "+2", 3, "completed", T0 + 3 * H),
    (6, "+3", 1, "failed", T0), (7, "+3", 3, "completed", T0),
)
MESSAGES = messages_of(
    (1, "+1", 1, T0 + 10 * M, "sent"),
    (4, "+2", 1, T0 + H, "failed"),
    (6, "+3", 1, T0, "failed"),
    (4, "+2", 1, T0 + 3 * H, "sent", 2),
    (7, "+3", 3, T0 + 48 * H, "sent"),
    (2, "+1", 3, T0 + 48 * H + 10 * M, "sent"),
    (5, "+2", 3, T0 + 50 * H, "sent"),
    (3, "+1", 6, T0 + 100 * H, "sent"),
)


def sends_and_summary(contacts: pd.DataFrame = CONTACTS, messages: pd.DataFrame = MESSAGES
                      ) -> tuple[pd.DataFrame, dict]:
    sends = build_sends(messages, SEQUENCES, contacts=contacts, steps=STEPS)
    summary = build_summary(sends, pd.DataFrame({"backlog": [0]}), contacts, STEPS, messages)
    return sends, summary


def test_sends_designed_at_drift_and_early() -> None:
    sends, _ = sends_and_summary()
    assert list(sends.columns) == list(SENDS_COLUMNS)
    assert list(SENDS_COLUMNS[10:13]) == ["designed_at", "drift_hours", "early"]
    assert SENDS_COLUMNS[13:] == WAIT_COLUMNS  # NaN here: built without the run
    assert sends["designed_at"].dtype == "datetime64[us]"
    assert sends["drift_hours"].dtype == float and sends["early"].dtype == bool
    got = {(r.contact_phone, r.day_number, r.attempt): (r.designed_at, r.drift_hours, r.early)
           for r in sends.itertuples()}
    assert got == {
        ("+1", 1, 1): (T0, pytest.approx(1 / 6), False),
        ("+1", 3, 1): (T0 + 48 * H, pytest.approx(1 / 6), False),  # exactly on time: not early
        ("+1", 6, 1): (T0 + 120 * H, -20.0, True),
        ("+2", 1, 1): (T0 + H, 0.0, False),  # a failed attempt is never early
        ("+2", 1, 2): (T0 + H, 2.0, False),
        ("+2", 3, 1): (T0 + 49 * H, 1.0, True),  # before the first *successful* day 1 + 48 h
        ("+3", 1, 1): (T0, 0.0, False),
        ("+3", 3, 1): (T0 + 48 * H, 0.0, False),  # day 1 never sent: not early
    }
    assert sends["sent_at"].is_monotonic_increasing


def test_sends_without_the_tables_have_empty_schedule_columns() -> None:
    sends = build_sends(MESSAGES, SEQUENCES)
    assert list(sends.columns) == list(SENDS_COLUMNS)
    assert sends["designed_at"].isna().all() and sends["drift_hours"].isna().all()
    assert not sends["early"].any()
    # steps alone are enough for `early`
    sends = build_sends(MESSAGES, SEQUENCES, steps=STEPS)
    assert sends["designed_at"].isna().all()
    assert sorted(sends.loc[sends["early"], "contact_phone"]) == ["+1", "+2"]


def test_sparse_pair_codes_give_the_schedule_columns_of_dense_ones() -> None:
    dense = build_sends(MESSAGES, SEQUENCES, contacts=CONTACTS, steps=STEPS)
    sparse = build_sends(MESSAGES, SEQUENCES, contacts=CONTACTS, steps=STEPS,
                         pairs=contact_pair_codes(CONTACTS) * 10**12 + 5)
    pd.testing.assert_frame_equal(sparse, dense)
    assert dense["early"].any() and dense["designed_at"].notna().any()


def test_scattered_step_ids_give_what_close_ones_give(result: Result) -> None:
    """Step ids too far apart for a lookup table, or not integers, are found by
    hashing: same answers."""
    def scatter(ids: pd.Series) -> pd.Series:
        return ids.astype("int64") * 10**9 + 7

    far = {"sequence_steps": result.tables["sequence_steps"].assign(
               id=lambda f: scatter(f["id"])),
           "sequence_contacts": result.tables["sequence_contacts"].assign(
               sequence_stepid=lambda f: scatter(f["sequence_stepid"])),
           "messages": result.tables["messages"].assign(
               sequence_stepid=lambda f: scatter(f["sequence_stepid"]))}
    floats = {"sequence_steps": result.tables["sequence_steps"],
              "sequence_contacts": result.tables["sequence_contacts"].astype(
                  {"sequence_stepid": "float64"}),
              "messages": result.tables["messages"].astype({"sequence_stepid": "float64"})}
    for tables in (result.tables, far, floats):
        contacts, steps = tables["sequence_contacts"], tables["sequence_steps"]
        sends = build_sends(tables["messages"], result.tables["sequences"], contacts=contacts,
                            steps=steps)
        checks = check_contacts(contacts, steps)
        if tables is result.tables:
            close = (sends, checks)
        pd.testing.assert_frame_equal(sends, close[0])
        assert checks == close[1] and checks.problems == []
    assert sends["designed_at"].notna().all() and len(sends) > 0


def test_a_send_of_another_sequences_step_is_keyed_apart() -> None:
    # Sequence 2: day 1, then day 3 200 h later. Row 3's day-6 send (early in COLD)
    # is moved onto sequence 2's day 3: its previous step (sequence 2's day 1) was
    # never sent, so it is not early, though COLD's day 1 (same place in its
    # sequence) was sent 200 h before it is due.
    steps = pd.concat([STEPS, STEPS.iloc[:2].assign(
        id=[4, 5], sequence_id=2, day_number=[1, 3], trigger_delay_hours=[0, 200])],
        ignore_index=True)
    messages = MESSAGES.copy()
    moved = messages["sequence_contact_id"] == 3
    messages.loc[moved, "sequence_stepid"] = 5
    sends = build_sends(messages, SEQUENCES, contacts=CONTACTS, steps=steps)
    row = sends[sends["contact_phone"].eq("+1") & sends["sent_at"].eq(T0 + 100 * H)]
    assert row["early"].tolist() == [False]
    assert row["designed_at"].tolist() == [T0 + 200 * H]  # +1's enrolment + 200 h
    assert sends["early"].sum() == 1  # +2's day 3, as before


def test_summary_early_and_drift() -> None:
    _, summary = sends_and_summary()
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["early_sends"] == 2
    # successful drifts: -20, 0, 1/6, 1/6, 1, 2 (hours)
    assert summary["drift_hours_p50"] == 0.166667
    assert summary["drift_hours_p95"] == 1.75
    assert summary["drift_hours_max"] == 2.0
    assert summary["max_messages_per_contact_per_hour"] == 1
    assert summary["skipped_steps"] == 0
    json.dumps(summary)


def test_summary_without_sends() -> None:
    messages = MESSAGES.iloc[:0]
    sends, summary = sends_and_summary(messages=messages)
    assert sends.empty and list(sends.columns) == list(SENDS_COLUMNS)
    assert summary["early_sends"] == 0
    assert summary["drift_hours_p50"] is None and summary["drift_hours_max"] is None
    assert summary["max_messages_per_contact_per_hour"] == 0


@pytest.mark.parametrize(
    ("gaps", "most"),
    [
        ([0, 60], 1),  # exactly an hour apart: (t - 1h, t] leaves the first out
        ([0, 59], 2),
        ([0, 30, 61], 2),
        ([0, 0, 0], 3),
        ([0, 59, 118, 177], 2),
        ([], 0),
    ],
)
def test_max_sends_in_an_hour(gaps: list[int], most: int) -> None:
    times = np.array([T0 + g * M for g in gaps], dtype="datetime64[us]")
    assert _max_sends_in_an_hour(np.array(["+1"] * len(gaps), dtype=object), times) == most


def test_max_sends_in_an_hour_per_phone_not_across_phones() -> None:
    phones = np.array(["+1", "+2", "+1", "+2"], dtype=object)
    times = np.array([T0, T0 + M, T0 + 2 * H, T0 + 2 * H], dtype="datetime64[us]")
    assert _max_sends_in_an_hour(phones, times) == 1


def test_summary_max_messages_per_contact_per_hour() -> None:
    def most(*rows: tuple) -> int:
        contacts = contacts_of((1, "+1", 1, "completed", T0), (2, "+1", 3, "completed", T0))
        return sends_and_summary(contacts, messages_of(*rows))[1][
            "max_messages_per_contact_per_hour"]

    assert most((1, "+1", 1, T0, "sent"), (2, "+1", 3, T0 + H, "sent")) == 1
    assert most((1, "+1", 1, T0, "sent"), (2, "+1", 3, T0 + 59 * M, "sent")) == 2
    # failed attempts are not messages received
    assert most((1, "+1", 1, T0, "sent"), (2, "+1", 3, T0 + M, "failed"),
                (2, "+1", 3, T0 + 2 * H, "sent", 2)) == 1


def test_summary_skipped_steps() -> None:
    skipped = "skipped: overdue at recovery"
    contacts = contacts_of(
        (1, "+1", 1, "completed", T0), (2, "+1", 3, "completed", T0, skipped),
        (3, "+1", 6, "completed", T0, skipped),
        (4, "+2", 1, "failed", T0, skipped),  # not completed: not a skipped step
        (5, "+3", 1, "completed", T0, "timeout"),
    )
    _, summary = sends_and_summary(contacts, messages_of((1, "+1", 1, T0, "sent")))
    assert summary["skipped_steps"] == 2


def test_result_has_the_new_columns_and_keys(result: Result) -> None:
    assert list(result.sends.columns) == list(SENDS_COLUMNS)
    assert set(SUMMARY_KEYS) <= set(result.summary)
    sent = result.sends[result.sends["outcome"] == "sent"]
    assert result.summary["early_sends"] == 0  # one-by-one, progress on delivery
    assert result.summary["drift_hours_max"] == round(float(sent["drift_hours"].max()), 6)
    assert (sent["drift_hours"] >= 0).all()
    assert result.summary["skipped_steps"] == 0


@settings(deadline=None)  # the first example compiles the tally (fresh cache)
@given(st.lists(st.tuples(st.integers(-1, 2), st.integers(0, 12).map(lambda x: x * 600)
                          | st.integers(0, 7200)), max_size=120))
def test_max_sends_in_an_hour_matches_a_direct_count(sends: list[tuple[int, int]]) -> None:
    """Every send's window counted directly: codes (missing ones, -1, one phone
    together), seconds apart, ties, windows exactly an hour wide, and phones
    with more sends than the insertion sort takes."""
    codes = np.array([c for c, _ in sends], dtype=np.int64)
    times = np.array([T0 + timedelta(seconds=s) for _, s in sends], dtype="datetime64[us]")
    direct = max((sum(1 for c2, s2 in sends if c2 == c and s - 3600 < s2 <= s)
                  for c, s in sends), default=0)
    assert _max_sends_in_an_hour(codes, times) == direct
    assert _max_sends_in_an_hour(codes * 10**9, times) == direct  # sparse codes
