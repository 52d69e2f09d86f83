"""The engine registry: every engine a scenario or ``simulate(engine=...)`` may name.

Nothing else chooses an engine: the run loop asks :func:`get` for the
scenario's engine and drives what it returns. An engine is a processor (the
production poll, see :class:`seqsim.engine.poll.Processor`) and, optionally,
a closed form that computes a whole run without polling when the scenario
allows it (returning None otherwise). Engines differ in how they store state,
never in what they decide: every one calls :mod:`seqsim.engine.rules`, and
every one must produce the per-row engine's tables (property-tested).
Only an engine that says so (``runs_faults``) runs a scenario with ``[faults]``:
:func:`refuse_unsupported` refuses the others with one clear error.

The names are the model's :data:`seqsim.model.scenario.ENGINE_NAMES` (the
vocabulary a scenario file is validated against); this registry gives each
one its implementation, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd

from seqsim.engine.kernel_run import KernelRun, run_kernel
from seqsim.engine.poll import Processor
from seqsim.engine.row_faults import FaultyRowProcessor
from seqsim.engine.row_processor import RowProcessor
from seqsim.errors import ScenarioError
from seqsim.model.faults import faults_table
from seqsim.model.scenario import ENGINE_NAMES, Scenario
from seqsim.validation import quoted

__all__ = ["ENGINES", "Engine", "get", "refuse_unsupported"]

ProcessorFactory = Callable[
    [duckdb.DuckDBPyConnection, Scenario, list[str], np.random.Generator], Processor
]


class WholeRun(Protocol):
    """Computes a whole run at once (see :func:`seqsim.engine.kernel_run.run_kernel`)."""

    def __call__(self, scenario: Scenario, static: dict[str, pd.DataFrame], devices: list[str],
                 arrivals: pd.DataFrame, rng: np.random.Generator,
                 advance: Callable[[int], None] | None = None, *,
                 skip_idle: bool = True) -> KernelRun: ...


@dataclass(frozen=True)
class Engine:
    """One engine: its name, what it is, and how to run it.

    ``processor(con, scenario, device_ids, sending_rng)`` returns the object
    that runs the polls one call at a time; ``run``, when given, computes a
    whole run at once instead (telling ``advance(n)`` as polls are done).
    ``runs_faults``: it runs scenarios with ``[faults]`` (its processor
    factory then chooses the faulty processor).
    """

    name: str
    summary: str
    processor: ProcessorFactory | None
    run: WholeRun | None = None
    runs_faults: bool = False


def _row_processor(con: duckdb.DuckDBPyConnection, scenario: Scenario, devices: list[str],
                   rng: np.random.Generator) -> Processor:
    """Return the per-row processor: the faulty one when the scenario sets ``[faults]``."""
    if scenario.faults.active:
        return FaultyRowProcessor(con, scenario, devices, rng)
    return RowProcessor(con, scenario, devices, rng)


#: Every engine, by name, in :data:`~seqsim.model.scenario.ENGINE_NAMES` order.
ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        Engine("row", "the reference: literal per-row SQL on DuckDB, as production ran it",
               _row_processor, runs_faults=True),
        Engine("batch", "the same rules compiled (numba) over integer arrays, every poll "
               "of a run in one pass, tables built at array speed", None, run_kernel),
    )
}
if tuple(ENGINES) != ENGINE_NAMES:  # pragma: no cover - a programming error, caught by tests
    raise RuntimeError(f"engine registry {tuple(ENGINES)} != model ENGINE_NAMES {ENGINE_NAMES}")


def get(name: str) -> Engine:
    """Return the engine called ``name``.

    Raises:
        ScenarioError: no engine has that name (naming the valid ones).
    """
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise ScenarioError(
            f"engine: {name!r} is not valid; expected one of {quoted(ENGINE_NAMES)}"
        ) from None


def refuse_unsupported(engine: Engine, scenario: Scenario) -> None:
    """Check that ``engine`` can run ``scenario``.

    Raises:
        ScenarioError: the scenario sets ``[faults]`` and the engine does not
            run them (naming the first fault set and the engine that does).
    """
    active = scenario.faults.active
    if active and not engine.runs_faults:
        name = active[0]
        shown = faults_table(scenario.faults)[name]
        runs = " or ".join(f'engine = "{e.name}"' for e in ENGINES.values() if e.runs_faults)
        raise ScenarioError(
            f"faults.{name}: {shown!r} is not valid with engine {engine.name!r}, which does not "
            f"run [faults]; expected no [faults] table, or {runs}, which runs it"
        )
