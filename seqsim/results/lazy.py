"""A fresh run's contract frames, built on first access.

:func:`seqsim.simulate` computes a run's checks and summary from the tables
the engine returns (the compiled engine's working tables need no strings per
row, :class:`seqsim.engine.kernel_tables.KernelTables`), and leaves ``sends``
and ``contacts`` to be built when first read: on a million-contact run they
are most of the result's memory and much of its time, and a sweep, a
baseline check or a SQL question needs the summary alone. :class:`RunFrames`
is what a :class:`~seqsim.results.result.Result` reads them from, as a loaded
result reads its files (:class:`seqsim.results.stored.StoredRun`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from seqsim.engine.kernel_tables import KernelTables, paged
from seqsim.model.scenario import Scenario
from seqsim.pages import ordinary_pages
from seqsim.results.query import RunTables
from seqsim.results.sends import build_sends
from seqsim.results.waits import Waits

__all__ = ["RunFrames", "working_table"]


class RunFrames:
    """The contract frames of a run in memory: ``sends`` built from its tables,
    ``contacts`` its ``sequence_contacts`` table, ``timeline`` as given; each
    built on the first call of :meth:`frame` and kept. Pickles without them."""

    #: A run in memory has no database file: its SQL runs over its frames.
    query: RunTables | None = None

    def __init__(self, scenario: Scenario, tables: Mapping[str, pd.DataFrame],
                 timeline: pd.DataFrame, pairs: np.ndarray | None, waits: Waits | None) -> None:
        self._scenario = scenario
        self._tables = tables
        self._timeline = timeline
        self._pairs = pairs
        self._waits = waits
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    def frame(self, name: str) -> pd.DataFrame:
        """Return contract frame ``name`` (``sends``, ``contacts`` or ``timeline``)."""
        with self._lock:  # two threads asking at once build it once
            if name not in self._frames:
                # The frames' columns are fresh memory too; the records are read once.
                with ordinary_pages(), paged(self._tables):
                    self._frames[name] = self._build(name)
            return self._frames[name]

    def _build(self, name: str) -> pd.DataFrame:
        tables = self._tables
        if name == "timeline":
            return self._timeline
        if name == "contacts":
            return tables["sequence_contacts"]
        return build_sends(**self._send_inputs())

    def step_sends(self) -> pd.DataFrame:
        """Return what the step table reads of the send log: ``sends`` when it is
        built, else its columns :data:`~seqsim.results.sends.STEP_SEND_COLUMNS`
        (``build_sends(for_steps=True)``, not kept): the step table of a sweep's
        run then costs no strings per send."""
        with self._lock:
            built = self._frames.get("sends")
        if built is not None:
            return built
        with ordinary_pages(), paged(self._tables):
            return build_sends(**self._send_inputs(), for_steps=True)

    def _send_inputs(self) -> dict[str, Any]:
        """Return the arguments of both forms of the send log. They read the working
        tables (categoricals, views of the records): building the contract
        messages for the log took longer than the log itself, and its strings
        are made once, for the delivered sends."""
        tables = self._tables
        return {"messages": working_table(tables, "messages"),
                "sequences": tables["sequences"],
                "contacts": working_table(tables, "sequence_contacts"),
                "steps": tables["sequence_steps"], "pairs": self._pairs,
                "leads": working_table(tables, "leads") if "leads" in tables else None,
                "scenario": self._scenario, "waits": self._waits}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frames": {}, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())


def working_table(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame:
    """Return table ``name`` as a run's own computations read it: a compiled run's
    working table (no strings per row; see :meth:`KernelTables.working`), else the
    table itself."""
    if isinstance(tables, KernelTables):
        return tables.working(name)
    return tables[name]
