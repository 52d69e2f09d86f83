"""Enrolment generators: who arrives, when, with which trigger and device.

`generate_arrivals` turns a scenario's `WorkloadConfig` list into one frame of
arrivals (constant, poisson, diurnal, burst and trace workloads), drawing all
randomness from the run's single `numpy.random.Generator`. Generators are
vectorised: a million poisson arrivals take a fraction of a second.

`read_trace` loads and validates a CSV trace; `seqsim.model.scenario` calls it at
load time so a bad trace is rejected before a run starts.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from seqsim.errors import ScenarioError
from seqsim.model.windows import check_zone

if TYPE_CHECKING:
    # Runtime import would be circular: seqsim.model.scenario imports read_trace from here.
    from seqsim.model.scenario import WorkloadConfig

__all__ = [
    "ARRIVAL_COLUMNS",
    "DEFAULT_ZONE",
    "TRACE_COLUMNS",
    "device_ids",
    "first_unknown_device",
    "generate_arrivals",
    "read_trace",
]

#: Columns of the frame `generate_arrivals` returns.
ARRIVAL_COLUMNS: tuple[str, ...] = ("time", "phone", "trigger", "device_id", "timezone")
#: Header columns a trace CSV may have; ``device_id`` and ``timezone`` are optional.
TRACE_COLUMNS: tuple[str, ...] = ("timestamp", "phone", "trigger", "device_id", "timezone")
_TRACE_REQUIRED: tuple[str, ...] = ("timestamp", "phone", "trigger")
_TRACE_HEADER = "timestamp,phone,trigger[,device_id][,timezone]"
_ZONE_EXPECTED = "an IANA time zone such as 'UTC' or 'Asia/Singapore'"
#: The zone of leads whose workload and trace row name none.
DEFAULT_ZONE = "UTC"

_US_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1)


def device_ids(n: int) -> list[str]:
    """Return the names of ``n`` devices: ``["dev-001", "dev-002", ...]``.

    Names are zero-padded to at least 3 digits (wider fleets get wider numbers,
    all the same width) so lexical order equals numeric order.
    """
    width = max(3, len(str(n)))
    return [f"dev-{i:0{width}d}" for i in range(1, n + 1)]


# --------------------------------------------------------------------------- traces


def _trace_error(path: Path, line: int, what: str, value: object, expected: str) -> ScenarioError:
    return ScenarioError(f"{path}:{line}: {what} {value!r} is not valid; expected {expected}")


def _parse_timestamp(text: str) -> datetime:
    """Return ``text`` (ISO-8601) as naive UTC; raises ValueError when unparsable."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def read_trace(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a CSV trace of arrivals.

    The header (line 1) is ``timestamp,phone,trigger`` plus optionally
    ``device_id`` and ``timezone``, in any order (names are case-insensitive).
    Blank lines are skipped; fields are stripped. ``timezone`` is the lead's
    IANA zone (its send windows are in local time); an empty cell means "not
    given" (the workload's zone, else UTC, applies). A phone listed again with
    another zone is not an error: the lead is created once, at its first
    arrival, and keeps that row's zone (see `generate_arrivals`).

    Returns:
        A frame in file order with columns ``timestamp`` (datetime64[us], naive
        UTC), ``phone``, ``trigger``, ``device_id`` and ``timezone`` (str; missing
        when the column is absent or the cell empty) and ``line`` (1-based line
        number in the file).

    Raises:
        ScenarioError: naming the file, the 1-based line and the value, for a
            missing/unreadable file, a missing or unknown header column, a row
            with the wrong number of fields, a bad timestamp, an empty phone,
            an empty or comma-containing trigger, a duplicate (phone, trigger)
            or an unknown time zone. Same-phone rows pinning different devices
            are also rejected.
    """
    p = Path(path)
    try:
        handle = p.open(newline="", encoding="utf-8")
    except FileNotFoundError as exc:
        raise ScenarioError(
            f"{p}: file not found; expected a CSV trace with header {_TRACE_HEADER}"
        ) from exc
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read the trace: {exc}") from exc
    with handle:
        try:
            return _parse_trace(p, csv.reader(handle))
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{p}: cannot read the trace: {exc}; expected UTF-8") from exc
        except csv.Error as exc:
            raise ScenarioError(f"{p}: malformed CSV: {exc}") from exc


def _parse_header(path: Path, reader: csv.Reader) -> list[str]:
    header = next(reader, None)
    if not header or not any(c.strip() for c in header):
        raise ScenarioError(
            f"{path}:1: missing header; expected {_TRACE_HEADER}"
        )
    columns = [c.strip().lower() for c in header]
    for col in columns:
        if col not in TRACE_COLUMNS:
            close = difflib.get_close_matches(col, TRACE_COLUMNS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ScenarioError(
                f"{path}:1: column {col!r} is not valid; {hint}expected columns "
                f"{_TRACE_HEADER}"
            )
        if columns.count(col) > 1:
            raise ScenarioError(f"{path}:1: column {col!r} is not valid; it appears twice")
    for col in _TRACE_REQUIRED:
        if col not in columns:
            raise ScenarioError(
                f"{path}:1: column {col!r} is missing; expected columns {_TRACE_HEADER}"
            )
    return columns


def _parse_trace(path: Path, reader: csv.Reader) -> pd.DataFrame:
    columns = _parse_header(path, reader)
    idx = {c: i for i, c in enumerate(columns)}
    dev_i = idx.get("device_id")
    zone_i = idx.get("timezone")
    times: list[datetime] = []
    phones: list[str] = []
    triggers: list[str] = []
    devices: list[str | None] = []
    zones: list[str | None] = []
    lines: list[int] = []
    known_zones: dict[str, str] = {}  # cell -> zone: each distinct value checked once
    seen: dict[tuple[str, str], int] = {}
    phone_device: dict[str, tuple[str, int]] = {}
    for row in reader:
        line = reader.line_num
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(columns):
            raise _trace_error(
                path, line, "row", ",".join(row), f"{len(columns)} fields ({','.join(columns)})"
            )
        cells = [c.strip() for c in row]
        stamp = cells[idx["timestamp"]]
        try:
            when = _parse_timestamp(stamp)
        except ValueError:
            raise _trace_error(
                path, line, "timestamp", stamp, "an ISO-8601 date-time such as 2025-07-01T09:30:00"
            ) from None
        phone = cells[idx["phone"]]
        if not phone:
            raise _trace_error(path, line, "phone", phone, "a non-empty phone number")
        trigger = cells[idx["trigger"]]
        if not trigger or "," in trigger:
            raise _trace_error(
                path, line, "trigger", trigger, "a non-empty sequence trigger without commas"
            )
        if (phone, trigger) in seen:
            raise _trace_error(
                path,
                line,
                "phone/trigger",
                f"{phone},{trigger}",
                f"each (phone, trigger) once; it already appears on line {seen[phone, trigger]}",
            )
        seen[phone, trigger] = line
        device = cells[dev_i] if dev_i is not None and cells[dev_i] else None
        if device is not None:
            # A lead has one sending device; two rows pinning different ones contradict.
            first = phone_device.setdefault(phone, (device, line))
            if first[0] != device:
                raise _trace_error(
                    path,
                    line,
                    "device_id",
                    device,
                    f"{first[0]!r} for phone {phone} as on line {first[1]}",
                )
        zone = cells[zone_i] if zone_i is not None and cells[zone_i] else None
        if zone is not None:
            if zone not in known_zones:
                try:
                    known_zones[zone] = check_zone("timezone", zone)
                except ScenarioError as exc:
                    # Keep check_zone's "expected ..." text (it may suggest a close name).
                    expected = str(exc).partition("; expected ")[2] or _ZONE_EXPECTED
                    raise _trace_error(path, line, "timezone", zone, expected) from None
            zone = known_zones[zone]
        times.append(when)
        phones.append(phone)
        triggers.append(trigger)
        devices.append(device)
        zones.append(zone)
        lines.append(line)
    return pd.DataFrame(
        {
            "timestamp": pd.Series(
                np.array(times, dtype="datetime64[us]") if times else np.array([], "datetime64[us]")
            ),
            "phone": pd.Series(phones, dtype="str"),
            "trigger": pd.Series(triggers, dtype="str"),
            "device_id": pd.Series(devices, dtype="str"),
            "timezone": pd.Series(zones, dtype="str"),
            "line": pd.Series(lines, dtype="int64"),
        }
    )


# --------------------------------------------------------------------------- generators


def _to_us(value: datetime) -> int:
    """Return ``value`` (naive UTC) as integer microseconds since the epoch."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _constant_us(rate: float, lo: int, hi: int) -> np.ndarray:
    gap = _US_PER_HOUR / rate
    n = math.ceil((hi - lo) / gap) + 1
    offsets = np.rint(np.arange(n, dtype=np.float64) * gap).astype(np.int64)
    return lo + offsets[offsets < hi - lo]


def _poisson_us(rate: float, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Return arrival times of a homogeneous Poisson process (exponential gaps) in [lo, hi)."""
    span_h = (hi - lo) / _US_PER_HOUR
    expected = rate * span_h
    # Draw gaps in chunks sized to cover the window with high probability, so
    # normally one chunk (rarely two) suffices; no Python loop per arrival.
    chunk = max(64, int(expected + 6 * math.sqrt(expected) + 16))
    pieces: list[np.ndarray] = []
    t = 0.0
    while True:
        hours = t + np.cumsum(rng.exponential(1.0 / rate, size=chunk))
        inside = hours[hours < span_h]
        pieces.append(inside)
        if len(inside) < chunk:
            break
        t = float(hours[-1])
    offsets = np.rint(np.concatenate(pieces) * _US_PER_HOUR).astype(np.int64)
    return lo + offsets[offsets < hi - lo]


def _diurnal_us(
    rate: float, profile: Sequence[float], lo: int, hi: int, rng: np.random.Generator
) -> np.ndarray:
    """Return arrivals of a Poisson process whose rate follows the 24 hourly weights."""
    weights = np.asarray(profile, dtype=np.float64)
    # Normalise so the mean over a day is `rate`: hour h runs at rate * 24 * w_h / sum(w).
    hourly = rate * 24.0 * weights / weights.sum()
    first = lo // _US_PER_HOUR * _US_PER_HOUR
    bucket = np.arange(first, hi, _US_PER_HOUR, dtype=np.int64)
    b_lo = np.maximum(bucket, lo)
    b_hi = np.minimum(bucket + _US_PER_HOUR, hi)
    width = b_hi - b_lo
    hour_of_day = (bucket // _US_PER_HOUR) % 24  # epoch is midnight UTC
    counts = rng.poisson(hourly[hour_of_day] * (width / _US_PER_HOUR))
    starts = np.repeat(b_lo, counts)
    widths = np.repeat(width, counts)
    times = starts + np.floor(rng.random(starts.size) * widths).astype(np.int64)
    return np.sort(times, kind="stable")


@dataclass(frozen=True)
class _Part:
    """One workload's arrivals in [lo, hi), sorted by time (stable).

    Generated parts carry one ``trigger``; trace parts carry their rows in
    ``trace`` (aligned with ``time_us``) and the file name in ``source``.
    ``zone`` is the workload's time zone (trace rows naming one keep theirs).
    """

    time_us: np.ndarray
    trigger: str | None = None
    trace: pd.DataFrame | None = None
    source: str | None = None
    zone: str = DEFAULT_ZONE


def _workload_part(
    wl: WorkloadConfig, lo: int, hi: int, start_us: int, rng: np.random.Generator
) -> _Part:
    zone = wl.timezone or DEFAULT_ZONE
    if wl.kind == "trace":
        assert wl.path is not None
        trace = read_trace(wl.path)
        us = trace["timestamp"].to_numpy(dtype="datetime64[us]").astype(np.int64)
        keep = np.flatnonzero((us >= lo) & (us < hi))
        # Traces need not be sorted; a stable sort keeps file order for equal times.
        keep = keep[np.argsort(us[keep], kind="stable")]
        rows = trace.iloc[keep].reset_index(drop=True)
        return _Part(us[keep], trace=rows, source=str(wl.path), zone=zone)
    assert wl.trigger is not None
    empty = np.empty(0, np.int64)
    if wl.kind == "burst":
        at = start_us if wl.at is None else _to_us(wl.at)
        inside = lo <= at < hi
        return _Part(np.full(wl.count or 0, at, np.int64) if inside else empty, wl.trigger,
                     zone=zone)
    assert wl.rate_per_hour is not None
    if hi <= lo:
        return _Part(empty, wl.trigger, zone=zone)
    if wl.kind == "constant":
        return _Part(_constant_us(wl.rate_per_hour, lo, hi), wl.trigger, zone=zone)
    if wl.kind == "poisson":
        return _Part(_poisson_us(wl.rate_per_hour, lo, hi, rng), wl.trigger, zone=zone)
    if wl.kind == "diurnal":
        assert wl.profile is not None
        return _Part(_diurnal_us(wl.rate_per_hour, wl.profile, lo, hi, rng), wl.trigger,
                     zone=zone)
    raise ScenarioError(f"workload.kind: {wl.kind!r} is not valid; expected one of the known kinds")


def _phone_numbers(n: int, taken: set[str]) -> pa.Array:
    """Return ``n`` phones ``+1`` + 10 digits (1, 2, ...) in order, skipping ``taken`` ones."""
    numbers = np.arange(1, n + 1 + len(taken), dtype=np.int64)
    if numbers.size and numbers[-1] >= 10**10:
        raise ScenarioError(f"workload: {n!r} leads is not valid; expected fewer than 10**10")
    # Write the ASCII digits straight into one buffer and hand it to Arrow:
    # formatting a million Python strings would dominate the run time.
    raw = np.empty((numbers.size, 12), dtype=np.uint8)
    raw[:, 0] = ord("+")
    raw[:, 1] = ord("1")
    rest = numbers.copy()
    for col in range(11, 1, -1):
        raw[:, col] = rest % 10 + ord("0")
        rest //= 10
    if taken:
        as_text = raw.view("S12").ravel()
        clash = np.isin(as_text, np.array(sorted(taken), dtype=object).astype("S"))
        raw = raw[~clash]
    raw = np.ascontiguousarray(raw[:n])
    offsets = np.arange(0, 12 * (n + 1), 12, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw))


def _dictionary(codes: np.ndarray, names: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """Return ``names[codes]`` as a pandas ``str`` array, built via Arrow (fast)."""
    arrow = pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(list(names), pa.string())
    )
    return pd.array(arrow.cast(pa.string()), dtype="str")


def first_unknown_device(trace: pd.DataFrame, names: list[str]) -> pd.Series | None:
    """Return the first trace row pinning a device not in ``names``, or None."""
    pinned = trace[trace["device_id"].notna()]
    bad = pinned[~pinned["device_id"].isin(names)]
    return bad.iloc[0] if len(bad) else None


def _check_traces(trace: pd.DataFrame, names: list[str]) -> None:
    """Reject trace rows pinning unknown devices, and clashes between traces."""
    row = first_unknown_device(trace, names)
    if row is not None:
        raise ScenarioError(
            f"{row['source']}:{row['line']}: device_id {row['device_id']!r} is not valid; "
            f"expected one of the {len(names)} devices ({names[0]}..{names[-1]})"
        )
    dup = trace[trace.duplicated(["phone", "trigger"], keep=False)]
    if len(dup):
        row = dup.iloc[-1]
        raise ScenarioError(
            f"{row['source']}:{row['line']}: phone/trigger {row['phone'] + ',' + row['trigger']!r}"
            " is not valid; expected each (phone, trigger) once across all traces"
        )
    pins = trace[trace["device_id"].notna()].drop_duplicates(["phone", "device_id"])
    clash = pins[pins["phone"].duplicated()]
    if len(clash):
        row = clash.iloc[0]
        raise ScenarioError(
            f"{row['source']}:{row['line']}: device_id {row['device_id']!r} is not valid; "
            f"expected the device another trace row pins for phone {row['phone']}"
        )


def _device_codes(
    gen: np.ndarray, trace_idx: np.ndarray, trace: pd.DataFrame | None, names: list[str]
) -> np.ndarray:
    """Return each arrival's index into ``names`` (arrivals in final order).

    A trace row's ``device_id`` wins; otherwise each new lead gets the next device
    round robin in arrival order. A phone seen again keeps its first device, so
    the counter advances only over leads that need an assignment.
    """
    need = gen.copy()
    codes = np.full(gen.size, -1, dtype=np.int64)
    rows = None
    if trace is not None and len(trace):
        rows = trace.iloc[trace_idx[~gen]].reset_index(drop=True)
        pos = np.flatnonzero(~gen)
        pinned_phones = set(rows.loc[rows["device_id"].notna(), "phone"])
        first = ~rows["phone"].duplicated().to_numpy()
        need[pos] = first & ~rows["phone"].isin(pinned_phones).to_numpy()
        pin = rows["device_id"].map({n: i for i, n in enumerate(names)})
        has_pin = pin.notna().to_numpy()
        codes[pos[has_pin]] = pin[has_pin].to_numpy(dtype=np.int64)
    codes[need] = np.arange(int(need.sum()), dtype=np.int64) % len(names)
    if rows is not None:
        # Repeated trace phones take the device given to (or pinned for) that phone.
        pos = np.flatnonzero(~gen)
        per_phone = pd.Series(codes[pos]).groupby(rows["phone"].to_numpy()).transform("max")
        codes[pos] = per_phone.to_numpy(dtype=np.int64)
    return codes


def _zone_codes(
    codes: np.ndarray, gen: np.ndarray, trace_idx: np.ndarray, trace: pd.DataFrame | None
) -> np.ndarray:
    """Return ``codes`` (arrivals in final order) with each trace phone's first zone.

    A lead is created once, at its first arrival; later rows of that phone
    (another trigger, another trace) keep its zone, as they keep its device.
    Generated phones are unique, so only trace rows can repeat a phone.
    """
    if trace is None or not len(trace):
        return codes
    pos = np.flatnonzero(~gen)
    phones = trace["phone"].to_numpy(dtype=object)[trace_idx[pos]]
    first = pd.Series(codes[pos]).groupby(phones, sort=False).transform("first")
    out = codes.copy()
    out[pos] = first.to_numpy(dtype=np.int64)
    return out


def generate_arrivals(
    workloads: Sequence[WorkloadConfig],
    start: datetime,
    end: datetime,
    devices: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Generate every enrolment of a run.

    Each workload contributes arrivals inside its window (its ``start``/``end``
    clipped to [start, end)); randomness is drawn from ``rng`` in workload
    order. Generated leads get unique phones ``+1`` plus a 10-digit running
    number in final order (so lexical order = arrival order) that never
    collides with a trace phone; trace rows keep their phone. Devices are
    assigned round robin over new leads in arrival order unless a trace row
    names one; a phone repeated in a trace keeps one device.

    Each arrival's ``timezone`` is its lead's IANA zone: for generated leads
    the workload's ``timezone``, else UTC; for a trace row its own
    ``timezone`` cell if given, else the workload's, else UTC. A phone that
    arrives more than once (in one trace or several) keeps the zone of its
    first arrival on every row, as the lead is created once; differing zones
    are not an error.

    Returns:
        A frame with columns `ARRIVAL_COLUMNS`: ``time`` (datetime64[us], naive
        UTC), ``phone``, ``trigger``, ``device_id``, ``timezone`` (str, never
        missing), sorted by time; ties keep workload order, then generation (or
        file) order. Same inputs and an identically seeded ``rng`` give an
        identical frame; zones draw no random numbers.

    Raises:
        ScenarioError: ``devices`` < 1, an unreadable/invalid trace, a trace
            ``device_id`` that is not one of `device_ids` (naming file and line),
            or the same (phone, trigger) or conflicting device pins across traces.
    """
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ScenarioError(f"capacity.devices: {devices!r} is not valid; expected an integer >= 1")
    names = device_ids(devices)
    start_us, end_us = _to_us(start), _to_us(end)
    parts = []
    for wl in workloads:
        lo = start_us if wl.start is None else max(start_us, _to_us(wl.start))
        hi = end_us if wl.end is None else min(end_us, _to_us(wl.end))
        parts.append(_workload_part(wl, lo, hi, start_us, rng))

    triggers: list[str] = []
    trig_pieces: list[np.ndarray] = [np.empty(0, np.int64)]
    zones: list[str] = []
    zone_pieces: list[np.ndarray] = [np.empty(0, np.int64)]
    idx_pieces: list[np.ndarray] = [np.empty(0, np.int64)]
    traces: list[pd.DataFrame] = []
    n_trace = 0
    for part in parts:
        size = part.time_us.size
        if part.trace is None:
            assert part.trigger is not None
            if part.trigger not in triggers:
                triggers.append(part.trigger)
            trig_pieces.append(np.full(size, triggers.index(part.trigger), np.int64))
            idx_pieces.append(np.full(size, -1, np.int64))
            if part.zone not in zones:
                zones.append(part.zone)
            zone_pieces.append(np.full(size, zones.index(part.zone), np.int64))
        else:
            for trig in part.trace["trigger"].unique():
                if trig not in triggers:
                    triggers.append(trig)
            lookup = {t: i for i, t in enumerate(triggers)}
            trig_pieces.append(part.trace["trigger"].map(lookup).to_numpy(dtype=np.int64))
            row_zones = part.trace["timezone"].fillna(part.zone)
            for zone in row_zones.unique():
                if zone not in zones:
                    zones.append(zone)
            zone_lookup = {z: i for i, z in enumerate(zones)}
            zone_pieces.append(row_zones.map(zone_lookup).to_numpy(dtype=np.int64))
            idx_pieces.append(np.arange(n_trace, n_trace + size, dtype=np.int64))
            traces.append(part.trace.assign(source=part.source))
            n_trace += size

    times = np.concatenate([np.empty(0, np.int64), *(p.time_us for p in parts)])
    # Pieces are in workload order, then generation/file order: a stable sort by
    # time alone gives the documented tie-breaking.
    order = np.argsort(times, kind="stable")
    trace_idx = np.concatenate(idx_pieces)[order]
    gen = trace_idx < 0
    trace = pd.concat(traces, ignore_index=True) if traces else None
    if trace is not None:
        _check_traces(trace, names)

    n_gen = int(gen.sum())
    taken = set(trace["phone"]) if trace is not None else set()
    phones = _phone_numbers(n_gen, taken)
    if trace is not None:
        # Generated phones come first in the pool, trace phones after: one Arrow take.
        trace_phones = pa.array(trace["phone"].to_numpy(dtype=object), pa.string())
        pool = pa.concat_arrays([phones, trace_phones])
        take = np.where(gen, np.cumsum(gen) - 1, n_gen + trace_idx)
        phones = pool.take(pa.array(take))

    return pd.DataFrame(
        {
            "time": times[order].astype("datetime64[us]"),
            "phone": pd.array(phones, dtype="str"),
            "trigger": _dictionary(np.concatenate(trig_pieces)[order], triggers),
            "device_id": _dictionary(_device_codes(gen, trace_idx, trace, names), names),
            "timezone": _dictionary(
                _zone_codes(np.concatenate(zone_pieces)[order], gen, trace_idx, trace), zones
            ),
        }
    )
