"""Running one engine over a scenario's world: what :func:`~seqsim.run.simulate.simulate`
and each shard of a sharded run (:mod:`seqsim.run.shards`) call.

:func:`run_engine` builds the run's database of static tables and runs the
chosen engine on given devices and arrivals: the compiled run in one call, or
the per-row processor poll by poll (:func:`_run_polls`). Polls where nothing
can happen (no arrival, nothing due, nothing in flight) are skipped by jumping
the clock to the next poll where something can; the timeline still has a row
for every poll, and the tables are identical to a run that skips nothing.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd

from seqsim.engine import registry, schema
from seqsim.engine.kernel_cache import warm_up_results
from seqsim.engine.poll import Arrivals, PollStats, Processor, arrival_bounds
from seqsim.engine.rules import Outages, first_poll_at_or_after
from seqsim.engine.wait_log import WaitLog
from seqsim.model.arrivals import ArrivalCodes, generate_arrival_codes
from seqsim.model.capacity import device_ids
from seqsim.model.scenario import Scenario
from seqsim.model.sequence import SequenceConfig
from seqsim.model.size import poll_count
from seqsim.run.clock import VirtualClock
from seqsim.run.progress import Progress

__all__ = ["Ran", "run_arrivals", "run_engine"]


def arrivals_rng(seed: int) -> np.random.Generator:
    """Return the run's arrivals generator: the first child of the seed's sequence.

    The second child keys the sending draws (failure, then pacing gap, per
    queued message): not a stream but :func:`seqsim.engine.rules.send_draw`
    of (seed, the lead's key, the lead's count of messages queued before,
    purpose), so a message's draws depend on no other lead (a shard of the
    leads draws what the whole run does) and two runs that differ only in
    capacity or policy give it the same draws. The third child gives the
    fault streams (:func:`seqsim.model.faults.faults_rng`), drawn in the
    order faults happen: not keyed per lead yet, so not shard-invariant.
    """
    arrivals, _sending = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(arrivals)


def run_arrivals(scenario: Scenario) -> tuple[list[str], ArrivalCodes]:
    """Return the run's device names and the arrivals of every workload, in time
    order, as codes (:meth:`ArrivalCodes.frame` gives the frame)."""
    sim = scenario.simulation
    devices = device_ids(scenario.capacity.devices)
    return devices, generate_arrival_codes(scenario.workload, sim.start, sim.end,
                                           len(devices), arrivals_rng(sim.seed))


class Ran(NamedTuple):
    """What an engine's run returns to :func:`simulate`."""

    polls_run: int
    tables: dict[str, pd.DataFrame]
    timeline: pd.DataFrame
    pairs: np.ndarray | None  # the contacts' pair codes, when the engine knows them
    compiled: bool  # the whole run was compiled (the engine's ``run``), not polled
    compile_seconds: float  # spent compiling the engine first (0: it was cached)
    kernel_seconds: float  # spent in compiled polls (0: not compiled)
    waits: WaitLog  # what the lateness attribution needs besides the tables
    causes: np.ndarray | None  # per sequence_contacts row, what created it (compiled runs)


def run_engine(
    engine: registry.Engine,
    scenario: Scenario,
    devices: list[str],
    arrivals: ArrivalCodes | pd.DataFrame,
    progress: bool | None,
    skip_idle: bool,
) -> Ran:
    """Run the engine on a database holding the scenario's static tables; return
    how many polls really ran, the tables, the timeline and how it ran.

    ``arrivals``: their codes, or a frame of them (a shard's); the compiled run
    reads the codes, the per-row processor the frame.
    """
    if engine.run is not None:
        static = static_tables(scenario, devices)
        with Progress(poll_count(scenario.simulation.duration,
                                 scenario.simulation.poll_interval),
                      enabled=progress) as bar:
            whole = engine.run(scenario, static, devices, arrivals, bar.advance,
                               skip_idle=skip_idle)
        return Ran(whole.polls_run, whole.tables, whole.timeline, whole.pairs, True,
                    whole.compile_seconds or 0.0, whole.kernel_seconds, whole.waits,
                    whole.causes)
    assert engine.processor is not None  # an engine has a processor or a run
    con = _static_database(tuple(scenario.sequences), devices, _limits(scenario))
    try:
        if isinstance(arrivals, ArrivalCodes):
            arrivals = arrivals.frame()
        compile_seconds = warm_up_results()  # the result passes the tables go through
        processor = engine.processor(con, scenario, devices)
        polls_run, timeline = _run_polls(scenario, processor, arrivals, progress, skip_idle)
        return Ran(polls_run, processor.tables(), timeline, None, False, compile_seconds or 0.0,
                    0.0, processor.wait_log(), None)
    finally:
        con.close()


def _static_database(sequences: tuple[SequenceConfig, ...], devices: list[str],
                     limits: tuple[int, int, int]) -> duckdb.DuckDBPyConnection:
    """Return a new in-memory database holding the static tables: ``sequences`` and
    their steps, and ``devices`` with ``limits`` (hourly, daily, in flight); every
    other table empty."""
    con = schema.connect()
    try:
        schema.load_sequences(con, sequences)
        hourly, daily, in_flight = limits
        schema.add_devices(con, devices, hourly_limit=hourly, daily_limit=daily,
                           in_flight_limit=in_flight)
    except BaseException:
        con.close()
        raise
    return con


@functools.lru_cache(maxsize=16)
def _read_static(sequences: tuple[SequenceConfig, ...], devices: tuple[str, ...],
                 limits: tuple[int, int, int]) -> dict[str, pd.DataFrame]:
    """Return the tables of :func:`_static_database` as canonical frames (cached:
    its arguments are the key)."""
    con = _static_database(sequences, list(devices), limits)
    try:
        return schema.read_tables(con)
    finally:
        con.close()


def _limits(scenario: Scenario) -> tuple[int, int, int]:
    """Return the scenario's per-device hourly, daily and in-flight limits."""
    cap = scenario.capacity
    return cap.hourly_limit, cap.daily_limit, cap.in_flight_limit


def static_tables(scenario: Scenario, devices: list[str]) -> dict[str, pd.DataFrame]:
    """Return every table of a database holding the scenario's sequences and
    ``devices`` (:func:`_static_database`) as a canonical frame.

    Read once per process for given sequences, devices and limits: on a
    sweep's small runs, creating the database and reading it back was two
    thirds of each run's time. Each call gets its own (shallow) copies, so a change one
    caller makes to a frame stays its own.

    Raises:
        SequenceDefinitionError: as :func:`seqsim.engine.schema.load_sequences`.
    """
    cached = _read_static(tuple(scenario.sequences), tuple(devices), _limits(scenario))
    return {name: frame.copy(deep=False) for name, frame in cached.items()}


def _run_polls(
    scenario: Scenario,
    processor: Processor,
    arrivals: pd.DataFrame,
    progress: bool | None,
    skip_idle: bool,
) -> tuple[int, pd.DataFrame]:
    """Run every poll; return how many were really run, and the timeline.

    Polls in an outage do not run (their timeline row says what waits, and what
    the devices sent meanwhile); the arrivals of an outage are enrolled by the
    first poll after it, which also applies the catch-up policy.
    """
    sim = scenario.simulation
    start, poll = sim.start, sim.poll_interval
    total = poll_count(sim.duration, poll)
    outages = Outages.for_run(scenario.policy, start, poll, total)
    bounds = arrival_bounds(arrivals["time"].to_numpy(), start, poll, total).tolist()
    batch = Arrivals(arrivals)
    stats: list[PollStats] = []
    event_poll = 0
    polls_run = 0
    lo = 0
    with VirtualClock(start) as clock, Progress(total, enabled=progress) as bar:
        for k in range(total):
            at = start + k * poll
            hi = bounds[k + 1]
            if k in outages.down:
                stats.append(processor.down(clock, at))
            elif skip_idle and k < event_poll and lo == hi and k not in outages.recovery:
                stats.append(processor.idle(at))
            else:
                stats.append(processor.poll(clock, at, batch, lo, hi,
                                            recovering=k in outages.recovery))
                lo = hi
                polls_run += 1
                event = processor.next_event()
                event_poll = (total if event is None
                              else first_poll_at_or_after(event - start, poll))
            if k % 256 == 255:
                bar.advance(256, stats[-1])
        bar.advance(total % 256, stats[-1] if stats else None)
    return polls_run, _timeline(stats)


def _timeline(stats: list[PollStats]) -> pd.DataFrame:
    """Return one row per poll as a DataFrame."""
    frame = pd.DataFrame.from_records(stats, columns=list(PollStats._fields))
    frame["time"] = frame["time"].astype("datetime64[us]")
    for col in PollStats._fields[1:]:
        frame[col] = frame[col].astype("int64")
    return frame[["time", "enrolled", "sent", "failed", "backlog", "active",
                  "completed_contacts", "skipped"]]
