"""Time on the x axis: hours or days since a run's start, binned by hour.

Every time axis is drawn in days since start (hours for runs up to three
days); :class:`TimeAxis` picks the unit for a set of runs, labels and ticks the
axis. By default ticks read as that count; with a display zone (``tz=`` of the
charts) they read as dates and weekdays in that zone (``Tue 01 Jul``; times of
day for short runs), placed at its local midnights. The view ends shortly after
the last activity of every run (the last send, enrolment or completion) when
the runs finished their work, so a five-week run whose contacts were done by
day 14 is not mostly empty; a run that ended with work left is shown whole.
The helpers below turn a run's instants into seconds since its start and its
timeline into one value per hour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, Locator

from seqsim.analysis.durations import DAY_S, HOUR_S
from seqsim.errors import SeqsimError
from seqsim.model.windows import check_zone
from seqsim.results.result import Result

__all__ = ["TimeAxis", "hourly", "n_hours", "since_start", "step_with_edge"]

#: Tick spacings of a time axis, in its unit, finest first.
_DAY_STEPS = (0.25, 0.5, 1.0, 2.0, 7.0, 14.0, 28.0, 56.0, 112.0)
_HOUR_STEPS = (0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0)


@dataclass(frozen=True)
class TimeAxis:
    """How a time axis is scaled: seconds per unit and the unit's name; ``zone``
    (tick labels as local dates, from the runs' common ``start``) and ``view_s``
    (seconds since start the view ends at; None: the whole run)."""

    seconds: float
    unit: str
    zone: str | None = None
    start: datetime | None = None
    view_s: float | None = None

    @classmethod
    def for_runs(cls, named: Mapping[str, Result], tz: str | None = None) -> TimeAxis:
        """Return hours when the longest run lasts up to three days, else days,
        cropped to the runs' activity, with tick labels in zone ``tz`` if given.

        Raises:
            SeqsimError: ``tz`` is not a zone of the tzdata database, or is given
                for runs that do not share one start.
        """
        longest = max(r.scenario.simulation.duration.total_seconds() for r in named.values())
        seconds, unit = (HOUR_S, "hours") if longest <= 3 * DAY_S else (DAY_S, "days")
        starts = {r.scenario.simulation.start for r in named.values()}
        if tz is not None:
            check_zone("tz", tz)
            if len(starts) > 1:
                raise SeqsimError(f"tz: {tz!r} is not valid for runs with different starts; "
                                  "expected runs that share one start (or tz=None)")
        start = next(iter(starts)) if len(starts) == 1 else None
        return cls(seconds, unit, tz, start, _activity_end(named, longest))

    def label(self, named: Mapping[str, Result]) -> str:
        """Return the axis label: since the common start, or since each run's own;
        with a zone, the zone the dates are in."""
        if self.zone is not None:
            return f"date and time in {self.zone}" if self.unit == "hours" \
                else f"date in {self.zone} (ticks at local midnight)"
        starts = {r.scenario.simulation.start for r in named.values()}
        if len(starts) == 1:
            return f"{self.unit} since {next(iter(starts)):%Y-%m-%d %H:%M} UTC"
        return f"{self.unit} since each run's start"

    def style(self, ax: Axes, span_units: float) -> None:
        """Tick ``ax``'s x axis in this unit and show 0 to ``span_units`` (or to the
        end of activity, when that comes first)."""
        if self.view_s is not None:
            span_units = min(span_units, self.view_s / self.seconds)
        if self.zone is not None and self.start is not None:
            local = _LocalTicks(self.start, ZoneInfo(self.zone), self.seconds, self.unit)
            ax.xaxis.set_major_locator(local)
            ax.xaxis.set_major_formatter(FuncFormatter(local.format))
        else:
            steps = _DAY_STEPS if self.unit == "days" else _HOUR_STEPS
            ax.xaxis.set_major_locator(_TimeLocator(steps))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlim(0, span_units)


def _activity_end(named: Mapping[str, Result], longest: float) -> float | None:
    """Return seconds since start shortly after every run's last send, enrolment or
    completion; None (the whole run) when a run ended with work left or did nothing."""
    last = 0.0
    for result in named.values():
        summary = result.summary
        if summary.get("contacts_active") or summary.get("unsent_due_at_end"):
            return None
        instants = [result.sends["sent_at"], result.contacts["created_at"],
                    result.contacts["completed_at"]]
        values = [since_start(result, t.dropna()) for t in instants]
        seen = np.concatenate(values) if values else np.array([])
        if not seen.size:
            return None
        last = max(last, float(seen.max()))
    margin = max(HOUR_S, 0.04 * last)
    return None if last + margin >= longest else last + margin


class _LocalTicks(Locator):
    """Ticks at local midnights (every 1, 2, 7... days) or, on an hours axis, at
    local hours (every 1, 3, 6, 12), in axis units since the run's start; labels
    are the local weekday and date (and time of day on an hours axis)."""

    def __init__(self, start: datetime, zone: ZoneInfo, seconds: float, unit: str) -> None:
        self.start = start.replace(tzinfo=ZoneInfo("UTC"))
        self.zone = zone
        self.seconds = seconds
        self.unit = unit

    def _instant(self, value: float) -> datetime:
        return (self.start + timedelta(seconds=value * self.seconds)).astimezone(self.zone)

    def __call__(self) -> Sequence[float]:
        lo, hi = sorted(self.axis.get_view_interval())
        span_h = (hi - lo) * self.seconds / HOUR_S
        if self.unit == "hours":
            every = next((h for h in (1, 3, 6, 12, 24) if span_h / h <= 12), 24)
        else:
            every = 24 * next((d for d in (1, 2, 7, 14, 28) if span_h / 24 / d <= 16), 28)
        first = self._instant(lo).replace(minute=0, second=0, microsecond=0)
        first = first.replace(hour=0 if every >= 24 else first.hour - first.hour % every)
        ticks, t = [], first
        while True:
            value = (t.astimezone(ZoneInfo("UTC")) - self.start).total_seconds() / self.seconds
            if value > hi:
                return ticks
            if value >= lo and (every < 24 or (t - first).days % (every // 24) == 0):
                ticks.append(value)
            # Step in local wall time so ticks stay at midnight across DST changes.
            t = (t.replace(tzinfo=None) + timedelta(hours=min(every, 24))).replace(
                tzinfo=self.zone)

    def format(self, value: float, _pos: int | None = None) -> str:
        """Return the tick label of axis value ``value``."""
        local = self._instant(value)
        return f"{local:%a %d %b}" if self.unit == "days" else f"{local:%a %H:%M}"


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


def since_start(result: Result, times: pd.Series) -> np.ndarray:
    """Return seconds since the run's start for each instant."""
    start = pd.Timestamp(result.scenario.simulation.start)
    return ((pd.to_datetime(times) - start) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def n_hours(result: Result) -> int:
    """Return how many hourly bins the run spans (at least one)."""
    return max(1, math.ceil(result.scenario.simulation.duration.total_seconds() / HOUR_S))


def hourly(result: Result, column: str, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (hour starts in seconds, value per hour) of a timeline column.

    ``how`` is ``"max"`` (the hour's peak) or ``"last"`` (the value at the
    hour's end); hours with no timeline row carry the previous value forward.
    """
    n = n_hours(result)
    timeline = result.timeline
    if timeline.empty:
        return np.arange(n) * HOUR_S, np.zeros(n)
    hour = np.floor(since_start(result, timeline["time"]) / HOUR_S).astype(int)
    grouped = timeline[column].groupby(hour)
    values = grouped.max() if how == "max" else grouped.last()
    values = values.reindex(range(n)).ffill().fillna(0)
    return np.arange(n) * HOUR_S, values.to_numpy(dtype=float)


def step_with_edge(x: np.ndarray, y: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Extend a post-step series by its last bin so the final bin is drawn."""
    return np.append(x, x[-1] + width), np.append(y, y[-1])
