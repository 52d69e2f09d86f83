"""The engine registry: every engine a scenario or ``simulate(engine=...)`` may name.

Nothing else chooses an engine: the run loop asks :func:`get` for the
scenario's engine and drives what it returns. An engine is a processor (the
production poll, see :class:`seqsim.engine.poll.Processor`) and, optionally,
a closed form that computes a whole run without polling when the scenario
allows it (returning None otherwise). Engines differ in how they store state,
never in what they decide: every one calls :mod:`seqsim.engine.rules`, and
every one must produce the per-row engine's tables (property-tested).
An engine runs the ``[faults]`` keys it lists (``runs_faults``): the per-row
engine every one, the compiled engine those that act on one message at a time
(:data:`ONE_MESSAGE_FAULTS`). :func:`refuse_unsupported` refuses a scenario
that sets any other with one clear error naming the key and the engine that
runs it.

The names are the model's :data:`seqsim.model.scenario.ENGINE_NAMES` (the
vocabulary a scenario file is validated against); this registry gives each
one its implementation, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Protocol

import duckdb
import pandas as pd

from seqsim.engine.kernel_run import KernelRun, run_kernel
from seqsim.engine.poll import Processor
from seqsim.engine.row_faults import FaultyRowProcessor
from seqsim.engine.row_processor import RowProcessor
from seqsim.errors import ScenarioError
from seqsim.model.faults import FaultsConfig, faults_table
from seqsim.model.scenario import ENGINE_NAMES, Scenario
from seqsim.validation import quoted

__all__ = ["ENGINES", "ONE_MESSAGE_FAULTS", "Engine", "engaged_faults", "get",
           "refuse_unsupported"]

ProcessorFactory = Callable[[duckdb.DuckDBPyConnection, Scenario, list[str]], Processor]


class WholeRun(Protocol):
    """Computes a whole run at once (see :func:`seqsim.engine.kernel_run.run_kernel`)."""

    def __call__(self, scenario: Scenario, static: dict[str, pd.DataFrame], devices: list[str],
                 arrivals: pd.DataFrame, advance: Callable[[int], None] | None = None, *,
                 skip_idle: bool = True) -> KernelRun: ...


@dataclass(frozen=True)
class Engine:
    """One engine: its name, what it is, and how to run it.

    ``processor(con, scenario, device_ids)`` returns the object
    that runs the polls one call at a time; ``run``, when given, computes a
    whole run at once instead (telling ``advance(n)`` as polls are done).
    ``runs_faults``: the ``[faults]`` keys (`FaultsConfig` field names) it
    runs; a scenario that engages any other is refused
    (:func:`refuse_unsupported`).
    """

    name: str
    summary: str
    processor: ProcessorFactory | None
    run: WholeRun | None = None
    runs_faults: frozenset[str] = frozenset()


#: The faults that act on one message at a time, which need no interleaving of two
#: workers' statements: the compiled engine runs them. ``claiming`` is among them
#: because with one poller (``pollers = 2`` is refused first) a row is only ever
#: selected unclaimed, so the unconditional claim claims exactly what the
#: conditional one does. Not ``duplicate_guard``: without the unique key even one
#: poller inserts a second entry row when a chain enters a sequence the lead is in.
ONE_MESSAGE_FAULTS = frozenset({"claiming", "crash_between_statements", "atomic_advance",
                                "stuck_claims", "claim_timeout", "device_offline",
                                "db_clock_offset"})
_ALL_FAULTS = frozenset(f.name for f in fields(FaultsConfig))


def engaged_faults(faults: FaultsConfig) -> list[str]:
    """Return the ``[faults]`` keys that change what a run does, in field order: the
    keys set to other than their default, less ``poller_offsets`` when every
    offset is zero (the poll instant itself)."""
    return [name for name in faults.active
            if name != "poller_offsets" or any(faults.poller_offsets)]


def _row_processor(con: duckdb.DuckDBPyConnection, scenario: Scenario,
                   devices: list[str]) -> Processor:
    """Return the per-row processor: the faulty one when the scenario sets ``[faults]``."""
    if scenario.faults.active:
        return FaultyRowProcessor(con, scenario, devices)
    return RowProcessor(con, scenario, devices)


#: Every engine, by name, in :data:`~seqsim.model.scenario.ENGINE_NAMES` order.
ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        Engine("row", "the reference: literal per-row SQL on DuckDB, as production ran it",
               _row_processor, runs_faults=_ALL_FAULTS),
        Engine("batch", "the same rules compiled (numba) over integer arrays, every poll "
               "of a run in one pass, tables built at array speed", None, run_kernel,
               runs_faults=ONE_MESSAGE_FAULTS),
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
        ScenarioError: the scenario engages a ``[faults]`` key the engine does
            not run (naming the first such key, its value and the engines that
            run it).
    """
    refused = [name for name in engaged_faults(scenario.faults)
               if name not in engine.runs_faults]
    if refused:
        name = refused[0]
        shown = faults_table(scenario.faults)[name]
        runs = " or ".join(f'engine = "{e.name}"' for e in ENGINES.values()
                           if name in e.runs_faults)
        raise ScenarioError(
            f"faults.{name}: {shown!r} is not valid with engine {engine.name!r}, which does not "
            f"run it; expected {runs}, which runs it"
        )
