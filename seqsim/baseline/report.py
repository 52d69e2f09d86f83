"""The outcome of a baseline check: :class:`MetricRow`, :class:`CheckReport` and its
text table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CheckReport", "MetricRow"]


@dataclass(frozen=True)
class MetricRow:
    """One metric compared: ``change`` is ``now - baseline`` (None without data)."""

    name: str
    baseline: float | int | None
    now: float | int | None
    change: float | None
    tolerance: float | None
    ok: bool
    note: str = ""

    @property
    def relative_change(self) -> float | None:
        """Return ``change`` relative to the baseline value (None without a change or
        when the baseline value is 0)."""
        if self.change is None or not self.baseline:
            return None
        return self.change / abs(float(self.baseline))


@dataclass
class CheckReport:
    """The outcome of comparing runs with a baseline.

    Attributes:
        rows: every metric compared (see :class:`MetricRow`).
        invariant_violations: broken invariants, prefixed with the seed.
        scenario_changes: ``"key: old -> new"`` when the scenario differs from
            the one the baseline was recorded from (metrics are compared anyway).
        baseline_path, scenario_label, seeds, engine: what was compared.
        fingerprints: the scenario fingerprints ``(baseline's, now)``.
        updated: the baseline file was rewritten from these runs (``--update``).
    """

    rows: list[MetricRow]
    invariant_violations: list[str] = field(default_factory=list)
    scenario_changes: list[str] = field(default_factory=list)
    baseline_path: Path | None = None
    scenario_label: str | None = None
    seeds: tuple[int, ...] = ()
    engine: str | None = None
    fingerprints: tuple[str, str] | None = None
    updated: bool = False

    @property
    def failures(self) -> list[MetricRow]:
        """Return the metrics that moved beyond their tolerance."""
        return [row for row in self.rows if not row.ok]

    @property
    def scenario_changed(self) -> bool:
        """True when the scenario differs from the one the baseline was recorded from."""
        return bool(self.scenario_changes)

    @property
    def ok(self) -> bool:
        """True when every metric is within tolerance and no invariant is broken."""
        return not self.failures and not self.invariant_violations

    def format(self, *, verbose: bool = False) -> str:
        """Return the report as text: a header, and the table of metrics that moved
        (every metric with ``verbose``)."""
        label = self.scenario_label or "scenario"
        lines = [f"seqsim check: {label}"]
        seeds = ", ".join(map(str, self.seeds))
        engine = f", engine {self.engine}" if self.engine else ""
        where = str(self.baseline_path) if self.baseline_path is not None else "(data)"
        lines.append(f"  baseline {where} (seeds {seeds}{engine})")
        if self.scenario_changes:
            lines.append("  scenario changed since baseline (metrics compared anyway):")
            lines += [f"    {change}" for change in self.scenario_changes]
        lines.append(self._verdict())
        shown = self.rows if verbose else self.failures
        if shown:
            lines += ["    " + line for line in _table(shown)]
        for problem in self.invariant_violations:
            lines.append(f"  INVARIANT BROKEN: {problem}")
        if self.scenario_changes and self.ok and not self.updated:
            lines.append("  (record the new scenario with --update)")
        return "\n".join(lines)

    def _verdict(self) -> str:
        """Return the report's UPDATED, PASS or FAIL line."""
        failures = self.failures
        if self.updated:
            return (
                f"  UPDATED: the baseline now records this run ({len(failures)} of "
                f"{len(self.rows)} metrics had moved beyond tolerance, "
                f"{len(self.invariant_violations)} invariants broken)"
            )
        if self.ok:
            return f"  PASS: {len(self.rows)} metrics within tolerance, invariants hold"
        parts = []
        if failures:
            parts.append(f"{len(failures)} of {len(self.rows)} metrics moved beyond "
                         "tolerance")
        if self.invariant_violations:
            n = len(self.invariant_violations)
            parts.append(f"{n} invariant{'s' if n > 1 else ''} broken")
        return "  FAIL: " + ", ".join(parts)

    def __str__(self) -> str:
        """Return :meth:`format` without ``verbose``."""
        return self.format()


def _num(value: float | int | None) -> str:
    """Return a number of the table: ints with thousands separators, floats to 3
    decimals without trailing zeros, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    text = f"{value:,.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _change(row: MetricRow) -> str:
    """Return the change column of ``row``: signed change, relative change, note."""
    if row.change is None:
        return row.note or "-"
    text = ("+" if row.change > 0 else "") + _num(row.change)
    rel = row.relative_change
    if rel is not None:
        text += f" ({rel:+.1%})"
    if row.note:
        text += f" {row.note}"
    return text


def _table(rows: Sequence[MetricRow]) -> list[str]:
    """Return the lines of the table of ``rows``: names left-aligned, numbers right."""
    header = ("metric", "baseline", "now", "change", "tolerance", "")
    cells = [
        (
            row.name,
            _num(row.baseline),
            _num(row.now),
            _change(row),
            "-" if row.tolerance is None else f"±{_num(row.tolerance)}",
            "ok" if row.ok else "FAIL",
        )
        for row in rows
    ]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(len(header))]
    out = []
    for cell in [header, *cells]:
        parts = [cell[0].ljust(widths[0])]
        parts += [str(c).rjust(w) for c, w in zip(cell[1:5], widths[1:5], strict=True)]
        parts.append(cell[5])
        out.append("  ".join(parts).rstrip())
    return out
