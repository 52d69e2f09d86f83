"""The baseline file: :class:`Baseline`, reading and validating it, formatting and
writing it (the format is documented in :mod:`seqsim.baseline`)."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqsim.baseline.errors import BaselineError, where
from seqsim.baseline.identity import fingerprint as identity_fingerprint
from seqsim.baseline.metrics import NEW_METRICS, non_negative
from seqsim.results.result import SUMMARY_FLAGS, SUMMARY_KEYS
from seqsim.validation import MAX_SEED, SHOW_LIMIT, is_finite, is_int, show

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_VERSION",
    "Baseline",
    "MetricBaseline",
    "as_baseline",
    "check_seeds",
    "format_baseline",
    "read_baseline",
    "write_baseline",
]

BASELINE_FORMAT = "seqsim-baseline"
BASELINE_VERSION = 1

_TOP_KEYS = ("fingerprint", "format", "metrics", "overrides", "scenario", "seeds",
             "seqsim_version", "version")
_REQUIRED_TOP = ("fingerprint", "format", "metrics", "scenario", "seeds", "version")
_METRIC_KEYS = ("abs", "rel", "seed_sd", "value")
_SEEDS_EXPECTED = "a non-empty list of distinct integers from 0 to 2**63 - 1"
_RECORD_HINT = "restore it, or record afresh with `seqsim baseline SCENARIO --out FILE --force`"


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
        """Return the metric's entry of a baseline file (``seed_sd`` only when set)."""
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
        """Return the baseline as file data (for :func:`write_baseline`)."""
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


def check_seeds(seeds: Any) -> list[int]:
    """Return ``seeds`` as a list of ints.

    Raises:
        BaselineError: ``seeds`` is not a non-empty list of distinct integers >= 0.
    """
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):
        raise BaselineError(f"seeds: {show(seeds)} is not valid; expected {_SEEDS_EXPECTED}")
    items = list(seeds)
    # Types first: a nested list in the file is not hashable.
    if not items or not all(is_int(s) and 0 <= s <= MAX_SEED for s in items) or len(
        {int(s) for s in items}
    ) != len(items):
        raise BaselineError(f"seeds: {show(items)} is not valid; expected {_SEEDS_EXPECTED}")
    return [int(s) for s in items]


# --------------------------------------------------------------------------- writing


def _block(opener: str, items: list[str], closer: str, indent: int) -> str:
    """Return ``items`` one a line between ``opener`` and ``closer`` (indented by
    ``indent``), comma-separated: the one layout of a JSON object or list."""
    return "\n".join([opener, ",\n".join(items), " " * indent + closer] if items
                     else [opener, " " * indent + closer])


def _dump(value: Any, indent: int) -> str:
    """Return ``value`` as JSON: objects one key a line (sorted), lists of plain
    values on one line (``"days": [1, 3, 6, 9]``)."""
    pad = " " * indent
    if isinstance(value, Mapping) and value:
        items = [f'{pad}  {json.dumps(str(k))}: {_dump(value[k], indent + 2)}'
                 for k in sorted(value)]
        return _block("{", items, "}", indent)
    if isinstance(value, list) and any(isinstance(v, (Mapping, list)) for v in value):
        return _block("[", [f"{pad}  {_dump(v, indent + 2)}" for v in value], "]", indent)
    return json.dumps(value, sort_keys=True, allow_nan=False)


def format_baseline(data: Mapping[str, Any]) -> str:
    """Return baseline data as JSON text: sorted keys, one metric a line."""
    items = []
    for key in sorted(data):
        if key == "metrics":
            metrics = data["metrics"]
            entries = [
                f"    {json.dumps(name)}: "
                + json.dumps(metrics[name], sort_keys=True, allow_nan=False)
                for name in sorted(metrics)
            ]
            text = _block("{", entries, "}", 2)
        else:
            text = _dump(data[key], 2)
        items.append(f"  {json.dumps(key)}: {text}")
    return _block("{", items, "}", 0) + "\n"


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
        data = json.loads(text, object_pairs_hook=functools.partial(_no_duplicates, p))
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError:
        raise BaselineError(
            f"{p}: invalid JSON: nested too deeply; expected a seqsim baseline ({_RECORD_HINT})"
        ) from None
    except BaselineError:  # a duplicate key (a ValueError too, so caught before the next)
        raise
    except ValueError as exc:  # an integer of more digits than Python converts
        raise BaselineError(f"{p}: invalid JSON: {exc}; expected a seqsim baseline") from exc
    return _validate(data, p)


def _no_duplicates(p: Path, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Return one JSON object's pairs as a dict; a key given twice is an error.

    json keeps the last of two equal keys without a word, so a hand-edited
    tolerance could be silently replaced by a stale copy below it.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BaselineError(
                f"{p}: invalid JSON: key {show(key)} appears twice in one object; expected each "
                "key once (json would keep only the last)"
            )
        out[key] = value
    return out


def as_baseline(baseline: Baseline | Mapping[str, Any] | str | os.PathLike[str]) -> Baseline:
    """Return ``baseline`` (a Baseline, its data, or a file path) as a validated Baseline.

    Raises:
        BaselineError: it is none of these, or it is invalid.
    """
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


def _bad(p: Path | None, key: str, value: Any, expected: str) -> BaselineError:
    """Return the rejection of ``value`` at ``key`` (shown as JSON when it is JSON)."""
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > SHOW_LIMIT:
        shown = shown[:SHOW_LIMIT] + "…"
    return BaselineError(f"{where(p)}{key}: {shown} is not valid; expected {expected}")


def _missing(p: Path | None, key: str, expected: str) -> BaselineError:
    """Return the error for a missing ``key``."""
    return BaselineError(f"{where(p)}{key}: missing; expected {expected}")


def _check_header(data: Any, p: Path | None) -> None:
    """Check that ``data`` is a baseline object of this format and version, keys known
    and the required ones present."""
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
    if not is_int(version) or version != BASELINE_VERSION:
        raise _bad(p, "version", version,
                   f"{BASELINE_VERSION} (this seqsim reads baseline version {BASELINE_VERSION})")


def _validate(data: Any, p: Path | None) -> Baseline:
    """Return baseline data read from ``p`` (None: given as data) as a Baseline.

    Raises:
        BaselineError: naming the bad entry (see :func:`read_baseline`).
    """
    _check_header(data, p)
    seeds = data["seeds"]
    try:
        seed_list = check_seeds(seeds)
    except BaselineError:
        raise _bad(p, "seeds", seeds, _SEEDS_EXPECTED) from None
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
    if identity_fingerprint(scenario) != fingerprint:
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
        version=data["version"],
    )


def _validate_metrics(metrics: Any, p: Path | None) -> dict[str, MetricBaseline]:
    """Return the ``metrics`` section as MetricBaselines by name.

    Raises:
        BaselineError: an entry is invalid, or a summary KPI is missing
            (except :data:`NEW_METRICS`).
    """
    if not isinstance(metrics, dict) or not metrics:
        raise _bad(p, "metrics", metrics, 'a non-empty object of {"value", "abs", "rel"} entries')
    out = {name: _metric_entry(f"metrics.{name}", entry, p) for name, entry in metrics.items()}
    for key in SUMMARY_KEYS:
        if key in SUMMARY_FLAGS:  # not a metric: a baseline never records it
            continue
        if f"summary.{key}" not in out and f"summary.{key}" not in NEW_METRICS:
            raise _missing(
                p, f"metrics.summary.{key}",
                f"a metric entry; every baseline has all the summary KPIs ({_RECORD_HINT})",
            )
    return out


def _metric_entry(key: str, entry: Any, p: Path | None) -> MetricBaseline:
    """Return metric entry ``key`` (``metrics.<name>``) as a MetricBaseline.

    Raises:
        BaselineError: a key is unknown; ``value``, ``abs`` or ``rel`` is
            missing; or a field has the wrong type or range.
    """
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
    if value is not None and not is_finite(value):
        raise _bad(p, f"{key}.value", value,
                   "a finite number (within about ±1.8e308), or null for no data")
    tol = {}
    for field_name, what in (("abs", "absolute"), ("rel", "relative")):
        if field_name not in entry:
            raise _missing(p, f"{key}.{field_name}", f"a number >= 0 ({what} tolerance)")
        number = entry[field_name]
        if not non_negative(number):
            raise _bad(p, f"{key}.{field_name}", number,
                       f"a finite number >= 0 ({what} tolerance)")
        tol[field_name] = number
    sd = entry.get("seed_sd")
    if sd is not None and not non_negative(sd):
        raise _bad(p, f"{key}.seed_sd", sd, "a number >= 0 (spread over the seeds)")
    return MetricBaseline(value, tol["abs"], tol["rel"], sd)
