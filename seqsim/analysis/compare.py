"""Compare runs: one row of KPIs per named result, with differences to the first.

>>> import seqsim
>>> runs = {"4 devices": res4, "2 devices": res2}         # doctest: +SKIP
>>> seqsim.compare(runs)                                   # doctest: +SKIP

The frame returned by :func:`compare` is indexed by result name (the first is
the reference) and has, for every KPI, two columns side by side: ``<kpi>``
(the run's value, units as in :data:`seqsim.results.result.SUMMARY_KEYS`: seconds for
``lateness_*_s``, hours for ``*_hours``) and ``<kpi>_diff`` (that value minus
the first run's; 0 on the first row, NaN where either value is missing).
``frame.filter(regex="^lateness_p95")`` picks one KPI and its diff;
``seqsim.compare(runs, diffs=False)`` gives the values alone.
:func:`readable` turns the frame into the table people read: KPIs as rows,
one column per result, durations in s / min / h / d, diffs in brackets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from seqsim.analysis.durations import DAY_S, HOUR_S
from seqsim.analysis.named import load_named
from seqsim.analysis.steps import step_comparison
from seqsim.analysis.text import format_value, text_table
from seqsim.errors import SeqsimError
from seqsim.results.result import SUMMARY_FLAGS, SUMMARY_KEYS, Result

__all__ = ["EXTRA_KPIS", "KPI_LABELS", "compare", "format_comparison", "format_differences",
           "kpi_columns", "readable", "scenario_differences"]

#: KPIs computed here from ``sends`` on top of the summary's.
EXTRA_KPIS: tuple[str, ...] = ("peak_sends_per_hour", "peak_sends_per_day")

#: How each KPI reads in a table: (label, unit) with unit ``"s"`` (a duration
#: given in seconds), ``"h"`` (a duration given in hours) or ``""`` (a count).
KPI_LABELS: dict[str, tuple[str, str]] = {
    "contacts_enrolled": ("contacts enrolled", ""),
    "contacts_completed": ("contacts completed", ""),
    "contacts_active": ("contacts still active", ""),
    "contacts_failed": ("contacts failed", ""),
    "messages_sent": ("messages sent", ""),
    "messages_failed": ("send attempts failed", ""),
    "peak_sends_per_hour": ("peak sends per hour", ""),
    "peak_sends_per_day": ("peak sends per day", ""),
    "peak_backlog": ("peak backlog (rows due, waiting)", ""),
    "queued_at_peak_backlog": ("queued on devices at the peak backlog", ""),
    "lateness_p50_s": ("lateness p50 (sent only)", "s"),
    "lateness_p95_s": ("lateness p95 (sent only)", "s"),
    "lateness_p99_s": ("lateness p99 (sent only)", "s"),
    "lateness_max_s": ("lateness max (sent only)", "s"),
    "unsent_due_at_end": ("due but unsent at the end", ""),
    "unsent_waiting_at_end": ("  of which waiting to be picked", ""),
    "unsent_queued_at_end": ("  of which queued on devices", ""),
    "unsent_wait_lower_bound_s_p50": ("  unsent rows' wait so far p50 (lower bound)", "s"),
    "unsent_wait_lower_bound_s_max": ("  unsent rows' wait so far max (lower bound)", "s"),
    "mean_completion_hours": ("mean completion time", "h"),
    "designed_completion_hours": ("designed completion time", "h"),
    "last_contact_finished_hours": ("last contact finished, after start", "h"),
    "duplicate_sends": ("duplicate sends", ""),
    "lost_contacts": ("lost contacts", ""),
    "max_active_rows_per_contact": ("max active rows per contact", ""),
    "max_messages_per_contact_per_hour": ("max messages to one contact in an hour", ""),
    "early_sends": ("early sends (before previous step + delay)", ""),
    "drift_hours_p50": ("drift from designed schedule p50", "h"),
    "drift_hours_p95": ("drift from designed schedule p95", "h"),
    "drift_hours_max": ("drift from designed schedule max", "h"),
    "skipped_steps": ("steps skipped after an outage", ""),
    "stuck_contacts": ("contacts with a stuck claim", ""),
    "late_by_claim_release_s": ("lateness after a claim release, max", "s"),
}

def _peak_sends(result: Result, seconds: float) -> int:
    sent = result.sends.loc[result.sends["outcome"] == "sent", "sent_at"]
    if sent.empty:
        return 0
    start = pd.Timestamp(result.scenario.simulation.start)
    bins = np.floor((pd.to_datetime(sent) - start) / pd.Timedelta(seconds=seconds))
    return int(bins.value_counts().max())


def kpi_columns(summaries: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """Return the KPI names a comparison shows, in order.

    The summary's :data:`~seqsim.results.result.SUMMARY_KEYS`, then :data:`EXTRA_KPIS`,
    then any other numeric key found in ``summaries`` (KPIs added later).
    """
    columns = [*(k for k in SUMMARY_KEYS if k not in SUMMARY_FLAGS), *EXTRA_KPIS]
    for summary in summaries:
        for key, value in summary.items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if key not in columns and numeric and key not in SUMMARY_FLAGS:
                columns.append(key)
    return columns


def compare(
    results: Mapping[str, Result | str | os.PathLike[str]]
    | Sequence[Result | str | os.PathLike[str]],
    *,
    diffs: bool = True,
    by: str = "run",
) -> pd.DataFrame:
    """Return one row of KPIs per result (or per result and step), with differences
    to the first.

    Args:
        results: a dict of name -> Result (or a saved result directory), or a
            list of them (named ``run 1``, ``run 2``... or by directory name).
            The first is the reference the differences are taken against.
        diffs: add a ``<kpi>_diff`` column after each ``<kpi>``.
        by: ``"run"`` (one row per result) or ``"step"``: every run's
            :attr:`Result.steps`, indexed by (``result``, ``sequence``,
            ``day_number``), see :func:`seqsim.analysis.steps.step_comparison`.

    Returns:
        A DataFrame indexed by result name (index name ``result``). Columns:
        each KPI of :func:`kpi_columns` (the summary's keys plus
        ``peak_sends_per_hour`` and ``peak_sends_per_day``), each followed by
        ``<kpi>_diff`` = value - first row's value when ``diffs``.

    Raises:
        SeqsimError: ``results`` is empty or holds something that is neither a
            Result nor a result directory, or ``by`` is neither ``"run"`` nor ``"step"``.
    """
    if by not in ("run", "step"):
        raise SeqsimError(f"by: {by!r} is not valid; expected 'run' or 'step'")
    if by == "step":
        frame = step_comparison(results)
        return frame if diffs else frame.drop(columns=[c for c in frame.columns
                                                       if str(c).endswith("_diff")])
    named = load_named(results)
    summaries = [r.summary for r in named.values()]
    columns = kpi_columns(summaries)
    rows = []
    for result in named.values():
        row: dict[str, Any] = {k: result.summary.get(k) for k in columns}
        row["peak_sends_per_hour"] = _peak_sends(result, HOUR_S)
        row["peak_sends_per_day"] = _peak_sends(result, DAY_S)
        rows.append(row)
    frame = pd.DataFrame(rows, index=pd.Index(list(named), name="result"), columns=columns)
    frame = frame.apply(pd.to_numeric)
    if not diffs:
        return frame
    out: dict[str, pd.Series] = {}
    for column in columns:
        values = frame[column]
        out[column] = values
        if pd.api.types.is_integer_dtype(values):
            out[f"{column}_diff"] = values - values.iloc[0]
        else:
            out[f"{column}_diff"] = values.astype(float) - float(values.iloc[0])
    return pd.DataFrame(out, index=frame.index)


# --------------------------------------------------------------------------- reading


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a :func:`compare` frame as text: KPIs as rows, one column per result.

    Rows follow :data:`KPI_LABELS` (KPIs it lacks come last). Values read with
    units (durations in s / min / h / d); from the second
    result on, the difference to the first follows in brackets when it is not
    zero, e.g. ``2.5 h (+1.9 h)``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise SeqsimError(
            f"frame: {type(frame).__name__} is not valid; expected the DataFrame of seqsim.compare"
        )
    kpis = [c for c in frame.columns if not str(c).endswith("_diff")]
    # Rows in the order of KPI_LABELS (a detail line under its KPI), others after.
    order = {k: i for i, k in enumerate(KPI_LABELS)}
    kpis.sort(key=lambda k: order.get(k, len(order)))
    table: dict[str, list[str]] = {}
    for position, name in enumerate(frame.index):
        cells = []
        for kpi in kpis:
            unit = KPI_LABELS.get(kpi, (kpi, ""))[1]
            cell = format_value(frame.at[name, kpi], unit)
            diff_column = f"{kpi}_diff"
            if position and diff_column in frame.columns:
                diff = frame.at[name, diff_column]
                if pd.notna(diff) and diff != 0:
                    cell += f" ({format_value(diff, unit, signed=True)})"
            cells.append(cell)
        table[str(name)] = cells
    labels = [KPI_LABELS.get(k, (k, ""))[0] for k in kpis]
    return pd.DataFrame(table, index=pd.Index(labels, name="KPI"))


def format_comparison(frame: pd.DataFrame) -> str:
    """Return :func:`readable` as an aligned plain-text table."""
    table = readable(frame)
    rows = [[label, *cells]
            for label, cells in zip(table.index, table.to_numpy().tolist(), strict=True)]
    return text_table(["KPI", *map(str, table.columns)], rows)


# --------------------------------------------------------------------------- scenarios


def _key_texts(scenario: Any) -> dict[str, str]:
    """Return a scenario as {dotted key: value text}, keys as ``with_overrides`` takes them."""
    flat: dict[str, str] = {}
    for top, value in scenario.to_dict().items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                prefix = f"{top}.{item['name']}" if top == "sequences" else f"{top}.{i}"
                for key, v in item.items():
                    flat[f"{prefix}.{key}"] = str(v)
        else:
            for key, v in value.items():
                flat[f"{top}.{key}"] = str(v)
    return flat


def scenario_differences(
    results: Mapping[str, Result | str | os.PathLike[str]]
    | Sequence[Result | str | os.PathLike[str]],
) -> pd.DataFrame:
    """Return the scenario keys whose values differ between the runs.

    One row per dotted key (e.g. ``capacity.devices``, ``sequences.COLD.days``,
    ``workload.0.rate_per_hour``), one column per run, values as text (``-``
    where a run lacks the key). Empty when every run had the same scenario.
    """
    named = load_named(results)
    flats = {name: _key_texts(r.scenario) for name, r in named.items()}
    keys = list(dict.fromkeys(k for flat in flats.values() for k in flat))
    differing = [k for k in keys if len({flat.get(k, "-") for flat in flats.values()}) > 1]
    return pd.DataFrame(
        {name: [flat.get(k, "-") for k in differing] for name, flat in flats.items()},
        index=pd.Index(differing, name="scenario key"),
    )


def format_differences(frame: pd.DataFrame) -> str:
    """Return :func:`scenario_differences` as aligned text (a note when nothing differs)."""
    if frame.empty:
        return "scenarios: identical"
    return text_table(["scenario key", *map(str, frame.columns)],
                       [[k, *v] for k, v in zip(frame.index, frame.to_numpy().tolist(),
                                                strict=True)])
