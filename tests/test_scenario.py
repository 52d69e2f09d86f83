"""Tests of seqsim.model.scenario: parsing, validation, TOML round trip, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seqsim.errors import ScenarioError, SequenceDefinitionError
from seqsim.model.capacity import CapacityConfig
from seqsim.model.overrides import parse_override
from seqsim.model.policy import PolicyConfig
from seqsim.model.scenario import DEFAULT_ENGINE, Scenario, SimulationConfig
from seqsim.model.sequence import SequenceConfig
from seqsim.model.workload import DEFAULT_DIURNAL_PROFILE, WorkloadConfig
from seqsim.units import format_duration, parse_duration, parse_instant

DATA = Path(__file__).resolve().parent.parent / "data"
START = datetime(2025, 7, 1)
TRACE_HEADER = "timestamp,phone,trigger,device_id\n"


def base_dict(**tables: Any) -> dict[str, Any]:
    """Return a minimal valid scenario dict; keyword tables replace or add tables."""
    d: dict[str, Any] = {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d"},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3]}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 10}],
    }
    d.update(tables)
    return d


def with_key(table: str, key: str, value: Any) -> dict[str, Any]:
    """Return `base_dict` with ``table.key = value`` (workload/sequences: the first item)."""
    d = base_dict()
    target = d[table][0] if table in ("workload", "sequences") else d.setdefault(table, {})
    target[key] = value
    return d


def write_trace(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15s", timedelta(seconds=15)),
        ("5m", timedelta(minutes=5)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("1.5h", timedelta(minutes=90)),
        ("0.25s", timedelta(milliseconds=250)),
        (".5m", timedelta(seconds=30)),
        (" 2H ", timedelta(hours=2)),
        ("0s", timedelta(0)),
        (15, timedelta(seconds=15)),
        (2.5, timedelta(seconds=2.5)),
        (timedelta(hours=3), timedelta(hours=3)),
    ],
)
def test_parse_duration_accepts(text: Any, expected: timedelta) -> None:
    assert parse_duration(text, "k") == expected


@pytest.mark.parametrize(
    "bad",
    ["", "15", "15x", "h", "-5s", "5s-", "1.2.3h", "abc", "5 m x", None, True, [15], "1e3s"],
)
def test_parse_duration_rejects(bad: Any) -> None:
    with pytest.raises(ScenarioError, match=r"^simulation\.duration: .* is not valid; expected"):
        parse_duration(bad, "simulation.duration")


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), timedelta(seconds=-1)])
def test_parse_duration_rejects_negative_and_non_finite(bad: Any) -> None:
    with pytest.raises(ScenarioError, match="poll_interval"):
        parse_duration(bad, "poll_interval")


@pytest.mark.parametrize(
    "td",
    [
        timedelta(0),
        timedelta(seconds=15),
        timedelta(days=14),
        timedelta(days=1, hours=12),
        timedelta(hours=1, minutes=30),
        timedelta(seconds=1, microseconds=1),
        timedelta(milliseconds=250),
    ],
)
def test_format_duration_round_trips(td: timedelta) -> None:
    assert parse_duration(format_duration(td), "k") == td


def test_format_duration_uses_largest_units() -> None:
    assert format_duration(timedelta(seconds=15)) == "15s"
    assert format_duration(timedelta(days=30)) == "30d"
    assert format_duration(timedelta(days=1, hours=12)) == "1d12h"


# --------------------------------------------------------------------------- instants


def test_parse_instant_forms() -> None:
    assert parse_instant("2025-07-01T00:00:00", "k") == START
    assert parse_instant("2025-07-01", "k") == START
    assert parse_instant(date(2025, 7, 1), "k") == START
    assert parse_instant(START, "k") == START
    # Aware values are converted to UTC and made naive.
    aware = datetime(2025, 7, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert parse_instant(aware, "k") == START
    assert parse_instant("2025-07-01T08:00:00+08:00", "k") == START
    assert parse_instant("2025-07-01T00:00:00Z", "k").tzinfo is None
    assert parse_instant(datetime(2025, 7, 1, tzinfo=UTC), "k") == START


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01", "", 20250701, None, 1.5])
def test_parse_instant_rejects(bad: Any) -> None:
    with pytest.raises(ScenarioError, match=r"^simulation\.start: .* is not valid; expected"):
        parse_instant(bad, "simulation.start")


# --------------------------------------------------------------------------- simulation


def test_simulation_defaults_and_normalisation() -> None:
    sim = SimulationConfig(start="2025-07-01T00:00:00", duration="14d")  # type: ignore[arg-type]
    assert sim.start == START
    assert sim.duration == timedelta(days=14)
    assert sim.poll_interval == timedelta(seconds=15)
    assert sim.seed == 42
    assert sim.engine == DEFAULT_ENGINE
    assert sim.end == datetime(2025, 7, 15)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("start", "soon", r"simulation\.start: 'soon' is not valid"),
        ("duration", "forever", r"simulation\.duration: 'forever' is not valid"),
        ("duration", "-1d", r"simulation\.duration"),
        ("duration", "10s", r"simulation\.duration: '10s' is not valid; expected .*>= poll"),
        ("poll_interval", "0s", r"simulation\.poll_interval: '0s' is not valid; .*> 0"),
        ("poll_interval", 0, r"simulation\.poll_interval: 0 is not valid"),
        ("seed", -1, r"simulation\.seed: -1 is not valid"),
        ("seed", "42", r"simulation\.seed: '42' is not valid"),
        ("seed", 1.5, r"simulation\.seed"),
        ("seed", True, r"simulation\.seed: True"),
        ("engine", "warp", r"simulation\.engine: 'warp' is not valid; expected one of 'row'"),
    ],
)
def test_simulation_bad_values(key: str, value: Any, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(with_key("simulation", key, value))


def test_simulation_missing_keys() -> None:
    d = base_dict()
    del d["simulation"]["duration"]
    with pytest.raises(ScenarioError, match=r"simulation\.duration: missing"):
        Scenario.from_dict(d)
    d = base_dict()
    del d["simulation"]
    with pytest.raises(ScenarioError, match=r"^simulation: missing"):
        Scenario.from_dict(d)


def test_simulation_must_be_a_table() -> None:
    with pytest.raises(ScenarioError, match=r"simulation: '2d' is not valid; expected a table"):
        Scenario.from_dict(base_dict(simulation="2d"))


# --------------------------------------------------------------------------- unknown keys


def test_unknown_top_level_key_did_you_mean() -> None:
    with pytest.raises(ScenarioError, match=r"^capacty: unknown key; did you mean 'capacity'\?"):
        Scenario.from_dict(base_dict(capacty={}))


def test_unknown_top_level_key_without_match_lists_keys() -> None:
    with pytest.raises(ScenarioError, match=r"zzz: unknown key; expected one of 'simulation'"):
        Scenario.from_dict(base_dict(zzz=1))


@pytest.mark.parametrize(
    ("table", "key", "match"),
    [
        ("capacity", "devcies", r"capacity\.devcies: unknown key; did you mean 'devices'\?"),
        ("simulation", "pol_interval", r"simulation\.pol_interval: .*did you mean 'poll_interval'"),
        ("policy", "progres_on", r"policy\.progres_on: unknown key; did you mean 'progress_on'"),
        ("workload", "rate_per_hr", r"workload\[0\]\.rate_per_hr: .*did you mean 'rate_per_hour'"),
        ("sequences", "dayz", r"sequences\.COLD\.dayz: unknown key; did you mean 'days'"),
    ],
)
def test_unknown_nested_key_did_you_mean(table: str, key: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(with_key(table, key, 1))


# --------------------------------------------------------------------------- capacity


def test_capacity_defaults() -> None:
    cap = CapacityConfig()
    assert (cap.devices, cap.batch_size, cap.hourly_limit, cap.daily_limit) == (8, 5000, 80, 800)
    assert (cap.in_flight_limit, cap.failure_rate, cap.max_retries) == (50, 0.0, 3)
    assert CapacityConfig(hourly_limit=0, daily_limit=0, in_flight_limit=0).hourly_limit == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("devices", 0),
        ("devices", "4"),
        ("devices", True),
        ("devices", 2.0),
        ("batch_size", 0),
        ("hourly_limit", -1),
        ("daily_limit", -5),
        ("daily_limit", "800"),
        ("in_flight_limit", -1),
        ("failure_rate", 1.0),
        ("failure_rate", -0.1),
        ("failure_rate", "0.1"),
        ("failure_rate", float("nan")),
        ("max_retries", -1),
        ("max_retries", False),
    ],
)
def test_capacity_bad_values(key: str, value: Any) -> None:
    with pytest.raises(ScenarioError, match=rf"^capacity\.{key}: .* is not valid; expected"):
        Scenario.from_dict(with_key("capacity", key, value))


def test_capacity_must_be_a_table() -> None:
    with pytest.raises(ScenarioError, match=r"^capacity: 4 is not valid; expected a table"):
        Scenario.from_dict(base_dict(capacity=4))


# --------------------------------------------------------------------------- policy


def test_policy_defaults_and_queue() -> None:
    assert PolicyConfig() == PolicyConfig("one_by_one", "next_step", "delivery")
    assert PolicyConfig(progress_on="queue").progress_on == "queue"


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("strategy", "all_at_once", r"expected one of 'one_by_one', 'all_at_enrollment'"),
        ("delay_from", "previous", r"expected one of 'next_step', 'completed_step', 'enrollment'"),
        ("strategy", "random", r"policy\.strategy: 'random' is not valid; expected one of"),
        ("progress_on", "send", r"expected one of 'delivery', 'queue'"),
        ("progress_on", 1, r"policy\.progress_on: 1 is not valid"),
    ],
)
def test_policy_bad_values(key: str, value: Any, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(with_key("policy", key, value))


def test_policy_full_table_round_trips() -> None:
    policy = {
        "strategy": "all_at_enrollment", "delay_from": "enrollment", "progress_on": "queue",
        "send_hours": "22:00-06:00", "send_days": ["Monday", "fri", "TUE"],
        "daily_cap": "calendar", "daily_cap_zone": "Asia/Singapore",
        "outages": [{"start": "2025-07-01T12:00:00", "duration": "6h"},
                    {"start": "2025-07-01T02:00:00", "end": "2025-07-01T03:00:00"}],
        "catch_up": "skip_stale", "stale_after": "2h",
    }
    scn = Scenario.from_dict(base_dict(policy=policy))
    p = scn.policy
    assert p.send_days == ("mon", "tue", "fri")
    assert [(o.start.hour, o.end.hour) for o in p.outages] == [(2, 3), (12, 18)]
    assert p.stale_after == timedelta(hours=2)
    assert Scenario.from_toml_string(scn.to_toml()) == scn
    assert scn.to_dict()["policy"]["outages"][1] == {"start": "2025-07-01T12:00:00",
                                                     "end": "2025-07-01T18:00:00"}


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("send_hours", "09:00-09:00", r"policy\.send_hours: '09:00-09:00' is not valid;.*empty"),
        ("send_hours", "9-17", r"policy\.send_hours: '9-17' is not valid"),
        ("send_days", [], r"policy\.send_days: \[\] is not valid;.*at least one weekday"),
        ("send_days", ["mon", "frday"], r"policy\.send_days\[1\]: 'frday'.*did you mean 'fri'"),
        ("send_days", "mon", r"policy\.send_days: 'mon' is not valid"),
        ("daily_cap", "weekly", r"policy\.daily_cap: 'weekly' is not valid; expected one of "
                                r"'rolling', 'calendar'"),
        ("daily_cap_zone", "Mars/Base", r"policy\.daily_cap_zone: 'Mars/Base' is not valid;"
                                        r".*IANA time zone"),
        ("catch_up", "skip", r"policy\.catch_up: 'skip' is not valid; expected one of 'burst'"),
        ("stale_after", "0s", r"policy\.stale_after: '0s' is not valid; expected a duration > 0"),
        ("stale_after", "soon", r"policy\.stale_after: 'soon' is not valid"),
        ("outages", {"start": "2025-07-01T01:00:00"}, r"policy\.outages: .* list of tables"),
        ("outages", [{"start": "2025-07-01T01:00:00"}],
         r"policy\.outages\[0\]: .*exactly one of 'end' or 'duration'"),
        ("outages", [{"start": "2025-07-01T01:00:00", "end": "2025-07-01T02:00:00",
                      "duration": "1h"}], r"policy\.outages\[0\]: .*exactly one of"),
        ("outages", [{"start": "2025-07-01T01:00:00", "duration": "0s"}],
         r"policy\.outages\[0\]\.duration: '0s' is not valid; expected a duration > 0"),
        ("outages", [{"start": "2025-07-01T03:00:00", "end": "2025-07-01T02:00:00"}],
         r"policy\.outages\[0\]\.end: '2025-07-01T02:00:00' is not valid; expected an instant "
         r"after its start"),
        ("outages", [{"start": "2025-07-01T01:00:00", "duration": "1h", "why": "deploy"}],
         r"policy\.outages\[0\]\.why: unknown key"),
        ("outages", [{"start": "2025-07-01T01:00:00", "duration": "3h"},
                     {"start": "2025-07-01T02:00:00", "duration": "1h"}],
         r"policy\.outages: .*outages that do not overlap"),
        ("outages", [{"start": "2025-07-05T01:00:00", "duration": "1h"}],
         r"policy\.outages\[0\]\.start: '2025-07-05T01:00:00' is not valid; expected an "
         r"instant in the run"),
    ],
)
def test_policy_rejections(key: str, value: Any, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(with_key("policy", key, value))


def test_calendar_cap_needs_a_daily_limit() -> None:
    d = base_dict(capacity={"daily_limit": 0}, policy={"daily_cap": "calendar"})
    with pytest.raises(ScenarioError, match=r"policy\.daily_cap: 'calendar' is not valid; "
                                            r"expected 'rolling' when capacity\.daily_limit is 0"):
        Scenario.from_dict(d)


def test_workload_and_sequence_windows_validated() -> None:
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.timezone: 'UTC\+8' is not valid"):
        Scenario.from_dict(with_key("workload", "timezone", "UTC+8"))
    with pytest.raises(ScenarioError, match=r"sequences\.COLD\.send_days\[0\]: 'tues'.*'tue'"):
        Scenario.from_dict(with_key("sequences", "send_days", ["tues"]))
    scn = Scenario.from_dict(with_key("workload", "timezone", "Asia/Singapore"))
    assert scn.workload[0].timezone == "Asia/Singapore"


# --------------------------------------------------------------------------- sequences


def test_sequence_errors_propagate_unchanged() -> None:
    with pytest.raises(SequenceDefinitionError, match=r"sequences\.COLD\.days"):
        Scenario.from_dict(with_key("sequences", "days", [3, 1]))


def test_sequences_required_and_non_empty() -> None:
    d = base_dict()
    del d["sequences"]
    with pytest.raises(ScenarioError, match=r"^sequences: missing"):
        Scenario.from_dict(d)
    with pytest.raises(ScenarioError, match=r"^sequences: \[\] is not valid; expected at least"):
        Scenario.from_dict(base_dict(sequences=[], workload=[]))


def test_sequences_must_be_a_list_of_tables() -> None:
    with pytest.raises(ScenarioError, match=r"^sequences: .* expected a list of tables"):
        Scenario.from_dict(base_dict(sequences={"name": "COLD"}))
    with pytest.raises(ScenarioError, match=r"^sequences\[0\]: 'COLD' is not valid"):
        Scenario.from_dict(base_dict(sequences=["COLD"]))


def test_sequence_missing_key() -> None:
    d = base_dict(sequences=[{"name": "COLD", "trigger": "cold"}])
    with pytest.raises(ScenarioError, match=r"sequences\.COLD\.days: missing"):
        Scenario.from_dict(d)


def test_sequence_chain_checked() -> None:
    seqs = [
        {"name": "COLD", "trigger": "cold", "days": [1], "next": "WARM"},
        {"name": "WARM", "trigger": "warm", "days": [1], "next": "COLD"},
    ]
    with pytest.raises(SequenceDefinitionError, match="cycle"):
        Scenario.from_dict(base_dict(sequences=seqs))


# --------------------------------------------------------------------------- workload


def test_workload_defaults_and_normalisation() -> None:
    wl = WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=5)
    assert wl.profile == DEFAULT_DIURNAL_PROFILE
    assert isinstance(wl.rate_per_hour, float)
    burst = WorkloadConfig(kind="burst", trigger="cold", count=3)
    assert burst.at is None
    trace = WorkloadConfig(kind="trace", path="x.csv")
    assert trace.path is not None and Path(trace.path).is_absolute()


def test_default_profile_shape() -> None:
    assert len(DEFAULT_DIURNAL_PROFILE) == 24
    assert all(w >= 0 for w in DEFAULT_DIURNAL_PROFILE)
    assert max(DEFAULT_DIURNAL_PROFILE[9:17]) > 10 * max(DEFAULT_DIURNAL_PROFILE[0:5])


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"kind": "poisson", "trigger": "cold", "rate_per_hour": -5}, r"rate_per_hour: -5 is not"),
        ({"kind": "poisson", "trigger": "cold", "rate_per_hour": 0}, r"rate_per_hour: 0 is not"),
        ({"kind": "poisson", "trigger": "cold", "rate_per_hour": "5"}, r"rate_per_hour: '5' is"),
        ({"kind": "poisson", "trigger": "cold", "rate_per_hour": float("inf")}, r"rate_per_hour"),
        ({"kind": "constant", "trigger": "cold", "rate_per_hour": True}, r"rate_per_hour: True"),
        ({"kind": "poisson", "trigger": "cold"}, r"rate_per_hour: missing"),
        ({"kind": "poisson", "rate_per_hour": 5}, r"trigger: missing"),
        ({"kind": "poisson", "trigger": "", "rate_per_hour": 5}, r"trigger: '' is not valid"),
        ({"kind": "poisson", "trigger": "a,b", "rate_per_hour": 5}, r"trigger: 'a,b' is not"),
        ({"trigger": "cold", "rate_per_hour": 5}, r"kind: missing; expected one of 'constant'"),
        ({"kind": "zipf", "trigger": "cold"}, r"kind: 'zipf' is not valid; expected one of"),
        (
            {"kind": "poisson", "trigger": "cold", "rate_per_hour": 5, "count": 3},
            r"count: 3 is not valid; a 'poisson' workload takes no 'count'",
        ),
        (
            {"kind": "burst", "trigger": "cold", "count": 3, "rate_per_hour": 5},
            r"a 'burst' workload takes no 'rate_per_hour'",
        ),
        (
            {"kind": "burst", "trigger": "cold", "count": 3, "start": "2025-07-01"},
            r"a 'burst' workload takes no 'start'",
        ),
        ({"kind": "burst", "trigger": "cold", "count": 0}, r"count: 0 is not valid"),
        ({"kind": "burst", "trigger": "cold", "count": 2.5}, r"count: 2\.5 is not valid"),
        ({"kind": "burst", "trigger": "cold"}, r"count: missing"),
        ({"kind": "burst", "trigger": "cold", "count": 1, "at": "noon"}, r"at: 'noon' is not"),
        ({"kind": "diurnal", "trigger": "cold", "rate_per_hour": 5, "profile": [1] * 23}, r"24"),
        (
            {"kind": "diurnal", "trigger": "cold", "rate_per_hour": 5, "profile": [0] * 24},
            r"profile: .* not all zero",
        ),
        (
            {"kind": "diurnal", "trigger": "cold", "rate_per_hour": 5, "profile": [-1] + [1] * 23},
            r"profile\[0\]: -1 is not valid",
        ),
        (
            {"kind": "diurnal", "trigger": "cold", "rate_per_hour": 5, "profile": "flat"},
            r"profile: 'flat' is not valid",
        ),
        ({"kind": "trace"}, r"path: missing"),
        ({"kind": "trace", "path": ""}, r"path: '' is not valid"),
        (
            {"kind": "trace", "path": "t.csv", "trigger": "cold"},
            r"a 'trace' workload takes no 'trigger'",
        ),
        (
            {"kind": "poisson", "trigger": "cold", "rate_per_hour": 5, "start": "x"},
            r"start: 'x' is not valid",
        ),
        (
            {
                "kind": "poisson",
                "trigger": "cold",
                "rate_per_hour": 5,
                "start": "2025-07-02",
                "end": "2025-07-01T12:00:00",
            },
            r"end: '2025-07-01T12:00:00' is not valid; expected an instant after workload\.start",
        ),
    ],
)
def test_workload_bad_values(table: dict[str, Any], match: str) -> None:
    # The second workload is bad, so the index in the key path must be [1].
    good = {"kind": "constant", "trigger": "cold", "rate_per_hour": 1}
    with pytest.raises(ScenarioError, match=r"^workload\[1\]\..*" + match):
        Scenario.from_dict(base_dict(workload=[good, table]))


def test_workload_trigger_must_name_a_sequence() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"workload\[0\]\.trigger: 'hot' is not valid; expected .* one of 'cold'",
    ):
        Scenario.from_dict(with_key("workload", "trigger", "hot"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("start", "2025-06-30T00:00:00"),
        ("start", "2025-07-03T00:00:00"),
        ("end", "2025-07-04T00:00:00"),
        ("end", "2025-07-01T00:00:00"),
    ],
)
def test_workload_window_inside_run(key: str, value: str) -> None:
    with pytest.raises(ScenarioError, match=rf"workload\[0\]\.{key}: '{value}' is not valid"):
        Scenario.from_dict(with_key("workload", key, value))


def test_workload_window_may_end_at_run_end() -> None:
    scn = Scenario.from_dict(with_key("workload", "end", "2025-07-03T00:00:00"))
    assert scn.workload[0].end == scn.end


def test_burst_at_inside_run() -> None:
    burst = {"kind": "burst", "trigger": "cold", "count": 2, "at": "2025-07-03T00:00:00"}
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.at: '2025-07-03T00:00:00' is not"):
        Scenario.from_dict(base_dict(workload=[burst]))


def test_workload_must_be_a_list_of_tables() -> None:
    with pytest.raises(ScenarioError, match=r"^workload: .* expected a list of tables"):
        Scenario.from_dict(base_dict(workload={"kind": "poisson"}))


def test_workload_may_be_absent() -> None:
    d = base_dict()
    del d["workload"]
    assert Scenario.from_dict(d).workload == ()


# --------------------------------------------------------------------------- traces


def test_trace_file_missing(tmp_path: Path) -> None:
    d = base_dict(workload=[{"kind": "trace", "path": "missing.csv"}])
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.path: .*missing\.csv: file not found"):
        Scenario.from_dict(d, base_dir=tmp_path)


def test_trace_relative_path_resolved_against_base_dir(tmp_path: Path) -> None:
    write_trace(tmp_path, TRACE_HEADER + "2025-07-01T01:00:00,+15550000001,cold,\n")
    scn = Scenario.from_dict(base_dict(workload=[{"kind": "trace", "path": "t.csv"}]), tmp_path)
    assert scn.workload[0].path == str(tmp_path / "t.csv")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            "2025-07-01T01:00:00,+1555,cold,\nnot-a-time,+1556,cold,\n",
            r":3: timestamp 'not-a-time'",
        ),
        ("2025-07-01T01:00:00,,cold,\n", r":2: phone '' is not valid"),
        ("2025-07-01T01:00:00,+1555,,\n", r":2: trigger '' is not valid"),
        (
            "2025-07-01T01:00:00,+1555,cold,\n2025-07-01T02:00:00,+1555,cold,\n",
            r":3: phone/trigger '\+1555,cold' is not valid; .*line 2",
        ),
        ("2025-07-01T01:00:00,+1555,hot,\n", r":2: trigger 'hot' is not valid; .*'cold'"),
        ("2025-07-01T01:00:00,+1555,cold,dev-009\n", r":2: device_id 'dev-009' is not valid"),
        ("2025-07-01T01:00:00,+1555,cold\n", r":2: row .* is not valid; expected 4 fields"),
    ],
)
def test_trace_bad_rows_name_line(tmp_path: Path, body: str, match: str) -> None:
    write_trace(tmp_path, TRACE_HEADER + body)
    d = base_dict(workload=[{"kind": "trace", "path": "t.csv"}], capacity={"devices": 2})
    with pytest.raises(ScenarioError, match=r"^workload\[0\]\.path: .*t\.csv" + match):
        Scenario.from_dict(d, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("timestamp,phone\n", r"t\.csv:1: column 'trigger' is missing"),
        ("timestamp,phone,trigger,devce_id\n", r":1: column 'devce_id' .*did you mean 'device_id'"),
        ("", r"t\.csv:1: missing header"),
    ],
)
def test_trace_bad_header(tmp_path: Path, header: str, match: str) -> None:
    write_trace(tmp_path, header)
    d = base_dict(workload=[{"kind": "trace", "path": "t.csv"}])
    with pytest.raises(ScenarioError, match=match):
        Scenario.from_dict(d, base_dir=tmp_path)


def test_sample_trace_loads() -> None:
    d = base_dict(
        sequences=[
            {"name": "COLD", "trigger": "cold", "days": [1, 3]},
            {"name": "WARM", "trigger": "warm", "days": [1, 2]},
        ],
        workload=[{"kind": "trace", "path": str(DATA / "traces" / "sample.csv")}],
        capacity={"devices": 2},
    )
    scn = Scenario.from_dict(d)
    assert scn.workload[0].kind == "trace"


# --------------------------------------------------------------------------- scenario object


def test_scenario_direct_construction_converts_lists() -> None:
    scn = Scenario(
        simulation=SimulationConfig(START, timedelta(days=1)),
        sequences=[SequenceConfig("COLD", "cold", (1, 3))],  # type: ignore[arg-type]
        workload=[WorkloadConfig("poisson", "cold", 2.0)],  # type: ignore[arg-type]
    )
    assert isinstance(scn.sequences, tuple)
    assert isinstance(scn.workload, tuple)
    assert scn.capacity == CapacityConfig()
    assert scn.policy == PolicyConfig()
    assert scn.end == START + timedelta(days=1)


def test_scenario_direct_construction_reports_workload_index() -> None:
    with pytest.raises(ScenarioError, match=r"workload\[1\]\.trigger: 'warm'"):
        Scenario(
            simulation=SimulationConfig(START, timedelta(days=1)),
            sequences=(SequenceConfig("COLD", "cold", (1,)),),
            workload=(
                WorkloadConfig("poisson", "cold", 2.0),
                WorkloadConfig("poisson", "warm", 2.0),
            ),
        )


def test_scenario_rejects_wrong_part_types() -> None:
    with pytest.raises(ScenarioError, match=r"sequences\[0\]: .* expected a SequenceConfig"):
        Scenario(SimulationConfig(START, timedelta(days=1)), ({"name": "COLD"},))  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^capacity: .* expected a CapacityConfig"):
        Scenario(
            SimulationConfig(START, timedelta(days=1)),
            (SequenceConfig("COLD", "cold", (1,)),),
            capacity={"devices": 2},  # type: ignore[arg-type]
        )


def test_scenario_is_not_a_mapping_error() -> None:
    with pytest.raises(ScenarioError, match=r"^scenario: .* expected a table"):
        Scenario.from_dict([1, 2])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- TOML


def test_baseline_loads() -> None:
    scn = Scenario.from_toml(DATA / "scenarios" / "baseline.toml")
    assert scn.simulation.start == START
    assert scn.simulation.duration == timedelta(days=14)
    assert scn.simulation.poll_interval == timedelta(seconds=15)
    assert scn.simulation.seed == 42
    (seq,) = scn.sequences
    assert (seq.name, seq.trigger, seq.days) == ("COLD", "cold", (1, 3, 6, 9))
    assert (seq.min_delay_seconds, seq.max_delay_seconds) == (5.0, 15.0)
    (wl,) = scn.workload
    assert (wl.kind, wl.trigger, wl.rate_per_hour) == ("poisson", "cold", 20.0)
    assert wl.end == START + timedelta(days=3)
    assert scn.capacity == CapacityConfig(devices=4)
    assert scn.policy == PolicyConfig()


def test_from_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.toml: file not found"):
        Scenario.from_toml(tmp_path / "nope.toml")


def test_from_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[simulation]\nstart = "2025-07-01"\nduration = 14d\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.toml: invalid TOML: .*line 3"):
        Scenario.from_toml(path)


def test_from_toml_resolves_trace_next_to_file(tmp_path: Path) -> None:
    write_trace(tmp_path, TRACE_HEADER + "2025-07-01T01:00:00,+15550000001,cold,\n")
    toml = (
        '[simulation]\nstart = 2025-07-01T00:00:00\nduration = "1d"\n'
        '[[sequences]]\nname = "COLD"\ntrigger = "cold"\ndays = [1]\n'
        '[[workload]]\nkind = "trace"\npath = "t.csv"\n'
    )
    (tmp_path / "s.toml").write_text(toml, encoding="utf-8")
    scn = Scenario.from_toml(tmp_path / "s.toml")
    assert scn.workload[0].path == str(tmp_path / "t.csv")


def test_from_toml_string_invalid() -> None:
    with pytest.raises(ScenarioError, match=r"invalid TOML"):
        Scenario.from_toml_string("[simulation\n")


def every_kind_scenario(tmp_path: Path) -> Scenario:
    write_trace(
        tmp_path,
        TRACE_HEADER
        + "2025-07-01T01:00:00,+15550000001,cold,dev-002\n"
        + "2025-07-01T02:00:00,+15550000002,warm,\n",
    )
    return Scenario.from_dict(
        {
            "simulation": {
                "start": "2025-07-01T00:00:00",
                "duration": "1d12h",
                "poll_interval": "30s",
                "seed": 7,
            },
            "sequences": [
                {"name": "COLD", "trigger": "cold", "days": [1, 3], "next": "WARM"},
                {
                    "name": "WARM",
                    "trigger": "warm",
                    "days": [0, 1],
                    "delay_hours": [0, 12],
                    "min_delay_seconds": 10,
                    "max_delay_seconds": 30,
                },
                # Inactive, so no workload may feed it (its leads would never enrol).
                {"name": "OFF", "trigger": "off", "days": [1], "is_active": False},
            ],
            "workload": [
                {"kind": "constant", "trigger": "cold", "rate_per_hour": 6},
                {
                    "kind": "poisson",
                    "trigger": "warm",
                    "rate_per_hour": 2.5,
                    "start": "2025-07-01T06:00:00",
                    "end": "2025-07-02T00:00:00",
                },
                {"kind": "diurnal", "trigger": "cold", "rate_per_hour": 3},
                {
                    "kind": "diurnal",
                    "trigger": "warm",
                    "rate_per_hour": 3,
                    "profile": [0] * 12 + [1.5] * 12,
                },
                {"kind": "burst", "trigger": "cold", "count": 5},
                {"kind": "burst", "trigger": "warm", "count": 1, "at": "2025-07-01T12:30:00.5"},
                {"kind": "trace", "path": "t.csv"},
            ],
            "capacity": {"devices": 3, "failure_rate": 0.25, "hourly_limit": 0},
            "policy": {"progress_on": "queue"},
        },
        base_dir=tmp_path,
    )


def test_toml_round_trip_every_kind(tmp_path: Path) -> None:
    scn = every_kind_scenario(tmp_path)
    text = scn.to_toml()
    assert Scenario.from_toml_string(text) == scn
    assert 'duration = "1d12h"' in text
    assert 'poll_interval = "30s"' in text
    assert 'start = "2025-07-01T00:00:00"' in text


def test_toml_round_trip_baseline() -> None:
    scn = Scenario.from_toml(DATA / "scenarios" / "baseline.toml")
    assert Scenario.from_toml_string(scn.to_toml()) == scn


def test_to_dict_fully_resolved_and_omits_none(tmp_path: Path) -> None:
    d = every_kind_scenario(tmp_path).to_dict()
    assert d["simulation"]["engine"] == DEFAULT_ENGINE
    assert d["capacity"]["batch_size"] == 5000
    assert d["policy"] == {
        "strategy": "one_by_one",
        "delay_from": "next_step",
        "progress_on": "queue",
        "daily_cap": "rolling",
        "daily_cap_zone": "UTC",
        "outages": [],
        "catch_up": "burst",
        "stale_after": "1d",
    }
    assert d["sequences"][0]["delay_hours"] == [0, 48]
    assert "next" not in d["sequences"][1]
    assert d["workload"][0] == {"kind": "constant", "trigger": "cold", "rate_per_hour": 6.0}
    assert d["workload"][2]["profile"] == list(DEFAULT_DIURNAL_PROFILE)
    assert d["workload"][5]["at"] == "2025-07-01T12:30:00.500000"
    assert Scenario.from_dict(d) == every_kind_scenario(tmp_path)


def test_toml_file_round_trip(tmp_path: Path) -> None:
    scn = every_kind_scenario(tmp_path)
    out = tmp_path / "sub" / "resolved.toml"
    out.parent.mkdir()
    out.write_text(scn.to_toml(), encoding="utf-8")
    # Trace paths are stored absolute, so the file loads from anywhere.
    assert Scenario.from_toml(out) == scn


# --------------------------------------------------------------------------- overrides


@pytest.fixture
def baseline() -> Scenario:
    return Scenario.from_toml(DATA / "scenarios" / "baseline.toml")


def test_with_overrides_simple_keys(baseline: Scenario) -> None:
    scn = baseline.with_overrides(
        {
            "capacity.devices": 2,
            "simulation.duration": "7d",
            "policy.progress_on": "queue",
            "workload.0.rate_per_hour": 5,
        }
    )
    assert scn.capacity.devices == 2
    assert scn.simulation.duration == timedelta(days=7)
    assert scn.policy.progress_on == "queue"
    assert scn.workload[0].rate_per_hour == 5.0
    # The original is untouched.
    assert baseline.capacity.devices == 4


def test_with_overrides_sequence_by_name_and_index(baseline: Scenario) -> None:
    by_name = baseline.with_overrides({"sequences.COLD.days": [1, 2, 4]})
    by_index = baseline.with_overrides({"sequences.0.days": [1, 2, 4]})
    assert by_name == by_index
    assert by_name.sequences[0].days == (1, 2, 4)
    # Default delays follow the new days.
    assert by_name.sequences[0].delay_hours == (0, 24, 48)


def test_with_overrides_explicit_delays_kept(baseline: Scenario) -> None:
    scn = baseline.with_overrides(
        {"sequences.COLD.days": [0, 1], "sequences.COLD.delay_hours": [0, 12]}
    )
    assert scn.sequences[0].delay_hours == (0, 12)


def test_with_overrides_none_removes_key(baseline: Scenario) -> None:
    scn = baseline.with_overrides({"workload.0.end": None})
    assert scn.workload[0].end is None


def test_with_overrides_empty_is_equal(baseline: Scenario) -> None:
    assert baseline.with_overrides({}) == baseline


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("capacity.devcies", r"^capacity\.devcies: unknown key; did you mean 'devices'\?"),
        ("capacty.devices", r"^capacty\.devices: unknown key; did you mean 'capacity'\?"),
        ("simulation.sed", r"did you mean 'seed'"),
        ("sequences.CLD.days", r"sequences\.CLD\.days: 'CLD' is not valid; did you mean 'COLD'"),
        ("sequences.5.days", r"'5' is not valid; expected a sequence name or index"),
        ("sequences.COLD.dayz", r"sequences\.COLD\.dayz: unknown key; did you mean 'days'"),
        ("workload.1.rate_per_hour", r"workload\.1\.rate_per_hour: '1' is not valid"),
        ("workload.x.rate_per_hour", r"expected a workload index"),
        ("capacity", r"^capacity: .* expected a key like 'capacity\.<field>'"),
        ("capacity.devices.x", r"expected a key like"),
        ("sequences.COLD", r"expected a key like 'sequences\.<name or index>\.<field>'"),
    ],
)
def test_with_overrides_bad_path(baseline: Scenario, key: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        baseline.with_overrides({key: 1})


def test_with_overrides_validates_values(baseline: Scenario) -> None:
    with pytest.raises(ScenarioError, match=r"capacity\.devices: 0 is not valid"):
        baseline.with_overrides({"capacity.devices": 0})
    with pytest.raises(ScenarioError, match=r"workload\[0\]\.count: 3 is not valid"):
        baseline.with_overrides({"workload.0.count": 3})


# --------------------------------------------------------------------------- parse_override


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("capacity.devices=4", ("capacity.devices", 4)),
        ("capacity.failure_rate = 0.3", ("capacity.failure_rate", 0.3)),
        ("simulation.duration=7d", ("simulation.duration", "7d")),
        ('simulation.duration="7d"', ("simulation.duration", "7d")),
        ("policy.progress_on=queue", ("policy.progress_on", "queue")),
        ("sequences.COLD.days=[1, 2, 4]", ("sequences.COLD.days", [1, 2, 4])),
        ("sequences.COLD.is_active=false", ("sequences.COLD.is_active", False)),
        ("simulation.start=2025-07-02T00:00:00", ("simulation.start", datetime(2025, 7, 2))),
        ("sequences.COLD.name=a=b", ("sequences.COLD.name", "a=b")),
        ("policy.strategy=", ("policy.strategy", "")),
    ],
)
def test_parse_override(text: str, expected: tuple[str, Any]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("bad", ["capacity.devices", "=4", ""])
def test_parse_override_rejects(bad: str) -> None:
    with pytest.raises(ScenarioError, match=r"^--set: .* is not valid; expected key=value"):
        parse_override(bad)


def test_parse_override_feeds_with_overrides(baseline: Scenario) -> None:
    key, value = parse_override("simulation.duration=3d")
    assert baseline.with_overrides({key: value}).simulation.duration == timedelta(days=3)


def test_numpy_numbers_are_normalised() -> None:
    cap = CapacityConfig(devices=np.int64(4), failure_rate=np.float64(0.1))  # type: ignore[arg-type]
    assert type(cap.devices) is int and cap.devices == 4
    assert type(cap.failure_rate) is float
    with pytest.raises(ScenarioError, match=r"^capacity\.devices: .* is not valid"):
        CapacityConfig(devices=np.bool_(True))  # type: ignore[arg-type]
    assert parse_duration(np.int64(90), "k") == timedelta(seconds=90)


def test_huge_durations_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"simulation\.duration"):
        parse_duration(1e20, "simulation.duration")
    with pytest.raises(ScenarioError, match=r"simulation\.duration"):
        parse_duration("99999999999d", "simulation.duration")
