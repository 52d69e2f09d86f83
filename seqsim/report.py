"""A self-contained HTML report of a run (or of several, compared), with its charts.

:func:`write_report` writes the PNG charts and ``report.html`` into a folder;
the HTML embeds the charts (base64), the KPI table and the scenario, so it can
be mailed or attached as one file.

>>> import seqsim
>>> scn = seqsim.Scenario.from_toml("data/scenarios/baseline.toml")
>>> res = seqsim.simulate(scn)                                # doctest: +SKIP
>>> seqsim.report.write_report(res, "out/baseline")          # doctest: +SKIP
PosixPath('out/baseline/report.html')
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import seqsim.plot as plot
from seqsim.analysis.compare import compare, readable, scenario_differences
from seqsim.analysis.named import named_results
from seqsim.analysis.steps import readable_steps, unfinished_warning
from seqsim.errors import SeqsimError
from seqsim.results.manifest import record_files
from seqsim.results.result import Result
from seqsim.units import format_duration

__all__ = ["COMPARISON_CHARTS", "RUN_CHARTS", "write_report"]

Chart = tuple[str, str, str, Callable[[Any], Any]]
#: A chart written to disk: (file stem, heading, how to read it, PNG path).
Written = tuple[str, str, str, Path]

#: Charts of one run: (file stem, heading, how to read it, function).
RUN_CHARTS: tuple[Chart, ...] = (
    ("backlog", "Backlog over time",
     "Rows that were due but not yet sent, the peak of each hour. A backlog that keeps "
     "rising means the fleet cannot keep up with what falls due.", plot.backlog),
    ("sends_per_hour", "Messages sent per hour, by step",
     "What the devices sent each hour, stacked by step. A flat top is a sending limit "
     "binding.", plot.sends_per_hour),
    ("active_by_step", "Active contacts by step",
     "Contacts waiting at each step (for their delay, or for capacity), at each hour.",
     plot.active_by_step),
    ("lateness_by_step", "Lateness by step",
     "Share of each step's messages sent within a given lateness (sent minus due). "
     "A line reaching the top at the left is on time; the legend gives each step's p95.",
     plot.lateness_by_step),
    ("lateness_causes", "Why messages were late",
     "Each step's mean lateness per sent message, split by what the message waited for: "
     "the poll, a closed send window, the device's limits, the batch limit, an outage, "
     "pacing, retries. The parts add up to the lateness.", plot.lateness_causes),
    ("completion_times", "Completion time against the design",
     "How long contacts took from entry to their last step; the dashed line is the "
     "designed duration (the sum of the step delays).", plot.completion_times),
    ("device_utilisation", "Device utilisation",
     "Messages sent per device per hour; the colour is full at the binding limit: the "
     "hourly limit, or the daily limit spread over 24 hours when that is lower.",
     plot.device_utilisation),
)

#: Charts of a comparison of several runs.
COMPARISON_CHARTS: tuple[Chart, ...] = (
    ("comparison", "Side by side",
     "Every run on the same axes: backlog, sends per hour, active rows, lateness of all "
     "messages and completion time (share of enrolled contacts finished).",
     lambda runs: plot.comparison(runs, plot.COMPARISON_METRICS)),
    ("sends_per_hour", "Messages sent per hour, by step",
     "One panel per run, same scales.", plot.sends_per_hour),
    ("lateness_by_step", "Lateness by step",
     "One panel per run; the legend gives each step's p95.", plot.lateness_by_step),
    ("lateness_causes", "Why messages were late",
     "One panel per run, same scale: each step's mean lateness split by cause.",
     plot.lateness_causes),
    ("completion_times", "Completion time against the design",
     "One panel per run; the dashed line is the designed duration.", plot.completion_times),
)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1120px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
p.caption { color: #444; margin: 0.3em 0 0.6em; }
table { border-collapse: collapse; font-size: 0.95em; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #999; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.problem { color: #a00; font-weight: bold; }
.warning { color: #8a5a00; background: #fff6e0; padding: 0.4em 0.6em; }
nav a { margin-right: 1em; }
"""


def _table_html(frame: Any) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [frame.index.name or "", *frame])
    body = "".join(
        "<tr>" + f"<td>{html.escape(str(label))}</td>"
        + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for label, row in zip(frame.index, frame.to_numpy().tolist(), strict=True)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_MULTILINE_ARRAY = re.compile(r"\[\n((?:[ \t]+[^\[\]{}\n]+,\n)+)\]")


def _compact_toml(text: str) -> str:
    """Return TOML with arrays of plain values on one line (``days = [1, 3, 6, 9]``)."""
    return _MULTILINE_ARRAY.sub(
        lambda m: "[" + ", ".join(v.strip().rstrip(",") for v in m.group(1).splitlines()) + "]",
        text,
    )


def _run_line(result: Result) -> str:
    sim = result.scenario.simulation
    cap = result.scenario.capacity
    engine = result.info.get("engine", sim.engine)
    return (f"{sim.start:%Y-%m-%d %H:%M} UTC + {format_duration(sim.duration)}, "
            f"engine {engine}, seed {sim.seed}, {cap.devices} devices")


def _write_charts(named: dict[str, Result], charts: tuple[Chart, ...], folder: Path,
                  dpi: int) -> list[Written]:
    """Draw ``charts`` of the run(s) and save each as ``<stem>.png``; return what was written."""
    arg: Any = named[""] if list(named) == [""] else named
    written = []
    for stem, heading, caption, draw in charts:
        fig = draw(arg)
        path = folder / f"{stem}.png"
        fig.savefig(path, dpi=dpi)
        written.append((stem, heading, caption, path))
    return written


def write_report(
    results: Result | Mapping[str, Result],
    folder: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Write the charts as PNGs and one self-contained ``report.html`` into ``folder``.

    One Result gives its KPI summary, the seven charts of :data:`RUN_CHARTS` and
    its scenario. A dict of named Results gives the :func:`seqsim.compare`
    table (differences to the first run in brackets), the charts of
    :data:`COMPARISON_CHARTS`, ``compare.csv`` and each run's scenario.

    Args:
        results: a Result, or a dict of name -> Result to compare.
        folder: where to write; created if needed. Files of the same names
            are replaced, nothing else is touched. In a result directory
            the files are added to its manifest, so a later save may still
            replace it.
        title: the report's heading (default: "seqsim run report" or
            "seqsim comparison").
        dpi: resolution of the PNGs (110 gives 1100 px wide charts).

    Returns:
        The path of ``report.html``.

    Raises:
        SeqsimError: ``results`` is not a Result or a dict of Results,
            ``folder`` is an existing file, or ``dpi`` is not a whole number
            from 30 to 600.
    """
    named = named_results(results)
    target = _prepare_folder(folder, dpi)
    if list(named) == [""]:
        contents = _run_contents(named[""], target, dpi)
    else:
        contents = _comparison_contents(named, target, dpi)
    page = _page(title or contents.title, contents, named)
    report = target / "report.html"
    tmp = target / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, report)  # a reader never sees half a report
    written = [path for *_, path in contents.charts] + [report]
    if not contents.single:
        written.append(target / "compare.csv")
    record_files(target, written)  # in a result directory: still only seqsim's own files
    return report


@dataclass(frozen=True)
class _Contents:
    """What a report shows besides the scenarios, for one run or a comparison."""

    title: str                 # the default heading
    table: pd.DataFrame        # the readable KPI table
    charts: list[Written]
    meta: str                  # the line under the heading
    problems: list[str]        # broken invariants, named by run when several
    single: bool               # one run (Summary) or several (Comparison)


def _prepare_folder(folder: str | os.PathLike[str], dpi: Any) -> Path:
    """Return ``folder`` as a Path, created if needed, once ``folder`` and ``dpi`` are valid.

    Raises:
        SeqsimError: ``folder`` is an existing file, or ``dpi`` is not a whole
            number from 30 to 600.
    """
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise SeqsimError(f"folder: {str(target)!r} is not valid; it is a file, expected a "
                          "directory (new or existing)")
    if not isinstance(dpi, int) or isinstance(dpi, bool) or not 30 <= dpi <= 600:
        raise SeqsimError(f"dpi: {dpi!r} is not valid; expected a whole number from 30 to 600")
    target.mkdir(parents=True, exist_ok=True)
    return target


def _run_contents(result: Result, target: Path, dpi: int) -> _Contents:
    """Return one run's report contents, writing its charts into ``target``."""
    table = readable(compare({"value": result}, diffs=False))
    table.columns = ["value"]
    return _Contents(
        title="seqsim run report",
        table=table,
        charts=_write_charts({"": result}, RUN_CHARTS, target, dpi),
        meta=_run_line(result),
        problems=list(result.info.get("invariant_violations") or []),
        single=True,
    )


def _comparison_contents(named: dict[str, Result], target: Path, dpi: int) -> _Contents:
    """Return a comparison's report contents, writing compare.csv and its charts."""
    frame = compare(named)
    frame.to_csv(target / "compare.csv")
    return _Contents(
        title="seqsim comparison",
        table=readable(frame),
        charts=_write_charts(named, COMPARISON_CHARTS, target, dpi),
        meta=f"{len(named)} runs; differences are to the first, {next(iter(named))!r}",
        problems=[f"{name}: {p}" for name, r in named.items()
                  for p in r.info.get("invariant_violations") or []],
        single=False,
    )


def _page(title: str, contents: _Contents, named: dict[str, Result]) -> str:
    """Return the report's HTML: heading, tables, problems, charts, then the scenarios."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(contents.meta)}. Written '
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by seqsim.</p>",
        "<nav>" + "".join(f'<a href="#{stem}">{html.escape(heading)}</a>'
                          for stem, heading, _c, _p in contents.charts)
        + '<a href="#steps">Steps</a><a href="#scenario">Scenario</a></nav>',
        "<h2>Summary</h2>" if contents.single else "<h2>Comparison</h2>",
        _table_html(contents.table),
    ]
    if not contents.single:
        differences = scenario_differences(named)
        parts.append("<h2>What differs between the scenarios</h2>")
        parts.append(_table_html(differences) if not differences.empty
                     else "<p>Nothing: the runs had identical scenarios.</p>")
    parts += [f'<p class="problem">Invariant broken: {html.escape(p)}</p>'
              for p in contents.problems]
    parts += _step_parts(named, contents.single)
    parts += _chart_parts(contents.charts)
    parts += _scenario_parts(named, contents.single)
    parts.append("</body></html>")
    return "\n".join(parts)


def _step_parts(named: dict[str, Result], single: bool) -> list[str]:
    """Return each run's per-step table and, when the run ended with work left, the
    warning that says what (the lateness KPIs leave those rows out)."""
    parts = ['<h2 id="steps">Steps</h2>',
             '<p class="caption">Per step: sends, failed attempts, lateness of the sent '
             "messages, completion time from enrolment, the last completion, rows "
             "due but unsent at the end (waiting, or queued on a device), and the mean "
             "lateness of the sent messages by cause (the causes that occurred).</p>"]
    for name, result in named.items():
        if not single:
            parts.append(f"<h3>{html.escape(name)}</h3>")
        warning = unfinished_warning(result)
        if warning:
            parts.append(f'<p class="warning">{html.escape(warning[0].upper() + warning[1:])}.</p>')
        parts.append(_table_html(readable_steps(result.steps)))
    return parts


def _chart_parts(charts: list[Written]) -> list[str]:
    """Return each chart's heading, caption and PNG embedded as base64."""
    parts = []
    for stem, heading, caption, path in charts:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts += [
            f'<h2 id="{stem}">{html.escape(heading)}</h2>',
            f'<p class="caption">{html.escape(caption)}</p>',
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(heading)}">',
        ]
    return parts


def _scenario_parts(named: dict[str, Result], single: bool) -> list[str]:
    """Return each run's scenario as TOML (named, with its run line, when several)."""
    parts = ['<h2 id="scenario">Scenario</h2>']
    for name, result in named.items():
        if not single:
            parts.append(f"<h3>{html.escape(name)}</h3><p class=\"meta\">"
                         f"{html.escape(_run_line(result))}</p>")
        parts.append(f"<pre>{html.escape(_compact_toml(result.scenario.to_toml()))}</pre>")
    return parts
