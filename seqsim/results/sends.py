"""The send log: one row per delivered send attempt, with its schedule columns.

Columns are :data:`seqsim.results.result.SENDS_COLUMNS` (a contract).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.engine.schema import contact_pair_codes
from seqsim.engine.send_scan import HUGE, MIXED, enrolments, send_columns
from seqsim.engine.tallies import as_keys, dense_codes, id_table, look_up
from seqsim.model.scenario import Scenario
from seqsim.results.rows import entry_step_ids, rows_of
from seqsim.results.waits import Waits, wait_columns
from seqsim.strings import plain_strings
from seqsim.units import HOUR_US

__all__ = ["build_sends", "send_figures"]


def build_sends(
    messages: pd.DataFrame,
    sequences: pd.DataFrame,
    *,
    contacts: pd.DataFrame | None = None,
    steps: pd.DataFrame | None = None,
    pairs: np.ndarray | None = None,
    leads: pd.DataFrame | None = None,
    scenario: Scenario | None = None,
    waits: Waits | None = None,
) -> pd.DataFrame:
    """Return one row per delivered send attempt, in send order.

    ``messages`` may hold its names as categoricals (a compiled run's working
    table): the log's are ``str`` either way.

    The schedule columns need the ``sequence_steps`` table (``steps``) and,
    for ``designed_at``/``drift_hours``, the ``sequence_contacts`` table
    (``contacts``; ``pairs``: its :func:`seqsim.engine.schema.contact_pair_codes`, if
    known). Without them ``designed_at`` is NaT, ``drift_hours`` NaN and
    ``early`` False.

    - ``designed_at``: the contact's enrolment in the sequence (its entry
      row's ``created_at``) + the step's designed offset, the sum of the
      ``trigger_delay_hours`` of the sequence's steps after the entry up to
      and including this one (0 for the entry step);
    - ``drift_hours``: ``sent_at - designed_at`` in hours;
    - ``early``: a successful send of a non-entry step before the contact's
      first successful send of the previous step + this step's delay (False
      when the previous step was never sent);
    - ``wait_*_s`` (:data:`seqsim.engine.lateness.WAIT_COLUMNS`): the lateness
      split by cause (:mod:`seqsim.engine.lateness`), which needs the run's
      ``leads``, ``scenario`` and ``waits``; NaN without them.
    """
    done = _delivered(messages)
    timing = _timing(done, contacts, steps, pairs)
    delivered = np.flatnonzero(messages["outcome"].notna().to_numpy())
    causes = wait_columns(done, delivered, messages, sequences, steps,
                          contacts, leads, scenario, waits)
    order = None
    if not pd.Index(timing["sent_at"]).is_monotonic_increasing:
        # Messages are numbered in queue order; pacing can reorder their sends.
        # Sorted a column at a time (a second whole frame would be the largest
        # transient of a big run's result), and names by their codes: the
        # strings are made once, in send order.
        order = np.lexsort((done["id"].to_numpy(), timing["sent_at"]))
    names = pd.Series(sequences["name"].array, index=sequences["id"].to_numpy())
    sequence = names.index.get_indexer(done["sequence_id"])

    def sorted_(values: np.ndarray) -> np.ndarray:
        return values if order is None else values.take(order)

    columns = {
        "contact_phone": plain_strings(done["contact_phone"], order),
        "sequence": names.take(sorted_(sequence)).array,
        "day_number": sorted_(done["day_number"].to_numpy(dtype="int64")),
        "due_at": sorted_(done["due_at"].to_numpy()),
        "sent_at": sorted_(timing.pop("sent_at")),
        "lateness_s": sorted_(timing.pop("lateness_s")),
        "device_id": plain_strings(done["device_id"], order),
        "outcome": plain_strings(done["outcome"], order),
        "attempt": sorted_(done["attempt"].to_numpy(dtype="int64")),
        "queued_at": sorted_(done["queued_at"].to_numpy()),
        "designed_at": sorted_(timing.pop("designed_at")),
        "drift_hours": sorted_(timing.pop("drift_hours")),
        "early": sorted_(timing.pop("early")),
    }
    for name in list(causes):  # each freed as its sorted copy is made (timing's too)
        columns[name] = sorted_(causes.pop(name))
    return pd.DataFrame(columns, copy=False)


def send_figures(
    messages: pd.DataFrame,
    *,
    contacts: pd.DataFrame | None = None,
    steps: pd.DataFrame | None = None,
    pairs: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return what the summary reads of the send log: ``outcome``, ``contact_phone``,
    ``sent_at``, ``lateness_s``, ``drift_hours`` and ``early`` of each delivered send,
    as :func:`build_sends` computes them, in message order (not send order) and
    without the strings, schedule instants and lateness causes it adds."""
    done = _delivered(messages)
    timing = _timing(done, contacts, steps, pairs, designed=False)
    return pd.DataFrame({"outcome": done["outcome"].array,
                         "contact_phone": done["contact_phone"].array,
                         **{name: timing[name] for name in
                            ("sent_at", "lateness_s", "drift_hours", "early")}}, copy=False)


def _delivered(messages: pd.DataFrame) -> pd.DataFrame:
    """Return the delivered messages."""
    delivered = messages["outcome"].notna().to_numpy()
    # Usually every message was delivered: share its columns instead of copying.
    return messages if delivered.all() else messages[delivered]


def _timing(done: pd.DataFrame, contacts: pd.DataFrame | None, steps: pd.DataFrame | None,
            pairs: np.ndarray | None, *, designed: bool = True) -> dict[str, np.ndarray]:
    """Return the delivered messages' ``sent_at``, ``lateness_s``, ``designed_at``
    (unless not ``designed``), ``drift_hours`` and ``early`` (see :func:`build_sends`),
    from one compiled pass (:func:`seqsim.engine.send_scan.send_columns`)."""
    n = len(done)
    plan = _StepPlan(steps)
    step = plan.index(done["sequence_stepid"].to_numpy())
    if contacts is not None and not contacts.empty:
        codes, n_codes = dense_codes(contact_pair_codes(contacts) if pairs is None else pairs)
        row = rows_of(contacts["id"].to_numpy(np.int64),
                      done["sequence_contact_id"].to_numpy(np.int64))
        sequence = as_keys(contacts["sequence_id"].to_numpy())
        is_entry = plan.is_entry(contacts["sequence_stepid"].to_numpy())
        created = contacts["created_at"].to_numpy("datetime64[us]").view(np.int64)
        enrolled = enrolments(codes, created, is_entry, n_codes)
        del is_entry
    else:  # no enrolments: designed_at is NaT, early still known
        codes, n_codes = dense_codes(contact_pair_codes(done))
        row, sequence = np.arange(n), as_keys(done["sequence_id"].to_numpy())
        enrolled = np.full(n_codes, np.iinfo(np.int64).min)
    sent = (done["outcome"] == "sent").to_numpy(dtype=bool, na_value=False)
    sent_at, due_at = (done[name].to_numpy() for name in ("sent_at", "due_at"))
    args = (row, step, sent, _micros(sent_at), _micros(due_at), codes, sequence, enrolled,
            plan.table)
    status, designed_at, early, lateness, drift = send_columns(*args, plan.rank, plan.depth,
                                                               designed)
    if status & MIXED:  # a step of another sequence than its row's: each step its own key
        early = send_columns(*args, np.arange(len(plan.table)), len(plan.table) or 1, False)[2]
    if status & HUGE or not sent_at.dtype == due_at.dtype == np.dtype("datetime64[us]"):
        lateness = (done["sent_at"] - done["due_at"]).dt.total_seconds().to_numpy()
    return {"sent_at": sent_at, "lateness_s": lateness,
            "designed_at": designed_at.view("datetime64[us]"), "drift_hours": drift,
            "early": early}


def _micros(values: np.ndarray) -> np.ndarray:
    return values.astype("datetime64[us]", copy=False).view(np.int64)


class _StepPlan:
    """The steps in (sequence, day) order (none without a steps table): per step
    its sequence, designed offset from enrolment (µs), delay (µs) and whether it
    is its sequence's first (``table``), and its place in its sequence (``rank``,
    below ``depth``)."""

    def __init__(self, steps: pd.DataFrame | None) -> None:
        if steps is None:
            steps = pd.DataFrame({"id": [], "sequence_id": [], "day_number": [],
                                  "trigger_delay_hours": [], "is_entry_point": []})
        by_day = steps.sort_values(["sequence_id", "day_number"], kind="stable")
        seq = by_day["sequence_id"].to_numpy(np.int64)
        self.ids = pd.Index(by_day["id"].to_numpy(np.int64))
        self.entry_ids = entry_step_ids(steps)
        delay = by_day["trigger_delay_hours"].to_numpy(np.int64) * HOUR_US
        first = np.r_[True, seq[1:] != seq[:-1]][:len(seq)]
        start = np.maximum.accumulate(np.where(first, np.arange(len(seq)), 0))
        total = np.cumsum(delay)
        self.table = np.column_stack([seq, total - total[start], delay, first]).astype(np.int64)
        self.rank = np.arange(len(seq)) - start
        self.depth = int(self.rank.max()) + 1 if len(seq) else 1
        # Step ids are few and close together: per id its place and whether it is
        # an entry, looked up in tables (no hashing, no int64 copy of millions).
        self._lowest, self._places, self._entry = 0, None, None
        table = id_table(self.ids.to_numpy())
        if table is not None:
            self._lowest, self._places = table
            self._entry = np.zeros(len(self._places), dtype=bool)
            entries = self.entry_ids[np.isin(self.entry_ids, self.ids)] - self._lowest
            self._entry[entries] = True

    def index(self, step_ids: np.ndarray) -> np.ndarray:
        """Return each step id's place in the plan (int32; -1: not a step)."""
        if self._places is None or step_ids.dtype.kind not in "iu":
            return self.ids.get_indexer(step_ids).astype(np.int32)
        return look_up(as_keys(step_ids), self._places, self._lowest, -1)

    def is_entry(self, step_ids: np.ndarray) -> np.ndarray:
        """Return whether each step id is an entry step of its sequence."""
        if self._entry is None or step_ids.dtype.kind not in "iu":
            return np.isin(step_ids, self.entry_ids)
        return look_up(as_keys(step_ids), self._entry, self._lowest, False)

