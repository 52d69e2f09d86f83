"""The charts of a run: backlog, sends, active contacts, lateness, completion, devices.

Each takes a Result or a dict of named Results. :func:`backlog` draws one
line per result on the same axes; the others draw one panel per result, with
shared axes so they read side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from seqsim.analysis.durations import HOUR_S, human_duration
from seqsim.analysis.named import named_results
from seqsim.plot.data import (
    completion_frame,
    completion_unit,
    run_linestyle,
    run_steps,
    sent_messages,
    step_colors,
)
from seqsim.plot.figure import (
    Results,
    bottom_xlabel_only,
    check_ax,
    choice,
    figure_for,
    lateness_scale,
    lateness_xlim,
    legend_outside,
    new_figure,
    no_data,
    p95_line,
    panel_title,
)
from seqsim.plot.time_axis import TimeAxis, hourly, n_hours, since_start, step_with_edge
from seqsim.results.result import Result

__all__ = [
    "active_by_step",
    "backlog",
    "completion_times",
    "device_utilisation",
    "draw_backlog",
    "lateness_by_step",
    "sends_per_hour",
]

_LATENESS_KINDS: tuple[str, ...] = ("ecdf", "box")


def backlog(results: Results, ax: Axes | None = None, *, tz: str | None = None) -> Figure:
    """Backlog over time: rows due and not yet sent, the peak of each hour.

    Args:
        results: a Result, or a dict of named Results drawn as one line each
            (told apart by colour and line style).
        ax: draw into this Axes instead of a new figure.
        tz: show times as dates in this IANA zone (e.g. ``"Asia/Kuala_Lumpur"``);
            default: days (or hours) since the start.

    Raises:
        SeqsimError: bad ``results``, ``ax`` or ``tz``.
    """
    named = named_results(results)
    check_ax(ax, named, one_panel=True)
    fig, (axis,) = (ax.figure, [ax]) if ax is not None else new_figure(1)
    time = TimeAxis.for_runs(named, tz)
    draw_backlog(axis, named, time)
    axis.set_title("Backlog over time (rows due but not yet sent)")
    if len(named) > 1:
        legend_outside(axis)
    return fig


def draw_backlog(ax: Axes, named: Mapping[str, Result], time: TimeAxis) -> None:
    """Draw each run's hourly backlog peak as one line on ``ax`` (shared with comparison)."""
    span = peak = 0.0
    for i, (name, result) in enumerate(named.items()):
        x, y = hourly(result, "backlog", "max")
        x, y = step_with_edge(x / time.seconds, y, HOUR_S / time.seconds)
        ax.step(x, y, where="post", label=name or "backlog", linewidth=1.6,
                linestyle=run_linestyle(i))
        span, peak = max(span, x[-1]), max(peak, float(y.max()))
    ax.set_ylabel("rows due, not sent\n(peak per hour)")
    ax.set_xlabel(time.label(named))
    ax.set_ylim(0, max(peak * 1.05, 10.0))
    if peak == 0:
        ax.text(0.5, 0.5, "no backlog: no due row was left waiting after a poll",
                transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    time.style(ax, span)


def sends_per_hour(results: Results, ax: Axes | None = None, *,
                   tz: str | None = None) -> Figure:
    """Messages sent per hour, stacked by step (failed attempts on top, in grey).

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
        tz: show times as dates in this IANA zone (e.g. ``"Asia/Kuala_Lumpur"``);
            default: days (or hours) since the start.
    """
    return _timed_panels(results, ax, _draw_sends_stacked, "Messages sent per hour, by step",
                         tz=tz)


def _timed_panels(
    results: Results, ax: Axes | None, draw: Any, title: str, *, tz: str | None,
    **legend: Any
) -> Figure:
    """One panel per run on a shared time axis: ``draw(axis, result, time)`` each."""
    named = named_results(results)
    check_ax(ax, named, one_panel=False)
    fig, axes = figure_for(named, ax)
    time = TimeAxis.for_runs(named, tz)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        draw(axis, result, time)
        panel_title(axis, title, name)
        axis.set_xlabel(time.label(named))
        legend_outside(axis, title="step", **legend)
    bottom_xlabel_only(axes)
    return fig


def _draw_sends_stacked(ax: Axes, result: Result, time: TimeAxis) -> None:
    n = n_hours(result)
    width = HOUR_S / time.seconds
    edges = np.arange(n + 1) * width
    sends = result.sends
    hour = np.floor(since_start(result, sends["sent_at"]) / HOUR_S).astype(int)
    hour = np.clip(hour, 0, n - 1)
    bottom = np.zeros(n)
    steps = run_steps(result)
    sent = (sends["outcome"] == "sent").to_numpy()
    for step, color in zip(steps, step_colors(steps), strict=True):
        mine = sent & (sends["sequence"] == step.sequence).to_numpy() \
            & (sends["day_number"] == step.day_number).to_numpy()
        counts = np.bincount(hour[mine], minlength=n).astype(float)
        _layer(ax, bottom, counts, edges, color=color, label=step.label)
        bottom += counts
    failed = ~sent
    if failed.any():
        counts = np.bincount(hour[failed], minlength=n).astype(float)
        _layer(ax, bottom, counts, edges, color="0.6", label="failed attempts")
    ax.set_ylabel("messages per hour")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_axisbelow(True)  # grid lines under the stack, not across it
    ax.grid(axis="y", alpha=0.3)
    time.style(ax, n * width)
    if sends.empty:
        no_data(ax, "sends")


def _layer(ax: Axes, bottom: np.ndarray, counts: np.ndarray, edges: np.ndarray,
           **style: Any) -> None:
    """Draw one stacked layer as a filled step patch (one patch, not one bar per hour)."""
    ax.stairs(bottom + counts, edges, baseline=bottom.copy(), fill=True, linewidth=0, **style)


def active_by_step(results: Results, ax: Axes | None = None, *,
                   tz: str | None = None) -> Figure:
    """Contacts with an active row at each step over time (stacked area).

    A row is active from its creation until its step completes or fails, so
    this shows where contacts are waiting (for their delay or for capacity),
    sampled at each hour.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
        tz: show times as dates in this IANA zone (e.g. ``"Asia/Kuala_Lumpur"``);
            default: days (or hours) since the start.
    """
    return _timed_panels(results, ax, _draw_active, "Active contacts by step", tz=tz,
                         reverse=True)


def _active_counts(result: Result, step_id: int, instants: np.ndarray) -> np.ndarray:
    contacts = result.contacts
    rows = contacts[contacts["sequence_stepid"] == step_id]
    starts = np.sort(since_start(result, rows["created_at"]))
    end = rows["completed_at"].fillna(rows["failed_at"])
    ends = since_start(result, end)
    ends = np.sort(ends[~np.isnan(ends)])
    started = np.searchsorted(starts, instants, side="right")
    ended = np.searchsorted(ends, instants, side="right")
    return (started - ended).astype(float)


def _draw_active(ax: Axes, result: Result, time: TimeAxis) -> None:
    n = n_hours(result)
    instants = np.arange(n + 1) * HOUR_S
    steps = run_steps(result)
    layers = [_active_counts(result, s.step_id, instants) for s in steps]
    ax.stackplot(instants / time.seconds, *layers, labels=[s.label for s in steps],
                 colors=step_colors(steps), linewidth=0)
    ax.set_ylabel("contacts (active rows)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_axisbelow(True)
    ax.grid(alpha=0.3)
    time.style(ax, n * HOUR_S / time.seconds)
    if result.contacts.empty:
        no_data(ax, "contacts")


def lateness_by_step(results: Results, ax: Axes | None = None, *, kind: str = "ecdf") -> Figure:
    """How late each step's messages went out (sent_at - due_at), per step.

    ``kind="ecdf"`` draws the cumulative share of messages sent within a given
    lateness, one line per step (legend: the step's p95); ``kind="box"`` draws a
    box per step (whiskers at p5 and p95, outliers not drawn). Lateness beyond
    two minutes uses a log scale labelled s / min / h / d, with 0 (on time) kept.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
        kind: ``"ecdf"`` or ``"box"``.
    """
    kind = choice("kind", kind, _LATENESS_KINDS)
    named = named_results(results)
    check_ax(ax, named, one_panel=False)
    fig, axes = figure_for(named, ax, sharex=kind == "ecdf", sharey=kind == "box")
    upper = max((float(sent_messages(r)["lateness_s"].max()) for r in named.values()
                 if not sent_messages(r).empty), default=0.0)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        if kind == "ecdf":
            _draw_lateness_ecdf(axis, result, upper)
            legend_outside(axis, title="step (p95)")
        else:
            _draw_lateness_box(axis, result, upper)
        panel_title(axis, "Lateness by step", name)
    if kind == "ecdf":
        bottom_xlabel_only(axes)
    return fig




def _draw_lateness_ecdf(ax: Axes, result: Result, upper_s: float) -> None:
    sent = sent_messages(result)
    steps = run_steps(result)
    for step, color in zip(steps, step_colors(steps), strict=True):
        values = sent.loc[(sent["sequence"] == step.sequence)
                          & (sent["day_number"] == step.day_number), "lateness_s"]
        if values.empty:
            continue
        p95 = float(np.quantile(values.to_numpy(), 0.95))
        ax.ecdf(values.to_numpy(), color=color, linewidth=1.8,
                label=f"{step.label} ({human_duration(p95)})")
    p95_line(ax)
    ax.set_xlabel(lateness_scale(ax, "x", upper_s))
    ax.set_ylabel("share of messages sent\nwithin this lateness")
    ax.set_ylim(0, 1.02)
    lateness_xlim(ax, upper_s)
    ax.grid(alpha=0.3)
    if sent.empty:
        no_data(ax, "sent messages")






def _draw_lateness_box(ax: Axes, result: Result, upper_s: float) -> None:
    sent = sent_messages(result)
    steps = run_steps(result)
    data, labels = [], []
    for step in steps:
        values = sent.loc[(sent["sequence"] == step.sequence)
                          & (sent["day_number"] == step.day_number), "lateness_s"]
        data.append(values.to_numpy() if not values.empty else np.array([np.nan]))
        labels.append(step.label)
    boxes = ax.boxplot(data, tick_labels=labels, whis=(5, 95), showfliers=False,
                       patch_artist=True, medianprops={"color": "black"})
    for patch, color in zip(boxes["boxes"], step_colors(steps), strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.8)
    ax.set_ylabel(lateness_scale(ax, "y", upper_s))
    ax.set_xlabel("step (box: p25-p75, line: median, whiskers: p5-p95)")
    ax.grid(axis="y", alpha=0.3)
    if sent.empty:
        no_data(ax, "sent messages")


def completion_times(results: Results, ax: Axes | None = None) -> Figure:
    """How long contacts took from entry to the last step, against the design.

    A histogram per sequence of the contacts that finished it, with the
    designed duration (the sum of the sequence's step delays) as a dashed line.
    Contacts still in the sequence when the run ended are counted in the legend.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
    """
    named = named_results(results)
    check_ax(ax, named, one_panel=False)
    fig, axes = figure_for(named, ax, sharey=False)
    per_unit, unit = completion_unit(named)
    frames = {name: completion_frame(r) for name, r in named.items()}
    both = pd.concat(list(frames.values()))
    values = pd.concat([both["hours"].dropna(), both["designed_hours"]]) / per_unit
    lo, hi = (float(values.min()), float(values.max())) if not values.empty else (0.0, 1.0)
    pad = max((hi - lo) * 0.03, 0.05 * max(hi, 1e-9), 1 / per_unit)
    bins = np.linspace(max(0.0, lo - pad), hi + pad, 41)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        _draw_completion_hist(axis, result, frames[name], bins, per_unit, unit)
        panel_title(axis, "Completion time: entry to last step", name)
        legend_outside(axis)
    bottom_xlabel_only(axes)
    return fig


def _draw_completion_hist(ax: Axes, result: Result, frame: pd.DataFrame, bins: np.ndarray,
                          per_unit: float, unit: str) -> None:
    cmap = colormaps["tab10"]
    sequences = [s.name for s in result.scenario.sequences]
    for i, sequence in enumerate(sequences):
        mine = frame[frame["sequence"] == sequence]
        if mine.empty:
            continue
        done = mine["hours"].dropna() / per_unit
        unfinished = int(mine["hours"].isna().sum())
        designed = float(mine["designed_hours"].iloc[0]) / per_unit
        color = cmap(i % 10)
        label = f"{sequence}: {len(done):,} finished"
        if len(done):
            label += f", mean {done.mean():.1f} {unit}"
        if unfinished:
            label += f"\n({unfinished:,} not finished at run end)"
        ax.hist(done.to_numpy(), bins=bins, color=color, alpha=0.75, label=label)
        ax.axvline(designed, color=color, linestyle="--", linewidth=1.5,
                   label=f"{sequence} designed: {designed:.1f} {unit}")
    ax.set_xlabel(f"completion time ({unit})")
    ax.set_ylabel("contacts")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    if frame.empty:
        no_data(ax, "enrolled contacts")


def device_utilisation(results: Results, ax: Axes | None = None, *,
                       tz: str | None = None) -> Figure:
    """Heatmap of messages sent per device per hour, the colour scale topped at the
    binding limit's hourly rate: the hourly limit, or the daily limit spread over 24
    hours when that is lower (a fleet pinned at its daily cap then reads as full, not
    as a third used); hours above it (a burst the hourly limit allows) show as full.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
        tz: show times as dates in this IANA zone (e.g. ``"Asia/Kuala_Lumpur"``);
            default: days (or hours) since the start.
    """
    named = named_results(results)
    check_ax(ax, named, one_panel=False)
    time = TimeAxis.for_runs(named, tz)
    height = None
    if ax is None:
        rows = sum(max(1, r.scenario.capacity.devices) for r in named.values())
        height = min(4.0 + 0.12 * rows + 1.2 * (len(named) - 1), 4.0 * len(named) + 4)
    fig, axes = (ax.figure, [ax]) if ax is not None else new_figure(
        len(named), sharey=False, height=height)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        rate, which = binding_rate(result)
        image = _draw_devices(axis, result, time, rate)
        panel_title(axis, f"Sends per device per hour (colour full at {which})", name)
        axis.set_xlabel(time.label(named))
        bar = fig.colorbar(image, ax=axis, label="messages sent per hour", pad=0.01,
                           extend="max" if rate else "neither")
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom_xlabel_only(axes)
    return fig


def binding_rate(result: Result) -> tuple[float | None, str]:
    """Return the hourly send rate of a device's binding limit and how it reads:
    the hourly limit, or the daily limit / 24 when lower; (None, ...) when neither is set."""
    cap = result.scenario.capacity
    options = []
    if cap.hourly_limit:
        options.append((float(cap.hourly_limit), f"the hourly limit, {cap.hourly_limit}"))
    if cap.daily_limit:
        options.append((cap.daily_limit / 24,
                        f"the daily limit, {cap.daily_limit} / 24 h = {cap.daily_limit / 24:.3g}"))
    if not options:
        return None, "the busiest hour (no limits)"
    return min(options, key=lambda o: o[0])


def _draw_devices(ax: Axes, result: Result, time: TimeAxis, rate: float | None) -> Any:
    n = n_hours(result)
    devices = result.tables.get("devices")
    ids = sorted(devices["id"].astype(str)) if devices is not None and not devices.empty \
        else sorted(result.sends["device_id"].unique())
    ids = ids or ["(none)"]
    index = {d: i for i, d in enumerate(ids)}
    sent = sent_messages(result)
    grid = np.zeros((len(ids), n))
    if not sent.empty:
        hour = np.clip(np.floor(since_start(result, sent["sent_at"]) / HOUR_S).astype(int),
                       0, n - 1)
        row = sent["device_id"].map(index).to_numpy()
        np.add.at(grid, (row, hour), 1)
    vmax = rate if rate else max(float(grid.max()), 1.0)
    image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis",
                      vmin=0, vmax=vmax, origin="lower",
                      extent=(0, n * HOUR_S / time.seconds, -0.5, len(ids) - 0.5))
    every = max(1, math.ceil(len(ids) / 25))
    ax.set_yticks(range(0, len(ids), every), [ids[i] for i in range(0, len(ids), every)])
    ax.set_ylabel("device")
    time.style(ax, n * HOUR_S / time.seconds)
    return image
