"""seqsim.results.lazy: a fresh run's frames are built on first read, equal to what
the contract tables give, once, and not by its repr or pickle."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

import seqsim
from seqsim import Result
from seqsim.engine.kernel_tables import BUILT, KernelTables
from seqsim.results.result import SUMMARY_KEYS, _write_database
from seqsim.results.sends import build_sends
from seqsim.results.steps import step_table
from tests.store_helpers import tiny_scenario


def fresh() -> Result:
    """A tiny compiled run with failed attempts, nothing read yet."""
    return seqsim.simulate(tiny_scenario(seed=5), progress=False)


def contract_send_log(res: Result) -> pd.DataFrame:
    """The send log built from the run's contract tables (builds them all)."""
    tables = res.tables
    return build_sends(tables["messages"], tables["sequences"],
                       contacts=tables["sequence_contacts"], steps=tables["sequence_steps"],
                       pairs=None, leads=tables["leads"], scenario=res.scenario,
                       waits=res._stored._waits)


def test_simulate_builds_the_summary_and_no_frame() -> None:
    res = fresh()
    assert list(res.summary) == list(SUMMARY_KEYS) and res.summary["messages_failed"] > 0
    assert not {"sends", "contacts", "timeline"} & set(res.__dict__)
    assert isinstance(res.tables, KernelTables)
    assert "built: none" in repr(res.tables)
    assert "frames in memory: none" in repr(res)  # the repr builds nothing either
    assert not {"sends", "contacts", "timeline"} & set(res.__dict__)


def test_the_send_log_and_step_table_equal_what_the_contract_tables_give() -> None:
    res = fresh()
    # Read from the working contacts on first access...
    sends, steps = res.sends, res.steps
    assert "frames in memory: sends" in repr(res)
    # ... and from the contract frames here: the same values and dtypes.
    tables = res.tables
    again = contract_send_log(res)
    assert_frame_equal(sends, again)
    assert_frame_equal(steps, step_table(sends, tables["sequence_contacts"],
                                         tables["sequence_steps"], tables["sequences"],
                                         tables["messages"], res.scenario.simulation.end))
    assert set(BUILT) <= set(repr(tables).split("built: ")[1].rstrip(")").split(", "))


def test_a_frame_is_built_once_even_when_threads_ask_together() -> None:
    res = fresh()
    with ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(lambda _: res.sends, range(8)))
    assert all(frame is frames[0] for frame in frames)
    assert res.contacts is res.tables["sequence_contacts"]


def test_a_pickled_fresh_result_carries_what_builds_its_frames() -> None:
    res = fresh()
    copy = pickle.loads(pickle.dumps(res))
    assert "sends" not in copy.__dict__
    assert_frame_equal(copy.sends, res.sends)
    assert_frame_equal(copy.tables["messages"], res.tables["messages"])
    assert isinstance(copy.timeline, pd.DataFrame) and copy.summary == res.summary


def test_asking_whether_a_table_is_there_builds_nothing() -> None:
    tables = fresh().tables
    assert "leads" in tables and "messages" in tables and "nothing" not in tables
    assert "built: none" in repr(tables)


def test_the_send_log_with_send_windows_equals_the_contract_tables_one() -> None:
    """Leads in two zones and send hours: the lateness split looks up each send's
    zone through the working leads, and builds no contract frame for it."""
    data = tiny_scenario(seed=5).to_dict()
    data["policy"] = {**data.get("policy", {}), "send_hours": "00:30-10:30"}
    data["workload"].append({**data["workload"][0], "timezone": "Asia/Tokyo"})
    scenario = seqsim.Scenario.from_dict(data)
    res = seqsim.simulate(scenario, progress=False)
    sends = res.sends
    assert "built: none" in repr(res.tables)
    assert sends["wait_window_s"].gt(0).any()
    assert_frame_equal(sends, contract_send_log(res))


def test_a_save_stores_the_messages_without_building_their_contract_frame(
        tmp_path: Path) -> None:
    """The working messages (names as categoricals) go into the database as the
    contract frame would: VARCHAR names, an all-missing one included (no send failed)."""
    res = seqsim.simulate(tiny_scenario(seed=5, failure_rate=0.0), progress=False)
    res.save(tmp_path / "run")
    assert "messages" not in repr(res.tables).split("built: ")[1]
    stored = seqsim.load_result(tmp_path / "run")
    assert_frame_equal(stored.tables["messages"], res.tables["messages"])
    columns = stored.sql("SELECT column_name, data_type FROM information_schema.columns "
                         "WHERE table_name = 'messages'")
    types = dict(zip(columns["column_name"], columns["data_type"], strict=True))
    assert types["contact_phone"] == types["error"] == types["device_id"] == "VARCHAR"
    assert stored.tables["messages"]["error"].isna().all()


def test_categorical_columns_are_stored_as_varchar(tmp_path: Path) -> None:
    """Even one with no categories at all (Arrow reads it as a column of nulls)."""
    frame = pd.DataFrame({
        "name": pd.Categorical.from_codes(np.array([0, -1, 1], dtype=np.int8), ["a", "b"]),
        "none": pd.Categorical.from_codes(np.full(3, -1, dtype=np.int8), categories=[]),
        'odd "name"': np.arange(3),
    })
    _write_database(tmp_path / "t.duckdb", {"t": frame})
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        assert [row[1] for row in con.execute('DESCRIBE "t"').fetchall()] == [
            "VARCHAR", "VARCHAR", "BIGINT"]
        assert con.execute('SELECT * FROM "t"').fetchall() == [
            ("a", None, 0), (None, None, 1), ("b", None, 2)]
