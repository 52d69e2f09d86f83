"""Values and tables as people read them: the text the CLI and comparisons print."""

from __future__ import annotations

import math
from typing import Any

from seqsim.analysis.durations import format_seconds

__all__ = ["format_value", "text_table"]


def format_value(value: Any, unit: str, *, signed: bool = False) -> str:
    """Return a KPI value as people read it: ``1,234``, ``12.5 min``, ``3.2 h (0.13 d)``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    sign = "+" if signed and value > 0 else ""
    if unit == "s":
        return sign + format_seconds(float(value))
    if unit == "h":
        hours = float(value)
        if abs(hours) >= 48:
            return f"{sign}{hours / 24:,.2f} d"
        return f"{sign}{hours:,.1f} h"
    if float(value).is_integer():
        return f"{sign}{int(value):,}"
    return f"{sign}{float(value):,.3f}"


def text_table(header: list[str], rows: list[list[Any]]) -> str:
    """Return ``rows`` under ``header`` as aligned text: the first column left-aligned,
    the others right-aligned, a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
