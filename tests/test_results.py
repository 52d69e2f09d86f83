"""Result.save / load_result: round trip, the directory's files, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from pandas.testing import assert_frame_equal

import seqsim
from seqsim import Result, Scenario, SeqsimError, load_result
from seqsim.testing import assert_invariants

FILES = ["sends.parquet", "timeline.parquet", "contacts.parquet", "summary.json",
         "scenario.toml", "seqsim.duckdb"]


def tiny(seed: int = 3, failure_rate: float = 0.2) -> Scenario:
    return Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "3h",
                       "poll_interval": "1m", "seed": seed},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 2],
                       "delay_hours": [0, 1]}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 6,
                      "end": "2025-07-01T01:30:00"}],
        "capacity": {"devices": 2, "failure_rate": failure_rate, "max_retries": 1},
    })


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
