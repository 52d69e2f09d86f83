"""Figures and axes every chart shares: panels, titles, legends, duration scales.

Also the argument checks of the chart functions (``ax``, a choice of names),
so every chart rejects bad input with the same messages.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from seqsim.analysis.durations import DAY_S, HOUR_S, human_duration
from seqsim.errors import SeqsimError
from seqsim.results.result import Result
from seqsim.validation import quoted

__all__ = [
    "Results",
    "bottom_xlabel_only",
    "check_ax",
    "choice",
    "duration_axis",
    "figure_for",
    "lateness_scale",
    "lateness_xlim",
    "legend_outside",
    "new_figure",
    "no_data",
    "p95_line",
    "panel_title",
]

#: What every chart takes: a Result, or a dict of named Results.
Results = Result | Mapping[str, Result]

_WIDTH = 10.0          # figure width, inches
_PANEL_HEIGHT = 3.0    # height per panel in a small-multiples figure
_SINGLE_SIZE = (_WIDTH, 4.6)
#: Lateness up to this many seconds is drawn on a linear axis in seconds;
#: beyond it on a symmetric log axis labelled in s / min / h / d.
_LINEAR_LATENESS_MAX_S = 120.0
_DURATION_TICKS = (0.0, 1.0, 10.0, 60.0, 600.0, HOUR_S, 6 * HOUR_S, DAY_S, 3 * DAY_S,
                   10 * DAY_S, 30 * DAY_S, 90 * DAY_S)


# --------------------------------------------------------------------------- arguments


def check_ax(ax: Any, named: Mapping[str, Result], one_panel: bool) -> None:
    """Accept ``ax`` when it is None, or an Axes the chart can draw into.

    Raises:
        SeqsimError: ``ax`` is not an Axes, or is one while ``named`` has
            several results for a chart that draws one panel each.
    """
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


def choice(arg: str, value: Any, valid: Sequence[str]) -> str:
    """Return ``value`` when it is one of ``valid``.

    Unlike :func:`seqsim.validation.parse_choice` this raises a plain
    SeqsimError: a chart argument is not scenario input (ScenarioError).

    Raises:
        SeqsimError: naming ``arg`` and the valid values.
    """
    if not isinstance(value, str) or value not in valid:
        raise SeqsimError(f"{arg}: {value!r} is not valid; expected one of {quoted(valid)}")
    return value


# --------------------------------------------------------------------------- figures


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


def new_figure(n_panels: int = 1, *, sharex: bool = True, sharey: bool = True,
               height: float | None = None) -> tuple[Figure, list[Axes]]:
    """Return a new figure of ``n_panels`` stacked panels and its Axes, top first."""
    size = _SINGLE_SIZE if n_panels == 1 else (_WIDTH, 1.0 + _PANEL_HEIGHT * n_panels)
    if height is not None:
        size = (_WIDTH, height)
    fig = _Figure(figsize=size, layout="constrained")
    if n_panels > 1:  # room between one panel's x label and the next one's title
        fig.get_layout_engine().set(hspace=0.06)
    axes = fig.subplots(n_panels, 1, sharex=sharex, sharey=sharey, squeeze=False)[:, 0]
    return fig, list(axes)


def figure_for(named: Mapping[str, Result], ax: Axes | None, **kw: Any) -> tuple[Any, list[Axes]]:
    """Return ``ax``'s figure and ``[ax]``, or a new figure of one panel per result."""
    if ax is not None:
        return ax.figure, [ax]
    return new_figure(len(named), **kw)


def bottom_xlabel_only(axes: Sequence[Axes]) -> None:
    """Keep the x label on the bottom panel only (panels share the x axis)."""
    for axis in axes[:-1]:
        axis.set_xlabel("")
        axis.tick_params(labelbottom=True)  # each panel keeps its tick labels


def panel_title(ax: Axes, title: str, name: str) -> None:
    """Title a panel, suffixed with the result's name when it has one."""
    ax.set_title(f"{title}: {name}" if name else title)


def legend_outside(ax: Axes, **kw: Any) -> None:
    """Put the legend right of the panel, when anything is labelled."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  frameon=False, **kw)


def no_data(ax: Axes, what: str) -> None:
    """Say in the middle of an empty panel that the run had no ``what``."""
    ax.text(0.5, 0.5, f"no {what} in this run", transform=ax.transAxes,
            ha="center", va="center", color="0.4")


# --------------------------------------------------------------------------- durations


def duration_axis(ax: Axes, which: str, upper_s: float) -> None:
    """Put a symmetric-log duration scale on ``ax``'s ``which`` ("x" or "y") axis."""
    set_scale = ax.set_xscale if which == "x" else ax.set_yscale
    set_scale("symlog", linthresh=1.0, linscale=0.4)
    axis = ax.xaxis if which == "x" else ax.yaxis
    ticks = [t for t in _DURATION_TICKS if t <= max(upper_s, 1.0) * 1.5]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: human_duration(v) if v else "0"))
    axis.set_minor_locator(FixedLocator([]))


def lateness_scale(ax: Axes, which: str, upper_s: float) -> str:
    """Scale a lateness axis; return its label."""
    if upper_s > _LINEAR_LATENESS_MAX_S:
        duration_axis(ax, which, upper_s)
        return "lateness: sent − due (log scale)"
    return "lateness: sent − due (seconds)"


def lateness_xlim(ax: Axes, upper_s: float) -> None:
    """Fit an x lateness axis to lateness up to ``upper_s``, keeping 0 (on time) in view."""
    if upper_s > _LINEAR_LATENESS_MAX_S:
        ax.set_xlim(-0.05, upper_s * 1.5)
    else:
        ax.set_xlim(-0.02 * max(upper_s, 1.0), max(upper_s, 1.0) * 1.05)


def p95_line(ax: Axes) -> None:
    """Draw the 95% reference line of a cumulative-share (ECDF) panel."""
    ax.axhline(0.95, color="0.45", linestyle=":", linewidth=1.2, label="95% of messages")
