"""Validation helpers every input surface shares.

One integer check, one number check, one did-you-mean, and the standard
rejection ``"<key>: <value> is not valid; expected <what is valid>"``, so a
scenario file, a ``--set`` override, a trace or a baseline file reads the
same way when it is wrong.

Also the rules two model modules share: what a trigger keyword is, which keys
a dataclass's table accepts, and re-keying a part's error for its place in
the scenario.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date
from typing import Any

import numpy as np

from seqsim.errors import ScenarioError

__all__ = [
    "INT32_MAX",
    "KEYWORD_EXPECTED",
    "MAX_SEED",
    "as_list",
    "check_keys",
    "close_match",
    "fail",
    "field_names",
    "is_finite",
    "is_int",
    "is_keyword",
    "is_number",
    "parse_choice",
    "parse_int",
    "quoted",
    "show",
    "show_key",
    "show_path",
    "unknown_key",
    "with_key_prefix",
]

#: What a trigger keyword must look like (a sequence's or a workload's).
KEYWORD_EXPECTED = "a non-empty keyword without commas or surrounding spaces"

#: The largest count a DuckDB INTEGER column (limits, retries, day numbers) holds.
INT32_MAX = 2**31 - 1

#: The largest seed: seeds fit a signed 64-bit column wherever a result or baseline keeps them.
MAX_SEED = 2**63 - 1

#: The most characters of a value (or key) an error message echoes; a longer
#: one is cut and ends in "…", so a 5,000-character value still gives one line.
SHOW_LIMIT = 60
# A key shown bare: TOML bare-key characters, plus the dots and brackets of a path.
_BARE_KEY = re.compile(r"[A-Za-z0-9_\-.\[\]]+")


def show(value: Any) -> str:
    """Return ``repr(value)`` for an error message, cut to `SHOW_LIMIT` characters + "…".

    An instant reads as its ISO text (``'2025-07-01T00:00:00'``), as a user writes it.
    """
    text = repr(value.isoformat() if isinstance(value, date) else value)
    return text if len(text) <= SHOW_LIMIT else text[:SHOW_LIMIT] + "…"


def show_path(path: Any) -> str:
    """Return ``repr`` of a file path for an error message, its middle elided past
    120 characters (a path's end names the file, so it is kept, unlike `show`)."""
    text = str(path)
    return repr(text if len(text) <= 120 else f"{text[:60]}...{text[-57:]}")


def show_key(name: Any) -> str:
    """Return a key (or key path) for an error message.

    A bare name (letters, digits, ``_``, ``-``, and the ``.``/``[i]`` of a
    path) reads as is (``capacity.devices``); anything else is quoted and
    shortened like a value (``' '``, ``'my key'``), so a blank or huge key
    still reads as a key.
    """
    if isinstance(name, str) and len(name) <= SHOW_LIMIT and _BARE_KEY.fullmatch(name):
        return name
    return show(name)


def fail(key: str, value: Any, expected: str) -> ScenarioError:
    """Return (not raise) the standard rejection so call sites read ``raise fail(...)``."""
    return ScenarioError(f"{key}: {show(value)} is not valid; expected {expected}")


def is_int(value: Any) -> bool:
    """Return whether ``value`` is a whole number given as an integer type.

    bool is an int subclass, but ``devices = true`` is a mistake, not 1 device;
    numpy integers (sweep grids, frames) are accepted: callers store ``int()``.
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_number(value: Any) -> bool:
    """Return whether ``value`` is a real number (int or float types, not bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_finite(value: Any) -> bool:
    """Return whether ``value`` is a real number that a float holds finitely.

    NaN, infinities and integers too big for a float (``10**400``, which
    ``math.isfinite`` cannot even take) are not.
    """
    if not is_number(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def quoted(values: Iterable[Any]) -> str:
    """Return ``'a', 'b', 'c'``: the valid values of an error message."""
    return ", ".join(show(v) for v in values)


def close_match(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the valid name closest to ``name`` (a did-you-mean), or None."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_key(key: str, name: str, valid: Iterable[str]) -> ScenarioError:
    """Return the ScenarioError for an unknown key, with a did-you-mean when one is close."""
    valid = list(valid)
    close = close_match(name, valid)
    if close is not None:
        return ScenarioError(f"{key}: unknown key; did you mean {show(close)}?")
    return ScenarioError(f"{key}: unknown key; expected one of {quoted(valid)}")


def check_keys(key: str, table: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Reject any key of ``table`` not in ``valid`` (``key`` is the table's path).

    Raises:
        ScenarioError: naming ``key.<name>``, with a did-you-mean.
    """
    valid = tuple(valid)
    for name in table:
        if name not in valid:
            part = show_key(name)
            raise unknown_key(f"{key}.{part}" if key else part, str(name), valid)


def as_list(key: str, value: Any, expected: str) -> list[Any]:
    """Return a list-like ``value`` as a list; a string, table or scalar is rejected.

    Raises:
        ScenarioError: naming ``key`` and ``expected``.
    """
    if isinstance(value, (Mapping, str, bytes)) or not isinstance(value, Iterable):
        raise fail(key, value, expected)
    return list(value)


def parse_choice(key: str, value: Any, supported: tuple[str, ...]) -> str:
    """Return ``value`` when it is one of ``supported``.

    Raises:
        ScenarioError: naming ``key`` and the supported values.
    """
    if isinstance(value, str) and value in supported:
        return value
    raise fail(key, value, f"one of {quoted(supported)}")


def parse_int(
    key: str, value: Any, minimum: int, expected: str, maximum: int | None = None
) -> int:
    """Return ``value`` as an int when it is a whole number >= ``minimum`` (and <= ``maximum``).

    Raises:
        ScenarioError: naming ``key`` and ``expected``.
    """
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        raise fail(key, value, expected)
    return int(value)


def is_keyword(value: Any) -> bool:
    """Return whether ``value`` is a trigger keyword: a str, not blank, no commas or padding.

    Commas are rejected because a lead's ``trigger`` column lists keywords
    separated by commas.
    """
    return (
        isinstance(value, str) and bool(value.strip()) and "," not in value
        and value == value.strip()
    )


def field_names(cls: type) -> tuple[str, ...]:
    """Return the field names of dataclass ``cls``: the keys its table accepts."""
    return tuple(f.name for f in fields(cls))


def with_key_prefix(exc: ScenarioError, old: str, new: str) -> ScenarioError:
    """Return a ScenarioError like ``exc`` whose message's key prefix ``old`` reads ``new``.

    A part validated on its own says ``workload.rate_per_hour``; the scenario
    that holds it as item 2 says ``workload[2].rate_per_hour``. A message not
    starting with ``old`` is kept as is.
    """
    msg = str(exc)
    if msg.startswith(old):
        msg = new + msg[len(old) :]
    return ScenarioError(msg)
