"""Assemble a finished run's :class:`~seqsim.results.result.Result` from its tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from seqsim.beside import Beside
from seqsim.checks.contacts import ContactChecks, check_contacts
from seqsim.checks.faults import split_fault_effects
from seqsim.engine.kernel_tables import paged
from seqsim.engine.schema import contact_pair_codes
from seqsim.model.scenario import Scenario
from seqsim.pages import give_back
from seqsim.results.lazy import RunFrames, working_table
from seqsim.results.result import Result
from seqsim.results.sends import send_figures
from seqsim.results.summary import build_summary
from seqsim.results.waits import Waits

__all__ = ["build_result"]


def build_result(
    scenario: Scenario,
    tables: Mapping[str, pd.DataFrame],
    timeline: pd.DataFrame,
    info: dict[str, Any],
    *,
    pairs: np.ndarray | None = None,
    waits: Waits | None = None,
) -> Result:
    """Assemble a :class:`Result` from a finished run's tables and timeline.

    The checks and the summary are computed here; ``sends`` and ``contacts``
    (and a compiled run's tables) are built on first access
    (:class:`~seqsim.results.lazy.RunFrames`). ``pairs``: the contacts'
    :func:`seqsim.engine.schema.contact_pair_codes`, when the engine already
    knows them. ``waits``: what the lateness attribution needs besides the
    tables (without it the ``wait_*_s`` columns are NaN).
    """
    with paged(tables):  # a big compiled run's records: only the pages read last
        summary, checks = _passes(scenario, tables, timeline, pairs)
    give_back()  # what the passes freed: the frames built later start from there
    broken, effects = split_fault_effects(checks.problems, scenario.faults)
    info = {**info, "invariant_violations": broken}
    if effects:  # what the faults broke on purpose: the metrics count it
        info["fault_effects"] = effects
    frames = RunFrames(scenario, tables, timeline, pairs, waits)
    return Result._of_source(scenario, summary, info, frames, tables)


def _passes(scenario: Scenario, tables: Mapping[str, pd.DataFrame], timeline: pd.DataFrame,
            pairs: np.ndarray | None) -> tuple[dict[str, Any], ContactChecks]:
    """Return the run's summary and its checks, computed from its working tables."""
    # Two passes at a time, each pair reading the same tables (seqsim.beside).
    building = Beside(working_table, tables, "sequence_contacts")
    messages = working_table(tables, "messages")
    contacts = building.result()
    steps = tables["sequence_steps"]
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    checking = Beside(check_contacts, contacts, steps, pairs=pairs, policy=scenario.policy,
                      sequences=tables["sequences"])
    figures = send_figures(messages, contacts=contacts, steps=steps, pairs=pairs)
    checks = checking.result()
    summary = build_summary(figures, timeline, contacts, steps, messages, pairs=pairs,
                            checks=checks, start=scenario.simulation.start,
                            end=scenario.simulation.end)
    return summary, checks

