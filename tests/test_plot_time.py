"""Chart time axes in a display zone, cropped to activity; utilisation scaled to the
binding limit; runs told apart by line style."""

from __future__ import annotations

import matplotlib.colors
import pytest

import seqsim
from seqsim.errors import SeqsimError
from tests.small_runs import backlog_run, backlog_scenario, calm_run


@pytest.fixture(scope="module")
def finished() -> seqsim.Result:
    """Everyone enrolled on day 1 and done by day 5 of a 20-day run."""
    scenario = backlog_scenario(**{"simulation.duration": "20d", "capacity.devices": 4,
                                   "capacity.hourly_limit": 80, "capacity.daily_limit": 800,
                                   "capacity.failure_rate": 0.0,
                                   "workload.0.end": "2025-07-02T00:00:00"})
    return seqsim.simulate(scenario, progress=False)


def test_tz_labels_ticks_as_local_dates_at_local_midnight() -> None:
    fig = seqsim.plot.backlog(backlog_run(2), tz="Asia/Kuala_Lumpur")
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    # The run starts 2025-07-01 00:00 UTC = Tue 08:00 in Kuala Lumpur (UTC+8): the
    # first local midnight is Wed 2 Jul, 16 hours (2/3 of a day) in.
    assert labels[0] == "Wed 02 Jul"
    assert ax.get_xticks()[0] == pytest.approx(16 / 24)
    assert ax.get_xlabel() == "date in Asia/Kuala_Lumpur (ticks at local midnight)"


def test_every_time_chart_takes_tz_and_rejects_a_bad_zone() -> None:
    res = backlog_run(2)
    for draw in (seqsim.plot.backlog, seqsim.plot.sends_per_hour, seqsim.plot.active_by_step,
                 seqsim.plot.device_utilisation):
        fig = draw(res, tz="US/Eastern")
        assert fig.axes[0].get_xlabel().startswith("date in US/Eastern")
        with pytest.raises(SeqsimError, match=r"tz: 'Mars/Base' is not valid"):
            draw(res, tz="Mars/Base")
    fig = seqsim.plot.comparison({"a": res}, ["backlog", "sends"], tz="UTC")
    assert fig.axes[1].get_xlabel() == "date in UTC (ticks at local midnight)"


def test_x_range_ends_after_the_last_activity_of_a_finished_run(finished: seqsim.Result
                                                                ) -> None:
    assert finished.summary["contacts_active"] == 0
    last = finished.sends["sent_at"].max() - finished.scenario.simulation.start
    ax = seqsim.plot.sends_per_hour(finished).axes[0]
    right = ax.get_xlim()[1]
    assert last.total_seconds() / 86400 < right < last.total_seconds() / 86400 * 1.1 + 0.05
    assert right < 20
    # a run that ended with work left is shown whole
    assert seqsim.plot.backlog(backlog_run(2)).axes[0].get_xlim()[1] == pytest.approx(5)


def test_utilisation_is_scaled_to_the_binding_limit() -> None:
    # backlog_run: hourly limit 6, daily 60 = 2.5 an hour: the daily limit binds
    fig = seqsim.plot.device_utilisation(backlog_run(2))
    image = fig.axes[0].images[0]
    assert image.norm.vmax == pytest.approx(60 / 24)
    assert "daily limit, 60 / 24 h" in fig.axes[0].get_title()
    calm = seqsim.plot.device_utilisation(calm_run())  # 80 an hour, 800 a day: daily binds
    assert calm.axes[0].images[0].norm.vmax == pytest.approx(800 / 24)
    hourly = backlog_scenario(**{"capacity.hourly_limit": 2, "simulation.duration": "1d",
                                 "workload.0.end": "2025-07-02T00:00:00"})
    fig = seqsim.plot.device_utilisation(seqsim.simulate(hourly, progress=False))
    assert fig.axes[0].images[0].norm.vmax == 2
    assert "hourly limit, 2" in fig.axes[0].get_title()


def test_runs_differ_in_line_style_as_well_as_colour() -> None:
    runs = {"2 devices": backlog_run(2), "4 devices": backlog_run(4), "calm": calm_run()}
    for fig in (seqsim.plot.backlog(runs),
                seqsim.plot.comparison(runs, ["sends", "active", "lateness", "completion"])):
        for ax in fig.axes:
            lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith(
                ("designed", "95%", "_"))]
            if len(lines) < 2:
                continue
            styles = {str(ln.get_linestyle()) for ln in lines}
            colours = {matplotlib.colors.to_hex(ln.get_color()) for ln in lines}
            assert len(styles) == len(lines) and len(colours) == len(lines), ax.get_title()
