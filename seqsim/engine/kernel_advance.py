"""The compiled engine's advance: enrolment, completing a step, failing a send,
and the two sending draws of a queued message (:func:`message_draws`).

The one-by-one design on integer arrays, deciding with
:mod:`seqsim.engine.rules` like every engine: a completed step creates the
next step's row (due by :func:`~seqsim.engine.rules.next_due`), a completed
last step ends the sequence and enters the chained one, a failed send is
due again until :func:`~seqsim.engine.rules.retries_exhausted`. The
``UNIQUE (sequence_id, contact_phone, sequence_stepid)`` guard is
``S_UPTO[lead, sequence]``: how many of the sequence's steps (in day order,
always a prefix) already have a row for the lead. A lead's sending draws are
keyed by its key ``W_LEAD_KEY[lead]`` and its count of queued messages
``S_LEAD_QUEUED[lead]`` (:func:`~seqsim.engine.rules.send_draw`).
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    ACTIVE,
    ALL_AT,
    C_ACTIVE,
    C_ARRIVED,
    C_DONE,
    C_ENROLLED,
    C_ROWS,
    COMPLETED,
    DELAY_FROM,
    DEVICES,
    FAILED,
    MAX_RETRIES,
    NO_ERROR,
    NONE,
    S_ACTIVE,
    S_COUNT,
    S_ENTRY,
    S_LEAD_N,
    S_LEAD_QUEUED,
    S_LEAD_TRIG,
    S_LINKS,
    S_ROWS,
    S_STEPS,
    S_TRIGGER,
    S_UPTO,
    SEED0,
    SEED1,
    SEND_ERROR,
    T_CHAIN,
    T_DAY,
    T_DELAY,
    T_NEXT,
    T_OFFSET,
    T_POS,
    W_ARR_LEAD,
    W_ARR_TRIG,
    W_BOUNDS,
    W_LEAD_DEV,
    W_LEAD_KEY,
    W_LEAD_RANK,
    W_LEAD_ZONE,
    W_SEQS,
    W_STAT,
    W_STEPS,
    W_TRIG_SEQ,
    ZONES,
)
from seqsim.engine.kernel_ready import make_due
from seqsim.engine.rules import FAIL_DRAW, GAP_DRAW, next_due, retries_exhausted, send_draw

__all__ = ["complete", "enrol", "fail_send", "message_draws"]


@kernel_jit(inline="always")
def _new_row(W, S, seq: int, lead: int, step: int, due: int, created: int, now: int,
             cause: int) -> None:
    R, C = S[S_ROWS], S[S_COUNT]
    i = C[C_ROWS]
    C[C_ROWS] = i + 1
    R[i]["due"] = due
    R[i]["seq"] = seq
    R[i]["rank"] = W[W_LEAD_RANK][lead]
    R[i]["day"] = W[W_STEPS][T_DAY, step]
    R[i]["lead"] = lead
    R[i]["step"] = step
    R[i]["dev"] = W[W_LEAD_DEV][lead]
    R[i]["status"] = ACTIVE
    R[i]["claimed_at"] = R[i]["completed_at"] = R[i]["failed_at"] = NONE
    R[i]["retry"] = 0
    R[i]["error"] = NO_ERROR
    R[i]["created"] = created
    R[i]["cause"] = cause
    stat = W[W_STAT]
    group = seq * stat[ZONES] + W[W_LEAD_ZONE][lead] if stat[ZONES] else 0
    links = S[S_LINKS]
    links[i]["group"] = group
    # A device's cell in its group; rows of no device sit in the last slot.
    slot = R[i]["dev"] if R[i]["dev"] >= 0 else stat[DEVICES]
    links[i]["cell"] = group * (stat[DEVICES] + 1) + slot
    C[C_ACTIVE] += 1
    make_due(W, S, i, now)


@kernel_jit(inline="always")
def _has_trigger(S, lead: int, trigger: int) -> bool:
    lead_trig, lead_n = S[S_LEAD_TRIG], S[S_LEAD_N]
    for j in range(lead_n[lead]):  # noqa: SIM110 - numba compiles no generator
        if lead_trig[lead, j] == trigger:
            return True
    return False


@kernel_jit(inline="always")
def _add_trigger(S, lead: int, trigger: int) -> None:
    lead_trig, lead_n = S[S_LEAD_TRIG], S[S_LEAD_N]
    if lead_n[lead] < 0:
        lead_n[lead] = 0  # the lead's first arrival
    if not _has_trigger(S, lead, trigger):
        lead_trig[lead, lead_n[lead]] = trigger
        lead_n[lead] += 1


@kernel_jit(inline="always")
def _drop_trigger(S, lead: int, trigger: int) -> None:
    lead_trig, lead_n = S[S_LEAD_TRIG], S[S_LEAD_N]
    kept = 0
    for j in range(lead_n[lead]):
        if lead_trig[lead, j] != trigger:
            lead_trig[lead, kept] = lead_trig[lead, j]
            kept += 1
    lead_n[lead] = kept


@kernel_jit()
def _enter(W, S, seq: int, lead: int, at: int, now: int, cause: int) -> None:
    """Enrol ``lead`` in sequence ``seq`` at ``at`` unless it already entered it;
    ``cause``: the new rows' ``cause``."""
    seqs, steps, upto = W[W_SEQS], W[W_STEPS], S[S_UPTO]
    if seqs[S_ACTIVE, seq] == 0 or upto[lead, seq] > 0:
        return
    S[S_COUNT][C_ENROLLED] += 1
    step = seqs[S_ENTRY, seq]
    if W[W_STAT][ALL_AT] == 0:
        upto[lead, seq] = 1
        _new_row(W, S, seq, lead, step, at, at, now, cause)
        return
    upto[lead, seq] = seqs[S_STEPS, seq]
    while step >= 0:
        _new_row(W, S, seq, lead, step, at + steps[T_OFFSET, step], at, now, cause)
        step = steps[T_NEXT, step]


@kernel_jit()
def enrol(W, S, k: int, now: int) -> None:
    """Enrol the arrivals since the last poll that ran, up to poll ``k``: record
    every arrival's trigger, then enter each arrival's lead in the active
    sequences it matches, by sequence id."""
    seqs, trig_seq = W[W_SEQS], W[W_TRIG_SEQ]
    leads, triggers, C = W[W_ARR_LEAD], W[W_ARR_TRIG], S[S_COUNT]
    lo, hi = C[C_ARRIVED], W[W_BOUNDS][k + 1]
    C[C_ARRIVED] = hi
    for j in range(lo, hi):
        _add_trigger(S, leads[j], triggers[j])
    for j in range(lo, hi):
        for seq in range(seqs.shape[1]):
            trigger = seqs[S_TRIGGER, seq]
            if trig_seq[trigger] == seq and _has_trigger(S, leads[j], trigger):
                _enter(W, S, seq, leads[j], now, now, -(j + 1))


@kernel_jit()
def complete(W, S, i: int, t: int, now: int) -> None:
    """Row ``i`` completed at ``t``: create the next step's row, or end the
    sequence (entering the chained one). ``now`` is the poll's instant."""
    seqs, steps = W[W_SEQS], W[W_STEPS]
    R, upto, C = S[S_ROWS], S[S_UPTO], S[S_COUNT]
    R[i]["status"] = COMPLETED
    R[i]["completed_at"] = t
    R[i]["claimed_at"] = NONE
    C[C_ACTIVE] -= 1
    step, seq, lead = R[i]["step"], R[i]["seq"], R[i]["lead"]
    nxt = steps[T_NEXT, step]
    if nxt >= 0:
        if steps[T_POS, nxt] < upto[lead, seq]:
            return
        upto[lead, seq] = steps[T_POS, nxt] + 1
        due = next_due(W[W_STAT][DELAY_FROM], t, R[i]["due"], steps[T_DELAY, step],
                       steps[T_DELAY, nxt])
        _new_row(W, S, seq, lead, nxt, due, t, now, i)
        return
    C[C_DONE] += 1
    _drop_trigger(S, lead, seqs[S_TRIGGER, seq])
    chained = steps[T_CHAIN, step]
    if chained >= 0:
        _add_trigger(S, lead, seqs[S_TRIGGER, chained])
        _enter(W, S, chained, lead, t, now, i)


@kernel_jit()
def fail_send(W, S, i: int, t: int, now: int) -> None:
    """Row ``i``'s send failed at ``t``: due again, or failed for good."""
    R = S[S_ROWS]
    R[i]["retry"] += 1
    R[i]["error"] = SEND_ERROR
    R[i]["claimed_at"] = NONE
    if retries_exhausted(np.int64(R[i]["retry"]), W[W_STAT][MAX_RETRIES]):
        R[i]["status"] = FAILED
        R[i]["failed_at"] = t
        S[S_COUNT][C_ACTIVE] -= 1
    else:
        make_due(W, S, i, now)


@kernel_jit()
def message_draws(W, S, i: int) -> tuple[float, float]:
    """Return the two uniforms (failure, pacing gap) of the message row ``i`` queues
    now, keyed by its lead and how many messages the lead had queued before; count it."""
    stat, lead = W[W_STAT], S[S_ROWS][i]["lead"]
    key, count = W[W_LEAD_KEY][lead], S[S_LEAD_QUEUED][lead]
    S[S_LEAD_QUEUED][lead] = count + 1
    return (send_draw(stat[SEED0], stat[SEED1], key, count, FAIL_DRAW),
            send_draw(stat[SEED0], stat[SEED1], key, count, GAP_DRAW))
