"""The compiled kernel's tables, built from its arrays with array operations.

``leads``, ``sequence_contacts`` and ``messages`` come out with the canonical
columns and dtypes of :func:`seqsim.engine.schema.canonical_frame`, as every
engine's do; strings are looked up from the integer codes once per column
(:class:`seqsim.engine.kernel_world.Codes`), never per row in Python.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.engine import kernel_layout as k
from seqsim.engine.kernel_layout import NONE
from seqsim.engine.kernel_world import Codes
from seqsim.engine.rules import FAILED_SEND_ERROR, SKIPPED_ERROR
from seqsim.engine.schema import canonical_frame

__all__ = ["kernel_tables", "timeline_frame"]

_STATUS = np.array(["active", "completed", "failed"], dtype=object)
_ERRORS = np.array([None, FAILED_SEND_ERROR, SKIPPED_ERROR], dtype=object)  # k.NO_ERROR, ...
_OUTCOME = np.array(["sent", "failed", None], dtype=object)  # SENT_OK, SEND_FAILED, pending


def _times(values: np.ndarray) -> pd.Series:
    """Return int64 µs (``NONE`` for NULL) as a datetime64[us] column."""
    return pd.Series(np.ascontiguousarray(values, dtype=np.int64).view("datetime64[us]"))


def _lookup(names: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Return ``names[codes]`` with None where a code is negative."""
    out = np.asarray(names, dtype=object)[np.maximum(codes, 0)] if len(names) else \
        np.full(len(codes), None, dtype=object)
    return np.where(codes >= 0, out, None)


def _lead_table(codes: Codes, lead_trig: np.ndarray, lead_n: np.ndarray) -> pd.DataFrame:
    seen = np.flatnonzero(lead_n >= 0)
    triggers = [",".join(codes.triggers[lead_trig[j, : lead_n[j]]]) or None for j in seen]
    return pd.DataFrame({
        "phone": codes.phones[seen],
        "name": None,
        "device_id": _lookup(codes.devices, codes.lead_devices[seen]),
        "trigger": triggers,
        "created_at": _times(codes.lead_created[seen]),
        "timezone": codes.lead_zone[seen],
    })


def _contacts(codes: Codes, R: np.ndarray) -> pd.DataFrame:
    n = R.shape[0]
    claimed = R[:, k.R_CLAIMED_AT] != NONE
    device = _lookup(codes.devices, R[:, k.R_DEV])
    return pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "sequence_id": codes.sequence_ids[R[:, k.R_SEQ]],
        "contact_phone": codes.phones[R[:, k.R_LEAD]],
        "contact_name": None,
        "current_step": R[:, k.R_DAY],
        "status": _STATUS[R[:, k.R_STATUS]],
        "current_trigger": codes.step_triggers[R[:, k.R_STEP]],
        "next_trigger_time": _times(R[:, k.R_DUE]),
        "sequence_stepid": codes.step_ids[R[:, k.R_STEP]],
        "assigned_device_id": device,
        "processing_device_id": np.where(claimed, device, None),
        "processing_started_at": _times(R[:, k.R_CLAIMED_AT]),
        "completed_at": _times(R[:, k.R_COMPLETED_AT]),
        "failed_at": _times(R[:, k.R_FAILED_AT]),
        "retry_count": R[:, k.R_RETRY],
        "last_error": _ERRORS[R[:, k.R_ERROR]],
        "created_at": _times(R[:, k.R_CREATED]),
    })


def _messages(codes: Codes, R: np.ndarray, M: np.ndarray) -> pd.DataFrame:
    rows = M[:, k.M_ROW]
    outcome = M[:, k.M_OUTCOME]
    return pd.DataFrame({
        "id": np.arange(1, M.shape[0] + 1, dtype=np.int64),
        "sequence_contact_id": rows + 1,
        "contact_phone": codes.phones[R[rows, k.R_LEAD]],
        "sequence_id": codes.sequence_ids[R[rows, k.R_SEQ]],
        "sequence_stepid": codes.step_ids[R[rows, k.R_STEP]],
        "day_number": R[rows, k.R_DAY],
        "device_id": _lookup(codes.devices, M[:, k.M_DEV]),
        "due_at": _times(M[:, k.M_DUE]),
        "queued_at": _times(M[:, k.M_QUEUED]),
        "scheduled_at": _times(M[:, k.M_SCHEDULED]),
        "sent_at": _times(M[:, k.M_SENT]),
        "outcome": _OUTCOME[np.where(outcome < 0, 2, outcome)],
        "attempt": M[:, k.M_ATTEMPT],
        "error": np.where(outcome == k.SEND_FAILED, FAILED_SEND_ERROR, None),
    })


def kernel_tables(codes: Codes, state: tuple) -> dict[str, pd.DataFrame]:
    """Return the run's ``leads``, ``sequence_contacts`` and ``messages`` from the
    kernel's final state."""
    counters = state[k.S_COUNT]
    R = state[k.S_ROWS][: counters[k.C_ROWS]]
    M = state[k.S_MSGS][: counters[k.C_MSGS]]
    leads = _lead_table(codes, state[k.S_LEAD_TRIG], state[k.S_LEAD_N])
    return {
        "leads": canonical_frame("leads", leads),
        "sequence_contacts": canonical_frame("sequence_contacts", _contacts(codes, R)),
        "messages": canonical_frame("messages", _messages(codes, R, M)),
    }


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
