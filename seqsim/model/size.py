"""How big a run is, checked when a scenario is validated, before anything is allocated.

A run holds one timeline row per poll (about 400 bytes: ten million polls
are about 4 GB), does per-device work at the polls it runs, and keeps every
lead's rows in memory (about 3 KB a lead and step reached). Each of the
three has a documented ceiling; `check_run_size` rejects a scenario beyond
any of them with one `ScenarioError` that says how big the run would be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from seqsim.model.workload import MAX_ARRIVALS, WorkloadConfig
from seqsim.units import HOUR_US, ONE_US, format_duration
from seqsim.validation import fail

__all__ = [
    "MAX_DEVICE_POLLS",
    "MAX_POLLS",
    "check_polls",
    "check_run_size",
    "expected_arrivals",
    "poll_count",
]

#: The most polls a run has (duration / poll_interval): e.g. 4.7 years at 15 s.
MAX_POLLS = 10_000_000
#: The most devices x polls: a year at 15 s on a 3,000-device fleet is 6.3e9.
MAX_DEVICE_POLLS = 10**10


def poll_count(duration: timedelta, poll: timedelta) -> int:
    """Return how many polls a run of ``duration`` at ``poll`` intervals has (rounded up)."""
    return -(-duration // poll)


def check_polls(duration: timedelta, poll: timedelta, value: object) -> None:
    """Reject a poll interval (``value``, as given) that makes more than `MAX_POLLS` polls.

    Raises:
        ScenarioError: naming ``simulation.poll_interval``, the poll count and
            the shortest interval the duration allows.
    """
    polls = poll_count(duration, poll)
    if polls > MAX_POLLS:
        shortest = format_duration(timedelta(microseconds=-(-(duration // ONE_US) // MAX_POLLS)))
        raise fail("simulation.poll_interval", value,
                   f"at most {MAX_POLLS:,} polls in the run's {format_duration(duration)} "
                   f"(this is {polls:,} polls): a poll_interval >= {shortest} or a "
                   "shorter duration")


def expected_arrivals(wl: WorkloadConfig, start: datetime, end: datetime,
                      trace_rows: int = 0) -> float:
    """Return how many leads ``wl`` enrols in a run [start, end), on average.

    ``trace_rows``: a trace workload's rows inside its window (the caller read it).
    """
    if wl.kind == "trace":
        return float(trace_rows)
    if wl.kind == "burst":
        return float(wl.count or 0)
    lo = start if wl.start is None else max(start, wl.start)
    hi = end if wl.end is None else min(end, wl.end)
    hours = max(0, (hi - lo) // ONE_US) / HOUR_US
    rate = wl.rate_per_hour or 0.0
    # A constant workload also sends one at the window's start; the others average rate x hours.
    return math.floor(rate * hours) + 1.0 if wl.kind == "constant" else rate * hours


def check_run_size(start: datetime, end: datetime, poll: timedelta, devices: int,
                   workloads: Sequence[WorkloadConfig], trace_rows: Sequence[int]) -> None:
    """Reject a run larger than `MAX_DEVICE_POLLS` or `MAX_ARRIVALS`.

    ``trace_rows`` has one count per workload (0 for generated kinds).

    Raises:
        ScenarioError: naming ``capacity.devices`` or the workload that
            contributes most, with the size of the run and the ceiling.
    """
    polls = poll_count(end - start, poll)
    if devices * polls > MAX_DEVICE_POLLS:
        raise fail("capacity.devices", devices,
                   f"at most {MAX_DEVICE_POLLS:,} devices x polls (this run is {devices:,} x "
                   f"{polls:,} = {devices * polls:,}): fewer devices, fewer polls or a "
                   "shorter run")
    counts = [expected_arrivals(wl, start, end, n)
              for wl, n in zip(workloads, trace_rows, strict=True)]
    total = sum(counts)
    if total > MAX_ARRIVALS:
        i = max(range(len(counts)), key=counts.__getitem__)
        wl = workloads[i]
        name = {"trace": "path", "burst": "count"}.get(wl.kind, "rate_per_hour")
        share = f", {counts[i]:,.0f} of them from workload[{i}]" if len(counts) > 1 else ""
        raise fail(f"workload[{i}].{name}", getattr(wl, name),
                   f"at most {MAX_ARRIVALS:,} leads enrolled per run (this run would enrol "
                   f"about {total:,.0f}{share}): a lower rate or count, or a shorter window")
