"""The discrete-time loop: polls every ``poll_interval`` under the virtual clock.

`simulate` builds the world a scenario describes (sequences, devices, the
arrivals of every workload), then runs the production processor poll by poll
from ``start`` for ``duration``. Polls where nothing can happen (no arrival,
nothing due, nothing in flight) are skipped by jumping the clock to the next
poll where something can; the timeline still has a row for every poll, and
the tables are identical to a run that skips nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from seqsim import schema
from seqsim.capacity import Fleet
from seqsim.clock import VirtualClock, real_seconds
from seqsim.engine import ENGINES
from seqsim.errors import ScenarioError
from seqsim.processor import PollStats, RowProcessor
from seqsim.progress import Progress
from seqsim.results import Result, build_result
from seqsim.scenario import Scenario
from seqsim.workload import device_ids, generate_arrivals

__all__ = ["simulate"]


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Return the run's generators: arrivals, and sending (failures, pacing).

    Both come from the one seed; separate streams keep arrivals identical
    when only capacity or policy changes between two runs.
    """
    arrivals, sending = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(arrivals), np.random.default_rng(sending)


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
            :data:`seqsim.engine.ENGINES`; default: the scenario's.
        progress: show a progress bar: None (default) shows one only when a
            run lasts more than two real seconds, True always, False never.
        skip_idle: jump over polls where nothing can happen (results are
            identical either way; False exists to prove it).

    Raises:
        ScenarioError: an unknown engine or a scenario that is not a Scenario.
    """
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario: {type(scenario).__name__} is not valid; expected a seqsim.Scenario "
            "(load one with Scenario.from_toml)"
        )
    name = scenario.simulation.engine if engine is None else engine
    if name not in ENGINES:
        raise ScenarioError(
            f"engine: {name!r} is not valid; expected one of {', '.join(map(repr, ENGINES))}"
        )
    if progress not in (None, True, False):
        raise ScenarioError(f"progress: {progress!r} is not valid; expected None, True or False")
    wall_start = real_seconds()
    sim = scenario.simulation
    arrivals_rng, send_rng = _rngs(sim.seed)
    devices = device_ids(scenario.capacity.devices)
    arrivals = generate_arrivals(scenario.workload, sim.start, sim.end, len(devices), arrivals_rng)

    con = schema.connect()
    try:
        schema.load_sequences(con, scenario.sequences)
        cap = scenario.capacity
        schema.add_devices(con, devices, hourly_limit=cap.hourly_limit,
                           daily_limit=cap.daily_limit, in_flight_limit=cap.in_flight_limit)
        fleet = Fleet(devices, hourly_limit=cap.hourly_limit, daily_limit=cap.daily_limit,
                      in_flight_limit=cap.in_flight_limit)
        processor = RowProcessor(con, scenario, fleet, send_rng)
        stats, polls_run = _run_polls(scenario, processor, arrivals, progress, skip_idle)
        tables = schema.read_tables(con)
    finally:
        con.close()
    info = {
        "engine": name,
        "polls": _poll_count(sim.duration, sim.poll_interval),
        "polls_run": polls_run,
        "wall_seconds": round(real_seconds() - wall_start, 3),
    }
    return build_result(scenario, tables, _timeline(scenario, stats), info)


def _poll_count(duration: timedelta, poll: timedelta) -> int:
    return -(-duration // poll)


def _run_polls(
    scenario: Scenario,
    processor: RowProcessor,
    arrivals: pd.DataFrame,
    progress: bool | None,
    skip_idle: bool,
) -> tuple[list[PollStats], int]:
    sim = scenario.simulation
    start, poll = sim.start, sim.poll_interval
    total = _poll_count(sim.duration, poll)
    arrival_times = arrivals["time"].to_numpy()
    next_arrival = 0
    stats: list[PollStats] = []
    k = 0
    with VirtualClock(start) as clock, Progress(total, enabled=progress) as bar:
        while k < total:
            at = start + k * poll
            upto = int(np.searchsorted(arrival_times, np.datetime64(at, "us"), side="right"))
            stats.append(processor.poll(clock, at, arrivals.iloc[next_arrival:upto]))
            next_arrival = upto
            step = 1
            if skip_idle:
                nxt = _next_event(processor, arrival_times, next_arrival)
                step = total - k if nxt is None else max(1, -(-(nxt - start) // poll) - k)
            k += step
            bar.advance(step, stats[-1])
    return stats, len(stats)


def _next_event(
    processor: RowProcessor, arrival_times: np.ndarray, next_arrival: int
) -> datetime | None:
    event = processor.next_event()
    if next_arrival < len(arrival_times):
        arrival = pd.Timestamp(arrival_times[next_arrival]).to_pydatetime()
        event = arrival if event is None else min(event, arrival)
    return event


def _timeline(scenario: Scenario, stats: list[PollStats]) -> pd.DataFrame:
    """Return one row per poll, filling the skipped (idle) polls."""
    sim = scenario.simulation
    total = _poll_count(sim.duration, sim.poll_interval)
    grid = pd.date_range(sim.start, periods=total, freq=sim.poll_interval, unit="us")
    frame = pd.DataFrame([s.__dict__ for s in stats])
    columns = ["time", "enrolled", "sent", "failed", "skipped", "backlog", "active",
               "completed_contacts"]
    if frame.empty:
        frame = pd.DataFrame(columns=columns)
    frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[us]")
    frame = frame.set_index("time").reindex(grid)
    # Idle polls: nothing arrived, was due or was sent; state carries over.
    flows = ["enrolled", "sent", "failed", "skipped", "backlog"]
    frame[flows] = frame[flows].fillna(0)
    frame[["active", "completed_contacts"]] = frame[["active", "completed_contacts"]].ffill()
    frame = frame.fillna(0).astype("int64")
    frame.index.name = "time"
    return frame.reset_index()[columns]
