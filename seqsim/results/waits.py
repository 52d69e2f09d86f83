"""The ``wait_*_s`` columns of ``sends``: each send's lateness split by cause.

The split itself is :func:`seqsim.engine.lateness.wait_parts` (one function
for every engine); this module gathers its per-send inputs from the run's
tables and turns the microseconds into seconds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from seqsim.engine.kernel_layout import NONE
from seqsim.engine.lateness import WAIT_COLUMNS, SendTimes, wait_parts
from seqsim.engine.rules import Schedule, SendWindows
from seqsim.engine.wait_log import WaitLog
from seqsim.model.scenario import Scenario
from seqsim.results.rows import entry_step_ids, rows_of

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
    previous attempt of its row failed (NONE: no earlier failed attempt).

    Only a failure before the message was queued counts: under ``[faults]`` a
    claim released while its message was still on the device queues the row
    again, and the first message may fail after the second was queued.
    """
    failed = (messages["outcome"] == "failed").to_numpy(dtype=bool)
    if not failed.any():
        return np.full(len(done), NONE, dtype=np.int64)
    rows = messages["sequence_contact_id"].to_numpy(np.int64)
    order = np.lexsort((messages["id"].to_numpy(np.int64), rows))
    sent = _us(messages["sent_at"])[order]
    queued = _us(messages["queued_at"])[order]
    same = np.r_[False, rows[order][1:] == rows[order][:-1]]
    previous = np.full(len(order), NONE, dtype=np.int64)
    caused = same[1:] & failed[order][:-1] & (sent[:-1] < queued[1:])
    previous[1:] = np.where(caused, sent[:-1], NONE)
    by_message = np.empty_like(previous)
    by_message[order] = previous
    return by_message[done]


def _name_codes(values: pd.Series, names: list[str]) -> np.ndarray:
    """Return each value's position in ``names`` (int64; -1: missing or not there).

    Arrow's dictionary encoding hashes each string once, in C, and only the
    distinct values are looked up: ``pd.Categorical(values, categories=names)``
    took 1.5 s on 4M sends. A categorical's categories are looked up alone.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _by_category(values, pd.Index(names).get_indexer(values.cat.categories))
    to_arrow = getattr(values.array, "__arrow_array__", None)  # Arrow-backed: no copy
    strings = (pa.chunked_array(to_arrow()) if to_arrow is not None
               else pa.chunked_array([pa.array(values.to_numpy(dtype=object), from_pandas=True)]))
    encoded = pc.dictionary_encode(strings.combine_chunks())
    distinct = encoded.dictionary.to_pylist()
    # One slot more for missing values: their index is filled with it.
    lookup = np.r_[pd.Index(names).get_indexer(distinct), -1].astype(np.int64)
    indices = pc.fill_null(encoded.indices, len(distinct))
    return lookup[indices.to_numpy(zero_copy_only=False)]


def _by_category(values: pd.Series, per_category: np.ndarray) -> np.ndarray:
    """Return, per value of a categorical, ``per_category`` of its category (int64;
    -1 for a missing value)."""
    lookup = np.r_[per_category, -1].astype(np.int64)  # code -1 reads the last slot
    return lookup[values.cat.codes.to_numpy()]


def _zones(leads: pd.DataFrame, phones: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return each phone's lead time zone as a code (-1: no such lead) and the names."""
    lead_phones, zones = leads["phone"], leads["timezone"]
    if (isinstance(phones.dtype, pd.CategoricalDtype) and lead_phones.dtype is phones.dtype
            and isinstance(zones.dtype, pd.CategoricalDtype)):
        # A compiled run's working tables share one phone dtype: a phone's code
        # is its lead's, and no string is hashed.
        per_phone = np.full(len(phones.cat.categories), -1, dtype=np.int64)
        at = lead_phones.cat.codes.to_numpy()
        known = at >= 0
        per_phone[at[known]] = zones.cat.codes.to_numpy()[known]
        return (_by_category(phones, per_phone),
                np.asarray(zones.cat.categories, dtype=object))
    codes, names = pd.factorize(zones.to_numpy(dtype=object))
    index = pd.Index(leads["phone"].to_numpy(dtype=object))
    names = np.asarray(names, dtype=object)
    if isinstance(phones.dtype, pd.CategoricalDtype):  # each phone looked up once
        at = index.get_indexer(phones.cat.categories)
        return _by_category(phones, np.where(at >= 0, codes[np.maximum(at, 0)], -1)), names
    at = index.get_indexer(phones.to_numpy(dtype=object))
    return np.where(at >= 0, codes[np.maximum(at, 0)], -1), names


def _seconds(parts: np.ndarray) -> dict[str, np.ndarray]:
    """Return the µs parts (Fortran order) as float seconds, converted in place column
    by column (a run of millions of sends holds one copy, not two)."""
    out = {}
    for j, name in enumerate(WAIT_COLUMNS):
        column = parts[:, j]
        seconds = column.view(np.float64)
        seconds[:] = column / 1e6
        out[name] = seconds
    return out


def _by_completion(done: pd.DataFrame, steps: pd.DataFrame, sequences: pd.DataFrame,
                   scenario: Scenario) -> np.ndarray:
    """Return 1 per send whose row was created by a completion (the previous step's,
    or the previous sequence's last one for a chain), 0 when by an enrolment."""
    entry_ids = entry_step_ids(steps)
    later = ~np.isin(done["sequence_stepid"].to_numpy(np.int64), entry_ids)
    if Schedule.of(scenario.policy).all_at_enrollment:
        later[:] = False  # every step's row is written at enrolment
    targets = {s.next for s in scenario.sequences if s.next is not None}
    chained = sequences.loc[sequences["name"].isin(targets), "id"].to_numpy(np.int64)
    later |= np.isin(done["sequence_id"].to_numpy(np.int64), chained)
    return later.astype(np.int64)


def wait_columns(done: pd.DataFrame, delivered: np.ndarray, messages: pd.DataFrame,
                 sequences: pd.DataFrame, steps: pd.DataFrame | None,
                 contacts: pd.DataFrame | None,
                 leads: pd.DataFrame | None, scenario: Scenario | None,
                 waits: Waits | None) -> dict[str, np.ndarray]:
    """Return the ``wait_*_s`` columns (float seconds) for the delivered messages
    ``done`` (positions ``delivered`` in ``messages``), in their order.

    Without ``scenario``, ``waits``, ``steps``, ``contacts`` and ``leads`` (a send
    log built from tables alone) the causes are unknown: every column is NaN.
    """
    if (scenario is None or waits is None or leads is None or contacts is None
            or steps is None):
        return {name: np.full(len(done), np.nan) for name in WAIT_COLUMNS}
    if SendWindows.configured(scenario.policy, scenario.sequences):
        zone, zones = _zones(leads, done["contact_phone"])
    else:  # zones only matter to send windows: skip a lookup per send
        zone, zones = np.zeros(len(done), dtype=np.int64), np.array(["UTC"], dtype=object)
    row = done["sequence_contact_id"].to_numpy(np.int64)
    at_row = rows_of(contacts["id"].to_numpy(np.int64), row)
    created = np.where(at_row >= 0, _us(contacts["created_at"])[np.maximum(at_row, 0)], NONE)
    device = _name_codes(done["device_id"], waits.devices)
    by_completion = _by_completion(done, steps, sequences, scenario)
    times = SendTimes(
        due=_us(done["due_at"]), queued=_us(done["queued_at"]), sent=_us(done["sent_at"]),
        retried_after=_retried_after(messages, delivered), device=device,
        # Only searched (never passed to compiled code): the int32 column as it is.
        sequence_id=done["sequence_id"].to_numpy(), zone=zone, row=row,
        created=created, by_completion=by_completion, zones=zones)
    del at_row, created, device, zone
    return _seconds(wait_parts(scenario, sequences, waits.devices, waits.log, times))
