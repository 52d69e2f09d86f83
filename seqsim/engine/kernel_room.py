"""Whether the kernel's arrays have room for the next poll.

The kernel's arrays (rows, messages, the full-device log and, under faults,
the claim log and the drawn uniforms) are sized ahead; before each poll that
may create rows or queue messages, :func:`poll_room` (or :func:`down_room`,
for an outage poll that records sends) says whether it fits. When it does not,
:func:`seqsim.engine.kernel.run_polls` returns what must grow
(:func:`seqsim.engine.kernel_world.grow`) and resumes at the same poll.
"""

from __future__ import annotations

from seqsim.engine import kernel_faults as kf
from seqsim.engine.kernel_jit import kernel_jit
from seqsim.engine.kernel_layout import (
    BATCH,
    C_ARRIVED,
    C_FLIGHT,
    C_LOG,
    C_MSGS,
    C_NEED,
    C_PENDING,
    C_READY,
    C_RETRY,
    C_ROWS,
    DEVICES,
    FAULTS,
    NEEDS_LOG,
    NEEDS_MESSAGES,
    NEEDS_ROWS,
    POLL_RECOVERS,
    ROWS_PER_ENTRY,
    S_CLAIMS,
    S_COUNT,
    S_FAULT_U,
    S_FULL_LOG,
    S_MSGS,
    S_ROWS,
    W_BOUNDS,
    W_POLL_KIND,
    W_STAT,
)

__all__ = ["down_room", "poll_room"]


@kernel_jit(inline="always")
def _poll_batch(W, S, k: int) -> tuple[int, int]:
    """Return how many rows poll ``k`` may hold when it selects (those there are,
    and ``ROWS_PER_ENTRY`` for each arrival, delivery, retried advance and, after an
    outage, waiting row, each of which may create rows first), and the most it can
    queue: ``batch_size``, or those rows if fewer (a huge batch_size must not size
    the arrays)."""
    stat, C = W[W_STAT], S[S_COUNT]
    events = W[W_BOUNDS][k + 1] - C[C_ARRIVED] + C[C_FLIGHT] + C[C_RETRY]
    if W[W_POLL_KIND][k] == POLL_RECOVERS:
        events += C[C_READY] + C[C_PENDING]  # skip_stale may complete every waiting row
    rows = C[C_ROWS] + events * stat[ROWS_PER_ENTRY]
    return rows, min(stat[BATCH], rows)


@kernel_jit()
def _room(W, S, before: int, batch: int) -> int:
    """Return 0 if a poll that may hold ``before`` rows when it selects and queue
    ``batch`` (:func:`_poll_batch`) fits in the arrays, else what must grow (the
    size needed goes into ``C_NEED``): rows, messages or the full-device log; under
    faults, the claim log or the drawn uniforms too."""
    stat, C = W[W_STAT], S[S_COUNT]
    rows = before + batch * stat[ROWS_PER_ENTRY]
    if rows > S[S_ROWS].shape[0]:
        C[C_NEED] = rows
        return NEEDS_ROWS
    if C[C_MSGS] + batch > S[S_MSGS].shape[0]:
        C[C_NEED] = C[C_MSGS] + batch
        return NEEDS_MESSAGES
    if C[C_LOG] + stat[DEVICES] > S[S_FULL_LOG].shape[0]:
        C[C_NEED] = C[C_LOG] + stat[DEVICES]
        return NEEDS_LOG
    if stat[FAULTS]:
        return kf.fault_room(stat, C, S[S_CLAIMS], S[S_FAULT_U], batch)
    return 0


@kernel_jit()
def poll_room(W, S, k: int) -> int:
    """Return 0 if poll ``k`` fits in the arrays, else what must grow."""
    before, batch = _poll_batch(W, S, k)
    return _room(W, S, before, batch)


@kernel_jit()
def down_room(W, S) -> int:
    """Return 0 if an outage poll's recording of the sends made since the last
    poll fits in the arrays (each may advance its row), else what must grow."""
    C = S[S_COUNT]
    return _room(W, S, C[C_ROWS] + C[C_FLIGHT] * W[W_STAT][ROWS_PER_ENTRY], 0)
