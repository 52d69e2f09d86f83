"""The scenario: `Scenario`, its run settings `SimulationConfig`, TOML load/save.

A `Scenario` is everything one simulation run needs: the clock settings
(`SimulationConfig`), the sequences (`seqsim.model.sequence.SequenceConfig`), the
enrolment workload (`seqsim.model.workload.WorkloadConfig`), the device fleet
(`seqsim.model.capacity.CapacityConfig`), the engine policy
(`seqsim.model.policy.PolicyConfig`) and the production faults it lives
through (`seqsim.model.faults.FaultsConfig`, none by default). The engine
names a scenario may choose (`ENGINE_NAMES`) are scenario vocabulary and live
here too.

Each dataclass validates and normalises itself in ``__post_init__``; that is the
one path that fills defaults and rejects bad input, whether a scenario is built
in Python, loaded from TOML (`Scenario.from_toml`) or derived with
`Scenario.with_overrides`. Every rejection is a `ScenarioError` whose message
reads ``"<key path>: <value> is not valid; expected <what is valid>"``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from seqsim.errors import ScenarioError
from seqsim.model.capacity import CapacityConfig
from seqsim.model.faults import FaultsConfig, check_faults, faults_table
from seqsim.model.feeds import check_workload
from seqsim.model.overrides import apply_override
from seqsim.model.policy import PolicyConfig
from seqsim.model.sequence import SequenceConfig, check_chains, default_delay_hours
from seqsim.model.size import check_polls, check_run_size
from seqsim.model.workload import WORKLOAD_KINDS, WorkloadConfig
from seqsim.units import (
    DURATION_EXPECTED,
    INSTANT_EXPECTED,
    INSTANT_MAX,
    format_duration,
    format_instant,
    parse_duration,
    parse_instant,
)
from seqsim.validation import (
    MAX_SEED,
    as_list,
    check_keys,
    fail,
    field_names,
    parse_choice,
    parse_int,
    quoted,
    show_key,
    with_key_prefix,
)

__all__ = ["DEFAULT_ENGINE", "ENGINE_NAMES", "Scenario", "SimulationConfig"]

#: Engine names a scenario or `simulate(engine=...)` may choose.
ENGINE_NAMES: tuple[str, ...] = ("row", "batch")
#: The engine used when a scenario does not name one.
DEFAULT_ENGINE = "batch"


def _as_table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(key, value, f"a table ([{key}])")
    return value


def _list_of_tables(key: str, value: Any) -> list[Mapping[str, Any]]:
    items = as_list(key, value, f"a list of tables ([[{key}]])")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise fail(f"{key}[{i}]", item, f"a table ([[{key}]])")
    return items


@dataclass(frozen=True)
class SimulationConfig:
    """The virtual clock and run settings (``[simulation]``).

    Attributes:
        start: first instant simulated, naive UTC (ISO string or datetime
            accepted), from 1900-01-01 (`seqsim.units.INSTANT_MIN`).
        duration: how long to simulate (duration string, timedelta or
            seconds); the run must end by 2200-01-01 (`seqsim.units.INSTANT_MAX`).
        poll_interval: time between two polls of the processor (> 0), giving
            at most `seqsim.model.size.MAX_POLLS` polls.
        seed: seed of the run's single random generator, 0 to 2**63 - 1.
        engine: advance engine, one of `ENGINE_NAMES`.

    Raises:
        ScenarioError: naming ``simulation.<field>``, the value and what is valid.
    """

    start: datetime
    duration: timedelta
    poll_interval: timedelta = timedelta(seconds=15)
    seed: int = 42
    engine: str = DEFAULT_ENGINE

    def __post_init__(self) -> None:
        start = parse_instant(self.start, "simulation.start")
        duration = parse_duration(self.duration, "simulation.duration")
        poll = parse_duration(self.poll_interval, "simulation.poll_interval")
        if poll <= timedelta(0):
            raise fail(
                "simulation.poll_interval", self.poll_interval, "a duration > 0, e.g. '15s'"
            )
        if duration < poll:
            raise fail(
                "simulation.duration",
                self.duration,
                f"a duration >= poll_interval ({format_duration(poll)})",
            )
        if start + duration > INSTANT_MAX:
            raise fail("simulation.duration", self.duration,
                       f"a duration that ends the run by {format_instant(INSTANT_MAX)} (the "
                       f"run starts {format_instant(start)})")
        check_polls(duration, poll, self.poll_interval)
        seed = parse_int("simulation.seed", self.seed, 0, f"an integer from 0 to {MAX_SEED:,}",
                         MAX_SEED)
        engine = parse_choice("simulation.engine", self.engine, ENGINE_NAMES)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "duration", duration)
        object.__setattr__(self, "poll_interval", poll)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "engine", engine)

    @property
    def end(self) -> datetime:
        """Return the first instant after the run (start + duration)."""
        return self.start + self.duration


@dataclass(frozen=True)
class Scenario:
    """Everything one simulation run needs.

    Construct it directly, or with `from_dict`, `from_toml`, `from_toml_string`;
    derive variants with `with_overrides`. Lists are stored as tuples.

    Raises:
        ScenarioError: bad parts, no sequences, broken chains
            (`SequenceDefinitionError`), a workload trigger naming no sequence,
            a workload window or burst outside the run, or a trace file that is
            missing, malformed, names unknown triggers or devices.
    """

    simulation: SimulationConfig
    sequences: tuple[SequenceConfig, ...]
    workload: tuple[WorkloadConfig, ...] = ()
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    faults: FaultsConfig = field(default_factory=FaultsConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.simulation, SimulationConfig):
            raise fail("simulation", self.simulation, "a SimulationConfig")
        if not isinstance(self.capacity, CapacityConfig):
            raise fail("capacity", self.capacity, "a CapacityConfig")
        if not isinstance(self.policy, PolicyConfig):
            raise fail("policy", self.policy, "a PolicyConfig")
        if not isinstance(self.faults, FaultsConfig):
            raise fail("faults", self.faults, "a FaultsConfig")
        sequences = self._as_tuple("sequences", self.sequences, SequenceConfig)
        workload = self._as_tuple("workload", self.workload, WorkloadConfig)
        if not sequences:
            raise fail("sequences", [], "at least one sequence ([[sequences]])")
        check_chains(sequences)
        object.__setattr__(self, "sequences", sequences)
        object.__setattr__(self, "workload", workload)
        sim = self.simulation
        trace_rows = [check_workload(i, wl, sequences, sim.start, sim.end, self.capacity.devices)
                      for i, wl in enumerate(workload)]
        self._check_policy()
        check_faults(self.faults, sim.poll_interval, self.capacity.devices, self.policy.strategy)
        check_run_size(sim.start, sim.end, sim.poll_interval, self.capacity.devices, workload,
                       trace_rows)

    def _check_policy(self) -> None:
        policy = self.policy
        if policy.daily_cap == "calendar" and not self.capacity.daily_limit:
            raise fail("policy.daily_cap", "calendar",
                        "'rolling' when capacity.daily_limit is 0 (unlimited): a calendar "
                        "cap needs a daily limit to count")
        start, end = self.simulation.start, self.simulation.end
        window = f"[{format_instant(start)}, {format_instant(end)})"
        for i, outage in enumerate(policy.outages):
            if not start <= outage.start < end:
                raise fail(f"policy.outages[{i}].start", format_instant(outage.start),
                            f"an instant in the run {window}")

    @staticmethod
    def _as_tuple(key: str, value: Any, cls: type) -> tuple[Any, ...]:
        items = tuple(as_list(key, value, f"a list of {cls.__name__}"))
        for i, item in enumerate(items):
            if not isinstance(item, cls):
                raise fail(f"{key}[{i}]", item, f"a {cls.__name__}")
        return items

    # ------------------------------------------------------------------ properties

    @property
    def end(self) -> datetime:
        """Return the first instant after the run (simulation start + duration)."""
        return self.simulation.end

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | str | None = None) -> Scenario:
        """Build a scenario from nested tables, as read from TOML.

        Tables: ``simulation`` (required), ``sequences`` (list, required),
        ``workload`` (list), ``capacity``, ``policy``, ``faults``. Relative trace paths are
        resolved against ``base_dir`` (default: the working directory).

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: unknown keys (with a did-you-mean), missing tables or
                keys, wrong types or bad values, naming the key path.
        """
        d = _as_table("scenario", d)
        check_keys("", d, _TOP_LEVEL_KEYS)
        if "simulation" not in d:
            raise ScenarioError(
                "simulation: missing; expected a [simulation] table with start and duration"
            )
        sim_table = _as_table("simulation", d["simulation"])
        check_keys("simulation", sim_table, _TABLE_FIELDS["simulation"])
        for name, expected in (("start", INSTANT_EXPECTED), ("duration", DURATION_EXPECTED)):
            if name not in sim_table:
                raise ScenarioError(f"simulation.{name}: missing; expected {expected}")
        simulation = SimulationConfig(**sim_table)

        if "sequences" not in d:
            raise ScenarioError("sequences: missing; expected at least one [[sequences]] table")
        sequences = tuple(
            _sequence_from_table(i, t)
            for i, t in enumerate(_list_of_tables("sequences", d["sequences"]))
        )

        base = Path(base_dir) if base_dir is not None else Path.cwd()
        workload = tuple(
            _workload_from_table(i, t, base)
            for i, t in enumerate(_list_of_tables("workload", d.get("workload", [])))
        )

        cap_table = _as_table("capacity", d.get("capacity", {}))
        check_keys("capacity", cap_table, _TABLE_FIELDS["capacity"])
        pol_table = _as_table("policy", d.get("policy", {}))
        check_keys("policy", pol_table, _TABLE_FIELDS["policy"])
        faults_tbl = _as_table("faults", d.get("faults", {}))
        check_keys("faults", faults_tbl, _TABLE_FIELDS["faults"])
        return cls(
            simulation=simulation,
            sequences=sequences,
            workload=workload,
            capacity=CapacityConfig(**cap_table),
            policy=PolicyConfig(**pol_table),
            faults=FaultsConfig(**faults_tbl),
        )

    @classmethod
    def from_toml_string(cls, text: str, base_dir: Path | str | None = None) -> Scenario:
        """Parse a scenario from TOML text; see `from_dict` for ``base_dir``.

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: invalid TOML (with tomllib's line/column) or any
                validation error.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"scenario: invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=base_dir)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Scenario:
        """Load a scenario file; relative trace paths are resolved against its folder.

        Returns:
            The validated `Scenario`.

        Raises:
            ScenarioError: the file is missing/unreadable or not valid TOML
                (naming the file, and the line for syntax errors), or any
                validation error.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ScenarioError(f"{p}: file not found; expected a scenario TOML file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{p}: cannot read the scenario file: {exc}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{p}: invalid TOML: {exc}") from exc
        return cls.from_dict(data, base_dir=p.parent)

    # ------------------------------------------------------------------ saving

    def to_dict(self) -> dict[str, Any]:
        """Return the fully resolved scenario as plain tables.

        Defaults are filled, durations are strings (``"15s"``), instants ISO
        strings, tuples lists, and None-valued optional keys are omitted, so
        ``Scenario.from_dict(s.to_dict()) == s``. ``faults`` is there only when
        a fault is set, with the keys that differ from the default.
        """
        sim = self.simulation
        faults = {"faults": faults_table(self.faults)} if self.faults.active else {}
        return {
            "simulation": {
                "start": format_instant(sim.start),
                "duration": format_duration(sim.duration),
                "poll_interval": format_duration(sim.poll_interval),
                "seed": sim.seed,
                "engine": sim.engine,
            },
            "sequences": [_plain(asdict(s)) for s in self.sequences],
            "workload": [_plain(asdict(w)) for w in self.workload],
            "capacity": asdict(self.capacity),
            "policy": _policy_table(self.policy),
            **faults,
        }

    def to_toml(self) -> str:
        """Return the fully resolved scenario as TOML text (see `to_dict`)."""
        return tomli_w.dumps(self.to_dict())

    # ------------------------------------------------------------------ overrides

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """Return a new scenario with dotted keys replaced.

        Keys: ``"capacity.devices"``, ``"simulation.duration"``,
        ``"policy.progress_on"``, ``"faults.pollers"``, ``"sequences.COLD.days"`` (by name) or
        ``"sequences.0.days"`` (by index), ``"workload.0.rate_per_hour"``. A
        value of None removes an optional key (e.g. ``"sequences.COLD.next"``).
        The result goes through `from_dict`, so validation is the same as loading.
        A sequence whose ``delay_hours`` were the default (day gaps x 24) gets
        them re-derived when only its ``days`` are overridden.

        Returns:
            The new, validated `Scenario`; ``self`` is unchanged.

        Raises:
            ScenarioError: unknown paths (with a did-you-mean) or invalid values.
        """
        data = self.to_dict()
        data.setdefault("faults", {})
        touched: dict[int, set[str]] = {}
        for key, value in overrides.items():
            table, name = apply_override(data, key, value, _TABLE_FIELDS)
            touched.setdefault(id(table), set()).add(name)
        for seq, table in zip(self.sequences, data["sequences"], strict=True):
            names = touched.get(id(table), set())
            derived = seq.delay_hours == default_delay_hours(seq.days)
            if derived and "days" in names and "delay_hours" not in names:
                table.pop("delay_hours", None)
        return Scenario.from_dict(data)


def _plain(table: dict[str, Any]) -> dict[str, Any]:
    """Return ``table`` ready for TOML: no None values, tuples as lists, ISO instants."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = format_instant(value)
        out[key] = value
    return out


def _policy_table(policy: PolicyConfig) -> dict[str, Any]:
    table = _plain(asdict(policy))
    table["stale_after"] = format_duration(policy.stale_after)
    table["outages"] = [
        {"start": format_instant(o.start), "end": format_instant(o.end)} for o in policy.outages
    ]
    return table


def _sequence_from_table(index: int, table: Mapping[str, Any]) -> SequenceConfig:
    name = table.get("name")
    key = f"sequences.{show_key(name)}" if isinstance(name, str) and name else f"sequences[{index}]"
    check_keys(key, table, _TABLE_FIELDS["sequences"])
    for required in ("name", "trigger", "days"):
        if required not in table:
            raise ScenarioError(f"{key}.{required}: missing; it is required")
    return SequenceConfig(**table)


def _workload_from_table(index: int, table: Mapping[str, Any], base: Path) -> WorkloadConfig:
    key = f"workload[{index}]"
    check_keys(key, table, _TABLE_FIELDS["workload"])
    if "kind" not in table:
        raise ScenarioError(f"{key}.kind: missing; expected one of {quoted(WORKLOAD_KINDS)}")
    values = dict(table)
    path = values.get("path")
    if isinstance(path, (str, os.PathLike)) and str(path).strip():
        values["path"] = str(base / Path(path).expanduser())
    try:
        return WorkloadConfig(**values)
    except ScenarioError as exc:
        raise with_key_prefix(exc, "workload.", f"workload[{index}].") from exc


#: The top-level tables of a scenario, in the order messages list them, and
#: the keys each (or each of its items) accepts.
_TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "simulation": field_names(SimulationConfig),
    "sequences": field_names(SequenceConfig),
    "workload": field_names(WorkloadConfig),
    "capacity": field_names(CapacityConfig),
    "policy": field_names(PolicyConfig),
    "faults": field_names(FaultsConfig),
}
_TOP_LEVEL_KEYS: tuple[str, ...] = tuple(_TABLE_FIELDS)
