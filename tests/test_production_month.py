"""data/scenarios/production_month.toml: too large for the suite, so it is read here
and run as a slice (a hundredth of the fleet and of the enrolment, for two days)."""

from __future__ import annotations

from pathlib import Path

import seqsim
from seqsim import Scenario
from seqsim.model.size import poll_count
from seqsim.testing import assert_invariants

PATH = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "production_month.toml"


def test_it_describes_the_production_fleet_for_a_month() -> None:
    scenario = Scenario.from_toml(PATH)
    cap, sim = scenario.capacity, scenario.simulation
    assert (cap.devices, cap.hourly_limit, cap.daily_limit, cap.in_flight_limit,
            cap.batch_size) == (3000, 80, 800, 50, 5000)
    assert poll_count(sim.duration, sim.poll_interval) == 30 * 24 * 240
    (sequence,) = scenario.sequences
    assert sequence.days == (1, 3, 6, 9)
    assert (sequence.min_delay_seconds, sequence.max_delay_seconds) == (5, 15)


def test_a_slice_of_it_runs_clean_and_keeps_up() -> None:
    scenario = Scenario.from_toml(PATH).with_overrides({
        "capacity.devices": 30, "workload.0.rate_per_hour": 27.5,
        "simulation.duration": "2d"})
    result = seqsim.simulate(scenario, progress=False)
    assert_invariants(result)
    summary = result.summary
    assert summary["lost_contacts"] == summary["duplicate_sends"] == 0
    assert summary["contacts_enrolled"] > 1000
    # The full fleet keeps up with this enrolment: a send waits for its poll and pacing.
    assert summary["lateness_max_s"] < 60
