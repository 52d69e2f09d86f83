"""Running a whole scenario on the compiled kernel.

:func:`run_kernel` builds the kernel's arrays (:mod:`seqsim.engine.kernel_world`),
runs every poll in compiled code a chunk at a time (reporting progress and
growing the arrays between chunks) and returns its tables, built from the
final records on first access (:mod:`seqsim.engine.kernel_tables`). It
covers every scenario: every capacity limit, pacing, failures and retries,
both strategies, every ``delay_from`` and ``progress_on``, chains, send
windows per lead time zone, rolling and calendar daily caps, outages and each
catch-up, and the ``[faults]`` that act on one message at a time
(:mod:`seqsim.engine.kernel_faults`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from freezegun import api as _freezegun_api

from seqsim.engine import kernel_layout as k
from seqsim.engine.kernel import run_polls
from seqsim.engine.kernel_cache import warm_up
from seqsim.engine.kernel_tables import KernelTables, final_columns, timeline_frame
from seqsim.engine.kernel_world import World, build_world, grow, more_draws, new_state
from seqsim.engine.tallies import pair_codes
from seqsim.engine.wait_log import WaitLog
from seqsim.model.arrivals import ArrivalCodes
from seqsim.model.faults import FaultStreams, faults_rng
from seqsim.model.scenario import Scenario
from seqsim.pages import Prefault
from seqsim.spill import Pager, release

__all__ = ["KernelRun", "run_kernel"]

#: Polls per compiled call: progress is reported between calls.
CHUNK = 4096


class KernelRun(NamedTuple):
    """A run computed by the kernel."""

    tables: KernelTables  # the static tables, and the rest built on first access
    timeline: pd.DataFrame
    pairs: np.ndarray  # per sequence_contacts row, as schema.contact_pair_codes
    polls_run: int
    compile_seconds: float | None  # the one-off compile this run did (None: cached)
    kernel_seconds: float  # real seconds inside compiled code (the polls alone)
    waits: WaitLog  # what the lateness attribution needs besides the tables
    causes: np.ndarray  # per sequence_contacts row, what created it (a view of the records)


def _wait_log(state: tuple) -> WaitLog:
    """Return the run's :class:`WaitLog`: the full-device log, and the stuck claims a
    poll released (sequence_contacts ids are row indexes + 1)."""
    counters = state[k.S_COUNT]
    claims = state[k.S_CLAIMS][: counters[k.C_CLAIMS]]
    held = claims[claims[:, k.CLAIM_KIND] == k.RELEASED_CLAIM]
    return WaitLog.of(state[k.S_FULL_LOG][: counters[k.C_LOG]],
                      np.column_stack([held[:, k.CLAIM_ROW] + 1, held[:, k.CLAIM_AT],
                                       held[:, k.CLAIM_RELEASED]]))


def _prefault(state: tuple) -> Prefault:
    """Return a :class:`Prefault` of the records the polls fill from the front (the
    rows, their links, the messages), when the polls are compiled code that lets
    it run beside them."""
    if not hasattr(run_polls, "signatures"):  # NUMBA_DISABLE_JIT: Python holds the GIL
        return Prefault([])
    counters = state[k.S_COUNT]
    return Prefault([(state[k.S_ROWS], lambda: counters[k.C_ROWS]),
                     (state[k.S_LINKS], lambda: counters[k.C_ROWS]),
                     (state[k.S_MSGS], lambda: counters[k.C_MSGS])])


def _poll_all(world: World, state: tuple, streams: FaultStreams,
              advance: Callable[[int], None] | None) -> tuple:
    """Run every poll of ``world`` from ``state``; return the final state (a new
    tuple when the run needed more room or fault draws)."""
    counters = state[k.S_COUNT]
    done = 0
    ahead = _prefault(state)
    try:
        while done < world.polls:
            status = run_polls(world.arrays, state, min(world.polls, done + CHUNK))
            # Rows finished in earlier chunks are rarely read again: their pages go
            # back to the file (seqsim.spill), and those still in use come back.
            release(state[k.S_ROWS], state[k.S_MSGS])
            if status:
                ahead.stop()  # it holds the arrays that are about to be replaced
                state = (more_draws(state, streams) if status == k.NEEDS_DRAWS
                         else grow(state, status))
                counters = state[k.S_COUNT]
                ahead = _prefault(state)
            if advance is not None and counters[k.C_K] > done:
                advance(int(counters[k.C_K]) - done)
            done = int(counters[k.C_K])
    finally:
        ahead.stop()
    return state


def run_kernel(
    scenario: Scenario,
    static: dict[str, pd.DataFrame],
    devices: list[str],
    arrivals: ArrivalCodes | pd.DataFrame,
    advance: Callable[[int], None] | None = None,
    *,
    skip_idle: bool = True,
) -> KernelRun:
    """Run ``scenario`` on the kernel and return its tables and timeline.

    ``static`` holds the run's static tables (sequences, steps, devices),
    ``arrivals`` the leads, as codes or a frame (their sending draws are keyed by
    :func:`seqsim.engine.poll.lead_keys`), ``advance(n)`` is told each time ``n`` more polls are
    done (``advance(0)`` once the kernel is compiled or loaded, before any
    poll), and ``skip_idle`` False runs every poll (same tables).
    """
    world = build_world(scenario, static, devices, arrivals, skip_idle=skip_idle)
    state = new_state(world, len(devices))
    compile_seconds = warm_up(world.arrays, state)
    if advance is not None:
        advance(0)  # compiled: the run's own time starts now
    started = _freezegun_api.real_perf_counter()  # perf_counter itself may be frozen
    state = _poll_all(world, state, faults_rng(scenario.simulation.seed), advance)
    kernel_seconds = _freezegun_api.real_perf_counter() - started
    stat = world.arrays[k.W_STAT]
    timeline = timeline_frame(int(stat[k.START]), int(stat[k.POLL]), state[k.S_TIMELINE])
    counters = state[k.S_COUNT]
    polls_run = int(counters[k.C_RUN])
    final = final_columns(state)
    waits = _wait_log(state)
    del state, counters  # the records are views: the rest of the state goes
    with Pager(final.rows):  # one pass over the rows: only the pages read last stay
        pairs = pair_codes(final.rows, world.codes.sequence_ids.astype(np.int64),
                           len(world.codes.phones))
    return KernelRun(KernelTables(static, world.codes, final), timeline, pairs, polls_run,
                     compile_seconds, kernel_seconds, waits, final.rows["cause"])
