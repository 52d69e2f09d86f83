"""The send log: one row per delivered send attempt, with its schedule columns.

Columns are :data:`seqsim.results.result.SENDS_COLUMNS` (a contract).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.engine.schema import contact_pair_codes
from seqsim.engine.send_scan import HUGE, MIXED, enrolments, send_columns
from seqsim.engine.tallies import as_keys, dense_codes, id_table, look_up
from seqsim.model.scenario import Scenario
from seqsim.results.rows import entry_step_ids, rows_of
from seqsim.results.waits import Waits, wait_columns
from seqsim.strings import plain_strings
from seqsim.units import HOUR_US

__all__ = ["STEP_SEND_COLUMNS", "build_sends", "send_figures"]


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
    for_steps: bool = False,
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

    ``for_steps``: only the columns :data:`STEP_SEND_COLUMNS` the step table
    reads, the same values in the same order, names (``sequence``,
    ``outcome``) as categoricals: no string per send for the phone and device,
    no schedule columns.
    """
    log = _SendLog(messages, sequences, contacts, steps, pairs, leads, scenario, waits,
                   designed=not for_steps)
    if for_steps:
        return _step_columns(log)
    done, timing, order = log.done, log.timing, log.order
    columns = {
        "contact_phone": plain_strings(done["contact_phone"], order),
        "sequence": log.names.take(log.sorted(log.sequence)).array,
        "day_number": log.sorted(done["day_number"].to_numpy(dtype="int64")),
        "due_at": log.sorted(done["due_at"].to_numpy()),
        "sent_at": log.sorted(timing.pop("sent_at")),
        "lateness_s": log.sorted(timing.pop("lateness_s")),
        "device_id": plain_strings(done["device_id"], order),
        "outcome": plain_strings(done["outcome"], order),
        "attempt": log.sorted(done["attempt"].to_numpy(dtype="int64")),
        "queued_at": log.sorted(done["queued_at"].to_numpy()),
        "designed_at": log.sorted(timing.pop("designed_at")),
        "drift_hours": log.sorted(timing.pop("drift_hours")),
        "early": log.sorted(timing.pop("early")),
    }
    return pd.DataFrame({**columns, **log.sorted_causes()}, copy=False)


#: The send log's columns the step table reads (:func:`seqsim.results.steps.step_table`).
STEP_SEND_COLUMNS = ("sequence", "day_number", "outcome", "sent_at", "lateness_s",
                     *WAIT_COLUMNS)


def _step_columns(log: _SendLog) -> pd.DataFrame:
    """Return :func:`build_sends`'s columns :data:`STEP_SEND_COLUMNS` from ``log``."""
    names = pd.Index(log.names.array)
    sequence = log.sorted(log.sequence)
    if names.hasnans or not names.is_unique or (sequence < 0).any():
        named = log.names.take(sequence).array  # as build_sends names them, case by case
    else:  # categories must be distinct and known
        named = pd.Categorical.from_codes(sequence, categories=names, validate=False)
    outcome = log.done["outcome"]
    columns = {
        "sequence": named,
        "day_number": log.sorted(log.done["day_number"].to_numpy(dtype="int64")),
        "outcome": (outcome.array if log.order is None else outcome.array.take(log.order)),
        "sent_at": log.sorted(log.timing.pop("sent_at")),
        "lateness_s": log.sorted(log.timing.pop("lateness_s")),
    }
    return pd.DataFrame({**columns, **log.sorted_causes()}, copy=False)


class _SendLog:
    """What both forms of the send log compute: the delivered messages (``done``),
    their timing and lateness causes, and the send order (None: already in it)."""

    def __init__(self, messages: pd.DataFrame, sequences: pd.DataFrame,
                 contacts: pd.DataFrame | None, steps: pd.DataFrame | None,
                 pairs: np.ndarray | None, leads: pd.DataFrame | None,
                 scenario: Scenario | None, waits: Waits | None, *, designed: bool) -> None:
        done = self.done = _delivered(messages)
        self.timing = _timing(done, contacts, steps, pairs, designed=designed)
        delivered = np.flatnonzero(messages["outcome"].notna().to_numpy())
        self.causes = wait_columns(done, delivered, messages, sequences, steps,
                                   contacts, leads, scenario, waits)
        self.order = None
        if not pd.Index(self.timing["sent_at"]).is_monotonic_increasing:
            # Messages are numbered in queue order; pacing can reorder their sends.
            # Sorted a column at a time (a second whole frame would be the largest
            # transient of a big run's result), and names by their codes: the
            # strings are made once, in send order.
            self.order = np.lexsort((done["id"].to_numpy(), self.timing["sent_at"]))
        self.names = pd.Series(sequences["name"].array, index=sequences["id"].to_numpy())
        self.sequence = self.names.index.get_indexer(done["sequence_id"])

    def sorted(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` (one per delivered message) in send order."""
        return values if self.order is None else values.take(self.order)

    def sorted_causes(self) -> dict[str, np.ndarray]:
        """Return the lateness causes in send order, each freed as its sorted copy
        is made."""
        return {name: self.sorted(self.causes.pop(name)) for name in list(self.causes)}


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

