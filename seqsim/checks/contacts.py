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

from seqsim.checks.walk import PairWalk
from seqsim.engine.pair_scan import EARLY_ENTRY, NOT_AT_ENROLMENT, OFF_SCHEDULE
from seqsim.engine.rules import (
    COMPLETED_STEP,
    NEXT_STEP,
    ONE_BY_ONE,
    ROW_STATUSES,
    Schedule,
)
from seqsim.engine.schema import contact_pair_codes
from seqsim.engine.tallies import as_keys, id_table, step_places
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
    sequences: pd.DataFrame | None = None,
) -> ContactChecks:
    """Check the ``sequence_contacts`` table once, for the invariants and the
    figures derived from the same ordering (lost pairs, max active rows).

    ``pairs`` may pass :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``
    when the caller already has them. ``policy``: the run's
    `seqsim.model.policy.PolicyConfig` (None: the default policy).
    ``sequences``: the run's ``sequences`` table, to check the chains too.

    Checked:

    - (``strategy = "one_by_one"``) at most one active row per contact per
      sequence;
    - no contact lost: every (contact, sequence) whose latest row is completed
      is at the sequence's last step (else the next row was never created);
      and (with ``sequences``) when that last step chains to an active
      sequence, the contact has a row in it (else the chained entry, made by
      the same advance, was lost);
    - ``current_step`` is the day_number of the row's step, and
      ``current_trigger`` the step's keyword;
    - (``check_timing``) the due times, see :func:`_timing_problems`: an
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
    rows, step = contacts, _step_index(contacts, steps)
    if (step < 0).any():
        missing = contacts[step < 0]
        problems.append(
            f"{len(missing)} rows name a step that is not in sequence_steps: "
            + examples(missing, ["id", "sequence_id", "sequence_stepid"])
        )
        rows, step, pairs = contacts[step >= 0], step[step >= 0], None
    pairs = contact_pair_codes(rows) if pairs is None else pairs
    of_step = _StepValues(steps, step)

    if schedule.strategy == ONE_BY_ONE:
        problems.extend(_several_active(rows, pairs))
    unknown = _unknown_status(rows["status"])
    if unknown.any():
        bad_status = rows[unknown]
        problems.append(
            f"{len(bad_status)} rows have an unknown status: "
            + examples(bad_status, ["id", "status"])
        )
    problems.extend(_wrong_step(rows, of_step))

    walk = PairWalk(rows, steps, step, pairs, schedule if check_timing else None)
    last = _last_steps(steps)
    lost = rows.iloc[_lost(rows, walk, of_step, last)]
    if not lost.empty:
        problems.append(
            f"{len(lost)} contacts are lost: their latest step was completed but the next "
            "step's row was never created: "
            + examples(lost, ["sequence_id", "contact_phone", "current_step"])
        )
    unchained = rows.iloc[_lost_chains(rows, walk.last, of_step, last, sequences)]
    if not unchained.empty:
        problems.append(
            f"{len(unchained)} contacts are lost at a chain: their sequence's last step was "
            "completed but they never entered the sequence it chains to: "
            + examples(unchained, ["sequence_id", "contact_phone", "current_step"])
        )
    if check_timing:
        problems.extend(_timing_problems(rows, walk, of_step, schedule))
    if len(rows) != len(contacts):  # rows naming no step are not walked: count them all
        most = max_active_rows(contacts)
    else:  # one-by-one rows never overlap: the sweep only when some did
        most = max_active_rows(contacts, pairs) if walk.overlap else 1
    return ContactChecks(problems, len(lost) + len(unchained), most)


def _step_index(contacts: pd.DataFrame, steps: pd.DataFrame) -> np.ndarray:
    """Return per row the position in ``steps`` of its step (-1 where the row
    names no step of its sequence), int32 when the step ids fit a table."""
    step_ids, sequence_ids = (contacts[name].to_numpy() for name in ("sequence_stepid",
                                                                      "sequence_id"))
    table = (id_table(steps["id"].to_numpy())
             if step_ids.dtype.kind in "iu" and sequence_ids.dtype.kind in "iu" else None)
    if table is not None:
        return step_places(as_keys(step_ids), as_keys(sequence_ids), table[1], table[0],
                           as_keys(steps["sequence_id"].to_numpy()))
    where = pd.Index(steps["id"].to_numpy()).get_indexer(contacts["sequence_stepid"].to_numpy())
    found = where >= 0
    found[found] = (steps["sequence_id"].to_numpy()[where[found]]
                    == contacts["sequence_id"].to_numpy()[found])
    where[~found] = -1
    return where


class _StepValues:
    """Per row, a column of its step (``sequence_steps``), gathered when asked:
    ``of_step("day_number")`` is each row's step's day number."""

    def __init__(self, steps: pd.DataFrame, index: np.ndarray) -> None:
        self.steps, self.index = steps, index

    def __call__(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Return column ``name`` of each row's step (of rows ``rows`` only, if given)."""
        index = self.index if rows is None else self.index[rows]
        return self.steps[name].to_numpy()[index]


def _unknown_status(status: pd.Series) -> np.ndarray:
    """Return where ``status`` is not one of
    :data:`~seqsim.engine.rules.ROW_STATUSES` (missing ones too)."""
    if isinstance(status.dtype, pd.CategoricalDtype):
        # Decided per category, then read per row by code (-1, missing, is the
        # last flag): isin on millions of codes took 50 ms, this one comparison.
        codes = status.cat.codes.to_numpy()
        bad = ~status.cat.categories.isin(ROW_STATUSES)
        return codes < 0 if not bad.any() else np.append(bad, True)[codes]
    return ~status.isin(ROW_STATUSES).to_numpy(dtype=bool)


def _wrong_step(rows: pd.DataFrame, of_step: _StepValues) -> list[str]:
    """Return the problem of rows whose current_step/current_trigger are not their
    step's day_number/trigger."""
    wrong = rows["current_step"].to_numpy() != of_step("day_number")
    current = rows["current_trigger"]
    if isinstance(current.dtype, pd.CategoricalDtype):
        # Compared as codes: a step trigger the categories lack matches nothing.
        known = current.cat.categories.get_indexer(of_step.steps["trigger"])
        wrong |= current.cat.codes.to_numpy() != np.where(known < 0, -2, known)[of_step.index]
    else:  # a missing current_trigger is wrong too
        wrong |= ~current.eq(of_step("trigger")).fillna(False).to_numpy(dtype=bool)
    if not wrong.any():
        return []
    off = rows[wrong].assign(day_number=of_step("day_number", wrong))
    return [
        f"{len(off)} rows have current_step/current_trigger different from their "
        "step's day_number/trigger: "
        + examples(off, ["id", "current_step", "day_number", "current_trigger"])
    ]


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


def _last_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """Return each sequence's last step (its row of ``steps``), by sequence id."""
    by_day = steps.sort_values("day_number", kind="stable")
    return by_day.drop_duplicates("sequence_id", keep="last").set_index("sequence_id")


def _lost(rows: pd.DataFrame, walk: PairWalk, of_step: _StepValues,
          last: pd.DataFrame) -> np.ndarray:
    """Return the positions in ``rows`` of each (contact, sequence)'s latest row
    when it completed a step but never got the next step's row (``last``:
    :func:`_last_steps`)."""
    latest = walk.last
    done = (rows["status"].take(latest) == "completed").to_numpy(dtype=bool, na_value=False)
    final = last["day_number"].reindex(rows["sequence_id"].to_numpy()[latest]).to_numpy()
    return latest[done & (of_step("day_number", latest) != final)]


def _lost_chains(rows: pd.DataFrame, latest: np.ndarray, of_step: _StepValues,
                 last: pd.DataFrame, sequences: pd.DataFrame | None) -> np.ndarray:
    """Return the positions in ``rows`` of each (contact, sequence)'s ``latest``
    row when it completed the sequence's last step (``last``: :func:`_last_steps`),
    that step chains to an active sequence, and the contact has no row in that
    sequence (none without ``sequences``)."""
    none = np.empty(0, dtype=np.int64)
    if sequences is None or sequences.empty or not len(latest):
        return none
    active = sequences[sequences["is_active"].astype(bool)]
    chained = last["next_trigger"].map(active.set_index("trigger")["id"]).dropna()
    if chained.empty:
        return none
    seq = rows["sequence_id"].to_numpy()[latest]
    target = pd.Series(seq).map(chained).to_numpy(dtype=float, na_value=np.nan)
    done = (rows["status"].take(latest) == "completed").to_numpy(dtype=bool, na_value=False)
    final = of_step("day_number", latest) == last["day_number"].reindex(seq).to_numpy()
    ending = np.flatnonzero(done & final & ~np.isnan(target))
    if not len(ending):
        return none
    contact = pd.factorize(rows["contact_phone"])[0].astype(np.int64)
    span = int(max(sequences["id"].max(), 0)) + 1
    have = contact * span + rows["sequence_id"].to_numpy(dtype=np.int64)
    want = contact[latest[ending]] * span + target[ending].astype(np.int64)
    return latest[ending[~np.isin(want, have)]]


def _timing_problems(rows: pd.DataFrame, walk: PairWalk, of_step: _StepValues,
                     schedule: Schedule) -> list[str]:
    """Return how the rows' due times break the policy's schedule, as the walk
    flagged them (:mod:`seqsim.engine.pair_scan`).

    An entry row is due at its creation. A later row is due at its anchor plus
    a delay:

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
    late = walk.flagged(NOT_AT_ENROLMENT)
    if len(late):
        off = rows.iloc[late].assign(entry_created_at=walk.entry_created(late))
        problems.append(
            f"{len(late)} rows were not created with their contact's entry row "
            "(all_at_enrollment creates every step's row at enrolment): "
            + examples(off, ["id", "entry_created_at", "created_at"]))
    early = walk.flagged(EARLY_ENTRY)
    if len(early):
        problems.append(
            f"{len(early)} entry rows are not due at their enrolment: "
            + examples(rows.iloc[early], ["id", "created_at", "next_trigger_time"]))
    wrong = walk.flagged(OFF_SCHEDULE)
    if len(wrong):
        problems.append(_off_schedule(rows, walk, of_step, schedule, wrong))
    return problems


def _off_schedule(rows: pd.DataFrame, walk: PairWalk, of_step: _StepValues,
                  schedule: Schedule, wrong: np.ndarray) -> str:
    """Return the problem of the rows ``wrong`` not due at their anchor + delay."""
    from_completed = schedule.delay_from == COMPLETED_STEP
    before = np.maximum(walk.previous()[wrong], 0)
    delay = of_step("trigger_delay_hours", before if from_completed else wrong)
    anchor = walk.anchor(wrong, schedule)
    anchor_name, what = (("prev_due", "the previous row's due time") if schedule.anchored
                         else ("prev_completed_at", "the previous step's completion"))
    off = rows.iloc[wrong].assign(
        **{anchor_name: anchor,
           "expected": anchor + delay.astype(np.int64) * np.timedelta64(1, "h"),
           "trigger_delay_hours": of_step("trigger_delay_hours", wrong)})
    columns = ["id", anchor_name, "trigger_delay_hours", "next_trigger_time"]
    if schedule.all_at_enrollment or schedule.delay_from != NEXT_STEP:
        columns.append("expected")
    whose = "the previous step's" if from_completed else "their step's"
    return f"{len(off)} rows are not due at {what} + {whose} delay: " + examples(off, columns)


def lost_contacts(
    contacts: pd.DataFrame, steps: pd.DataFrame, pairs: np.ndarray | None = None,
    sequences: pd.DataFrame | None = None,
) -> int:
    """Return how many (contact, sequence) pairs stopped without finishing or failing
    (with ``sequences``, or finished without entering the sequence they chain to).

    ``pairs``: :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``, if known.
    """
    return check_contacts(contacts, steps, check_timing=False, pairs=pairs,
                          sequences=sequences).lost


