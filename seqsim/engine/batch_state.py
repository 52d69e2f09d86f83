"""The batch engine's state: the run's tables as columns, and their final frames.

:class:`seqsim.engine.batch.BatchProcessor` keeps ``sequence_contacts``,
``messages`` and ``leads`` here as plain Python columns while a run goes, and
turns them into canonical frames once, when it ends (:func:`state_tables`).
All instants are integer microseconds since 1970 (naive UTC).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from seqsim.engine.schema import canonical_frame
from seqsim.units import HOUR_US

__all__ = ["Lead", "Messages", "Rows", "SequenceDef", "StepDef", "load_definitions", "state_tables"]


@dataclass(frozen=True)
class StepDef:
    """One ``sequence_steps`` row as the engine uses it (delay in microseconds)."""

    id: int
    sequence_id: int
    day_number: int
    trigger: str
    delay_us: int
    next_step: int | None  # id of the following step in the same sequence
    chain: int | None  # sequence entered after this (last) step


@dataclass(frozen=True)
class SequenceDef:
    """One ``sequences`` row as the engine uses it."""

    id: int
    trigger: str
    is_active: bool
    min_delay_seconds: float
    max_delay_seconds: float
    entry_step: int


class Rows:
    """``sequence_contacts`` as columns; a row's index is its id - 1."""

    def __init__(self) -> None:
        self.sequence_id: list[int] = []
        self.phone: list[str] = []
        self.name: list[str | None] = []
        self.step: list[int] = []
        self.status: list[str] = []
        self.due: list[int] = []
        self.device: list[str | None] = []
        self.claimed_by: list[str | None] = []
        self.claimed_at: list[int | None] = []
        self.completed_at: list[int | None] = []
        self.failed_at: list[int | None] = []
        self.retry_count: list[int] = []
        self.last_error: list[str | None] = []
        self.created_at: list[int] = []

    def add(self, seq: int, phone: str, name: str | None, step: int, due: int,
            device: str | None, now: int) -> int:
        self.sequence_id.append(seq)
        self.phone.append(phone)
        self.name.append(name)
        self.step.append(step)
        self.status.append("active")
        self.due.append(due)
        self.device.append(device)
        self.claimed_by.append(None)
        self.claimed_at.append(None)
        self.completed_at.append(None)
        self.failed_at.append(None)
        self.retry_count.append(0)
        self.last_error.append(None)
        self.created_at.append(now)
        return len(self.phone) - 1


class Messages:
    """The ``messages`` send log as columns; a message's index is its id - 1."""

    def __init__(self) -> None:
        self.row: list[int] = []
        self.device: list[str] = []
        self.due: list[int] = []
        self.queued: list[int] = []
        self.scheduled: list[int] = []
        self.sent: list[int | None] = []
        self.planned: list[str] = []  # drawn when queued, known once delivered
        self.outcome: list[str | None] = []
        self.attempt: list[int] = []
        self.error: list[str | None] = []


class Lead:
    __slots__ = ("created_at", "device_id", "timezone", "triggers")

    def __init__(self, device_id: str | None, trigger: str, created_at: int,
                 timezone: str) -> None:
        self.device_id = device_id
        self.triggers = [trigger]
        self.created_at = created_at
        self.timezone = timezone



def load_definitions(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[int, StepDef], dict[int, SequenceDef]]:
    """Return the run's steps and sequences by id, read from the static tables."""
    seq_rows = con.execute(
        'SELECT id, "trigger", is_active, min_delay_seconds, max_delay_seconds '
        "FROM sequences ORDER BY id"
    ).fetchall()
    step_rows = con.execute(
        'SELECT id, sequence_id, day_number, "trigger", next_trigger, trigger_delay_hours, '
        "is_entry_point FROM sequence_steps ORDER BY id"
    ).fetchall()
    seq_by_trigger = {r[1]: r[0] for r in seq_rows}
    step_by_key = {(r[1], r[3]): r[0] for r in step_rows}
    steps = {}
    entry = {}
    for sid, seq, day, trig, nxt, delay, is_entry in step_rows:
        following = step_by_key.get((seq, nxt))
        steps[sid] = StepDef(sid, seq, day, trig, delay * HOUR_US, following,
                           seq_by_trigger.get(nxt) if following is None else None)
        if is_entry:
            entry[seq] = sid
    sequences = {
        r[0]: SequenceDef(r[0], r[1], r[2], r[3], r[4], entry[r[0]]) for r in seq_rows
    }
    return steps, sequences



def state_tables(
    leads: dict[str, Lead], rows: Rows, messages: Messages, steps: dict[int, StepDef]
) -> dict[str, pd.DataFrame]:
    """Return the run's ``leads``, ``sequence_contacts`` and ``messages`` tables.

    They have the canonical columns and dtypes of :func:`seqsim.engine.schema.canonical_frame`,
    as the row engine's tables read back from DuckDB do.
    """
    lead_frame = pd.DataFrame(
        {
            "phone": list(leads),
            "name": None,
            "device_id": [lead.device_id for lead in leads.values()],
            "trigger": [",".join(lead.triggers) or None for lead in leads.values()],
            "created_at": _timestamps([lead.created_at for lead in leads.values()]),
            "timezone": [lead.timezone for lead in leads.values()],
        }
    )
    r = rows
    contacts = pd.DataFrame(
        {
            "id": np.arange(1, len(r.phone) + 1, dtype=np.int64),
            "sequence_id": r.sequence_id,
            "contact_phone": r.phone,
            "contact_name": r.name,
            "current_step": [steps[s].day_number for s in r.step],
            "status": r.status,
            "current_trigger": [steps[s].trigger for s in r.step],
            "next_trigger_time": _timestamps(r.due),
            "sequence_stepid": r.step,
            "assigned_device_id": r.device,
            "processing_device_id": r.claimed_by,
            "processing_started_at": _timestamps(r.claimed_at),
            "completed_at": _timestamps(r.completed_at),
            "failed_at": _timestamps(r.failed_at),
            "retry_count": r.retry_count,
            "last_error": r.last_error,
            "created_at": _timestamps(r.created_at),
        }
    )
    m = messages
    rows_of = m.row
    messages = pd.DataFrame(
        {
            "id": np.arange(1, len(rows_of) + 1, dtype=np.int64),
            "sequence_contact_id": [i + 1 for i in rows_of],
            "contact_phone": [r.phone[i] for i in rows_of],
            "sequence_id": [r.sequence_id[i] for i in rows_of],
            "sequence_stepid": [r.step[i] for i in rows_of],
            "day_number": [steps[r.step[i]].day_number for i in rows_of],
            "device_id": m.device,
            "due_at": _timestamps(m.due),
            "queued_at": _timestamps(m.queued),
            "scheduled_at": _timestamps(m.scheduled),
            "sent_at": _timestamps(m.sent),
            "outcome": m.outcome,
            "attempt": m.attempt,
            "error": m.error,
        }
    )
    return {
        "leads": canonical_frame("leads", lead_frame),
        "sequence_contacts": canonical_frame("sequence_contacts", contacts),
        "messages": canonical_frame("messages", messages),
    }



def _timestamps(values: list[int | None]) -> pd.Series:
    """Return microsecond integers (None for NULL) as a datetime64[us] column."""
    arr = np.array([np.iinfo(np.int64).min if v is None else v for v in values], dtype=np.int64)
    return pd.Series(arr.view("datetime64[us]"))
