"""Charts of a run: backlog, sends, active contacts, lateness, completion, devices.

The only package that imports matplotlib. Every function takes a
:class:`~seqsim.Result` or a dict of named Results and returns a
:class:`matplotlib.figure.Figure` built without pyplot, so it works headless,
in threads and in notebooks (a Figure as a cell's last value is displayed).
Save one with ``fig.savefig("chart.png")``.

With a dict, :func:`backlog` draws one line per result on the same axes; the
charts that stack by step (:func:`sends_per_hour`, :func:`active_by_step`,
:func:`lateness_by_step`, :func:`completion_times`,
:func:`device_utilisation`, :func:`lateness_causes`) draw one panel per result,
with shared axes so they read side by side. :func:`comparison` overlays several results on the same
axes, one panel per metric. :func:`sweep` draws a sweep's means with their
confidence intervals, one series per combination of the other grid keys.

Time axes read "days since start" (hours for runs up to three days), binned by
hour, or, with ``tz="Asia/Kuala_Lumpur"`` (any IANA zone), dates and weekdays
in that zone with ticks at its midnights; a run that finished its work is shown
up to shortly after its last activity. Runs on one axes differ in line style as
well as colour. :func:`device_utilisation` tops its colour scale at the
binding limit's hourly rate (the daily limit / 24 when that is below the hourly
limit). Lateness is shown as a duration (s, min, h, d), never raw seconds.

>>> import seqsim
>>> scn = seqsim.Scenario.from_toml("data/scenarios/backlog.toml")
>>> res = seqsim.simulate(scn)                              # doctest: +SKIP
>>> seqsim.plot.backlog(res).savefig("backlog.png")         # doctest: +SKIP
"""

from __future__ import annotations

from seqsim.analysis.durations import human_duration as human_duration
from seqsim.plot.causes import lateness_causes
from seqsim.plot.charts import (
    active_by_step,
    backlog,
    completion_times,
    device_utilisation,
    lateness_by_step,
    sends_per_hour,
)
from seqsim.plot.intervals import sweep_intervals as sweep
from seqsim.plot.overlay import COMPARISON_METRICS, comparison

__all__ = [
    "COMPARISON_METRICS",
    "active_by_step",
    "backlog",
    "comparison",
    "completion_times",
    "device_utilisation",
    "lateness_by_step",
    "lateness_causes",
    "sends_per_hour",
    "sweep",
]
