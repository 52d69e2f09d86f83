"""Summaries of a sweep: per grid point and metric, the mean and its t-interval.

>>> table = seqsim.summarize(frame, metrics=["lateness_p95_s"])             # doctest: +SKIP

`summarize` returns one row per grid point and metric (tidy): the grid keys,
``metric``, ``n`` (runs with a value), ``mean``, ``std`` (sample standard
deviation), ``ci_low``/``ci_high`` (the Student t interval of the mean at
``confidence``), and the paired difference to the reference point:
``diff_n`` (seeds both ran), ``diff_mean``, ``diff_ci_low``/``diff_ci_high``.
Pairing by seed is what common random numbers pay for: both runs of a pair
saw the same arrivals, so the interval of the difference is much tighter
than the two intervals side by side suggest. Failed runs (``error`` set) and
missing values (a KPI with nothing to measure) are left out of ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from seqsim.analysis.grid import grid_values, point_label
from seqsim.analysis.sweep import RUN_COLUMNS
from seqsim.errors import ScenarioError
from seqsim.results.result import SUMMARY_KEYS
from seqsim.validation import close_match, fail, is_number, quoted, show, show_key

__all__ = ["DEFAULT_METRICS", "SUMMARY_COLUMNS", "format_sweep_summary", "grid_keys",
           "summarize", "t_interval"]

#: What `summarize` reports when no metrics are named.
DEFAULT_METRICS: tuple[str, ...] = ("messages_sent", "lateness_p95_s", "mean_completion_hours")
#: Columns of `summarize`'s table after the grid keys.
SUMMARY_COLUMNS: tuple[str, ...] = ("metric", "n", "mean", "std", "ci_low", "ci_high",
                                    "diff_n", "diff_mean", "diff_ci_low", "diff_ci_high")


def t_interval(values: Any, confidence: float = 0.95) -> tuple[int, float, float, float, float]:
    """Return ``(n, mean, std, low, high)`` of the finite values: the t-interval of the mean.

    ``std`` is the sample standard deviation; with fewer than two values the
    standard deviation and interval are NaN (and everything is with none).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    std = float(x.std(ddof=1))
    # Student's t quantile: scipy.special's, the one scipy.stats.t.ppf calls,
    # without importing scipy.stats (1.2 s and 50 MB in every worker process).
    # Imported here, at the first interval: scipy.special alone took 0.15 s of
    # every `import seqsim`, and most runs (the CLI's, a sweep's workers) never
    # compute one.
    from scipy import special

    half = float(special.stdtrit(n - 1, 0.5 + confidence / 2)) * std / math.sqrt(n)
    return n, mean, std, mean - half, mean + half


def grid_keys(frame: pd.DataFrame) -> list[str]:
    """Return a sweep frame's grid keys: ``frame.attrs["grid"]``, else every other column.

    "Other" means not a run column, a summary KPI or a ``step.`` KPI, so a
    frame read back from CSV or built by hand still summarizes.
    """
    if frame.attrs.get("grid"):
        return [k for k in frame.attrs["grid"] if k in frame.columns]
    return [c for c in frame.columns if c not in RUN_COLUMNS and c not in SUMMARY_KEYS
            and not str(c).startswith("step.")]


def _check_args(frame: Any, metrics: Any, confidence: Any) -> list[str]:
    """Return the metrics to summarize after checking the arguments.

    Raises:
        ScenarioError: not a sweep frame, an unknown or non-numeric metric, or a
            confidence outside (0, 1).
    """
    if not isinstance(frame, pd.DataFrame) or "seed" not in frame.columns:
        raise fail("frame", type(frame).__name__, "a frame from seqsim.sweep (with a seed column)")
    if not is_number(confidence) or not 0 < confidence < 1:
        raise fail("confidence", confidence, "a number between 0 and 1, e.g. 0.95")
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if m in frame.columns]
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise fail("metrics", metrics, "a non-empty list of the frame's KPI columns")
    kpis = [c for c in frame.columns if c not in RUN_COLUMNS and c not in grid_keys(frame)]
    for metric in metrics:
        if metric not in kpis:
            close = close_match(str(metric), kpis)
            hint = f"did you mean {show(close)}? " if close else ""
            raise ScenarioError(f"metrics: {show(metric)} is not valid; {hint}expected a KPI "
                                f"column of the frame, e.g. {quoted(DEFAULT_METRICS)}")
        if not pd.api.types.is_numeric_dtype(frame[metric]) and \
                not frame[metric].map(lambda v: v is None or is_number(v)).all():
            raise fail("metrics", metric, "a numeric KPI column")
    return list(metrics)


def _reference(frame: pd.DataFrame, keys: list[str], reference: Any) -> dict[str, Any]:
    """Return the reference as grid key -> value (default: the frame's first grid point).

    Raises:
        ScenarioError: not a mapping of grid keys to values the frame has.
    """
    if reference is None:
        return {k: frame[k].iloc[0] for k in keys}
    if not isinstance(reference, Mapping) or not reference:
        raise fail("reference", reference, "a mapping of grid keys to values, e.g. "
                   f"{{{show(keys[0]) if keys else repr('capacity.devices')}: ...}}")
    out = {}
    for key, value in reference.items():
        if key not in keys:
            raise fail("reference", key, f"one of the grid keys {quoted(keys)}")
        value = grid_values(value)
        if value not in list(frame[key]):
            raise fail(f"reference[{show_key(key)}]", value,
                       f"a value of the grid: {', '.join(map(show, frame[key].unique()))}")
        out[key] = value
    return out


def summarize(frame: pd.DataFrame, metrics: Sequence[str] | None = None, *,
              reference: Mapping[str, Any] | None = None,
              confidence: float = 0.95) -> pd.DataFrame:
    """Return the table described in :mod:`seqsim.analysis.summarize`.

    Args:
        frame: a frame from :func:`seqsim.sweep` (failed runs are skipped).
        metrics: KPI columns (default :data:`DEFAULT_METRICS`).
        reference: the grid point differences are taken against, as grid key
            -> value; keys left out pair each point with the reference values
            at its own values of those keys (``{"capacity.devices": 20}``
            compares every design to 20 devices with the same design).
            Default: the frame's first grid point.
        confidence: of the intervals (default 0.95).

    Raises:
        ScenarioError: a bad frame, metric, reference or confidence.
    """
    metrics = _check_args(frame, metrics, confidence)
    keys = grid_keys(frame)
    ref = _reference(frame, keys, reference)
    ok = frame if "error" not in frame.columns else frame[frame["error"].isna()]
    points = list(zip(*(ok[k] for k in keys), strict=True)) if keys else [()] * len(ok)
    rows = []
    order = list(dict.fromkeys(zip(*(frame[k] for k in keys), strict=True))) if keys else [()]
    for point in order:
        # The reference values put in, this point's own values of the other keys.
        partner = tuple(ref.get(k, v) for k, v in zip(keys, point, strict=True))
        mine = ok[[p == point for p in points]]
        other = ok[[p == partner for p in points]]
        for metric in metrics:
            values = pd.to_numeric(mine[metric], errors="coerce")
            base = pd.Series(pd.to_numeric(other[metric], errors="coerce").to_numpy(),
                             index=other["seed"].to_numpy())
            diffs = values.to_numpy() - base.reindex(mine["seed"].to_numpy()).to_numpy()
            n, mean, std, low, high = t_interval(values, confidence)
            dn, dmean, _, dlow, dhigh = t_interval(diffs, confidence)
            rows.append({**dict(zip(keys, point, strict=True)), "metric": metric, "n": n,
                         "mean": mean, "std": std, "ci_low": low, "ci_high": high,
                         "diff_n": dn, "diff_mean": dmean, "diff_ci_low": dlow,
                         "diff_ci_high": dhigh})
    table = pd.DataFrame.from_records(rows, columns=[*keys, *SUMMARY_COLUMNS])
    table.attrs["grid"] = keys
    table.attrs["reference"] = point_label(list(ref.items()))
    return table


def format_sweep_summary(table: pd.DataFrame) -> str:
    """Return a summary table as text: per metric, one line per grid point with intervals."""
    keys = table.attrs.get("grid", [])
    lines = [f"differences are paired by seed, against {table.attrs.get('reference', '?')}"]
    for metric, part in table.groupby("metric", sort=False):
        lines.append("")
        lines.append(f"{metric}:")
        labels = [point_label([(k, r[k]) for k in keys]) or "(all runs)"
                  for _, r in part.iterrows()]
        width = max(len(label) for label in labels)
        for label, (_, r) in zip(labels, part.iterrows(), strict=True):
            num = {k: _format_number(r[k]) for k in SUMMARY_COLUMNS[2:] if k != "diff_n"}
            lines.append(f"  {label:<{width}}  n={r['n']:<3} mean {num['mean']} "
                         f"[{num['ci_low']}, {num['ci_high']}]  diff {num['diff_mean']} "
                         f"[{num['diff_ci_low']}, {num['diff_ci_high']}]")
    return "\n".join(lines)


def _format_number(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
