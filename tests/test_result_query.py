"""Result.sql and Result.relation: read-only DuckDB SQL over a run's tables."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import seqsim
from seqsim import Result, SeqsimError, load_result
from tests.store_helpers import tiny_run, tiny_scenario


@pytest.fixture(scope="module")
def result() -> Result:
    return tiny_run(3)


def test_sql_answers_from_the_runs_tables(result: Result) -> None:
    per_step = result.sql("SELECT day_number, count(*) AS n FROM sends "
                          "GROUP BY day_number ORDER BY day_number")
    expected = result.sends.groupby("day_number").size()
    assert per_step["day_number"].tolist() == expected.index.tolist()
    assert per_step["n"].tolist() == expected.tolist()
    joined = result.sql("SELECT count(*) AS n FROM messages m "
                        "JOIN sequence_contacts c ON c.id = m.sequence_contact_id")
    assert joined["n"].item() == len(result.tables["messages"])


def test_sql_reads_every_table_by_name(result: Result) -> None:
    for name in [*result.tables, "sends", "timeline"]:
        frame = {**result.tables, "sends": result.sends, "timeline": result.timeline}[name]
        assert result.sql(f'SELECT count(*) AS n FROM "{name}"')["n"].item() == len(frame)


def test_a_fresh_run_builds_only_the_frames_a_query_names() -> None:
    res = seqsim.simulate(tiny_scenario(seed=5), progress=False)
    assert res.sql("SELECT count(*) AS n FROM TimeLine")["n"].item() == len(res.timeline)
    assert "sends" not in res.__dict__ and "built: none" in repr(res.tables)
    # A USING join is bound before the tables exist, so every frame is registered.
    joined = res.sql("SELECT count(*) AS n FROM sends JOIN messages USING (contact_phone)")
    pairs = res.sends.merge(res.tables["messages"], on="contact_phone")
    assert joined["n"].item() == len(pairs)
    # A catalog query names no table of the run: it lists them all, on a fresh run too.
    other = seqsim.simulate(tiny_scenario(seed=5), progress=False)
    listed = other.sql("SELECT table_name FROM information_schema.tables ORDER BY 1")
    assert listed["table_name"].tolist() == sorted([*other.tables, "sends", "timeline"])


@pytest.mark.parametrize(("query", "kind"), [
    ("INSERT INTO sends SELECT * FROM sends", "INSERT"),
    ("DELETE FROM timeline", "DELETE"),
    ("UPDATE sequence_contacts SET status = 'failed'", "UPDATE"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
    ("DROP VIEW sends", "DROP"),
    ("COPY sends TO '/tmp/seqsim-never-written.csv'", "COPY"),
    ("SET threads = 1", "SET"),
    ("SELECT 1; DELETE FROM sends", "DELETE"),
])
def test_sql_rejects_a_statement_that_writes(result: Result, query: str, kind: str) -> None:
    before = len(result.sends)
    with pytest.raises(SeqsimError, match=rf"^sql: .* is not valid \({kind}\); the run's "
                                          r"tables are read-only: expected one SELECT"):
        result.sql(query)
    assert result.sql("SELECT count(*) AS n FROM sends")["n"].item() == before
    assert not Path("/tmp/seqsim-never-written.csv").exists()


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT 1; SELECT 2", r"\(2 statements\); expected one SELECT"),
    ("", r"\(0 statements\)"),
    ("SELEC 1", r"is not valid: Parser Error: syntax error"),
    ("SELECT * FROM nowhere", r"Table with name nowhere does not exist!; the tables are "
                              r"devices, leads, messages, sends, sequence_contacts"),
    (42, r"sql: 42 is not valid; expected the text of a SELECT statement"),
])
def test_sql_rejects_what_is_not_one_select(result: Result, query: object,
                                            message: str) -> None:
    with pytest.raises(SeqsimError, match=message):
        result.sql(query)  # type: ignore[arg-type]


def test_explain_is_allowed(result: Result) -> None:
    assert len(result.sql("EXPLAIN SELECT * FROM sends")) >= 1


def test_relation_is_lazy_and_cannot_change_what_sql_reads(result: Result) -> None:
    rel = result.relation("sends")
    sent = rel.filter("outcome = 'sent'").aggregate("count(*) AS n").df()["n"].item()
    assert sent == (result.sends["outcome"] == "sent").sum()
    rel.query("x", "CREATE OR REPLACE VIEW sends AS SELECT 1 AS a")
    assert result.sql("SELECT count(*) AS n FROM sends")["n"].item() == len(result.sends)


def test_relation_of_an_unknown_table(result: Result) -> None:
    with pytest.raises(SeqsimError, match=r"^relation: 'contacts' is not valid; expected one "
                                          r"of devices, leads, messages, sends"):
        result.relation("contacts")


def test_sql_on_a_loaded_result_and_after_pickling(result: Result, tmp_path: Path) -> None:
    query = "SELECT outcome, count(*) AS n FROM sends GROUP BY outcome ORDER BY outcome"
    expected = result.sql(query)
    loaded = load_result(result.save(tmp_path / "run"))
    assert loaded.sql(query).equals(expected)
    again = pickle.loads(pickle.dumps(result))
    assert again.sql(query).equals(expected)
    assert isinstance(again, seqsim.Result)
