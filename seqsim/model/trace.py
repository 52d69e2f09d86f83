"""Reading CSV traces of arrivals: `read_trace` and `first_unknown_device`.

A trace workload replays recorded enrolments. `seqsim.model.scenario` reads
each trace at load time, so a bad file is rejected before a run starts, and
`seqsim.model.arrivals` reads it again to generate the run's arrivals.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from seqsim.errors import ScenarioError
from seqsim.model.windows import check_zone
from seqsim.units import to_naive_utc
from seqsim.validation import close_match, show

__all__ = ["TRACE_COLUMNS", "first_unknown_device", "read_trace"]

#: Header columns a trace CSV may have; ``device_id`` and ``timezone`` are optional.
TRACE_COLUMNS: tuple[str, ...] = ("timestamp", "phone", "trigger", "device_id", "timezone")
_TRACE_REQUIRED: tuple[str, ...] = ("timestamp", "phone", "trigger")
_TRACE_HEADER = "timestamp,phone,trigger[,device_id][,timezone]"


def read_trace(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a CSV trace of arrivals.

    The header (line 1) is ``timestamp,phone,trigger`` plus optionally
    ``device_id`` and ``timezone``, in any order (names are case-insensitive).
    Blank lines are skipped; fields are stripped. ``timezone`` is the lead's
    IANA zone (its send windows are in local time); an empty cell means "not
    given" (the workload's zone, else UTC, applies). A phone listed again with
    another zone is not an error: the lead is created once, at its first
    arrival, and keeps that row's zone (see
    `seqsim.model.arrivals.generate_arrivals`).

    Returns:
        A frame in file order with columns ``timestamp`` (datetime64[us], naive
        UTC), ``phone``, ``trigger``, ``device_id`` and ``timezone`` (str; missing
        when the column is absent or the cell empty) and ``line`` (1-based line
        number in the file).

    Raises:
        ScenarioError: naming the file, the 1-based line and the value, for a
            missing/unreadable file, a missing or unknown header column, a row
            with the wrong number of fields, a bad timestamp, an empty phone,
            a phone with control characters (NUL, newline),
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


def first_unknown_device(trace: pd.DataFrame, names: list[str]) -> pd.Series | None:
    """Return the first trace row pinning a device not in ``names``, or None."""
    pinned = trace[trace["device_id"].notna()]
    bad = pinned[~pinned["device_id"].isin(names)]
    return bad.iloc[0] if len(bad) else None


def _trace_error(path: Path, line: int, what: str, value: object, expected: str) -> ScenarioError:
    return ScenarioError(f"{path}:{line}: {what} {show(value)} is not valid; expected {expected}")


def _parse_header(path: Path, reader: csv.Reader) -> list[str]:
    """Return the header's column names, lower case.

    Raises:
        ScenarioError: naming line 1, for a missing header, an unknown (with a
            did-you-mean), repeated or missing required column.
    """
    header = next(reader, None)
    if not header or not any(c.strip() for c in header):
        raise ScenarioError(
            f"{path}:1: missing header; expected {_TRACE_HEADER}"
        )
    columns = [c.strip().lower() for c in header]
    for col in columns:
        if col not in TRACE_COLUMNS:
            close = close_match(col, TRACE_COLUMNS)
            hint = f"did you mean {show(close)}? " if close is not None else ""
            raise ScenarioError(
                f"{path}:1: column {show(col)} is not valid; {hint}expected columns "
                f"{_TRACE_HEADER}"
            )
        if columns.count(col) > 1:
            raise ScenarioError(f"{path}:1: column {show(col)} is not valid; it appears twice")
    for col in _TRACE_REQUIRED:
        if col not in columns:
            raise ScenarioError(
                f"{path}:1: column {show(col)} is missing; expected columns {_TRACE_HEADER}"
            )
    return columns


@dataclass
class _TraceRows:
    """The rows of one trace read so far, and what later rows are checked against."""

    path: Path
    columns: list[str]
    index: dict[str, int] = field(init=False)
    times: list[datetime] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    devices: list[str | None] = field(default_factory=list)
    zones: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    # cell -> zone: each distinct value is checked once.
    known_zones: dict[str, str] = field(default_factory=dict)
    # (phone, trigger) -> the line it first appears on.
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    # phone -> (device it pins, the line that pins it).
    phone_device: dict[str, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.columns)}

    def cell(self, cells: list[str], column: str) -> str | None:
        """Return the row's value in ``column``, None when the column is absent or empty."""
        i = self.index.get(column)
        return cells[i] if i is not None and cells[i] else None

    def add(self, line: int, row: list[str]) -> None:
        """Validate one non-blank CSV row and append it.

        Raises:
            ScenarioError: naming the file, ``line`` and the bad value.
        """
        path, columns = self.path, self.columns
        if len(row) != len(columns):
            raise _trace_error(
                path, line, "row", ",".join(row), f"{len(columns)} fields ({','.join(columns)})"
            )
        cells = [c.strip() for c in row]
        when = _row_timestamp(path, line, cells[self.index["timestamp"]])
        phone, trigger = self._phone_and_trigger(line, cells)
        device = self._device(line, phone, self.cell(cells, "device_id"))
        zone = self._zone(line, self.cell(cells, "timezone"))
        self.times.append(when)
        self.phones.append(phone)
        self.triggers.append(trigger)
        self.devices.append(device)
        self.zones.append(zone)
        self.lines.append(line)

    def _phone_and_trigger(self, line: int, cells: list[str]) -> tuple[str, str]:
        path = self.path
        phone = cells[self.index["phone"]]
        if not phone:
            raise _trace_error(path, line, "phone", phone, "a non-empty phone number")
        if not phone.isprintable():
            # A NUL, newline or other control character is a corrupt cell, not a phone.
            raise _trace_error(path, line, "phone", phone,
                               "a phone number without control characters (NUL, newline, tab)")
        trigger = cells[self.index["trigger"]]
        if not trigger or "," in trigger:
            raise _trace_error(
                path, line, "trigger", trigger, "a non-empty sequence trigger without commas"
            )
        if (phone, trigger) in self.seen:
            raise _trace_error(
                path,
                line,
                "phone/trigger",
                f"{phone},{trigger}",
                f"each (phone, trigger) once; it already appears on line "
                f"{self.seen[phone, trigger]}",
            )
        self.seen[phone, trigger] = line
        return phone, trigger

    def _device(self, line: int, phone: str, device: str | None) -> str | None:
        if device is not None:
            # A lead has one sending device; two rows pinning different ones contradict.
            first = self.phone_device.setdefault(phone, (device, line))
            if first[0] != device:
                raise _trace_error(
                    self.path,
                    line,
                    "device_id",
                    device,
                    f"{show(first[0])} for phone {phone} as on line {first[1]}",
                )
        return device

    def _zone(self, line: int, zone: str | None) -> str | None:
        if zone is None:
            return None
        if zone not in self.known_zones:
            try:
                self.known_zones[zone] = check_zone("timezone", zone)
            except ScenarioError as exc:
                # Keep check_zone's "expected ..." text (it may suggest a close name).
                expected = str(exc).partition("; expected ")[2]
                raise _trace_error(self.path, line, "timezone", zone, expected) from None
        return self.known_zones[zone]

    def frame(self) -> pd.DataFrame:
        """Return the rows as the frame `read_trace` documents."""
        times = self.times
        return pd.DataFrame(
            {
                "timestamp": pd.Series(
                    np.array(times, dtype="datetime64[us]")
                    if times
                    else np.array([], "datetime64[us]")
                ),
                "phone": pd.Series(self.phones, dtype="str"),
                "trigger": pd.Series(self.triggers, dtype="str"),
                "device_id": pd.Series(self.devices, dtype="str"),
                "timezone": pd.Series(self.zones, dtype="str"),
                "line": pd.Series(self.lines, dtype="int64"),
            }
        )


def _row_timestamp(path: Path, line: int, stamp: str) -> datetime:
    """Return a row's ISO-8601 ``timestamp`` cell as naive UTC.

    Raises:
        ScenarioError: naming the file and ``line`` when it does not parse.
    """
    try:
        return to_naive_utc(datetime.fromisoformat(stamp))
    except (ValueError, OverflowError):  # OverflowError: an offset moving it before year 1
        raise _trace_error(
            path, line, "timestamp", stamp, "an ISO-8601 date-time such as 2025-07-01T09:30:00"
        ) from None


def _parse_trace(path: Path, reader: csv.Reader) -> pd.DataFrame:
    rows = _TraceRows(path, _parse_header(path, reader))
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        rows.add(reader.line_num, row)
    return rows.frame()
