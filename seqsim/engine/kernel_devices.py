"""The compiled engine's sending fleet: :mod:`seqsim.engine.fleet` on integer arrays.

Same rules as :class:`seqsim.engine.fleet.Device`: limits count messages
*queued* in a rolling hour / day (or per calendar day), in-flight messages
count until delivered, and a device sends one message at a time with a
pacing gap after its previous send. A device's state is a column of
``state``; the instants it queued at sit in ring buffers of the limit's size
(a device never holds more than ``limit`` queued instants inside a window,
because it stops queueing at the limit).

Instants are integer microseconds; ``NONE`` is a device that never sent,
``NEVER`` a block only a delivery can lift.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import NEVER, NONE

__all__ = ["DEVICE_COLUMNS", "LAST_SEND", "device_queue", "device_remaining",
           "device_unblocks_at", "midnight_after", "midnight_at_or_before"]

# Columns of the device state.
IN_FLIGHT, LAST_SEND, HOUR_HEAD, HOUR_SIZE, DAY_HEAD, DAY_SIZE = 0, 1, 2, 3, 4, 5
DEVICE_COLUMNS = 6


@kernel_jit()
def midnight_at_or_before(midnights: np.ndarray, t: int) -> int:
    """Return the calendar day start at or before ``t`` (``midnights`` sorted)."""
    return midnights[np.searchsorted(midnights, t, side="right") - 1]


@kernel_jit()
def midnight_after(midnights: np.ndarray, t: int) -> int:
    """Return the first calendar day start after ``t``."""
    return midnights[np.searchsorted(midnights, t, side="right")]


@kernel_jit()
def _count_after(ring: np.ndarray, state: np.ndarray, d: int, head: int, size: int,
                 cutoff: int, inclusive: bool) -> int:
    """Drop a device's ring entries that left the window; return how many are left.

    An entry leaves when it is at or before ``cutoff`` (rolling windows), or,
    with ``inclusive`` False, strictly before it (a calendar day's start).
    """
    limit = ring.shape[1]
    h = state[head, d]
    n = state[size, d]
    while n > 0:
        e = ring[d, h]
        if e > cutoff or (not inclusive and e == cutoff):
            break
        h = (h + 1) % limit
        n -= 1
    state[head, d] = h
    state[size, d] = n
    return n


@kernel_jit()
def _day_count(day_ring: np.ndarray, state: np.ndarray, d: int, now: int, day_us: int,
               midnights: np.ndarray) -> int:
    if midnights.shape[0] == 0:
        return _count_after(day_ring, state, d, DAY_HEAD, DAY_SIZE, now - day_us, True)
    start = midnight_at_or_before(midnights, now)
    return _count_after(day_ring, state, d, DAY_HEAD, DAY_SIZE, start, False)


@kernel_jit()
def device_remaining(state: np.ndarray, hour_ring: np.ndarray, day_ring: np.ndarray,
                     limits: np.ndarray, d: int, now: int, hour_us: int, day_us: int,
                     midnights: np.ndarray) -> int:
    """Return how many more messages device ``d`` may queue at ``now`` (-1: no limit).

    ``limits`` is (hourly, daily, in flight), 0 meaning unlimited.
    """
    left = -1
    if limits[2] > 0:
        left = limits[2] - state[IN_FLIGHT, d]
    if limits[0] > 0:
        n = limits[0] - _count_after(hour_ring, state, d, HOUR_HEAD, HOUR_SIZE,
                                     now - hour_us, True)
        left = n if left < 0 or n < left else left
    if limits[1] > 0:
        n = limits[1] - _day_count(day_ring, state, d, now, day_us, midnights)
        left = n if left < 0 or n < left else left
    return max(left, 0) if left != -1 else -1


@kernel_jit()
def device_unblocks_at(state: np.ndarray, hour_ring: np.ndarray, day_ring: np.ndarray,
                       limits: np.ndarray, d: int, now: int, hour_us: int, day_us: int,
                       midnights: np.ndarray) -> int:
    """Return when a limit that blocks device ``d`` at ``now`` lapses (NEVER: only a
    delivery can unblock it). Call it right after :func:`device_remaining` said 0."""
    if limits[2] > 0 and state[IN_FLIGHT, d] >= limits[2]:
        return NEVER
    until = now
    if limits[0] > 0 and state[HOUR_SIZE, d] >= limits[0]:
        until = max(until, hour_ring[d, state[HOUR_HEAD, d]] + hour_us)
    if limits[1] > 0 and state[DAY_SIZE, d] >= limits[1]:
        if midnights.shape[0] == 0:
            until = max(until, day_ring[d, state[DAY_HEAD, d]] + day_us)
        else:
            until = max(until, midnight_after(midnights, now))
    return until


@kernel_jit()
def _ring_append(ring: np.ndarray, state: np.ndarray, d: int, head: int, size: int,
                 t: int) -> None:
    limit = ring.shape[1]
    ring[d, (state[head, d] + state[size, d]) % limit] = t
    state[size, d] += 1


@kernel_jit()
def device_queue(state: np.ndarray, hour_ring: np.ndarray, day_ring: np.ndarray,
                 limits: np.ndarray, d: int, now: int, gap: int) -> int:
    """Queue one message on device ``d`` at ``now``; return when it will be sent."""
    last = state[LAST_SEND, d]
    send_at = now if last == NONE else max(now, last + gap)
    state[LAST_SEND, d] = send_at
    state[IN_FLIGHT, d] += 1
    if limits[0] > 0:
        _ring_append(hour_ring, state, d, HOUR_HEAD, HOUR_SIZE, now)
    if limits[1] > 0:
        _ring_append(day_ring, state, d, DAY_HEAD, DAY_SIZE, now)
    return send_at
