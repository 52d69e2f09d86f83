"""Workloads: what enrols leads, when (`WorkloadConfig`, a ``[[workload]]`` table).

The kinds (`WORKLOAD_KINDS`) and the keys each accepts live here; the
arrivals they generate are `seqsim.model.arrivals`, and the CSV a trace
workload replays is read by `seqsim.model.trace`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seqsim.errors import ScenarioError
from seqsim.model.windows import check_zone
from seqsim.units import format_instant, parse_instant
from seqsim.validation import (
    KEYWORD_EXPECTED,
    as_list,
    fail,
    field_names,
    is_finite,
    is_keyword,
    parse_int,
    quoted,
    show,
)

__all__ = [
    "DEFAULT_DIURNAL_PROFILE",
    "DEFAULT_ZONE",
    "MAX_ARRIVALS",
    "MAX_PROFILE_WEIGHT",
    "WORKLOAD_KINDS",
    "WorkloadConfig",
]

#: The most leads a run enrols, over all its workloads: each costs about 3 KB
#: of engine state and table rows per step reached (a million leads took 3 GB).
MAX_ARRIVALS = 2_000_000
#: The largest diurnal weight; only the profile's shape matters, and larger
#: weights overflow once scaled to a rate.
MAX_PROFILE_WEIGHT = 1e9

#: Workload kinds a scenario may use.
WORKLOAD_KINDS: tuple[str, ...] = ("constant", "poisson", "diurnal", "burst", "trace")

#: Keys each workload kind accepts besides ``kind``; anything else is rejected so a
#: ``count`` left on a poisson workload is not silently ignored.
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("trigger", "rate_per_hour", "start", "end", "timezone"),
    "poisson": ("trigger", "rate_per_hour", "start", "end", "timezone"),
    "diurnal": ("trigger", "rate_per_hour", "profile", "start", "end", "timezone"),
    "burst": ("trigger", "count", "at", "timezone"),
    "trace": ("path", "start", "end", "timezone"),
}
_KIND_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("trigger", "rate_per_hour"),
    "poisson": ("trigger", "rate_per_hour"),
    "diurnal": ("trigger", "rate_per_hour"),
    "burst": ("trigger", "count"),
    "trace": ("path",),
}

#: Relative hourly enrolment weights (UTC hours 0..23) used by a diurnal workload
#: that gives no ``profile``: a quiet night, a ramp from 07:00, a morning peak,
#: a lunch dip at 12:00, an afternoon peak and a tail into the evening. Only the
#: shape matters: weights are normalised so the mean rate is ``rate_per_hour``.
DEFAULT_DIURNAL_PROFILE: tuple[float, ...] = (
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1,  # 00-05 night
    0.2, 0.5, 1.0, 1.5, 1.8, 1.8,  # 06-11 morning ramp and peak
    1.4, 1.6, 1.8, 1.8, 1.5, 1.0,  # 12-17 lunch dip, afternoon peak
    0.6, 0.4, 0.3, 0.2, 0.1, 0.1,  # 18-23 evening tail
)  # fmt: skip

#: The zone of leads whose workload and trace row name none.
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True)
class WorkloadConfig:
    """One enrolment generator (a ``[[workload]]`` table).

    Kinds and their keys:
        constant: trigger, rate_per_hour; evenly spaced arrivals.
        poisson: trigger, rate_per_hour; exponential gaps.
        diurnal: trigger, rate_per_hour (mean), profile (24 hourly weights,
            default `DEFAULT_DIURNAL_PROFILE`).
        burst: trigger, count; all at ``at`` (default None: the simulation start).
        trace: path to a CSV (``timestamp,phone,trigger[,device_id][,timezone]``); rows
            carry their own trigger. The path is stored absolute (resolved
            against the working directory when relative).
    All kinds but burst accept an optional arrival window ``start``/``end``
    (default: the whole run). All accept ``timezone``: the IANA zone of the
    leads they create (their send windows are in local time; default UTC).
    A trace's own ``timezone`` column wins over it row by row.

    Messages say ``workload.<field>``; `seqsim.model.scenario.Scenario` rewrites that to
    ``workload[<index>].<field>``.

    Raises:
        ScenarioError: unknown kind, a key that does not belong to the kind, a
            missing required key, or a bad value.
    """

    kind: str
    trigger: str | None = None
    rate_per_hour: float | None = None
    profile: tuple[float, ...] | None = None
    count: int | None = None
    at: datetime | None = None
    path: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    timezone: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in WORKLOAD_KINDS:
            raise fail("workload.kind", kind, f"one of {quoted(WORKLOAD_KINDS)}")
        allowed = _KIND_KEYS[kind]
        for name in field_names(WorkloadConfig):
            value = getattr(self, name)
            if name == "kind" or value is None:
                continue
            if name not in allowed:
                raise ScenarioError(
                    f"workload.{name}: {show(value)} is not valid; a {kind!r} workload takes no "
                    f"{name!r}, expected only {quoted(allowed)}"
                )
        for name in _KIND_REQUIRED[kind]:
            if getattr(self, name) is None:
                needs = quoted(_KIND_REQUIRED[kind])
                raise ScenarioError(f"workload.{name}: missing; a {kind!r} workload needs {needs}")
        if self.trigger is not None and not is_keyword(self.trigger):
            raise fail("workload.trigger", self.trigger, KEYWORD_EXPECTED)
        if self.rate_per_hour is not None:
            rate = self.rate_per_hour
            if not is_finite(rate) or rate <= 0:
                raise fail("workload.rate_per_hour", rate, "a finite number of leads per hour > 0")
            object.__setattr__(self, "rate_per_hour", float(rate))
        if kind == "diurnal":
            profile = DEFAULT_DIURNAL_PROFILE if self.profile is None else self.profile
            object.__setattr__(self, "profile", _parse_profile(profile))
        if self.count is not None:
            count = parse_int("workload.count", self.count, 1,
                              f"a whole number of leads from 1 to {MAX_ARRIVALS:,}", MAX_ARRIVALS)
            object.__setattr__(self, "count", count)
        if self.at is not None:
            object.__setattr__(self, "at", parse_instant(self.at, "workload.at"))
        if self.path is not None:
            if not isinstance(self.path, (str, os.PathLike)) or not str(self.path).strip():
                raise fail("workload.path", self.path, "the path of a CSV trace file")
            object.__setattr__(self, "path", os.path.abspath(os.fspath(self.path)))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_instant(value, f"workload.{name}"))
        if self.timezone is not None:
            check_zone("workload.timezone", self.timezone)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise fail(
                "workload.end",
                format_instant(self.end),
                f"an instant after workload.start ({format_instant(self.start)})",
            )


def _parse_profile(value: Any) -> tuple[float, ...]:
    expected = f"24 hourly weights from 0 to {MAX_PROFILE_WEIGHT:g} (UTC hours 0..23), not all zero"
    items = as_list("workload.profile", value, expected)
    if len(items) != 24:
        raise fail("workload.profile", value, f"{expected}; got {len(items)} values")
    for i, w in enumerate(items):
        if not is_finite(w) or not 0 <= w <= MAX_PROFILE_WEIGHT:
            raise fail(f"workload.profile[{i}]", w, f"a weight from 0 to {MAX_PROFILE_WEIGHT:g}")
    if not any(items):
        raise fail("workload.profile", value, expected)
    return tuple(float(w) for w in items)
