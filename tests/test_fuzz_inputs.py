"""Every input surface, fuzzed: the outcome is a SeqsimError or a clean run, never another error.

Hypothesis mutates a tiny valid scenario (its tables through the Python API,
its TOML text, ``--set`` overrides through the command line), CSV traces
and a recorded baseline file, with hostile values: huge and negative
numbers, NaN and infinities, instants of year 1 and 9999, long strings,
control characters, machine-dependent zones, wrong types. A mutant that
validates is run when it is still tiny (few polls, devices and leads), so
its engines, tables and checks see it too.

``SEQSIM_FUZZ_EXAMPLES`` sets the examples per surface (default 20, a few
seconds each); ``make fuzz`` runs 4,000.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import tomli_w
from hypothesis import HealthCheck, given, settings

from seqsim import Scenario, SeqsimError, simulate
from seqsim.baseline import check_scenario, read_baseline, record_baseline, write_baseline
from seqsim.cli.main import main
from seqsim.model.size import expected_arrivals, poll_count

EXAMPLES = int(os.environ.get("SEQSIM_FUZZ_EXAMPLES", "20"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 20,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

#: The tiny scenario every mutation starts from: 6 hours, 5-minute polls, two
#: sequences (one chained, one with a send window), three workloads, 2 devices.
TINY: dict[str, Any] = {
    "simulation": {"start": "2025-07-01T00:00:00", "duration": "6h", "poll_interval": "5m",
                   "seed": 3},
    "sequences": [
        {"name": "COLD", "trigger": "cold", "days": [0, 1], "delay_hours": [0, 1],
         "next": "WARM", "min_delay_seconds": 1, "max_delay_seconds": 5},
        {"name": "WARM", "trigger": "warm", "days": [1, 2], "delay_hours": [0, 2],
         "send_hours": "01:00-05:00"},
    ],
    "workload": [
        {"kind": "poisson", "trigger": "cold", "rate_per_hour": 2},
        {"kind": "burst", "trigger": "warm", "count": 3, "at": "2025-07-01T00:30:00"},
        {"kind": "diurnal", "trigger": "cold", "rate_per_hour": 1,
         "end": "2025-07-01T04:00:00", "timezone": "Asia/Singapore"},
    ],
    "capacity": {"devices": 2, "batch_size": 50, "hourly_limit": 6, "daily_limit": 20,
                 "in_flight_limit": 3, "failure_rate": 0.2, "max_retries": 1},
    "policy": {"progress_on": "delivery", "catch_up": "skip_stale", "stale_after": "1h",
               "outages": [{"start": "2025-07-01T02:00:00", "duration": "20m"}]},
}

#: The tiny fault scenario: every [faults] key set, on the row engine (the only one
#: that runs faults); 3 leads and 2 hours, since each statement costs milliseconds.
TINY_FAULTS: dict[str, Any] = {
    **{k: v for k, v in TINY.items() if k not in ("workload", "policy")},
    "simulation": {**TINY["simulation"], "duration": "2h", "engine": "row"},
    "workload": [{"kind": "burst", "trigger": "cold", "count": 3, "at": "2025-07-01T00:00:00"}],
    "faults": {"pollers": 2, "poller_offsets": ["0s", "1m"], "claiming": "none",
               "duplicate_guard": "check_then_insert", "crash_between_statements": 0.3,
               "atomic_advance": False, "stuck_claims": 0.3, "claim_timeout": "10m",
               "db_clock_offset": "-30m",
               "device_offline": [{"start": "2025-07-01T00:10:00", "duration": "20m",
                                   "share": 0.5},
                                  {"start": "2025-07-01T01:00:00",
                                   "end": "2025-07-01T01:30:00", "devices": ["dev-002"]}]},
}
#: Examples of the fault surface: each valid mutant runs the row engine.
FAULT_FUZZ = settings(FUZZ, max_examples=max(1, EXAMPLES // 4))

_SPECIAL_TEXT = [
    "", " ", "x" * 5000, "\x00", "a\nb", "localtime", "Factory", "posixrules", "right/UTC",
    "UTC", "America/New_York", "0001-01-01T00:00:00", "9999-12-31T23:59:59",
    "1969-07-01T00:00:00", "1899-12-31T00:00:00", "2025-07-01T00:00:00+05:30", "999999999d",
    "0.000001s", "1e12", "15s", "-1s", "1d12h", "09:00-17:00", "24:00-01:00", "+1555é",
    "cold", "warm", "row", "batch", "queue", "all_at_enrollment", "calendar", "reschedule",
]
_SPECIAL_NUMBERS = [0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**70, 10**400, 1e308,
                    -1e308, 5e-324, 1e12, 1e30, 0.5, float("inf"), float("nan")]

#: A hostile value for any key: numbers at and past every bound, instants,
#: strings, containers and the wrong types.
VALUES = st.one_of(
    st.sampled_from(_SPECIAL_NUMBERS),
    st.sampled_from(_SPECIAL_TEXT),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.dates(),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(-5, 2**40), st.sampled_from(["mon", "x", 1.5])), max_size=5),
    st.dictionaries(st.sampled_from(["start", "duration", "end", "x", " "]),
                    st.sampled_from([*_SPECIAL_TEXT, 0, 10**400]), max_size=3),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every table, list and value in ``data``."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], max_edits: int = 3) -> dict[str, Any]:
    """Return a deep copy of ``base`` with 1..max_edits values replaced, deleted or added."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["seed ", " ", "x" * 300, "count", "profile"]))] = \
                draw(VALUES)
        else:
            parent.append(draw(VALUES))
    return data


def _tiny_enough(scn: Scenario) -> bool:
    """Return whether a valid mutant is cheap to run (a few hundred polls and leads)."""
    sim = scn.simulation
    leads = sum(expected_arrivals(wl, sim.start, sim.end, 50) for wl in scn.workload)
    return (poll_count(sim.duration, sim.poll_interval) <= 2_000 and leads <= 200
            and scn.capacity.devices <= 20 and scn.capacity.max_retries <= 5)


def _run_if_tiny(scn: Scenario) -> None:
    if _tiny_enough(scn):
        simulate(scn, progress=False)


def only_seqsim_errors(action: Callable[[], object]) -> None:
    """Run ``action``; a SeqsimError is a fine outcome, any other exception fails the test."""
    with contextlib.suppress(SeqsimError):
        action()


# --------------------------------------------------------------------------- scenario tables


@FUZZ
@given(mutated(TINY))
def test_scenario_tables(data: dict[str, Any]) -> None:
    only_seqsim_errors(lambda: _run_if_tiny(Scenario.from_dict(data)))


@FAULT_FUZZ
@given(mutated(TINY_FAULTS))
def test_fault_tables(data: dict[str, Any]) -> None:
    only_seqsim_errors(lambda: _run_if_tiny(Scenario.from_dict(data)))


def _toml_text(draw: st.DrawFn) -> str:
    data = draw(mutated(TINY))
    try:
        return tomli_w.dumps(data)
    except (TypeError, ValueError):  # a value TOML cannot hold (None, a huge int)
        return tomli_w.dumps(TINY)


@st.composite
def toml_texts(draw: st.DrawFn) -> str:
    """Return the tiny scenario's TOML, mutated as tables and then as text."""
    text = _toml_text(draw)
    lines = text.splitlines()
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        key = line.split("=", 1)[0] if "=" in line else line
        raw = draw(st.one_of(st.sampled_from(["1e400", "nan", "inf", "-0", "[", "{",
                                              '"\\u0000"', "1979-05-27T07:32:00-08:00",
                                              "0001-01-01", "9" * 400, "true", "[[]]"]),
                             st.text(max_size=10)))
        lines[i] = f"{key}= {raw}" if "=" in line else raw
    return "\n".join(lines)


@FUZZ
@given(toml_texts())
def test_scenario_toml_text(text: str) -> None:
    only_seqsim_errors(lambda: _run_if_tiny(Scenario.from_toml_string(text)))


# --------------------------------------------------------------------------- --set


@cache
def _tiny_file() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="seqsim-fuzz-"))
    path = folder / "tiny.toml"
    path.write_text(tomli_w.dumps(TINY), encoding="utf-8")
    return path


_KEYS = sorted({f"{table}.{key}" for table in ("simulation", "capacity", "policy")
                for key in TINY[table]} | {
    f"{top}.{sel}.{key}" for top, sel in (("sequences", "COLD"), ("sequences", "1"),
                                          ("workload", "0"), ("workload", "2"))
    for key in ("days", "delay_hours", "next", "min_delay_seconds", "rate_per_hour", "count",
                "timezone", "end", "profile", "is_active", "send_days")} | {
    f"faults.{key}" for key in TINY_FAULTS["faults"]})


def _set_value(value: Any) -> str:
    """Return ``value`` as a --set text (TOML when it can be, else its str)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    try:
        return tomli_w.dumps({"v": value})[4:].strip()
    except (TypeError, ValueError):
        return str(value)


@st.composite
def set_flags(draw: st.DrawFn) -> list[str]:
    """Return 1-3 ``--set`` texts: known keys with hostile values, or any text at all."""
    key = st.one_of(st.sampled_from(_KEYS), st.text(max_size=20),
                    st.sampled_from([" ", "", "simulation", "sequences.NOPE.days",
                                     "workload.99.count", "capacity.devices.x", "a" * 500]))
    flag = st.one_of(st.builds(lambda k, v: f"{k}={_set_value(v)}", key, VALUES),
                     st.text(max_size=30))
    return draw(st.lists(flag, min_size=1, max_size=3))


@FUZZ
@given(set_flags())
def test_set_overrides_on_the_command_line(flags: list[str]) -> None:
    argv = ["run", str(_tiny_file()), "--no-progress"]
    for flag in flags:
        argv += ["--set", flag]
    out, err = io.StringIO(), io.StringIO()
    scenario = Scenario.from_dict(TINY)
    try:
        overridden = scenario.with_overrides(dict(_parsed(f) for f in flags))
    except SeqsimError:
        overridden = None
    if overridden is not None and not _tiny_enough(overridden):
        return  # valid but not tiny: the API path above validated it
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    assert status in (0, 2)
    if status == 2:
        assert err.getvalue().startswith("seqsim: error: ") and err.getvalue().count("\n") == 1


def _parsed(flag: str) -> tuple[str, Any]:
    from seqsim.model.overrides import parse_override

    return parse_override(flag)


# --------------------------------------------------------------------------- CSV traces

_TRACE_STAMPS = st.one_of(
    st.datetimes(min_value=datetime(2025, 6, 30, 20), max_value=datetime(2025, 7, 1, 7))
    .map(datetime.isoformat),
    st.sampled_from(["2025-07-01T05:00:00+05:30", "2024-01-01T00:00:00", "0001-01-01T00:00:00",
                     "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "", "garbage",
                     "2025-07-01", "2025-07-01T01:00:00Z"]),
    st.text(max_size=8),
)
_PHONES = st.one_of(st.from_regex(r"\+1555[0-9]{1,4}", fullmatch=True),
                    st.sampled_from(["+1555é", "+1555\x00", "+15\n5", " ", "", '"q"', "+1,2"]),
                    st.text(max_size=8))
_CELLS = st.one_of(st.sampled_from(["cold", "warm", "nope", "", "dev-001", "dev-002", "dev-9",
                                    "UTC", "localtime", "right/UTC", "Asia/Singapore"]),
                   st.text(max_size=6))


@st.composite
def trace_files(draw: st.DrawFn) -> str:
    """Return CSV text: a (sometimes mangled) header and up to 8 rows of hostile cells."""
    header = draw(st.sampled_from([
        "timestamp,phone,trigger", "timestamp,phone,trigger,device_id",
        "timestamp,phone,trigger,device_id,timezone", "Timestamp, Phone ,TRIGGER,timezone",
        "timestamp,phone", "timestamp,phone,trigger,trigger", "", "timestamp,phone,trigger,x",
    ]))
    width = max(1, header.count(",") + 1)
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        cells = [draw(_TRACE_STAMPS), draw(_PHONES), draw(_CELLS)]
        cells += [draw(_CELLS) for _ in range(max(0, width - 3))]
        if draw(st.integers(0, 9)) == 0:
            cells.append("extra")
        rows.append(",".join(cells))
    return "\n".join([header, *rows]) + draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))


@FUZZ
@given(trace_files(), st.sampled_from([{}, {"end": "2025-07-01T03:00:00"},
                                       {"timezone": "America/New_York"}]))
def test_csv_traces(body: str, workload: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="seqsim-fuzz-") as folder:
        path = Path(folder) / "trace.csv"
        path.write_text(body, encoding="utf-8", errors="surrogatepass")
        data = copy.deepcopy(TINY)
        data["workload"] = [{"kind": "trace", "path": str(path), **workload}]
        only_seqsim_errors(lambda: _run_if_tiny(Scenario.from_dict(data)))


# --------------------------------------------------------------------------- baseline files

#: A smaller run for baselines: every check re-runs it.
_BASELINE_RUN = {"simulation.duration": "2h", "workload.0.rate_per_hour": 1,
                 "workload.2.end": "2025-07-01T01:00:00",
                 "policy.outages": [{"start": "2025-07-01T01:00:00", "duration": "10m"}]}


@cache
def _baseline_data() -> tuple[Scenario, dict[str, Any]]:
    scenario = Scenario.from_dict(TINY).with_overrides(_BASELINE_RUN)
    return scenario, json.loads(json.dumps(record_baseline(scenario)))


@st.composite
def baseline_texts(draw: st.DrawFn) -> str:
    """Return a recorded baseline, mutated as JSON data and then as text."""
    _, data = _baseline_data()
    mutant = draw(mutated(data, max_edits=2))
    try:
        text = json.dumps(mutant)
    except (TypeError, ValueError):
        text = json.dumps(data)
    choice = draw(st.integers(0, 5))
    if choice == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["[" * 5000, "9" * 400, "NaN", "-Infinity",
                                                 '"x": 1, "x": 2, ', "\x00", "}"])) + text[at:]
    elif choice == 1:
        text = text.replace('"seeds"', '"seeds": [1], "seeds"', 1)
    return text


@FUZZ
@given(baseline_texts())
def test_baseline_files(text: str) -> None:
    scenario, _ = _baseline_data()
    with tempfile.TemporaryDirectory(prefix="seqsim-fuzz-") as folder:
        path = Path(folder) / "tiny.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")

        def check() -> None:
            baseline = read_baseline(path)
            overridden = scenario.with_overrides(baseline.overrides)
            if _tiny_enough(overridden):
                check_scenario(scenario, path)

        only_seqsim_errors(check)


def test_the_recorded_baseline_passes_unmutated() -> None:
    """The fuzzed baseline starts valid: the mutations, not the seed file, cause the errors."""
    scenario, data = _baseline_data()
    with tempfile.TemporaryDirectory(prefix="seqsim-fuzz-") as folder:
        path = write_baseline(Path(folder) / "tiny.json", data)
        assert check_scenario(scenario, path).ok
    assert scenario.simulation.duration == timedelta(hours=2)
