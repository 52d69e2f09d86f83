"""What identifies a scenario's results: its identity, fingerprint and the changes
between two identities; and the runs a baseline is made of or compared with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqsim.baseline.errors import BaselineError
from seqsim.model.scenario import Scenario
from seqsim.results.result import Result

__all__ = [
    "as_results",
    "common_identity",
    "fingerprint",
    "plain_value",
    "scenario_changes",
    "scenario_fingerprint",
    "scenario_identity",
]

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


def plain_value(value: Any) -> Any:
    """Return ``value`` as JSON data (instants as ISO strings, numpy scalars as Python's)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
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
    return plain_value(data)


def fingerprint(identity: Mapping[str, Any]) -> str:
    """Return the fingerprint of a scenario identity: ``"sha256:"`` and 16 hex digits."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def scenario_fingerprint(scenario: Scenario) -> str:
    """Return a short hash of :func:`scenario_identity` (engine and seed excluded)."""
    return fingerprint(scenario_identity(scenario))


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Add ``value`` to ``out`` by dotted key; sequences are keyed by name."""
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


def as_results(results: Result | Sequence[Result]) -> list[Result]:
    """Return ``results`` as a list of runs.

    Raises:
        BaselineError: it is neither a Result nor a non-empty list of them.
    """
    items = [results] if isinstance(results, Result) else list(results)
    if not items or not all(isinstance(r, Result) for r in items):
        raise BaselineError(
            "results: expected a seqsim.Result or a non-empty list of them (one per seed)"
        )
    return items


def common_identity(results: Sequence[Result]) -> dict[str, Any]:
    """Return the scenario identity the runs share.

    Raises:
        BaselineError: the runs are of different scenarios.
    """
    identities = [scenario_identity(r.scenario) for r in results]
    if any(i != identities[0] for i in identities[1:]):
        raise BaselineError(
            "results: the runs are of different scenarios; expected one run per seed of the "
            "same scenario"
        )
    return identities[0]
