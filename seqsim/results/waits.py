"""The ``wait_*_s`` columns of ``sends``: each send's lateness split by cause.

The split itself is :func:`seqsim.engine.lateness.wait_parts` (one function
for every engine); this module gathers its per-send inputs from the run's
tables and turns the microseconds into seconds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from seqsim.engine.kernel_layout import NONE
from seqsim.engine.lateness import WAIT_COLUMNS, SendTimes, wait_parts
from seqsim.engine.wait_log import WaitLog
from seqsim.model.scenario import Scenario
from seqsim.results.rows import rows_of

__all__ = ["WAIT_COLUMNS", "Waits", "wait_columns"]


class Waits(NamedTuple):
    """What the attribution needs besides the tables: the run's device list (in
    the engine's order) and the engine's :class:`~seqsim.engine.wait_log.WaitLog`."""

    devices: list[str]
    log: WaitLog


def _us(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[us]").astype(np.int64)


def _retried_after(messages: pd.DataFrame, done: np.ndarray) -> np.ndarray:
    """Return, per delivered message (positions ``done`` in ``messages``), when the
    previous attempt of its row failed (NONE: no earlier failed attempt)."""
    rows = messages["sequence_contact_id"].to_numpy(np.int64)
    order = np.lexsort((messages["id"].to_numpy(np.int64), rows))
    failed = (messages["outcome"].to_numpy(dtype=object) == "failed")[order]
    sent = _us(messages["sent_at"])[order]
    same = np.r_[False, rows[order][1:] == rows[order][:-1]]
    previous = np.full(len(order), NONE, dtype=np.int64)
    previous[1:] = np.where(same[1:] & failed[:-1], sent[:-1], NONE)
    by_message = np.empty_like(previous)
    by_message[order] = previous
    return by_message[done]


def wait_columns(done: pd.DataFrame, delivered: np.ndarray, messages: pd.DataFrame,
                 sequences: pd.DataFrame, contacts: pd.DataFrame | None,
                 leads: pd.DataFrame | None, scenario: Scenario | None,
                 waits: Waits | None) -> dict[str, np.ndarray]:
    """Return the ``wait_*_s`` columns (float seconds) for the delivered messages
    ``done`` (positions ``delivered`` in ``messages``), in their order.

    Without ``scenario``, ``waits``, ``contacts`` and ``leads`` (a send log built
    from tables alone) the causes are unknown: every column is NaN.
    """
    if scenario is None or waits is None or leads is None or contacts is None:
        return {name: np.full(len(done), np.nan) for name in WAIT_COLUMNS}
    zone_of = pd.Series(leads["timezone"].to_numpy(dtype=object),
                        index=leads["phone"].to_numpy(dtype=object))
    at = zone_of.index.get_indexer(done["contact_phone"].to_numpy(dtype=object))
    zones = np.where(at >= 0, zone_of.to_numpy()[np.maximum(at, 0)], "UTC")
    row = done["sequence_contact_id"].to_numpy(np.int64)
    at_row = rows_of(contacts["id"].to_numpy(np.int64), row)
    created = np.where(at_row >= 0, _us(contacts["created_at"])[np.maximum(at_row, 0)], NONE)
    device = pd.Index(waits.devices).get_indexer(done["device_id"].to_numpy(dtype=object))
    times = SendTimes(
        due=_us(done["due_at"]), queued=_us(done["queued_at"]), sent=_us(done["sent_at"]),
        retried_after=_retried_after(messages, delivered), device=device.astype(np.int64),
        sequence_id=done["sequence_id"].to_numpy(np.int64), zone=zones,
        row=row, created=created)
    parts = wait_parts(scenario, sequences, waits.devices, waits.log, times)
    return {name: parts[:, j] / 1e6 for j, name in enumerate(WAIT_COLUMNS)}
