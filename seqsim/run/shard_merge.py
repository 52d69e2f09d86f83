"""Merging the shards of a sharded run (:mod:`seqsim.run.shards`) into one run's tables.

See :mod:`seqsim.run.shards` for why the merged tables are the single run's:
rows are concatenated, timelines summed, and ids renumbered in the order the
single run creates rows and queues messages. Each shard's own order must
agree with that order; a disagreement is a bug, raised as an ``EngineError``
rather than returned as a silently different result.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from seqsim.engine.rules import SKIPPED_ERROR
from seqsim.engine.schema import canonical_frame
from seqsim.engine.wait_log import WaitLog
from seqsim.errors import EngineError, ScenarioError
from seqsim.run.shards import ShardRun

__all__ = ["Merged", "batch_overflow", "merge_shards"]

_TIMELINE_COUNTS = ("enrolled", "sent", "failed", "backlog", "active", "completed_contacts",
                    "skipped")


class Merged(NamedTuple):
    """The merged run: tables, timeline and lateness log, as one engine returns them."""

    tables: dict[str, pd.DataFrame]
    timeline: pd.DataFrame
    waits: WaitLog


def _instants_us(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="datetime64[us]").astype(np.int64)


def batch_overflow(parts: Sequence[ShardRun], batch_size: int) -> tuple[int, int] | None:
    """Return the first poll (index, rows) at which the shards' rows taking batch
    slots (queued, or skipped on a full device) sum to more than ``batch_size``;
    None when there is none (the merge is exact)."""
    times = _instants_us(parts[0].timeline["time"])
    slots = np.zeros(len(times), dtype=np.int64)
    for part in parts:
        queued = _instants_us(part.tables["messages"]["queued_at"])
        slots += np.bincount(np.searchsorted(times, queued), minlength=len(times))[: len(times)]
        slots += part.timeline["skipped"].to_numpy(dtype=np.int64)
    over = np.flatnonzero(slots > batch_size)
    return None if not len(over) else (int(over[0]), int(slots[over[0]]))


def _ranks(order: np.ndarray) -> np.ndarray:
    """Return the position of each element in ``order`` (its inverse permutation)."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _check_local_order(shard: np.ndarray, order: np.ndarray, what: str) -> None:
    """Raise when the merged ``order`` puts some shard's rows out of their own order
    (rows are concatenated shard by shard, each in its id order)."""
    pos = np.arange(len(order), dtype=np.int64)[order]  # concatenated index, merged order
    for s in np.unique(shard):
        mine = pos[shard[order] == s]
        if len(mine) > 1 and (np.diff(mine) < 0).any():
            raise EngineError(f"shards: the merge could not order {what} of shard {int(s)} as "
                              "the single run does; this is a seqsim bug, please report it")


def _message_order(messages: pd.DataFrame, phones: np.ndarray) -> np.ndarray:
    """Return the concatenated messages in the single run's queueing order."""
    return np.lexsort((messages["day_number"].to_numpy(np.int64), phones,
                       messages["sequence_id"].to_numpy(np.int64),
                       _instants_us(messages["due_at"]), _instants_us(messages["queued_at"])))


def _causes(parts: Sequence[ShardRun], message_ids: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Return per concatenated row: its parent's concatenated index (-1: enrolled),
    the global index of its arrival (enrolled rows) and the global id of its last
    message (-1: none)."""
    parents, arrival, last_ids = [], [], []
    start = 0
    for part, ids in zip(parts, message_ids, strict=True):
        causes = np.asarray(part.causes, dtype=np.int64)
        enrolled = causes < 0
        last = np.full(len(causes), -1, dtype=np.int64)
        rows = part.tables["messages"]["sequence_contact_id"].to_numpy(np.int64) - 1
        np.maximum.at(last, rows, np.arange(len(rows), dtype=np.int64))
        last_id = np.full(len(causes), -1, dtype=np.int64)
        last_id[last >= 0] = ids[last[last >= 0]]
        last_ids.append(last_id)
        parents.append(np.where(enrolled, -1, causes + start))
        arrived = np.zeros(len(causes), dtype=np.int64)
        arrived[enrolled] = part.positions[-causes[enrolled] - 1]
        arrival.append(arrived)
        start += len(causes)
    return np.concatenate(parents), np.concatenate(arrival), np.concatenate(last_ids)


def _catch_up_rounds(parent: np.ndarray, caught: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Return per row the round of the ``skip_stale`` catch-up that created it: a row
    whose parent a catch-up created at the same instant comes a round later."""
    rounds = np.zeros(len(parent), dtype=np.int64)
    p = np.maximum(parent, 0)
    chained = caught & caught[p] & (created[p] == created)
    while True:
        nxt = np.where(chained, rounds[p] + 1, 0)
        if (nxt == rounds).all():
            return rounds
        rounds = nxt


def _row_order(parts: Sequence[ShardRun], contacts: pd.DataFrame,
               message_ids: list[np.ndarray]) -> np.ndarray:
    """Return the concatenated ``sequence_contacts`` rows in the single run's creation
    order: by ``created_at``, then the step of the poll that created them: the
    ``skip_stale`` catch-up (phase 0; round by round, each in production's order
    of the skipped parents), enrolment (1; by arrival), completions (2; by the
    global id of the message that completed the parent)."""
    parent, arrival, last_id = _causes(parts, message_ids)
    created = _instants_us(contacts["created_at"])
    p = np.maximum(parent, 0)
    enrolled = parent < 0
    skipped = (contacts["last_error"] == SKIPPED_ERROR).to_numpy(dtype=bool)
    caught = ~enrolled & skipped[p]
    completed = ~enrolled & ~caught
    if (completed & (last_id[p] < 0)).any():
        raise EngineError("shards: a row was created by a completion without a message; "
                          "this is a seqsim bug, please report it")
    phase = np.where(caught, 0, np.where(enrolled, 1, 2))
    ref = np.where(enrolled, arrival, np.where(completed, last_id[p], 0))
    phones, _ = pd.factorize(contacts["contact_phone"], sort=True)
    by_parent = [np.where(caught, col[p], 0) for col in (
        contacts["current_step"].to_numpy(np.int64), phones.astype(np.int64),
        contacts["sequence_id"].to_numpy(np.int64),
        _instants_us(contacts["next_trigger_time"]))]
    local = np.concatenate([np.arange(len(part.causes), dtype=np.int64) for part in parts])
    return np.lexsort((local, ref, *by_parent, _catch_up_rounds(parent, caught, created),
                       phase, created))


def _renumbered(parts: Sequence[ShardRun]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the merged ``sequence_contacts`` and ``messages`` with the single run's ids."""
    contacts = pd.concat([p.tables["sequence_contacts"] for p in parts], ignore_index=True)
    messages = pd.concat([p.tables["messages"] for p in parts], ignore_index=True)
    row_shard = np.repeat(np.arange(len(parts)), [len(p.causes) for p in parts])
    msg_shard = np.repeat(np.arange(len(parts)), [len(p.tables["messages"]) for p in parts])
    phones, _ = pd.factorize(messages["contact_phone"], sort=True)
    m_order = _message_order(messages, phones)
    _check_local_order(msg_shard, m_order, "messages")
    m_rank = _ranks(m_order)
    starts = np.cumsum([0] + [len(p.tables["messages"]) for p in parts])
    message_ids = [m_rank[a:b] + 1 for a, b in itertools.pairwise(starts)]
    r_order = _row_order(parts, contacts, message_ids)
    _check_local_order(row_shard, r_order, "sequence_contacts rows")
    r_rank = _ranks(r_order)
    row_starts = np.cumsum([0] + [len(p.causes) for p in parts])
    local_row = messages["sequence_contact_id"].to_numpy(np.int64) - 1
    contacts["id"] = r_rank + 1
    messages["id"] = m_rank + 1
    messages["sequence_contact_id"] = r_rank[row_starts[msg_shard] + local_row] + 1
    contacts = contacts.iloc[r_order].reset_index(drop=True)
    messages = messages.iloc[m_order].reset_index(drop=True)
    return (canonical_frame("sequence_contacts", contacts),
            canonical_frame("messages", messages))


def _summed_timeline(parts: Sequence[ShardRun]) -> pd.DataFrame:
    """Return the shards' timelines summed poll by poll."""
    merged = parts[0].timeline.copy()
    for col in _TIMELINE_COUNTS:
        merged[col] = sum(p.timeline[col].to_numpy(dtype=np.int64) for p in parts)
    return merged


def _merged_wait_log(parts: Sequence[ShardRun], devices: list[str]) -> WaitLog:
    """Return the shards' full-device logs as one, device codes in the fleet's list."""
    index = {d: i for i, d in enumerate(devices)}
    at = np.concatenate([p.waits.full_at for p in parts])
    device = np.concatenate([np.asarray([index[p.devices[j]] for j in p.waits.full_device],
                                        dtype=np.int64) for p in parts])
    order = np.lexsort((device, at))
    return WaitLog.of(np.column_stack([at[order], device[order]]))


def merge_shards(parts: Sequence[ShardRun], devices: list[str], batch_size: int, *,
                 approximate: bool) -> tuple[Merged, tuple[int, int] | None]:
    """Return the merged run and the first poll at which the batch limit bound
    (None: the merge is exact).

    Raises:
        ScenarioError: the batch limit bound at some poll and ``approximate`` is
            False (naming the poll, the rows that took slots and ``batch_size``).
    """
    over = batch_overflow(parts, batch_size)
    if over is not None and not approximate:
        at = parts[0].timeline["time"].iloc[over[0]]
        raise ScenarioError(
            f"shards: {len(parts)} is not valid for this scenario; at poll {over[0]} "
            f"({at.isoformat()}) the shards' due rows took {over[1]} batch slots, more than "
            f"capacity.batch_size = {batch_size}, so the split run would differ from the "
            "single run; expected fewer shards, a larger batch_size, or approximate=True "
            "to keep the result marked approximate")
    contacts, messages = _renumbered(parts)
    merged = {
        "leads": canonical_frame("leads", pd.concat([p.tables["leads"] for p in parts],
                                                    ignore_index=True)),
        "sequence_contacts": contacts,
        "devices": canonical_frame("devices", pd.concat([p.tables["devices"] for p in parts],
                                                        ignore_index=True)),
        "messages": messages,
    }
    # The single run's tables, in its order; the static ones are every shard's.
    tables = {name: merged.get(name, frame) for name, frame in parts[0].tables.items()}
    return Merged(tables, _summed_timeline(parts), _merged_wait_log(parts, devices)), over
