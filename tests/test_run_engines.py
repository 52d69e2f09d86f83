"""seqsim.run.engines: the static tables a compiled run starts from, read once per process."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import seqsim
from seqsim.engine import schema
from seqsim.model.capacity import device_ids
from seqsim.run import engines
from tests.store_helpers import tiny_scenario


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    engines._read_static.cache_clear()


def _read_directly(scenario: seqsim.Scenario) -> dict[str, pd.DataFrame]:
    devices = device_ids(scenario.capacity.devices)
    con = engines._static_database(tuple(scenario.sequences), devices,
                                   engines._limits(scenario))
    try:
        return schema.read_tables(con)
    finally:
        con.close()


def test_the_tables_are_those_of_a_fresh_database() -> None:
    scenario = tiny_scenario()
    devices = device_ids(scenario.capacity.devices)
    for _ in range(2):  # read, then from the cache
        got = engines.static_tables(scenario, devices)
        expected = _read_directly(scenario)
        assert list(got) == list(expected)
        for name in expected:
            assert_frame_equal(got[name], expected[name])


def test_runs_differing_only_in_seed_or_workload_read_them_once() -> None:
    scenario = tiny_scenario()
    seqsim.simulate(scenario, progress=False)
    seqsim.simulate(scenario.with_overrides({"simulation.seed": 9}), progress=False)
    assert engines._read_static.cache_info()[:2] == (1, 1)  # hits, misses
    seqsim.simulate(scenario.with_overrides({"capacity.daily_limit": 7}), progress=False)
    assert engines._read_static.cache_info()[:2] == (1, 2)


def test_a_change_to_one_runs_tables_stays_its_own() -> None:
    scenario = tiny_scenario()
    first = seqsim.simulate(scenario, progress=False)
    first.tables["sequences"].loc[0, "name"] = "CHANGED"
    first.tables["devices"]["extra"] = 1
    second = seqsim.simulate(scenario, progress=False)
    assert "CHANGED" not in second.tables["sequences"]["name"].tolist()
    assert "extra" not in second.tables["devices"]
    assert second.summary == first.summary
