"""Enrolment generators: who arrives, when, with which trigger and device.

`generate_arrivals` turns a scenario's `WorkloadConfig` list into one frame of
arrivals (constant, poisson, diurnal, burst and trace workloads), drawing all
randomness from the run's single `numpy.random.Generator`. Generators are
vectorised: a million poisson arrivals take a fraction of a second.
`generate_arrival_codes` gives the same arrivals before the frame's string
columns are made (`ArrivalCodes`), as the compiled engine reads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from seqsim.errors import ScenarioError
from seqsim.model.capacity import device_ids
from seqsim.model.trace import first_unknown_device, read_trace
from seqsim.model.workload import DEFAULT_ZONE, WorkloadConfig
from seqsim.strings import from_codes
from seqsim.units import HOUR_US, to_us
from seqsim.validation import parse_int, show

__all__ = ["ARRIVAL_COLUMNS", "ArrivalCodes", "generate_arrival_codes", "generate_arrivals"]

#: Columns of the frame `generate_arrivals` returns.
ARRIVAL_COLUMNS: tuple[str, ...] = ("time", "phone", "trigger", "device_id", "timezone")


class ArrivalCodes(NamedTuple):
    """A run's arrivals as codes: the columns of :func:`generate_arrivals`'s frame
    (:meth:`frame`), each string column as codes into its names.

    The compiled engine reads these: turning a million arrivals' triggers,
    devices and zones into strings, then back into codes, took longer than
    drawing the arrivals. A code of -1 is a missing value.
    """

    time_us: np.ndarray  # int64 µs, naive UTC, sorted
    phones: pa.Array  # string, one per arrival
    trigger_codes: np.ndarray  # into triggers
    triggers: list[str]
    device_codes: np.ndarray  # into devices
    devices: list[str]
    zone_codes: np.ndarray  # into zones
    zones: list[str]

    def __len__(self) -> int:  # type: ignore[override]  # the arrivals, not the fields
        return len(self.time_us)

    def frame(self) -> pd.DataFrame:
        """Return the arrivals as :func:`generate_arrivals` returns them."""
        return pd.DataFrame({
            "time": self.time_us.astype("datetime64[us]"),
            "phone": pd.array(self.phones, dtype="str"),
            "trigger": from_codes(self.trigger_codes, self.triggers),
            "device_id": from_codes(self.device_codes, self.devices),
            "timezone": from_codes(self.zone_codes, self.zones),
        })

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> ArrivalCodes:
        """Return the codes of an arrivals frame (columns `ARRIVAL_COLUMNS`, sorted
        by time; without ``timezone`` every lead is in UTC)."""
        columns = []
        for name in ("trigger", "device_id", "timezone"):
            if name in frame:
                codes, names = pd.factorize(frame[name])
                columns += [codes.astype(np.int64), [str(v) for v in names]]
            else:  # only a zone may be left out
                columns += [np.zeros(len(frame), dtype=np.int64), [DEFAULT_ZONE]]
        times = frame["time"].to_numpy().astype("datetime64[us]").view(np.int64)
        phones = frame["phone"]
        arrow = (pa.array(phones.array) if getattr(phones.dtype, "storage", None) == "pyarrow"
                 else pa.array(phones.to_numpy(dtype=object), pa.string()))
        return cls(times, arrow, *columns)


def _constant_us(rate: float, lo: int, hi: int) -> np.ndarray:
    gap = HOUR_US / rate
    n = math.ceil((hi - lo) / gap) + 1
    offsets = np.rint(np.arange(n, dtype=np.float64) * gap).astype(np.int64)
    return lo + offsets[offsets < hi - lo]


def _poisson_us(rate: float, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Return arrival times of a homogeneous Poisson process (exponential gaps) in [lo, hi)."""
    span_h = (hi - lo) / HOUR_US
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
    offsets = np.rint(np.concatenate(pieces) * HOUR_US).astype(np.int64)
    return lo + offsets[offsets < hi - lo]


def _diurnal_us(
    rate: float, profile: Sequence[float], lo: int, hi: int, rng: np.random.Generator
) -> np.ndarray:
    """Return arrivals of a Poisson process whose rate follows the 24 hourly weights."""
    weights = np.asarray(profile, dtype=np.float64)
    # Normalise so the mean over a day is `rate`: hour h runs at rate * 24 * w_h / sum(w).
    hourly = rate * 24.0 * weights / weights.sum()
    first = lo // HOUR_US * HOUR_US
    bucket = np.arange(first, hi, HOUR_US, dtype=np.int64)
    b_lo = np.maximum(bucket, lo)
    b_hi = np.minimum(bucket + HOUR_US, hi)
    width = b_hi - b_lo
    hour_of_day = (bucket // HOUR_US) % 24  # epoch is midnight UTC
    counts = rng.poisson(hourly[hour_of_day] * (width / HOUR_US))
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
        at = start_us if wl.at is None else to_us(wl.at)
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
    # Only a 12-character ASCII phone can equal a generated one; others (a trace's
    # '+1555é') cannot clash and would not encode as bytes.
    taken = {p for p in taken if len(p) == 12 and p.isascii()}
    numbers = np.arange(1, n + 1 + len(taken), dtype=np.int64)
    if numbers.size and numbers[-1] >= 10**10:
        raise ScenarioError(f"workload: {show(n)} leads is not valid; expected fewer than 10**10")
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


def _check_traces(trace: pd.DataFrame, names: list[str]) -> None:
    """Reject trace rows pinning unknown devices, and clashes between traces."""
    row = first_unknown_device(trace, names)
    if row is not None:
        raise ScenarioError(
            f"{row['source']}:{row['line']}: device_id {show(row['device_id'])} is not valid; "
            f"expected one of the {len(names)} devices ({names[0]}..{names[-1]})"
        )
    dup = trace[trace.duplicated(["phone", "trigger"], keep=False)]
    if len(dup):
        row = dup.iloc[-1]
        raise ScenarioError(
            f"{row['source']}:{row['line']}: phone/trigger "
            f"{show(row['phone'] + ',' + row['trigger'])}"
            " is not valid; expected each (phone, trigger) once across all traces"
        )
    pins = trace[trace["device_id"].notna()].drop_duplicates(["phone", "device_id"])
    clash = pins[pins["phone"].duplicated()]
    if len(clash):
        row = clash.iloc[0]
        raise ScenarioError(
            f"{row['source']}:{row['line']}: device_id {show(row['device_id'])} is not valid; "
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


def _code(names: list[str], name: str) -> int:
    """Return the index of ``name`` in ``names``, appending it when new."""
    if name not in names:
        names.append(name)
    return names.index(name)


def _codes(names: list[str], values: pd.Series) -> np.ndarray:
    """Return each value's index in ``names``, appending new ones in order of appearance."""
    for value in values.unique():
        if value not in names:
            names.append(value)
    lookup = {n: i for i, n in enumerate(names)}
    return values.map(lookup).to_numpy(dtype=np.int64)


@dataclass
class _Labels:
    """Every arrival's trigger and zone (codes into growing name lists) and trace row.

    Filled part by part in workload order; the pieces line up with the parts'
    ``time_us``. A trace row is an index into the concatenated ``traces``
    (-1 for a generated arrival).
    """

    triggers: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    trigger_codes: list[np.ndarray] = field(default_factory=lambda: [np.empty(0, np.int64)])
    zone_codes: list[np.ndarray] = field(default_factory=lambda: [np.empty(0, np.int64)])
    trace_rows: list[np.ndarray] = field(default_factory=lambda: [np.empty(0, np.int64)])
    traces: list[pd.DataFrame] = field(default_factory=list)
    n_trace: int = 0

    def add(self, part: _Part) -> None:
        """Append the labels of one part's arrivals."""
        size = part.time_us.size
        if part.trace is None:
            assert part.trigger is not None
            self.trigger_codes.append(np.full(size, _code(self.triggers, part.trigger), np.int64))
            self.trace_rows.append(np.full(size, -1, np.int64))
            self.zone_codes.append(np.full(size, _code(self.zones, part.zone), np.int64))
            return
        self.trigger_codes.append(_codes(self.triggers, part.trace["trigger"]))
        self.zone_codes.append(_codes(self.zones, part.trace["timezone"].fillna(part.zone)))
        self.trace_rows.append(np.arange(self.n_trace, self.n_trace + size, dtype=np.int64))
        self.traces.append(part.trace.assign(source=part.source))
        self.n_trace += size


def _arrival_phones(gen: np.ndarray, trace_idx: np.ndarray, trace: pd.DataFrame | None) -> pa.Array:
    """Return each arrival's phone (arrivals in final order).

    Generated leads get fresh numbers in arrival order, skipping trace phones;
    a trace row keeps its own.
    """
    n_gen = int(gen.sum())
    taken = set(trace["phone"]) if trace is not None else set()
    phones = _phone_numbers(n_gen, taken)
    if trace is not None:
        # Generated phones come first in the pool, trace phones after: one Arrow take.
        trace_phones = pa.array(trace["phone"].to_numpy(dtype=object), pa.string())
        pool = pa.concat_arrays([phones, trace_phones])
        take = np.where(gen, np.cumsum(gen) - 1, n_gen + trace_idx)
        phones = pool.take(pa.array(take))
    return phones


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
            ``device_id`` that is not one of `seqsim.model.capacity.device_ids`
            (naming file and line), or the same (phone, trigger) or conflicting
            device pins across traces.
    """
    return generate_arrival_codes(workloads, start, end, devices, rng).frame()


def generate_arrival_codes(
    workloads: Sequence[WorkloadConfig],
    start: datetime,
    end: datetime,
    devices: int,
    rng: np.random.Generator,
) -> ArrivalCodes:
    """Return the arrivals of :func:`generate_arrivals` (the same draws) as codes.

    Raises:
        ScenarioError: as :func:`generate_arrivals`.
    """
    names = device_ids(parse_int("capacity.devices", devices, 1, "an integer >= 1"))
    start_us, end_us = to_us(start), to_us(end)
    parts = []
    for wl in workloads:
        lo = start_us if wl.start is None else max(start_us, to_us(wl.start))
        hi = end_us if wl.end is None else min(end_us, to_us(wl.end))
        parts.append(_workload_part(wl, lo, hi, start_us, rng))
    labels = _Labels()
    for part in parts:
        labels.add(part)

    times = np.concatenate([np.empty(0, np.int64), *(p.time_us for p in parts)])
    # Pieces are in workload order, then generation/file order: a stable sort by
    # time alone gives the documented tie-breaking.
    order = np.argsort(times, kind="stable")
    trace_idx = np.concatenate(labels.trace_rows)[order]
    gen = trace_idx < 0
    trace = pd.concat(labels.traces, ignore_index=True) if labels.traces else None
    if trace is not None:
        _check_traces(trace, names)
    zones = _zone_codes(np.concatenate(labels.zone_codes)[order], gen, trace_idx, trace)
    return ArrivalCodes(times[order], _arrival_phones(gen, trace_idx, trace),
                        np.concatenate(labels.trigger_codes)[order], labels.triggers,
                        _device_codes(gen, trace_idx, trace, names), names,
                        zones, labels.zones)
