"""Time on the x axis: hours or days since a run's start, binned by hour.

Every time axis reads "days since start" (hours for runs up to three days);
:class:`TimeAxis` picks the unit for a set of runs, labels and ticks the axis.
The helpers below turn a run's instants into seconds since its start and its
timeline into one value per hour.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, Locator

from seqsim.analysis.durations import DAY_S, HOUR_S
from seqsim.results.result import Result

__all__ = ["TimeAxis", "hourly", "n_hours", "since_start", "step_with_edge"]

#: Tick spacings of a time axis, in its unit, finest first.
_DAY_STEPS = (0.25, 0.5, 1.0, 2.0, 7.0, 14.0, 28.0, 56.0, 112.0)
_HOUR_STEPS = (0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0)


@dataclass(frozen=True)
class TimeAxis:
    """How a time axis is scaled: seconds per unit and the unit's name."""

    seconds: float
    unit: str

    @classmethod
    def for_runs(cls, named: Mapping[str, Result]) -> TimeAxis:
        """Return hours when the longest run lasts up to three days, else days."""
        longest = max(r.scenario.simulation.duration.total_seconds() for r in named.values())
        return cls(HOUR_S, "hours") if longest <= 3 * DAY_S else cls(DAY_S, "days")

    def label(self, named: Mapping[str, Result]) -> str:
        """Return the axis label: since the common start, or since each run's own."""
        starts = {r.scenario.simulation.start for r in named.values()}
        if len(starts) == 1:
            return f"{self.unit} since {next(iter(starts)):%Y-%m-%d %H:%M} UTC"
        return f"{self.unit} since each run's start"

    def style(self, ax: Axes, span_units: float) -> None:
        """Tick ``ax``'s x axis in this unit and show 0 to ``span_units``."""
        steps = _DAY_STEPS if self.unit == "days" else _HOUR_STEPS
        ax.xaxis.set_major_locator(_TimeLocator(steps))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xlim(0, span_units)


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
