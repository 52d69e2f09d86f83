"""What a run's metrics are, and their tolerances (see :mod:`seqsim.baseline`)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any, NamedTuple

import pandas as pd

from seqsim.baseline.errors import BaselineError
from seqsim.results.result import SUMMARY_FLAGS, SUMMARY_KEYS, Result
from seqsim.validation import is_finite, is_number

__all__ = [
    "DEFAULT_TOLERANCES",
    "EXACT_METRICS",
    "NEW_METRICS",
    "SEED_SE",
    "SeedValue",
    "default_tolerance",
    "non_negative",
    "parse_tolerance",
    "result_metrics",
    "round6",
    "seed_metrics",
]

#: ``(pattern, abs, rel)``: the default tolerance of a metric is the first row
#: whose shell-style pattern matches its name. Counts may move by 1 %; lateness
#: (and the unsent rows' wait so far) by a minute or 5 %; completion times by a
#: quarter of an hour (a step delay one hour off must fail); per-day counts by 5
#: messages or 2 % (a send near midnight may change day); the invariant metrics
#: not at all.
DEFAULT_TOLERANCES: tuple[tuple[str, float, float], ...] = (
    ("summary.duplicate_sends", 0, 0.0),
    ("summary.lost_contacts", 0, 0.0),
    ("summary.max_active_rows_per_contact", 0, 0.0),
    ("summary.early_sends", 0, 0.0),
    ("summary.stuck_contacts", 0, 0.0),
    ("summary.lateness_*", 60, 0.05),
    ("summary.late_by_claim_release_s", 60, 0.05),
    ("summary.unsent_wait_*", 60, 0.05),
    ("steps.*.lateness_*", 60, 0.05),
    ("summary.*_hours", 0.25, 0.0),
    ("summary.drift_hours_*", 0.25, 0.0),
    ("steps.*.completion_*", 0.25, 0.0),
    ("daily.*", 5, 0.02),
    ("*", 0, 0.01),
)
#: Metrics whose tolerance is never widened by the spread over seeds.
EXACT_METRICS: tuple[str, ...] = (
    "summary.duplicate_sends",
    "summary.lost_contacts",
    "summary.max_active_rows_per_contact",
)
#: Summary KPIs added after baselines were first recorded: a baseline without
#: them is still valid, and a check reports them as passing "new metric" rows
#: until the baseline is re-recorded.
NEW_METRICS: tuple[str, ...] = (
    "summary.early_sends",
    "summary.drift_hours_p50",
    "summary.drift_hours_p95",
    "summary.drift_hours_max",
    "summary.max_messages_per_contact_per_hour",
    "summary.skipped_steps",
    "summary.stuck_contacts",
    "summary.late_by_claim_release_s",
    "summary.last_contact_finished_hours",
    "summary.queued_at_peak_backlog",
    "summary.unsent_due_at_end",
    "summary.unsent_waiting_at_end",
    "summary.unsent_queued_at_end",
    "summary.unsent_wait_lower_bound_s_p50",
    "summary.unsent_wait_lower_bound_s_max",
)
SEED_SE = 3.0  # seeds: abs tolerance >= this many standard errors of the mean
_TOLERANCE_EXPECTED = (
    "{'abs': number >= 0, 'rel': number >= 0} (either may be left out) or (abs, rel)"
)


def round6(value: float) -> float:
    """Return ``value`` as a float rounded to 6 decimals, as metrics are stored."""
    return round(float(value), 6)


def non_negative(value: Any) -> bool:
    """Return whether ``value`` is a finite number >= 0 (a valid tolerance or spread)."""
    return is_finite(value) and value >= 0


def result_metrics(result: Result) -> dict[str, int | float | None]:
    """Return the metrics a baseline records for one run, by name (see module doc)."""
    metrics: dict[str, int | float | None] = {}
    for key in SUMMARY_KEYS:
        if key in SUMMARY_FLAGS:
            continue
        value = result.summary.get(key)
        if value is None or is_number(value):
            metrics[f"summary.{key}"] = value
    per_step = ("sent", "failed", "lateness_p50_s", "lateness_p95_s", "lateness_max_s",
                "completion_p50_h", "completion_p95_h", "completion_max_h")
    for row in result.steps.to_dict("records"):
        prefix = f"steps.{row['sequence']}.day{int(row['day_number'])}"
        for what in per_step:
            value = row[what]
            if value is None or pd.isna(value):
                metrics[f"{prefix}.{what}"] = None
            else:
                metrics[f"{prefix}.{what}"] = (int(value) if what in ("sent", "failed")
                                               else float(value))
    sent = result.sends[result.sends["outcome"] == "sent"]
    sim = result.scenario.simulation
    first = pd.Timestamp(sim.start).normalize()
    last = pd.Timestamp(sim.end - timedelta(microseconds=1)).normalize()
    per_day = sent["sent_at"].dt.floor("D").value_counts()
    days = pd.date_range(first, last, freq="D").union(pd.DatetimeIndex(per_day.index))
    for day in days:
        metrics[f"daily.{day:%Y-%m-%d}.sent"] = int(per_day.get(day, 0))
    return metrics


class SeedValue(NamedTuple):
    """A metric over the runs of a baseline's seeds."""

    value: Any  # one run's value, or the mean over the runs that have one (None: none has)
    sd: float | None  # sample standard deviation over those runs (None: fewer than two)
    n: int  # how many runs have a value: the standard error of the mean is sd / sqrt(n)


def _mean_metrics(runs: Sequence[Mapping[str, Any]]) -> dict[str, SeedValue]:
    """Return ``name -> SeedValue``: the value of one run, or the mean over runs.

    A metric with no value in some runs (a percentile with nothing to measure
    for that seed) is averaged over the runs that have one, and ``n`` counts
    those: a spread over fewer runs is a wider standard error, and one value
    has no spread at all (``sd`` None, not 0).
    """
    out: dict[str, SeedValue] = {}
    names = dict.fromkeys(name for run in runs for name in run)
    for name in names:
        values = [run.get(name) for run in runs]
        present = [float(v) for v in values if v is not None]
        if len(runs) == 1:
            out[name] = SeedValue(values[0], None, len(present))
        elif not present:
            out[name] = SeedValue(None, None, 0)
        else:
            sd = round6(statistics.stdev(present)) if len(present) > 1 else None
            out[name] = SeedValue(round6(statistics.fmean(present)), sd, len(present))
    return out


def seed_metrics(results: Sequence[Result]) -> dict[str, SeedValue]:
    """Return ``name -> SeedValue`` over the runs of each seed: a single run's
    value (``sd`` None), or the mean over the runs that have a value, their
    sample standard deviation and their count."""
    return _mean_metrics([result_metrics(r) for r in results])


def default_tolerance(name: str) -> tuple[float, float]:
    """Return the default ``(abs, rel)`` tolerance of metric ``name``."""
    for pattern, absolute, relative in DEFAULT_TOLERANCES:
        if fnmatchcase(name, pattern):
            return absolute, relative
    return 0, 0.0  # pragma: no cover - the last pattern matches everything


def parse_tolerance(pattern: str, spec: Any) -> tuple[float, float]:
    """Return the ``(abs, rel)`` of tolerance ``spec`` given for metrics ``pattern``.

    Raises:
        BaselineError: ``spec`` is not ``{"abs": a, "rel": r}`` (either may be
            left out) or ``(abs, rel)`` of finite numbers >= 0.
    """
    invalid = BaselineError(
        f"tolerances[{pattern!r}]: {spec!r} is not valid; expected {_TOLERANCE_EXPECTED}"
    )
    if isinstance(spec, Mapping) and set(spec) <= {"abs", "rel"} and spec:
        absolute, relative = spec.get("abs", 0), spec.get("rel", 0.0)
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        absolute, relative = spec
    else:
        raise invalid
    if not (non_negative(absolute) and non_negative(relative)):
        raise invalid
    return absolute, relative
