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
only reshuffles random draws passes while a real shift does not. The
invariant metrics (duplicate sends, lost contacts, active rows) stay exact.

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

import hashlib
import json
import math
import os
import statistics
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seqsim.checks.invariants import result_violations
from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.results.result import SUMMARY_KEYS, Result

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

BASELINE_FORMAT = "seqsim-baseline"
BASELINE_VERSION = 1

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
    ("summary.lateness_*", 60, 0.05),
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
)
_NEW_METRIC_NOTE = "new metric; re-record to track it"
#: Policy keys added after baselines were first recorded, with their value in
#: `Scenario.to_dict` when left at the default: left out of the identity then,
#: so a scenario that does not use them keeps its fingerprint.
_NEW_POLICY_DEFAULTS: dict[str, Any] = {
    "daily_cap": "rolling",
    "daily_cap_zone": "UTC",
    "outages": [],
    "catch_up": "burst",
    "stale_after": "1d",
}
_SEED_SE = 3.0  # seeds: abs tolerance >= this many standard errors of the mean
_TOP_KEYS = ("fingerprint", "format", "metrics", "overrides", "scenario", "seeds",
             "seqsim_version", "version")
_REQUIRED_TOP = ("fingerprint", "format", "metrics", "scenario", "seeds", "version")
_METRIC_KEYS = ("abs", "rel", "seed_sd", "value")
_QUANTILES = (("p50", 0.50), ("p95", 0.95), ("max", 1.0))


class BaselineError(ScenarioError):
    """A baseline file is missing or invalid, or does not fit the results given."""


class BaselineMismatch(AssertionError):
    """A run moved beyond a baseline's tolerances or broke an invariant."""


# --------------------------------------------------------------------------- metrics


def _round(value: float) -> float:
    return round(float(value), 6)


def _quantiles(values: pd.Series, prefix: str, unit: str, out: dict[str, Any]) -> None:
    array = values.dropna().to_numpy(dtype=float)
    for label, q in _QUANTILES:
        out[f"{prefix}_{label}_{unit}"] = (
            None if array.size == 0 else _round(np.quantile(array, q))
        )


def result_metrics(result: Result) -> dict[str, int | float | None]:
    """Return the metrics a baseline records for one run, by name (see module doc)."""
    metrics: dict[str, int | float | None] = {}
    for key in SUMMARY_KEYS:
        value = result.summary.get(key)
        if value is None or _is_number(value):
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


def default_tolerance(name: str) -> tuple[float, float]:
    """Return the default ``(abs, rel)`` tolerance of metric ``name``."""
    for pattern, absolute, relative in DEFAULT_TOLERANCES:
        if fnmatchcase(name, pattern):
            return absolute, relative
    return 0, 0.0  # pragma: no cover - the last pattern matches everything


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
            out[name] = (_round(statistics.fmean(present)), _round(sd))
    return out


# --------------------------------------------------------------------------- scenarios


def _plain_value(value: Any) -> Any:
    """Return ``value`` as JSON data (instants as ISO strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def scenario_identity(scenario: Scenario) -> dict[str, Any]:
    """Return what identifies a scenario's results: its resolved tables without
    ``simulation.engine`` and ``simulation.seed``, trace paths replaced by the
    file's content hash (so the identity is the same on every machine).

    Policy keys added since baselines were first recorded (``daily_cap``,
    ``daily_cap_zone``, ``outages``, ``catch_up``, ``stale_after``) are left
    out while they have their default value, so older baselines keep their
    fingerprint."""
    data = scenario.to_dict()
    data["simulation"].pop("engine", None)
    data["simulation"].pop("seed", None)
    policy = data.get("policy", {})
    for key, default in _NEW_POLICY_DEFAULTS.items():
        if key in policy and policy[key] == default:
            del policy[key]
    for workload in data["workload"]:
        if workload.get("kind") == "trace":
            path = Path(workload["path"])
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            workload["path"] = f"{path.name} sha256:{digest}"
    return _plain_value(data)


def _fingerprint(identity: Mapping[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def scenario_fingerprint(scenario: Scenario) -> str:
    """Return a short hash of :func:`scenario_identity` (engine and seed excluded)."""
    return _fingerprint(scenario_identity(scenario))


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, item in enumerate(value):
            label = item.get("name", i) if prefix == "sequences" else i
            _flatten(item, f"{prefix}.{label}", out)
    else:
        out[prefix] = value


def scenario_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Return ``"key: old -> new"`` for every key two scenario identities differ in.

    Keys read like ``--set`` overrides: ``capacity.devices``,
    ``sequences.COLD.delay_hours``, ``workload.0.rate_per_hour``.
    """
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    changes = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            changes.append(f"{key}: {json.dumps(a[key])} -> (absent)")
        elif key not in a:
            changes.append(f"{key}: (absent) -> {json.dumps(b[key])}")
        elif a[key] != b[key]:
            changes.append(f"{key}: {json.dumps(a[key])} -> {json.dumps(b[key])}")
    return changes


def _load_scenario(scenario: Scenario | str | os.PathLike[str]) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, os.PathLike)):
        return Scenario.from_toml(scenario)
    raise ScenarioError(
        f"scenario: {type(scenario).__name__} is not valid; expected a seqsim.Scenario or the "
        "path of a scenario TOML file"
    )


def run_seeds(
    scenario: Scenario,
    seeds: Iterable[int],
    *,
    engine: str | None = None,
) -> list[Result]:
    """Run ``scenario`` once per seed (``simulation.seed`` replaced); return the results."""
    from seqsim.run.simulate import simulate  # simulate imports results; keep the import light

    return [
        simulate(scenario.with_overrides({"simulation.seed": seed}), engine=engine,
                 progress=False)
        for seed in seeds
    ]


# --------------------------------------------------------------------------- recording


def _check_seeds(seeds: Any, where: str) -> list[int]:
    expected = "a non-empty list of distinct integers >= 0"
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):
        raise BaselineError(f"{where}: {seeds!r} is not valid; expected {expected}")
    items = list(seeds)
    if not items or len(set(items)) != len(items) or not all(
        _is_int(s) and s >= 0 for s in items
    ):
        raise BaselineError(f"{where}: {items!r} is not valid; expected {expected}")
    return [int(s) for s in items]


def _tolerance_for(
    name: str,
    tolerances: Mapping[str, Any] | None,
    previous: Baseline | None,
) -> tuple[float, float]:
    if previous is not None and name in previous.metrics:
        kept = previous.metrics[name]
        return kept.abs, kept.rel
    for pattern, spec in (tolerances or {}).items():
        if fnmatchcase(name, pattern):
            return _parse_tolerance(pattern, spec)
    return default_tolerance(name)


def _parse_tolerance(pattern: str, spec: Any) -> tuple[float, float]:
    expected = "{'abs': number >= 0, 'rel': number >= 0} (either may be left out) or (abs, rel)"
    if isinstance(spec, Mapping) and set(spec) <= {"abs", "rel"} and spec:
        absolute, relative = spec.get("abs", 0), spec.get("rel", 0.0)
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        absolute, relative = spec
    else:
        raise BaselineError(f"tolerances[{pattern!r}]: {spec!r} is not valid; expected {expected}")
    for value in (absolute, relative):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise BaselineError(
                f"tolerances[{pattern!r}]: {spec!r} is not valid; expected {expected}"
            )
    return absolute, relative


def baseline_from_results(
    results: Sequence[Result],
    *,
    overrides: Mapping[str, Any] | None = None,
    tolerances: Mapping[str, Any] | None = None,
    previous: Baseline | None = None,
) -> dict[str, Any]:
    """Return baseline data (for :func:`write_baseline`) from the runs of each seed.

    Args:
        results: one run per seed, all of the same scenario.
        overrides: the ``--set`` overrides the runs applied to the scenario
            file; stored so a check applies them again.
        tolerances: ``{pattern: {"abs": a, "rel": r}}`` (shell-style patterns
            over metric names, first match wins) before :data:`DEFAULT_TOLERANCES`.
        previous: a baseline being re-recorded: the tolerances of its metrics
            are kept.
    """
    from seqsim import __version__

    results = _as_results(results)
    identity = _common_identity(results)
    seeds = _check_seeds([r.scenario.simulation.seed for r in results], "seeds")
    values = _mean_metrics([result_metrics(r) for r in results])
    for pattern, spec in (tolerances or {}).items():
        _parse_tolerance(pattern, spec)
        if not any(fnmatchcase(name, pattern) for name in values):
            raise BaselineError(
                f"tolerances[{pattern!r}]: matches no metric; expected a shell-style pattern "
                "over metric names, e.g. 'summary.lateness_*' or 'steps.*.completion_*'"
            )
    n = len(results)
    metrics: dict[str, dict[str, Any]] = {}
    for name, (value, sd) in values.items():
        absolute, relative = _tolerance_for(name, tolerances, previous)
        entry: dict[str, Any] = {"value": value, "abs": absolute, "rel": relative}
        if sd is not None:
            entry["seed_sd"] = sd
            if name not in EXACT_METRICS and (previous is None or name not in previous.metrics):
                entry["abs"] = max(absolute, _round(_SEED_SE * sd / math.sqrt(n)))
        metrics[name] = entry
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "seqsim_version": __version__,
        "fingerprint": _fingerprint(identity),
        "scenario": identity,
        "seeds": seeds,
        "overrides": _plain_value(dict(overrides or {})),
        "metrics": metrics,
    }


def record_baseline(
    scenario: Scenario | str | os.PathLike[str],
    seeds: Iterable[int] | None = None,
    tolerances: Mapping[str, Any] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Run a scenario (once per seed) and return its baseline data.

    Args:
        scenario: a :class:`~seqsim.Scenario` or the path of a scenario file.
        seeds: the seeds to run (default: the scenario's own seed).
        tolerances: ``{pattern: {"abs": a, "rel": r}}`` overriding
            :data:`DEFAULT_TOLERANCES` for the metrics a pattern matches.
        overrides: dotted-key overrides applied to the scenario first and
            stored in the baseline (e.g. a reduced size for CI).
        engine: ``"row"`` or ``"batch"`` (default: the scenario's); both give
            the same baseline.

    Returns:
        Plain data; write it with :func:`write_baseline`.
    """
    scn = _load_scenario(scenario)
    if overrides:
        scn = scn.with_overrides(overrides)
    seed_list = _check_seeds(
        [scn.simulation.seed] if seeds is None else seeds, "seeds"
    )
    results = run_seeds(scn, seed_list, engine=engine)
    return baseline_from_results(results, overrides=overrides, tolerances=tolerances)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _dump(value: Any, indent: int) -> str:
    """Return ``value`` as JSON: objects one key a line (sorted), lists of plain
    values on one line (``"days": [1, 3, 6, 9]``)."""
    pad = " " * indent
    if isinstance(value, Mapping) and value:
        items = [f'{pad}  {json.dumps(str(k))}: {_dump(value[k], indent + 2)}'
                 for k in sorted(value)]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
        items = [f"{pad}  {_dump(v, indent + 2)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, sort_keys=True, allow_nan=False)


def format_baseline(data: Mapping[str, Any]) -> str:
    """Return baseline data as JSON text: sorted keys, one metric a line."""
    lines = ["{"]
    keys = sorted(data)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        if key == "metrics":
            metrics = data["metrics"]
            names = sorted(metrics)
            lines.append('  "metrics": {')
            for j, name in enumerate(names):
                entry = json.dumps(metrics[name], sort_keys=True, allow_nan=False)
                sep = "," if j < len(names) - 1 else ""
                lines.append(f"    {json.dumps(name)}: {entry}{sep}")
            lines.append("  }" + comma)
        else:
            lines.append(f"  {json.dumps(key)}: {_dump(data[key], 2)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_baseline(path: str | os.PathLike[str], data: Mapping[str, Any] | Baseline) -> Path:
    """Write baseline data to ``path`` (atomically; folders created) and return it."""
    if isinstance(data, Baseline):
        data = data.to_dict()
    text = format_baseline(data)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MetricBaseline:
    """One metric of a baseline: its value (or None: no data) and tolerance."""

    value: float | int | None
    abs: float
    rel: float
    seed_sd: float | None = None

    def allowed(self) -> float:
        """Return the largest change that passes: ``max(abs, rel * |value|)``."""
        base = 0.0 if self.value is None else abs(float(self.value))
        return max(float(self.abs), float(self.rel) * base)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "abs": self.abs, "rel": self.rel}
        if self.seed_sd is not None:
            out["seed_sd"] = self.seed_sd
        return out


@dataclass(frozen=True)
class Baseline:
    """A validated baseline file (see :func:`read_baseline`)."""

    path: Path | None
    fingerprint: str
    scenario: dict[str, Any]
    seeds: tuple[int, ...]
    overrides: dict[str, Any]
    metrics: dict[str, MetricBaseline]
    seqsim_version: str | None = None
    version: int = BASELINE_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": BASELINE_FORMAT,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "scenario": self.scenario,
            "seeds": list(self.seeds),
            "overrides": self.overrides,
            "metrics": {n: m.to_dict() for n, m in self.metrics.items()},
        }
        if self.seqsim_version is not None:
            out["seqsim_version"] = self.seqsim_version
        return out


_RECORD_HINT = "restore it, or record afresh with `seqsim baseline SCENARIO --out FILE --force`"
_UPDATE_HINT = "re-record it with `seqsim check SCENARIO --baseline FILE --update`"


def read_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read and validate a baseline file.

    Raises:
        BaselineError: naming the file and the bad entry: the file is missing
            or not JSON; the format or version is not this one; a key is
            unknown or missing; seeds are not distinct integers; a metric
            lacks ``value``, ``abs`` or ``rel`` or has the wrong type; a summary
            KPI is missing (except :data:`NEW_METRICS`); the scenario section
            does not match its fingerprint.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BaselineError(
            f"{p}: file not found; expected a baseline JSON file (record one with "
            "`seqsim baseline SCENARIO --out FILE`)"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{p}: cannot read the baseline file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return _validate(data, p)


def _bad(p: Path | None, key: str, value: Any, expected: str) -> BaselineError:
    where = f"{p}: " if p is not None else ""
    shown = json.dumps(value) if _jsonable(value) else repr(value)
    return BaselineError(f"{where}{key}: {shown} is not valid; expected {expected}")


def _missing(p: Path | None, key: str, expected: str) -> BaselineError:
    where = f"{p}: " if p is not None else ""
    return BaselineError(f"{where}{key}: missing; expected {expected}")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _validate(data: Any, p: Path | None) -> Baseline:
    if not isinstance(data, dict):
        raise _bad(p, "baseline", type(data).__name__, "a JSON object (a seqsim baseline)")
    if data.get("format") != BASELINE_FORMAT:
        if "format" not in data:
            raise _missing(p, "format", f'"{BASELINE_FORMAT}" (is this a seqsim baseline?)')
        raise _bad(p, "format", data["format"], f'"{BASELINE_FORMAT}"')
    for key in data:
        if key not in _TOP_KEYS:
            raise BaselineError(
                f"{p}: {key}: unknown key; expected only {', '.join(_TOP_KEYS)}"
            )
    for key in _REQUIRED_TOP:
        if key not in data:
            raise _missing(p, key, f"every baseline has {', '.join(_REQUIRED_TOP)}; {_RECORD_HINT}")
    version = data["version"]
    if not _is_int(version) or version != BASELINE_VERSION:
        raise _bad(p, "version", version,
                   f"{BASELINE_VERSION} (this seqsim reads baseline version {BASELINE_VERSION})")
    seeds = data["seeds"]
    try:
        seed_list = _check_seeds(seeds, "seeds")
    except BaselineError:
        raise _bad(p, "seeds", seeds, "a non-empty list of distinct integers >= 0") from None
    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise _bad(p, "overrides", overrides,
                   'an object of dotted keys, e.g. {"capacity.devices": 4}')
    scenario = data["scenario"]
    if not isinstance(scenario, dict):
        raise _bad(p, "scenario", scenario, "an object (the resolved scenario)")
    fingerprint = data["fingerprint"]
    if not isinstance(fingerprint, str):
        raise _bad(p, "fingerprint", fingerprint, 'a string like "sha256:..."')
    if _fingerprint(scenario) != fingerprint:
        raise BaselineError(
            f"{p}: scenario: does not match the fingerprint {fingerprint!r}; the scenario section "
            "was edited by hand (edit the scenario file instead, then re-record; "
            f"{_RECORD_HINT})"
        )
    version_text = data.get("seqsim_version")
    if version_text is not None and not isinstance(version_text, str):
        raise _bad(p, "seqsim_version", version_text, "a version string")
    metrics = _validate_metrics(data["metrics"], p)
    return Baseline(
        path=p,
        fingerprint=fingerprint,
        scenario=scenario,
        seeds=tuple(seed_list),
        overrides=overrides,
        metrics=metrics,
        seqsim_version=version_text,
        version=version,
    )


def _validate_metrics(metrics: Any, p: Path | None) -> dict[str, MetricBaseline]:
    if not isinstance(metrics, dict) or not metrics:
        raise _bad(p, "metrics", metrics, 'a non-empty object of {"value", "abs", "rel"} entries')
    out: dict[str, MetricBaseline] = {}
    for name, entry in metrics.items():
        key = f"metrics.{name}"
        if not isinstance(entry, dict):
            raise _bad(p, key, entry, 'an object {"value": number or null, "abs": number >= 0, '
                       '"rel": number >= 0}')
        for field_name in entry:
            if field_name not in _METRIC_KEYS:
                raise BaselineError(
                    f"{p}: {key}.{field_name}: unknown key; expected only value, abs, rel "
                    "(and seed_sd)"
                )
        if "value" not in entry:
            raise _missing(p, f"{key}.value", "a number, or null for no data")
        value = entry["value"]
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            raise _bad(p, f"{key}.value", value, "a number, or null for no data")
        tol = {}
        for field_name, what in (("abs", "absolute"), ("rel", "relative")):
            if field_name not in entry:
                raise _missing(p, f"{key}.{field_name}", f"a number >= 0 ({what} tolerance)")
            number = entry[field_name]
            if not _is_number(number) or not math.isfinite(number) or number < 0:
                raise _bad(p, f"{key}.{field_name}", number, f"a number >= 0 ({what} tolerance)")
            tol[field_name] = number
        sd = entry.get("seed_sd")
        if sd is not None and (not _is_number(sd) or not math.isfinite(sd) or sd < 0):
            raise _bad(p, f"{key}.seed_sd", sd, "a number >= 0 (spread over the seeds)")
        out[name] = MetricBaseline(value, tol["abs"], tol["rel"], sd)
    for key in SUMMARY_KEYS:
        if f"summary.{key}" not in out and f"summary.{key}" not in NEW_METRICS:
            raise _missing(
                p, f"metrics.summary.{key}",
                f"a metric entry; every baseline has all the summary KPIs ({_RECORD_HINT})",
            )
    return out


def _as_baseline(baseline: Baseline | Mapping[str, Any] | str | os.PathLike[str]) -> Baseline:
    if isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, Mapping):
        return _validate(dict(baseline), None)
    if isinstance(baseline, (str, os.PathLike)):
        return read_baseline(baseline)
    raise BaselineError(
        f"baseline: {type(baseline).__name__} is not valid; expected a Baseline, baseline data "
        "or the path of a baseline JSON file"
    )


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class MetricRow:
    """One metric compared: ``change`` is ``now - baseline`` (None without data)."""

    name: str
    baseline: float | int | None
    now: float | int | None
    change: float | None
    tolerance: float | None
    ok: bool
    note: str = ""

    @property
    def relative_change(self) -> float | None:
        if self.change is None or not self.baseline:
            return None
        return self.change / abs(float(self.baseline))


@dataclass
class CheckReport:
    """The outcome of comparing runs with a baseline.

    Attributes:
        rows: every metric compared (see :class:`MetricRow`).
        invariant_violations: broken invariants, prefixed with the seed.
        scenario_changes: ``"key: old -> new"`` when the scenario differs from
            the one the baseline was recorded from (metrics are compared anyway).
        baseline_path, scenario_label, seeds, engine: what was compared.
        updated: the baseline file was rewritten from these runs (``--update``).
    """

    rows: list[MetricRow]
    invariant_violations: list[str] = field(default_factory=list)
    scenario_changes: list[str] = field(default_factory=list)
    baseline_path: Path | None = None
    scenario_label: str | None = None
    seeds: tuple[int, ...] = ()
    engine: str | None = None
    fingerprints: tuple[str, str] | None = None
    updated: bool = False

    @property
    def failures(self) -> list[MetricRow]:
        """Return the metrics that moved beyond their tolerance."""
        return [row for row in self.rows if not row.ok]

    @property
    def scenario_changed(self) -> bool:
        return bool(self.scenario_changes)

    @property
    def ok(self) -> bool:
        """True when every metric is within tolerance and no invariant is broken."""
        return not self.failures and not self.invariant_violations

    def format(self, *, verbose: bool = False) -> str:
        """Return the report as text: a header, and the table of metrics that moved
        (every metric with ``verbose``)."""
        label = self.scenario_label or "scenario"
        lines = [f"seqsim check: {label}"]
        seeds = ", ".join(map(str, self.seeds))
        engine = f", engine {self.engine}" if self.engine else ""
        where = str(self.baseline_path) if self.baseline_path is not None else "(data)"
        lines.append(f"  baseline {where} (seeds {seeds}{engine})")
        if self.scenario_changes:
            lines.append("  scenario changed since baseline (metrics compared anyway):")
            lines += [f"    {change}" for change in self.scenario_changes]
        failures = self.failures
        if self.updated:
            lines.append(
                f"  UPDATED: the baseline now records this run ({len(failures)} of "
                f"{len(self.rows)} metrics had moved beyond tolerance, "
                f"{len(self.invariant_violations)} invariants broken)"
            )
        elif self.ok:
            lines.append(f"  PASS: {len(self.rows)} metrics within tolerance, invariants hold")
        else:
            parts = []
            if failures:
                parts.append(f"{len(failures)} of {len(self.rows)} metrics moved beyond "
                             "tolerance")
            if self.invariant_violations:
                n = len(self.invariant_violations)
                parts.append(f"{n} invariant{'s' if n > 1 else ''} broken")
            lines.append("  FAIL: " + ", ".join(parts))
        shown = self.rows if verbose else failures
        if shown:
            lines += ["    " + line for line in _table(shown)]
        for problem in self.invariant_violations:
            lines.append(f"  INVARIANT BROKEN: {problem}")
        if self.scenario_changes and self.ok and not self.updated:
            lines.append("  (record the new scenario with --update)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _change(row: MetricRow) -> str:
    if row.change is None:
        return row.note or "-"
    text = ("+" if row.change > 0 else "") + _num(row.change)
    rel = row.relative_change
    if rel is not None:
        text += f" ({rel:+.1%})"
    if row.note:
        text += f" {row.note}"
    return text


def _table(rows: Sequence[MetricRow]) -> list[str]:
    header = ("metric", "baseline", "now", "change", "tolerance", "")
    cells = [
        (
            row.name,
            _num(row.baseline),
            _num(row.now),
            _change(row),
            "-" if row.tolerance is None else f"±{_num(row.tolerance)}",
            "ok" if row.ok else "FAIL",
        )
        for row in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    out = []
    for cell in [header, *cells]:
        parts = [cell[0].ljust(widths[0])]
        parts += [str(c).rjust(w) for c, w in zip(cell[1:5], widths[1:5], strict=True)]
        parts.append(cell[5])
        out.append("  ".join(parts).rstrip())
    return out


def _compare(name: str, base: MetricBaseline | None, now: Any) -> MetricRow:
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


_ABSENT = object()


def _as_results(results: Result | Sequence[Result]) -> list[Result]:
    items = [results] if isinstance(results, Result) else list(results)
    if not items or not all(isinstance(r, Result) for r in items):
        raise BaselineError(
            "results: expected a seqsim.Result or a non-empty list of them (one per seed)"
        )
    return items


def _common_identity(results: Sequence[Result]) -> dict[str, Any]:
    identities = [scenario_identity(r.scenario) for r in results]
    if any(i != identities[0] for i in identities[1:]):
        raise BaselineError(
            "results: the runs are of different scenarios; expected one run per seed of the "
            "same scenario"
        )
    return identities[0]


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
    base = _as_baseline(baseline)
    results = _as_results(result_or_results)
    identity = _common_identity(results)
    seeds = [r.scenario.simulation.seed for r in results]
    if sorted(seeds) != sorted(base.seeds):
        where = f"{base.path}: " if base.path is not None else ""
        raise BaselineError(
            f"{where}seeds: the baseline was recorded with seeds {list(base.seeds)}, the runs "
            f"given have seeds {seeds}; expected one run per baseline seed "
            "(seqsim.baseline.check_scenario runs them)"
        )
    now = {name: value for name, (value, _) in
           _mean_metrics([result_metrics(r) for r in results]).items()}
    fingerprint = _fingerprint(identity)
    changes: list[str] = []
    if fingerprint != base.fingerprint:
        changes = scenario_changes(base.scenario, identity) or [
            f"fingerprint {base.fingerprint} -> {fingerprint}"]
    if strict and not changes:
        missing = [n for n in now if n not in base.metrics and n not in NEW_METRICS]
        extra = [n for n in base.metrics if n not in now]
        if missing or extra:
            where = f"{base.path}: " if base.path is not None else ""
            what = (f"metrics.{missing[0]}: missing" if missing
                    else f"metrics.{extra[0]}: unknown metric")
            raise BaselineError(
                f"{where}{what}; the scenario is unchanged, so the baseline's metrics must be "
                f"exactly those the run produces ({len(missing)} missing, {len(extra)} unknown); "
                f"{_UPDATE_HINT}"
            )
    names = list(base.metrics) + [n for n in now if n not in base.metrics]
    rows = [_compare(n, base.metrics.get(n), now.get(n, _ABSENT)) for n in _metric_order(names)]
    problems: list[str] = []
    if check_invariants:
        for result in results:
            tag = f"seed {result.scenario.simulation.seed}: " if len(results) > 1 else ""
            problems += [tag + p for p in result_violations(result)]
    engines = sorted({str(r.info.get("engine")) for r in results if r.info.get("engine")})
    return CheckReport(
        rows=rows,
        invariant_violations=problems,
        scenario_changes=changes,
        baseline_path=base.path,
        scenario_label=scenario_label,
        seeds=tuple(seeds),
        engine=", ".join(engines) or None,
        fingerprints=(base.fingerprint, fingerprint),
    )


def _metric_order(names: Iterable[str]) -> list[str]:
    """Summary first, then steps, then days; each group sorted."""
    rank = {"summary": 0, "steps": 1, "daily": 2}
    return sorted(set(names), key=lambda n: (rank.get(n.split(".", 1)[0], 3), n))


def check_scenario(
    scenario: Scenario | str | os.PathLike[str],
    baseline: Baseline | str | os.PathLike[str],
    *,
    engine: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    update: bool = False,
) -> CheckReport:
    """Run a scenario for each seed of a baseline and compare (the ``seqsim check`` API).

    The baseline's stored ``overrides`` are applied to the scenario first,
    then ``overrides``. With ``update`` the baseline file is rewritten from
    these runs (same seeds and overrides; tolerances of existing metrics
    kept); ``baseline`` must then be a path, and need not exist yet.

    Returns:
        The :class:`CheckReport` of the comparison (with ``update`` and no
        previous file: an empty passing report).
    """
    scn = _load_scenario(scenario)
    label = str(scenario) if isinstance(scenario, (str, os.PathLike)) else None
    previous: Baseline | None = None
    if update:
        if not isinstance(baseline, (str, os.PathLike)):
            raise BaselineError("baseline: --update needs the path of the baseline file")
        if Path(baseline).exists():
            previous = read_baseline(baseline)
    else:
        previous = _as_baseline(baseline)
    stored = dict(previous.overrides) if previous is not None else {}
    if stored:
        try:
            scn = scn.with_overrides(stored)
        except ScenarioError as exc:
            raise BaselineError(f"{previous.path}: overrides: {exc}") from exc  # type: ignore[union-attr]
    if overrides:
        scn = scn.with_overrides(overrides)
    run_overrides = {**stored, **(overrides or {})}
    seeds = list(previous.seeds) if previous is not None else [scn.simulation.seed]
    results = run_seeds(scn, seeds, engine=engine)
    if previous is not None:
        report = compare_to_baseline(results, previous, scenario_label=label,
                                     strict=not update)
    else:
        report = CheckReport(rows=[], scenario_label=label, seeds=tuple(seeds), engine=engine)
    if update:
        data = baseline_from_results(results, overrides=run_overrides, previous=previous)
        write_baseline(baseline, data)  # type: ignore[arg-type]
        report.baseline_path = Path(baseline)  # type: ignore[arg-type]
        report.updated = True
    return report


def baseline_path_for(
    scenario_path: str | os.PathLike[str],
    baselines_dir: str | os.PathLike[str] | None = None,
    *,
    existing: bool = True,
) -> Path | None:
    """Return the baseline file of scenario file ``DIR/NAME.toml``.

    With ``baselines_dir``: ``baselines_dir/NAME.json``. Otherwise the first
    that exists of ``DIR/NAME.baseline.json`` (beside the scenario) and
    ``DIR/../baselines/NAME.json`` (the ``data/scenarios`` +
    ``data/baselines`` layout). None when none exists, unless ``existing`` is
    False: then where a new baseline goes (``../baselines/NAME.json`` when
    that folder exists, else beside the scenario).
    """
    p = Path(scenario_path)
    if baselines_dir is not None:
        candidate = Path(baselines_dir) / f"{p.stem}.json"
        return candidate if candidate.exists() or not existing else None
    beside, shared = baseline_candidates(p)
    for candidate in (beside, shared):
        if candidate.exists():
            return candidate
    if existing:
        return None
    return shared if shared.parent.is_dir() else beside


def baseline_candidates(scenario_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return where the baseline of ``DIR/NAME.toml`` is looked for, in order:
    ``DIR/NAME.baseline.json`` and ``DIR/../baselines/NAME.json``."""
    p = Path(scenario_path)
    beside = p.with_name(f"{p.stem}.baseline.json")
    shared = Path(os.path.normpath(p.parent / ".." / "baselines")) / f"{p.stem}.json"
    return beside, shared
