"""A sequence definition: its steps' day numbers, delays, pacing and chain.

`SequenceConfig` is the one place a sequence is described, whether it comes
from a scenario file, the Python API or a test. Constructing one fills the
defaults and validates; `check_chains` validates a set of them together.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from seqsim.errors import SequenceDefinitionError
from seqsim.model.windows import parse_days, parse_hours
from seqsim.validation import (
    KEYWORD_EXPECTED,
    is_finite,
    is_int,
    is_keyword,
    quoted,
    show,
    show_key,
)

__all__ = [
    "MAX_DAY",
    "MAX_DELAY_HOURS",
    "MAX_PACING_SECONDS",
    "SequenceConfig",
    "check_chains",
    "default_delay_hours",
    "step_trigger",
]

#: The largest day number (10 years): day gaps x 24 are the default delays.
MAX_DAY = 3_650
#: The most hours a sequence's delays add up to (10 years), so a step's due
#: time, even all steps precomputed at enrolment, stays in the instant range.
MAX_DELAY_HOURS = MAX_DAY * 24
#: The longest pacing gap between two messages on a device (a day).
MAX_PACING_SECONDS = 86_400.0


def step_trigger(trigger: str, day_number: int) -> str:
    """Return the keyword of one step, e.g. ``cold_day3`` for trigger ``cold``, day 3."""
    return f"{trigger}_day{day_number}"


def default_delay_hours(days: Sequence[int]) -> tuple[int, ...]:
    """Return the default trigger_delay_hours per step: 0, then each day gap x 24.

    Days 1, 3, 6, 9 give 0, 48, 72, 72.
    """
    return (0, *((b - a) * 24 for a, b in itertools.pairwise(days)))


def _int_tuple(where: str, value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise SequenceDefinitionError(
            f"{where}: {show(value)} is not valid; expected a list of {what}"
        )
    items = list(value)
    out = []
    for i, item in enumerate(items):
        # Accept 48.0 from TOML/JSON but not 1.5: delays are whole hours, like production.
        if isinstance(item, float) and math.isfinite(item) and item.is_integer():
            item = int(item)
        if not is_int(item):
            raise SequenceDefinitionError(
                f"{where}[{i}]: {show(item)} is not valid; expected {what} (whole numbers)"
            )
        # is_int admits numpy integers: store plain ints so tables and TOML stay the same.
        out.append(int(item))
    return tuple(out)


def _check_name_and_trigger(where: str, name: Any, trigger: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise SequenceDefinitionError(
            f"{where}.name: {show(name)} is not valid; expected a non-empty string"
        )
    if not is_keyword(trigger):
        raise SequenceDefinitionError(
            f"{where}.trigger: {show(trigger)} is not valid; expected {KEYWORD_EXPECTED}"
        )


def _each_from_zero(key: str, values: tuple[int, ...], upper: int, what: str) -> None:
    """Raise SequenceDefinitionError naming ``key[i]`` for the first value outside
    0..``upper`` (``what`` names the unit in the message)."""
    for i, value in enumerate(values):
        if not 0 <= value <= upper:
            raise SequenceDefinitionError(
                f"{key}[{i}]: {show(value)} is not valid; expected {what} from 0 to {upper:,}"
            )


def _step_days(where: str, value: Any) -> tuple[int, ...]:
    """Return the validated day numbers: at least one, >= 0, strictly increasing."""
    days = _int_tuple(f"{where}.days", value, "day numbers")
    if not days:
        raise SequenceDefinitionError(
            f"{where}.days: [] is not valid; a sequence needs at least one step"
        )
    _each_from_zero(f"{where}.days", days, MAX_DAY, "a day number")
    for i in range(1, len(days)):
        if days[i] <= days[i - 1]:
            raise SequenceDefinitionError(
                f"{where}.days: {list(days)} is not valid; day numbers must be strictly "
                f"increasing (day {days[i]} follows day {days[i - 1]})"
            )
    return days


def _step_delays(where: str, value: Any, days: tuple[int, ...]) -> tuple[int, ...]:
    """Return the validated delay_hours, one per step (the default when ``value`` is None)."""
    if value is None:
        return default_delay_hours(days)
    delays = _int_tuple(f"{where}.delay_hours", value, "hours >= 0")
    if len(delays) != len(days):
        raise SequenceDefinitionError(
            f"{where}.delay_hours: {list(delays)} is not valid; expected one value per "
            f"step ({len(days)} steps)"
        )
    _each_from_zero(f"{where}.delay_hours", delays, MAX_DELAY_HOURS, "hours")
    if sum(delays) > MAX_DELAY_HOURS:
        raise SequenceDefinitionError(
            f"{where}.delay_hours: {show(list(delays))} is not valid; expected hours adding up "
            f"to at most {MAX_DELAY_HOURS:,} (10 years), not {sum(delays):,}"
        )
    return delays


def _check_pacing_seconds(where: str, seq: SequenceConfig) -> None:
    for attr in ("min_delay_seconds", "max_delay_seconds"):
        v = getattr(seq, attr)
        if not is_finite(v) or not 0 <= v <= MAX_PACING_SECONDS:
            raise SequenceDefinitionError(
                f"{where}.{attr}: {show(v)} is not valid; expected seconds from 0 to "
                f"{MAX_PACING_SECONDS:,.0f} (a day)"
            )


@dataclass(frozen=True)
class SequenceConfig:
    """One drip sequence.

    Attributes:
        name: unique name, e.g. ``"COLD"``.
        trigger: entry keyword; a lead whose ``trigger`` lists it is enrolled.
        days: each step's day_number label (strictly increasing, 0 to
            `MAX_DAY`); not necessarily consecutive, e.g. ``(1, 3, 6, 9)``.
        delay_hours: trigger_delay_hours per step (wait before that step once
            the previous one is done), adding up to at most `MAX_DELAY_HOURS`.
            Default: 0 for the entry step, then the day gap x 24.
        next: name of the sequence a lead is enrolled in after the last step.
        min_delay_seconds / max_delay_seconds: device pacing gap range, 0 to
            `MAX_PACING_SECONDS`.
        is_active: inactive sequences are never processed.
        send_hours / send_days: this sequence's send window, replacing the
            ``[policy]`` one (see `seqsim.model.policy.PolicyConfig`); None: the
            policy's.

    Raises:
        SequenceDefinitionError: naming the field, the value and what is valid.
    """

    name: str
    trigger: str
    days: tuple[int, ...]
    delay_hours: tuple[int, ...] | None = None
    next: str | None = None
    min_delay_seconds: float = 5.0
    max_delay_seconds: float = 15.0
    is_active: bool = True
    send_hours: str | None = None
    send_days: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        where = f"sequences.{show_key(self.name)}" if isinstance(self.name, str) else "sequences.?"
        # The checks run in this order so that the first bad field is the one reported.
        _check_name_and_trigger(where, self.name, self.trigger)
        days = _step_days(where, self.days)
        delays = _step_delays(where, self.delay_hours, days)
        if self.next is not None and (not isinstance(self.next, str) or not self.next):
            raise SequenceDefinitionError(
                f"{where}.next: {show(self.next)} is not valid; expected the name of another "
                "sequence"
            )
        _check_pacing_seconds(where, self)
        if self.send_hours is not None:
            parse_hours(f"{where}.send_hours", self.send_hours)
        if self.send_days is not None:
            object.__setattr__(self, "send_days", parse_days(f"{where}.send_days", self.send_days))
        if self.min_delay_seconds > self.max_delay_seconds:
            raise SequenceDefinitionError(
                f"{where}.min_delay_seconds: {show(self.min_delay_seconds)} is not valid; it "
                f"must be "
                f"<= max_delay_seconds ({show(self.max_delay_seconds)})"
            )
        if not isinstance(self.is_active, bool):
            raise SequenceDefinitionError(
                f"{where}.is_active: {show(self.is_active)} is not valid; expected true or false"
            )
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "delay_hours", delays)
        object.__setattr__(self, "min_delay_seconds", float(self.min_delay_seconds))
        object.__setattr__(self, "max_delay_seconds", float(self.max_delay_seconds))

    @property
    def step_triggers(self) -> tuple[str, ...]:
        """Return each step's own keyword (``cold_day1``, ``cold_day3``, ...)."""
        return tuple(step_trigger(self.trigger, d) for d in self.days)


def check_chains(sequences: Sequence[SequenceConfig]) -> None:
    """Validate a set of sequences together.

    Raises:
        SequenceDefinitionError: duplicate names or triggers, a ``next`` naming a
            missing sequence, or a chain cycle (COLD -> WARM -> COLD).
    """
    by_name: dict[str, SequenceConfig] = {}
    triggers: dict[str, str] = {}
    for seq in sequences:
        where = f"sequences.{show_key(seq.name)}"
        if seq.name in by_name:
            raise SequenceDefinitionError(
                f"{where}.name: {show(seq.name)} is not valid; names must be unique"
            )
        if seq.trigger in triggers:
            raise SequenceDefinitionError(
                f"{where}.trigger: {show(seq.trigger)} is not valid; it is already the "
                f"trigger of sequence {show(triggers[seq.trigger])}"
            )
        by_name[seq.name] = seq
        triggers[seq.trigger] = seq.name
    for seq in sequences:
        if seq.next is not None and seq.next not in by_name:
            raise SequenceDefinitionError(
                f"sequences.{show_key(seq.name)}.next: {show(seq.next)} is not valid; no such "
                f"sequence (known: {quoted(sorted(by_name))})"
            )
    for seq in sequences:
        path = [seq.name]
        cur = seq
        while cur.next is not None:
            if cur.next in path:
                cycle = " -> ".join([*path[path.index(cur.next):], cur.next])
                raise SequenceDefinitionError(
                    f"sequences.{show_key(seq.name)}.next: {show(seq.next)} is not valid; the "
                    f"chain has a cycle ({cycle})"
                )
            path.append(cur.next)
            cur = by_name[cur.next]
