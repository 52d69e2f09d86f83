"""Charts of a run: backlog, sends, active contacts, lateness, completion, devices.

The only module that imports matplotlib. Every function takes a
:class:`~seqsim.Result` or a dict of named Results and returns a
:class:`matplotlib.figure.Figure` built without pyplot, so it works headless,
in threads and in notebooks (a Figure as a cell's last value is displayed).
Save one with ``fig.savefig("chart.png")``.

With a dict, :func:`backlog` draws one line per result on the same axes; the
charts that stack by step (:func:`sends_per_hour`, :func:`active_by_step`,
:func:`lateness_by_step`, :func:`completion_times`,
:func:`device_utilisation`) draw one panel per result, with shared axes so they
read side by side. :func:`comparison` overlays several results on the same
axes, one panel per metric.

Time axes read "days since start" (hours for runs up to three days), binned by
hour; lateness is shown as a duration (s, min, h, d), never raw seconds.

>>> import seqsim
>>> scn = seqsim.Scenario.from_toml("data/scenarios/backlog.toml")
>>> res = seqsim.simulate(scn)                              # doctest: +SKIP
>>> seqsim.plot.backlog(res).savefig("backlog.png")         # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, Locator, MaxNLocator

from seqsim.errors import SeqsimError
from seqsim.results.result import Result

__all__ = [
    "COMPARISON_METRICS",
    "active_by_step",
    "backlog",
    "comparison",
    "completion_times",
    "device_utilisation",
    "lateness_by_step",
    "sends_per_hour",
]

#: Metrics :func:`comparison` can draw, one panel each.
COMPARISON_METRICS: tuple[str, ...] = ("backlog", "sends", "active", "lateness", "completion")
_DEFAULT_METRICS: tuple[str, ...] = ("backlog", "sends", "lateness", "completion")
_LATENESS_KINDS: tuple[str, ...] = ("ecdf", "box")

_HOUR = 3600.0
_DAY = 86_400.0
_WIDTH = 10.0          # figure width, inches
_PANEL_HEIGHT = 3.0    # height per panel in a small-multiples figure
_SINGLE_SIZE = (_WIDTH, 4.6)
#: Lateness up to this many seconds is drawn on a linear axis in seconds;
#: beyond it on a symmetric log axis labelled in s / min / h / d.
_LINEAR_LATENESS_MAX_S = 120.0
_DURATION_TICKS = (0.0, 1.0, 10.0, 60.0, 600.0, _HOUR, 6 * _HOUR, _DAY, 3 * _DAY, 10 * _DAY,
                   30 * _DAY, 90 * _DAY)

Results = Result | Mapping[str, Result]


# --------------------------------------------------------------------------- validation


def _named(results: Any, arg: str = "result") -> dict[str, Result]:
    """Return ``results`` as an ordered {name: Result} dict, or raise SeqsimError."""
    expected = "a seqsim.Result or a dict of name -> seqsim.Result"
    if isinstance(results, Result):
        return {"": results}
    if not isinstance(results, Mapping):
        raise SeqsimError(f"{arg}: {type(results).__name__} is not valid; expected {expected}")
    if not results:
        raise SeqsimError(f"{arg}: an empty dict is not valid; expected {expected}")
    named: dict[str, Result] = {}
    for name, value in results.items():
        if not isinstance(value, Result):
            raise SeqsimError(
                f"{arg}[{name!r}]: {type(value).__name__} is not valid; expected a seqsim.Result"
            )
        named[str(name)] = value
    return named


def _check_ax(ax: Any, named: Mapping[str, Result], one_panel: bool) -> None:
    if ax is None:
        return
    if not isinstance(ax, Axes):
        raise SeqsimError(
            f"ax: {type(ax).__name__} is not valid; expected a matplotlib Axes or None"
        )
    if not one_panel and len(named) > 1:
        raise SeqsimError(
            "ax: an Axes is not valid with several results (they get one panel each); "
            "expected None"
        )


def _choice(arg: str, value: Any, valid: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in valid:
        raise SeqsimError(
            f"{arg}: {value!r} is not valid; expected one of {', '.join(map(repr, valid))}"
        )
    return value


# --------------------------------------------------------------------------- data helpers


@dataclass(frozen=True)
class _TimeAxis:
    """How a time axis is scaled: seconds per unit and the unit's name."""

    seconds: float
    unit: str

    @classmethod
    def for_runs(cls, named: Mapping[str, Result]) -> _TimeAxis:
        longest = max(r.scenario.simulation.duration.total_seconds() for r in named.values())
        return cls(_HOUR, "hours") if longest <= 3 * _DAY else cls(_DAY, "days")

    def label(self, named: Mapping[str, Result]) -> str:
        starts = {r.scenario.simulation.start for r in named.values()}
        if len(starts) == 1:
            return f"{self.unit} since {next(iter(starts)):%Y-%m-%d %H:%M} UTC"
        return f"{self.unit} since each run's start"

    def style(self, ax: Axes, span_units: float) -> None:
        steps = _DAY_STEPS if self.unit == "days" else _HOUR_STEPS
        ax.xaxis.set_major_locator(_TimeLocator(steps))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlim(0, span_units)


#: Tick spacings of a time axis, in its unit, finest first.
_DAY_STEPS = (0.25, 0.5, 1.0, 2.0, 7.0, 14.0, 28.0, 56.0, 112.0)
_HOUR_STEPS = (0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0)


class _TimeLocator(Locator):
    """Ticks at the finest listed spacing that fits the view.

    Whole units (days) allow up to ``max_ticks`` ticks, fractions of a unit up
    to 8: a three-week axis gets a tick per day, a five-day one too, and one
    zoomed to two days (``set_xlim``) a tick every 6 hours.
    """

    def __init__(self, steps: Sequence[float], max_ticks: int = 22) -> None:
        self.steps = tuple(steps)
        self.max_ticks = max_ticks

    def __call__(self) -> Sequence[float]:
        lo, hi = self.axis.get_view_interval()
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        lo, hi = sorted((vmin, vmax))
        span = hi - lo
        step = next((s for s in self.steps if span / s <= (self.max_ticks if s >= 1 else 8)),
                    self.steps[-1])
        first = math.ceil(lo / step - 1e-9) * step
        return list(np.arange(first, hi + step * 1e-6, step))


def _since_start(result: Result, times: pd.Series) -> np.ndarray:
    """Return seconds since the run's start for each instant."""
    start = pd.Timestamp(result.scenario.simulation.start)
    return ((pd.to_datetime(times) - start) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def _n_hours(result: Result) -> int:
    return max(1, math.ceil(result.scenario.simulation.duration.total_seconds() / _HOUR))


def _hourly(result: Result, column: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (hour starts in seconds, value per hour) of a timeline column.

    ``how`` is ``"max"`` (the hour's peak) or ``"last"`` (the value at the
    hour's end); hours with no timeline row carry the previous value forward.
    """
    n = _n_hours(result)
    timeline = result.timeline
    if timeline.empty:
        return np.arange(n) * _HOUR, np.zeros(n)
    hour = np.floor(_since_start(result, timeline["time"]) / _HOUR).astype(int)
    grouped = timeline[column].groupby(hour)
    values = grouped.max() if how == "max" else grouped.last()
    values = values.reindex(range(n)).ffill().fillna(0)
    return np.arange(n) * _HOUR, values.to_numpy(dtype=float)


def _step_with_edge(x: np.ndarray, y: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Extend a post-step series by its last bin so the final bin is drawn."""
    return np.append(x, x[-1] + width), np.append(y, y[-1])


@dataclass(frozen=True)
class _Step:
    sequence_id: int
    sequence: str
    step_id: int
    day_number: int
    label: str


def _steps(result: Result) -> list[_Step]:
    """Return the run's steps in chain order (sequence, then day number)."""
    try:
        steps = result.tables["sequence_steps"]
        sequences = result.tables["sequences"]
    except KeyError as exc:
        raise SeqsimError(
            f"result: a Result without its {exc.args[0]!r} table is not valid; expected one "
            "from seqsim.simulate or seqsim.load_result"
        ) from None
    names = sequences.set_index("id")["name"].astype(str)
    several = len(names) > 1
    ordered = steps.sort_values(["sequence_id", "day_number"])
    return [
        _Step(
            int(row.sequence_id), str(names[row.sequence_id]), int(row.id), int(row.day_number),
            f"{names[row.sequence_id]} day {row.day_number}" if several
            else f"day {row.day_number}",
        )
        for row in ordered.itertuples()
    ]


_SEQUENCE_CMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")


def _step_colors(steps: Sequence[_Step]) -> list[Any]:
    """Colours for steps in chain order: dark to light within a sequence.

    One sequence uses viridis; several use one colour family each (blues,
    oranges, greens, ...) shaded from the first step to the last.
    """
    sequences = list(dict.fromkeys(s.sequence_id for s in steps))
    if len(sequences) <= 1:
        cmap = colormaps["viridis"]
        n = len(steps)
        return [cmap(v) for v in np.linspace(0.08, 0.88, n)] if n > 1 else [cmap(0.3)]
    colors: list[Any] = []
    for i, seq in enumerate(sequences):
        cmap = colormaps[_SEQUENCE_CMAPS[i % len(_SEQUENCE_CMAPS)]]
        n = sum(1 for s in steps if s.sequence_id == seq)
        colors += [cmap(v) for v in np.linspace(0.9, 0.45, n)] if n > 1 else [cmap(0.7)]
    return colors


def _sent(result: Result) -> pd.DataFrame:
    return result.sends[result.sends["outcome"] == "sent"]


def _completion(result: Result) -> pd.DataFrame:
    """Return per sequence and contact: hours from entry to last step's completion.

    Columns: ``sequence``, ``contact_phone``, ``hours`` (NaN when the contact
    had not finished the sequence by the end of the run), ``designed_hours``.
    """
    steps = result.tables["sequence_steps"]
    names = result.tables["sequences"].set_index("id")["name"].astype(str)
    contacts = result.contacts
    keys = ["sequence_id", "contact_phone"]
    entry_ids = steps.loc[steps["is_entry_point"].astype(bool), "id"]
    last_ids = steps.sort_values("day_number").groupby("sequence_id")["id"].last()
    entries = contacts.loc[contacts["sequence_stepid"].isin(entry_ids), [*keys, "created_at"]]
    last = contacts.loc[
        contacts["sequence_stepid"].isin(last_ids) & (contacts["status"] == "completed"),
        [*keys, "completed_at"],
    ]
    merged = entries.merge(last, on=keys, how="left")
    hours = (merged["completed_at"] - merged["created_at"]).dt.total_seconds() / _HOUR
    designed = steps.groupby("sequence_id")["trigger_delay_hours"].sum()
    return pd.DataFrame({
        "sequence_id": merged["sequence_id"].to_numpy(),
        "sequence": merged["sequence_id"].map(names).to_numpy(),
        "contact_phone": merged["contact_phone"].to_numpy(),
        "hours": hours.to_numpy(dtype=float),
        "designed_hours": merged["sequence_id"].map(designed).to_numpy(dtype=float),
    })


def _completion_unit(named: Mapping[str, Result]) -> tuple[float, str]:
    """Return (hours per unit, unit name): days when a design lasts 2 days or more."""
    longest = 0.0
    for result in named.values():
        steps = result.tables.get("sequence_steps")
        if steps is not None and not steps.empty:
            longest = max(longest, float(
                steps.groupby("sequence_id")["trigger_delay_hours"].sum().max()))
    return (24.0, "days") if longest >= 48 else (1.0, "hours")


# --------------------------------------------------------------------------- formatting


def human_duration(seconds: float) -> str:
    """Return a short label for a duration in seconds: ``0 s``, ``10 s``, ``5 min``, ``2 d``."""
    value = float(seconds)
    if value == 0:
        return "0 s"
    for size, unit in ((_DAY, "d"), (_HOUR, "h"), (60.0, "min")):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g} s"


def _duration_axis(ax: Axes, which: str, upper_s: float) -> None:
    """Put a symmetric-log duration scale on ``ax``'s ``which`` ("x" or "y") axis."""
    set_scale = ax.set_xscale if which == "x" else ax.set_yscale
    set_scale("symlog", linthresh=1.0, linscale=0.4)
    axis = ax.xaxis if which == "x" else ax.yaxis
    ticks = [t for t in _DURATION_TICKS if t <= max(upper_s, 1.0) * 1.5]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: human_duration(v) if v else "0"))
    axis.set_minor_locator(FixedLocator([]))


class _Figure(Figure):
    """A Figure that displays itself in Jupyter without pyplot.

    IPython shows an object through its ``_repr_png_`` when no formatter is
    registered for its type (pyplot's inline backend registers one for every
    Figure; then that one is used instead, and the chart still shows once).
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def _new_figure(n_panels: int = 1, *, sharex: bool = True, sharey: bool = True,
                height: float | None = None) -> tuple[Figure, list[Axes]]:
    size = _SINGLE_SIZE if n_panels == 1 else (_WIDTH, 1.0 + _PANEL_HEIGHT * n_panels)
    if height is not None:
        size = (_WIDTH, height)
    fig = _Figure(figsize=size, layout="constrained")
    if n_panels > 1:  # room between one panel's x label and the next one's title
        fig.get_layout_engine().set(hspace=0.06)
    axes = fig.subplots(n_panels, 1, sharex=sharex, sharey=sharey, squeeze=False)[:, 0]
    return fig, list(axes)


def _figure_for(named: Mapping[str, Result], ax: Axes | None, **kw: Any) -> tuple[Any, list[Axes]]:
    if ax is not None:
        return ax.figure, [ax]
    return _new_figure(len(named), **kw)


def _bottom_xlabel_only(axes: Sequence[Axes]) -> None:
    """Keep the x label on the bottom panel only (panels share the x axis)."""
    for axis in axes[:-1]:
        axis.set_xlabel("")
        axis.tick_params(labelbottom=True)  # each panel keeps its tick labels


def _panel_title(ax: Axes, title: str, name: str) -> None:
    ax.set_title(f"{title}: {name}" if name else title)


def _legend_outside(ax: Axes, **kw: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  frameon=False, **kw)


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", transform=ax.transAxes,
            ha="center", va="center", color="0.4")


# --------------------------------------------------------------------------- charts


def backlog(results: Results, ax: Axes | None = None) -> Figure:
    """Backlog over time: rows due and not yet sent, the peak of each hour.

    Args:
        results: a Result, or a dict of named Results drawn as one line each.
        ax: draw into this Axes instead of a new figure.
    """
    named = _named(results, "results")
    _check_ax(ax, named, one_panel=True)
    fig, (axis,) = (ax.figure, [ax]) if ax is not None else _new_figure(1)
    time = _TimeAxis.for_runs(named)
    _draw_backlog(axis, named, time)
    axis.set_title("Backlog over time (rows due but not yet sent)")
    if len(named) > 1:
        _legend_outside(axis)
    return fig


def _draw_backlog(ax: Axes, named: Mapping[str, Result], time: _TimeAxis) -> None:
    span = peak = 0.0
    for name, result in named.items():
        x, y = _hourly(result, "backlog", "max")
        x, y = _step_with_edge(x / time.seconds, y, _HOUR / time.seconds)
        ax.step(x, y, where="post", label=name or "backlog", linewidth=1.6)
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


def sends_per_hour(results: Results, ax: Axes | None = None) -> Figure:
    """Messages sent per hour, stacked by step (failed attempts on top, in grey).

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
    """
    return _timed_panels(results, ax, _draw_sends_stacked, "Messages sent per hour, by step")


def _timed_panels(
    results: Results, ax: Axes | None, draw: Any, title: str, **legend: Any
) -> Figure:
    """One panel per run on a shared time axis: ``draw(axis, result, time)`` each."""
    named = _named(results, "results")
    _check_ax(ax, named, one_panel=False)
    fig, axes = _figure_for(named, ax)
    time = _TimeAxis.for_runs(named)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        draw(axis, result, time)
        _panel_title(axis, title, name)
        axis.set_xlabel(time.label(named))
        _legend_outside(axis, title="step", **legend)
    _bottom_xlabel_only(axes)
    return fig


def _draw_sends_stacked(ax: Axes, result: Result, time: _TimeAxis) -> None:
    n = _n_hours(result)
    width = _HOUR / time.seconds
    edges = np.arange(n + 1) * width
    sends = result.sends
    hour = np.floor(_since_start(result, sends["sent_at"]) / _HOUR).astype(int)
    hour = np.clip(hour, 0, n - 1)
    bottom = np.zeros(n)
    steps = _steps(result)
    sent = (sends["outcome"] == "sent").to_numpy()
    for step, color in zip(steps, _step_colors(steps), strict=True):
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
        _no_data(ax, "sends")


def _layer(ax: Axes, bottom: np.ndarray, counts: np.ndarray, edges: np.ndarray,
           **style: Any) -> None:
    """Draw one stacked layer as a filled step patch (one patch, not one bar per hour)."""
    ax.stairs(bottom + counts, edges, baseline=bottom.copy(), fill=True, linewidth=0, **style)


def active_by_step(results: Results, ax: Axes | None = None) -> Figure:
    """Contacts with an active row at each step over time (stacked area).

    A row is active from its creation until its step completes or fails, so
    this shows where contacts are waiting (for their delay or for capacity),
    sampled at each hour.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
    """
    return _timed_panels(results, ax, _draw_active, "Active contacts by step", reverse=True)


def _active_counts(result: Result, step_id: int, instants: np.ndarray) -> np.ndarray:
    contacts = result.contacts
    rows = contacts[contacts["sequence_stepid"] == step_id]
    starts = np.sort(_since_start(result, rows["created_at"]))
    end = rows["completed_at"].fillna(rows["failed_at"])
    ends = _since_start(result, end)
    ends = np.sort(ends[~np.isnan(ends)])
    started = np.searchsorted(starts, instants, side="right")
    ended = np.searchsorted(ends, instants, side="right")
    return (started - ended).astype(float)


def _draw_active(ax: Axes, result: Result, time: _TimeAxis) -> None:
    n = _n_hours(result)
    instants = np.arange(n + 1) * _HOUR
    steps = _steps(result)
    layers = [_active_counts(result, s.step_id, instants) for s in steps]
    ax.stackplot(instants / time.seconds, *layers, labels=[s.label for s in steps],
                 colors=_step_colors(steps), linewidth=0)
    ax.set_ylabel("contacts (active rows)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_axisbelow(True)
    ax.grid(alpha=0.3)
    time.style(ax, n * _HOUR / time.seconds)
    if result.contacts.empty:
        _no_data(ax, "contacts")


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
    kind = _choice("kind", kind, _LATENESS_KINDS)
    named = _named(results, "results")
    _check_ax(ax, named, one_panel=False)
    fig, axes = _figure_for(named, ax, sharex=kind == "ecdf", sharey=kind == "box")
    upper = max((float(_sent(r)["lateness_s"].max()) for r in named.values()
                 if not _sent(r).empty), default=0.0)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        if kind == "ecdf":
            _draw_lateness_ecdf(axis, result, upper)
            _legend_outside(axis, title="step (p95)")
        else:
            _draw_lateness_box(axis, result, upper)
        _panel_title(axis, "Lateness by step", name)
    if kind == "ecdf":
        _bottom_xlabel_only(axes)
    return fig


def _lateness_scale(ax: Axes, which: str, upper_s: float) -> str:
    """Scale a lateness axis; return its label."""
    if upper_s > _LINEAR_LATENESS_MAX_S:
        _duration_axis(ax, which, upper_s)
        return "lateness: sent − due (log scale)"
    return "lateness: sent − due (seconds)"


def _draw_lateness_ecdf(ax: Axes, result: Result, upper_s: float) -> None:
    sent = _sent(result)
    steps = _steps(result)
    for step, color in zip(steps, _step_colors(steps), strict=True):
        values = sent.loc[(sent["sequence"] == step.sequence)
                          & (sent["day_number"] == step.day_number), "lateness_s"]
        if values.empty:
            continue
        p95 = float(np.quantile(values.to_numpy(), 0.95))
        ax.ecdf(values.to_numpy(), color=color, linewidth=1.8,
                label=f"{step.label} ({human_duration(p95)})")
    _p95_line(ax)
    ax.set_xlabel(_lateness_scale(ax, "x", upper_s))
    ax.set_ylabel("share of messages sent\nwithin this lateness")
    ax.set_ylim(0, 1.02)
    _lateness_xlim(ax, upper_s)
    ax.grid(alpha=0.3)
    if sent.empty:
        _no_data(ax, "sent messages")


def _p95_line(ax: Axes) -> None:
    ax.axhline(0.95, color="0.45", linestyle=":", linewidth=1.2, label="95% of messages")


def _lateness_xlim(ax: Axes, upper_s: float) -> None:
    if upper_s > _LINEAR_LATENESS_MAX_S:
        ax.set_xlim(-0.05, upper_s * 1.5)
    else:
        ax.set_xlim(-0.02 * max(upper_s, 1.0), max(upper_s, 1.0) * 1.05)


def _draw_lateness_box(ax: Axes, result: Result, upper_s: float) -> None:
    sent = _sent(result)
    steps = _steps(result)
    data, labels = [], []
    for step in steps:
        values = sent.loc[(sent["sequence"] == step.sequence)
                          & (sent["day_number"] == step.day_number), "lateness_s"]
        data.append(values.to_numpy() if not values.empty else np.array([np.nan]))
        labels.append(step.label)
    boxes = ax.boxplot(data, tick_labels=labels, whis=(5, 95), showfliers=False,
                       patch_artist=True, medianprops={"color": "black"})
    for patch, color in zip(boxes["boxes"], _step_colors(steps), strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.8)
    ax.set_ylabel(_lateness_scale(ax, "y", upper_s))
    ax.set_xlabel("step (box: p25-p75, line: median, whiskers: p5-p95)")
    ax.grid(axis="y", alpha=0.3)
    if sent.empty:
        _no_data(ax, "sent messages")


def completion_times(results: Results, ax: Axes | None = None) -> Figure:
    """How long contacts took from entry to the last step, against the design.

    A histogram per sequence of the contacts that finished it, with the
    designed duration (the sum of the sequence's step delays) as a dashed line.
    Contacts still in the sequence when the run ended are counted in the legend.

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
    """
    named = _named(results, "results")
    _check_ax(ax, named, one_panel=False)
    fig, axes = _figure_for(named, ax, sharey=False)
    per_unit, unit = _completion_unit(named)
    frames = {name: _completion(r) for name, r in named.items()}
    both = pd.concat(list(frames.values()))
    values = pd.concat([both["hours"].dropna(), both["designed_hours"]]) / per_unit
    lo, hi = (float(values.min()), float(values.max())) if not values.empty else (0.0, 1.0)
    pad = max((hi - lo) * 0.03, 0.05 * max(hi, 1e-9), 1 / per_unit)
    bins = np.linspace(max(0.0, lo - pad), hi + pad, 41)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        _draw_completion_hist(axis, result, frames[name], bins, per_unit, unit)
        _panel_title(axis, "Completion time: entry to last step", name)
        _legend_outside(axis)
    _bottom_xlabel_only(axes)
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
        _no_data(ax, "enrolled contacts")


def device_utilisation(results: Results, ax: Axes | None = None) -> Figure:
    """Heatmap of messages sent per device per hour (colour scale up to the hourly limit).

    Args:
        results: a Result, or a dict of named Results (one panel each).
        ax: draw into this Axes (single Result only).
    """
    named = _named(results, "results")
    _check_ax(ax, named, one_panel=False)
    time = _TimeAxis.for_runs(named)
    height = None
    if ax is None:
        rows = sum(max(1, r.scenario.capacity.devices) for r in named.values())
        height = min(4.0 + 0.12 * rows + 1.2 * (len(named) - 1), 4.0 * len(named) + 4)
    fig, axes = (ax.figure, [ax]) if ax is not None else _new_figure(
        len(named), sharey=False, height=height)
    for axis, (name, result) in zip(axes, named.items(), strict=True):
        image = _draw_devices(axis, result, time)
        limit = result.scenario.capacity.hourly_limit
        suffix = f" (hourly limit {limit} per device)" if limit else ""
        _panel_title(axis, f"Sends per device per hour{suffix}", name)
        axis.set_xlabel(time.label(named))
        bar = fig.colorbar(image, ax=axis, label="messages sent per hour", pad=0.01)
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    _bottom_xlabel_only(axes)
    return fig


def _draw_devices(ax: Axes, result: Result, time: _TimeAxis) -> Any:
    n = _n_hours(result)
    devices = result.tables.get("devices")
    ids = sorted(devices["id"].astype(str)) if devices is not None and not devices.empty \
        else sorted(result.sends["device_id"].unique())
    ids = ids or ["(none)"]
    index = {d: i for i, d in enumerate(ids)}
    sent = _sent(result)
    grid = np.zeros((len(ids), n))
    if not sent.empty:
        hour = np.clip(np.floor(_since_start(result, sent["sent_at"]) / _HOUR).astype(int),
                       0, n - 1)
        row = sent["device_id"].map(index).to_numpy()
        np.add.at(grid, (row, hour), 1)
    limit = result.scenario.capacity.hourly_limit
    vmax = max(float(grid.max()), float(limit or 0), 1.0)
    image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis",
                      vmin=0, vmax=vmax, origin="lower",
                      extent=(0, n * _HOUR / time.seconds, -0.5, len(ids) - 0.5))
    every = max(1, math.ceil(len(ids) / 25))
    ax.set_yticks(range(0, len(ids), every), [ids[i] for i in range(0, len(ids), every)])
    ax.set_ylabel("device")
    time.style(ax, n * _HOUR / time.seconds)
    return image


# --------------------------------------------------------------------------- comparison


def comparison(
    results: Mapping[str, Result],
    metrics: str | Sequence[str] = _DEFAULT_METRICS,
    *,
    freq: str = "1h",
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
    """
    named = _named(results, "results")
    chosen = [metrics] if isinstance(metrics, str) else list(metrics) \
        if isinstance(metrics, Sequence) else None
    if not chosen:
        raise SeqsimError(
            f"metrics: {metrics!r} is not valid; expected one or more of "
            f"{', '.join(map(repr, COMPARISON_METRICS))}"
        )
    for metric in chosen:
        _choice("metrics", metric, COMPARISON_METRICS)
    bin_s = _freq_seconds(freq)
    fig, axes = _new_figure(len(chosen), sharex=False, sharey=False)
    time = _TimeAxis.for_runs(named)
    for axis, metric in zip(axes, chosen, strict=True):
        if metric == "backlog":
            _draw_backlog(axis, named, time)
            axis.set_title("Backlog (rows due but not yet sent)")
        elif metric == "sends":
            _draw_sends_lines(axis, named, time, bin_s, freq)
        elif metric == "active":
            _draw_active_lines(axis, named, time)
        elif metric == "lateness":
            _draw_lateness_compare(axis, named)
        else:
            _draw_completion_compare(axis, named)
        _legend_outside(axis)
    return fig


def _freq_seconds(freq: Any) -> float:
    expected = "a pandas offset of whole hours or days such as '1h', '6h' or '1D'"
    try:
        seconds = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    except (TypeError, ValueError):
        raise SeqsimError(f"freq: {freq!r} is not valid; expected {expected}") from None
    if seconds < _HOUR or seconds % _HOUR:
        raise SeqsimError(f"freq: {freq!r} is not valid; expected {expected}")
    return seconds


def _bin_name(bin_s: float) -> str:
    if bin_s == _HOUR:
        return "hour"
    if bin_s == _DAY:
        return "day"
    return human_duration(bin_s)


def _draw_sends_lines(ax: Axes, named: Mapping[str, Result], time: _TimeAxis, bin_s: float,
                      freq: str) -> None:
    span = 0.0
    for name, result in named.items():
        n = max(1, math.ceil(result.scenario.simulation.duration.total_seconds() / bin_s))
        sent = _sent(result)
        idx = np.clip(np.floor(_since_start(result, sent["sent_at"]) / bin_s).astype(int),
                      0, n - 1)
        counts = np.bincount(idx, minlength=n).astype(float)
        x, y = _step_with_edge(np.arange(n) * bin_s / time.seconds, counts, bin_s / time.seconds)
        ax.step(x, y, where="post", label=name, linewidth=1.4, alpha=0.85)
        span = max(span, x[-1])
    per = _bin_name(bin_s)
    ax.set_title(f"Messages sent per {per}")
    ax.set_ylabel(f"messages per {per}")
    ax.set_xlabel(time.label(named))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    time.style(ax, span)


def _draw_active_lines(ax: Axes, named: Mapping[str, Result], time: _TimeAxis) -> None:
    span = 0.0
    for name, result in named.items():
        x, y = _hourly(result, "active", "last")
        x, y = _step_with_edge(x / time.seconds, y, _HOUR / time.seconds)
        ax.step(x, y, where="post", label=name, linewidth=1.4)
        span = max(span, x[-1])
    ax.set_title("Active rows (contacts in a sequence), at each hour's end")
    ax.set_ylabel("active rows")
    ax.set_xlabel(time.label(named))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    time.style(ax, span)


def _draw_lateness_compare(ax: Axes, named: Mapping[str, Result]) -> None:
    upper = 0.0
    for name, result in named.items():
        values = _sent(result)["lateness_s"].to_numpy()
        if values.size:
            upper = max(upper, float(values.max()))
            p95 = float(np.quantile(values, 0.95))
            ax.ecdf(values, linewidth=1.8, label=f"{name} (p95 {human_duration(p95)})")
    _p95_line(ax)
    ax.set_title("Lateness of sent messages, all steps")
    ax.set_xlabel(_lateness_scale(ax, "x", upper))
    ax.set_ylabel("share of messages sent\nwithin this lateness")
    ax.set_ylim(0, 1.02)
    _lateness_xlim(ax, upper)
    ax.grid(alpha=0.3)


def _draw_completion_compare(ax: Axes, named: Mapping[str, Result]) -> None:
    per_unit, unit = _completion_unit(named)
    designs: set[float] = set()
    for name, result in named.items():
        frame = _completion(result)
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
            ax.step(np.r_[x[0], x], np.r_[0.0, y], where="post", linewidth=1.8, label=label)
    for design in sorted(designs):
        ax.axvline(design, color="0.3", linestyle="--", linewidth=1,
                   label=f"designed: {design:.3g} {unit}")
    ax.set_title("Completion time: entry to last step")
    ax.set_xlabel(f"completion time ({unit})")
    ax.set_ylabel("share of enrolled contacts\nfinished within this time")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
