"""Every number, instant and size has a valid range, checked when a scenario is validated.

Each reproducer of issue 17 (a traceback, an allocation error or a silently
wrong run) now gives one ``seqsim: error:`` line naming the field and the
valid range, and exit status 2, whichever surface it came through: the
``--set`` of the command line here, and the Python API below (TOML, dicts
and overrides share the one validation path).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from seqsim.cli.main import main
from seqsim.errors import ScenarioError
from seqsim.model.capacity import CapacityConfig
from seqsim.model.policy import PolicyConfig
from seqsim.model.scenario import Scenario, SimulationConfig
from seqsim.model.workload import WorkloadConfig
from seqsim.units import parse_duration, parse_instant

BASELINE = str(Path(__file__).resolve().parents[1] / "data" / "scenarios" / "baseline.toml")
_INSTANTS = r"from 1900-01-01T00:00:00 to 2200-01-01T00:00:00$"
_LIMIT = r"expected a whole number from 0 to 2,147,483,647 \(0 = unlimited\)$"

REPRODUCERS = [
    (["simulation.start=9999-12-31T00:00:00"],
     r"simulation\.start: '9999-12-31T00:00:00' is not valid; expected an ISO-8601 .*" + _INSTANTS),
    (["simulation.start=0001-01-01T00:00:00", "workload.0.timezone=America/New_York",
      "policy.send_hours=09:00-17:00"],
     r"simulation\.start: '0001-01-01T00:00:00' is not valid; .*" + _INSTANTS),
    (["simulation.start=2199-12-25T00:00:00", "workload.0.end=2199-12-26T00:00:00"],
     r"simulation\.duration: '14d' is not valid; expected a duration that ends the run by "
     r"2200-01-01T00:00:00 \(the run starts 2199-12-25T00:00:00\)$"),
    (["simulation.duration=999999999d"],
     r"simulation\.duration: '999999999d' is not valid; .*from 0s to 109573d$"),
    (["simulation.duration=1000000d"],
     r"simulation\.duration: '1000000d' is not valid; .*from 0s to 109573d$"),
    (["policy.outages=[{start = 2025-07-02T00:00:00, duration = '999999999d'}]"],
     r"policy\.outages\[0\]\.duration: '999999999d' is not valid; .*from 0s to 109573d$"),
    (["policy.outages=[{start = 2025-07-02T00:00:00, duration = '80000d'}]"],
     r"policy\.outages\[0\]\.duration: '80000d' is not valid; expected a duration > 0, e\.g\. "
     r"'6h', that ends the outage by 2200-01-01T00:00:00$"),
    (["capacity.hourly_limit=2147483648"], r"capacity\.hourly_limit: 2147483648 .*" + _LIMIT),
    (["capacity.daily_limit=2147483648"], r"capacity\.daily_limit: 2147483648 .*" + _LIMIT),
    (["capacity.in_flight_limit=2147483648"],
     r"capacity\.in_flight_limit: 2147483648 .*" + _LIMIT),
    (["sequences.COLD.days=[1,100000000]"],
     r"sequences\.COLD\.days\[1\]: 100000000 is not valid; expected a day number from 0 to "
     r"3,650$"),
    (["sequences.COLD.delay_hours=[0,2147483648,1,1]"],
     r"sequences\.COLD\.delay_hours\[1\]: 2147483648 is not valid; expected hours from 0 to "
     r"87,600$"),
    (["capacity.devices=10000000"],
     r"capacity\.devices: 10000000 is not valid; expected a whole number of devices from 1 to "
     r"100,000$"),
    (["simulation.poll_interval=0.000001s"],
     r"simulation\.poll_interval: '0\.000001s' is not valid; expected at most 10,000,000 polls "
     r"in the run's 14d \(this is 1,209,600,000,000 polls\): a poll_interval >= 0\.12096s or a "
     r"shorter duration$"),
    (["workload.0.rate_per_hour=1e12"],
     r"workload\[0\]\.rate_per_hour: 1000000000000\.0 is not valid; expected at most 2,000,000 "
     r"leads enrolled per run \(this run would enrol about 72,000,000,000,000\): a lower rate "
     r"or count, or a shorter window$"),
    (["sequences.COLD.min_delay_seconds=1e12", "sequences.COLD.max_delay_seconds=1e12"],
     r"sequences\.COLD\.min_delay_seconds: 1000000000000\.0 is not valid; expected seconds "
     r"from 0 to 86,400 \(a day\)$"),
    (["sequences.COLD.max_delay_seconds=86401"],
     r"sequences\.COLD\.max_delay_seconds: 86401 .*seconds from 0 to 86,400 \(a day\)$"),
    (["capacity.batch_size=1000000000000000000000000000000"],
     r"capacity\.batch_size: 1000000000000000000000000000000 is not valid; expected a whole "
     r"number of rows from 1 to 2,147,483,647$"),
    (["capacity.max_retries=9223372036854775807"],
     r"capacity\.max_retries: 9223372036854775807 is not valid; expected a whole number from 0 "
     r"to 1,000$"),
    (["simulation.seed=1180591620717411303424"],
     r"simulation\.seed: 1180591620717411303424 is not valid; expected an integer from 0 to "
     r"9,223,372,036,854,775,807$"),
    (["capacity.devices=100000", "simulation.duration=30d"],
     r"capacity\.devices: 100000 is not valid; expected at most 10,000,000,000 devices x polls "
     r"\(this run is 100,000 x 172,800 = 17,280,000,000\): fewer devices, fewer polls or a "
     r"shorter run$"),
]
# Zones that mean something else on each machine, or nothing at all.
REPRODUCERS += [
    ([f"policy.daily_cap_zone={zone}"],
     rf"policy\.daily_cap_zone: '{zone}' is not valid; expected an IANA time zone such as "
     r"'UTC' or 'Asia/Singapore'")
    for zone in ("localtime", "Factory", "posixrules", "right/UTC", "posix/UTC")
]


@pytest.mark.parametrize(("overrides", "message"), REPRODUCERS,
                         ids=[o[0][:40] for o, _ in REPRODUCERS])
def test_reproducer_gives_one_line_naming_the_field_and_range(
    overrides: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", BASELINE, "--no-progress"]
    for item in overrides:
        argv += ["--set", item]
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, out
    assert err.count("\n") == 1, err
    assert err.startswith("seqsim: error: ")
    assert re.match(message, err.removeprefix("seqsim: error: ").rstrip("\n")), err


def test_burst_counts_and_diurnal_weights_are_bounded() -> None:
    with pytest.raises(ScenarioError, match=r"^workload\.count: 10000000000 is not valid; "
                       r"expected a whole number of leads from 1 to 2,000,000$"):
        WorkloadConfig(kind="burst", trigger="c", count=10**10)
    with pytest.raises(ScenarioError, match=r"^workload\.profile\[0\]: 1e\+308 is not valid; "
                       r"expected a weight from 0 to 1e\+09$"):
        WorkloadConfig(kind="diurnal", trigger="c", rate_per_hour=20, profile=[1e308] + [0] * 23)
    assert WorkloadConfig(kind="burst", trigger="c", count=2_000_000).count == 2_000_000


def test_instants_outside_the_range_are_rejected_wherever_given() -> None:
    with pytest.raises(ScenarioError, match=r"^workload\.at: '1899-12-31T23:59:59' .*" + _INSTANTS):
        WorkloadConfig(kind="burst", trigger="c", count=1, at="1899-12-31T23:59:59")
    with pytest.raises(ScenarioError, match=r"^x: '0001-01-01T00:00:00\+05:00' .*" + _INSTANTS):
        parse_instant("0001-01-01T00:00:00+05:00", "x")  # before year 1 once in UTC
    assert parse_instant("1900-01-01T00:00:00", "x") == datetime(1900, 1, 1)
    assert parse_instant("2200-01-01T00:00:00", "x") == datetime(2200, 1, 1)


def test_durations_stop_at_the_instant_range() -> None:
    assert parse_duration("109573d", "x") == timedelta(days=109_573)
    for value in ("109574d", 10**12, timedelta(days=200_000)):
        with pytest.raises(ScenarioError, match=r"^x: .* from 0s to 109573d$"):
            parse_duration(value, "x")


def test_a_run_may_end_exactly_at_the_last_instant() -> None:
    sim = SimulationConfig(start="2199-12-31T00:00:00", duration="1d")
    assert sim.end == datetime(2200, 1, 1)


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "Asia/Singapore", "US/Eastern"])
def test_tzdata_zones_and_links_are_accepted(zone: str) -> None:
    assert PolicyConfig(daily_cap_zone=zone).daily_cap_zone == zone


def test_bounds_are_the_same_through_every_surface() -> None:
    """Python API, TOML text and overrides reject the same value with the same line."""
    message = r"^capacity\.hourly_limit: 2147483648 .*" + _LIMIT
    with pytest.raises(ScenarioError, match=message):
        CapacityConfig(hourly_limit=2**31)
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_toml(BASELINE).with_overrides({"capacity.hourly_limit": 2**31})
    text = Path(BASELINE).read_text(encoding="utf-8").replace(
        "hourly_limit = 80", "hourly_limit = 2147483648")
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_toml_string(text)
    assert CapacityConfig(hourly_limit=2**31 - 1).hourly_limit == 2**31 - 1
