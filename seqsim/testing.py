"""Invariants of the one-by-one design, as checks a test suite can call.

The checks take the final ``sequence_contacts`` table (``contacts``) and the
``sequence_steps`` table, so they work on a live connection's tables, a
:class:`seqsim.Result`, or frames loaded from a saved run.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = [
    "InvariantError",
    "assert_invariants",
    "invariant_violations",
    "lost_contacts",
]


class InvariantError(AssertionError):
    """An invariant of the sequence engine does not hold."""


def _examples(frame: pd.DataFrame, columns: list[str], n: int = 3) -> str:
    return "; ".join(
        ", ".join(f"{c}={row[c]}" for c in columns)
        for _, row in frame.head(n).iterrows()
    )


def invariant_violations(
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    *,
    check_timing: bool = True,
) -> list[str]:
    """Return a description of every invariant the tables break (empty if none).

    Checked:

    - at most one active row per contact per sequence;
    - no contact lost: every (contact, sequence) whose latest row is completed
      is at the sequence's last step (else the next row was never created);
    - ``current_step`` is the day_number of the row's step, and
      ``current_trigger`` the step's keyword;
    - (``check_timing``, the default policy) an entry row is due at its
      creation, and every later row at the previous row's ``completed_at``
      plus its own step's ``trigger_delay_hours``.
    """
    problems: list[str] = []
    if contacts.empty:
        return problems
    steps = steps.rename(columns={"id": "sequence_stepid"})
    rows = contacts.merge(
        steps[["sequence_stepid", "sequence_id", "day_number", "trigger", "next_trigger",
               "trigger_delay_hours", "is_entry_point"]],
        on=["sequence_stepid", "sequence_id"],
        how="left",
        validate="many_to_one",
    )
    missing = rows[rows["day_number"].isna()]
    if not missing.empty:
        problems.append(
            f"{len(missing)} rows name a step that is not in sequence_steps: "
            + _examples(missing, ["id", "sequence_id", "sequence_stepid"])
        )
        rows = rows[rows["day_number"].notna()]

    active = rows[rows["status"] == "active"]
    per_pair = active.groupby(["sequence_id", "contact_phone"]).size()
    multi = per_pair[per_pair > 1]
    if not multi.empty:
        problems.append(
            f"{len(multi)} contacts have more than one active row in a sequence (max "
            f"{int(multi.max())}): "
            + "; ".join(f"sequence_id={s}, phone={p}" for s, p in list(multi.index)[:3])
        )

    bad_status = rows[~rows["status"].isin(["active", "completed", "failed"])]
    if not bad_status.empty:
        problems.append(
            f"{len(bad_status)} rows have an unknown status: "
            + _examples(bad_status, ["id", "status"])
        )

    wrong_step = rows[
        (rows["current_step"] != rows["day_number"]) | (rows["current_trigger"] != rows["trigger"])
    ]
    if not wrong_step.empty:
        problems.append(
            f"{len(wrong_step)} rows have current_step/current_trigger different from their "
            "step's day_number/trigger: "
            + _examples(wrong_step, ["id", "current_step", "day_number", "current_trigger"])
        )

    lost = _lost(rows, steps)
    if not lost.empty:
        problems.append(
            f"{len(lost)} contacts are lost: their latest step was completed but the next "
            "step's row was never created: "
            + _examples(lost, ["sequence_id", "contact_phone", "current_step"])
        )

    if check_timing:
        problems.extend(_timing_violations(rows))
    return problems


def _lost(rows: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Return the latest row of each (contact, sequence) that completed a step but
    never got the next step's row (rows carry their step's ``day_number``)."""
    last_day = steps.groupby("sequence_id")["day_number"].max().rename("last_day")
    latest = (
        rows.sort_values(["sequence_id", "contact_phone", "day_number"])
        .groupby(["sequence_id", "contact_phone"], sort=False)
        .tail(1)
        .join(last_day, on="sequence_id")
    )
    return latest[(latest["status"] == "completed") & (latest["day_number"] != latest["last_day"])]


def lost_contacts(contacts: pd.DataFrame, steps: pd.DataFrame) -> int:
    """Return how many (contact, sequence) pairs stopped without finishing or failing."""
    if contacts.empty:
        return 0
    day = steps.set_index("id")["day_number"]
    rows = contacts.assign(day_number=contacts["sequence_stepid"].map(day))
    return len(_lost(rows, steps))


def _timing_violations(rows: pd.DataFrame) -> list[str]:
    problems = []
    entry = rows[rows["is_entry_point"].astype(bool)]
    early = entry[entry["next_trigger_time"] != entry["created_at"]]
    if not early.empty:
        problems.append(
            f"{len(early)} entry rows are not due at their enrolment: "
            + _examples(early, ["id", "created_at", "next_trigger_time"])
        )
    ordered = rows.sort_values(["sequence_id", "contact_phone", "day_number"])
    prev_completed = ordered.groupby(["sequence_id", "contact_phone"])["completed_at"].shift(1)
    later = ordered[~ordered["is_entry_point"].astype(bool)].copy()
    later["prev_completed_at"] = prev_completed.loc[later.index]
    hours = pd.to_timedelta(later["trigger_delay_hours"].astype("int64"), unit="h")
    expected = later["prev_completed_at"] + hours
    off = later[(later["next_trigger_time"] != expected) | later["prev_completed_at"].isna()]
    if not off.empty:
        problems.append(
            f"{len(off)} rows are not due at the previous step's completion + their step's "
            "delay: " + _examples(off, ["id", "prev_completed_at", "trigger_delay_hours",
                                         "next_trigger_time"])
        )
    return problems


def assert_invariants(result: Any, *, check_timing: bool = True) -> None:
    """Raise :class:`InvariantError` listing every broken invariant.

    ``result`` is a :class:`seqsim.Result`, or a pair ``(contacts, steps)``
    of DataFrames.
    """
    if isinstance(result, tuple):
        contacts, steps = result
    else:
        contacts, steps = result.contacts, result.tables["sequence_steps"]
    problems = invariant_violations(contacts, steps, check_timing=check_timing)
    if problems:
        raise InvariantError("invariants broken:\n- " + "\n- ".join(problems))
