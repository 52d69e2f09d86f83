"""The invariants a finished run must satisfy, over its tables and its send log.

:func:`invariant_violations` checks ``sequence_contacts`` (see
:func:`seqsim.checks.contacts.check_contacts`); :func:`send_violations` checks
the send log against it; :func:`result_violations` does both for a Result
under the run's own policy. Each returns a list of readable problems (empty
when everything holds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seqsim.checks.contacts import check_contacts, examples
from seqsim.checks.faults import split_fault_effects
from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.model.policy import PolicyConfig

__all__ = ["invariant_violations", "result_violations", "send_violations", "skipped_rows",
           "wait_violations"]


def invariant_violations(
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    *,
    check_timing: bool = True,
    pairs: np.ndarray | None = None,
    policy: PolicyConfig | None = None,
    sequences: pd.DataFrame | None = None,
) -> list[str]:
    """Return a description of every invariant the tables break (empty if none).

    See :func:`check_contacts` for what is checked (the chains with ``sequences``).
    """
    return check_contacts(contacts, steps, check_timing=check_timing, pairs=pairs,
                          policy=policy, sequences=sequences).problems



def send_violations(
    sends: pd.DataFrame,
    contacts: pd.DataFrame,
    sequences: pd.DataFrame,
    *,
    progress_on: str = "delivery",
    max_retries: int | None = None,
) -> list[str]:
    """Return a description of every way the send log disagrees with the contacts.

    ``sends`` is :attr:`seqsim.Result.sends`, ``contacts`` the final
    ``sequence_contacts`` table and ``sequences`` the ``sequences`` table (to
    map ``sequence_id`` to the sequence name the sends carry). A step is a
    (contact_phone, sequence, day_number); each has at most one row. Checked:

    - no step sent before it was due: ``sent_at >= due_at`` for every attempt
      (and ``queued_at >= due_at`` when the column is there);
    - every send attempt belongs to a ``sequence_contacts`` row;
    - no step sent successfully more than once;
    - ``progress_on = "delivery"``: the completed rows are exactly the steps
      with a successful send, and (given ``max_retries``) each failed row has
      ``max_retries + 1`` failed attempts;
    - a step skipped by ``catch_up = "skip_stale"`` (completed, ``last_error``
      starting with ``"skipped"``) has no successful send: it counts as
      completed without one;
    - ``progress_on = "queue"``: every step with a send attempt is completed
      and has one attempt (failures are not fed back, so nothing is retried);
    - when the log has them, the lateness causes (``wait_*_s``) add up to
      ``lateness_s`` to the microsecond and only ``wait_clock_s`` is negative.
    """
    problems = _early_sends(sends) + wait_violations(sends)
    both = _attempts_per_step(sends, contacts, sequences)
    orphans = both[both["_merge"] == "left_only"]
    _flag(problems, orphans, "{n} steps were sent but have no sequence_contacts row", _KEYS)
    both = both[both["_merge"] != "left_only"].fillna({"sent": 0, "failed": 0, "attempts": 0})
    _flag(problems, both[both["sent"] > 1], "{n} steps were sent more than once",
          [*_KEYS, "sent"])
    skipped = both["skipped"].eq(True) & (both["status"] == "completed")
    _flag(problems, both[skipped & (both["sent"] > 0)],
          "{n} steps were skipped (catch_up = 'skip_stale') but also sent", [*_KEYS, "sent"])
    completed = both["status"] == "completed"
    if progress_on == "queue":
        return problems + _queue_violations(both, completed)
    return problems + _delivery_violations(both, completed, skipped, max_retries)


_KEYS = ["contact_phone", "sequence", "day_number"]
_INCONSISTENT = "sends inconsistent with contacts: "


def _flag(problems: list[str], offending: pd.DataFrame, what: str, columns: list[str]) -> None:
    """Append ``sends inconsistent with contacts: <what>: <examples>`` when any row offends."""
    if not offending.empty:
        problems.append(_INCONSISTENT + what.format(n=len(offending)) + ": "
                        + examples(offending, columns))


def _early_sends(sends: pd.DataFrame) -> list[str]:
    """Return the sends (and queueings) that happened before their step was due."""
    problems: list[str] = []
    if sends.empty:
        return problems
    early = sends[sends["sent_at"] < sends["due_at"]]
    if not early.empty:
        problems.append(
            f"{len(early)} sends went out before their step was due (sent_at < due_at): "
            + examples(early, [*_KEYS, "due_at", "sent_at"])
        )
    if "queued_at" in sends:
        queued = sends[sends["queued_at"] < sends["due_at"]]
        if not queued.empty:
            problems.append(
                f"{len(queued)} sends were queued before their step was due "
                "(queued_at < due_at): " + examples(queued, [*_KEYS, "due_at", "queued_at"])
            )
    return problems


def wait_violations(sends: pd.DataFrame) -> list[str]:
    """Return the sends whose lateness causes do not add up to their lateness (to
    the microsecond), or have a negative part other than the database clock's."""
    if sends.empty or not set(WAIT_COLUMNS) <= set(sends) or sends[WAIT_COLUMNS[0]].isna().all():
        return []
    parts = np.rint(sends[list(WAIT_COLUMNS)].to_numpy(np.float64) * 1e6).astype(np.int64)
    lateness = np.rint(sends["lateness_s"].to_numpy(np.float64) * 1e6).astype(np.int64)
    problems = []
    off = sends[parts.sum(axis=1) != lateness]
    if not off.empty:
        problems.append(f"{len(off)} sends have lateness causes (wait_*_s) that do not add up "
                        "to lateness_s: " + examples(off, [*_KEYS, "lateness_s"]))
    signed = list(WAIT_COLUMNS).index("wait_clock_s")
    negative = sends[(np.delete(parts, signed, axis=1) < 0).any(axis=1)]
    if not negative.empty:
        problems.append(f"{len(negative)} sends have a negative lateness cause: "
                        + examples(negative, [*_KEYS, *WAIT_COLUMNS]))
    return problems


def _attempts_per_step(
    sends: pd.DataFrame, contacts: pd.DataFrame, sequences: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per step (sends and contacts outer-joined on the step's keys) with
    its ``sent``/``failed``/``attempts`` counts, the row's ``status`` and ``skipped`` flag,
    and ``_merge`` saying which side it came from."""
    names = sequences.set_index("id")["name"]
    rows = pd.DataFrame(
        {
            "contact_phone": contacts["contact_phone"].astype(str),
            "sequence": contacts["sequence_id"].map(names).astype(str),
            "day_number": contacts["current_step"].astype("int64"),
            "status": contacts["status"].astype(str),
            "skipped": skipped_rows(contacts),
        }
    ).drop_duplicates(_KEYS)
    attempts = sends[_KEYS].assign(
        contact_phone=sends["contact_phone"].astype(str),
        sequence=sends["sequence"].astype(str),
        day_number=sends["day_number"].astype("int64"),
        sent=(sends["outcome"] == "sent").astype("int64"),
        failed=(sends["outcome"] == "failed").astype("int64"),
        attempts=1,
    )
    per_step = attempts.groupby(_KEYS, as_index=False)[["sent", "failed", "attempts"]].sum()
    return per_step.merge(rows, on=_KEYS, how="outer", indicator=True)


def _queue_violations(both: pd.DataFrame, completed: pd.Series) -> list[str]:
    """``progress_on = "queue"``: every attempted step is completed, attempted once."""
    problems: list[str] = []
    _flag(problems, both[(both["attempts"] > 0) & ~completed],
          "{n} steps were queued but their row is not completed (progress_on = 'queue')",
          [*_KEYS, "status"])
    _flag(problems, both[both["attempts"] > 1],
          "{n} steps were attempted more than once although failures are not fed back "
          "(progress_on = 'queue')", [*_KEYS, "attempts"])
    return problems


def _delivery_violations(
    both: pd.DataFrame, completed: pd.Series, skipped: pd.Series, max_retries: int | None
) -> list[str]:
    """``progress_on = "delivery"``: completed rows are exactly the sent steps, and a
    failed row has ``max_retries + 1`` failed attempts."""
    problems: list[str] = []
    _flag(problems, both[completed & ~skipped & (both["sent"] == 0)],
          "{n} completed rows have no successful send", _KEYS)
    _flag(problems, both[~completed & (both["sent"] > 0)],
          "{n} steps were sent but their row is not completed", [*_KEYS, "status"])
    if max_retries is not None:
        _flag(problems, both[(both["status"] == "failed") & (both["failed"] != max_retries + 1)],
              f"{{n}} failed rows do not have max_retries + 1 = {max_retries + 1} failed attempts",
              [*_KEYS, "failed"])
    return problems


def skipped_rows(contacts: pd.DataFrame) -> np.ndarray:
    """Return a boolean array flagging the rows whose ``last_error`` starts with
    ``"skipped"`` (steps ``catch_up = "skip_stale"`` completed without sending)."""
    if "last_error" not in contacts:
        return np.zeros(len(contacts), dtype=bool)
    errors = contacts["last_error"]
    if not errors.notna().any():  # the usual case: no error at all
        return np.zeros(len(contacts), dtype=bool)
    return errors.astype(object).str.startswith("skipped", na=False).to_numpy(dtype=bool)


def result_violations(
    result: Any, *, check_timing: bool = True, policy: PolicyConfig | None = None
) -> list[str]:
    """Return every broken invariant of a :class:`seqsim.Result` (empty if none).

    The table checks of :func:`invariant_violations` under the run's policy
    (``result.scenario.policy``, or ``policy`` when given) plus
    :func:`send_violations` with the run's ``progress_on`` and ``max_retries``,
    less the problems the scenario's ``[faults]`` cause on purpose
    (:func:`seqsim.checks.faults.split_fault_effects`).
    """
    steps = result.tables["sequence_steps"]
    scenario = result.scenario
    policy = scenario.policy if policy is None else policy
    problems = invariant_violations(result.contacts, steps, check_timing=check_timing,
                                    policy=policy, sequences=result.tables["sequences"])
    problems += send_violations(
        result.sends,
        result.contacts,
        result.tables["sequences"],
        progress_on=scenario.policy.progress_on,
        max_retries=scenario.capacity.max_retries,
    )
    return split_fault_effects(problems, scenario.faults)[0]


