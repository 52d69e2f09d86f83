"""One pass over ``sequence_contacts``: the engine's invariants and the figures
derived from the same ordering (lost pairs, the most rows one pair had active).

The checks follow the run's scheduling policy (``policy=None`` meaning the
default: one-by-one, delays from the next step), as the engines apply it
(:class:`seqsim.engine.rules.Schedule`). They take plain frames (the final
``sequence_contacts`` table and the ``sequence_steps`` table), so they work on
a live connection's tables, a Result, or frames loaded from a saved run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqsim.engine.rules import (
    COMPLETED_STEP,
    DEFAULT_SCHEDULE,
    NEXT_STEP,
    ONE_BY_ONE,
    Schedule,
)
from seqsim.engine.schema import contact_pair_codes
from seqsim.model.policy import PolicyConfig

__all__ = ["ContactChecks", "check_contacts", "examples", "lost_contacts", "max_active_rows"]


def examples(frame: pd.DataFrame, columns: list[str], n: int = 3) -> str:
    return "; ".join(
        ", ".join(f"{c}={row[c]}" for c in columns)
        for _, row in frame.head(n).iterrows()
    )



@dataclass(frozen=True)
class ContactChecks:
    """What :func:`check_contacts` found: the broken invariants, how many
    (contact, sequence) pairs are lost, and the most rows one pair ever had
    active at once."""

    problems: list[str]
    lost: int
    max_active_rows: int



def check_contacts(
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    *,
    check_timing: bool = True,
    pairs: np.ndarray | None = None,
    policy: PolicyConfig | None = None,
) -> ContactChecks:
    """Check the ``sequence_contacts`` table once, for the invariants and the
    figures derived from the same ordering (lost pairs, max active rows).

    ``pairs`` may pass :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``
    when the caller already has them. ``policy``: the run's
    `seqsim.model.policy.PolicyConfig` (None: the default policy).

    Checked:

    - (``strategy = "one_by_one"``) at most one active row per contact per
      sequence;
    - no contact lost: every (contact, sequence) whose latest row is completed
      is at the sequence's last step (else the next row was never created);
    - ``current_step`` is the day_number of the row's step, and
      ``current_trigger`` the step's keyword;
    - (``check_timing``) the due times, see :func:`_timing_violations`: an
      entry row is due at its creation and every later row as ``delay_from``
      and ``strategy`` say; under ``all_at_enrollment`` every row was created
      with the entry row. Due times are not checked when ``catch_up =
      "reschedule"`` moved them after an outage. A step skipped by
      ``catch_up = "skip_stale"`` counts as completed at the skip.
    """
    schedule = Schedule.of(policy)
    problems: list[str] = []
    if contacts.empty:
        return ContactChecks(problems, 0, 0)
    rows = _with_steps(contacts, steps)
    missing = rows[rows["day_number"].isna()]
    if not missing.empty:
        problems.append(
            f"{len(missing)} rows name a step that is not in sequence_steps: "
            + examples(missing, ["id", "sequence_id", "sequence_stepid"])
        )
        rows = rows[rows["day_number"].notna()]
        pairs = None
    pairs = contact_pair_codes(rows) if pairs is None else pairs

    if schedule.strategy == ONE_BY_ONE:
        problems.extend(_several_active(rows, pairs))
    bad_status = rows[~rows["status"].isin(["active", "completed", "failed"])]
    if not bad_status.empty:
        problems.append(
            f"{len(bad_status)} rows have an unknown status: "
            + examples(bad_status, ["id", "status"])
        )

    wrong_step = rows[
        (rows["current_step"] != rows["day_number"]) | (rows["current_trigger"] != rows["trigger"])
    ]
    if not wrong_step.empty:
        problems.append(
            f"{len(wrong_step)} rows have current_step/current_trigger different from their "
            "step's day_number/trigger: "
            + examples(wrong_step, ["id", "current_step", "day_number", "current_trigger"])
        )

    ordered = _ordered(rows, pairs)
    latest = np.r_[ordered["_pair"].to_numpy()[1:] != ordered["_pair"].to_numpy()[:-1], True]
    lost = rows.iloc[_lost(ordered, latest, steps)]
    if not lost.empty:
        problems.append(
            f"{len(lost)} contacts are lost: their latest step was completed but the next "
            "step's row was never created: "
            + examples(lost, ["sequence_id", "contact_phone", "current_step"])
        )

    has_previous = np.r_[False, ~latest[:-1]]
    if check_timing:
        problems.extend(_timing_violations(rows, ordered, has_previous, schedule))
    if len(rows) == len(contacts):
        most = _max_active(contacts, ordered, has_previous, pairs)
    else:  # rows naming no step are left out of the ordering: count them all
        most = max_active_rows(contacts)
    return ContactChecks(problems, len(lost), most)


def _several_active(rows: pd.DataFrame, pairs: np.ndarray) -> list[str]:
    """Return the problem of contacts with more than one active row in a sequence."""
    active = (rows["status"] == "active").to_numpy()
    codes, counts = np.unique(pairs[active], return_counts=True)
    if not (counts > 1).any():
        return []
    multi = rows[active & np.isin(pairs, codes[counts > 1])].drop_duplicates(
        ["sequence_id", "contact_phone"])
    return [
        f"{int((counts > 1).sum())} contacts have more than one active row in a sequence "
        f"(max {int(counts.max())}): "
        + "; ".join(f"sequence_id={s}, phone={p}" for s, p in
                    zip(multi["sequence_id"][:3], multi["contact_phone"][:3], strict=True))
    ]


def _max_active(
    contacts: pd.DataFrame, ordered: pd.DataFrame, has_previous: np.ndarray, pairs: np.ndarray
) -> int:
    """Return :func:`max_active_rows`, in one pass when no two rows of a pair overlap.

    Rows of a pair in day order whose every row starts at or after the
    previous one ended never overlap (the one-by-one design): the answer is
    1. Otherwise the full sweep counts.
    """
    ended = ordered["completed_at"].fillna(ordered["failed_at"]).to_numpy()
    previous_end = np.r_[np.array([np.datetime64("NaT")], dtype=ended.dtype), ended[:-1]]
    starts = ordered["created_at"].to_numpy()
    overlap = has_previous & (np.isnat(previous_end) | (starts < previous_end))
    if not overlap.any():
        return 1
    return max_active_rows(contacts, pairs)


def max_active_rows(contacts: pd.DataFrame, pairs: np.ndarray | None = None) -> int:
    """Return the most rows one contact had active in one sequence at any instant.

    A row is active from ``created_at`` until ``completed_at``/``failed_at``
    (half-open, so a step that completes and creates the next at the same
    instant counts once). ``pairs``: :func:`seqsim.engine.schema.contact_pair_codes`
    of ``contacts``, if known.
    """
    if contacts.empty:
        return 0
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    end = contacts["completed_at"].fillna(contacts["failed_at"]).to_numpy()
    ended = ~np.isnat(end)
    codes = np.concatenate([pairs, pairs[ended]])
    times = np.concatenate([contacts["created_at"].to_numpy(), end[ended]]).astype(np.int64)
    delta = np.concatenate([np.ones(len(pairs), np.int64), -np.ones(int(ended.sum()), np.int64)])
    order = np.lexsort((delta, times, codes))
    codes, delta = codes[order], delta[order]
    running = np.cumsum(delta)
    # Restart the running count at each pair: subtract the total before its first event.
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    before = np.r_[0, running[starts[1:] - 1]]
    running -= np.repeat(before, np.diff(np.r_[starts, len(codes)]))
    return int(running.max())


_STEP_COLUMNS = ("day_number", "trigger", "trigger_delay_hours", "is_entry_point")
_ORDER_COLUMNS = ["sequence_id", "day_number", "next_trigger_time", "created_at",
                  "completed_at", "failed_at", "trigger_delay_hours", "is_entry_point"]


def _ordered(rows: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """Return the columns the order-based checks need, sorted by pair then day_number.

    ``_pos`` is each row's position in ``rows`` (for examples), ``_pair`` its
    pair code and ``_done`` whether it is completed; strings are not reordered.
    """
    order = np.lexsort((rows["day_number"].to_numpy(), pairs))
    done = (rows["status"] == "completed").to_numpy()
    # Column by column into a frame that shares them (no block copies); numpy
    # columns by numpy indexing (a third of DataFrame.take's time on 4M rows).
    columns = {name: rows[name].to_numpy()[order] if isinstance(rows[name].dtype, np.dtype)
               else rows[name].array.take(order) for name in _ORDER_COLUMNS}
    return pd.DataFrame({**columns, "_pos": order, "_pair": pairs[order], "_done": done[order]},
                        copy=False)


def _with_steps(contacts: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Return ``contacts`` with their step's day_number, trigger, delay and entry flag
    (missing where the row names no step of its sequence)."""
    lookup = steps.set_index("id")
    where = lookup.index.get_indexer(contacts["sequence_stepid"])
    found = where >= 0
    found[found] = (lookup["sequence_id"].to_numpy()[where[found]]
                    == contacts["sequence_id"].to_numpy()[found])
    if found.all():
        return contacts.assign(**{name: lookup[name].take(where).array for name in _STEP_COLUMNS})
    renamed = steps.rename(columns={"id": "sequence_stepid"})
    return contacts.merge(renamed[["sequence_stepid", "sequence_id", *_STEP_COLUMNS]],
                          on=["sequence_stepid", "sequence_id"], how="left",
                          validate="many_to_one")


def _lost(ordered: pd.DataFrame, latest: np.ndarray, steps: pd.DataFrame) -> np.ndarray:
    """Return the positions of each (contact, sequence)'s latest row when it
    completed a step but never got the next step's row. ``ordered`` comes from
    :func:`_ordered`; ``latest`` flags each pair's last row in it."""
    last_day = steps.groupby("sequence_id")["day_number"].max()
    final = last_day.reindex(ordered["sequence_id"].to_numpy()).to_numpy()
    lost = latest & ordered["_done"].to_numpy() & (ordered["day_number"].to_numpy() != final)
    return ordered["_pos"].to_numpy()[lost]


def lost_contacts(
    contacts: pd.DataFrame, steps: pd.DataFrame, pairs: np.ndarray | None = None
) -> int:
    """Return how many (contact, sequence) pairs stopped without finishing or failing.

    ``pairs``: :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``, if known.
    """
    return check_contacts(contacts, steps, check_timing=False, pairs=pairs).lost


def _previous(values: np.ndarray, has_previous: np.ndarray) -> np.ndarray:
    """Return each row's predecessor's value in the ordering (NaT/0 where none)."""
    if values.dtype.kind == "M":
        fill = np.array([np.datetime64("NaT")], dtype=values.dtype)
        shifted = np.r_[fill, values[:-1]]
        return np.where(has_previous, shifted, fill[0])
    return np.where(has_previous, np.r_[np.zeros(1, values.dtype), values[:-1]], 0)


def _timing_violations(
    rows: pd.DataFrame,
    ordered: pd.DataFrame,
    has_previous: np.ndarray,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> list[str]:
    """Return how the rows' due times break the policy's schedule.

    ``ordered`` comes from :func:`_ordered`; ``has_previous`` flags rows whose
    predecessor in it is the same pair's previous step. An entry row is due
    at its creation. A later row is due at its anchor plus a delay:

    - anchor: the previous row's ``completed_at`` (one-by-one, ``delay_from``
      ``next_step`` or ``completed_step``), else the previous row's
      ``next_trigger_time`` (``delay_from = "enrollment"``, and every
      ``all_at_enrollment`` row);
    - delay: the row's own step's ``trigger_delay_hours``, or the previous
      step's under ``completed_step``.

    One-by-one, a row's previous row must be completed (it was created at
    that completion). ``all_at_enrollment``: every row of a pair was created
    at the first (entry) row's ``created_at``. With ``schedule.moves_due_times``
    (rescheduled after an outage) due times are not checked.
    """
    problems = []
    positions = ordered["_pos"].to_numpy()
    created = ordered["created_at"].to_numpy()
    at_enrolment = schedule.all_at_enrollment
    if at_enrolment:
        index = np.arange(len(ordered))
        first = np.maximum.accumulate(np.where(has_previous, 0, index))
        enrolled = created[first]
        late = has_previous & (created != enrolled)
        if late.any():
            off = rows.iloc[positions[late]].assign(entry_created_at=enrolled[late])
            problems.append(
                f"{int(late.sum())} rows were not created with their contact's entry row "
                "(all_at_enrollment creates every step's row at enrolment): "
                + examples(off, ["id", "entry_created_at", "created_at"])
            )
    if schedule.moves_due_times:
        return problems
    is_entry = ordered["is_entry_point"].astype(bool).to_numpy()
    due = ordered["next_trigger_time"].to_numpy()
    early = is_entry & (due != created)
    if early.any():
        problems.append(
            f"{int(early.sum())} entry rows are not due at their enrolment: "
            + examples(rows.iloc[positions[early]], ["id", "created_at", "next_trigger_time"])
        )
    own = ordered["trigger_delay_hours"].to_numpy().astype("int64")
    from_completed = schedule.delay_from == COMPLETED_STEP
    hours = (_previous(own, has_previous) if from_completed else own).astype("timedelta64[h]")
    prev_completed = _previous(ordered["completed_at"].to_numpy(), has_previous)
    if schedule.anchored:
        anchor = _previous(due, has_previous)
        anchor_name, what = "prev_due", "the previous row's due time"
    else:
        anchor = prev_completed
        anchor_name, what = "prev_completed_at", "the previous step's completion"
    expected = anchor + hours
    off_mask = ~is_entry & ((due != expected) | np.isnat(anchor))
    if not at_enrolment:
        off_mask |= ~is_entry & np.isnat(prev_completed)
    if off_mask.any():
        whose = "the previous step's" if from_completed else "their step's"
        off = rows.iloc[positions[off_mask]].assign(
            **{anchor_name: anchor[off_mask], "expected": expected[off_mask]})
        columns = ["id", anchor_name, "trigger_delay_hours", "next_trigger_time"]
        if at_enrolment or schedule.delay_from != NEXT_STEP:
            columns.append("expected")
        problems.append(
            f"{len(off)} rows are not due at {what} + {whose} delay: "
            + examples(off, columns)
        )
    return problems


