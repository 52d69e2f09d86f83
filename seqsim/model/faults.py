"""The production failure modes a run lives through: `FaultsConfig` (``[faults]``).

Also the device outages it injects (`DeviceOffline`, ``[[faults.device_offline]]``),
the values each choice accepts (`CLAIMING`, `DUPLICATE_GUARDS`), the run-level
checks that need the rest of the scenario (`check_faults`) and the faults'
own random stream (`faults_rng`). Every fault is off by default: a scenario
without ``[faults]`` runs exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from seqsim.errors import ScenarioError
from seqsim.model.policy import window_bounds, window_list
from seqsim.units import (
    format_duration,
    format_instant,
    parse_duration,
    parse_instant,
)
from seqsim.validation import (
    as_list,
    fail,
    field_names,
    is_finite,
    parse_choice,
    parse_int,
    quoted,
    with_key_prefix,
)

__all__ = [
    "CLAIMING",
    "DUPLICATE_GUARDS",
    "MAX_POLLERS",
    "DeviceOffline",
    "FaultStreams",
    "FaultsConfig",
    "check_faults",
    "faults_rng",
    "faults_table",
]

#: How a worker takes a due row: a conditional UPDATE that only one worker can
#: win, or an unconditional one (two workers that selected it both "win").
CLAIMING: tuple[str, ...] = ("conditional_update", "none")
#: What keeps a step's row from being inserted twice: the UNIQUE(sequence_id,
#: contact_phone, sequence_stepid) key, or a SELECT then an INSERT (which races).
DUPLICATE_GUARDS: tuple[str, ...] = ("unique_key", "check_then_insert")
#: The most pollers a run interleaves (production had an old and a new one).
MAX_POLLERS = 8
#: The largest disagreement of the database clock with the application's.
_MAX_OFFSET = timedelta(days=1)
_ONE_OF = ("expected exactly one of 'devices' (a list of device ids) or 'share' (a "
           "fraction of the fleet in (0, 1])")
_OFFSET_EXPECTED = "a signed duration of at most 1 day, e.g. '8h' or '-8h'"


def _signed_duration(key: str, value: Any) -> timedelta:
    """Return a duration that may be negative (``"-8h"``, ``-28800``), at most a day.

    Raises:
        ScenarioError: naming ``key``: not a duration, or longer than a day.
    """
    negative = False
    if isinstance(value, str) and value.strip().startswith("-"):
        negative, text = True, value.strip()[1:]
    elif (isinstance(value, timedelta) and value < timedelta(0)) or (is_finite(value)
                                                                      and value < 0):
        negative, text = True, -value
    else:
        text = value
    try:
        parsed = parse_duration(text, key)
    except ScenarioError:
        raise fail(key, value, _OFFSET_EXPECTED) from None
    if parsed > _MAX_OFFSET:
        raise fail(key, value, _OFFSET_EXPECTED)
    return -parsed if negative else parsed


def _format_signed(value: timedelta) -> str:
    return "-" + format_duration(-value) if value < timedelta(0) else format_duration(value)


def _probability(key: str, value: Any) -> float:
    if not is_finite(value) or not 0 <= value <= 1:
        raise fail(key, value, "a probability in [0, 1]")
    return float(value)


@dataclass(frozen=True)
class DeviceOffline:
    """A window during which devices are offline (``[[faults.device_offline]]``).

    In TOML give ``start``, ``end`` or ``duration``, and either ``devices``
    (ids such as ``"dev-001"``) or ``share`` (the first ``ceil(share x
    devices)`` devices in id order). A row whose assigned device is offline is
    skipped by every poll in ``[start, end)``.

    Raises:
        ScenarioError: naming ``faults.device_offline.<field>``: an end not
            after the start, both or neither of devices and share, a share
            outside (0, 1], an empty or repeated device list.
    """

    start: datetime
    end: datetime
    devices: tuple[str, ...] | None = None
    share: float | None = None

    def __post_init__(self) -> None:
        key = "faults.device_offline"
        start = parse_instant(self.start, f"{key}.start")
        end = parse_instant(self.end, f"{key}.end")
        if end <= start:
            raise fail(f"{key}.end", format_instant(end),
                       f"an instant after its start ({format_instant(start)})")
        if (self.devices is None) == (self.share is None):
            raise ScenarioError(f"{key}: {_ONE_OF}")
        if self.devices is not None:
            ids = as_list(f"{key}.devices", self.devices, "a list of device ids, e.g. ['dev-001']")
            if not ids or not all(isinstance(d, str) for d in ids) or len(set(ids)) < len(ids):
                raise fail(f"{key}.devices", self.devices,
                           "a non-empty list of distinct device ids, e.g. ['dev-001']")
            object.__setattr__(self, "devices", tuple(ids))
        else:
            if not is_finite(self.share) or not 0 < self.share <= 1:
                raise fail(f"{key}.share", self.share, "a share of the fleet in (0, 1]")
            object.__setattr__(self, "share", float(self.share))
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def from_table(cls, key: str, table: Mapping[str, Any]) -> DeviceOffline:
        """Build one from a TOML table: ``start``, ``end`` or ``duration``, and
        ``devices`` or ``share``.

        Raises:
            ScenarioError: unknown or missing keys, both ``end`` and ``duration``.
        """
        start, end = window_bounds(key, table, ("start", "end", "duration", "devices", "share"))
        if ("devices" in table) == ("share" in table):
            raise ScenarioError(f"{key}: {_ONE_OF}")
        try:
            return cls(start, end, devices=table.get("devices"), share=table.get("share"))
        except ScenarioError as exc:
            raise with_key_prefix(exc, "faults.device_offline.", f"{key}.") from exc

    def device_ids(self, fleet: list[str]) -> tuple[str, ...]:
        """Return the ids of the devices this window takes offline, of ``fleet``."""
        if self.devices is not None:
            return self.devices
        return tuple(fleet[: math.ceil(self.share * len(fleet))])


@dataclass(frozen=True)
class FaultsConfig:
    """The production failure modes a run lives through (``[faults]``); all off by default.

    Attributes:
        pollers: processors polling the same tables, 1 to `MAX_POLLERS`; two
            or more interleave their statements (see `seqsim.engine.row_faults`).
        poller_offsets: each poller's offset from the poll instant, one per
            poller, each in [0, poll_interval); empty: all at the poll instant.
        claiming: one of `CLAIMING`.
        duplicate_guard: one of `DUPLICATE_GUARDS`.
        crash_between_statements: probability that the worker advancing a
            contact dies after marking its row completed and before inserting
            the next step's row, in [0, 1].
        atomic_advance: the two statements run in one transaction (a crash
            rolls it back and the advance is retried at the next poll);
            False: each commits on its own and a crash loses the contact.
        stuck_claims: probability that a worker dies right after claiming a
            row (before queueing its message), in [0, 1].
        claim_timeout: how old a claim must be for a poll to release it
            (retry_count + 1); > 0.
        device_offline: windows during which devices are offline.
        db_clock_offset: the database clock minus the application's, at most
            a day either way (``"8h"``: the database clock ran in UTC+8): the statements
            that production ran on the database clock see ``now + offset``.

    Raises:
        ScenarioError: naming ``faults.<field>``, the value and what is valid.
    """

    pollers: int = 1
    poller_offsets: tuple[timedelta, ...] = ()
    claiming: str = "conditional_update"
    duplicate_guard: str = "unique_key"
    crash_between_statements: float = 0.0
    atomic_advance: bool = True
    stuck_claims: float = 0.0
    claim_timeout: timedelta = timedelta(minutes=5)
    device_offline: tuple[DeviceOffline, ...] = ()
    db_clock_offset: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        pollers = parse_int("faults.pollers", self.pollers, 1,
                            f"a whole number of pollers from 1 to {MAX_POLLERS}", MAX_POLLERS)
        offsets = as_list("faults.poller_offsets", self.poller_offsets,
                          "a list of durations, one per poller, e.g. ['0s', '7s']")
        parsed = tuple(parse_duration(o, f"faults.poller_offsets[{i}]")
                       for i, o in enumerate(offsets))
        if parsed and len(parsed) != pollers:
            raise fail("faults.poller_offsets", self.poller_offsets,
                       f"one offset per poller ({pollers}), or none")
        parse_choice("faults.claiming", self.claiming, CLAIMING)
        parse_choice("faults.duplicate_guard", self.duplicate_guard, DUPLICATE_GUARDS)
        if not isinstance(self.atomic_advance, (bool, np.bool_)):
            raise fail("faults.atomic_advance", self.atomic_advance, "true or false")
        timeout = parse_duration(self.claim_timeout, "faults.claim_timeout")
        if timeout <= timedelta(0):
            raise fail("faults.claim_timeout", self.claim_timeout, "a duration > 0, e.g. '5m'")
        object.__setattr__(self, "pollers", pollers)
        object.__setattr__(self, "poller_offsets", parsed)
        object.__setattr__(self, "atomic_advance", bool(self.atomic_advance))
        for name in ("crash_between_statements", "stuck_claims"):
            object.__setattr__(self, name, _probability(f"faults.{name}", getattr(self, name)))
        object.__setattr__(self, "claim_timeout", timeout)
        object.__setattr__(self, "device_offline", window_list(
            "faults.device_offline", self.device_offline, DeviceOffline,
            "a table with start, end or duration, and devices or share"))
        object.__setattr__(self, "db_clock_offset",
                           _signed_duration("faults.db_clock_offset", self.db_clock_offset))

    @property
    def active(self) -> list[str]:
        """Return the keys that differ from the default (no fault), in field order."""
        default = FaultsConfig()
        return [name for name in field_names(FaultsConfig)
                if getattr(self, name) != getattr(default, name)]

    def offset(self, poller: int) -> timedelta:
        """Return poller ``poller``'s offset from the poll instant."""
        return self.poller_offsets[poller] if self.poller_offsets else timedelta(0)


def check_faults(faults: FaultsConfig, poll_interval: timedelta, devices: int,
                 strategy: str) -> None:
    """Check what ``[faults]`` needs of the rest of the scenario.

    Raises:
        ScenarioError: a poller offset not below ``poll_interval``, an offline
            device that is not in the fleet of ``devices``, or faults with a
            ``strategy`` other than ``one_by_one`` (the faults act on the
            one-by-one advance).
    """
    for i, offset in enumerate(faults.poller_offsets):
        if offset >= poll_interval:
            raise fail(f"faults.poller_offsets[{i}]", format_duration(offset),
                       f"a duration below simulation.poll_interval "
                       f"({format_duration(poll_interval)})")
    width = max(3, len(str(devices)))
    for i, window in enumerate(faults.device_offline):
        for device in window.devices or ():
            number = device[4:] if device.startswith("dev-") else ""
            if not (number.isdigit() and len(number) == width and 1 <= int(number) <= devices):
                raise fail(f"faults.device_offline[{i}].devices", device,
                           f"a device of the fleet (dev-{1:0{width}d} to "
                           f"dev-{devices:0{width}d})")
    if faults.active and strategy != "one_by_one":
        raise fail("policy.strategy", strategy,
                   f"'one_by_one' with [faults] ({quoted(faults.active)} set): the faults act "
                   "on the one-by-one advance")


def faults_table(faults: FaultsConfig) -> dict[str, Any]:
    """Return ``[faults]`` as plain TOML data: only the keys that differ from the default."""
    table: dict[str, Any] = {}
    for name in faults.active:
        value = getattr(faults, name)
        if name == "poller_offsets":
            value = [format_duration(o) for o in value]
        elif name == "claim_timeout":
            value = format_duration(value)
        elif name == "db_clock_offset":
            value = _format_signed(value)
        elif name == "device_offline":
            value = [{k: v for k, v in
                      (("start", format_instant(w.start)), ("end", format_instant(w.end)),
                       ("devices", list(w.devices) if w.devices else None),
                       ("share", w.share)) if v is not None} for w in value]
        table[name] = value
    return table


def faults_rng(seed: int) -> FaultStreams:
    """Return the faults' own random streams of a run seeded ``seed``.

    They come from the third child of the run's seed sequence (the arrivals
    are the first and the sending draws the second, see `seqsim.run.simulate`),
    so turning a fault on changes neither the arrivals nor the send outcomes.
    """
    return FaultStreams(np.random.SeedSequence(seed).spawn(3)[2])


class FaultStreams:
    """The faults' random streams: one per purpose, so each decision is made the same
    whichever polls a run skips.

    ``stuck`` (a draw per successful claim) and ``crash`` (a draw per advance)
    are drawn in the order claims and advances happen; the interleaving of a
    poll is drawn from a stream of its own (:meth:`interleaving`), keyed by
    the poll instant, so an idle poll that runs draws nothing another poll sees.
    """

    def __init__(self, root: np.random.SeedSequence) -> None:
        interleave, stuck, crash = root.spawn(3)
        self._interleave = interleave
        self.stuck = np.random.default_rng(stuck)
        self.crash = np.random.default_rng(crash)

    def interleaving(self, poll_us: int) -> np.random.Generator:
        """Return the stream that orders the statements of the poll at ``poll_us``
        (microseconds since 1970)."""
        key = (*self._interleave.spawn_key, poll_us % 2**63)
        return np.random.default_rng(np.random.SeedSequence(self._interleave.entropy,
                                                            spawn_key=key))
