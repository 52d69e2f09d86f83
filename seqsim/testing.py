"""Invariants of the sequence engine, as checks a test suite can call.

The checks follow the run's scheduling policy (`seqsim.model.policy.PolicyConfig`,
``policy=None`` meaning the default: one-by-one, delays from the next step).

The checks take the final ``sequence_contacts`` table (``contacts``) and the
``sequence_steps`` table, so they work on a live connection's tables, a
:class:`seqsim.Result`, or frames loaded from a saved run. Given a whole
:class:`seqsim.Result`, :func:`assert_invariants` also checks the send log
against the contacts (:func:`send_violations`).

For CI: :func:`assert_matches_baseline` compares a run with a baseline file
(:mod:`seqsim.baseline`), and the pytest plugin (:mod:`seqsim.pytest_plugin`)
provides the ``seqsim_run`` and ``seqsim_check`` fixtures.
"""

from __future__ import annotations

import os
from typing import Any

from seqsim.baseline import BaselineMismatch, compare_to_baseline
from seqsim.checks.contacts import ContactChecks, check_contacts, lost_contacts, max_active_rows
from seqsim.checks.invariants import (
    invariant_violations,
    result_violations,
    send_violations,
    skipped_rows,
)
from seqsim.model.policy import PolicyConfig

__all__ = [
    "ContactChecks",
    "InvariantError",
    "assert_invariants",
    "assert_matches_baseline",
    "check_contacts",
    "invariant_violations",
    "lost_contacts",
    "max_active_rows",
    "result_violations",
    "send_violations",
    "skipped_rows",
]


class InvariantError(AssertionError):
    """An invariant of the sequence engine does not hold."""


def assert_invariants(
    result: Any, *, check_timing: bool = True, policy: PolicyConfig | None = None
) -> None:
    """Raise :class:`InvariantError` listing every broken invariant.

    ``result`` is a :class:`seqsim.Result` (checked with
    :func:`result_violations`: the tables and the send log, under the run's
    policy unless ``policy`` is given), or a pair ``(contacts, steps)`` of
    DataFrames (checked with :func:`invariant_violations` under ``policy``,
    default: the default policy).
    """
    __tracebackhide__ = True  # pytest: report the failure at the caller's line
    if isinstance(result, tuple):
        contacts, steps = result
        problems = invariant_violations(contacts, steps, check_timing=check_timing,
                                        policy=policy)
    else:
        problems = result_violations(result, check_timing=check_timing, policy=policy)
    if problems:
        raise InvariantError("invariants broken:\n- " + "\n- ".join(problems))


def assert_matches_baseline(
    result: Any,
    path: str | os.PathLike[str],
    *,
    check_invariants: bool = True,
) -> Any:
    """Assert a run (or the runs of each baseline seed) matches a baseline file.

    ``result`` is a :class:`seqsim.Result` or a list of them, one per seed the
    baseline lists. Invariants are checked too (``check_invariants``).

    Returns:
        The :class:`seqsim.baseline.CheckReport` when everything is within
        tolerance.

    Raises:
        seqsim.baseline.BaselineMismatch: (an ``AssertionError``) a metric
            moved beyond its tolerance or an invariant is broken; the message
            is the report's table.
        seqsim.baseline.BaselineError: the baseline file is missing or invalid,
            or the results are not for the baseline's seeds.
    """
    __tracebackhide__ = True
    report = compare_to_baseline(result, path, check_invariants=check_invariants)
    if not report.ok:
        raise BaselineMismatch(report.format())
    return report
