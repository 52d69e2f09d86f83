"""Shared test helpers: a tiny database with sequences and leads loaded."""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from seqsim.engine import schema
from seqsim.model.sequence import SequenceConfig

T0 = datetime(2025, 7, 1)


def make_db(
    sequences: Sequence[SequenceConfig],
    leads: Sequence[tuple[str, str]] = (),
    *,
    device: str = "dev-001",
) -> duckdb.DuckDBPyConnection:
    """Return an in-memory database with ``sequences`` and (phone, trigger) leads."""
    con = schema.connect()
    schema.load_sequences(con, sequences)
    schema.add_devices(con, [device])
    for phone, trigger in leads:
        schema.add_lead(con, phone, trigger, device_id=device, name=f"lead {phone}", created_at=T0)
    return con


def table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """Return a whole table as a DataFrame, ordered by its first column."""
    return con.execute(f"SELECT * FROM {name} ORDER BY 1").df()


@pytest.fixture
def cold() -> SequenceConfig:
    return SequenceConfig(name="COLD", trigger="cold", days=(1, 3, 6, 9))


@pytest.fixture
def plain_sigint() -> Iterator[None]:
    """Start from SIGINT as a fresh interpreter has it: unblocked in the main thread,
    Python's handler installed; warn when it was not.

    A suite started as a shell's background job (``make test &``, or from a
    non-interactive ``bash -c '... &'``) inherits SIGINT set to ``SIG_IGN``, as
    POSIX shells start asynchronous commands; it was first seen in fresh
    clones' ``make test`` (2026-12-04) on the worker running these tests, and
    explained on 2026-12-07. seqsim rightly leaves an ignored SIGINT ignored.
    The Ctrl-C tests are about what seqsim does with a delivered SIGINT, so
    they start from the plain state.
    """
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    handler = signal.getsignal(signal.SIGINT)
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)  # reinstalls Python's C handler
    if blocked or handler is not signal.default_int_handler:
        warnings.warn(f"SIGINT before this test: {'blocked' if blocked else 'not blocked'} in "
                      f"the main thread, handler {handler!r}", stacklevel=1)
    yield


#: Two processes the controller starts on a fresh clone: one compiles the engine (a
#: one-poll run), the other the result passes, each under its compile lock.
_WARMERS = (
    "import seqsim; seqsim.simulate(seqsim.Scenario.from_dict({'simulation': {'start': "
    "'2025-07-01T00:00:00', 'duration': '1h', 'poll_interval': '10m'}, 'sequences': [{'name': "
    "'WARM', 'trigger': 'warm', 'days': [1]}], 'workload': [{'kind': 'burst', 'trigger': "
    "'warm', 'count': 1}]}), engine='batch', progress=False)",
    "from seqsim.engine.kernel_cache import warm_up_results; warm_up_results()",
)
_warming: list[subprocess.Popen] = []


#: Test files that run neither the compiled engine nor a process that does (the
#: per-row engine, the model, the checks), longest first: collected first, so that
#: on a fresh clone the workers have them to run while the engine compiles
#: (measured 2026-12-07 by recording which files called the kernel). A file
#: listed here that comes to need the engine only waits for its compile.
BEFORE_THE_ENGINE = (
    "test_row_waiting", "test_checks_walk", "test_engine_row_stateful", "test_engine_row",
    "test_send_scan", "test_engine_kernel_rank", "test_layout", "test_tallies",
    "test_results_rows", "test_windows", "test_clock", "test_workload", "test_scenario",
    "test_strings", "test_schema", "test_by_step", "test_interrupts", "test_bounds",
    "test_sequence", "test_capacity", "test_validation", "test_results_waits", "test_policy",
    "test_size",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files of :data:`BEFORE_THE_ENGINE` first, in that order (xdist's
    ``--dist loadfile`` hands files out in collection order).

    Raises:
        pytest.UsageError: a listed file does not exist (renamed or removed).
    """
    here = Path(__file__).parent
    gone = [name for name in BEFORE_THE_ENGINE if not (here / f"{name}.py").is_file()]
    if gone:
        raise pytest.UsageError(f"conftest.BEFORE_THE_ENGINE: no such test file: {gone}")
    place = {f"tests/{name}.py": n for n, name in enumerate(BEFORE_THE_ENGINE)}
    items.sort(key=lambda item: place.get(item.nodeid.split("::", 1)[0], len(place)))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, compile the engine and the result passes in two
    processes the controller starts, beside the workers: a worker that needs one
    of them before it is cached waits for its compile lock
    (:func:`seqsim.engine.kernel_cache.compile_lock`) and then loads it, while
    the tests that need neither run on. Compiled once, on both cores, instead
    of by each worker, or by the controller while the workers wait."""
    config = session.config
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    _warming.extend(subprocess.Popen([sys.executable, "-c", code]) for code in _WARMERS)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Wait for the compiling processes (long done by then); a failed one is said,
    not failed on: each worker compiled what it needed itself."""
    if any(proc.poll() is None for proc in _warming):  # a short run (-x, -k)
        print("\nconftest: waiting for the engine's compile to end (cached for the next run)",
              file=sys.stderr, flush=True)
    for proc in _warming:
        if proc.wait() != 0:
            print(f"conftest: compiling in the background exited {proc.returncode}",
                  file=sys.stderr)
    _warming.clear()
