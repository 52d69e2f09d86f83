"""Durations as people read them, in tables and on chart axes.

Both read-outs pick the largest of d / h / min / s from one ladder of units
(:data:`DURATION_UNITS`), but they are two presentations, on purpose:

* :func:`format_seconds` is for tables (:func:`seqsim.analysis.compare.readable`,
  the CLI summary): a unit is used from two of it on (``90.0 min``, not
  ``1.5 h``), with fixed decimals and thousands separators so a column of
  values lines up and compares at a glance.
* :func:`human_duration` is for tick and legend labels (:mod:`seqsim.plot`):
  a unit is used from one of it on, with three significant digits and no
  trailing zeros, so a tick reads ``1 h`` or ``3.5 d``; zero is ``0 s``.
"""

from __future__ import annotations

from seqsim.units import DAY_US, HOUR_US, MINUTE_US, SECOND_US

__all__ = ["DAY_S", "DURATION_UNITS", "HOUR_S", "MINUTE_S", "format_seconds", "human_duration"]

#: Seconds per minute, hour and day (floats: charts and tables compute in float seconds).
MINUTE_S = MINUTE_US / SECOND_US
HOUR_S = HOUR_US / SECOND_US
DAY_S = DAY_US / SECOND_US

#: (seconds per unit, unit label), largest first; below a minute is seconds, ``s``.
DURATION_UNITS: tuple[tuple[float, str], ...] = ((DAY_S, "d"), (HOUR_S, "h"), (MINUTE_S, "min"))


def _unit(seconds: float, at_least: float) -> tuple[float, str]:
    """Return the largest (size, unit) of which ``seconds`` is ``at_least`` units (else s)."""
    for size, unit in DURATION_UNITS:
        if abs(seconds) >= at_least * size:
            return size, unit
    return 1.0, "s"


def format_seconds(seconds: float) -> str:
    """Return a duration in seconds for a table: ``4.4 s``, ``12.5 min``, ``2.5 h``, ``3.50 d``."""
    size, unit = _unit(seconds, 2)
    decimals = 2 if unit == "d" else 1
    return f"{seconds / size:,.{decimals}f} {unit}"


def human_duration(seconds: float) -> str:
    """Return a short label for a duration in seconds: ``0 s``, ``10 s``, ``5 min``, ``2 d``."""
    value = float(seconds)
    if value == 0:
        return "0 s"
    size, unit = _unit(value, 1)
    return f"{value / size:.3g} {unit}"
