"""Comparing runs with a baseline, metric by metric (:func:`compare_to_baseline`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from seqsim.baseline.errors import BaselineError, where
from seqsim.baseline.file import Baseline, MetricBaseline, as_baseline
from seqsim.baseline.identity import as_results, common_identity, fingerprint, scenario_changes
from seqsim.baseline.metrics import NEW_METRICS, seed_metrics
from seqsim.baseline.report import CheckReport, MetricRow
from seqsim.checks.invariants import result_violations
from seqsim.results.result import Result

__all__ = ["compare_to_baseline"]

_NEW_METRIC_NOTE = "new metric; re-record to track it"
_UPDATE_HINT = "re-record it with `seqsim check SCENARIO --baseline FILE --update`"
_ABSENT = object()  # a metric the run does not produce (unlike None: no data)


def _compare(name: str, base: MetricBaseline | None, now: Any) -> MetricRow:
    """Return the row of metric ``name``: ``now`` (or ``_ABSENT``) against ``base``."""
    if base is None:
        if name in NEW_METRICS:  # a baseline recorded before the metric existed
            return MetricRow(name, None, now, None, None, True, _NEW_METRIC_NOTE)
        return MetricRow(name, None, now, None, None, False, "not in baseline")
    allowed = base.allowed()
    if now is _ABSENT:
        return MetricRow(name, base.value, None, None, allowed, False, "not produced now")
    if base.value is None and now is None:
        return MetricRow(name, None, None, None, allowed, True)
    if base.value is None or now is None:
        note = "no data now" if now is None else "no data in baseline"
        return MetricRow(name, base.value, now, None, allowed, False, note)
    change = float(now) - float(base.value)
    if isinstance(now, (int, np.integer)) and isinstance(base.value, (int, np.integer)):
        change = int(now) - int(base.value)
    ok = abs(change) <= allowed * (1 + 1e-9) + 1e-9
    return MetricRow(name, base.value, now, change, allowed, ok)


def _metric_order(names: Iterable[str]) -> list[str]:
    """Summary first, then steps, then days; each group sorted."""
    rank = {"summary": 0, "steps": 1, "daily": 2}
    return sorted(set(names), key=lambda n: (rank.get(n.split(".", 1)[0], 3), n))


def _check_seeds_match(base: Baseline, seeds: list[int]) -> None:
    """Reject runs whose seeds are not the baseline's."""
    if sorted(seeds) != sorted(base.seeds):
        raise BaselineError(
            f"{where(base.path)}seeds: the baseline was recorded with seeds {list(base.seeds)}, "
            f"the runs given have seeds {seeds}; expected one run per baseline seed "
            "(seqsim.baseline.check_scenario runs them)"
        )


def _check_same_metrics(base: Baseline, now: Mapping[str, Any]) -> None:
    """Reject a baseline whose metrics are not those the run produces (the scenario
    being unchanged, the file was edited)."""
    missing = [n for n in now if n not in base.metrics and n not in NEW_METRICS]
    extra = [n for n in base.metrics if n not in now]
    if missing or extra:
        what = (f"metrics.{missing[0]}: missing" if missing
                else f"metrics.{extra[0]}: unknown metric")
        raise BaselineError(
            f"{where(base.path)}{what}; the scenario is unchanged, so the baseline's metrics "
            f"must be exactly those the run produces ({len(missing)} missing, {len(extra)} "
            f"unknown); {_UPDATE_HINT}"
        )


def _invariant_problems(results: Sequence[Result]) -> list[str]:
    """Return every run's broken invariants, prefixed with its seed when there are several."""
    problems: list[str] = []
    for result in results:
        tag = f"seed {result.scenario.simulation.seed}: " if len(results) > 1 else ""
        problems += [tag + p for p in result_violations(result)]
    return problems


def compare_to_baseline(
    result_or_results: Result | Sequence[Result],
    baseline: Baseline | Mapping[str, Any] | str | os.PathLike[str],
    *,
    check_invariants: bool = True,
    scenario_label: str | None = None,
    strict: bool = True,
) -> CheckReport:
    """Compare runs with a baseline, metric by metric.

    Args:
        result_or_results: a :class:`~seqsim.Result`, or one per baseline seed.
        baseline: a :class:`Baseline`, its data, or the path of a baseline file.
        check_invariants: also check every run with
            :func:`seqsim.testing.result_violations`.
        strict: reject a baseline whose metrics differ from the run's while
            the scenario is unchanged (a hand-edited file); False reports them
            as failing rows instead.

    Returns:
        The :class:`CheckReport` (``report.ok`` tells pass/fail).

    Raises:
        BaselineError: the baseline is invalid; the runs are not for the
            baseline's seeds; or the scenario is unchanged but the metrics
            are not those the baseline has (the file was edited).
    """
    base = as_baseline(baseline)
    results = as_results(result_or_results)
    identity = common_identity(results)
    seeds = [r.scenario.simulation.seed for r in results]
    _check_seeds_match(base, seeds)
    now = {name: metric.value for name, metric in seed_metrics(results).items()}
    now_fingerprint = fingerprint(identity)
    changes: list[str] = []
    if now_fingerprint != base.fingerprint:
        changes = scenario_changes(base.scenario, identity) or [
            f"fingerprint {base.fingerprint} -> {now_fingerprint}"]
    if strict and not changes:
        _check_same_metrics(base, now)
    names = list(base.metrics) + [n for n in now if n not in base.metrics]
    rows = [_compare(n, base.metrics.get(n), now.get(n, _ABSENT)) for n in _metric_order(names)]
    engines = sorted({str(r.info.get("engine")) for r in results if r.info.get("engine")})
    return CheckReport(
        rows=rows,
        invariant_violations=_invariant_problems(results) if check_invariants else [],
        scenario_changes=changes,
        baseline_path=base.path,
        scenario_label=scenario_label,
        seeds=tuple(seeds),
        engine=", ".join(engines) or None,
        fingerprints=(base.fingerprint, now_fingerprint),
    )
