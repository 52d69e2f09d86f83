"""Several runs on the same axes, one panel per metric: :func:`comparison`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from seqsim.analysis.durations import DAY_S, HOUR_S, human_duration
from seqsim.analysis.named import named_results
from seqsim.errors import SeqsimError
from seqsim.plot.charts import draw_backlog
from seqsim.plot.data import completion_frame, completion_unit, run_linestyle, sent_messages
from seqsim.plot.figure import (
    choice,
    lateness_scale,
    lateness_xlim,
    legend_outside,
    new_figure,
    p95_line,
)
from seqsim.plot.time_axis import TimeAxis, hourly, since_start, step_with_edge
from seqsim.results.result import Result
from seqsim.validation import quoted

__all__ = ["COMPARISON_METRICS", "comparison"]

#: Metrics :func:`comparison` can draw, one panel each.
COMPARISON_METRICS: tuple[str, ...] = ("backlog", "sends", "active", "lateness", "completion")
_DEFAULT_METRICS: tuple[str, ...] = ("backlog", "sends", "lateness", "completion")


def comparison(
    results: Mapping[str, Result],
    metrics: str | Sequence[str] = _DEFAULT_METRICS,
    *,
    freq: str = "1h",
    tz: str | None = None,
) -> Figure:
    """Several results on the same axes, one panel per metric.

    Metrics (:data:`COMPARISON_METRICS`): ``"backlog"`` (rows due and not sent,
    hourly peak), ``"sends"`` (messages sent per ``freq``), ``"active"``
    (active rows at each hour's end), ``"lateness"`` (cumulative share of
    messages by lateness, all steps) and ``"completion"`` (cumulative share of
    contacts by completion time, with each design as a dashed line).

    Args:
        results: a dict of named Results (a single Result also works).
        metrics: one metric name or several, drawn top to bottom.
        freq: bin of the ``"sends"`` panel: ``"1h"`` (default), ``"1D"`` or any
            pandas offset of whole hours or days.
        tz: show times as dates in this IANA zone; default: days (or hours)
            since the start.

    Runs are told apart by colour and line style.
    """
    named = named_results(results)
    chosen = [metrics] if isinstance(metrics, str) else list(metrics) \
        if isinstance(metrics, Sequence) else None
    if not chosen:
        raise SeqsimError(
            f"metrics: {metrics!r} is not valid; expected one or more of "
            f"{quoted(COMPARISON_METRICS)}"
        )
    for metric in chosen:
        choice("metrics", metric, COMPARISON_METRICS)
    bin_s = _freq_seconds(freq)
    fig, axes = new_figure(len(chosen), sharex=False, sharey=False)
    time = TimeAxis.for_runs(named, tz)
    for axis, metric in zip(axes, chosen, strict=True):
        if metric == "backlog":
            draw_backlog(axis, named, time)
            axis.set_title("Backlog (rows due but not yet sent)")
        elif metric == "sends":
            _draw_sends_lines(axis, named, time, bin_s, freq)
        elif metric == "active":
            _draw_active_lines(axis, named, time)
        elif metric == "lateness":
            _draw_lateness_compare(axis, named)
        else:
            _draw_completion_compare(axis, named)
        legend_outside(axis)
    return fig


def _freq_seconds(freq: Any) -> float:
    expected = "a pandas offset of whole hours or days such as '1h', '6h' or '1D'"
    try:
        seconds = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    except (TypeError, ValueError):
        raise SeqsimError(f"freq: {freq!r} is not valid; expected {expected}") from None
    if seconds < HOUR_S or seconds % HOUR_S:
        raise SeqsimError(f"freq: {freq!r} is not valid; expected {expected}")
    return seconds


def _bin_name(bin_s: float) -> str:
    if bin_s == HOUR_S:
        return "hour"
    if bin_s == DAY_S:
        return "day"
    return human_duration(bin_s)


def _draw_sends_lines(ax: Axes, named: Mapping[str, Result], time: TimeAxis, bin_s: float,
                      freq: str) -> None:
    span = 0.0
    for i, (name, result) in enumerate(named.items()):
        n = max(1, math.ceil(result.scenario.simulation.duration.total_seconds() / bin_s))
        sent = sent_messages(result)
        idx = np.clip(np.floor(since_start(result, sent["sent_at"]) / bin_s).astype(int),
                      0, n - 1)
        counts = np.bincount(idx, minlength=n).astype(float)
        x, y = step_with_edge(np.arange(n) * bin_s / time.seconds, counts, bin_s / time.seconds)
        ax.step(x, y, where="post", label=name, linewidth=1.4, alpha=0.85,
                linestyle=run_linestyle(i))
        span = max(span, x[-1])
    per = _bin_name(bin_s)
    ax.set_title(f"Messages sent per {per}")
    ax.set_ylabel(f"messages per {per}")
    ax.set_xlabel(time.label(named))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    time.style(ax, span)


def _draw_active_lines(ax: Axes, named: Mapping[str, Result], time: TimeAxis) -> None:
    span = 0.0
    for i, (name, result) in enumerate(named.items()):
        x, y = hourly(result, "active", "last")
        x, y = step_with_edge(x / time.seconds, y, HOUR_S / time.seconds)
        ax.step(x, y, where="post", label=name, linewidth=1.4, linestyle=run_linestyle(i))
        span = max(span, x[-1])
    ax.set_title("Active rows (contacts in a sequence), at each hour's end")
    ax.set_ylabel("active rows")
    ax.set_xlabel(time.label(named))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    time.style(ax, span)


def _draw_lateness_compare(ax: Axes, named: Mapping[str, Result]) -> None:
    upper = 0.0
    for i, (name, result) in enumerate(named.items()):
        values = sent_messages(result)["lateness_s"].to_numpy()
        if values.size:
            upper = max(upper, float(values.max()))
            p95 = float(np.quantile(values, 0.95))
            ax.ecdf(values, linewidth=1.8, label=f"{name} (p95 {human_duration(p95)})",
                    linestyle=run_linestyle(i))
    p95_line(ax)
    ax.set_title("Lateness of sent messages, all steps")
    ax.set_xlabel(lateness_scale(ax, "x", upper))
    ax.set_ylabel("share of messages sent\nwithin this lateness")
    ax.set_ylim(0, 1.02)
    lateness_xlim(ax, upper)
    ax.grid(alpha=0.3)


def _draw_completion_compare(ax: Axes, named: Mapping[str, Result]) -> None:
    per_unit, unit = completion_unit(named)
    designs: set[float] = set()
    for i, (name, result) in enumerate(named.items()):
        frame = completion_frame(result)
        several = frame["sequence"].nunique() > 1
        for sequence, mine in frame.groupby("sequence", sort=False):
            designs.add(float(mine["designed_hours"].iloc[0]) / per_unit)
            done = mine["hours"].dropna() / per_unit
            if done.empty:
                continue
            # Share of all enrolled contacts: unfinished ones keep the line below 1.
            label = f"{name} {sequence}" if several else name
            label += f" ({len(done) / len(mine):.0%} finished)"
            x = np.sort(done.to_numpy())
            y = np.arange(1, len(x) + 1) / len(mine)
            ax.step(np.r_[x[0], x], np.r_[0.0, y], where="post", linewidth=1.8, label=label,
                    linestyle=run_linestyle(i))
    for design in sorted(designs):
        ax.axvline(design, color="0.3", linestyle=(0, (1, 3)), linewidth=1.2,
                   label=f"designed: {design:.3g} {unit}")
    ax.set_title("Completion time: entry to last step")
    ax.set_xlabel(f"completion time ({unit})")
    ax.set_ylabel("share of enrolled contacts\nfinished within this time")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
