"""A sweep's means with their confidence intervals: `sweep_intervals` (``seqsim.plot.sweep``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from seqsim.analysis.durations import human_duration
from seqsim.analysis.grid import point_label
from seqsim.analysis.summarize import grid_keys, summarize
from seqsim.errors import SeqsimError
from seqsim.plot.figure import choice, legend_outside, new_figure

__all__ = ["sweep_intervals"]


def _summary_rows(data: Any, metric: str, confidence: float) -> pd.DataFrame:
    """Return the summary rows of ``metric``: from a sweep frame or a summarize table."""
    if not isinstance(data, pd.DataFrame):
        raise SeqsimError(f"data: {type(data).__name__} is not valid; expected a frame from "
                          "seqsim.sweep or a table from seqsim.summarize")
    if "metric" in data.columns and "ci_low" in data.columns:
        rows = data[data["metric"] == metric]
        if rows.empty:
            choice("metric", metric, list(dict.fromkeys(data["metric"])))
        rows.attrs = dict(data.attrs)
        return rows
    return summarize(data, [metric], confidence=confidence)


def _value_label(value: Any) -> str:
    return point_label([("", value)])[1:]


def sweep_intervals(data: pd.DataFrame, metric: str, *, x: str | None = None,
                    confidence: float = 0.95, ax: Axes | None = None) -> Figure:
    """Draw the mean of ``metric`` at each grid point with its t-interval as a bar.

    Args:
        data: a :func:`seqsim.sweep` frame (summarized here) or a
            :func:`seqsim.summarize` table that has ``metric``.
        metric: the KPI, e.g. ``"lateness_p95_s"`` (``*_s`` metrics read as
            durations).
        x: the grid key along the x axis (default: the first); every
            combination of the other keys is one series.
        confidence: of the intervals when ``data`` is a sweep frame.
        ax: draw into these axes instead of a new figure.

    Returns:
        The Figure.

    Raises:
        SeqsimError: not a sweep frame or summary, or an unknown metric or x.
    """
    table = _summary_rows(data, metric, confidence)
    keys = table.attrs.get("grid") or grid_keys(table.drop(columns=["metric"], errors="ignore"))
    if not keys:
        raise SeqsimError("data: has no grid keys; expected a frame from seqsim.sweep")
    x = keys[0] if x is None else choice("x", x, keys)
    others = [k for k in keys if k != x]
    levels = list(dict.fromkeys(table[x]))
    fig, axes = (ax.figure, [ax]) if ax is not None else new_figure(1)
    groups = (table.groupby(others, sort=False, dropna=False) if others
              else [((), table)])
    series = list(groups)
    width = 0.6 / max(1, len(series))
    for i, (name, part) in enumerate(series):
        name = name if isinstance(name, tuple) else (name,)
        pos = np.array([levels.index(v) for v in part[x]]) + (i - (len(series) - 1) / 2) * width
        mean = part["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - part["ci_low"].to_numpy(dtype=float),
                         part["ci_high"].to_numpy(dtype=float) - mean])
        label = point_label(list(zip(others, name, strict=True))) or None
        axes[0].errorbar(pos, mean, yerr=err, fmt="o-", capsize=4, label=label)
    axes[0].set_xticks(range(len(levels)), [_value_label(v) for v in levels])
    axes[0].set_xlabel(x)
    axes[0].set_ylabel(f"{metric}: mean, {round(confidence * 100)}% interval")
    if metric.endswith("_s"):
        axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _p: human_duration(v)))
    if others:
        legend_outside(axes[0])
    return fig
