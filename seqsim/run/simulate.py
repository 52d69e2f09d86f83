"""The discrete-time loop: polls every ``poll_interval`` under the virtual clock.

`simulate` builds the world a scenario describes (sequences, devices, the
arrivals of every workload), then runs the production processor poll by poll
from ``start`` for ``duration``. Polls where nothing can happen (no arrival,
nothing due, nothing in flight) are skipped by jumping the clock to the next
poll where something can; the timeline still has a row for every poll, and
the tables are identical to a run that skips nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

from seqsim.engine import registry, schema
from seqsim.engine.poll import Arrivals, PollStats, Processor, arrival_bounds
from seqsim.engine.rules import Outages, first_poll_at_or_after
from seqsim.engine.wait_log import WaitLog
from seqsim.errors import ScenarioError
from seqsim.model.arrivals import generate_arrivals
from seqsim.model.capacity import device_ids
from seqsim.model.scenario import Scenario
from seqsim.results.build import build_result
from seqsim.results.result import Result
from seqsim.results.waits import Waits
from seqsim.run.clock import VirtualClock, real_seconds
from seqsim.run.progress import Progress

__all__ = ["simulate"]


def _arrivals_rng(seed: int) -> np.random.Generator:
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


def simulate(
    scenario: Scenario,
    engine: str | None = None,
    progress: bool | None = None,
    *,
    skip_idle: bool = True,
) -> Result:
    """Run a scenario and return its :class:`~seqsim.Result`.

    Args:
        scenario: what to simulate.
        engine: ``"row"`` (the literal per-row engine) or another name in
            :data:`seqsim.engine.registry.ENGINES`; default: the scenario's.
        progress: show a progress bar: None (default) shows one only when a
            run lasts more than two real seconds, True always, False never.
        skip_idle: jump over polls where nothing can happen (results are
            identical either way; False exists to prove it).

    Raises:
        ScenarioError: an unknown engine, a scenario that is not a Scenario, or
            one with ``[faults]`` for an engine that does not run them.
    """
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario: {type(scenario).__name__} is not valid; expected a seqsim.Scenario "
            "(load one with Scenario.from_toml)"
        )
    chosen = registry.get(scenario.simulation.engine if engine is None else engine)
    registry.refuse_unsupported(chosen, scenario)
    if progress not in (None, True, False):
        raise ScenarioError(f"progress: {progress!r} is not valid; expected None, True or False")
    wall_start = real_seconds()
    sim = scenario.simulation
    arrivals_rng = _arrivals_rng(sim.seed)
    devices = device_ids(scenario.capacity.devices)
    arrivals = generate_arrivals(scenario.workload, sim.start, sim.end, len(devices), arrivals_rng)
    ran = _run_engine(chosen, scenario, devices, arrivals, progress, skip_idle)
    del arrivals  # the tables hold the leads now; free it before the result's peak
    info = {
        "engine": chosen.name,
        "compiled": ran.compiled,
        "polls": _poll_count(sim.duration, sim.poll_interval),
        "polls_run": ran.polls_run,
        # The one-off compile of a fresh install is not part of the run's time.
        "compile_seconds": round(ran.compile_seconds, 3),
        "kernel_seconds": round(ran.kernel_seconds, 3),
        "wall_seconds": round(real_seconds() - wall_start - ran.compile_seconds, 3),
    }
    return build_result(scenario, ran.tables, ran.timeline, info, pairs=ran.pairs,
                        waits=Waits(devices, ran.waits))


class _Ran(NamedTuple):
    """What an engine's run returns to :func:`simulate`."""

    polls_run: int
    tables: dict[str, pd.DataFrame]
    timeline: pd.DataFrame
    pairs: np.ndarray | None  # the contacts' pair codes, when the engine knows them
    compiled: bool  # the whole run was compiled (the engine's ``run``), not polled
    compile_seconds: float  # spent compiling the engine first (0: it was cached)
    kernel_seconds: float  # spent in compiled polls (0: not compiled)
    waits: WaitLog  # what the lateness attribution needs besides the tables


def _run_engine(
    engine: registry.Engine,
    scenario: Scenario,
    devices: list[str],
    arrivals: pd.DataFrame,
    progress: bool | None,
    skip_idle: bool,
) -> _Ran:
    """Run the engine on a database holding the scenario's static tables; return
    how many polls really ran, the tables, the timeline and how it ran."""
    con = schema.connect()
    try:
        schema.load_sequences(con, scenario.sequences)
        cap = scenario.capacity
        schema.add_devices(con, devices, hourly_limit=cap.hourly_limit,
                           daily_limit=cap.daily_limit, in_flight_limit=cap.in_flight_limit)
        if engine.run is not None:
            static = schema.read_tables(con)
            with Progress(_poll_count(scenario.simulation.duration,
                                      scenario.simulation.poll_interval),
                          enabled=progress) as bar:
                whole = engine.run(scenario, static, devices, arrivals, bar.advance,
                                   skip_idle=skip_idle)
            return _Ran(whole.polls_run, whole.tables, whole.timeline, whole.pairs, True,
                        whole.compile_seconds or 0.0, whole.kernel_seconds, whole.waits)
        assert engine.processor is not None  # an engine has a processor or a run
        processor = engine.processor(con, scenario, devices)
        polls_run, timeline = _run_polls(scenario, processor, arrivals, progress, skip_idle)
        return _Ran(polls_run, processor.tables(), timeline, None, False, 0.0, 0.0,
                    processor.wait_log())
    finally:
        con.close()


def _poll_count(duration: timedelta, poll: timedelta) -> int:
    return first_poll_at_or_after(duration, poll)


def _run_polls(
    scenario: Scenario,
    processor: Processor,
    arrivals: pd.DataFrame,
    progress: bool | None,
    skip_idle: bool,
) -> tuple[int, pd.DataFrame]:
    """Run every poll; return how many were really run, and the timeline.

    Polls in an outage do not run (their timeline row says what waits); the
    arrivals of an outage are enrolled by the first poll after it, which also
    applies the catch-up policy.
    """
    sim = scenario.simulation
    start, poll = sim.start, sim.poll_interval
    total = _poll_count(sim.duration, poll)
    outages = Outages.for_run(scenario.policy, start, poll, total)
    bounds = arrival_bounds(arrivals, start, poll, total).tolist()
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
                stats.append(processor.down(at))
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
