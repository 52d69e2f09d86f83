"""Why messages were late: each step's mean lateness stacked by cause."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from seqsim.analysis.durations import DAY_S, HOUR_S, MINUTE_S, human_duration
from seqsim.analysis.named import named_results
from seqsim.plot.data import run_steps
from seqsim.plot.figure import (
    Results,
    bottom_xlabel_only,
    check_ax,
    figure_for,
    legend_outside,
    no_data,
    panel_title,
)
from seqsim.results.result import Result

__all__ = ["CAUSE_LABELS", "lateness_causes"]

#: Each ``wait_*_s`` column's legend label, in stacking order (largest usual
#: causes of a production backlog first).
CAUSE_LABELS: dict[str, str] = {
    "wait_device_s": "device limits (hourly, daily, in flight)",
    "wait_window_s": "send window closed",
    "wait_batch_s": "batch limit",
    "wait_outage_s": "outage",
    "wait_pacing_s": "pacing (device queue)",
    "wait_poll_s": "waiting for the poll",
    "wait_retry_s": "retries after failures",
    "wait_claim_s": "claim held by a dead worker",
    "wait_previous_s": "previous step finished after this one was due",
    "wait_clock_s": "database clock offset",
}
#: The x axis unit: the largest the longest bar is at least two of.
_UNITS = ((DAY_S, "days"), (HOUR_S, "hours"), (MINUTE_S, "minutes"), (1.0, "seconds"))
_COLORS = dict(zip(CAUSE_LABELS, ("#d62728", "#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c",
                                  "#bcbd22", "#9467bd", "#8c564b", "#e377c2", "#17becf"),
                   strict=True))


def lateness_causes(results: Results, ax: Axes | None = None) -> Figure:
    """Each step's mean lateness per sent message, as horizontal bars stacked by cause
    (the ``wait_*_s`` columns of :attr:`Result.steps`, which add up to it).

    Only the causes that occurred are drawn; a database clock ahead of the
    application's (``[faults] db_clock_offset``) is a bar left of zero.

    Args:
        results: a Result, or a dict of named Results (one panel each, shared axes).
        ax: draw into this Axes (single Result only).
    """
    named = named_results(results)
    check_ax(ax, named, one_panel=False)
    fig, axes = figure_for(named, ax, sharex=True, sharey=False)
    upper = max((_means(r).clip(min=0).sum(axis=1).max(initial=0.0) for r in named.values()),
                default=0.0)
    size, unit = next(((s, u) for s, u in _UNITS if upper >= 2 * s), _UNITS[-1])
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        _draw_causes(axis, result, size, unit)
        panel_title(axis, "Why messages were late (mean per sent message)", name)
        legend_outside(axis, title="cause")
    axes[-1].set_xlim(right=max(upper / size, 1.0) * 1.15)  # room for the totals
    bottom_xlabel_only(axes)
    return fig


def _means(result: Result) -> np.ndarray:
    """Return the steps x causes means (seconds, 0 where unknown), causes in label order."""
    steps = result.steps
    return steps[list(CAUSE_LABELS)].astype(float).fillna(0.0).to_numpy()


def _draw_causes(ax: Axes, result: Result, size: float, unit: str) -> None:
    means = _means(result) / size
    labels = [step.label for step in run_steps(result)]
    y = np.arange(len(labels))[::-1]  # the first step on top
    left = np.zeros(len(labels))
    for j, column in enumerate(CAUSE_LABELS):
        width = means[:, j]
        if not np.any(width):
            continue
        start = np.where(width < 0, 0.0, left)
        ax.barh(y, width, left=start, height=0.6, color=_COLORS[column],
                label=CAUSE_LABELS[column])
        left = left + np.clip(width, 0, None)
    for i, total in enumerate(_means(result).sum(axis=1)):
        # The total at each bar's end: short waits are invisible beside long ones.
        ax.annotate(human_duration(total), (left[i], y[i]),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=9,
                    color="0.25")
    ax.set_yticks(y, labels)
    ax.set_ylabel("step")
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel(f"mean lateness of the step's sent messages, by cause ({unit})")
    ax.grid(axis="x", alpha=0.3)
    if not means.any():
        no_data(ax, "late messages")
