"""Per-step answers and what a run left unfinished, computed from the result tables.

Everything here reads only the tables every engine writes (``sequence_steps``,
``sequences``, ``sequence_contacts``, ``messages``) and the send log, so it is
the same for every engine.

**Censoring.** A run ends at ``simulation.end`` whether or not its work is
done. Rows still active and due then (``next_trigger_time < end``) were never
sent, so they have no ``lateness_s``: the lateness KPIs (summary and per step)
cover the messages that were sent and leave these out, which flatters a run too
short for its arrivals. :func:`unsent_at_end` counts them, split into rows still
waiting to be picked and rows already queued on a device (a message logged but
not delivered), and gives each one's waiting so far, ``end - due``: a lower
bound on the lateness it will have.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.engine.schema import contact_pair_codes
from seqsim.results.by_step import StepGroups, step_codes
from seqsim.results.rows import entry_step_ids, find

__all__ = ["STEP_COLUMNS", "UnsentRows", "queued_at", "round_quantile", "round_quantiles",
           "step_table", "unsent_at_end"]

#: Columns of :func:`step_table` (``Result.steps``), in order; the ``wait_*_s``
#: ones are the step's mean lateness by cause. Columns may be added later;
#: readers should select by name.
STEP_COLUMNS = (
    "sequence", "day_number", "sent", "failed",
    "lateness_p50_s", "lateness_p95_s", "lateness_max_s",
    "completion_p50_h", "completion_p95_h", "completion_max_h",
    "first_sent_at", "last_sent_at", "last_completed_at",
    "waiting_at_end", "queued_at_end", "unsent_wait_max_s", *WAIT_COLUMNS,
)
_QUANTILES = (("p50", 0.50), ("p95", 0.95), ("max", 1.0))


class UnsentRows:
    """The rows due but not sent when a run ended.

    Attributes:
        rows: one row per such ``sequence_contacts`` row: ``sequence_id``,
            ``day_number`` (its ``current_step``), ``due_at``, ``wait_s``
            (``end - due_at`` in seconds, a lower bound on its lateness) and
            ``queued`` (True when its message sits on a device).
        end: the run's end.
    """

    def __init__(self, rows: pd.DataFrame, end: datetime | None) -> None:
        self.rows = rows
        self.end = end

    @property
    def waiting(self) -> int:
        """Return how many were still waiting to be picked (not on a device)."""
        return int((~self.rows["queued"]).sum())

    @property
    def queued(self) -> int:
        """Return how many were queued on a device, not yet delivered."""
        return int(self.rows["queued"].sum())

    def summary(self) -> dict[str, Any]:
        """Return the censoring KPIs of the summary (see :mod:`seqsim.results.steps`)."""
        wait = self.rows["wait_s"].to_numpy(dtype=float)
        return {
            "unsent_due_at_end": len(self.rows),
            "unsent_waiting_at_end": self.waiting,
            "unsent_queued_at_end": self.queued,
            "unsent_wait_lower_bound_s_p50": round_quantile(wait, 0.50),
            "unsent_wait_lower_bound_s_max": round_quantile(wait, 1.0),
            # The lateness_* KPIs are over sent messages only: say so beside them.
            "lateness_includes_unsent": False,
        }


def round_quantile(values: np.ndarray, q: float) -> float | None:
    """Return quantile ``q`` of ``values`` rounded to 6 decimals, None when empty."""
    return round_quantiles(values, (q,))[0]


def round_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float | None]:
    """Return each quantile of ``qs`` of ``values`` rounded to 6 decimals (None when
    empty), from one partition of one copy of ``values`` instead of one per quantile."""
    if not len(values):
        return [None] * len(qs)
    return [round(float(v), 6) for v in np.quantile(values, list(qs))]


def unsent_at_end(
    contacts: pd.DataFrame, messages: pd.DataFrame, end: datetime | None
) -> UnsentRows:
    """Return the active rows due before ``end`` (the run's end), see :class:`UnsentRows`.

    ``end`` None (a run whose end is not known) gives no rows.
    """
    if end is None or contacts.empty:
        rows = contacts.iloc[:0]
    else:
        active = (contacts["status"] == "active").to_numpy()
        due = _instants(contacts["next_trigger_time"]) < pd.Timestamp(end).to_datetime64()
        rows = contacts[active & due]
    on_device = messages.loc[messages["outcome"].isna(), "sequence_contact_id"]
    due_at = rows["next_trigger_time"].astype("datetime64[us]")
    wait = ((pd.Timestamp(end) - due_at).dt.total_seconds() if end is not None
            else pd.Series([], dtype=float))
    frame = pd.DataFrame({
        "sequence_id": rows["sequence_id"].to_numpy(dtype="int64"),
        "day_number": rows["current_step"].to_numpy(dtype="int64"),
        "due_at": due_at.to_numpy(),
        "wait_s": wait.to_numpy(dtype=float),
        "queued": rows["id"].isin(on_device).to_numpy(dtype=bool),
    })
    return UnsentRows(frame, end)


def queued_at(messages: pd.DataFrame, at: Any) -> int:
    """Return how many messages were queued on devices, not yet delivered, right after
    the poll at ``at``: queued at or before it and sent after it (or never)."""
    if messages.empty or at is None or pd.isna(at):
        return 0
    at = pd.Timestamp(at).to_datetime64()
    sent_at = _instants(messages["sent_at"])
    on_device = (_instants(messages["queued_at"]) <= at) & (np.isnat(sent_at) | (sent_at > at))
    return int(np.count_nonzero(on_device))


def _instants(column: pd.Series) -> np.ndarray:
    """Return a time column as datetime64 (NaT where missing), compared in NumPy:
    a pandas comparison of millions of instants took several times as long."""
    values = column.to_numpy()
    return values if values.dtype.kind == "M" else values.astype("datetime64[us]")


def _completion_hours(contacts: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """Return (sequence_id, day_number, h, completed_at): hours from enrolment (the
    pair's first entry row's creation) to each completed step of a pair that has one.

    Matched on integer pair codes, not by a merge on the phone strings (on a
    production month's 7M rows that merge was its result's peak memory).
    """
    pairs = contact_pair_codes(contacts)
    is_entry = contacts["sequence_stepid"].isin(entry_step_ids(steps)).to_numpy()
    entry_pairs, first = np.unique(pairs[is_entry], return_index=True)  # first of each pair
    enrolled_at = contacts["created_at"].to_numpy()[is_entry][first]
    done = np.flatnonzero((contacts["status"] == "completed").to_numpy(dtype=bool,
                                                                        na_value=False))
    at = find(entry_pairs, pairs[done])
    done, at = done[at >= 0], at[at >= 0]
    completed_at = contacts["completed_at"].to_numpy()[done]
    return pd.DataFrame({
        "sequence_id": contacts["sequence_id"].to_numpy(dtype="int64")[done],
        "day_number": contacts["current_step"].to_numpy(dtype="int64")[done],
        # Seconds, then hours: as Series.dt.total_seconds() / 3600, to the last bit.
        "h": (completed_at - enrolled_at[at]) / np.timedelta64(1, "s") / 3600,
        "completed_at": completed_at,
    }, copy=False)


def _quantile_columns(groups: list[np.ndarray], prefix: str, unit: str
                      ) -> dict[str, list[float | None]]:
    """Return the ``{prefix}_{p50,p95,max}_{unit}`` columns of each group's values."""
    per_group = [round_quantiles(values, tuple(q for _, q in _QUANTILES))
                 for values in groups]
    return {f"{prefix}_{label}_{unit}": [row[i] for row in per_group]
            for i, (label, _) in enumerate(_QUANTILES)}


def _extremes(groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return each group's earliest and latest instant (NaT: none)."""
    nat = np.datetime64("NaT", "us")
    first = [g.min() if len(g) else nat for g in groups]
    last = [g.max() if len(g) else nat for g in groups]
    return (np.array(first, dtype="datetime64[us]"), np.array(last, dtype="datetime64[us]"))


def _rounded(values: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else round(float(v), 6) for v in values]


def _unsent_columns(unsent: pd.DataFrame, id_keys: list[tuple[int, int]]) -> dict[str, Any]:
    """Return ``waiting_at_end``, ``queued_at_end`` and ``unsent_wait_max_s`` per step
    (``id_keys``: each step's sequence id and day) of the unsent rows ``unsent``.

    By each row's step index: a groupby with a reindex on the keys took a
    quarter of a small run's step table.
    """
    n = len(id_keys)
    code = step_codes(unsent["sequence_id"].to_numpy(), unsent["day_number"].to_numpy(), id_keys)
    queued = unsent["queued"].to_numpy(dtype=bool)
    wait = unsent["wait_s"].to_numpy(dtype=float)
    longest = np.full(n, np.nan)
    counted = (code >= 0) & ~np.isnan(wait)
    np.fmax.at(longest, code[counted], wait[counted])  # NaN where a step has none
    return {
        "waiting_at_end": np.bincount(code[(code >= 0) & ~queued], minlength=n).astype(np.int64),
        "queued_at_end": np.bincount(code[(code >= 0) & queued], minlength=n).astype(np.int64),
        "unsent_wait_max_s": _rounded(pd.Series(longest)),
    }


def step_table(
    sends: pd.DataFrame,
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    sequences: pd.DataFrame,
    messages: pd.DataFrame,
    end: datetime | None,
) -> pd.DataFrame:
    """Return one row per sequence step (in sequence, then day order), columns
    :data:`STEP_COLUMNS`:

    - ``sent`` / ``failed``: successful and failed send attempts of the step;
    - ``lateness_{p50,p95,max}_s``: over the step's successful sends only (see
      the module's note on censoring; None when nothing was sent);
    - ``completion_{p50,p95,max}_h``: hours from the contact's enrolment in the
      sequence to this step's completion;
    - ``first_sent_at`` / ``last_sent_at``: the step's first and last
      successful send; ``last_completed_at``: when the last row of the step
      completed (for the last step: when the last contact finished);
    - ``waiting_at_end`` / ``queued_at_end``: rows of the step due but unsent at
      ``end``, still waiting to be picked and queued on a device;
      ``unsent_wait_max_s``: the longest such row's waiting so far (a lower
      bound on its lateness; None when there is none);
    - ``wait_<cause>_s`` (:data:`seqsim.engine.lateness.WAIT_COLUMNS`): the mean
      of each lateness cause over the step's successful sends, so they add up
      to the step's mean lateness (None when nothing was sent).
    """
    names = pd.Series(sequences["name"].to_numpy(), index=sequences["id"].to_numpy())
    ordered = steps.sort_values(["sequence_id", "day_number"])
    seq_ids = ordered["sequence_id"].to_numpy(dtype="int64")
    days = ordered["day_number"].to_numpy(dtype="int64")
    keys = list(zip(names.reindex(seq_ids).to_numpy().tolist(), days.tolist(), strict=True))
    id_keys = list(zip(seq_ids.tolist(), days.tolist(), strict=True))
    outcome, step = sends["outcome"], step_codes(sends["sequence"].array,
                                                 sends["day_number"].to_numpy(), keys)
    sent = StepGroups(np.where((outcome == "sent").to_numpy(bool, na_value=False), step, -1),
                      len(keys))
    failed = np.where((outcome == "failed").to_numpy(bool, na_value=False), step, -1)
    del step
    done = _completion_hours(contacts, steps)
    completed = StepGroups(step_codes(done["sequence_id"].to_numpy(),
                                      done["day_number"].to_numpy(), id_keys), len(id_keys))
    unsent = unsent_at_end(contacts, messages, end).rows
    first_sent, last_sent = _extremes(sent.values(_instants(sends["sent_at"])))
    table: dict[str, Any] = {
        "sequence": [k[0] for k in keys],
        "day_number": days,
        "sent": sent.counts().tolist(),
        "failed": np.bincount(failed + 1, minlength=len(keys) + 1)[1:].tolist(),
        **_quantile_columns(sent.values(sends["lateness_s"].to_numpy(dtype=float)),
                            "lateness", "s"),
        **_quantile_columns(completed.values(done["h"].to_numpy(dtype=float)),
                            "completion", "h"),
        "first_sent_at": first_sent,
        "last_sent_at": last_sent,
        "last_completed_at": _extremes(completed.values(done["completed_at"].to_numpy()))[1],
    }
    table.update(_unsent_columns(unsent, id_keys))
    means = sent.mean({column: sends[column].to_numpy() for column in WAIT_COLUMNS})
    for column in WAIT_COLUMNS:
        table[column] = _rounded(means[column])
    frame = pd.DataFrame(table, columns=list(STEP_COLUMNS))
    for column in ("first_sent_at", "last_sent_at", "last_completed_at"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    return frame
