"""Why each send was late: its lateness split into causes that sum to it exactly.

A send's lateness (``sent_at - due_at``) is cut at the instants the tables and
the engine's :class:`~seqsim.engine.wait_log.WaitLog` know, in integer
microseconds, so the parts add up to the lateness to the microsecond:

- ``previous``: from the due time to the row's creation, when the row was
  created overdue (an anchored schedule, ``delay_from = "enrollment"``, whose
  previous step finished after this one's due time); 0 otherwise;
- ``clock``: the database clock's lead (``[faults] db_clock_offset``): the SQL
  selects a row from ``b = max(due - offset, created)`` on, so this part is
  ``b - max(due, created)``: negative when that clock is ahead (the send goes
  early), positive when it is behind; 0 without the fault;
- ``retry``: from ``b`` to the failed delivery of the row's previous attempt
  (``e``; ``e = b`` for a first attempt);
- ``poll``: from ``e`` to the first poll that could select the row (the first
  poll at or after a due time; after a failure, the first poll after it,
  since a delivery at a poll instant is recorded after that poll's selection);
- from that poll to the one that queued the message, poll interval by poll
  interval, the reason the row stayed due, in this order: ``outage`` (no poll
  ran), ``claim`` (a dead worker held the row's claim), ``window`` (the
  row's send window was closed), ``device`` (its device was full after the
  poll's selection: over its hourly, daily or in-flight limit, or offline),
  else ``batch`` (the poll's ``batch_size`` was taken by older rows);
- ``pacing``: from queueing to the device's send (its pacing gap and queue).

Every part but ``clock`` is non-negative. :func:`wait_parts` returns them in
the order of :data:`WAIT_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from seqsim.engine.kernel_jit import compiled
from seqsim.engine.kernel_layout import NONE
from seqsim.engine.kernel_world import window_intervals
from seqsim.engine.rules import Outages, first_poll_at_or_after
from seqsim.engine.wait_log import WaitLog
from seqsim.model.scenario import Scenario
from seqsim.units import ONE_US, to_us

__all__ = ["WAIT_COLUMNS", "SendTimes", "compile_split", "split", "wait_parts"]

#: The parts of a send's lateness, in ``sends`` column order.
WAIT_COLUMNS = ("wait_poll_s", "wait_window_s", "wait_device_s", "wait_pacing_s",
                "wait_batch_s", "wait_outage_s", "wait_retry_s", "wait_claim_s",
                "wait_previous_s", "wait_clock_s")
_POLL, _WINDOW, _DEVICE, _PACING, _BATCH, _OUTAGE, _RETRY, _CLAIM, _PREVIOUS, _CLOCK = range(10)
#: The causes a row waits for between polls, highest precedence first.
_CAUSES = np.array([_OUTAGE, _CLAIM, _WINDOW, _DEVICE], dtype=np.int64)
_EARLIEST = -(2**62)  # "closed since before the run": a toggle before any instant


class SendTimes(NamedTuple):
    """Per send (int64 µs; ``retried_after`` NONE on a first attempt)."""

    due: np.ndarray
    queued: np.ndarray
    sent: np.ndarray
    retried_after: np.ndarray  # the failed delivery of the row's previous attempt
    device: np.ndarray  # index in the run's device list, -1: none
    sequence_id: np.ndarray
    zone: np.ndarray  # the lead's time zone: an index into ``zones`` (-1: UTC)
    row: np.ndarray  # sequence_contacts id
    created: np.ndarray  # the row's created_at (NONE: unknown)
    by_completion: np.ndarray  # 1: the row was created by a completion (see split)
    zones: np.ndarray  # the time zone names (object)


@compiled()
def _sweep(x: int, q: int, lists: np.ndarray, B: np.ndarray, off: np.ndarray,
           out: np.ndarray) -> None:
    """Add ``[x, q)`` to ``out`` by cause: each of ``lists`` (ids into ``off``) is a
    sorted run of toggles in ``B``; inside an odd number of them means "waiting
    for that cause"; the first such list wins, none means the batch."""
    n = lists.shape[0]
    pos = np.empty(n, dtype=np.int64)
    for j in range(n):
        lo, hi = off[lists[j]], off[lists[j] + 1]
        pos[j] = lo + np.searchsorted(B[lo:hi], x, side="right")
    while x < q:
        end, cause = q, _BATCH
        for j in range(n):
            lo, hi = off[lists[j]], off[lists[j] + 1]
            while pos[j] < hi and B[pos[j]] <= x:
                pos[j] += 1
            if pos[j] < hi:
                end = min(end, B[pos[j]])
            if cause == _BATCH and (pos[j] - lo) % 2 == 1:
                cause = _CAUSES[j]
        out[cause] += end - x
        x = end


@compiled()
def split(due, created, by_completion, queued, sent, retried, lists, B, off, start: int,
          poll: int, offset: int, out) -> None:
    """Fill ``out`` (sends x causes, µs) as the module doc says; the compiled
    core of :func:`wait_parts`. A row created by a completion at a poll instant
    (a delivery or a queueing at that poll) was created after the poll's
    selection: the first poll that can select it is the next one."""
    for i in range(due.shape[0]):
        exists = max(due[i], created[i])
        b = max(due[i] - offset, created[i])
        q = queued[i]
        if retried[i] == NONE:
            e = b
            k = first_poll_at_or_after(e - start, poll)
        else:
            e = max(b, retried[i])
            k = first_poll_at_or_after(e - start + 1, poll)
        ready = 0 if created[i] == NONE else first_poll_at_or_after(
            created[i] + by_completion[i] - start, poll)
        p0 = min(start + max(k, ready, 0) * poll, q)
        if p0 < e:
            p0 = e  # only with pollers on offsets: queued before the grid poll
        out[i, _PREVIOUS] = exists - due[i]
        out[i, _CLOCK] = b - exists
        out[i, _RETRY] = e - b
        out[i, _POLL] = p0 - e
        out[i, _PACING] = sent[i] - q
        _sweep(p0, q, lists[i], B, off, out[i])
        if q < p0:
            out[i, _BATCH] += q - p0  # never in a run; keeps the parts' sum exact


def _grid(t: np.ndarray, start: int, poll: int) -> np.ndarray:
    """Return the first poll instant at or after each ``t``."""
    return start + np.maximum(-((start - t) // poll), 0) * poll


def _closed_toggles(lo: int, hi: int, starts: np.ndarray, ends: np.ndarray, start: int,
                    poll: int) -> np.ndarray:
    """Return the toggles of a window's closed polls (each poll stands for the
    interval to the next): closed until the first poll of the first opening."""
    a = _grid(starts[lo:hi], start, poll)
    b = _grid(ends[lo:hi], start, poll)
    keep = b > a  # an opening with no poll inside it never let a row through
    return np.concatenate([[_EARLIEST], np.column_stack([a[keep], b[keep]]).ravel()])


def _outage_toggles(scenario: Scenario, start: int, poll: int, total: int) -> np.ndarray:
    sim = scenario.simulation
    down = np.array(sorted(Outages.for_run(scenario.policy, sim.start, sim.poll_interval,
                                           total).down), dtype=np.int64)
    if not len(down):
        return down
    edges = np.flatnonzero(np.diff(down) != 1)
    first = np.r_[down[0], down[edges + 1]]
    last = np.r_[down[edges], down[-1]] + 1
    return start + np.column_stack([first, last]).ravel() * poll


def _by_key(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[list[np.ndarray], ...]:
    """Return ``values`` split by ``keys`` in ``0..n-1``, each in its given order."""
    order = np.argsort(keys, kind="stable")
    cuts = np.searchsorted(keys[order], np.arange(n + 1))
    return tuple(values[order[cuts[j]:cuts[j + 1]]] for j in range(n))


def _lists(scenario: Scenario, sequences: pd.DataFrame, n_devices: int, log: WaitLog,
           sends: SendTimes, start: int, poll: int, total: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each send's 4 list ids (outage, claim, window, device), the toggles
    ``B`` and the lists' offsets into it. List 0 is empty."""
    runs: list[np.ndarray] = [np.empty(0, dtype=np.int64),
                              _outage_toggles(scenario, start, poll, total)]
    n = len(sends.due)
    ids = np.zeros((n, 4), dtype=np.int64)
    ids[:, 0] = 1
    # Claims held by dead workers, per row that had one.
    held = np.unique(log.held_row)
    if len(held):
        which = np.searchsorted(held, log.held_row)
        pairs = np.column_stack([log.held_from, log.held_to])
        for chunk in _by_key(which, pairs, len(held)):
            runs.append(np.sort(chunk, axis=0).ravel())
        at = np.minimum(np.searchsorted(held, sends.row), len(held) - 1)
        ids[:, 1] = np.where(held[at] == sends.row, len(runs) - len(held) + at, 0)
    # Send windows, per (sequence, zone) group, as the kernel groups them.
    zones = np.asarray(sends.zones, dtype=object)
    zone_code = sends.zone
    if (zone_code < 0).any():  # an unknown lead's zone: UTC
        zones = np.append(zones, "UTC")
        zone_code = np.where(zone_code < 0, len(zones) - 1, zone_code)
    ordered = sequences.sort_values("id")["id"].to_numpy(np.int64)
    n_zones, (w_lo, w_hi, w_start, w_end) = window_intervals(
        scenario, sequences.sort_values("id").reset_index(drop=True), zones, total)
    if n_zones:
        first = len(runs)
        for g in range(len(w_lo)):
            runs.append(np.empty(0, dtype=np.int64) if w_lo[g] < 0 else
                        _closed_toggles(w_lo[g], w_hi[g], w_start, w_end, start, poll))
        group = np.searchsorted(ordered, sends.sequence_id) * n_zones + zone_code
        ids[:, 2] = first + group
    # When each device was full.
    first = len(runs)
    runs.extend(_by_key(log.full_device, log.full_at, n_devices))
    ids[:, 3] = np.where(sends.device >= 0, first + sends.device, 0)
    off = np.zeros(len(runs) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(r) for r in runs])
    flat = np.concatenate(runs).astype(np.int64) if runs else np.empty(0, dtype=np.int64)
    return ids, flat, off


def wait_parts(scenario: Scenario, sequences: pd.DataFrame, devices: Sequence[str],
               log: WaitLog, sends: SendTimes) -> np.ndarray:
    """Return each send's lateness split by cause: int64 µs, one column per
    :data:`WAIT_COLUMNS` name (Fortran order: each column is contiguous), each
    row summing to ``sent - due``.

    ``sequences`` is the run's ``sequences`` table, ``devices`` its device list
    (the indexes of ``sends.device`` and ``log.full_device``).
    """
    sim = scenario.simulation
    start, poll = to_us(sim.start), sim.poll_interval // ONE_US
    total = first_poll_at_or_after(sim.duration, sim.poll_interval)
    out = np.zeros((len(sends.due), len(WAIT_COLUMNS)), dtype=np.int64, order="F")
    if not len(sends.due):
        return out
    ids, flat, off = _lists(scenario, sequences, len(devices), log, sends, start, poll, total)
    offset = scenario.faults.db_clock_offset // ONE_US
    split(sends.due, sends.created, sends.by_completion, sends.queued, sends.sent,
          sends.retried_after, ids, flat, off, start, int(poll), int(offset), out)
    return out


def compile_split() -> None:
    """Compile :func:`split` (or load it from the cache) on one send."""
    # One send (its parts are both C and F contiguous, typed C) and two (F).
    for n in (1, 2):
        times = np.zeros(n, dtype=np.int64)
        split(times, times, times, times, times, np.full(n, NONE, dtype=np.int64),
              np.zeros((n, 4), dtype=np.int64), times[:0], np.zeros(2, dtype=np.int64), 0, 1,
              0, np.zeros((n, len(WAIT_COLUMNS)), dtype=np.int64, order="F"))
