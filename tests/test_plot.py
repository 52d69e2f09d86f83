"""seqsim.plot: every chart renders headless from a small real run and carries its data."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import seqsim
from seqsim import Result, SeqsimError, plot
from seqsim.plot.data import completion_frame
from tests.small_runs import backlog_run, calm_run, chained_run

CHARTS = [plot.backlog, plot.sends_per_hour, plot.active_by_step, plot.lateness_by_step,
          plot.completion_times, plot.device_utilisation, plot.lateness_causes]


@pytest.fixture(scope="module")
def run() -> Result:
    res = backlog_run()
    assert res.summary["peak_backlog"] > 0 and res.summary["messages_failed"] > 0
    assert 0 < res.summary["contacts_completed"] < res.summary["contacts_enrolled"]
    return res


@pytest.fixture(scope="module")
def runs(run: Result) -> dict[str, Result]:
    return {"2 devices": run, "4 devices": backlog_run(4)}


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    return buf.getvalue()


def data_axes(fig: Figure) -> list[Axes]:
    """The figure's plotting axes (colorbars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def hours(result: Result) -> int:
    return int(result.scenario.simulation.duration.total_seconds() // 3600)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda f: f.__name__)
def test_every_chart_renders_with_title_labels_and_data(chart, run: Result) -> None:
    fig = chart(run)
    assert isinstance(fig, Figure)
    assert png_bytes(fig).startswith(b"\x89PNG")
    for ax in data_axes(fig):
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.lines or ax.collections or ax.patches or ax.images
        assert "second" not in ax.get_xlabel() or chart is plot.lateness_by_step


def test_backlog_line_is_the_hourly_peak_of_the_timeline(run: Result) -> None:
    (ax,) = plot.backlog(run).axes
    (line,) = ax.lines
    y = np.asarray(line.get_ydata())
    assert y.max() == run.summary["peak_backlog"]
    assert len(y) == hours(run) + 1  # one value per hour plus the closing edge
    x = np.asarray(line.get_xdata())
    assert x[0] == 0 and x[-1] == pytest.approx(5.0)  # days
    assert ax.get_xlabel() == "days since 2025-07-01 00:00 UTC"


def test_backlog_of_several_results_shares_one_axes(runs: dict[str, Result]) -> None:
    (ax,) = plot.backlog(runs).axes
    assert [line.get_label() for line in ax.lines] == list(runs)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(runs)
    assert max(ax.lines[1].get_ydata()) == runs["4 devices"].summary["peak_backlog"]


def test_backlog_of_a_run_without_backlog_says_so() -> None:
    calm = calm_run()
    assert calm.summary["peak_backlog"] == 0
    (ax,) = plot.backlog(calm).axes
    assert ax.get_ylim()[1] >= 10  # no 0..0.05 axis for an all-zero line
    assert any("no backlog" in t.get_text() for t in ax.texts)


def test_sends_per_hour_stacks_every_attempt_by_step(run: Result) -> None:
    (ax,) = plot.sends_per_hour(run).axes
    labels = [p.get_label() for p in ax.patches]
    assert labels == ["day 1", "day 2", "day 3", "day 4", "failed attempts"]
    top = ax.patches[-1].get_data()
    assert top.values.sum() == len(run.sends)  # the stack's top is all attempts
    assert len(top.values) == hours(run)
    first = ax.patches[0].get_data()
    sent_day1 = ((run.sends["day_number"] == 1) & (run.sends["outcome"] == "sent")).sum()
    assert (first.values - first.baseline).sum() == sent_day1
    assert "per hour" in ax.get_ylabel()


def test_active_by_step_ends_at_the_active_rows_left(run: Result) -> None:
    (ax,) = plot.active_by_step(run).axes
    assert len(ax.collections) == 4  # one stacked layer per step
    top = ax.collections[-1].get_paths()[0].vertices
    at_end = top[np.isclose(top[:, 0], 5.0), 1].max()
    assert at_end == (run.contacts["status"] == "active").sum()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["day 4", "day 3", "day 2", "day 1"]  # same order as the stack


def test_lateness_ecdf_has_one_line_per_step_on_a_log_duration_axis(run: Result) -> None:
    (ax,) = plot.lateness_by_step(run).axes
    steps = [line for line in ax.lines if line.get_label().startswith("day")]
    assert len(steps) == 4
    sent = run.sends[run.sends["outcome"] == "sent"]
    for line, day in zip(steps, [1, 2, 3, 4], strict=True):
        expected = sent.loc[sent["day_number"] == day, "lateness_s"].max()
        assert np.nanmax(line.get_xdata()) == pytest.approx(expected)
        assert np.nanmax(line.get_ydata()) == pytest.approx(1.0)
    assert ax.get_xscale() == "symlog"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1 h" in ticks and "1 min" in ticks  # durations, not raw seconds
    assert ax.get_legend().get_title().get_text() == "step (p95)"


def test_lateness_box_draws_a_box_per_step(run: Result) -> None:
    (ax,) = plot.lateness_by_step(run, kind="box").axes
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["day 1", "day 2", "day 3", "day 4"]
    assert ax.get_yscale() == "symlog"


def test_lateness_of_a_punctual_run_uses_seconds_on_a_linear_axis() -> None:
    (ax,) = plot.lateness_by_step(calm_run()).axes
    assert ax.get_xscale() == "linear"
    assert "seconds" in ax.get_xlabel()


def test_lateness_causes_stack_to_each_steps_mean_lateness(run: Result) -> None:
    (ax,) = plot.lateness_causes(run).axes
    assert "hours" in ax.get_xlabel() or "minutes" in ax.get_xlabel()
    scale = 3600.0 if "hours" in ax.get_xlabel() else 60.0
    widths: dict[float, float] = {}
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2, 6)
        widths[y] = widths.get(y, 0.0) + patch.get_width() * scale
    steps = run.steps
    sent = run.sends[run.sends["outcome"] == "sent"]
    mean = sent.groupby(["sequence", "day_number"])["lateness_s"].mean()
    expected = [mean.get((r.sequence, r.day_number), 0.0) for r in steps.itertuples()]
    got = [widths.get(float(y), 0.0) for y in range(len(steps))[::-1]]
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-3)
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert "device limits (hourly, daily, in flight)" in labels


def test_completion_times_counts_finished_contacts_against_the_design(run: Result) -> None:
    (ax,) = plot.completion_times(run).axes
    bars = sum(p.get_height() for p in ax.patches)
    assert bars == run.summary["contacts_completed"]
    (designed,) = [line for line in ax.lines if "designed" in line.get_label()]
    assert designed.get_xdata()[0] == pytest.approx(3.0)  # 72 h, in days
    assert ax.get_xlabel() == "completion time (days)"
    unfinished = run.summary["contacts_enrolled"] - run.summary["contacts_completed"]
    assert f"{unfinished:,} not finished" in ax.get_legend().get_texts()[0].get_text()


def test_device_utilisation_heatmap_holds_every_sent_message(run: Result) -> None:
    fig = plot.device_utilisation(run)
    (ax,) = data_axes(fig)
    (image,) = ax.images
    grid = np.asarray(image.get_array())
    assert grid.shape == (2, hours(run))
    assert grid.sum() == run.summary["messages_sent"]
    assert grid.max() <= run.scenario.capacity.hourly_limit
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dev-001", "dev-002"]
    colorbar = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert colorbar and "per hour" in colorbar[0].get_ylabel()


@pytest.mark.parametrize("chart", CHARTS[1:], ids=lambda f: f.__name__)
def test_a_dict_gives_one_panel_per_result(chart, runs: dict[str, Result]) -> None:
    axes = data_axes(chart(runs))
    assert len(axes) == 2
    for ax, name in zip(axes, runs, strict=True):
        assert ax.get_title().endswith(f": {name}")
        assert ax.lines or ax.collections or ax.patches or ax.images


def test_chained_sequences_are_labelled_and_coloured_per_sequence() -> None:
    res = chained_run()
    (ax,) = plot.sends_per_hour(res).axes
    labels = [p.get_label() for p in ax.patches]
    assert labels[:4] == ["COLD day 1", "COLD day 3", "COLD day 6", "COLD day 9"]
    assert labels[4:] == ["WARM day 1", "WARM day 2", "WARM day 4", "HOT day 1", "HOT day 2"]
    colors = {tuple(np.round(p.get_facecolor(), 3)) for p in ax.patches}
    assert len(colors) == len(labels)
    (ax,) = plot.completion_times(res).axes
    designs = sorted(line.get_xdata()[0] for line in ax.lines)
    assert designs == pytest.approx([1.0, 3.0, 8.0])  # HOT, WARM, COLD in days


def test_comparison_overlays_results_one_panel_per_metric(runs: dict[str, Result]) -> None:
    fig = plot.comparison(runs)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "Backlog (rows due but not yet sent)", "Messages sent per hour",
        "Lateness of sent messages, all steps", "Completion time: entry to last step"]
    for ax in axes:
        names = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
        assert all(any(n.startswith(r) for n in names) for r in runs), names
    sends = axes[1].lines
    assert sends[0].get_ydata()[:-1].sum() == runs["2 devices"].summary["messages_sent"]


def test_comparison_sends_per_day_and_active(runs: dict[str, Result]) -> None:
    fig = plot.comparison(runs, ["sends", "active"], freq="1D")
    sends, active = fig.axes
    assert sends.get_ylabel() == "messages per day"
    assert len(sends.lines[0].get_ydata()) == 5 + 1
    assert active.lines and active.get_ylabel() == "active rows"
    assert len(plot.comparison(runs, "lateness").axes) == 1


def test_drawing_into_a_given_axes(run: Result) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.backlog(run, ax) is fig
    assert plot.sends_per_hour(run, ax=ax) is fig
    assert ax.lines and ax.patches


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: plot.backlog(r.sends), "results: DataFrame is not valid; expected a "
         "seqsim.Result or a dict"),
        (lambda r: plot.backlog({}), "results: an empty dict is not valid"),
        (lambda r: plot.sends_per_hour({"a": r, "b": 3}), "results['b']: int is not valid"),
        (lambda r: plot.lateness_by_step(r, kind="violin"), "kind: 'violin' is not valid; "
         "expected one of 'ecdf', 'box'"),
        (lambda r: plot.backlog(r, ax="left"), "ax: str is not valid; expected a matplotlib"),
        (lambda r: plot.sends_per_hour({"a": r, "b": r}, ax=Figure().add_subplot()),
         "ax: an Axes is not valid with several results"),
        (lambda r: plot.comparison({"a": r}, ["backlog", "speed"]), "metrics: 'speed' is not "
         "valid; expected one of 'backlog', 'sends', 'active', 'lateness', 'completion'"),
        (lambda r: plot.comparison({"a": r}, []), "metrics: [] is not valid"),
        (lambda r: plot.comparison({"a": r}, freq="15min"), "freq: '15min' is not valid"),
        (lambda r: plot.comparison({"a": r}, freq="soon"), "freq: 'soon' is not valid"),
    ],
)
def test_bad_arguments_name_the_argument(call, message: str, run: Result) -> None:
    with pytest.raises(SeqsimError) as info:
        call(run)
    assert message in str(info.value)


def test_charts_render_in_threads(run: Result) -> None:
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(lambda chart: png_bytes(chart(run)), CHARTS))
    assert all(image.startswith(b"\x89PNG") for image in images)


def test_human_duration() -> None:
    assert [plot.human_duration(s) for s in (0, 4.4, 90, 3600, 5400, 86_400 * 3.5)] == [
        "0 s", "4.4 s", "1.5 min", "1 h", "1.5 h", "3.5 d"]


def test_import_seqsim_does_not_import_matplotlib() -> None:
    code = ("import sys, seqsim; assert 'matplotlib' not in sys.modules; "
            "seqsim.plot; assert 'matplotlib' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_is_the_only_module_importing_matplotlib() -> None:
    plot_package = Path(plot.__file__).parent
    statement = re.compile(r"^\s*(import|from) matplotlib", re.MULTILINE)
    importers = [p for p in plot_package.parent.rglob("*.py") if statement.search(p.read_text())]
    assert importers, "the plotting package draws with matplotlib"
    assert [p for p in importers if plot_package not in p.parents] == []


def test_timeline_gaps_carry_the_last_value(run: Result) -> None:
    thin = Result(run.scenario, run.sends, run.timeline.iloc[::500].reset_index(drop=True),
                  run.contacts, run.summary, run.tables, run.info)
    (ax,) = plot.backlog(thin).axes
    y = np.asarray(ax.lines[0].get_ydata())
    assert len(y) == hours(run) + 1 and not pd.isna(y).any()


def test_completion_counts_each_contact_once_when_a_fault_doubled_its_rows() -> None:
    """Two pollers without claims or a unique key insert some steps twice: each
    (sequence, contact) is still one completion, entered at its first entry row
    and done at its first completion of the last step."""
    scenario = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "4d",
                       "poll_interval": "1m", "seed": 3},
        "sequences": [{"name": "A", "trigger": "a", "days": [1, 2]}],
        "workload": [{"kind": "burst", "trigger": "a", "count": 40}],
        "capacity": {"devices": 2, "batch_size": 50},
        "faults": {"pollers": 2, "claiming": "none", "duplicate_guard": "check_then_insert"},
    })
    run = seqsim.simulate(scenario, engine="row", progress=False)
    contacts, steps = run.contacts, run.tables["sequence_steps"]
    entry = contacts[contacts["sequence_stepid"].isin(steps.loc[steps["is_entry_point"], "id"])]
    doubled = entry.groupby("contact_phone", observed=True).size()
    assert (doubled > 1).any()  # the fault did double some entry rows
    frame = completion_frame(run)
    assert len(frame) == 40 and frame["contact_phone"].is_unique
    last = contacts[(contacts["current_step"] == 2) & (contacts["status"] == "completed")]
    expected = ((last.groupby("contact_phone", observed=True)["completed_at"].min()
                 - entry.groupby("contact_phone", observed=True)["created_at"].min())
                .dt.total_seconds() / 3600)
    got = frame.set_index("contact_phone")["hours"]
    pd.testing.assert_series_equal(got.loc[expected.index].astype(float),
                                   expected.astype(float), check_names=False,
                                   check_index_type=False)
    (ax,) = plot.completion_times(run).axes
    assert sum(p.get_height() for p in ax.patches) == len(expected)
