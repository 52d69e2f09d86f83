"""The model of a ``--set key=value`` override: `parse_override` and `apply_override`.

An override names one value of the `seqsim.model.scenario.Scenario.to_dict`
tables by a dotted key (``capacity.devices``, ``sequences.COLD.days``,
``workload.0.rate_per_hour``); `Scenario.with_overrides` applies them and
validates the result like a loaded file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from seqsim.errors import ScenarioError
from seqsim.validation import close_match, fail, quoted, show, show_key, unknown_key

__all__ = ["apply_override", "parse_override"]

#: The tables that are lists of items, selected by name or index in a key.
_LIST_TABLES: tuple[str, ...] = ("sequences", "workload")


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a CLI ``--set key=value``.

    The value is read as a TOML value (``4`` -> int, ``[1, 3]`` -> list,
    ``2025-07-02T00:00:00`` -> datetime) and falls back to the plain string
    (``7d``, ``queue``) when it is not valid TOML.

    Returns:
        ``(key, value)``, e.g. ``("capacity.devices", 4)``.

    Raises:
        ScenarioError: no ``=`` or an empty key.
    """
    if not isinstance(text, str) or "=" not in text:
        raise fail("--set", text, "key=value, e.g. 'capacity.devices=4'")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise fail("--set", text, "key=value with a non-empty key, e.g. 'capacity.devices=4'")
    raw = raw.strip()
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return key, raw
    # "1\nx = 2" parses as two keys: that was not one TOML value, keep the text.
    if set(parsed) != {"v"}:
        return key, raw
    return key, parsed["v"]


def apply_override(
    data: dict[str, Any], key: Any, value: Any, fields: Mapping[str, tuple[str, ...]]
) -> tuple[dict[str, Any], str]:
    """Set dotted ``key`` in the `Scenario.to_dict` tables ``data`` (in place).

    ``fields`` maps each top-level table, in the order error messages list
    them, to the keys its items accept. A value of None removes the key.

    Returns:
        The table that was changed and the key set in it.

    Raises:
        ScenarioError: the path names no table, item or key.
    """
    if not isinstance(key, str) or not key:
        raise fail("override", key, "a dotted key such as 'capacity.devices'")
    parts = key.split(".")
    top = parts[0]
    shown = show_key(key)  # a key with a newline or 5,000 characters still reads as one key
    if top not in fields:
        raise unknown_key(shown, top, fields)
    if top in _LIST_TABLES:
        if len(parts) != 3:
            raise fail(
                shown,
                value,
                f"a key like '{top}.<name or index>.<field>', e.g. "
                + ("'sequences.COLD.days'" if top == "sequences" else "'workload.0.rate_per_hour'"),
            )
        table = _find_item(data[top], top, parts[1], shown)
        name = parts[2]
    else:
        if len(parts) != 2:
            raise fail(shown, value, f"a key like '{top}.<field>'")
        table = data[top]
        name = parts[1]
    valid = fields[top]
    if name not in valid:
        raise unknown_key(shown, name, valid)
    if value is None:
        table.pop(name, None)
    else:
        table[name] = value
    return table, name


def _find_item(items: list[dict[str, Any]], top: str, selector: str, key: str) -> dict[str, Any]:
    """Return the list item a path selects: a sequence by name, else any item by index.

    Raises:
        ScenarioError: no item matches, with a did-you-mean and the valid selectors.
    """
    if top == "sequences":
        for item in items:
            if item.get("name") == selector:
                return item
    if selector.isdigit() and int(selector) < len(items):
        return items[int(selector)]
    names = [str(i) for i in range(len(items))]
    if top == "sequences":
        names = [item["name"] for item in items] + names
    close = close_match(selector, names)
    hint = f"did you mean {show(close)}? " if close is not None else ""
    what = "a sequence name or index" if top == "sequences" else "a workload index"
    known = quoted(names) or "none"
    raise ScenarioError(
        f"{key}: {show(selector)} is not valid; {hint}expected {what}, one of {known}"
    )
