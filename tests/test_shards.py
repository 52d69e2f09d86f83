"""Sharded runs (seqsim.run.shards): the single run's tables, or one clear error.

The property draws the engine property's random worlds (every policy, limit,
window, outage, failures and retries, chains, zero delays), runs each in one
process and split into 1-4 shards on a process pool, and requires identical
tables (ids included), timeline and summary whenever the merge says no poll's
batch limit bound; when one did, the sharded run must raise. A few examples
run on a dask.distributed LocalCluster on loopback.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
from collections.abc import Iterator

import hypothesis.strategies as st
import pytest
from hypothesis import event, given
from pandas.testing import assert_frame_equal

import seqsim
from seqsim.errors import ScenarioError
from seqsim.results.result import Result
from tests.test_engine_batch import ENGINE_PROPERTY, scenarios


def assert_identical(one: Result, sharded: Result) -> None:
    """Assert every table, the timeline and the summary are the same, ids included."""
    assert list(one.tables) == list(sharded.tables)
    for name, frame in one.tables.items():
        assert_frame_equal(frame, sharded.tables[name], obj=name)
    assert_frame_equal(one.sends, sharded.sends, obj="sends")
    assert_frame_equal(one.timeline, sharded.timeline, obj="timeline")
    assert one.summary == sharded.summary
    assert one.info["invariant_violations"] == sharded.info["invariant_violations"]


def on_devices(scenario: seqsim.Scenario, devices: int, batch: int | None) -> seqsim.Scenario:
    """Return ``scenario`` on a fleet of ``devices`` devices, with ``batch_size``
    ``batch`` (None: the drawn one, often small enough to bind)."""
    capacity = dataclasses.replace(scenario.capacity, devices=devices,
                                   batch_size=batch or scenario.capacity.batch_size)
    return dataclasses.replace(scenario, capacity=capacity)


def check_sharded(scenario: seqsim.Scenario, shards: int, executor: cf.Executor) -> bool:
    """Run ``scenario`` whole and in ``shards``; assert the merge is the single run
    or, when the batch limit bound, that it raises; return whether it was exact."""
    one = seqsim.simulate(scenario, progress=False)
    try:
        sharded = seqsim.simulate(scenario, progress=False, shards=shards, executor=executor)
    except ScenarioError as exc:
        assert "batch slots" in str(exc)
        approx = seqsim.simulate(scenario, progress=False, shards=shards, executor=executor,
                                 approximate=True)
        assert approx.info["shards"]["exact"] is False
        return False
    assert sharded.info["shards"] == {"count": shards, "exact": True}
    assert_identical(one, sharded)
    return True


@pytest.fixture(scope="module")
def pool() -> Iterator[cf.Executor]:
    with cf.ProcessPoolExecutor(2) as executor:
        yield executor


@ENGINE_PROPERTY
@given(scenarios(with_policies=True), st.integers(1, 4), st.integers(2, 6),
       st.sampled_from([5000, 5000, None]))
def test_sharded_runs_match_the_single_run(pool: cf.Executor, scenario: seqsim.Scenario,
                                           shards: int, devices: int,
                                           batch: int | None) -> None:
    event(f"{min(shards, devices)} shards with devices")
    exact = check_sharded(on_devices(scenario, devices, batch), shards, pool)
    event("exact" if exact else "the batch limit bound: refused")
    jitter = any(s.min_delay_seconds < s.max_delay_seconds for s in scenario.sequences)
    event(f"{scenario.capacity.failure_rate:.0%} failures, "
          f"{'jittered' if jitter else 'fixed'} pacing")


def _world(extra: dict | None = None, **capacity: object) -> seqsim.Scenario:
    """A small fleet with production-like limits, pacing and failures (``extra``
    replaces top-level tables, ``capacity`` capacity keys)."""
    return seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "10d",
                       "poll_interval": "5m", "seed": 11},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3, 6],
                       "min_delay_seconds": 5, "max_delay_seconds": 15}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 20,
                      "end": "2025-07-02T00:00:00"}],
        "capacity": {"devices": 6, "hourly_limit": 10, "daily_limit": 60,
                     "in_flight_limit": 3, "failure_rate": 0.2, "max_retries": 1,
                     **capacity},
    } | (extra or {}))


def test_a_fixed_world_in_three_shards_is_the_single_run(pool: cf.Executor) -> None:
    assert check_sharded(_world(), 3, pool)


def test_a_binding_batch_limit_is_refused_naming_the_poll() -> None:
    scenario = _world(batch_size=3)
    with cf.ThreadPoolExecutor(2) as threads:
        with pytest.raises(ScenarioError, match=r"shards: 2 is not valid for this scenario; at "
                           r"poll \d+ \(2025-07-\d\dT[\d:]+\) the shards' due rows took \d+ "
                           r"batch slots, more than capacity.batch_size = 3"):
            seqsim.simulate(scenario, progress=False, shards=2, executor=threads)
        approx = seqsim.simulate(scenario, progress=False, shards=2, executor=threads,
                                 approximate=True)
    about = approx.info["shards"]
    assert about["exact"] is False and about["batch_slots"] > 3
    assert about["batch_bound_at_poll"] >= 0


def test_shards_on_a_dask_local_cluster_match_the_single_run() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        executor = client.get_executor()
        assert check_sharded(_world(), 2, executor)
        assert check_sharded(_world(devices=3, in_flight_limit=0), 4, executor)


@pytest.mark.parametrize(("options", "message"), [
    ({"shards": 0}, r"shards: 0 is not valid; expected an integer >= 1"),
    ({"shards": "2"}, r"shards: '2' is not valid; expected an integer >= 1"),
    ({"shards": True}, r"shards: True is not valid; expected an integer >= 1"),
    ({"shards": 2, "executor": "local"}, r"executor: str is not valid; expected a "
                                          r"concurrent.futures.Executor"),
    ({"executor": cf.ThreadPoolExecutor(1)}, r"executor: is not valid without shards"),
    ({"shards": 2, "engine": "row"}, r"shards: 2 is not valid with engine 'row'; expected "
                                     r"engine = \"batch\""),
])
def test_bad_shard_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        seqsim.simulate(_world(), progress=False, **options)


def test_faults_are_refused() -> None:
    faulty = _world({"faults": {"db_clock_offset": "5s"}})
    with pytest.raises(ScenarioError, match=r"faults.db_clock_offset: is not valid with "
                                            r"shards = 2"):
        seqsim.simulate(faulty, progress=False, shards=2)


def test_the_skip_stale_catch_up_in_two_shards_is_the_single_run(pool: cf.Executor) -> None:
    # Two-hour outage on 12-hour steps with 30 min staleness: rows skipped in rounds.
    stale = _world({"policy": {"catch_up": "skip_stale", "stale_after": "30m", "outages": [
        {"start": "2025-07-01T03:00:00", "duration": "3h"}]}, "sequences": [
        {"name": "COLD", "trigger": "cold", "days": [1, 2, 3], "delay_hours": [0, 1, 1]}]},
        in_flight_limit=0, hourly_limit=0, daily_limit=0)
    assert check_sharded(stale, 2, pool)
