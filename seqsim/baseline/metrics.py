"""What a run's metrics are, and their tolerances (see :mod:`seqsim.baseline`)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import pandas as pd

from seqsim.baseline.errors import BaselineError
from seqsim.results.result import SUMMARY_KEYS, Result
from seqsim.validation import is_finite, is_number

__all__ = [
    "DEFAULT_TOLERANCES",
    "EXACT_METRICS",
    "NEW_METRICS",
    "SEED_SE",
    "default_tolerance",
    "non_negative",
    "parse_tolerance",
    "result_metrics",
    "round6",
    "seed_metrics",
]

#: ``(pattern, abs, rel)``: the default tolerance of a metric is the first row
#: whose shell-style pattern matches its name. Counts may move by 1 %; lateness
#: by a minute or 5 %; completion times by a quarter of an hour (a step delay
#: one hour off must fail); per-day counts by 5 messages or 2 % (a send near
#: midnight may change day); the invariant metrics not at all.
DEFAULT_TOLERANCES: tuple[tuple[str, float, float], ...] = (
    ("summary.duplicate_sends", 0, 0.0),
    ("summary.lost_contacts", 0, 0.0),
    ("summary.max_active_rows_per_contact", 0, 0.0),
    ("summary.early_sends", 0, 0.0),
    ("summary.stuck_contacts", 0, 0.0),
    ("summary.lateness_*", 60, 0.05),
    ("summary.late_by_claim_release_s", 60, 0.05),
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
)
SEED_SE = 3.0  # seeds: abs tolerance >= this many standard errors of the mean
_QUANTILES = (("p50", 0.50), ("p95", 0.95), ("max", 1.0))
_TOLERANCE_EXPECTED = (
    "{'abs': number >= 0, 'rel': number >= 0} (either may be left out) or (abs, rel)"
)


def round6(value: float) -> float:
    """Return ``value`` as a float rounded to 6 decimals, as metrics are stored."""
    return round(float(value), 6)


def non_negative(value: Any) -> bool:
    """Return whether ``value`` is a finite number >= 0 (a valid tolerance or spread)."""
    return is_finite(value) and value >= 0


def _quantiles(values: pd.Series, prefix: str, unit: str, out: dict[str, Any]) -> None:
    array = values.dropna().to_numpy(dtype=float)
    for label, q in _QUANTILES:
        out[f"{prefix}_{label}_{unit}"] = (
            None if array.size == 0 else round6(np.quantile(array, q))
        )


def result_metrics(result: Result) -> dict[str, int | float | None]:
    """Return the metrics a baseline records for one run, by name (see module doc)."""
    metrics: dict[str, int | float | None] = {}
    for key in SUMMARY_KEYS:
        value = result.summary.get(key)
        if value is None or is_number(value):
            metrics[f"summary.{key}"] = value
    steps = result.tables["sequence_steps"]
    names = result.tables["sequences"].set_index("id")["name"]
    sends = result.sends
    sent = sends[sends["outcome"] == "sent"]
    failed = sends[sends["outcome"] == "failed"]
    keys = ["sequence", "day_number"]
    sent_count = sent.groupby(keys).size()
    failed_count = failed.groupby(keys).size()
    lateness = {k: g for k, g in sent.groupby(keys)["lateness_s"]}
    hours = {k: g for k, g in _completion_hours(result.contacts, steps, names).groupby(keys)["h"]}
    empty = pd.Series([], dtype=float)
    ordered = steps.assign(sequence=steps["sequence_id"].map(names)).sort_values(
        ["sequence_id", "day_number"]
    )
    for seq, day in ordered[["sequence", "day_number"]].itertuples(index=False):
        key = (seq, int(day))
        prefix = f"steps.{seq}.day{int(day)}"
        metrics[f"{prefix}.sent"] = int(sent_count.get(key, 0))
        metrics[f"{prefix}.failed"] = int(failed_count.get(key, 0))
        _quantiles(lateness.get(key, empty), f"{prefix}.lateness", "s", metrics)
        _quantiles(hours.get(key, empty), f"{prefix}.completion", "h", metrics)
    sim = result.scenario.simulation
    first = pd.Timestamp(sim.start).normalize()
    last = pd.Timestamp(sim.end - timedelta(microseconds=1)).normalize()
    per_day = sent["sent_at"].dt.floor("D").value_counts()
    days = pd.date_range(first, last, freq="D").union(pd.DatetimeIndex(per_day.index))
    for day in days:
        metrics[f"daily.{day:%Y-%m-%d}.sent"] = int(per_day.get(day, 0))
    return metrics


def _completion_hours(contacts: pd.DataFrame, steps: pd.DataFrame, names: pd.Series
                      ) -> pd.DataFrame:
    """Return (sequence, day_number, h): hours from enrolment to each completed step."""
    pair = ["sequence_id", "contact_phone"]
    entry_ids = steps.loc[steps["is_entry_point"].astype(bool), "id"]
    entries = contacts.loc[contacts["sequence_stepid"].isin(entry_ids), [*pair, "created_at"]]
    entries = entries.drop_duplicates(pair).rename(columns={"created_at": "enrolled_at"})
    done = contacts.loc[contacts["status"] == "completed",
                        [*pair, "current_step", "completed_at"]]
    done = done.merge(entries, on=pair, how="inner")
    return pd.DataFrame(
        {
            "sequence": done["sequence_id"].map(names).astype(str),
            "day_number": done["current_step"].astype("int64"),
            "h": (done["completed_at"] - done["enrolled_at"]).dt.total_seconds() / 3600,
        }
    )


def _mean_metrics(runs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, float | None]]:
    """Return ``name -> (value, seed_sd)``: the value of one run, or the mean over runs."""
    out: dict[str, tuple[Any, float | None]] = {}
    names = dict.fromkeys(name for run in runs for name in run)
    for name in names:
        values = [run.get(name) for run in runs]
        present = [float(v) for v in values if v is not None]
        if len(runs) == 1:
            out[name] = (values[0], None)
        elif not present:
            out[name] = (None, None)
        else:
            sd = statistics.stdev(present) if len(present) > 1 else 0.0
            out[name] = (round6(statistics.fmean(present)), round6(sd))
    return out


def seed_metrics(results: Sequence[Result]) -> dict[str, tuple[Any, float | None]]:
    """Return ``name -> (value, seed_sd)`` over the runs of each seed: a single
    run's value (seed_sd None), or the mean over the runs and the sample
    standard deviation."""
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
