"""A run as the compiled kernel sees it: the scenario's world and state as arrays.

:func:`build_world` turns a scenario's static tables, devices and arrivals
into the integer (and two float) arrays :func:`seqsim.engine.kernel.run_polls`
reads; :func:`new_state` allocates the arrays it writes, and :func:`grow`
makes room when a run outgrows them. Codes: sequences and steps are indexed
in id order, leads in order of first arrival, devices in fleet order,
triggers in order of first appearance (arrivals, then sequences).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from seqsim import spill
from seqsim.engine.kernel_devices import DEVICE_COLUMNS, LAST_SEND
from seqsim.engine.kernel_layout import (
    ALL_AT,
    ATOMIC,
    BATCH,
    C_NEED,
    CATCH_UP,
    CLAIM_TIMEOUT,
    COUNTERS,
    DAY_US,
    DB_OFFSET,
    DELAY_FROM,
    DEVICES,
    FAULTS,
    HOUR_US,
    LINK_DTYPE,
    MAX_RETRIES,
    MAX_ROWS,
    MESSAGE_DTYPE,
    MESSAGE_SIZED,
    NEEDS_LOG,
    NEEDS_MESSAGES,
    NEEDS_ROWS,
    NEVER,
    NONE,
    ON_QUEUE,
    POLL,
    POLL_DOWN,
    POLL_RECOVERS,
    POLL_RUNS,
    ROW_DTYPE,
    ROW_SIZED,
    ROWS_PER_ENTRY,
    S_ACTIVE,
    S_BACKLOG,
    S_BLOCKED_UNTIL,
    S_CELL_COUNT,
    S_CELL_ROOT,
    S_CELL_RUN,
    S_CLAIMS,
    S_COUNT,
    S_DAY_RING,
    S_DEVICES,
    S_ENTRY,
    S_FAULT_U,
    S_FLIGHT,
    S_FULL,
    S_FULL_LOG,
    S_GROUP_COUNT,
    S_GROUP_OPEN,
    S_HOUR_RING,
    S_LEAD_N,
    S_LEAD_QUEUED,
    S_LEAD_TRIG,
    S_LINKS,
    S_MSGS,
    S_ORDER_ROWS,
    S_ORDER_TREE,
    S_PAIR_FIRST,
    S_PENDING,
    S_ROOM,
    S_ROWS,
    S_SEL,
    S_STEPS,
    S_TIMELINE,
    S_TMP,
    S_TREAP_ROOT,
    S_TRIGGER,
    S_UPTO,
    SEED0,
    SEED1,
    SKIP_IDLE,
    STALE_AFTER,
    START,
    STATE_ARRAYS,
    STATS,
    T_CHAIN,
    T_DAY,
    T_DELAY,
    T_NEXT,
    T_OFFSET,
    T_POS,
    T_SEQ,
    TIMELINE_ROWS,
    TOTAL,
    W_LIMITS,
    W_SEQS,
    W_STAT,
    ZONES,
)
from seqsim.engine.poll import LEAD_KEY, arrival_bounds
from seqsim.engine.rules import (
    Outages,
    Schedule,
    SendWindows,
    calendar_days,
    enrollment_offsets,
    first_poll_at_or_after,
    send_seed,
)
from seqsim.errors import ScenarioError
from seqsim.model.arrivals import ArrivalCodes
from seqsim.model.faults import FaultStreams
from seqsim.model.scenario import Scenario
from seqsim.units import DAY_US as DAY
from seqsim.units import HOUR_US as HOUR
from seqsim.units import to_us

__all__ = ["Codes", "World", "build_world", "grow", "more_draws", "new_state",
           "window_intervals"]


class Codes(NamedTuple):
    """What the kernel's integer codes stand for, to build the tables."""

    phones: np.ndarray  # object, per lead
    lead_created: np.ndarray  # int64 µs, per lead
    zones: np.ndarray  # object, per zone code
    lead_zone: np.ndarray  # zone code per lead
    lead_devices: np.ndarray  # device code per lead (-1: none)
    devices: np.ndarray  # object, per device
    triggers: np.ndarray  # object, per trigger code
    sequence_ids: np.ndarray  # per sequence index
    step_ids: np.ndarray  # per step index
    step_triggers: np.ndarray  # object, per step index


class World(NamedTuple):
    """The kernel's read-only arrays (``W``) and their codes."""

    arrays: tuple
    codes: Codes
    polls: int
    rows_hint: int
    groups: int  # ready-row groups: (sequence, zone) pairs with send windows, else 1


def _steps(static: dict[str, pd.DataFrame], schedule: Schedule,
           seq_index: dict[int, int]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Return the step table (``T_*`` columns), the sequences' entry steps and the steps frame."""
    frame = static["sequence_steps"].sort_values("id").reset_index(drop=True)
    step_at = {(int(r.sequence_id), r.trigger): j for j, r in enumerate(frame.itertuples())}
    seq_by_trigger = {t: seq_index[int(i)] for i, t in
                      zip(static["sequences"]["id"], static["sequences"]["trigger"], strict=True)}
    steps = np.full((7, len(frame)), -1, dtype=np.int64)
    entry = np.full(len(seq_index), -1, dtype=np.int64)
    for j, r in enumerate(frame.itertuples()):
        steps[T_SEQ, j] = seq_index[int(r.sequence_id)]
        steps[T_DAY, j] = int(r.day_number)
        steps[T_DELAY, j] = int(r.trigger_delay_hours) * HOUR
        nxt = step_at.get((int(r.sequence_id), r.next_trigger), -1)
        steps[T_NEXT, j] = nxt
        if nxt < 0 and isinstance(r.next_trigger, str):
            steps[T_CHAIN, j] = seq_by_trigger.get(r.next_trigger, -1)
        if r.is_entry_point:
            entry[seq_index[int(r.sequence_id)]] = j
    for first in entry:
        chain, j = [], int(first)
        while j >= 0 and len(chain) <= len(frame):
            chain.append(j)
            j = int(steps[T_NEXT, j])
        offsets = enrollment_offsets(schedule.delay_from, [int(steps[T_DELAY, c]) for c in chain])
        for pos, (c, offset) in enumerate(zip(chain, offsets, strict=True)):
            steps[T_POS, c] = pos
            steps[T_OFFSET, c] = offset
    return steps, entry, frame


def _midnights(scenario: Scenario) -> np.ndarray:
    """Return the calendar day starts covering the run (empty: a rolling daily cap)."""
    days = calendar_days(scenario.policy)
    if days is None:
        return np.empty(0, dtype=np.int64)
    sim = scenario.simulation
    t, end = days.start(to_us(sim.start) - DAY), to_us(sim.end) + 2 * DAY
    out = [t]
    while t <= end:
        t = days.next_start(t)
        out.append(t)
    return np.array(out, dtype=np.int64)


def _leads(arrivals: ArrivalCodes, n: int, fleet: list[str],
           keyed: np.ndarray | None) -> tuple:
    """Return per arrival its lead code, and per lead its phone, device, rank,
    first arrival, zone and key (only the ``n`` arrivals the run enrols count).

    ``keyed``: each arrival's lead key, when given (a shard's); otherwise a
    lead's key is its code (:func:`seqsim.engine.poll.lead_keys`).
    """
    column = arrivals.phones[:n]
    if _increasing(column):  # generated leads: one arrival each, in phone order
        uniques = column.to_numpy(zero_copy_only=False)
        codes = first = rank = np.arange(n, dtype=np.int64)  # sorted already: rank = code
    else:
        codes, uniques = pd.factorize(column.to_numpy(zero_copy_only=False))
        _, first = np.unique(codes, return_index=True)  # each lead's first arrival
        uniques = np.asarray(uniques, dtype=object)
        rank = np.empty(len(uniques), dtype=np.int64)
        rank[np.argsort(uniques, kind="stable")] = np.arange(len(uniques), dtype=np.int64)
    in_fleet = pd.Index(fleet).get_indexer(np.asarray(arrivals.devices, dtype=object))
    device_of = arrivals.device_codes[:n][first]
    lead_dev = np.where(device_of >= 0, in_fleet[device_of], -1).astype(np.int64)  # -1: none
    times = arrivals.time_us[:n][first]
    zone_of, order = pd.factorize(arrivals.zone_codes[:n][first])  # zones by first lead
    zones = np.asarray(arrivals.zones, dtype=object)[order]
    keys = np.arange(len(first), dtype=np.int64) if keyed is None else keyed[:n][first]
    return (codes.astype(np.int64), uniques, lead_dev, rank, times, zone_of.astype(np.int64),
            zones, keys)


def _increasing(phones: pa.Array) -> bool:
    """Return whether every phone is present and sorts after the one before: then
    each is a lead of its own, numbered in arrival order, as ``pd.factorize``
    would number them (generated leads are; checked in Arrow, without hashing a
    million strings)."""
    if len(phones) < 2 or phones.null_count:
        return False
    return bool(pc.all(pc.greater(phones[1:], phones[:-1])).as_py())


def window_intervals(scenario: Scenario, sequences: pd.DataFrame, zones: np.ndarray,
             total: int) -> tuple[int, tuple[np.ndarray, ...]]:
    """Return the number of zones groups are split by (0: no send windows) and,
    per (sequence, zone) group, its window's open intervals over the run's polls
    (``W_WIN_LO``/``W_WIN_HI`` index ``W_WIN_START``/``W_WIN_END``; -1: no window)."""
    policy, sim = scenario.policy, scenario.simulation
    windows = SendWindows(policy, scenario.sequences, dict(zip(sequences["name"],
                                                               sequences["id"], strict=True)))
    if not windows.active:
        empty = np.empty(0, dtype=np.int64)
        return 0, (np.full(1, -1, dtype=np.int64), np.full(1, -1, dtype=np.int64), empty, empty)
    first = to_us(sim.start)
    last = first + (total - 1) * (sim.poll_interval // np.timedelta64(1, "us"))
    lo, hi, starts, ends = [], [], [], []
    for seq_id in sequences["id"]:
        for zone in zones:
            win = windows.window(int(seq_id), zone)
            lo.append(len(starts) if win is not None else -1)
            t = first
            while win is not None and (opened := win.next_open(t)) <= last:
                t = win.next_close(opened)
                starts.append(opened)
                ends.append(min(t, NEVER))
                if t >= NEVER:
                    break
            hi.append(len(starts) if win is not None else -1)
    return len(zones), tuple(np.array(v, dtype=np.int64) for v in (lo, hi, starts, ends))


def _poll_kinds(scenario: Scenario, total: int) -> np.ndarray:
    """Return per poll whether it runs, is down (an outage) or recovers from one."""
    sim = scenario.simulation
    outages = Outages.for_run(scenario.policy, sim.start, sim.poll_interval, total)
    kinds = np.full(total, POLL_RUNS, dtype=np.int64)
    kinds[sorted(outages.down)] = POLL_DOWN
    kinds[sorted(outages.recovery)] = POLL_RECOVERS
    return kinds


def _stat(scenario: Scenario, total: int, rows_per_entry: int, zones: int,
          skip_idle: bool, n_devices: int) -> np.ndarray:
    schedule, cap, sim = Schedule.of(scenario.policy), scenario.capacity, scenario.simulation
    stat = np.zeros(STATS, dtype=np.int64)
    stat[[START, POLL, TOTAL, BATCH, HOUR_US, DAY_US]] = [
        to_us(sim.start), sim.poll_interval // np.timedelta64(1, "us"), total, cap.batch_size,
        HOUR, DAY]
    stat[[ALL_AT, DELAY_FROM, ON_QUEUE, MAX_RETRIES]] = [
        schedule.all_at_enrollment, schedule.delay_from, schedule.on_queue, cap.max_retries]
    stat[[ROWS_PER_ENTRY, CATCH_UP, STALE_AFTER, ZONES, SKIP_IDLE, DEVICES]] = [
        rows_per_entry, schedule.catch_up, schedule.stale_after_us, zones, skip_idle,
        n_devices]
    faults, us = scenario.faults, np.timedelta64(1, "us")
    # Any [faults] key set runs the faulty poll (the row engine's faulty processor
    # releases stale claims even when no fault makes any).
    stat[[FAULTS, ATOMIC, CLAIM_TIMEOUT, DB_OFFSET]] = [
        bool(faults.active), faults.atomic_advance, faults.claim_timeout // us,
        faults.db_clock_offset // us]
    stat[[SEED0, SEED1]] = send_seed(sim.seed)
    return stat


def _offline_windows(scenario: Scenario, devices: list[str]) -> np.ndarray:
    """Return the offline windows of ``[faults]``, a row each: start µs, end µs,
    then 1 for each device of ``devices`` it takes offline."""
    faults = scenario.faults
    offline = np.zeros((len(faults.device_offline), 2 + len(devices)), dtype=np.int64)
    index = {d: j for j, d in enumerate(devices)}
    for w, window in enumerate(faults.device_offline):
        offline[w, :2] = to_us(window.start), to_us(window.end)
        for device in window.device_ids(devices):
            offline[w, 2 + index[device]] = 1
    return offline


def _sequence_table(sequences: pd.DataFrame, steps: np.ndarray, entry: np.ndarray,
                    trigger_code: dict[str, int]) -> np.ndarray:
    seqs = np.zeros((4, len(sequences)), dtype=np.int64)
    seqs[S_ACTIVE] = sequences["is_active"].to_numpy(dtype=bool)
    seqs[S_ENTRY] = entry
    seqs[S_TRIGGER] = [trigger_code[t] for t in sequences["trigger"]]
    seqs[S_STEPS] = np.bincount(steps[T_SEQ][steps[T_POS] >= 0], minlength=len(sequences))
    return seqs


def build_world(scenario: Scenario, static: dict[str, pd.DataFrame], devices: list[str],
                arrivals: ArrivalCodes | pd.DataFrame, *, skip_idle: bool = True) -> World:
    """Return the kernel's view of a run (layout: :mod:`seqsim.engine.kernel_layout`).

    ``arrivals``: their codes, or a frame of them (a shard's subset, whose
    :data:`~seqsim.engine.poll.LEAD_KEY` column keeps the whole run's keys).

    ``skip_idle`` False runs every poll instead of jumping idle stretches
    (the tables are the same; it exists to prove it).
    """
    sequences = static["sequences"].sort_values("id").reset_index(drop=True)
    seq_index = {int(i): s for s, i in enumerate(sequences["id"])}
    sim = scenario.simulation
    total = first_poll_at_or_after(sim.duration, sim.poll_interval)
    keyed = None
    if isinstance(arrivals, pd.DataFrame):
        keyed = arrivals[LEAD_KEY].to_numpy(np.int64) if LEAD_KEY in arrivals else None
        arrivals = ArrivalCodes.of_frame(arrivals)
    bounds = arrival_bounds(arrivals.time_us.view("datetime64[us]"), sim.start,
                            sim.poll_interval, total)
    n = int(bounds[-1])
    # The sequences' triggers that no arrival has get codes too.
    a_triggers = list(arrivals.triggers)
    a_triggers += [t for t in dict.fromkeys(sequences["trigger"]) if t not in set(a_triggers)]
    trigger_code = {t: c for c, t in enumerate(a_triggers)}
    a_codes = arrivals.trigger_codes
    steps, entry, step_frame = _steps(static, Schedule.of(scenario.policy), seq_index)
    seqs = _sequence_table(sequences, steps, entry, trigger_code)
    trig_seq = np.full(len(a_triggers), -1, dtype=np.int64)
    trig_seq[seqs[S_TRIGGER]] = np.arange(len(sequences))
    gaps = sequences[["min_delay_seconds", "max_delay_seconds"]].to_numpy(np.float64).T.copy()
    lead_of, phones, lead_dev, rank, created, zone_of, zones, keys = _leads(arrivals, n, devices,
                                                                            keyed)
    n_zones, windows = window_intervals(scenario, sequences, np.asarray(zones, dtype=object),
                                        total)
    per_entry = max(1, int(seqs[S_STEPS].max(initial=1))) * max(1, len(sequences))
    cap = scenario.capacity
    arrays = (
        _stat(scenario, total, per_entry, n_zones, skip_idle, len(devices)), seqs, steps,
        trig_seq, bounds,
        lead_of, a_codes[:n].astype(np.int64), lead_dev, rank,
        np.array([cap.hourly_limit, cap.daily_limit, cap.in_flight_limit], dtype=np.int64),
        _midnights(scenario), gaps,
        np.array([cap.failure_rate, scenario.faults.crash_between_statements,
                  scenario.faults.stuck_claims], dtype=np.float64),
        zone_of, _poll_kinds(scenario, total), *windows,
        _offline_windows(scenario, devices), keys,
    )
    codes = Codes(phones, created, zones, zone_of, lead_dev, np.asarray(devices, dtype=object),
                  np.asarray(a_triggers, dtype=object), sequences["id"].to_numpy(np.int64),
                  step_frame["id"].to_numpy(np.int64), step_frame["trigger"].to_numpy(dtype=object))
    groups = len(sequences) * n_zones if n_zones else 1
    # Every arrival may walk every step once: room for that from the start, since
    # np.zeros pages that are never written cost no memory, while growing copies.
    rows_hint = max(1024, n * max(1, int(seqs[S_STEPS].sum()))
                    + 2 * per_entry * min(cap.batch_size, n + 1))
    return World(arrays, codes, total, rows_hint, groups)


#: The most instants a limit's ring buffers may hold, over all devices (2 GiB of
#: address space; pages never written cost no memory).
MAX_RING = 2**28


def _ring(limit: int, n_devices: int, key: str) -> np.ndarray:
    """Return the ring buffers of a limit: each device's last ``limit`` queue instants.

    Raises:
        ScenarioError: ``limit`` per device, over the devices, exceeds :data:`MAX_RING`.
    """
    if n_devices * limit > MAX_RING:
        raise ScenarioError(
            f"capacity.{key}: {limit:,} is not valid with {n_devices:,} devices on the "
            f"compiled engine, which keeps each device's last {key} queue instants; expected "
            f"at most {MAX_RING // n_devices:,}, 0 for no limit, or engine = \"row\"")
    return np.zeros((n_devices, max(1, limit)), dtype=np.int64)


def new_state(world: World, n_devices: int) -> tuple:
    """Return fresh state arrays (``S``) for a run of ``world``."""
    stat, seqs, limits = world.arrays[W_STAT], world.arrays[W_SEQS], world.arrays[W_LIMITS]
    leads, rows, batch = len(world.codes.phones), world.rows_hint, int(stat[BATCH])
    devices = np.zeros((DEVICE_COLUMNS, n_devices), dtype=np.int64)
    devices[LAST_SEND] = NONE
    state = [np.zeros(0, dtype=np.int64)] * STATE_ARRAYS
    # The records outlive the polls (the result is built from them): on a big run
    # a file's pages (seqsim.spill), which the process hands back between passes.
    state[S_ROWS] = spill.zeros(rows, ROW_DTYPE)
    state[S_LINKS] = np.zeros(rows, dtype=LINK_DTYPE)
    state[S_MSGS] = spill.zeros(rows, MESSAGE_DTYPE)
    cells = world.groups * (n_devices + 1)
    state[S_CELL_ROOT] = np.full(cells, -1, dtype=np.int64)
    state[S_CELL_COUNT] = np.zeros(cells, dtype=np.int64)
    state[S_CELL_RUN] = np.full((2, cells), -1, dtype=np.int64)
    state[S_TREAP_ROOT] = np.full(world.groups, -1, dtype=np.int64)
    state[S_GROUP_COUNT] = np.zeros(world.groups, dtype=np.int64)
    state[S_GROUP_OPEN] = np.zeros(world.groups, dtype=np.int64)
    state[S_PENDING] = np.full(world.polls + 1, -1, dtype=np.int64)  # bucket heads
    state[S_TMP] = np.zeros(rows, dtype=np.int64)
    state[S_ORDER_ROWS] = np.zeros(rows, dtype=np.int32)
    state[S_ORDER_TREE] = np.zeros(rows, dtype=np.int32)
    state[S_FLIGHT] = np.zeros((rows, 2), dtype=np.int64)
    state[S_LEAD_TRIG] = np.zeros((leads, len(world.codes.triggers)), dtype=np.int64)
    state[S_LEAD_N] = np.full(leads, -1, dtype=np.int64)
    state[S_LEAD_QUEUED] = np.zeros(leads, dtype=np.int64)
    state[S_UPTO] = np.zeros((leads, seqs.shape[1]), dtype=np.int64)
    state[S_PAIR_FIRST] = np.full((leads, seqs.shape[1]), NONE, dtype=np.int64)
    state[S_DEVICES] = devices
    state[S_HOUR_RING] = _ring(int(limits[0]), n_devices, "hourly_limit")
    state[S_DAY_RING] = _ring(int(limits[1]), n_devices, "daily_limit")
    state[S_BLOCKED_UNTIL] = np.full(n_devices, NONE, dtype=np.int64)
    state[S_COUNT] = np.zeros(COUNTERS, dtype=np.int64)
    state[S_TIMELINE] = np.zeros((TIMELINE_ROWS, world.polls), dtype=np.int64)
    state[S_SEL] = np.zeros(min(batch, rows), dtype=np.int64)  # a poll queues <= its rows
    state[S_FULL] = np.zeros(n_devices, dtype=np.int64)
    state[S_FULL_LOG] = np.zeros((max(256, 4 * n_devices), 2), dtype=np.int64)
    # Uniforms are drawn from the fault streams as the run needs them (NEEDS_DRAWS).
    state[S_FAULT_U] = np.zeros((2, 0), dtype=np.float64)
    state[S_CLAIMS] = np.zeros((rows, 5), dtype=np.int64)
    state[S_BACKLOG] = np.zeros(world.polls + 2, dtype=np.int64)
    state[S_ROOM] = np.zeros((2, n_devices), dtype=np.int64)
    return tuple(state)


#: The state's record arrays, kept in a file's pages when big (seqsim.spill).
RECORDS = (S_ROWS, S_MSGS)


def _resized(a: np.ndarray, size: int, records: bool) -> np.ndarray:
    out = (spill.zeros(size, a.dtype) if records
           else np.zeros((size, *a.shape[1:]), dtype=a.dtype))
    out[: a.shape[0]] = a
    return out


def grow(state: tuple, what: int) -> tuple:
    """Return ``state`` with room for more rows (``what = NEEDS_ROWS``), messages
    (``NEEDS_MESSAGES``) or full-device log entries (``NEEDS_LOG``; for fault draws
    see :func:`more_draws`)."""
    need = int(state[S_COUNT][C_NEED])
    s = list(state)
    sized = (ROW_SIZED if what == NEEDS_ROWS else MESSAGE_SIZED if what == NEEDS_MESSAGES
             else (S_FULL_LOG,))
    size = max(need, 2 * s[sized[0]].shape[0])
    if what != NEEDS_LOG and size > MAX_ROWS:
        if need > MAX_ROWS:
            raise ScenarioError(
                f"scenario: needs {need:,} sequence_contacts rows or messages; the compiled "
                f"engine holds at most {MAX_ROWS:,}: run fewer contacts or a shorter duration")
        size = MAX_ROWS
    for j in sized:
        s[j] = _resized(s[j], size, j in RECORDS)
    return tuple(s)


def more_draws(state: tuple, streams: FaultStreams) -> tuple:
    """Return ``state`` with more uniforms of the fault streams (``NEEDS_DRAWS``):
    each stream's next values, so the kernel reads every stream in order."""
    need = int(state[S_COUNT][C_NEED])
    old = state[S_FAULT_U]
    size = max(need, 2 * old.shape[1], 256)
    extra = size - old.shape[1]
    fresh = np.vstack([streams.crash.random(extra), streams.stuck.random(extra)])
    s = list(state)
    s[S_FAULT_U] = np.ascontiguousarray(np.hstack([old, fresh]))
    return tuple(s)
