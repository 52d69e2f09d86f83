"""Per-step tables people read: one run's :attr:`Result.steps`, or several runs' steps
side by side with differences to the first run (``seqsim.compare(runs, by="step")``).

The columns shown are those of :data:`STEP_LABELS` present in the frame, plus the
``wait_<cause>_s`` columns (mean seconds of lateness by cause) of the causes that
occurred in the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from seqsim.analysis.named import load_named
from seqsim.analysis.text import format_value, text_table
from seqsim.results.result import Result

__all__ = ["STEP_LABELS", "format_step_comparison", "format_steps", "readable_steps",
           "step_comparison", "step_label_columns", "unfinished_warning"]

#: Column -> (header, unit): unit ``"s"`` seconds, ``"h"`` hours, ``"t"`` an
#: instant, ``""`` a count.
STEP_LABELS: dict[str, tuple[str, str]] = {
    "sent": ("sent", ""),
    "failed": ("failed", ""),
    "lateness_p50_s": ("late p50", "s"),
    "lateness_p95_s": ("late p95", "s"),
    "lateness_max_s": ("late max", "s"),
    "completion_p50_h": ("done p50", "h"),
    "completion_p95_h": ("done p95", "h"),
    "completion_max_h": ("done max", "h"),
    "last_completed_at": ("last done (UTC)", "t"),
    "waiting_at_end": ("waiting at end", ""),
    "queued_at_end": ("queued at end", ""),
}
_STEP_KEYS = ["sequence", "day_number"]


def step_label_columns(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Return ``(column, header, unit)`` for each column of a step frame that a table
    shows: :data:`STEP_LABELS` in order, then the ``wait_*_s`` columns (the mean
    lateness by cause) of the causes that occurred."""
    shown = [(c, *STEP_LABELS[c]) for c in STEP_LABELS if c in frame.columns]
    shown += [(c, "mean " + c[len("wait_"):-len("_s")].replace("_", " ") + " wait", "s")
              for c in frame.columns
              if str(c).startswith("wait_") and str(c).endswith("_s")
              and pd.to_numeric(frame[c]).fillna(0).ne(0).any()]  # causes that occurred
    return shown


def _cell(value: Any, unit: str) -> str:
    if unit == "t":
        return "-" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%m-%d %H:%M}"
    return format_value(None if pd.isna(value) else value, unit)


def readable_steps(frame: pd.DataFrame, *, diffs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return a step frame (:attr:`Result.steps`) as text, one row a step (index
    ``step``: ``COLD day 3``), one column per shown column (headers of
    :func:`step_label_columns`); with ``diffs`` (same rows, ``<column>_diff``
    columns) each differing value is followed by its difference in brackets."""
    shown = step_label_columns(frame)
    rows, labels = [], []
    for i, step in enumerate(frame.to_dict("records")):
        labels.append(f"{step['sequence']} day {int(step['day_number'])}")
        cells = []
        for column, _, unit in shown:
            cell = _cell(step[column], unit)
            diff = None if diffs is None else diffs.iloc[i].get(f"{column}_diff")
            if diff is not None and pd.notna(diff) and diff != 0 and unit != "t":
                cell += f" ({format_value(diff, unit, signed=True)})"
            cells.append(cell)
        rows.append(cells)
    return pd.DataFrame(rows, columns=[header for _, header, _ in shown],
                        index=pd.Index(labels, name="step"))


def format_steps(frame: pd.DataFrame, *, diffs: pd.DataFrame | None = None) -> str:
    """Return :func:`readable_steps` as an aligned text table."""
    table = readable_steps(frame, diffs=diffs)
    return text_table(["step", *table.columns],
                      [[label, *cells] for label, cells in
                       zip(table.index, table.to_numpy().tolist(), strict=True)])


def step_comparison(
    results: Mapping[str, Result | str | os.PathLike[str]]
    | Sequence[Result | str | os.PathLike[str]],
) -> pd.DataFrame:
    """Return every run's :attr:`Result.steps`, stacked, with differences to the first.

    Returns:
        A DataFrame indexed by (``result``, ``sequence``, ``day_number``), with
        each numeric step column followed by ``<column>_diff``: the value minus
        the first run's value for the step in the same position of the same
        sequence (its 2nd step, say, whatever its day number: runs compared are
        often two delay designs; NaN where the first run has no such step).
        Instants (``last_completed_at``...) have no diff.

    Raises:
        SeqsimError: as :func:`seqsim.compare`.
    """
    named = load_named(results)
    frames = {name: r.steps for name, r in named.items()}
    first = _by_position(next(iter(frames.values())))
    out = []
    for name, frame in frames.items():
        now = _by_position(frame)
        columns: dict[str, pd.Series] = {}
        for column in frame.columns.drop(_STEP_KEYS):
            columns[column] = frame[column]
            if not pd.api.types.is_datetime64_any_dtype(frame[column]):
                ref = pd.to_numeric(first[column]).astype(float).reindex(now.index)
                diff = pd.to_numeric(now[column]).astype(float) - ref
                columns[f"{column}_diff"] = pd.Series(diff.to_numpy(), index=frame.index)
        part = pd.DataFrame(columns, index=frame.index)
        part.index = pd.MultiIndex.from_frame(frame[_STEP_KEYS])
        out.append(pd.concat({name: part}, names=["result"]))
    return pd.concat(out)


def _by_position(steps: pd.DataFrame) -> pd.DataFrame:
    """Return a step frame indexed by (sequence, position of the step in it)."""
    position = steps.groupby("sequence").cumcount()
    return steps.set_index([steps["sequence"], position])


def format_step_comparison(frame: pd.DataFrame) -> str:
    """Return :func:`step_comparison` as one text table per run, diffs in brackets
    from the second run on."""
    blocks = []
    for position, (name, part) in enumerate(frame.groupby(level="result", sort=False)):
        part = part.droplevel("result").reset_index()
        diffs = part.filter(like="_diff") if position else None
        blocks.append(f"steps: {name}\n{format_steps(part, diffs=diffs)}")
    return "\n\n".join(blocks)


def unfinished_warning(result: Result) -> str | None:
    """Return one line saying what a run left undone at its end, or None when every
    contact finished and nothing was due: rows due but unsent (waiting, queued on
    devices) with their waiting so far, which the lateness KPIs leave out, and
    contacts still active."""
    summary = result.summary
    unsent = summary.get("unsent_due_at_end") or 0
    active = summary.get("contacts_active") or 0
    if not unsent and not active:
        return None
    parts = []
    if unsent:
        parts.append(
            f"{unsent:,} rows due but unsent ({summary.get('unsent_waiting_at_end', 0):,} "
            f"waiting, {summary.get('unsent_queued_at_end', 0):,} queued on devices), "
            "waiting so far p50 "
            f"{format_value(summary.get('unsent_wait_lower_bound_s_p50'), 's')}, max "
            f"{format_value(summary.get('unsent_wait_lower_bound_s_max'), 's')} (lower bounds "
            "on their lateness, which the lateness KPIs leave out)")
    if active:
        parts.append(f"{active:,} contacts still active")
    return (f"the run ended with work left: {'; '.join(parts)}; a longer "
            "simulation.duration lets them finish")
