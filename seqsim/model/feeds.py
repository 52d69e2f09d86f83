"""What each workload feeds, checked against the scenario that holds it: `check_workload`.

A workload must name a sequence's trigger, keep its window inside the run
and feed at least one active sequence; a trace must also replay rows that
all fall in the run (or in the workload's own window, which is how a part
of a longer recording is replayed), name known triggers and devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from seqsim.errors import ScenarioError
from seqsim.model.capacity import device_ids
from seqsim.model.sequence import SequenceConfig
from seqsim.model.trace import first_unknown_device, read_trace
from seqsim.model.workload import WorkloadConfig
from seqsim.units import format_instant
from seqsim.validation import fail, quoted, show

__all__ = ["check_workload"]


def check_workload(index: int, wl: WorkloadConfig, sequences: Sequence[SequenceConfig],
                   start: datetime, end: datetime, devices: int) -> int:
    """Validate workload ``index`` of a run [start, end) on ``devices`` devices.

    Returns:
        How many trace rows it replays (0 for the generated kinds).

    Raises:
        ScenarioError: naming ``workload[<index>].<field>`` (and the trace's file
            and line) for a trigger naming no sequence, a window, burst or trace
            row outside the run, a workload that feeds only inactive
            sequences, or a trace naming unknown triggers or devices.
    """
    key = f"workload[{index}]"
    triggers = [s.trigger for s in sequences]
    window = f"[{format_instant(start)}, {format_instant(end)})"
    if wl.trigger is not None and wl.trigger not in triggers:
        known = quoted(triggers)
        raise fail(f"{key}.trigger", wl.trigger, f"the trigger of a sequence, one of {known}")
    if wl.start is not None and not start <= wl.start < end:
        raise fail(f"{key}.start", format_instant(wl.start), f"an instant in the run {window}")
    # The window end is exclusive, so it may equal the run's end.
    if wl.end is not None and not start < wl.end <= end:
        raise fail(f"{key}.end", format_instant(wl.end),
                   f"an instant after the run start and <= its end {window}")
    if wl.at is not None and not start <= wl.at < end:
        raise fail(f"{key}.at", format_instant(wl.at), f"an instant in the run {window}")
    if wl.kind != "trace":
        _check_active(f"{key}.trigger", wl.trigger, {wl.trigger}, sequences)
        return 0
    rows = _rows_in_window(key, wl, _trace_rows(key, wl, sequences, devices), start, end)
    _check_active(f"{key}.path", wl.path, set(rows["trigger"]), sequences)
    return len(rows)


def _check_active(key: str, value: object, fed: set[str | None],
                  sequences: Sequence[SequenceConfig]) -> None:
    """Reject a workload whose triggers ``fed`` all name inactive sequences.

    Its leads would never be enrolled and no invariant would notice: the run
    would report 0 enrolled and 0 lost.
    """
    names = [s.name for s in sequences if s.trigger in fed]
    if names and not any(s.is_active for s in sequences if s.trigger in fed):
        # A trace is named by its whole path (a path cut short names no file).
        shown = value if key.endswith(".path") else show(value)
        raise ScenarioError(
            f"{key}: {shown} is not valid; expected a workload feeding an active sequence; "
            f"{quoted(names)} has is_active = false, so none of its leads would ever be enrolled")


def _trace_rows(key: str, wl: WorkloadConfig, sequences: Sequence[SequenceConfig],
                devices: int) -> pd.DataFrame:
    """Return a trace's rows after checking their triggers and devices."""
    assert wl.path is not None  # WorkloadConfig requires it for traces
    triggers = [s.trigger for s in sequences]
    try:
        rows = read_trace(wl.path)
    except ScenarioError as exc:
        raise ScenarioError(f"{key}.path: {exc}") from exc
    bad = rows[~rows["trigger"].isin(triggers)]
    if len(bad):
        row = bad.iloc[0]
        raise ScenarioError(
            f"{key}.path: {wl.path}:{row['line']}: trigger {show(row['trigger'])} is not "
            f"valid; expected the trigger of a sequence, one of {quoted(triggers)}"
        )
    names = device_ids(devices)
    row = first_unknown_device(rows, names)
    if row is not None:
        raise ScenarioError(
            f"{key}.path: {wl.path}:{row['line']}: device_id {show(row['device_id'])} is not "
            f"valid; expected one of the {len(names)} devices "
            f"({names[0]}..{names[-1]}, see capacity.devices)"
        )
    return rows


def _rows_in_window(key: str, wl: WorkloadConfig, rows: pd.DataFrame,
                    start: datetime, end: datetime) -> pd.DataFrame:
    """Return the trace rows that fall in the workload's window; check what it leaves out.

    Without a ``start``/``end`` of its own a trace replays its whole file, so a
    row outside the run (a trace from another year, an offset moving a row
    before the start) is an error rather than a lead silently never enrolled.
    With one, rows outside it are left out on purpose; the window must still
    hold a row.
    """
    lo = start if wl.start is None else wl.start
    hi = end if wl.end is None else wl.end
    stamps = rows["timestamp"].to_numpy(dtype="datetime64[us]")
    inside = (stamps >= np.datetime64(lo, "us")) & (stamps < np.datetime64(hi, "us"))
    outside = np.flatnonzero(~inside)
    window = f"[{format_instant(lo)}, {format_instant(hi)})"
    if len(outside) and wl.start is None and wl.end is None:
        row = rows.iloc[outside[0]]
        when = format_instant(row["timestamp"].to_pydatetime())
        raise ScenarioError(
            f"{key}.path: {wl.path}:{row['line']}: timestamp {when} (UTC) is not valid; "
            f"expected an instant in the run {window} ({len(outside):,} of {len(rows):,} rows "
            "are outside it; give the workload a start/end to replay only part of a trace)"
        )
    if len(rows) and not inside.any():
        raise ScenarioError(
            f"{key}.path: {wl.path}: none of its {len(rows):,} rows is in the workload's "
            f"window {window}; expected a trace with rows in it")
    return rows[inside]
