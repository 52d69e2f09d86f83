"""Tests of seqsim.model.size: a run too big to hold is rejected before it is built."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.model.size import MAX_POLLS, expected_arrivals, poll_count
from seqsim.model.workload import WorkloadConfig

START = datetime(2025, 7, 1)
END = START + timedelta(days=2)


def test_poll_count_rounds_up() -> None:
    assert poll_count(timedelta(days=14), timedelta(seconds=15)) == 80_640
    assert poll_count(timedelta(seconds=31), timedelta(seconds=15)) == 3


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        (WorkloadConfig(kind="poisson", trigger="c", rate_per_hour=10), 480.0),
        (WorkloadConfig(kind="diurnal", trigger="c", rate_per_hour=10), 480.0),
        (WorkloadConfig(kind="constant", trigger="c", rate_per_hour=10), 481.0),
        (WorkloadConfig(kind="poisson", trigger="c", rate_per_hour=10,
                        end=START + timedelta(hours=3)), 30.0),
        (WorkloadConfig(kind="burst", trigger="c", count=7), 7.0),
    ],
)
def test_expected_arrivals_per_kind(workload: WorkloadConfig, expected: float) -> None:
    assert expected_arrivals(workload, START, END) == expected


def test_expected_arrivals_of_a_trace_are_its_rows_in_the_window() -> None:
    assert expected_arrivals(WorkloadConfig(kind="trace", path="t.csv"), START, END, 12) == 12.0


def _scenario(*workload: dict, **simulation: object) -> Scenario:
    return Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d", **simulation},
        "sequences": [{"name": "C", "trigger": "c", "days": [1]}],
        "workload": list(workload),
    })


def test_arrivals_over_all_workloads_are_capped_naming_the_biggest() -> None:
    small = {"kind": "poisson", "trigger": "c", "rate_per_hour": 1000}
    big = {"kind": "burst", "trigger": "c", "count": 1_990_000}
    with pytest.raises(ScenarioError, match=r"^workload\[1\]\.count: 1990000 is not valid; "
                       r"expected at most 2,000,000 leads enrolled per run \(this run would "
                       r"enrol about 2,038,000, 1,990,000 of them from workload\[1\]\)"):
        _scenario(small, big)
    assert len(_scenario(small, {**big, "count": 1_000}).workload) == 2


def test_the_poll_ceiling_is_inclusive() -> None:
    # 2 days at 17.28 ms is exactly MAX_POLLS polls; a microsecond less is one too many.
    at_cap = timedelta(days=2) / MAX_POLLS
    burst = {"kind": "burst", "trigger": "c", "count": 1}
    assert _scenario(burst, poll_interval=at_cap).simulation.poll_interval == at_cap
    with pytest.raises(ScenarioError, match=r"^simulation\.poll_interval: .* at most "
                       r"10,000,000 polls in the run's 2d \(this is 10,000,579 polls\)"):
        _scenario(burst, poll_interval=at_cap - timedelta(microseconds=1))
