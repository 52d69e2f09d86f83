"""Sweeps: every grid point of scenario keys, times seeds, in one tidy frame.

>>> import seqsim
>>> base = seqsim.Scenario.from_toml("data/scenarios/backlog.toml")
>>> frame = seqsim.sweep(base, {"capacity.devices": [2, 3, 4]}, seeds=10)  # doctest: +SKIP
>>> seqsim.summarize(frame, metrics=["lateness_p95_s"])                    # doctest: +SKIP

The frame has one row per run, in grid order with seeds inside each point
(whatever order the runs finished in): ``run_id``, ``seed``, one column per
grid key (list values as tuples), every summary KPI
(:data:`seqsim.results.result.SUMMARY_KEYS`), the per-step KPIs
``step.<sequence>.<n>.<kpi>`` for the :data:`STEP_KPIS` of ``Result.steps``
(``n`` = the step's position, 1-based, so designs with other day numbers line up),
``wall_seconds`` (real seconds the run took) and ``error`` (None, or why that
run failed: its KPIs are then missing, and the sweep goes on).

Common random numbers: every grid point runs the same seeds, and a run draws
its arrivals from a stream of its own (`seqsim.run.simulate`), so at the same
seed every grid point enrols the same leads at the same instants, whatever the
sequences, capacity, policy or faults. What changes the arrivals is what they
are made of: the ``workload`` tables and the run's ``start``/``duration``
(its window); ``capacity.devices`` keeps the leads and their times but deals
them round robin over another number of devices. The sending draws (failures,
pacing) are keyed per message (:func:`seqsim.engine.rules.send_draw`: the
seed, the lead, how many messages it had queued before), so a lead's k-th
message draws alike at every grid point, whatever order the messages are
sent in: paired differences are less noisy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Executor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd

from seqsim.analysis.executors import open_executor, run_serialised
from seqsim.analysis.grid import PlannedRun, plan_sweep
from seqsim.analysis.journal import Journal
from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.results.result import SUMMARY_KEYS, Result
from seqsim.run.clock import real_seconds
from seqsim.run.progress import Progress
from seqsim.run.simulate import simulate

__all__ = ["RUN_COLUMNS", "STEP_KPIS", "step_kpis", "sweep"]

#: The frame's columns that are about the run, not its grid point or KPIs.
RUN_COLUMNS: tuple[str, ...] = ("run_id", "seed", "wall_seconds", "error")
#: Per-step KPIs (columns of `Result.steps`), as ``step.<sequence>.<position>.<kpi>`` columns.
STEP_KPIS: tuple[str, ...] = ("sent", "failed", "lateness_p50_s", "lateness_p95_s",
                              "lateness_max_s", "completion_p50_h", "completion_p95_h",
                              "completion_max_h", "waiting_at_end", "queued_at_end")


def step_kpis(result: Result) -> dict[str, Any]:
    """Return a run's per-step KPIs (:data:`STEP_KPIS` of ``result.steps``) as one flat dict.

    Keys are ``step.<sequence>.<position>.<kpi>`` with the step's 1-based
    position in its sequence, so designs with other day numbers line up; a
    KPI with nothing to measure (no send) is None.
    """
    steps = result.steps.sort_values(["sequence", "day_number"], kind="stable")
    position = steps.groupby("sequence", sort=False).cumcount() + 1
    out: dict[str, Any] = {}
    for (_, row), pos in zip(steps.iterrows(), position, strict=True):
        for kpi in STEP_KPIS:
            out[f"step.{row['sequence']}.{pos}.{kpi}"] = _json_value(row[kpi])
    return out


def _json_value(value: Any) -> Any:
    """Return a table cell as a JSON value: None for missing, numpy scalars as Python's."""
    if value is None or pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _execute(run: PlannedRun, save_to: str | None) -> dict[str, Any]:
    """Simulate one planned run; return its journal row (failures included, never raised)."""
    started = real_seconds()
    try:
        result = run_serialised(lambda: simulate(run.scenario, progress=False))
        kpis = {**result.summary, **step_kpis(result)}
        if save_to is not None:
            result.save(save_to)
        error = None
    except Exception as exc:  # one failing run is reported in its row, not fatal
        kpis, error = {}, _describe(exc)
    return {"run_id": run.run_id, "kpis": json.loads(json.dumps(kpis)),
            "wall_seconds": round(real_seconds() - started, 3), "error": error}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _finished(runs: list[PlannedRun], pool: Executor | None,
              journal: Journal | None, keep_results: bool) -> Iterator[dict[str, Any]]:
    """Yield each run's journal row as it finishes (in this process when ``pool`` is None)."""
    def target(run: PlannedRun) -> str | None:
        return str(journal.results_dir(run.run_id)) if keep_results and journal else None

    if pool is None:
        for run in runs:
            yield _execute(run, target(run))
        return
    futures = {pool.submit(_execute, run, target(run)): run for run in runs}
    try:
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # the executor lost the run (a worker died, say)
                yield {"run_id": futures[future].run_id, "kpis": {}, "wall_seconds": None,
                       "error": _describe(exc)}
    finally:
        for future in futures:
            future.cancel()


def _frame(runs: list[PlannedRun], rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Return the tidy frame of ``runs`` (plan order) from their journal rows."""
    records = []
    for run in runs:
        row = rows[run.run_id]
        kpis = {key: row["kpis"].get(key) for key in SUMMARY_KEYS}
        records.append({"run_id": run.run_id, "seed": run.seed, **dict(run.values), **kpis,
                        **{k: v for k, v in row["kpis"].items() if k not in kpis},
                        "wall_seconds": row["wall_seconds"], "error": row["error"]})
    frame = pd.DataFrame.from_records(records)
    head = ["run_id", "seed", *(key for key, _ in runs[0].values)]
    tail = ["wall_seconds", "error"]
    frame = frame[head + [c for c in frame.columns if c not in head + tail] + tail]
    grid = [key for key, _ in runs[0].values]
    for column in frame.columns:
        if column not in (*head, *tail) and frame[column].dtype == object:
            # A KPI that is None in some runs (nothing to measure) reads as NaN.
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    # Object, not str: a run that did not fail says None (a str column would say NaN).
    frame["error"] = pd.Series([r["error"] for r in records], index=frame.index, dtype=object)
    frame.attrs["grid"] = grid
    return frame


def sweep(
    base: Scenario,
    grid: dict[str, list[Any]],
    seeds: int | list[int] = 10,
    executor: Executor | None = None,
    out: str | Path | None = None,
    *,
    scheduler: Any = None,
    workers: int | None = None,
    progress: bool | None = None,
    keep_results: bool = False,
) -> pd.DataFrame:
    """Run every grid point of ``grid`` with every seed; return one row per run.

    Args:
        base: the scenario every run starts from.
        grid: dotted scenario keys (as in `Scenario.with_overrides`) to lists of
            values; the sweep runs their cartesian product.
        seeds: runs per grid point (seeds from the base's ``simulation.seed``
            on) or a list of seeds; the same at every point.
        executor: any `concurrent.futures.Executor` to submit runs to.
        out: a folder: each finished run is appended to ``runs.jsonl`` there,
            and a sweep into a folder that has runs skips the finished ones.
        scheduler: a Dask scheduler address (``"tcp://host:8786"``) or a
            ``dask.distributed.Client``: runs go to ``client.get_executor()``.
        workers: processes of the default local pool (default: the cores);
            1 runs everything in this process.
        progress: a bar over runs (real clock): None shows it after two
            seconds, True at once, False never.
        keep_results: also save each run's result directory under
            ``out/results/<run_id>/`` (on the machine that ran it).

    Returns:
        The frame described in :mod:`seqsim.analysis.sweep`, with
        ``frame.attrs["grid"]`` listing the grid keys.

    Raises:
        ScenarioError: a bad grid or seeds (before any run), a bad progress or
            keep_results without out.
        SeqsimError: a bad executor/scheduler/workers, or more than one of them.
        OutputError: ``out`` cannot be written.
    """
    runs = plan_sweep(base, grid, seeds)
    if progress not in (None, True, False):
        raise ScenarioError(f"progress: {progress!r} is not valid; expected None, True or False")
    if keep_results and out is None:
        raise ScenarioError("keep_results: True is not valid without out; expected out=FOLDER")
    rows: dict[str, dict[str, Any]] = {}
    with open_executor(executor, scheduler, workers, len(runs)) as pool:
        journal = Journal(out) if out is not None else None
        try:
            rows.update(journal.done if journal else {})
            todo = [run for run in runs if run.run_id not in rows]
            with Progress(len(runs), enabled=progress, unit="run", unit_scale=False) as bar:
                bar.advance(len(runs) - len(todo))
                for row in _finished(todo, pool, journal, keep_results):
                    rows[row["run_id"]] = row
                    if journal is not None:
                        journal.add(row)
                    bar.advance(1)
        finally:
            if journal is not None:
                journal.close()
    return _frame(runs, rows)
