"""The compiled engine's array layout: which index of which array holds what.

The kernel's state is a tuple of arrays, int64 but for a few (numba compiles a
function per tuple type, so the layout is fixed here, once, and every kernel
module and :mod:`seqsim.engine.kernel_world` use these names):

- ``W`` (the world, read-only), indexed by the ``W_*`` names;
- ``S`` (the state), indexed by the ``S_*`` names (ready rows: see
  :mod:`seqsim.engine.kernel_ready`). Its two tables are record arrays, one
  record per ``sequence_contacts`` row (:data:`ROW_DTYPE`) and per message
  (:data:`MESSAGE_DTYPE`), read as ``R[i]["due"]`` (a form plain Python runs
  too, for ``NUMBA_DISABLE_JIT``): a record's fields share cache lines, which
  the row comparisons of every heap and treap step read.

Instants are int64 microseconds since 1970 (naive UTC); ``NONE`` is NULL,
``NEVER`` later than any instant of a run.
"""

from __future__ import annotations

import numpy as np

NEVER = 2**62
NONE = -(2**63)

# The world W.
W_STAT, W_SEQS, W_STEPS, W_TRIG_SEQ, W_BOUNDS, W_ARR_LEAD, W_ARR_TRIG, W_LEAD_DEV, W_LEAD_RANK, \
    W_LIMITS, W_MIDNIGHTS, W_GAPS, W_FAILURE, W_LEAD_ZONE, W_POLL_KIND, W_WIN_LO, W_WIN_HI, \
    W_WIN_START, W_WIN_END = range(19)
# The one-message faults (seqsim.engine.kernel_faults): the offline windows, one row
# each: start, end, then 1 per device offline in it. W[W_FAILURE] holds the send
# failure rate, then the probabilities of the faults (index 1 + CRASH, 1 + STUCK).
# (Few slots: every array of W and S costs each kernel call a reference count.)
W_OFFLINE = 19
# Each lead's key (seqsim.engine.poll.lead_keys), which keys its sending draws.
W_LEAD_KEY = 20
# Scalars in W[W_STAT].
START, POLL, TOTAL, BATCH, HOUR_US, DAY_US, ALL_AT, DELAY_FROM, ON_QUEUE, MAX_RETRIES, \
    ROWS_PER_ENTRY, CATCH_UP, STALE_AFTER, ZONES, SKIP_IDLE, DEVICES = range(16)
# Faults: any [faults] key set (the faulty poll runs), atomic advance, claim timeout µs,
# database clock minus application clock µs.
FAULTS, ATOMIC, CLAIM_TIMEOUT, DB_OFFSET = 16, 17, 18, 19
# The two 32-bit seed words of the sending draws (seqsim.engine.rules.send_seed).
SEED0, SEED1 = 20, 21
STATS = 22
# Poll kinds (W[W_POLL_KIND]).
POLL_RUNS, POLL_DOWN, POLL_RECOVERS = 0, 1, 2
# Columns of sequences and steps.
S_ACTIVE, S_ENTRY, S_TRIGGER, S_STEPS = range(4)
T_SEQ, T_DAY, T_DELAY, T_NEXT, T_CHAIN, T_POS, T_OFFSET = range(7)

# The state S.
S_ROWS, S_MSGS, S_CELL_ROOT, S_PENDING, S_FLIGHT, S_LEAD_TRIG, S_LEAD_N, S_UPTO, S_DEVICES, \
    S_HOUR_RING, S_DAY_RING, S_BLOCKED_UNTIL, S_TREAP_ROOT, S_COUNT, S_TIMELINE, S_SEL, \
    S_CELL_COUNT, S_GROUP_COUNT, S_TMP, S_PAIR_FIRST, S_GROUP_OPEN = range(21)
# Faults: the fault streams' uniforms (float64, a row per stream: CRASH, STUCK), the
# claims in claim order (columns: row, application instant; the rows whose advance
# waits for a retry, CLAIM_RETRY; and for the lateness attribution, the claim's kind
# and when a poll released a stuck one), and a Fenwick tree of waiting rows by the
# poll their due time falls on (the backlog when the database clock is offset).
S_FAULT_U, S_CLAIMS, S_BACKLOG = 21, 22, 23
# Lateness attribution (seqsim.engine.wait_log): each device's "full" flag after the
# last selection, and the log of its changes (instant, device).
S_FULL, S_FULL_LOG = 24, 25
# Sending draws (seqsim.engine.rules.send_draw): each lead's count of queued messages.
S_LEAD_QUEUED = 26
# Where each row sits in the ready and pending structures (LINK_DTYPE, row-sized).
S_LINKS = 27
# Scratch of the faulty selection: each device's room, and whether it had a selectable row.
S_ROOM = 28
# Each cell's run of ready rows in order (seqsim.engine.kernel_ready.cell_push): its
# first and last row (-1: empty), rows linked through ``right``.
S_CELL_RUN = 29
# The ready rows that became ready in production's order, while ranks are kept
# (seqsim.engine.kernel_rank): their ids in that order, and a Fenwick tree over
# those positions counting the rows still ready (int32, row-sized).
S_ORDER_ROWS, S_ORDER_TREE = 30, 31
STATE_ARRAYS = 32
CLAIM_ROW, CLAIM_AT, CLAIM_RETRY, CLAIM_KIND, CLAIM_RELEASED = 0, 1, 2, 3, 4
#: State arrays sized by the rows / the messages (they grow together).
ROW_SIZED = (S_ROWS, S_LINKS, S_TMP, S_SEL, S_ORDER_ROWS, S_ORDER_TREE)
MESSAGE_SIZED = (S_MSGS, S_FLIGHT, S_CLAIMS)
#: Rows of S_FAULT_U.
CRASH, STUCK = 0, 1
#: Column 2 of S_CLAIMS (row, instant, kind, released at): a claim a dead worker
#: held, and one a poll has since released (column 3: when).
STUCK_CLAIM, RELEASED_CLAIM = 1, 2
#: A sequence_contacts row (S[S_ROWS] is a 1-D array of these, read as ``R[i].due``):
#: instants as int64 µs, then codes and counts as int32 (row indexes stay below
#: 2**31: :func:`seqsim.engine.kernel_world.grow` refuses more), then flags. 80
#: bytes where 22 int64 columns took 176: the table outlives the run (the result's
#: frames are built from it) and is most of a big run's memory, and on a machine
#: where a fresh page costs more than the arithmetic, its time. ``rank`` is the
#: lead's phone rank and ``seq``, ``day`` the step's, kept beside ``due`` so
#: production's order (kernel_order.before) reads one row's cache line.
#: ``cause``: what created it, for a sharded run's merge (seqsim.run.shards): the
#: row index of the row whose completion created it, or -(j + 1) for arrival j's
#: enrolment.
ROW_DTYPE = np.dtype([
    ("due", "<i8"), ("claimed_at", "<i8"), ("completed_at", "<i8"), ("failed_at", "<i8"),
    ("created", "<i8"),
    ("seq", "<i4"), ("rank", "<i4"), ("day", "<i4"), ("lead", "<i4"), ("step", "<i4"),
    ("dev", "<i4"), ("retry", "<i4"), ("cause", "<i4"),
    ("status", "i1"), ("error", "i1"), ("pad", "<i2"), ("pad2", "<i4"),
])
#: Where a row sits in the kernel's structures (S[S_LINKS], one per row), apart
#: from the rows so that it is freed with the run's other state: ``group``/``cell``,
#: the row's ready group and (group, device) cell; ``left``, ``right``, its
#: skew-heap links (a pending row chains its poll's bucket through ``left``);
#: ``tleft``, ``tright``, ``tsize``, its treap links and subtree size; ``pos``, its
#: position in the ordered log (-1: in the treap; seqsim.engine.kernel_rank).
LINK_DTYPE = np.dtype([
    ("group", "<i4"), ("cell", "<i4"), ("left", "<i4"), ("right", "<i4"),
    ("tleft", "<i4"), ("tright", "<i4"), ("tsize", "<i4"), ("pos", "<i4"),
])
#: A message (S[S_MSGS]): its row, device, instants, planned outcome (drawn when
#: queued), outcome (PENDING_OUTCOME until delivered) and attempt number.
MESSAGE_DTYPE = np.dtype([
    ("due", "<i8"), ("queued", "<i8"), ("scheduled", "<i8"), ("sent", "<i8"),
    ("row", "<i4"), ("dev", "<i4"), ("attempt", "<i4"),
    ("planned", "i1"), ("outcome", "i1"), ("pad", "<i2"),
])
#: The most rows (and messages) a run may have: links and row numbers are int32.
MAX_ROWS = 2**31 - 1
# Row status and error codes; message outcomes.
ACTIVE, COMPLETED, FAILED = 0, 1, 2
NO_ERROR, SEND_ERROR, SKIPPED = 0, 1, 2
SENT_OK, SEND_FAILED, PENDING_OUTCOME = 0, 1, -1
# Counters (S[S_COUNT]).
C_ROWS, C_MSGS, C_READY, C_PENDING, C_FLIGHT, C_ACTIVE, C_DONE, C_K, C_IDLE_UNTIL, \
    C_ENROLLED, C_SENT, C_FAILED, C_UNBLOCK, C_NEED, C_RUN, C_ARRIVED, C_PROMOTED, \
    C_RANKED = range(18)
# Faults: claims logged, claims past the release cutoff, advances to retry, uniforms
# used of each fault stream (C_DRAWN + CRASH, C_DRAWN + STUCK).
C_CLAIMS, C_RELEASED, C_RETRY, C_DRAWN = 18, 19, 20, 21
# The full-device log's length (C_DRAWN + 1 is the second fault stream's count).
C_LOG = 23
# The ordered log (seqsim.engine.kernel_rank): positions used, and the Fenwick
# tree's size (a compaction renumbers the rows still ready when they fill it).
C_ORDERED, C_ORDER_LIMIT = 24, 25
COUNTERS = 26
# Timeline columns (S[S_TIMELINE]).
L_ENROLLED, L_SENT, L_FAILED, L_SKIPPED, L_BACKLOG, L_ACTIVE, L_DONE = range(7)
TIMELINE_ROWS = 7
#: Return codes of the kernel besides 0 (done up to the stop poll).
NEEDS_ROWS, NEEDS_MESSAGES, NEEDS_DRAWS, NEEDS_LOG = 1, 2, 3, 4
