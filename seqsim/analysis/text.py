"""Values and tables as people read them: the text the CLI and comparisons print."""

from __future__ import annotations

import math
from typing import Any

from seqsim.analysis.durations import format_seconds

__all__ = ["format_value", "text_table"]


def format_value(value: Any, unit: str, *, signed: bool = False) -> str:
    """Return a KPI value as people read it: ``1,234``, ``12.5 min``, ``3.2 h (0.13 d)``.

    ``signed``: a positive value gets a ``+`` (a difference). A value that shows
    as zero at its precision shows with no sign (``0.0 h``, not ``-0.0 h``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    shown = _magnitude(abs(float(value)), unit)
    if not any(c in "123456789" for c in shown):
        return shown
    if value < 0:
        return "-" + shown
    return ("+" if signed else "") + shown


def _magnitude(size: float, unit: str) -> str:
    """Return a non-negative value ``size`` as :func:`format_value` shows it."""
    if unit == "s":
        return format_seconds(size)
    if unit == "h":
        if size >= 48:
            return f"{size / 24:,.2f} d"
        return f"{size:,.1f} h"
    if size.is_integer():
        return f"{int(size):,}"
    return f"{size:,.3f}"


def text_table(header: list[str], rows: list[list[Any]]) -> str:
    """Return ``rows`` under ``header`` as aligned text: the first column left-aligned,
    the others right-aligned, a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
