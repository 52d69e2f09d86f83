"""The batch engine's fastest path: every poll of a run in a few array passes.

When nothing can hold a message back (no device limits, zero pacing, no
failures) and no poll has more due rows than ``batch_size``, a contact's
whole path is fixed by its arrival: each step goes out at the first poll at
or after it is due, a row created by a completion is picked up no earlier
than the next poll, and a chained sequence's entry row goes out one poll
after the step that finished the previous sequence. No row created in a poll
can change what another contact does, so instead of running polls this
module computes, one step position at a time and for all contacts at once,
the poll each step goes out at, and builds the same tables and timeline the
poll-by-poll engines produce (property tests compare them on random
scenarios).

Anything outside that regime (limits, pacing, failures, a lead arriving
twice, a poll over ``batch_size``) returns None, and the caller runs the
poll-by-poll batch engine instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from seqsim.engine.poll import PollStats
from seqsim.engine.rules import first_poll_at_or_after, is_default_timing
from seqsim.engine.schema import canonical_frame
from seqsim.model.scenario import Scenario
from seqsim.units import HOUR_US

__all__ = ["ClosedForm", "applies", "run_closed_form"]

_NAT_US = np.iinfo(np.int64).min
_FLAT_DTYPES = {
    "seq": np.int32, "step": np.int32, "day": np.int32, "arrival": np.int32,
    "due": np.int64, "created": np.int64, "sent_poll": np.int32, "created_poll": np.int32,
    "entry": bool, "first": bool, "finish": bool,
}


class ClosedForm(NamedTuple):
    """A run computed by :func:`run_closed_form`."""

    tables: dict[str, pd.DataFrame]
    timeline: list[PollStats]
    pairs: np.ndarray  # per sequence_contacts row, as schema.contact_pair_codes


@dataclass(frozen=True)
class _Position:
    """One step on a contact's path through a sequence and its chain."""

    sequence_id: int
    step_id: int
    day_number: int
    trigger: str
    delay_us: int
    chain_entry: bool  # the entry step of a sequence reached by chaining
    last_of_sequence: bool


def applies(scenario: Scenario) -> bool:
    """Return whether a scenario's capacity, pacing and policy allow the closed form.

    Only the one-by-one design with delays from the next step, no send
    windows and no outages has the closed form; other policies run poll by poll.
    """
    cap = scenario.capacity
    return (
        is_default_timing(scenario.policy, scenario.sequences)
        and not (cap.hourly_limit or cap.daily_limit or cap.in_flight_limit)
        and cap.failure_rate == 0
        and all(s.max_delay_seconds == 0 for s in scenario.sequences)
    )


def _paths(
    sequences: pd.DataFrame, steps: pd.DataFrame
) -> tuple[dict[str, tuple[list[_Position], list[str | None]]], dict[str, int]]:
    """Return, per entry trigger, the positions a contact passes and the lead's
    trigger after finishing 0, 1, 2... sequences; and sequence ids by trigger."""
    by_trigger = dict(zip(sequences["trigger"], sequences["id"], strict=True))
    active = dict(zip(sequences["id"], sequences["is_active"], strict=True))
    trig = dict(zip(sequences["id"], sequences["trigger"], strict=True))
    ordered = steps.sort_values(["sequence_id", "day_number"])
    per_seq: dict[int, list[tuple]] = {}
    for row in ordered.itertuples(index=False):
        per_seq.setdefault(row.sequence_id, []).append(row)
    paths = {}
    for trigger, seq_id in by_trigger.items():
        positions: list[_Position] = []
        triggers_after: list[str | None] = [trigger]
        current: int | None = seq_id if active[seq_id] else None
        chained = False
        while current is not None:
            rows = per_seq[current]
            for k, st in enumerate(rows):
                positions.append(
                    _Position(int(current), int(st.id), int(st.day_number), str(st.trigger),
                              int(st.trigger_delay_hours) * HOUR_US,
                              chained and k == 0, k == len(rows) - 1)
                )
            nxt = by_trigger.get(rows[-1].next_trigger) if rows[-1].next_trigger else None
            triggers_after.append(trig[nxt] if nxt is not None else None)
            current = nxt if nxt is not None and active[nxt] else None
            chained = True
        paths[trigger] = (positions, triggers_after)
    return paths, by_trigger


def run_closed_form(
    scenario: Scenario,
    static: dict[str, pd.DataFrame],
    arrivals: pd.DataFrame,
) -> ClosedForm | None:
    """Compute a whole run without polling, or return None if it does not apply.

    ``static`` holds the run's ``sequences`` and ``sequence_steps`` tables.
    Returns the ``leads``, ``sequence_contacts`` and ``messages`` tables, one
    timeline row per poll, and the contacts' pair codes.
    """
    if not applies(scenario) or arrivals["phone"].duplicated().any():
        return None
    sim = scenario.simulation
    start = _us(sim.start)
    poll = sim.poll_interval // pd.Timedelta(microseconds=1)
    total = first_poll_at_or_after(sim.duration, sim.poll_interval)
    times = arrivals["time"].to_numpy().astype("datetime64[us]").astype(np.int64)
    arrival_poll = first_poll_at_or_after(times - start, poll)
    seen = arrival_poll < total
    paths, _ = _paths(static["sequences"], static["sequence_steps"])

    lead_trigger = np.empty(len(arrivals), dtype=object)
    triggers_all = arrivals["trigger"].to_numpy(dtype=object)
    groups = [
        (t, np.flatnonzero(seen & (triggers_all == t))) for t in pd.unique(triggers_all[seen])
    ]
    # Filled in place: concatenating per-position pieces would hold every row twice.
    size = sum(len(idx) * len(paths[t][0]) for t, idx in groups)
    flat = {k: np.empty(size, dtype=dtype) for k, dtype in _FLAT_DTYPES.items()}
    filled = 0
    for trigger, idx in groups:
        positions, triggers_after = paths[trigger]
        filled, finished = _fill_paths(flat, filled, positions, idx, arrival_poll[idx],
                                       start, poll, total)
        lead_trigger[idx] = np.array(triggers_after, dtype=object)[finished]
    flat = {k: v[:filled] for k, v in flat.items()}
    sends_per_poll = np.bincount(flat["sent_poll"][flat["sent_poll"] >= 0], minlength=total)
    if sends_per_poll.max(initial=0) > scenario.capacity.batch_size:
        return None
    step_triggers = static["sequence_steps"].set_index("id")["trigger"]
    return _tables_and_timeline(scenario, arrivals, seen, lead_trigger, flat, step_triggers,
                                total, start, poll)


def _fill_paths(
    flat: dict[str, np.ndarray],
    filled: int,
    positions: list[_Position],
    idx: np.ndarray,
    prev_poll: np.ndarray,
    start: int,
    poll: int,
    total: int,
) -> tuple[int, np.ndarray]:
    """Write the rows of the contacts ``idx`` (arrivals with one entry trigger) into
    ``flat`` from row ``filled`` on, one path position at a time.

    ``prev_poll`` is each contact's arrival poll. Returns the next free row and
    how many sequences each contact finished in the run.
    """
    finished = np.zeros(len(idx), dtype=np.int64)
    alive = np.ones(len(idx), dtype=bool)  # the previous position was sent in the run
    for j, pos in enumerate(positions):
        if j == 0:
            due = start + prev_poll * poll
            sent_poll = prev_poll
        else:
            due = start + prev_poll * poll + (0 if pos.chain_entry else pos.delay_us)
            sent_poll = np.maximum(first_poll_at_or_after(due - start, poll), prev_poll + 1)
        sent = alive & (sent_poll < total)
        n = int(alive.sum())
        if n == 0:
            break
        part = slice(filled, filled + n)
        filled += n
        flat["seq"][part] = pos.sequence_id
        flat["step"][part] = pos.step_id
        flat["day"][part] = pos.day_number
        flat["arrival"][part] = idx[alive]
        flat["due"][part] = due[alive]
        flat["created"][part] = start + prev_poll[alive] * poll
        flat["sent_poll"][part] = np.where(sent, sent_poll, -1)[alive]
        flat["created_poll"][part] = prev_poll[alive]
        flat["entry"][part] = j == 0 or pos.chain_entry
        flat["first"][part] = j == 0
        last = sent & pos.last_of_sequence
        flat["finish"][part] = last[alive]
        finished += last
        alive = sent
        prev_poll = sent_poll
    return filled, finished


def _us(instant: datetime) -> int:
    return int(np.datetime64(instant, "us").astype(np.int64))


def _tables_and_timeline(
    scenario: Scenario,
    arrivals: pd.DataFrame,
    seen: np.ndarray,
    lead_trigger: np.ndarray,
    flat: dict[str, np.ndarray],
    step_triggers: pd.Series,
    total: int,
    start: int,
    poll: int,
) -> ClosedForm:
    enrolled = arrivals[seen]
    leads = pd.DataFrame(
        {
            "phone": enrolled["phone"].array,
            "name": _nulls(len(enrolled)),
            "device_id": enrolled["device_id"].array,
            "trigger": pd.array(lead_trigger[seen], dtype="str"),
            "created_at": enrolled["time"].to_numpy().astype("datetime64[us]"),
        },
        copy=False,
    )
    n = len(flat["seq"])
    sent = flat["sent_poll"] >= 0
    completed_at = np.where(sent, start + flat["sent_poll"].astype(np.int64) * poll, _NAT_US)
    phone = arrivals["phone"].take(flat["arrival"]).array
    nat = np.full(n, _NAT_US).astype("datetime64[us]")
    contacts = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "sequence_id": flat["seq"].astype(np.int32),
            "contact_phone": phone,
            "contact_name": _nulls(n),
            "current_step": flat["day"].astype(np.int32),
            "status": _labels(["active", "completed"], sent.astype(np.int8)),
            "current_trigger": step_triggers.take(
                step_triggers.index.get_indexer(flat["step"])).array,
            "next_trigger_time": flat["due"].astype("datetime64[us]"),
            "sequence_stepid": flat["step"].astype(np.int32),
            "assigned_device_id": arrivals["device_id"].take(flat["arrival"]).array,
            "processing_device_id": _nulls(n),
            "processing_started_at": nat,
            "completed_at": completed_at.astype("datetime64[us]"),
            "failed_at": nat,
            "retry_count": np.zeros(n, dtype=np.int32),
            "last_error": _nulls(n),
            "created_at": flat["created"].astype("datetime64[us]"),
        },
        copy=False,
    )
    messages = _messages(contacts, flat, sent, _phone_rank(arrivals), start, poll)
    tables = {
        "leads": canonical_frame("leads", leads),
        "sequence_contacts": canonical_frame("sequence_contacts", contacts),
        "messages": canonical_frame("messages", messages),
    }
    # Each arrival is one phone here, so its index names the contact: pair
    # codes without factorising the phone strings again.
    width = int(flat["seq"].max()) + 1 if n else 1
    pairs = flat["arrival"].astype(np.int64) * width + flat["seq"]
    return ClosedForm(tables, _poll_stats(scenario, flat, sent, total), pairs)


def _phone_rank(arrivals: pd.DataFrame) -> np.ndarray:
    """Return each arrival's phone's rank in lexical (SQL ``ORDER BY``) order."""
    order = np.argsort(arrivals["phone"].to_numpy(), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _messages(
    contacts: pd.DataFrame,
    flat: dict[str, np.ndarray],
    sent: np.ndarray,
    phone_rank: np.ndarray,
    start: int,
    poll: int,
) -> pd.DataFrame:
    """One message per sent row, numbered in the order the polls queued them."""
    rows = np.flatnonzero(sent)
    rows = rows[_queue_order(flat["sent_poll"][rows], flat["due"][rows] - start,
                             flat["seq"][rows], phone_rank[flat["arrival"][rows]],
                             flat["day"][rows])]
    at = (start + flat["sent_poll"][rows].astype(np.int64) * poll).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "id": np.arange(1, len(rows) + 1, dtype=np.int64),
            "sequence_contact_id": (rows + 1).astype(np.int64),
            "contact_phone": contacts["contact_phone"].take(rows).array,
            "sequence_id": flat["seq"][rows].astype(np.int32),
            "sequence_stepid": flat["step"][rows].astype(np.int32),
            "day_number": flat["day"][rows].astype(np.int32),
            "device_id": contacts["assigned_device_id"].take(rows).array,
            "due_at": flat["due"][rows].astype("datetime64[us]"),
            "queued_at": at,
            "scheduled_at": at,
            "sent_at": at,
            "outcome": _labels(["sent"], np.zeros(len(rows), dtype=np.int8)),
            "attempt": np.ones(len(rows), dtype=np.int32),
            "error": _nulls(len(rows)),
        },
        copy=False,
    )


def _queue_order(
    poll: np.ndarray, due: np.ndarray, seq: np.ndarray, phone: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Return the order polls queue rows in: by poll, then the production
    ``ORDER BY next_trigger_time, sequence_id, contact_phone, current_step``.

    The five keys are packed into two 63-bit integers when they fit (due
    offsets under 2**42 us, about 50 days), which sorts about twice as fast.
    """
    fits = (
        len(due) and due.min() >= 0 and due.max() < 2**42 and poll.max() < 2**21
        and seq.max() < 2**15 and phone.max() < 2**32 and day.min() >= 0 and day.max() < 2**16
    )
    if not fits:
        return np.lexsort((day, phone, seq, due, poll))
    high = (poll.astype(np.int64) << 42) | due.astype(np.int64)
    low = (seq.astype(np.int64) << 48) | (phone.astype(np.int64) << 16) | day.astype(np.int64)
    return np.lexsort((low, high))


def _poll_stats(
    scenario: Scenario, flat: dict[str, np.ndarray], sent: np.ndarray, total: int
) -> list[PollStats]:
    sim = scenario.simulation
    created_poll = flat["created_poll"]
    enrolled = np.bincount(created_poll[flat["entry"]], minlength=total)
    sends = np.bincount(flat["sent_poll"][sent], minlength=total)
    completed = np.bincount(flat["sent_poll"][sent], minlength=total)
    finished = np.bincount(flat["sent_poll"][flat["finish"]], minlength=total)
    # Rows due the instant they are created (zero delay, chained entries) wait
    # for the next poll: they are that poll's backlog.
    waiting = (flat["due"] == flat["created"]) & ~flat["first"]
    backlog = np.bincount(created_poll[waiting], minlength=total)
    created = np.bincount(created_poll, minlength=total)
    active = np.cumsum(created) - np.cumsum(completed)
    done = np.cumsum(finished)
    times = pd.date_range(sim.start, periods=total, freq=sim.poll_interval, unit="us")
    zero = np.zeros(total, dtype=np.int64)
    return [
        PollStats(*row)
        for row in zip(times.to_pydatetime().tolist(), enrolled.tolist(), sends.tolist(),
                       zero.tolist(), zero.tolist(), backlog.tolist(), active.tolist(),
                       done.tolist(), strict=True)
    ]


def _nulls(n: int) -> pd.api.extensions.ExtensionArray:
    """Return ``n`` missing strings as a ``str`` column, without Python objects."""
    return pd.array(pa.nulls(n, pa.large_string()), dtype="str")


def _labels(labels: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Return ``labels[codes]`` as a ``str`` column, built in Arrow."""
    return pd.array(pc.take(pa.array(labels, pa.large_string()), pa.array(codes)), dtype="str")
