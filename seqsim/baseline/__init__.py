"""Regression baselines: record a scenario's KPIs, then check later runs against them.

A baseline file is plain JSON with sorted keys, one metric a line, so a change
reads well in a pull request::

    {
      "fingerprint": "sha256:5f0c...",
      "format": "seqsim-baseline",
      "metrics": {
        "daily.2025-07-01.sent": {"abs": 5, "rel": 0.02, "value": 412},
        "steps.COLD.day3.lateness_p95_s": {"abs": 60, "rel": 0.05, "value": 12.4},
        "summary.messages_sent": {"abs": 0, "rel": 0.01, "value": 5824},
        ...
      },
      "overrides": {},
      "scenario": {... the resolved scenario, engine and seed left out ...},
      "seeds": [42],
      "seqsim_version": "0.1.0",
      "version": 1
    }

Metrics (see :func:`result_metrics`):

- ``summary.<key>``: every numeric KPI of :attr:`seqsim.Result.summary`;
- ``steps.<SEQUENCE>.day<N>.<what>`` per step: ``sent`` and ``failed``
  attempts, ``lateness_p50_s`` / ``lateness_p95_s`` / ``lateness_max_s`` of
  its successful sends, and ``completion_p50_h`` / ``completion_p95_h`` /
  ``completion_max_h``: hours from the contact's enrolment in the sequence to
  this step's completion;
- ``daily.<YYYY-MM-DD>.sent``: successful sends per UTC day of the run.

A metric passes when ``|now - value| <= max(abs, rel * |value|)``; a value of
null (no data, e.g. no send on a step) only matches null. Defaults are
:data:`DEFAULT_TOLERANCES`; edit a metric's ``abs``/``rel`` in the file to
change it (``--update`` keeps edited tolerances).

Several seeds: a metric's value is the mean over the seeds, and its ``abs``
tolerance is widened to 3 standard errors of that mean (sample standard
deviation over the seeds / sqrt(n), stored as ``seed_sd``), so a change that
only reshuffles random draws passes while a real shift does not. A metric
some seeds have no value for (a percentile with nothing to measure) is the
mean over the seeds that have one, and n counts those; with one such seed it
has no spread (no ``seed_sd``, the tolerance not widened). The invariant
metrics (duplicate sends, lost contacts, active rows) stay exact.

The ``scenario`` section is the resolved scenario the baseline was recorded
from, without ``simulation.engine`` (both engines give identical results) and
``simulation.seed`` (the baseline's ``seeds`` are run instead); trace files
are named by their content hash. ``overrides`` are applied to the scenario
file before each check (e.g. a reduced size). When the scenario no longer
matches, the check still compares every metric and lists what changed.

Older baselines stay valid: the summary KPIs added since (:data:`NEW_METRICS`)
may be missing from a file, and are then reported as passing rows noted "new
metric; re-record to track it"; the policy keys added since are left out of
the scenario identity while they have their default value, so an older
scenario keeps its fingerprint.
"""

from __future__ import annotations

from seqsim.baseline.compare import compare_to_baseline
from seqsim.baseline.errors import BaselineError, BaselineMismatch
from seqsim.baseline.file import (
    BASELINE_FORMAT,
    BASELINE_VERSION,
    Baseline,
    MetricBaseline,
    format_baseline,
    read_baseline,
    write_baseline,
)
from seqsim.baseline.identity import scenario_changes, scenario_fingerprint, scenario_identity
from seqsim.baseline.metrics import (
    DEFAULT_TOLERANCES,
    EXACT_METRICS,
    NEW_METRICS,
    default_tolerance,
    result_metrics,
)
from seqsim.baseline.report import CheckReport, MetricRow
from seqsim.baseline.seeds import (
    baseline_candidates,
    baseline_from_results,
    baseline_path_for,
    check_scenario,
    record_baseline,
    run_seeds,
)

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_VERSION",
    "DEFAULT_TOLERANCES",
    "EXACT_METRICS",
    "NEW_METRICS",
    "Baseline",
    "BaselineError",
    "BaselineMismatch",
    "CheckReport",
    "MetricBaseline",
    "MetricRow",
    "baseline_candidates",
    "baseline_from_results",
    "baseline_path_for",
    "check_scenario",
    "compare_to_baseline",
    "default_tolerance",
    "format_baseline",
    "read_baseline",
    "record_baseline",
    "result_metrics",
    "run_seeds",
    "scenario_changes",
    "scenario_fingerprint",
    "scenario_identity",
    "write_baseline",
]
