"""The compiled kernel's tables, built from its arrays with array operations.

``leads``, ``sequence_contacts`` and ``messages`` come out with the canonical
columns and dtypes of :func:`seqsim.engine.schema.canonical_frame`, as every
engine's do; strings are looked up from the integer codes once per column
(:class:`seqsim.engine.kernel_world.Codes`), never per row in Python.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from seqsim.engine import kernel_layout as k
from seqsim.engine.kernel_layout import NONE
from seqsim.engine.kernel_world import Codes
from seqsim.engine.rules import FAILED_SEND_ERROR, SKIPPED_ERROR
from seqsim.engine.schema import canonical_frame, column_types

__all__ = ["Final", "final_columns", "kernel_tables", "timeline_frame"]

class Final(NamedTuple):
    """What the tables need of the kernel's final state: the used rows and messages
    (record arrays, :data:`~seqsim.engine.kernel_layout.ROW_DTYPE` and
    :data:`~seqsim.engine.kernel_layout.MESSAGE_DTYPE`) and the leads' triggers.

    Views of the state's own arrays, not copies: the rest of the state can be
    freed before the frames are built, and a column is read as ``rows["due"]``.
    """

    rows: np.ndarray
    messages: np.ndarray
    lead_trig: np.ndarray
    lead_n: np.ndarray


def final_columns(state: tuple) -> Final:
    """Return the state's used rows and messages and the leads' triggers."""
    counters = state[k.S_COUNT]
    return Final(state[k.S_ROWS][: counters[k.C_ROWS]], state[k.S_MSGS][: counters[k.C_MSGS]],
                 state[k.S_LEAD_TRIG], state[k.S_LEAD_N])


def _times(values: np.ndarray) -> pd.Series:
    """Return int64 µs (``NONE`` for NULL) as a datetime64[us] column."""
    return pd.Series(np.ascontiguousarray(values, dtype=np.int64).view("datetime64[us]"),
                     copy=False)


class _Strings:
    """Strings by integer code, as ``str`` columns built in Arrow (no Python objects)."""

    def __init__(self, names: np.ndarray) -> None:
        self._names = pa.array(list(names), pa.large_string())

    def __getitem__(self, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """Return the names of ``codes`` (missing where a code is negative)."""
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iu":
            codes = codes.astype(np.int64)
        missing = codes < 0
        if missing.all():
            return _nulls(len(codes))
        picked = pc.take(self._names, pa.array(codes, mask=missing if missing.any() else None))
        return pd.array(picked, dtype="str")


#: All-missing Arrow string arrays by length while :func:`kernel_tables` runs: its
#: columns of one length share one (Arrow arrays are immutable; 4M rows of
#: offsets are 32 MB each).
_NULLS: dict[int, pa.Array] = {}


def _nulls(n: int) -> pd.api.extensions.ExtensionArray:
    """Return an all-missing ``str`` column of ``n`` rows (see :data:`_NULLS`)."""
    shared = _NULLS.get(n)
    if shared is None:
        shared = _NULLS[n] = pa.nulls(n, pa.large_string())
    return pd.array(shared, dtype="str")


_STATUS = _Strings(np.array(["active", "completed", "failed"]))
_ERRORS = _Strings(np.array([FAILED_SEND_ERROR, SKIPPED_ERROR]))  # k.SEND_ERROR - 1, ...
_OUTCOME = _Strings(np.array(["sent", "failed"]))  # k.SENT_OK, k.SEND_FAILED


def _lead_triggers(codes: Codes, lead_trig: np.ndarray, lead_n: np.ndarray,
                   seen: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Return each seen lead's triggers joined by commas (in the order it got them)."""
    n = lead_n[seen]
    first = np.where(n == 1, lead_trig[seen, 0], -1)
    joined = _Strings(codes.triggers)[first]
    several = np.flatnonzero(n > 1)
    if len(several) == 0:
        return joined
    out = np.asarray(joined, dtype=object)
    for j in several:
        out[j] = ",".join(codes.triggers[lead_trig[seen[j], : n[j]]])
    return pd.array(np.where(pd.isna(out), None, out), dtype="str")


def _lead_order(codes: Codes, seen: np.ndarray) -> np.ndarray | None:
    """Return ``seen`` (lead codes) in the leads table's order: ``created_at``, then
    ``phone``, stable, as :func:`~seqsim.engine.schema.canonical_frame` sorts them.

    Only leads created at the same instant compare phones. Returns None when a
    time or a phone is missing (canonical_frame places those; it sorts).
    """
    created = codes.lead_created[seen]
    if (created == NONE).any():
        return None
    order = np.argsort(created, kind="stable")
    ordered = created[order]
    tie = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(tie):
        in_tie = np.zeros(len(order), dtype=bool)
        in_tie[tie] = in_tie[tie + 1] = True
        sub = order[in_tie]
        phones = codes.phones[seen[sub]]
        if not all(isinstance(p, str) for p in phones):
            return None
        rank = np.unique(phones, return_inverse=True)[1]
        order[in_tie] = sub[np.lexsort((sub, rank, created[sub]))]
    return seen[order]


def _lead_table(codes: Codes, phones: _Strings, lead_trig: np.ndarray,
                lead_n: np.ndarray) -> tuple[pd.DataFrame, bool]:
    """Return the leads frame, and whether its rows are in the table's order already."""
    seen = np.flatnonzero(lead_n >= 0)
    ordered = _lead_order(codes, seen)
    if ordered is not None:
        seen = ordered
    return pd.DataFrame({
        "phone": phones[seen],
        "name": _nulls(len(seen)),
        "device_id": _Strings(codes.devices)[codes.lead_devices[seen]],
        "trigger": _lead_triggers(codes, lead_trig, lead_n, seen),
        "created_at": _times(codes.lead_created[seen]),
        "timezone": _Strings(codes.lead_zone)[seen],
    }, copy=False), ordered is not None


def _contacts(codes: Codes, phones: _Strings, R: np.ndarray,
              ids: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """Return the ``sequence_contacts`` frame; ``ids``: its sequence and step ids."""
    n = len(R["seq"])
    devices = _Strings(codes.devices)
    claimed = R["claimed_at"] != NONE
    return pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "sequence_id": ids[0],
        "contact_phone": phones[R["lead"]],
        "contact_name": _nulls(n),
        "current_step": np.ascontiguousarray(R["day"]),
        "status": _STATUS[R["status"]],
        "current_trigger": _Strings(codes.step_triggers)[R["step"]],
        "next_trigger_time": _times(R["due"]),
        "sequence_stepid": ids[1],
        "assigned_device_id": devices[R["dev"]],
        "processing_device_id": devices[np.where(claimed, R["dev"], -1)],
        "processing_started_at": _times(R["claimed_at"]),
        "completed_at": _times(R["completed_at"]),
        "failed_at": _times(R["failed_at"]),
        "retry_count": np.ascontiguousarray(R["retry"]),
        "last_error": _ERRORS[R["error"] - 1],
        "created_at": _times(R["created"]),
    }, copy=False)


def _messages(codes: Codes, phones: _Strings, R: np.ndarray, M: np.ndarray,
              ids: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """Return the ``messages`` frame; ``ids``: the sequence and step ids of each row."""
    rows = M["row"]
    outcome = M["outcome"]
    return pd.DataFrame({
        "id": np.arange(1, len(rows) + 1, dtype=np.int64),
        "sequence_contact_id": np.add(rows, 1, dtype=np.int64),
        "contact_phone": phones[R["lead"][rows]],
        "sequence_id": ids[0][rows],
        "sequence_stepid": ids[1][rows],
        "day_number": R["day"][rows],
        "device_id": _Strings(codes.devices)[M["dev"]],
        "due_at": _times(M["due"]),
        "queued_at": _times(M["queued"]),
        "scheduled_at": _times(M["scheduled"]),
        "sent_at": _times(M["sent"]),
        "outcome": _OUTCOME[outcome],
        "attempt": np.ascontiguousarray(M["attempt"]),
        "error": _ERRORS[np.where(outcome == k.SEND_FAILED, k.SEND_ERROR - 1, -1)],
    }, copy=False)


def _canonical(table: str, frame: pd.DataFrame, ordered: bool) -> pd.DataFrame:
    """Return ``frame`` as :func:`~seqsim.engine.schema.canonical_frame` would.

    Built with the table's columns and dtypes, in key order (``ordered``), it is
    canonical already: returned as is, without canonical_frame's uniqueness
    test and sort of millions of keys. Otherwise canonical_frame converts it.
    """
    types = column_types(table)
    if ordered and list(frame.columns) == [c for c, _ in types] and all(
            frame[c].dtype == d for c, d in types):
        return frame
    return canonical_frame(table, frame)


def kernel_tables(codes: Codes, final: Final) -> dict[str, pd.DataFrame]:
    """Return the run's ``leads``, ``sequence_contacts`` and ``messages`` from the
    kernel's final columns (:func:`final_columns`)."""
    phones = _Strings(codes.phones)
    R = final.rows
    # The tables' id columns are int32: cast the few ids, then gather (as a cast
    # of the gathered int64 ids would give, without the int64 copy).
    ids = (codes.sequence_ids.astype(np.int32)[R["seq"]],
           codes.step_ids.astype(np.int32)[R["step"]])
    try:
        leads, ordered = _lead_table(codes, phones, final.lead_trig, final.lead_n)
        # Ids run 1..n in row order: both frames are in key order by construction.
        return {
            "leads": _canonical("leads", leads, ordered),
            "sequence_contacts": _canonical("sequence_contacts",
                                            _contacts(codes, phones, R, ids), True),
            "messages": _canonical("messages",
                                   _messages(codes, phones, R, final.messages, ids), True),
        }
    finally:
        _NULLS.clear()  # the tables keep theirs; the next run's lengths differ


def timeline_frame(start_us: int, poll_us: int, timeline: np.ndarray) -> pd.DataFrame:
    """Return the kernel's per-poll counts as the run's timeline frame."""
    polls = timeline.shape[1]
    times = start_us + poll_us * np.arange(polls, dtype=np.int64)
    return pd.DataFrame({
        "time": _times(times),
        "enrolled": timeline[k.L_ENROLLED],
        "sent": timeline[k.L_SENT],
        "failed": timeline[k.L_FAILED],
        "backlog": timeline[k.L_BACKLOG],
        "active": timeline[k.L_ACTIVE],
        "completed_contacts": timeline[k.L_DONE],
        "skipped": timeline[k.L_SKIPPED],
    })
