"""The compiled engine: the production poll as plain loops over integer arrays.

One call of :func:`run_polls` runs the polls from ``C_K`` up to ``k_stop`` of
a run whose whole state lives in arrays (layout: :mod:`seqsim.engine.kernel_layout`;
built by :mod:`seqsim.engine.kernel_world`). It decides with the rules every
engine calls (:mod:`seqsim.engine.rules`, :mod:`seqsim.engine.fleet`), in
the per-row engine's order within a poll:

1. deliver the messages devices sent before the poll;
2. after an outage, apply the catch-up (:mod:`seqsim.engine.kernel_catchup`);
3. enrol the arrivals since the last poll that ran (:mod:`seqsim.engine.kernel_advance`);
4. select up to ``batch_size`` due rows whose send window is open, oldest
   first (production's ``ORDER BY``); a row whose device is over a limit
   still takes a batch slot and stays due;
5. queue the selected rows of devices with room, each message with two
   uniforms keyed by its lead (:func:`seqsim.engine.rules.send_draw`):
   failure, then pacing gap, as every engine;
6. deliver what was sent at the poll instant.

Polls in an outage do not run, but the devices still send what they hold:
each outage poll records the sends made since the poll before it. A poll at
which nothing can change (no arrival, nothing newly due, no delivery, no
window opening or closing, every selected device still blocked, no row made
due by step 6) is not run either: its timeline row is written directly. The
call returns early, with ``C_K`` at the poll to resume, when the row or
message arrays must grow (or, under faults, more uniforms must be drawn: the
fault streams are not keyed per lead).

Under ``[faults]`` (the one-message ones: :mod:`seqsim.engine.kernel_faults`)
each poll is :func:`_poll_faulty`: after enrolment it retries the advances a
crash rolled back and releases stale claims, and it walks the batch in
production's order (:func:`_select_faulty`), so a stuck claim, drawn per
claim, leaves its device's room to the next row as the row engine does.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine import kernel_faults as kf  # the one-message faults
from seqsim.engine.fleet import pacing_gap_us
from seqsim.engine.kernel_advance import enrol, message_draws
from seqsim.engine.kernel_catchup import catch_up
from seqsim.engine.kernel_devices import (
    IN_FLIGHT,
    device_queue,
    device_remaining,
    device_unblocks_at,
)
from seqsim.engine.kernel_heap import heap_pop, heap_push
from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    BATCH,
    C_ACTIVE,
    C_ARRIVED,
    C_CLAIMS,
    C_DONE,
    C_ENROLLED,
    C_FAILED,
    C_FLIGHT,
    C_IDLE_UNTIL,
    C_K,
    C_LOG,
    C_MSGS,
    C_READY,
    C_RETRY,
    C_RUN,
    C_SENT,
    C_UNBLOCK,
    DAY_US,
    DB_OFFSET,
    DEVICES,
    FAULTS,
    HOUR_US,
    L_ACTIVE,
    L_BACKLOG,
    L_DONE,
    L_ENROLLED,
    L_FAILED,
    L_SENT,
    L_SKIPPED,
    NEVER,
    NONE,
    ON_QUEUE,
    PENDING_OUTCOME,
    POLL,
    POLL_DOWN,
    POLL_RECOVERS,
    S_BACKLOG,
    S_BLOCKED_UNTIL,
    S_CLAIMS,
    S_COUNT,
    S_DAY_RING,
    S_DEVICES,
    S_FAULT_U,
    S_FLIGHT,
    S_FULL,
    S_FULL_LOG,
    S_GROUP_COUNT,
    S_HOUR_RING,
    S_LINKS,
    S_MSGS,
    S_ROOM,
    S_ROWS,
    S_SEL,
    S_TIMELINE,
    SEND_FAILED,
    SENT_OK,
    SKIP_IDLE,
    START,
    STUCK,
    TOTAL,
    W_BOUNDS,
    W_FAILURE,
    W_GAPS,
    W_LIMITS,
    W_MIDNIGHTS,
    W_OFFLINE,
    W_POLL_KIND,
    W_STAT,
)
from seqsim.engine.kernel_order import skew_merge
from seqsim.engine.kernel_ready import (
    backlog_add,
    backlog_at,
    cell_min,
    cell_pop,
    device_first,
    first_pending,
    open_groups,
    promote,
    rank_of,
    rank_rows,
    take,
    window_change,
)
from seqsim.engine.kernel_room import down_room, poll_room
from seqsim.engine.rules import first_poll_at_or_after, send_fails

__all__ = ["run_polls"]


@kernel_jit()
def _deliver(W, S, now: int, inclusive: bool) -> None:
    """Record the sends devices made before ``now`` (``inclusive``: at ``now`` too).

    A send frees its device's in-flight place: a device a selection found
    blocked may take rows again from that instant, which ``C_UNBLOCK`` gets (a
    send at the poll instant, after the selection, makes the next poll run)."""
    on_queue = W[W_STAT][ON_QUEUE] != 0
    M, flight, C, blocked = S[S_MSGS], S[S_FLIGHT], S[S_COUNT], S[S_BLOCKED_UNTIL]
    while C[C_FLIGHT] > 0:
        t, m = flight[0, 0], flight[0, 1]
        if t > now or (t == now and not inclusive):
            return
        heap_pop(flight, C[C_FLIGHT])
        C[C_FLIGHT] -= 1
        d = M[m]["dev"]
        S[S_DEVICES][IN_FLIGHT, d] -= 1
        if blocked[d] != NONE:  # room again, perhaps
            blocked[d] = NONE
            C[C_UNBLOCK] = min(C[C_UNBLOCK], t)
        M[m]["sent"] = t
        M[m]["outcome"] = M[m]["planned"]
        if M[m]["outcome"] == SENT_OK:
            C[C_SENT] += 1
            if not on_queue:
                kf.advance_row(W, S, np.int64(M[m]["row"]), t, now)
        else:
            C[C_FAILED] += 1
            if not on_queue:
                kf.fail_row(W, S, np.int64(M[m]["row"]), t, now)


@kernel_jit(inline="always")
def _room_on(W, S, d: int, now: int) -> int:
    """Return what device ``d`` may queue at ``now`` (-1: no limit, 0: blocked); a
    blocked device is remembered until its block lapses (``C_UNBLOCK`` gets the
    earliest such instant)."""
    stat, limits, midnights = W[W_STAT], W[W_LIMITS], W[W_MIDNIGHTS]
    devices, hours, days = S[S_DEVICES], S[S_HOUR_RING], S[S_DAY_RING]
    blocked, C = S[S_BLOCKED_UNTIL], S[S_COUNT]
    if blocked[d] > now:
        C[C_UNBLOCK] = min(C[C_UNBLOCK], blocked[d])
        return 0
    q = device_remaining(devices, hours, days, limits, d, now, stat[HOUR_US], stat[DAY_US],
                         midnights)
    if q == 0:
        # NEVER: only a delivery (which clears this) can make room.
        blocked[d] = device_unblocks_at(devices, hours, days, limits, d, now, stat[HOUR_US],
                                        stat[DAY_US], midnights)
        C[C_UNBLOCK] = min(C[C_UNBLOCK], blocked[d])
    return q


@kernel_jit(inline="always")
def _note_full(S, d: int, full: bool, now: int) -> None:
    """Log a change of device ``d``'s "full" flag (:class:`seqsim.engine.wait_log.WaitLog`)."""
    flags = S[S_FULL]
    if (flags[d] != 0) != full:
        flags[d] = 1 if full else 0
        log, C = S[S_FULL_LOG], S[S_COUNT]
        log[C[C_LOG], 0], log[C[C_LOG], 1] = now, d
        C[C_LOG] += 1


@kernel_jit()
def _select(W, S, now: int) -> tuple[int, int]:
    """Select this poll's batch; return (rows to queue, rows skipped). The rows to
    queue are left at the front of ``S_SEL``, in production's order.

    The poll selects the ``batch_size`` first due rows of open groups and
    walks them in order, each device queueing while it has room; so a device
    queues its oldest rows, up to its room, among those inside the batch.
    """
    stat, R, sel, links = W[W_STAT], S[S_ROWS], S[S_SEL], S[S_LINKS]
    batch, slots = stat[BATCH], stat[DEVICES] + 1
    selectable = open_groups(W, S, now)
    cut = selectable > batch
    rank_rows(S, now, selectable, batch)
    chosen = 0
    for d in range(stat[DEVICES]):
        c = device_first(S, d, slots)
        if c < 0:
            continue
        room = _room_on(W, S, d, now)
        while room != 0 and c >= 0:
            i = cell_min(S, c)
            if cut and rank_of(S, i) >= batch:
                break
            sel[chosen] = cell_pop(S, c)
            chosen += 1
            room -= 1
            c = device_first(S, d, slots)
        _note_full(S, d, room == 0, now)
    in_order = -1
    for j in range(chosen):
        # Ranks are taken on the poll's whole selection, so rows leave it only now.
        take(S, sel[j])
        links[sel[j]]["left"] = links[sel[j]]["right"] = -1
        in_order = skew_merge(R, links, in_order, sel[j])
    for j in range(chosen):
        sel[j] = in_order
        in_order = skew_merge(R, links, np.int64(links[in_order]["left"]),
                              np.int64(links[in_order]["right"]))
    return chosen, min(selectable, batch) - chosen


@kernel_jit()
def _fault_rooms(W, S, now: int) -> None:
    """Put in ``S[S_ROOM][0]`` what each device with a selectable row may queue at
    ``now`` (-1: no limit, 0: blocked or offline; an offline device's return is
    an event), and in ``S[S_ROOM][1]`` whether it has a selectable row."""
    stat, C = W[W_STAT], S[S_COUNT]
    room, had = S[S_ROOM][0], S[S_ROOM][1]
    for d in range(stat[DEVICES]):
        room[d] = 0
        had[d] = device_first(S, d, stat[DEVICES] + 1) >= 0
        if not had[d]:
            continue
        back = kf.offline_until(W[W_OFFLINE], d, now)
        if back != NONE:
            C[C_UNBLOCK] = min(C[C_UNBLOCK], back)
        else:
            room[d] = _room_on(W, S, d, now)


@kernel_jit()
def _select_faulty(W, S, now: int) -> tuple[int, int]:
    """:func:`_select` under ``[faults]``; return (rows to queue, rows skipped).

    The batch is walked in production's order, as the row engine's poller
    walks it: a row of a device with room (not offline) is claimed, and the
    claim is stuck (one draw per claim, in claim order) or its message is
    queued, which uses the room. The rows to queue are left at the front of
    ``S_SEL`` in that order; stuck rows stay claimed (and logged).
    """
    stat, R, sel = W[W_STAT], S[S_ROWS], S[S_SEL]
    batch, slots, offset = stat[BATCH], stat[DEVICES] + 1, stat[DB_OFFSET]
    selectable = open_groups(W, S, now)
    cut = selectable > batch
    rank_rows(S, now + offset, selectable, batch)
    _fault_rooms(W, S, now)
    room, had = S[S_ROOM][0], S[S_ROOM][1]
    taken = 0
    while True:
        c = kf.front_cell(S, room, slots)
        if c < 0 or (cut and rank_of(S, cell_min(S, c)) >= batch):
            break
        i = cell_pop(S, c)
        sel[taken] = i
        taken += 1
        if kf.strikes(W[W_FAILURE], S[S_FAULT_U], S[S_COUNT], STUCK):
            R[i]["claimed_at"] = now + offset  # the worker died holding the claim
            kf.log_claim(S[S_CLAIMS], S[S_COUNT], i, now, True)
        else:
            room[R[i]["dev"]] -= 1
    for d in range(room.shape[0]):
        if had[d]:  # as _select: every device that had a selectable row
            _note_full(S, d, room[d] == 0, now)
    queued = 0
    for j in range(taken):
        # Ranks are taken on the poll's whole selection, so rows leave it only now.
        i = sel[j]
        take(S, i)
        if offset != 0:
            backlog_add(stat, S[S_BACKLOG], R[i]["due"], -1)
        if R[i]["claimed_at"] == NONE:
            sel[queued] = i
            queued += 1
    return queued, min(selectable, batch) - taken


@kernel_jit()
def _queue(W, S, i: int, now: int) -> None:
    """Claim row ``i`` and queue its message on the row's device (draws keyed by its lead)."""
    stat, gaps, limits = W[W_STAT], W[W_GAPS], W[W_LIMITS]
    R, M, flight, C = S[S_ROWS], S[S_MSGS], S[S_FLIGHT], S[S_COUNT]
    d, seq = R[i]["dev"], R[i]["seq"]
    u_fail, u_gap = message_draws(W, S, i)
    R[i]["claimed_at"] = now + stat[DB_OFFSET]  # the claim binds the database clock
    gap = pacing_gap_us(u_gap, gaps[0, seq], gaps[1, seq])
    send_at = device_queue(S[S_DEVICES], S[S_HOUR_RING], S[S_DAY_RING], limits, d, now, gap)
    m = C[C_MSGS]
    C[C_MSGS] = m + 1
    M[m]["row"], M[m]["dev"], M[m]["due"] = i, d, R[i]["due"]
    M[m]["queued"], M[m]["scheduled"], M[m]["sent"] = now, send_at, NONE
    M[m]["planned"] = SEND_FAILED if send_fails(u_fail, W[W_FAILURE][0]) else SENT_OK
    M[m]["outcome"] = PENDING_OUTCOME
    M[m]["attempt"] = R[i]["retry"] + 1
    if stat[ON_QUEUE] != 0:
        kf.advance_row(W, S, i, now, now)
    C[C_FLIGHT] = heap_push(flight, C[C_FLIGHT], send_at, m)


@kernel_jit()
def _next_event(W, S, k: int, now: int) -> int:
    """Return the first poll after ``k`` at which anything can change, after a
    poll that queued nothing (arrivals and outages are checked poll by poll)."""
    stat, C = W[W_STAT], S[S_COUNT]
    event = min(C[C_UNBLOCK], kf.fault_event(W, S, now))
    if C[C_FLIGHT] > 0:
        event = min(event, S[S_FLIGHT][0, 0])
    counts = S[S_GROUP_COUNT]
    for g in range(counts.shape[0]):
        if counts[g]:
            event = min(event, window_change(W, g, now))
    poll = stat[TOTAL] if event >= NEVER else first_poll_at_or_after(event - stat[START],
                                                                     stat[POLL])
    return max(k + 1, first_pending(S, k + 1, poll))


@kernel_jit(inline="always")
def _record(W, S, k: int, skipped: int) -> None:
    C, TL = S[S_COUNT], S[S_TIMELINE]
    TL[L_ENROLLED, k], TL[L_SENT, k], TL[L_FAILED, k] = C[C_ENROLLED], C[C_SENT], C[C_FAILED]
    TL[L_SKIPPED, k], TL[L_BACKLOG, k] = skipped, backlog_at(W[W_STAT], C, S[S_BACKLOG], k)
    TL[L_ACTIVE, k], TL[L_DONE, k] = C[C_ACTIVE], C[C_DONE]


@kernel_jit()
def _poll(W, S, k: int, now: int) -> None:
    """Run poll ``k`` at ``now`` and write its timeline row."""
    C, sel = S[S_COUNT], S[S_SEL]
    C[C_ENROLLED] = C[C_SENT] = C[C_FAILED] = 0
    _deliver(W, S, now, False)
    C[C_UNBLOCK] = NEVER  # the blocks this poll finds (and the sends at its instant)
    if W[W_POLL_KIND][k] == POLL_RECOVERS:
        catch_up(W, S, now)
    # Rows due before now first, then the enrolments (due now): they become ready
    # in production's order, as the ranks' ordered log needs (kernel_rank).
    promote(W, S, now)
    enrol(W, S, k, now)
    chosen, skipped = _select(W, S, now)
    for j in range(chosen):
        _queue(W, S, sel[j], now)
    waiting = C[C_READY]  # what the selection left: rows it found blocked
    _deliver(W, S, now, True)
    promote(W, S, now)
    if chosen or C[C_READY] > waiting or W[W_STAT][SKIP_IDLE] == 0:
        C[C_IDLE_UNTIL] = k + 1
    else:
        C[C_IDLE_UNTIL] = _next_event(W, S, k, now)
    _record(W, S, k, skipped)


@kernel_jit()
def _poll_faulty(W, S, k: int, now: int) -> None:
    """Run poll ``k`` at ``now`` under ``[faults]`` (:mod:`seqsim.engine.kernel_faults`)
    and write its timeline row: :func:`_poll`, with the row engine's poller steps
    after enrolment (retry the rolled-back advances, release stale claims) and
    its walk of the batch (:func:`_select_faulty`). A poll that claimed anything
    or left an advance to retry is followed by the next poll."""
    C, sel = S[S_COUNT], S[S_SEL]
    C[C_ENROLLED] = C[C_SENT] = C[C_FAILED] = 0
    _deliver(W, S, now, False)
    C[C_UNBLOCK] = NEVER
    if W[W_POLL_KIND][k] == POLL_RECOVERS:
        catch_up(W, S, now)
        kf.backlog_rebuild(W[W_STAT], C, S[S_ROWS], S[S_BACKLOG])
    enrol(W, S, k, now)
    kf.retry_and_release(W, S, now)
    promote(W, S, now)
    claims = C[C_CLAIMS]
    chosen, skipped = _select_faulty(W, S, now)
    for j in range(chosen):
        kf.log_claim(S[S_CLAIMS], C, sel[j], now, False)
        _queue(W, S, sel[j], now)
    waiting = C[C_READY]
    _deliver(W, S, now, True)
    promote(W, S, now)
    if (C[C_CLAIMS] > claims or C[C_RETRY] or C[C_READY] > waiting
            or not W[W_STAT][SKIP_IDLE]):
        C[C_IDLE_UNTIL] = k + 1
    else:
        C[C_IDLE_UNTIL] = _next_event(W, S, k, now)
    _record(W, S, k, skipped)


@kernel_jit(inline="always")
def _delivers(S, now: int) -> bool:
    """Return whether a device sent a message by ``now`` that is not yet recorded."""
    return S[S_COUNT][C_FLIGHT] > 0 and S[S_FLIGHT][0, 0] <= now


@kernel_jit()
def _skip(W, S, k: int, now: int, down: bool) -> None:
    """Write the timeline row of a poll that does not run (idle, or in an outage,
    when the devices still send what they hold: recorded and counted here)."""
    C = S[S_COUNT]
    C[C_ENROLLED] = C[C_SENT] = C[C_FAILED] = 0
    if down:
        _deliver(W, S, now, True)
        promote(W, S, now)
        _record(W, S, k, 0)
    else:
        _record(W, S, k, min(open_groups(W, S, now), W[W_STAT][BATCH]))


# nogil: the polls touch no Python object, and while they run another thread
# maps the pages of the records they fill (seqsim.engine.kernel_run, Prefault).
@kernel_jit(nogil=True)
def run_polls(W, S, k_stop: int) -> int:
    """Run polls from ``C_K`` up to (not including) ``k_stop``; return 0, or
    NEEDS_ROWS / NEEDS_MESSAGES / NEEDS_DRAWS / NEEDS_LOG with ``C_K`` at the poll to
    resume. A run with ``[faults]`` runs :func:`_poll_faulty` instead of :func:`_poll`.

    Every helper takes the two tuples whole; nothing counts references to
    them (:mod:`seqsim.engine.kernel_jit`)."""
    stat, bounds, kinds, C = W[W_STAT], W[W_BOUNDS], W[W_POLL_KIND], S[S_COUNT]
    k = C[C_K]
    while k < k_stop:
        now = stat[START] + k * stat[POLL]
        if kinds[k] == POLL_DOWN:
            status = down_room(W, S) if _delivers(S, now) else 0
            if status:
                C[C_K] = k
                return status
            _skip(W, S, k, now, True)
        elif (k < C[C_IDLE_UNTIL] and C[C_ARRIVED] == bounds[k + 1]
              and kinds[k] != POLL_RECOVERS):
            _skip(W, S, k, now, False)
        else:
            status = poll_room(W, S, k)
            if status:
                C[C_K] = k
                return status
            if stat[FAULTS]:
                _poll_faulty(W, S, k, now)
            else:
                _poll(W, S, k, now)
            C[C_RUN] += 1
        k += 1
    C[C_K] = k
    return 0
