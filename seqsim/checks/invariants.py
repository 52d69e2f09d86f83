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
from seqsim.model.policy import PolicyConfig

__all__ = ["invariant_violations", "result_violations", "send_violations", "skipped_rows"]


def invariant_violations(
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    *,
    check_timing: bool = True,
    pairs: np.ndarray | None = None,
    policy: PolicyConfig | None = None,
) -> list[str]:
    """Return a description of every invariant the tables break (empty if none).

    See :func:`check_contacts` for what is checked.
    """
    return check_contacts(contacts, steps, check_timing=check_timing, pairs=pairs,
                          policy=policy).problems



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
      and has one attempt (failures are not fed back, so nothing is retried).
    """
    problems: list[str] = []
    keys = ["contact_phone", "sequence", "day_number"]
    if not sends.empty:
        early = sends[sends["sent_at"] < sends["due_at"]]
        if not early.empty:
            problems.append(
                f"{len(early)} sends went out before their step was due (sent_at < due_at): "
                + examples(early, [*keys, "due_at", "sent_at"])
            )
        if "queued_at" in sends:
            queued = sends[sends["queued_at"] < sends["due_at"]]
            if not queued.empty:
                problems.append(
                    f"{len(queued)} sends were queued before their step was due "
                    "(queued_at < due_at): " + examples(queued, [*keys, "due_at", "queued_at"])
                )
    names = sequences.set_index("id")["name"]
    rows = pd.DataFrame(
        {
            "contact_phone": contacts["contact_phone"].astype(str),
            "sequence": contacts["sequence_id"].map(names).astype(str),
            "day_number": contacts["current_step"].astype("int64"),
            "status": contacts["status"].astype(str),
            "skipped": skipped_rows(contacts),
        }
    ).drop_duplicates(keys)
    attempts = sends[keys].assign(
        contact_phone=sends["contact_phone"].astype(str),
        sequence=sends["sequence"].astype(str),
        day_number=sends["day_number"].astype("int64"),
        sent=(sends["outcome"] == "sent").astype("int64"),
        failed=(sends["outcome"] == "failed").astype("int64"),
        attempts=1,
    )
    per_step = attempts.groupby(keys, as_index=False)[["sent", "failed", "attempts"]].sum()
    both = per_step.merge(rows, on=keys, how="outer", indicator=True)
    orphans = both[both["_merge"] == "left_only"]
    if not orphans.empty:
        problems.append(
            f"sends inconsistent with contacts: {len(orphans)} steps were sent but have no "
            "sequence_contacts row: " + examples(orphans, keys)
        )
    both = both[both["_merge"] != "left_only"].fillna({"sent": 0, "failed": 0, "attempts": 0})
    dup = both[both["sent"] > 1]
    if not dup.empty:
        problems.append(
            f"sends inconsistent with contacts: {len(dup)} steps were sent more than once: "
            + examples(dup, [*keys, "sent"])
        )
    skipped = both["skipped"].eq(True) & (both["status"] == "completed")
    sent_skipped = both[skipped & (both["sent"] > 0)]
    if not sent_skipped.empty:
        problems.append(
            f"sends inconsistent with contacts: {len(sent_skipped)} steps were skipped "
            "(catch_up = 'skip_stale') but also sent: " + examples(sent_skipped, [*keys, "sent"])
        )
    completed = both["status"] == "completed"
    if progress_on == "queue":
        not_done = both[(both["attempts"] > 0) & ~completed]
        if not not_done.empty:
            problems.append(
                f"sends inconsistent with contacts: {len(not_done)} steps were queued but their "
                "row is not completed (progress_on = 'queue'): "
                + examples(not_done, [*keys, "status"])
            )
        again = both[both["attempts"] > 1]
        if not again.empty:
            problems.append(
                f"sends inconsistent with contacts: {len(again)} steps were attempted more than "
                "once although failures are not fed back (progress_on = 'queue'): "
                + examples(again, [*keys, "attempts"])
            )
        return problems
    unsent = both[completed & ~skipped & (both["sent"] == 0)]
    if not unsent.empty:
        problems.append(
            f"sends inconsistent with contacts: {len(unsent)} completed rows have no successful "
            "send: " + examples(unsent, keys)
        )
    open_sent = both[~completed & (both["sent"] > 0)]
    if not open_sent.empty:
        problems.append(
            f"sends inconsistent with contacts: {len(open_sent)} steps were sent but their row "
            "is not completed: " + examples(open_sent, [*keys, "status"])
        )
    if max_retries is not None:
        failed = both[(both["status"] == "failed") & (both["failed"] != max_retries + 1)]
        if not failed.empty:
            problems.append(
                f"sends inconsistent with contacts: {len(failed)} failed rows do not have "
                f"max_retries + 1 = {max_retries + 1} failed attempts: "
                + examples(failed, [*keys, "failed"])
            )
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
    :func:`send_violations` with the run's ``progress_on`` and ``max_retries``.
    """
    steps = result.tables["sequence_steps"]
    scenario = result.scenario
    policy = scenario.policy if policy is None else policy
    problems = invariant_violations(result.contacts, steps, check_timing=check_timing,
                                    policy=policy)
    problems += send_violations(
        result.sends,
        result.contacts,
        result.tables["sequences"],
        progress_on=scenario.policy.progress_on,
        max_retries=scenario.capacity.max_retries,
    )
    return problems


