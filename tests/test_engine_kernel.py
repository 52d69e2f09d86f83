"""The compiled kernel: the same tables as plain Python, and a cache that follows edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba.core.dispatcher import Dispatcher
from numba.core.errors import TypingError

import seqsim
from seqsim import pages
from seqsim.engine import kernel_cache, kernel_run, kernel_world, registry
from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_world import _leads
from seqsim.model.arrivals import ArrivalCodes
from seqsim.run.engines import run_arrivals, run_engine
from tests.store_helpers import tiny_scenario

ROOT = Path(__file__).resolve().parents[1]

# Limits, pacing, failures, a send window in two zones, an outage with a catch-up
# and a tight batch: every path of the kernel, small enough for plain Python.
WORLD = {
    "simulation": {"start": "2025-07-01T00:00:00", "duration": "3d", "poll_interval": "10m",
                   "seed": 5},
    "sequences": [{"name": "A", "trigger": "a", "days": [1, 2, 4], "next": "B",
                   "min_delay_seconds": 5, "max_delay_seconds": 90},
                  {"name": "B", "trigger": "b", "days": [1, 2], "send_hours": "08:00-20:00"}],
    "workload": [{"kind": "burst", "trigger": "a", "count": 30, "timezone": "Asia/Singapore"},
                 {"kind": "poisson", "trigger": "a", "rate_per_hour": 2,
                  "end": "2025-07-01T12:00:00"}],
    "capacity": {"devices": 3, "batch_size": 4, "hourly_limit": 6, "daily_limit": 40,
                 "in_flight_limit": 2, "failure_rate": 0.2, "max_retries": 1},
    "policy": {"catch_up": "skip_stale", "stale_after": "2h",
               "outages": [{"start": "2025-07-02T03:00:00", "duration": "5h"}]},
}

CHILD = """
import json, sys
import pandas as pd
import seqsim
res = seqsim.simulate(seqsim.Scenario.from_dict(json.loads(sys.argv[1])), progress=False)
tables = {name: int(pd.util.hash_pandas_object(frame, index=False).sum())
          for name, frame in res.tables.items()}
print(json.dumps({"summary": res.summary, "tables": tables}, default=str))
"""


# A fresh process: warm the result passes, run every kind of run and read every
# table; print the result passes' signatures that were loaded after the warm-up.
LATE = """
import json, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from numba.core.dispatcher import Dispatcher
import seqsim
from seqsim import testing
from seqsim.engine import kernel_cache, lateness, pair_scan, send_scan, tallies

def signatures():
    return {f"{m.__name__}.{name}{sig}" for m in (lateness, pair_scan, send_scan, tallies)
            for name, f in vars(m).items()
            if isinstance(f, Dispatcher) and f.__module__ == m.__name__ for sig in f.signatures}

kernel_cache.warm_up_results()
warm = signatures()
world, faulty = (seqsim.Scenario.from_dict(json.loads(arg)) for arg in sys.argv[1:3])
runs = [seqsim.simulate(world, "batch", False), seqsim.simulate(world, "row", False),
        seqsim.simulate(world, "batch", False, shards=2, executor=ThreadPoolExecutor(2),
                        approximate=True),
        seqsim.simulate(faulty, "row", False), seqsim.simulate(faulty, "batch", False)]
for res in runs:
    res.sends, res.steps, res.contacts, res.timeline, testing.result_violations(res)
    with tempfile.TemporaryDirectory() as folder:
        res.save(folder + "/r")
        loaded = seqsim.load_result(folder + "/r")
        loaded.sends, loaded.steps, testing.result_violations(loaded)
print(json.dumps(sorted(signatures() - warm)))
"""


def test_no_result_pass_compiles_after_the_warm_up() -> None:
    # A form the warm-up leaves out (a read-only or strided column, a Fortran-order
    # array) is compiled at its first use, unreported, on a fresh install.
    faulty = {**WORLD, "faults": {"crash_between_statements": 0.3, "stuck_claims": 0.2}}
    proc = subprocess.run([sys.executable, "-c", LATE, json.dumps(WORLD), json.dumps(faulty)],
                          capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def _digest(result: seqsim.Result) -> dict:
    tables = {name: int(pd.util.hash_pandas_object(frame, index=False).sum())
              for name, frame in result.tables.items()}
    return json.loads(json.dumps({"summary": result.summary, "tables": tables}, default=str))


def test_plain_python_kernel_gives_the_compiled_tables() -> None:
    compiled = seqsim.simulate(seqsim.Scenario.from_dict(WORLD), progress=False)
    assert compiled.info["compiled"] and compiled.summary["messages_failed"] > 0
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(WORLD)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, check=True)
    assert json.loads(proc.stdout.splitlines()[-1]) == _digest(compiled)


def test_cache_is_dropped_when_a_compiled_source_changes(tmp_path: Path) -> None:
    for name in ("kernel.run_polls-1.py311.nbi", "kernel_ready.make_due-2.py311.1.nbc",
                 "other.thing-1.py311.nbi"):
        (tmp_path / name).write_text("x")
    kernel_cache.ensure_fresh(tmp_path, "before")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.thing-1.py311.nbi", "seqsim-kernel.sha256"]
    (tmp_path / "kernel.run_polls-1.py311.nbi").write_text("x")
    kernel_cache.ensure_fresh(tmp_path, "before")  # unchanged sources: the cache stays
    assert (tmp_path / "kernel.run_polls-1.py311.nbi").exists()
    kernel_cache.ensure_fresh(tmp_path, "after")
    assert not (tmp_path / "kernel.run_polls-1.py311.nbi").exists()
    assert (tmp_path / "seqsim-kernel.sha256").read_text() == "after"


def test_a_held_compile_lock_makes_the_next_taker_wait_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # flock locks belong to an open file, so a thread with its own descriptor
    # waits as another process would.
    order: list[str] = []

    def second() -> None:
        with kernel_cache.compile_lock(tmp_path, "x.lock", "seqsim: waiting for it"):
            order.append("second")

    with kernel_cache.compile_lock(tmp_path, "x.lock"):
        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()
        order.append("first")
    waiter.join(10)
    assert order == ["first", "second"]
    assert capsys.readouterr().err == "seqsim: waiting for it\n"
    with kernel_cache.compile_lock(tmp_path, "x.lock", "seqsim: waiting for it"):
        pass  # free again: no wait, nothing said
    assert capsys.readouterr().err == ""


def test_a_wait_is_said_only_while_the_cache_lacks_what_is_compiled(tmp_path: Path) -> None:
    note = kernel_cache._waiting_note(tmp_path, "kernel.run_polls", "the engine")
    assert note == "seqsim: waiting for another process compiling the engine on this machine"
    (tmp_path / "kernel.run_polls-1.py311.nbi").write_bytes(b"")
    # The holder is loading the cache then, a second at most: nothing to say.
    assert kernel_cache._waiting_note(tmp_path, "kernel.run_polls", "the engine") is None


def test_a_compile_lock_that_cannot_be_taken_runs_the_block_unlocked(tmp_path: Path) -> None:
    ran = []
    with kernel_cache.compile_lock(tmp_path / "not-a-folder", "x.lock"):
        ran.append(True)
    assert ran == [True]


def test_every_compiled_module_is_fingerprinted() -> None:
    engine = ROOT / "seqsim" / "engine"
    compiled = {p.stem for p in engine.glob("*.py") if "@njit" in p.read_text()
                or "@kernel_jit" in p.read_text() or "@compiled(" in p.read_text()
                or "register_jitable\ndef" in p.read_text()}
    assert compiled <= {m.__name__.rsplit(".", 1)[-1] for m in kernel_cache.COMPILED}


def test_every_kernel_function_counts_no_references() -> None:
    kernel_modules = [m for m in kernel_cache.COMPILED if m.__name__.rsplit(".", 1)[-1]
                      .startswith("kernel")]
    dispatchers = [f for m in kernel_modules for f in vars(m).values()
                   if isinstance(f, Dispatcher) and f.__module__ == m.__name__]
    assert len(dispatchers) > 50
    assert [f.__name__ for f in dispatchers if f.targetoptions.get("_nrt") is not False] == []


@kernel_jit()
def _allocates(n: int) -> int:
    return np.zeros(n, dtype=np.int64).shape[0]


def test_a_kernel_function_that_allocates_does_not_compile() -> None:
    # A guard for kernel_jit's promise: without the runtime nothing can own new memory.
    with pytest.raises(TypingError, match="Only accept returning of array passed into"):
        _allocates(3)


@pytest.mark.parametrize("phones", [["+1", "+2", "+3", "+4"], ["+1", "+3", "+2", "+4"],
                                    ["+1", "+2", "+2", "+4"], ["+1"]])
def test_leads_numbered_as_factorize_numbers_them(phones: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Phones in increasing order skip the hashing; the leads come out the same."""
    arrivals = ArrivalCodes.of_frame(pd.DataFrame({
        "time": pd.to_datetime(["2025-07-01"] * len(phones)).astype("datetime64[us]"),
        "phone": pd.array(phones, dtype="str"),
        "trigger": "cold", "device_id": "device-1", "timezone": "UTC"}))
    # Only strictly increasing phones (two or more) take the fast path.
    increasing = len(phones) > 1 and phones == sorted(set(phones))
    assert kernel_world._increasing(arrivals.phones) == increasing
    fast = _leads(arrivals, len(phones), ["device-1"], None)
    monkeypatch.setattr(kernel_world, "_increasing", lambda phones: False)
    slow = _leads(arrivals, len(phones), ["device-1"], None)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mapping_the_records_ahead_changes_no_table(monkeypatch: pytest.MonkeyPatch) -> None:
    followed: list[tuple[int, ...]] = []
    real_prefault, real_world = kernel_run.Prefault, kernel_run.build_world

    def spy(targets):
        followed.append(tuple(len(array) for array, _ in targets))
        return real_prefault(targets)

    def small_world(*args, **kwargs):  # room for few rows: the run must grow its records
        return real_world(*args, **kwargs)._replace(rows_hint=8)

    monkeypatch.setattr(pages, "_populating", pages._MADVISE is not None)
    monkeypatch.setattr(pages, "spare_core", lambda: True)
    monkeypatch.setattr(kernel_run, "Prefault", spy)
    monkeypatch.setattr(kernel_run, "build_world", small_world)
    mapped = seqsim.simulate(seqsim.Scenario.from_dict(WORLD), progress=False)
    assert followed[0] == (8, 8, 8) and len(set(followed)) > 1  # new records: followed anew
    assert not [t for t in threading.enumerate() if t.name == "seqsim-prefault"]
    monkeypatch.setattr(pages, "_populating", False)
    plain = seqsim.simulate(seqsim.Scenario.from_dict(WORLD), progress=False)
    assert _digest(mapped) == _digest(plain)


def test_a_run_from_arrival_codes_equals_one_from_their_frame(tmp_path: Path) -> None:
    """simulate hands the kernel the arrivals' codes; a shard hands it a frame. The
    codes number triggers and zones by workload, a frame's factorize by first
    arrival: here the later workload arrives first, a trace repeats a phone with
    another trigger and pins a device, and one sequence's trigger never arrives."""
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,phone,trigger,device_id,timezone\n"
                     "2025-07-01T00:05:00,+15550000001,warm,dev-002,Asia/Tokyo\n"
                     "2025-07-01T03:00:00,+15550000001,cold,,\n", encoding="utf-8")
    scn = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "4d", "seed": 3},
        "sequences": [{"name": "C", "trigger": "cold", "days": [1, 2]},
                      {"name": "W", "trigger": "warm", "days": [1, 3]},
                      {"name": "N", "trigger": "never", "days": [1]}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 4,
                      "start": "2025-07-01T06:00:00", "end": "2025-07-01T12:00:00"},
                     {"kind": "poisson", "trigger": "warm", "rate_per_hour": 4,
                      "end": "2025-07-01T08:00:00", "timezone": "America/New_York"},
                     {"kind": "trace", "path": str(trace)}],
        "capacity": {"devices": 3, "hourly_limit": 2},
        "policy": {"send_hours": "09:00-17:00"},
    })
    devices, codes = run_arrivals(scn)
    assert codes.triggers[0] == "cold" and codes.frame()["trigger"].iloc[0] == "warm"
    runs = [run_engine(registry.get("batch"), scn, devices, given, False, True)
            for given in (codes, codes.frame())]
    for name in ("leads", "sequence_contacts", "messages"):
        pd.testing.assert_frame_equal(runs[0].tables[name], runs[1].tables[name])
    assert len(runs[0].tables["messages"]) > 20


@pytest.mark.parametrize("key", ["hourly_limit", "daily_limit"])
def test_a_limit_too_large_for_the_ring_buffers_is_one_clear_error(
        key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled engine keeps each device's last ``limit`` queue instants: a limit
    meant as 'no limit' must not become a MemoryError (make fuzz found 2**31 - 1)."""
    other = "daily_limit" if key == "hourly_limit" else "hourly_limit"
    scenario = tiny_scenario().with_overrides({f"capacity.{key}": 2**31 - 1,
                                              f"capacity.{other}": 0})
    with pytest.raises(seqsim.SeqsimError, match=rf"capacity\.{key}: 2,147,483,647 is not "
                       r"valid with 2 devices on the compiled engine.*at most 134,217,728, "
                       r"0 for no limit, or engine = \"row\""):
        seqsim.simulate(scenario, progress=False)
    monkeypatch.setattr(kernel_world, "MAX_RING", 200)  # the boundary: 2 x 100 fits
    at_most = seqsim.simulate(scenario.with_overrides({f"capacity.{key}": 100}),
                              progress=False)
    assert at_most.summary["messages_sent"] > 0
    with pytest.raises(seqsim.SeqsimError, match=rf"capacity\.{key}: 101 .* at most 100,"):
        seqsim.simulate(scenario.with_overrides({f"capacity.{key}": 101}), progress=False)


def test_a_huge_batch_size_does_not_size_the_arrays() -> None:
    """make fuzz found batch_size = 49,016,249 asking for 392M rows (29 GiB) on a run
    of a dozen contacts: a poll can queue no more rows than it may hold, so the
    arrays grow by those, and the tables are the ones a batch that never binds gives."""
    scenario = tiny_scenario()
    huge = seqsim.simulate(scenario.with_overrides({"capacity.batch_size": 2**31 - 1}),
                           progress=False)
    usual = seqsim.simulate(scenario, progress=False)
    for name in ("sequence_contacts", "messages", "leads"):
        pd.testing.assert_frame_equal(huge.tables[name], usual.tables[name])
    assert huge.summary["messages_sent"] > 0
