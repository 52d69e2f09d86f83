"""Which broken invariants a run's ``[faults]`` break on purpose.

A fault scenario exists to show an invariant breaking: two pollers without
claims send a step twice, a crash outside a transaction loses the contact.
Its checks must not fail the run for that; the summary's metrics
(``duplicate_sends``, ``lost_contacts``, ``max_active_rows_per_contact``,
``early_sends``, ``stuck_contacts``) say how much it broke. Every other
problem, and every problem of a run without faults, still fails.
"""

from __future__ import annotations

from collections.abc import Callable

from seqsim.model.faults import FaultsConfig

__all__ = ["FAULT_EFFECTS", "split_fault_effects"]


def _racing_guard(f: FaultsConfig) -> bool:
    return f.duplicate_guard == "check_then_insert"


def _double_send(f: FaultsConfig) -> bool:
    # Two pollers without claims and the racing guard send a step twice; and any
    # [faults] runs the production poller, which releases claims older than
    # claim_timeout even while their message still waits on the device (pacing,
    # a long in-flight queue), so the row is claimed and queued again.
    return bool(f.active)


def _released_claim(f: FaultsConfig) -> bool:
    # The production poller of any [faults] releases a claim whose message still
    # waits on the device (retry_count + 1, as for a stuck claim): a row may then
    # fail on its copies' failed deliveries (before max_retries + 1 failed attempts)
    # while another copy of its message is still queued, and that copy is sent.
    return bool(f.active)


#: (what the problem says, the faults that break it on purpose).
FAULT_EFFECTS: tuple[tuple[str, Callable[[FaultsConfig], bool]], ...] = (
    ("contacts are lost", lambda f: f.crash_between_statements > 0 and not f.atomic_advance),
    ("more than one active row", _racing_guard),
    ("were sent more than once", _double_send),
    ("attempted more than once", _double_send),
    ("sent but their row is not completed", lambda f: _racing_guard(f) or _released_claim(f)),
    ("completed rows have no successful send", _racing_guard),
    ("rows are not due at", _racing_guard),
    ("before their step was due", lambda f: f.db_clock_offset.total_seconds() > 0),
    ("failed rows do not have", _released_claim),
)


def split_fault_effects(problems: list[str], faults: FaultsConfig) -> tuple[list[str], list[str]]:
    """Return ``(broken, effects)``: the problems that fail the run, and those the
    active ``faults`` break on purpose (which the metrics report instead)."""
    broken: list[str] = []
    effects: list[str] = []
    for problem in problems:
        expected = any(text in problem and caused(faults) for text, caused in FAULT_EFFECTS)
        (effects if expected else broken).append(problem)
    return broken, effects
