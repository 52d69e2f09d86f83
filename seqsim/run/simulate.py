"""Running a scenario: :func:`simulate`.

`simulate` builds the world a scenario describes (sequences, devices, the
arrivals of every workload), runs the chosen engine on it from ``start`` for
``duration`` (:mod:`seqsim.run.engines`), in this process or split by device
into shards run on an executor and merged (:mod:`seqsim.run.shards`), and
builds the :class:`~seqsim.Result` from the tables.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import pyarrow as pa

from seqsim.engine import registry
from seqsim.engine.kernel_cache import warm_up_results
from seqsim.errors import ScenarioError
from seqsim.model.capacity import device_ids
from seqsim.model.scenario import Scenario
from seqsim.model.size import poll_count
from seqsim.pages import give_back, ordinary_pages
from seqsim.results.build import build_result
from seqsim.results.result import Result
from seqsim.results.waits import Waits
from seqsim.run.clock import real_seconds
from seqsim.run.engines import Ran, run_arrivals, run_engine
from seqsim.run.shard_merge import merge_shards
from seqsim.run.shards import check_shards, run_shards
from seqsim.spill import records_dir

__all__ = ["simulate"]


def simulate(
    scenario: Scenario,
    engine: str | None = None,
    progress: bool | None = None,
    *,
    skip_idle: bool = True,
    shards: int | None = None,
    executor: cf.Executor | None = None,
    approximate: bool = False,
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
        shards: split the devices into this many groups, run each on
            ``executor`` and merge them (:mod:`seqsim.run.shards`): the same
            tables as one run when no poll's ``batch_size`` binds. None
            (default): one run in this process.
        executor: where shards run: any ``concurrent.futures.Executor``
            (``dask.distributed.Client(address).get_executor()`` for a
            cluster); default a local process pool.
        approximate: with ``shards``, keep a result whose batch limit bound at
            some poll (so it may differ from one run), marked in
            ``info["shards"]``, instead of raising.

    Raises:
        ScenarioError: an unknown engine, a scenario that is not a Scenario, or
            one with ``[faults]`` for an engine that does not run them; with
            ``shards``, one the shards cannot run or, unless ``approximate``, a
            poll whose batch limit bound.
        OutputError: ``SEQSIM_RECORDS_DIR`` names no directory seqsim may write in
            (see :mod:`seqsim.spill`).
    """
    if not isinstance(scenario, Scenario):
        raise ScenarioError(
            f"scenario: {type(scenario).__name__} is not valid; expected a seqsim.Scenario "
            "(load one with Scenario.from_toml)"
        )
    chosen = registry.get(scenario.simulation.engine if engine is None else engine)
    registry.refuse_unsupported(chosen, scenario)
    records_dir()  # a bad SEQSIM_RECORDS_DIR is refused now, not when a big run needs it
    if progress not in (None, True, False):
        raise ScenarioError(f"progress: {progress!r} is not valid; expected None, True or False")
    if shards is not None:
        shards = check_shards(shards, executor, chosen, scenario)
    elif executor is not None:
        raise ScenarioError("executor: is not valid without shards; expected shards = N "
                            "(or no executor)")
    with ordinary_pages():
        return _simulate(scenario, chosen, progress, skip_idle, shards, executor, approximate)


def _simulate(scenario: Scenario, chosen: registry.Engine, progress: bool | None,
              skip_idle: bool, shards: int | None, executor: cf.Executor | None,
              approximate: bool) -> Result:
    """Return the :class:`Result` of a checked :func:`simulate` call."""
    wall_start = real_seconds()
    sim = scenario.simulation
    if shards is None:
        devices, arrivals = run_arrivals(scenario)
        ran = run_engine(chosen, scenario, devices, arrivals, progress, skip_idle)
        del arrivals  # the tables hold the leads now; free it before the result's peak
        # Arrow's allocator keeps the pages of the arrivals' strings for reuse
        # (about 80 MB on a million leads): give them back to the system.
        pa.default_memory_pool().release_unused()
        give_back()  # and the C heap's, freed by the polls and the engine's last passes
        extra: dict[str, Any] = {}
    else:
        devices = device_ids(scenario.capacity.devices)
        ran, extra = _sharded(scenario, chosen, devices, shards, executor, progress, skip_idle,
                              approximate)
    info = {
        "engine": chosen.name,
        "compiled": ran.compiled,
        "polls": poll_count(sim.duration, sim.poll_interval),
        "polls_run": ran.polls_run,
        # The one-off compile of a fresh install is not part of the run's time.
        "compile_seconds": round(ran.compile_seconds, 3),
        "kernel_seconds": round(ran.kernel_seconds, 3),
        "wall_seconds": None,  # set once the summary is built; frames are built when read
        **extra,
    }
    result = build_result(scenario, ran.tables, ran.timeline, info, pairs=ran.pairs,
                          waits=Waits(devices, ran.waits))
    # An existing key: assigning it keeps its place among info's keys.
    result.info["wall_seconds"] = round(real_seconds() - wall_start - ran.compile_seconds, 3)
    return result


def _sharded(scenario: Scenario, engine: registry.Engine, devices: list[str], shards: int,
             executor: cf.Executor | None, progress: bool | None, skip_idle: bool,
             approximate: bool) -> tuple[Ran, dict[str, Any]]:
    """Return the merged run of ``shards`` shards as one engine's run, and what
    ``info["shards"]`` says of it."""
    parts = run_shards(scenario, engine, shards, executor, progress, skip_idle)
    # The shards compiled the result passes in their processes; this one loads them.
    compile_seconds = max(p.compile_seconds for p in parts) + (warm_up_results() or 0.0)
    merged, over = merge_shards(parts, devices, scenario.capacity.batch_size,
                                approximate=approximate)
    about: dict[str, Any] = {"count": shards, "exact": over is None}
    if over is not None:
        about["batch_bound_at_poll"], about["batch_slots"] = over
    ran = Ran(max(p.polls_run for p in parts), merged.tables, merged.timeline, None, True,
              compile_seconds, sum(p.kernel_seconds for p in parts),
              merged.waits, None)
    return ran, {"shards": about}
