"""A run split by device into shards, each run on an executor, merged into one result.

Contacts interact only through their device and the poll's global
``batch_size``: a shard is a group of devices with the leads assigned to
them (device ``i`` goes to shard ``i % shards``; a lead to its first
arrival's device), run by the compiled engine on its own (in another process
or on a Dask worker), and the shards' tables are merged into the tables the
single run would have built:

- rows of every table are concatenated; each ``sent``, ``failed``, ``backlog``...
  of the timeline is the sum over shards;
- messages get the single run's ids: it numbers them in the order it queued
  them, poll by poll in production's ``ORDER BY`` (due time, sequence, phone,
  step), so sorting on ``(queued_at, due_at, sequence_id, contact_phone,
  day_number)`` gives that order;
- ``sequence_contacts`` rows get the single run's ids: it numbers a row when it
  creates it, at ``created_at``: an arrival's enrolment rows (arrival order) in
  the poll before the completions at that instant, and each completion's row
  in the order of the message that completed its parent row (the kernel
  records each row's cause: ``cause``); after an outage, the ``skip_stale``
  catch-up's rows come first, round by round, in production's order of the
  rows it skipped.

The merge is exact when no poll's selection was cut by ``batch_size`` in the
single run: the shards' rows taking batch slots at a poll (queued, or skipped
because their device was full) must sum to at most ``batch_size``. The merge
checks that at every poll and otherwise raises one error naming the first
poll (or, asked to, keeps the result and marks it approximate in
``info["shards"]``). The sending draws are keyed by lead
(:func:`seqsim.engine.rules.send_draw`), so a shard draws what the
single run draws for its leads.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from typing import NamedTuple

import numpy as np
import pandas as pd

from seqsim.engine import registry
from seqsim.engine.poll import LEAD_KEY, lead_keys
from seqsim.engine.wait_log import WaitLog
from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.pages import ordinary_pages
from seqsim.run.engines import Ran, run_arrivals, run_engine
from seqsim.run.progress import Progress

__all__ = ["ShardRun", "check_shards", "run_shard", "run_shards", "split_arrivals"]


class ShardRun(NamedTuple):
    """What one shard returns to the merge (picklable: it crosses processes)."""

    devices: list[str]  # the shard's devices, in the fleet's order
    positions: np.ndarray  # per shard arrival, its index in the run's arrivals
    tables: dict[str, pd.DataFrame]
    timeline: pd.DataFrame
    waits: WaitLog
    causes: np.ndarray  # per sequence_contacts row (the kernel rows' ``cause``)
    polls_run: int
    compile_seconds: float
    kernel_seconds: float


def check_shards(shards: object, executor: object, engine: registry.Engine,
                 scenario: Scenario) -> int:
    """Return ``shards`` as an int once the run can be sharded.

    Raises:
        ScenarioError: ``shards`` is not an integer >= 1, ``executor`` is not a
            ``concurrent.futures.Executor``, the engine is not compiled, or the
            scenario engages ``[faults]`` (their draws are per claim, not per lead).
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ScenarioError(f"shards: {shards!r} is not valid; expected an integer >= 1 "
                            "(or None for one unsharded run)")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise ScenarioError(
            f"executor: {type(executor).__name__} is not valid; expected a "
            "concurrent.futures.Executor (a ProcessPoolExecutor, or "
            "dask.distributed.Client(...).get_executor()) or None for a local process pool")
    if engine.run is None:
        raise ScenarioError(f"shards: {shards!r} is not valid with engine {engine.name!r}; "
                            "expected engine = \"batch\" (the compiled engine runs shards)")
    faults = registry.engaged_faults(scenario.faults)
    if faults:
        raise ScenarioError(f"faults.{faults[0]}: is not valid with shards = {shards}; "
                            "expected a run without [faults] (or shards = None)")
    return shards


def split_arrivals(arrivals: pd.DataFrame, devices: list[str], shards: int,
                   shard: int) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """Return shard ``shard``'s devices, its arrivals and their indexes in ``arrivals``.

    Device ``i`` of the fleet goes to shard ``i % shards``; every arrival of a
    lead goes where its first arrival's device went (an unknown device: shard 0).
    The shard's arrivals keep the whole run's lead keys (their ``LEAD_KEY``
    column), so they draw what the whole run draws.
    """
    keys = lead_keys(arrivals)  # one per lead: its first arrival decides its shard
    _, first, lead = np.unique(keys, return_index=True, return_inverse=True)
    group_of = {d: i % shards for i, d in enumerate(devices)}
    lead_group = np.array([group_of.get(d, 0) for d in
                           arrivals["device_id"].to_numpy(dtype=object)[first]], dtype=np.int64)
    group = lead_group[lead] if len(keys) else np.zeros(0, dtype=np.int64)
    positions = np.flatnonzero(group == shard)
    part = arrivals.iloc[positions].reset_index(drop=True)
    part[LEAD_KEY] = keys[positions]
    return [d for i, d in enumerate(devices) if i % shards == shard], part, positions


def run_shard(scenario: Scenario, engine: str, shards: int, shard: int,
              skip_idle: bool) -> ShardRun:
    """Run shard ``shard`` of ``shards``: its devices and their leads; return it.

    The shard draws the whole run's arrivals itself (a fraction of a run's
    time) and keeps its own, so nothing but the scenario travels to a worker.
    """
    with ordinary_pages():  # a worker process: simulate's context is not there
        world, arrivals = run_arrivals(scenario)
        devices, part, positions = split_arrivals(arrivals.frame(), world, shards, shard)
        del arrivals
        ran: Ran = run_engine(registry.get(engine), scenario, devices, part, False, skip_idle)
    assert ran.causes is not None  # a compiled engine (check_shards)
    return ShardRun(devices, positions, ran.tables, ran.timeline, ran.waits, ran.causes,
                    ran.polls_run, ran.compile_seconds, ran.kernel_seconds)


def run_shards(scenario: Scenario, engine: registry.Engine, shards: int,
               executor: cf.Executor | None, progress: bool | None,
               skip_idle: bool) -> list[ShardRun]:
    """Return the ``shards`` shards of the run, run on ``executor`` (default: a
    local process pool, one worker per shard up to the CPU count), in shard
    order; the bar counts shards done."""
    own = executor is None
    # spawn: a forked child would inherit DuckDB's and tqdm's threads mid-flight.
    pool = cf.ProcessPoolExecutor(min(shards, os.cpu_count() or 1),
                                  mp_context=multiprocessing.get_context("spawn")) if own \
        else executor
    try:
        futures = [pool.submit(run_shard, scenario, engine.name, shards, g, skip_idle)
                   for g in range(shards)]
        with Progress(len(futures), enabled=progress, unit="shard") as bar:
            for _ in cf.as_completed(futures):
                bar.advance(1)
        return [f.result() for f in futures]
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
