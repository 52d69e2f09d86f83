from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from seqsim.engine import schema
from seqsim.errors import EngineError, SequenceDefinitionError
from seqsim.model.sequence import SequenceConfig
from tests.conftest import T0, table


def test_tables_have_the_production_columns() -> None:
    con = schema.connect()
    cols = {
        t: [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()]
        for t in (*schema.PRODUCTION_TABLES, *schema.SIMULATION_TABLES)
    }
    assert cols["sequences"] == [
        "id", "name", "trigger", "is_active", "min_delay_seconds", "max_delay_seconds"
    ]
    assert cols["sequence_steps"] == [
        "id", "sequence_id", "day_number", "trigger", "next_trigger", "trigger_delay_hours",
        "is_entry_point",
    ]
    assert cols["leads"] == ["phone", "name", "device_id", "trigger", "created_at", "timezone"]
    for col in (
        "id", "sequence_id", "contact_phone", "contact_name", "current_step", "status",
        "current_trigger", "next_trigger_time", "sequence_stepid", "assigned_device_id",
        "processing_device_id", "processing_started_at", "completed_at", "retry_count",
        "last_error", "created_at",
    ):
        assert col in cols["sequence_contacts"]
    assert "sent_at" in cols["messages"] and "outcome" in cols["messages"]


def test_add_devices_keeps_their_order_and_limits() -> None:
    con = schema.connect()
    schema.add_devices(con, (f"dev-{i}" for i in (3, 1, 2)), hourly_limit=7, daily_limit=0,
                       in_flight_limit=5)
    schema.add_devices(con, [])
    assert con.execute("SELECT * FROM devices ORDER BY rowid").fetchall() == [
        ("dev-3", True, 7, 0, 5), ("dev-1", True, 7, 0, 5), ("dev-2", True, 7, 0, 5)]


def test_create_tables_is_idempotent() -> None:
    con = schema.connect()
    schema.create_tables(con)
    assert con.execute("SELECT count(*) FROM sequences").fetchone()[0] == 0


def test_load_sequences_fills_steps_with_triggers_and_delays() -> None:
    con = schema.connect()
    ids = schema.load_sequences(
        con,
        [
            SequenceConfig("COLD", "cold", (1, 3, 6, 9), next="WARM"),
            SequenceConfig("WARM", "warm", (2, 5, 10), min_delay_seconds=10,
                           max_delay_seconds=30),
        ],
    )
    assert ids == {"COLD": 1, "WARM": 2}
    steps = table(con, "sequence_steps")
    cold = steps[steps.sequence_id == 1]
    assert cold.day_number.tolist() == [1, 3, 6, 9]
    assert cold.trigger.tolist() == ["cold_day1", "cold_day3", "cold_day6", "cold_day9"]
    assert cold.next_trigger.tolist() == ["cold_day3", "cold_day6", "cold_day9", "warm"]
    assert cold.trigger_delay_hours.tolist() == [0, 48, 72, 72]
    assert cold.is_entry_point.tolist() == [True, False, False, False]
    warm = steps[steps.sequence_id == 2]
    assert warm.trigger_delay_hours.tolist() == [0, 72, 120]
    assert warm.next_trigger.isna().tolist() == [False, False, True]
    seqs = table(con, "sequences")
    assert seqs.min_delay_seconds.tolist() == [5.0, 10.0]
    assert seqs.max_delay_seconds.tolist() == [15.0, 30.0]


def test_load_rejects_bad_chain_and_writes_nothing() -> None:
    con = schema.connect()
    with pytest.raises(SequenceDefinitionError, match="no such sequence"):
        schema.load_sequences(con, [SequenceConfig("COLD", "cold", (1,), next="WARM")])
    assert con.execute("SELECT count(*) FROM sequences").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM sequence_steps").fetchone()[0] == 0


def test_load_twice_is_refused() -> None:
    con = schema.connect()
    schema.load_sequences(con, [SequenceConfig("COLD", "cold", (1,))])
    with pytest.raises(EngineError, match="already loaded"):
        schema.load_sequences(con, [SequenceConfig("COLD", "cold", (1,))])


def test_duplicate_lead_is_refused() -> None:
    con = schema.connect()
    schema.add_lead(con, "+1", "cold", created_at=T0)
    with pytest.raises(EngineError, match=r"leads\.phone: '\+1' .*already exists"):
        schema.add_lead(con, "+1", "cold", created_at=T0)


def test_no_sql_default_reads_the_database_clock() -> None:
    con = schema.connect()
    defaults = con.execute(
        "SELECT column_default FROM information_schema.columns WHERE column_default IS NOT NULL"
    ).fetchall()
    for (default,) in defaults:
        assert "now" not in default.lower() and "current_" not in default.lower(), default


def test_leads_timezone_column_is_last_not_null_default_utc() -> None:
    con = schema.connect()
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_name = 'leads' ORDER BY ordinal_position"
    ).fetchall()
    name, kind, nullable, default = rows[-1]
    assert (name, kind, nullable) == ("timezone", "VARCHAR", "NO")
    assert "UTC" in default
    con.execute("INSERT INTO leads (phone) VALUES ('+9')")
    assert con.execute("SELECT timezone FROM leads").fetchone()[0] == "UTC"


def test_add_lead_timezone_default_and_explicit() -> None:
    con = schema.connect()
    schema.add_lead(con, "+1", "cold", created_at=T0)
    schema.add_lead(con, "+2", "cold", created_at=T0, timezone="Asia/Singapore")
    leads = table(con, "leads")
    assert leads.set_index("phone")["timezone"].to_dict() == {"+1": "UTC", "+2": "Asia/Singapore"}


def _lead_frame(**extra: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "phone": ["+1", "+2", "+3"],
            "trigger": ["cold", "cold", "warm"],
            "device_id": ["dev-001", "dev-002", "dev-001"],
            "created_at": pd.to_datetime([T0, T0 + timedelta(1), T0 + timedelta(2)]).astype(
                "datetime64[us]"
            ),
        }
    )
    return frame.assign(**extra)


def test_add_leads_takes_timezone_column() -> None:
    con = schema.connect()
    schema.add_leads(con, _lead_frame(timezone=["Asia/Singapore", "UTC", "America/New_York"]))
    got = table(con, "leads").set_index("phone")["timezone"].to_dict()
    assert got == {"+1": "Asia/Singapore", "+2": "UTC", "+3": "America/New_York"}


def test_add_leads_without_timezone_column_is_utc() -> None:
    con = schema.connect()
    # Extra columns (as in an arrivals frame) are ignored.
    schema.add_leads(con, _lead_frame(extra=[1, 2, 3]))
    assert table(con, "leads")["timezone"].tolist() == ["UTC", "UTC", "UTC"]


def test_add_leads_missing_zone_values_are_utc() -> None:
    con = schema.connect()
    schema.add_leads(con, _lead_frame(timezone=pd.array(["Europe/Paris", None, None], dtype="str")))
    assert table(con, "leads")["timezone"].tolist() == ["Europe/Paris", "UTC", "UTC"]


def test_add_leads_duplicate_still_refused() -> None:
    con = schema.connect()
    schema.add_lead(con, "+2", "cold", created_at=T0)
    with pytest.raises(EngineError, match=r"leads\.phone: .*already exists"):
        schema.add_leads(con, _lead_frame(timezone=["UTC", "UTC", "UTC"]))
    assert con.execute("SELECT count(*) FROM leads").fetchone()[0] == 1


def test_canonical_leads_frame_has_timezone() -> None:
    assert schema.column_types("leads")[-1] == ("timezone", "str")
    # A frame without the column (e.g. an engine or a database from before) gets UTC.
    frame = _lead_frame(name=[None, None, None])
    canon = schema.canonical_frame("leads", frame)
    assert list(canon.columns) == [c for c, _ in schema.column_types("leads")]
    assert canon["timezone"].dtype == "str"
    assert canon["timezone"].tolist() == ["UTC", "UTC", "UTC"]
    # A frame with it keeps the values, as str.
    zoned = frame.assign(timezone=pd.Series(["Asia/Tokyo", "UTC", "Europe/Paris"], dtype=object))
    canon = schema.canonical_frame("leads", zoned)
    assert canon["timezone"].dtype == "str"
    assert canon["timezone"].tolist() == ["Asia/Tokyo", "UTC", "Europe/Paris"]
    # Canonical input passes through unchanged.
    assert schema.canonical_frame("leads", canon) is canon


def test_read_tables_returns_lead_timezones() -> None:
    con = schema.connect()
    schema.add_leads(con, _lead_frame(timezone=["Asia/Singapore", "UTC", "America/New_York"]))
    leads = schema.read_tables(con)["leads"]
    assert list(leads.columns)[-1] == "timezone"
    assert leads["timezone"].dtype == "str"
    assert leads["timezone"].tolist() == ["Asia/Singapore", "UTC", "America/New_York"]
