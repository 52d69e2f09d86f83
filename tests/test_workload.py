"""Tests of seqsim.model.workload: arrival generators and trace reading."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqsim.errors import ScenarioError
from seqsim.model.arrivals import ARRIVAL_COLUMNS, generate_arrivals
from seqsim.model.capacity import device_ids
from seqsim.model.scenario import Scenario
from seqsim.model.trace import TRACE_COLUMNS, read_trace
from seqsim.model.workload import WorkloadConfig

DATA = Path(__file__).resolve().parent.parent / "data"
START = datetime(2025, 7, 1)
END = START + timedelta(days=2)
HEADER = "timestamp,phone,trigger,device_id\n"


def poisson(rate: float = 20.0, **kw: object) -> WorkloadConfig:
    return WorkloadConfig(kind="poisson", trigger="cold", rate_per_hour=rate, **kw)  # type: ignore[arg-type]


def arrivals(
    workloads: list[WorkloadConfig],
    seed: int = 1,
    devices: int = 3,
    start: datetime = START,
    end: datetime = END,
) -> pd.DataFrame:
    return generate_arrivals(workloads, start, end, devices, np.random.default_rng(seed))


def write_trace(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- frame shape


def test_columns_and_dtypes() -> None:
    df = arrivals([poisson()])
    assert list(df.columns) == ["time", "phone", "trigger", "device_id", "timezone"]
    assert list(df.columns) == list(ARRIVAL_COLUMNS)
    assert df["time"].dtype == "datetime64[us]"
    for col in ("phone", "trigger", "device_id", "timezone"):
        assert df[col].dtype == "str"
    assert df.index.equals(pd.RangeIndex(len(df)))


def test_empty_workload_list() -> None:
    df = arrivals([])
    assert list(df.columns) == list(ARRIVAL_COLUMNS)
    assert len(df) == 0
    assert df["time"].dtype == "datetime64[us]"
    assert df["timezone"].dtype == "str"


def test_device_ids() -> None:
    assert device_ids(3) == ["dev-001", "dev-002", "dev-003"]
    assert device_ids(0) == []
    big = device_ids(1500)
    assert big[0] == "dev-0001" and big == sorted(big)


def test_bad_device_count() -> None:
    with pytest.raises(ScenarioError, match=r"capacity\.devices: 0 is not valid"):
        arrivals([poisson()], devices=0)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_frame() -> None:
    wls = [
        poisson(),
        WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=10),
        WorkloadConfig(kind="burst", trigger="cold", count=4),
    ]
    pd.testing.assert_frame_equal(arrivals(wls, seed=5), arrivals(wls, seed=5))


def test_different_seed_different_poisson_times() -> None:
    a, b = arrivals([poisson()], seed=1), arrivals([poisson()], seed=2)
    assert len(a) != len(b) or not a["time"].equals(b["time"])


# --------------------------------------------------------------------------- kinds


def test_poisson_count_close_to_expected() -> None:
    # 10,000 expected arrivals: the count is Poisson, sd = 100; allow 4 sigma.
    df = arrivals([poisson(rate=10_000 / 48)], seed=3)
    assert abs(len(df) - 10_000) < 4 * math.sqrt(10_000)


def test_poisson_gaps_look_exponential() -> None:
    df = arrivals([poisson(rate=10_000 / 48)], seed=4)
    gaps = df["time"].diff().dt.total_seconds().dropna().to_numpy()
    mean = 48 * 3600 / 10_000
    assert abs(gaps.mean() - mean) < 0.05 * mean
    # Exponential: sd equals the mean.
    assert abs(gaps.std() - mean) < 0.1 * mean


def test_poisson_million_arrivals() -> None:
    # How fast this is belongs to benchmarks/ (make bench), not to a timed test.
    wl = poisson(rate=1_000_000 / 720)
    df = arrivals([wl], end=START + timedelta(days=30))
    assert abs(len(df) - 1_000_000) < 5_000
    assert df["time"].is_monotonic_increasing


def test_constant_exact_spacing() -> None:
    df = arrivals([WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=20)])
    assert len(df) == 20 * 48
    assert df["time"].iloc[0] == START
    gaps = df["time"].diff().dropna()
    assert (gaps == pd.Timedelta(seconds=180)).all()


def test_constant_fractional_gap_stays_even() -> None:
    df = arrivals([WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=7)])
    gaps = df["time"].diff().dt.total_seconds().dropna()
    assert ((gaps - 3600 / 7).abs() <= 1e-6).all()
    assert len(df) == math.ceil(48 * 7)


def test_burst_all_at_at() -> None:
    at = START + timedelta(hours=5, minutes=30)
    df = arrivals([WorkloadConfig(kind="burst", trigger="cold", count=25, at=at)])
    assert len(df) == 25
    assert (df["time"] == at).all()
    assert df["phone"].is_unique


def test_burst_defaults_to_run_start() -> None:
    df = arrivals([WorkloadConfig(kind="burst", trigger="cold", count=3)])
    assert (df["time"] == START).all()


def test_burst_outside_run_is_dropped() -> None:
    at = END + timedelta(hours=1)
    assert len(arrivals([WorkloadConfig(kind="burst", trigger="cold", count=3, at=at)])) == 0


def test_diurnal_zero_weight_hours_get_nothing() -> None:
    profile = [0.0] * 9 + [1.0] * 8 + [0.0] * 7  # only 09:00-16:59
    wl = WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=50, profile=profile)  # type: ignore[arg-type]
    df = arrivals([wl], end=START + timedelta(days=4))
    hours = df["time"].dt.hour
    assert hours.between(9, 16).all()
    assert set(hours) == set(range(9, 17))
    # Mean rate over the run is rate_per_hour: 50 * 96 h expected, sd ~ 69.
    assert abs(len(df) - 50 * 96) < 4 * math.sqrt(50 * 96)
    assert df["time"].is_monotonic_increasing


def test_diurnal_default_profile_peaks_in_office_hours() -> None:
    wl = WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=100)
    df = arrivals([wl], end=START + timedelta(days=7))
    by_hour = df["time"].dt.hour.value_counts()
    assert by_hour.loc[10] > 5 * by_hour.loc[3]


def test_diurnal_partial_hours_at_window_edges() -> None:
    wl = WorkloadConfig(
        kind="diurnal",
        trigger="cold",
        rate_per_hour=200,
        profile=(1.0,) * 24,
        start=START + timedelta(minutes=30),
        end=START + timedelta(hours=2, minutes=15),
    )
    df = arrivals([wl])
    assert df["time"].min() >= START + timedelta(minutes=30)
    assert df["time"].max() < START + timedelta(hours=2, minutes=15)
    assert abs(len(df) - 200 * 1.75) < 4 * math.sqrt(200 * 1.75)


def test_window_clipping() -> None:
    lo, hi = START + timedelta(hours=6), START + timedelta(hours=12)
    wls = [
        poisson(rate=100, start=lo, end=hi),
        WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=60, start=lo, end=hi),
    ]
    df = arrivals(wls)
    assert df["time"].min() >= lo
    assert df["time"].max() < hi
    # A window beyond the run is clipped to [start, end).
    late = poisson(rate=100, start=START + timedelta(days=1), end=END + timedelta(days=5))
    df = arrivals([late])
    assert df["time"].min() >= START + timedelta(days=1)
    assert df["time"].max() < END
    # A constant workload starts exactly at its window start.
    constant = arrivals([wls[1]])
    assert constant["time"].iloc[0] == lo
    assert len(constant) == 360


def test_window_entirely_outside_run_gives_nothing() -> None:
    wl = poisson(start=END + timedelta(days=1), end=END + timedelta(days=2))
    assert len(arrivals([wl])) == 0


def test_microsecond_resolution() -> None:
    df = arrivals([poisson(rate=500)])
    ns = df["time"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    assert (ns % 1000 == 0).all()


# --------------------------------------------------------------------------- combined


def test_sorted_stable_ties_in_workload_order() -> None:
    wls = [
        WorkloadConfig(kind="burst", trigger="cold", count=2),
        WorkloadConfig(kind="burst", trigger="warm", count=2),
        WorkloadConfig(kind="constant", trigger="hot", rate_per_hour=1),
    ]
    df = arrivals(wls)
    assert df["time"].is_monotonic_increasing
    assert list(df["trigger"].iloc[:5]) == ["cold", "cold", "warm", "warm", "hot"]


def test_unique_phones_in_arrival_order() -> None:
    wls = [poisson(rate=50), WorkloadConfig(kind="diurnal", trigger="warm", rate_per_hour=50)]
    df = arrivals(wls)
    assert df["phone"].is_unique
    assert df["phone"].iloc[0] == "+10000000001"
    assert df["phone"].str.len().eq(12).all()
    assert df["phone"].is_monotonic_increasing


def test_round_robin_devices() -> None:
    df = arrivals([WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=10)], devices=4)
    expected = [device_ids(4)[i % 4] for i in range(len(df))]
    assert list(df["device_id"]) == expected


def test_trace_kept_and_merged(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path,
        HEADER
        + "2025-07-01T00:30:00,+15550000001,warm,dev-002\n"
        + "2025-07-01T00:10:00,+15550000002,cold,\n"
        + "2025-07-01T01:00:00,+15550000001,cold,\n"
        + "2025-07-03T00:00:00,+15550000003,cold,\n",
    )
    wls = [
        WorkloadConfig(kind="trace", path=str(path)),
        WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=3),
    ]
    df = arrivals(wls, devices=3)
    assert df["time"].is_monotonic_increasing
    trace_rows = df[df["phone"].str.startswith("+1555")]
    # The row after the run end is dropped; file rows are sorted by time.
    assert list(trace_rows["phone"]) == ["+15550000002", "+15550000001", "+15550000001"]
    assert list(trace_rows["trigger"]) == ["cold", "warm", "cold"]
    # The trace's device is kept, for every row of that phone.
    assert list(trace_rows.loc[trace_rows["phone"] == "+15550000001", "device_id"]) == [
        "dev-002",
        "dev-002",
    ]
    # Round robin skips pinned leads: first assignment goes to the first new lead.
    assert df["device_id"].iloc[0] == "dev-001"  # constant arrival at 00:00
    assert df["device_id"].iloc[1] == "dev-002"  # +15550000002 at 00:10
    generated = df[~df["phone"].str.startswith("+1555")]
    assert generated["phone"].is_unique
    assert len(generated) == 3 * 48


def test_generated_phones_skip_trace_phones(tmp_path: Path) -> None:
    path = write_trace(tmp_path, HEADER + "2025-07-01T05:00:00,+10000000002,cold,\n")
    wls = [
        WorkloadConfig(kind="trace", path=str(path)),
        WorkloadConfig(kind="burst", trigger="cold", count=3),
    ]
    df = arrivals(wls)
    assert list(df["phone"]) == ["+10000000001", "+10000000003", "+10000000004", "+10000000002"]


def test_trace_device_must_exist(tmp_path: Path) -> None:
    path = write_trace(tmp_path, HEADER + "2025-07-01T05:00:00,+1555,cold,dev-007\n")
    with pytest.raises(ScenarioError, match=r"t\.csv:2: device_id 'dev-007' is not valid"):
        arrivals([WorkloadConfig(kind="trace", path=str(path))], devices=3)


def test_duplicate_across_traces_rejected(tmp_path: Path) -> None:
    row = "2025-07-01T05:00:00,+1555,cold,\n"
    a = write_trace(tmp_path, HEADER + row, "a.csv")
    b = write_trace(tmp_path, HEADER + row, "b.csv")
    wls = [WorkloadConfig(kind="trace", path=str(a)), WorkloadConfig(kind="trace", path=str(b))]
    with pytest.raises(ScenarioError, match=r"b\.csv:2: phone/trigger '\+1555,cold' is not valid"):
        arrivals(wls)


def test_sample_trace_in_scenario() -> None:
    scn = Scenario.from_dict(
        {
            "simulation": {"start": "2025-07-01T00:00:00", "duration": "3d"},
            "sequences": [
                {"name": "COLD", "trigger": "cold", "days": [1, 3]},
                {"name": "WARM", "trigger": "warm", "days": [1, 2]},
            ],
            "workload": [{"kind": "trace", "path": "traces/sample.csv"}],
            "capacity": {"devices": 2},
        },
        base_dir=DATA,
    )
    df = generate_arrivals(scn.workload, scn.simulation.start, scn.end, 2, np.random.default_rng(0))
    trace = read_trace(DATA / "traces" / "sample.csv")
    assert len(df) == len(trace)
    assert set(df["trigger"]) == {"cold", "warm"}
    assert df["time"].is_monotonic_increasing
    pinned = trace.dropna(subset=["device_id"]).set_index("phone")["device_id"]
    got = df.drop_duplicates("phone").set_index("phone")["device_id"]
    assert (got.loc[pinned.index] == pinned).all()


# --------------------------------------------------------------------------- read_trace


def test_read_trace_frame(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path,
        "phone, trigger ,timestamp\n"
        "+1555,cold,2025-07-01T09:00:00+08:00\n"
        "\n"
        "+1556,warm,2025-07-01T02:00:00\n",
    )
    df = read_trace(path)
    assert list(df.columns) == ["timestamp", "phone", "trigger", "device_id", "timezone", "line"]
    assert list(df["timestamp"]) == [
        pd.Timestamp("2025-07-01T01:00"),
        pd.Timestamp("2025-07-01T02:00"),
    ]
    assert df["timestamp"].dtype == "datetime64[us]"
    assert list(df["line"]) == [2, 4]
    assert df["device_id"].isna().all()
    assert df["timezone"].isna().all()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            HEADER + "2025-07-01T01:00:00,+1555,cold,\n2025-07-32T00:00:00,+1556,cold,\n",
            r"t\.csv:3: timestamp '2025-07-32T00:00:00' is not valid",
        ),
        (HEADER + "2025-07-01T01:00:00,,cold,\n", r"t\.csv:2: phone '' is not valid"),
        (HEADER + "2025-07-01T01:00:00,+1555, ,\n", r"t\.csv:2: trigger '' is not valid"),
        (
            HEADER + "2025-07-01T01:00:00,+1555,a,\n\n2025-07-01T02:00:00,+1555,a,\n",
            r"t\.csv:4: phone/trigger '\+1555,a' is not valid; .*line 2",
        ),
        (
            HEADER + "2025-07-01T01:00:00,+1555,a,dev-001\n2025-07-01T02:00:00,+1555,b,dev-002\n",
            r"t\.csv:3: device_id 'dev-002' is not valid; expected 'dev-001'",
        ),
        ("timestamp,phone\n", r"t\.csv:1: column 'trigger' is missing"),
        (
            "timestamp,phone,trigger,colour\n",
            r"t\.csv:1: column 'colour' is not valid; expected columns "
            r"timestamp,phone,trigger\[,device_id\]\[,timezone\]",
        ),
        ("timestamp,phone,trigger,tz\n", r"t\.csv:1: column 'tz' is not valid"),
        (
            "timestamp,phone,trigger,timezone,TimeZone\n",
            r"t\.csv:1: column 'timezone' is not valid; .*twice",
        ),
        ("timestamp,phone,phone,trigger\n", r"t\.csv:1: column 'phone' is not valid; .*twice"),
        ("", r"t\.csv:1: missing header"),
    ],
)
def test_read_trace_rejects(tmp_path: Path, body: str, match: str) -> None:
    path = write_trace(tmp_path, body)
    with pytest.raises(ScenarioError, match=match):
        read_trace(path)


def test_read_trace_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.csv: file not found"):
        read_trace(tmp_path / "nope.csv")


def test_read_trace_header_only(tmp_path: Path) -> None:
    df = read_trace(write_trace(tmp_path, HEADER))
    assert len(df) == 0
    assert df["timestamp"].dtype == "datetime64[us]"


def test_sample_trace_shape() -> None:
    df = read_trace(DATA / "traces" / "sample.csv")
    assert 35 <= len(df) <= 45
    assert set(df["trigger"]) == {"cold", "warm"}
    assert df["timestamp"].min() >= START
    assert df["timestamp"].max() < START + timedelta(days=2)
    assert set(df["device_id"].dropna()) == {"dev-001", "dev-002"}


# --------------------------------------------------------------------------- time zones

TZ_HEADER = "timestamp,phone,trigger,TimeZone\n"


def test_trace_columns_include_timezone() -> None:
    assert "timezone" in TRACE_COLUMNS
    assert ARRIVAL_COLUMNS[-1] == "timezone"


def test_read_trace_timezone_column(tmp_path: Path) -> None:
    # Mixed case header; blank cells mean "not given"; surrounding spaces stripped.
    path = write_trace(
        tmp_path,
        TZ_HEADER
        + "2025-07-01T01:00:00,+1555,cold,Asia/Singapore\n"
        + "2025-07-01T02:00:00,+1556,cold,\n"
        + "2025-07-01T03:00:00,+1557,cold, America/New_York \n",
    )
    df = read_trace(path)
    assert "timezone" in df.columns
    assert df["timezone"].tolist()[0] == "Asia/Singapore"
    assert pd.isna(df["timezone"].iloc[1])
    assert df["timezone"].iloc[2] == "America/New_York"
    assert df["device_id"].isna().all()


def test_read_trace_timezone_with_device(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path,
        "TIMEZONE,timestamp,Device_ID,phone,trigger\n"
        "Europe/Berlin,2025-07-01T01:00:00,dev-001,+1555,cold\n",
    )
    row = read_trace(path).iloc[0]
    got = (row["timezone"], row["device_id"], row["phone"])
    assert got == ("Europe/Berlin", "dev-001", "+1555")


@pytest.mark.parametrize("zone", ["Mars/Base", "utc+8", "../etc/passwd"])
def test_read_trace_rejects_bad_zone(tmp_path: Path, zone: str) -> None:
    path = write_trace(
        tmp_path,
        TZ_HEADER
        + "2025-07-01T01:00:00,+1555,cold,UTC\n"
        + f"2025-07-01T02:00:00,+1556,cold,{zone}\n",
    )
    with pytest.raises(
        ScenarioError,
        match=rf"t\.csv:3: timezone '{re.escape(zone)}' is not valid; expected an IANA time zone",
    ):
        read_trace(path)


def test_scenario_rejects_bad_zone_in_trace(tmp_path: Path) -> None:
    path = write_trace(tmp_path, TZ_HEADER + "2025-07-01T01:00:00,+1555,cold,Nowhere/Town\n")
    with pytest.raises(ScenarioError, match=r"t\.csv:2: timezone 'Nowhere/Town' is not valid"):
        Scenario.from_dict(
            {
                "simulation": {"start": "2025-07-01T00:00:00", "duration": "1d"},
                "sequences": [{"name": "COLD", "trigger": "cold", "days": [1]}],
                "workload": [{"kind": "trace", "path": str(path)}],
                "capacity": {"devices": 1},
            }
        )


def test_generated_workloads_default_to_utc() -> None:
    wls = [
        poisson(),
        WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=2),
        WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=5),
        WorkloadConfig(kind="burst", trigger="cold", count=3),
    ]
    df = arrivals(wls)
    assert len(df) > 0
    assert (df["timezone"] == "UTC").all()
    assert df["timezone"].notna().all()


def test_generated_workloads_carry_their_zone() -> None:
    wls = [
        WorkloadConfig(kind="constant", trigger="cold", rate_per_hour=1, timezone="Asia/Singapore"),
        WorkloadConfig(kind="burst", trigger="warm", count=2, timezone="America/New_York"),
        WorkloadConfig(kind="poisson", trigger="hot", rate_per_hour=1),
    ]
    df = arrivals(wls)
    zone_of = dict(zip(df["trigger"], df["timezone"], strict=False))
    assert df.groupby("trigger")["timezone"].nunique().eq(1).all()
    assert zone_of == {"cold": "Asia/Singapore", "warm": "America/New_York", "hot": "UTC"}


def test_trace_rows_fall_back_to_workload_zone(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path,
        TZ_HEADER
        + "2025-07-01T01:00:00,+1555,cold,Asia/Singapore\n"
        + "2025-07-01T02:00:00,+1556,cold,\n",
    )
    no_column = write_trace(tmp_path, HEADER + "2025-07-01T03:00:00,+1557,cold,\n", "b.csv")
    with_zone = arrivals(
        [
            WorkloadConfig(kind="trace", path=str(path), timezone="Europe/London"),
            WorkloadConfig(kind="trace", path=str(no_column), timezone="Africa/Lagos"),
        ]
    )
    assert with_zone["timezone"].tolist() == ["Asia/Singapore", "Europe/London", "Africa/Lagos"]
    default = arrivals([WorkloadConfig(kind="trace", path=str(path))])
    assert default["timezone"].tolist() == ["Asia/Singapore", "UTC"]


def test_repeated_phone_keeps_first_zone(tmp_path: Path) -> None:
    # The lead is created once, at its first arrival (here line 3, sorted by time):
    # every arrival of that phone carries that zone; differing zones are no error.
    path = write_trace(
        tmp_path,
        TZ_HEADER
        + "2025-07-01T05:00:00,+1555,warm,Europe/Paris\n"
        + "2025-07-01T01:00:00,+1555,cold,Asia/Tokyo\n"
        + "2025-07-01T03:00:00,+1556,cold,\n",
    )
    df = arrivals([WorkloadConfig(kind="trace", path=str(path))])
    assert df["phone"].tolist() == ["+1555", "+1556", "+1555"]
    assert df["timezone"].tolist() == ["Asia/Tokyo", "UTC", "Asia/Tokyo"]


def test_zone_does_not_change_other_columns(tmp_path: Path) -> None:
    path = write_trace(
        tmp_path,
        TZ_HEADER
        + "2025-07-01T05:00:00,+1555,warm,Europe/Paris\n"
        + "2025-07-01T00:00:00,+1556,cold,\n",
    )

    def workloads(zone: str | None) -> list[WorkloadConfig]:
        return [
            poisson(timezone=zone),
            WorkloadConfig(kind="diurnal", trigger="cold", rate_per_hour=10, timezone=zone),
            WorkloadConfig(kind="burst", trigger="warm", count=4, timezone=zone),
            WorkloadConfig(kind="trace", path=str(path), timezone=zone),
        ]

    plain = arrivals(workloads(None), seed=9)
    zoned = arrivals(workloads("Asia/Singapore"), seed=9)
    others = list(ARRIVAL_COLUMNS[:-1])
    pd.testing.assert_frame_equal(plain[others], zoned[others])
    assert set(plain["timezone"]) == {"UTC", "Europe/Paris"}
    assert set(zoned["timezone"]) == {"Asia/Singapore", "Europe/Paris"}


def test_sample_trace_zones() -> None:
    df = read_trace(DATA / "traces" / "sample.csv")
    assert "timezone" in df.columns
    got = generate_arrivals(
        [WorkloadConfig(kind="trace", path=str(DATA / "traces" / "sample.csv"))],
        START, START + timedelta(days=3), 2, np.random.default_rng(0),
    )
    assert got["timezone"].notna().all()


# --------------------------------------------------------------------------- traces vs the run


def trace_scenario(path: Path, **workload: object) -> Scenario:
    """A 2-day run from START replaying ``path`` (COLD active, OFF inactive)."""
    return Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "2d"},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 2]},
                      {"name": "OFF", "trigger": "off", "days": [1], "is_active": False}],
        "workload": [{"kind": "trace", "path": str(path), **workload}],
        "capacity": {"devices": 2},
    })


def test_trace_from_another_year_is_an_error_not_zero_enrolments(tmp_path: Path) -> None:
    body = HEADER + "".join(f"2024-03-0{d}T10:00:00,+1555000{d},cold,\n" for d in range(1, 4))
    path = write_trace(tmp_path, body)
    with pytest.raises(ScenarioError, match=(
            r"^workload\[0\]\.path: .*t\.csv:2: timestamp 2024-03-01T10:00:00 \(UTC\) is not "
            r"valid; expected an instant in the run \[2025-07-01T00:00:00, 2025-07-03T00:00:00\) "
            r"\(3 of 3 rows are outside it; give the workload a start/end")):
        trace_scenario(path)


def test_offset_moving_a_row_before_the_start_is_an_error(tmp_path: Path) -> None:
    body = (HEADER + "2025-07-01T09:00:00,+15550001,cold,\n"
            + "2025-07-01T05:00:00+05:30,+15550002,cold,\n")
    with pytest.raises(ScenarioError, match=r"t\.csv:3: timestamp 2025-06-30T23:30:00 \(UTC\) is "
                       r"not valid; .*\(1 of 2 rows are outside it"):
        trace_scenario(write_trace(tmp_path, body))


def test_a_workload_window_replays_part_of_a_trace(tmp_path: Path) -> None:
    body = (HEADER + "2024-03-01T10:00:00,+15550001,cold,\n"
            + "2025-07-01T09:00:00,+15550002,cold,\n" + "2025-07-02T09:00:00,+15550003,cold,\n")
    scn = trace_scenario(write_trace(tmp_path, body), end="2025-07-02T00:00:00")
    df = generate_arrivals(scn.workload, scn.simulation.start, scn.end, 2, np.random.default_rng(0))
    assert df["phone"].tolist() == ["+15550002"]


def test_a_window_holding_no_trace_row_is_an_error(tmp_path: Path) -> None:
    body = HEADER + "2025-07-02T09:00:00,+15550003,cold,\n"
    with pytest.raises(ScenarioError, match=r"^workload\[0\]\.path: /.*/t\.csv: none of its 1 "
                       r"rows is in the workload's window \[2025-07-01T00:00:00, "
                       r"2025-07-01T12:00:00\); expected a trace with rows in it$"):
        trace_scenario(write_trace(tmp_path, body), end="2025-07-01T12:00:00")


@pytest.mark.parametrize(("phone", "shown"), [("+1555\x00", r"'\+1555\\x00'"),
                                              ("+15\x07", r"'\+15\\x07'")])
def test_trace_phone_with_control_characters_names_the_row(
    tmp_path: Path, phone: str, shown: str
) -> None:
    path = write_trace(tmp_path, HEADER + "2025-07-01T09:00:00,+15550001,cold,\n"
                       + f"2025-07-01T10:00:00,{phone},cold,\n")
    with pytest.raises(ScenarioError, match=rf"t\.csv:3: phone {shown} is not valid; expected a "
                       r"phone number without control characters \(NUL, newline, tab\)$"):
        read_trace(path)


def test_trace_phone_with_a_newline_in_quotes_names_the_row(tmp_path: Path) -> None:
    path = write_trace(tmp_path, HEADER + '2025-07-01T10:00:00,"+1555\n1",cold,\n')
    with pytest.raises(ScenarioError, match=r"t\.csv:3: phone '\+1555\\n1' is not valid"):
        read_trace(path)


def test_non_ascii_trace_phone_is_accepted_and_kept(tmp_path: Path) -> None:
    path = write_trace(tmp_path, HEADER + "2025-07-01T10:00:00,+1555é,cold,\n")
    scn = trace_scenario(path)
    extra = WorkloadConfig(kind="burst", trigger="cold", count=2)
    df = generate_arrivals([*scn.workload, extra], scn.simulation.start, scn.end, 2,
                           np.random.default_rng(0))
    assert sorted(df["phone"]) == ["+10000000001", "+10000000002", "+1555é"]


def test_trace_timestamp_offset_before_year_one_names_the_row(tmp_path: Path) -> None:
    path = write_trace(tmp_path, HEADER + "0001-01-01T00:00:00+05:00,+1555,cold,\n")
    with pytest.raises(ScenarioError, match=r"t\.csv:2: timestamp '0001-01-01T00:00:00\+05:00' "
                       r"is not valid; expected an ISO-8601"):
        read_trace(path)


def test_workload_feeding_only_inactive_sequences_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^workload\[0\]\.trigger: 'off' is not valid; "
                       r"expected a workload feeding an active sequence; 'OFF' has is_active = "
                       r"false, so none of its leads would ever be enrolled$"):
        Scenario.from_dict({
            "simulation": {"start": "2025-07-01T00:00:00", "duration": "1d"},
            "sequences": [{"name": "OFF", "trigger": "off", "days": [1], "is_active": False}],
            "workload": [{"kind": "poisson", "trigger": "off", "rate_per_hour": 2}],
        })
    path = write_trace(tmp_path, HEADER + "2025-07-01T10:00:00,+1555,off,\n")
    with pytest.raises(ScenarioError, match=r"^workload\[0\]\.path: .* expected a workload "
                       r"feeding an active sequence; 'OFF' has is_active = false"):
        trace_scenario(path)
    mixed = write_trace(tmp_path, HEADER + "2025-07-01T10:00:00,+1555,off,\n"
                        + "2025-07-01T11:00:00,+1556,cold,\n", "mixed.csv")
    assert len(trace_scenario(mixed).workload) == 1  # one active trigger is enough
