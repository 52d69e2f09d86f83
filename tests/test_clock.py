from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from seqsim import units
from seqsim.errors import EngineError
from seqsim.run import clock

PACKAGE = Path(__file__).resolve().parents[1] / "seqsim"


def test_clock_freezes_and_moves_only_when_told() -> None:
    with clock.VirtualClock(datetime(2025, 7, 1)) as c:
        assert units.now() == datetime(2025, 7, 1)
        assert datetime.now() == datetime(2025, 7, 1)
        assert c.tick(timedelta(hours=3)) == datetime(2025, 7, 1, 3)
        assert units.now() == datetime(2025, 7, 1, 3)
        c.advance_to(datetime(2025, 7, 2))
        assert units.now() == c.now == datetime(2025, 7, 2)
    assert units.now() > datetime(2026, 1, 1)


def test_aware_start_becomes_naive_utc() -> None:
    start = datetime(2025, 7, 1, 8, tzinfo=UTC).astimezone()
    with clock.VirtualClock(start) as c:
        assert c.now == datetime(2025, 7, 1, 8)
        assert units.now().tzinfo is None


def test_clock_never_runs_backwards() -> None:
    with clock.VirtualClock(datetime(2025, 7, 1)) as c:
        with pytest.raises(EngineError, match="before the current virtual time"):
            c.advance_to(datetime(2025, 6, 30))
        with pytest.raises(EngineError, match="expected a duration >= 0"):
            c.tick(timedelta(seconds=-1))


def test_clock_must_be_running() -> None:
    with pytest.raises(EngineError, match="not running"):
        clock.VirtualClock(datetime(2025, 7, 1)).tick(timedelta(seconds=1))


def test_real_seconds_keeps_running_while_frozen() -> None:
    with clock.VirtualClock(datetime(2025, 7, 1)):
        frozen = time.perf_counter()
        start = clock.real_seconds()
        time.sleep(0.02)
        assert clock.real_seconds() - start >= 0.015
        assert time.perf_counter() == frozen


def test_duckdb_now_ignores_the_virtual_clock() -> None:
    """Why the engine binds `now`: DuckDB's own clock is the machine's."""
    import duckdb

    with clock.VirtualClock(datetime(2025, 7, 1)):
        db_now = duckdb.connect().execute("SELECT now()::TIMESTAMP").fetchone()[0]
        assert db_now.year >= 2026


def _reads_virtual_clock(code: str) -> bool:
    """The engine's own clock reads and the definition of seqsim.units.now."""
    return any(ok in code for ok in ("clock_now()", "units.now()", "def now("))


def test_engine_sql_never_reads_the_database_clock() -> None:
    pattern = re.compile(r"\bnow\s*\(\s*\)|current_timestamp|current_date|get_current_time",
                         re.IGNORECASE)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not _reads_virtual_clock(code):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    # The clock module's own docstrings name the functions it replaces.
    offenders = [o for o in offenders if not o.startswith("clock.py")]
    assert offenders == []


def test_starting_the_clock_imports_no_scipy_module() -> None:
    # freezegun reads every attribute of every loaded module; on scipy each read
    # of a lazily loaded submodule imported it (1.4 s, some 540 modules).
    code = (
        "import sys, scipy.special\n"
        "from datetime import datetime\n"
        "from seqsim.run.clock import VirtualClock\n"
        "before = set(sys.modules)\n"
        "with VirtualClock(datetime(2025, 7, 1)):\n"
        "    pass\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
