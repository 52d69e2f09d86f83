from __future__ import annotations

import pytest

from seqsim import schema
from seqsim.errors import EngineError, SequenceDefinitionError
from seqsim.sequence import SequenceConfig
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
    assert cols["leads"][:4] == ["phone", "name", "device_id", "trigger"]
    for col in (
        "id", "sequence_id", "contact_phone", "contact_name", "current_step", "status",
        "current_trigger", "next_trigger_time", "sequence_stepid", "assigned_device_id",
        "processing_device_id", "processing_started_at", "completed_at", "retry_count",
        "last_error", "created_at",
    ):
        assert col in cols["sequence_contacts"]
    assert "sent_at" in cols["messages"] and "outcome" in cols["messages"]


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
