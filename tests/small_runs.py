"""Small real runs shared by the chart, comparison and report tests (one each per session)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import seqsim
from seqsim import Result, Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"

#: The backlog scenario shrunk to well under a second: 2 days of enrolment into a
#: 4-step sequence (delays 0, 24, 24, 24 h) on 2 devices whose limits are too
#: tight, with a few failed sends, over 5 days. It has a backlog, late steps,
#: finished and unfinished contacts and failed attempts.
BACKLOG_OVERRIDES = {
    "simulation.duration": "5d",
    "workload.0.rate_per_hour": 4,
    "workload.0.end": "2025-07-03T00:00:00",
    "sequences.COLD.days": [1, 2, 3, 4],
    "capacity.hourly_limit": 6,
    "capacity.daily_limit": 60,
    "capacity.failure_rate": 0.05,
    "capacity.max_retries": 1,
}


def backlog_scenario(**overrides: object) -> Scenario:
    base = Scenario.from_toml(SCENARIOS / "backlog.toml")
    return base.with_overrides({**BACKLOG_OVERRIDES, **overrides})


@cache
def backlog_run(devices: int = 2) -> Result:
    """The shrunk backlog scenario with ``devices`` devices."""
    return seqsim.simulate(backlog_scenario(**{"capacity.devices": devices}), progress=False)


@cache
def chained_run() -> Result:
    """COLD -> WARM -> HOT for 16 leads enrolled on the first day: three sequences."""
    scenario = Scenario.from_toml(SCENARIOS / "chained.toml").with_overrides({
        "simulation.duration": "16d",
        "workload.0.rate_per_hour": 1,
        "workload.0.end": "2025-07-02T00:00:00",
    })
    return seqsim.simulate(scenario, progress=False)


@cache
def calm_run() -> Result:
    """The same enrolment on a fleet that keeps up: no backlog, lateness in seconds."""
    scenario = backlog_scenario(**{"capacity.devices": 4, "capacity.hourly_limit": 80,
                                   "capacity.daily_limit": 800, "capacity.failure_rate": 0.0})
    return seqsim.simulate(scenario, progress=False)
