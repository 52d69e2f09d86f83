"""Assemble a finished run's :class:`~seqsim.results.result.Result` from its tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seqsim.checks.contacts import check_contacts
from seqsim.checks.faults import split_fault_effects
from seqsim.engine.schema import contact_pair_codes
from seqsim.model.scenario import Scenario
from seqsim.results.result import Result
from seqsim.results.sends import build_sends
from seqsim.results.summary import build_summary
from seqsim.results.waits import Waits

__all__ = ["build_result"]


def build_result(
    scenario: Scenario,
    tables: dict[str, pd.DataFrame],
    timeline: pd.DataFrame,
    info: dict[str, Any],
    *,
    pairs: np.ndarray | None = None,
    waits: Waits | None = None,
) -> Result:
    """Assemble a :class:`Result` from a finished run's tables and timeline.

    ``pairs``: the contacts' :func:`seqsim.engine.schema.contact_pair_codes`, when
    the engine already knows them. ``waits``: what the lateness attribution
    needs besides the tables (without it the ``wait_*_s`` columns are NaN).
    """
    contacts = tables["sequence_contacts"]
    steps = tables["sequence_steps"]
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    # The checks sort a copy of the contacts: run them before the sends exist,
    # so the two big transients never overlap (peak memory on large runs).
    checks = check_contacts(contacts, steps, pairs=pairs, policy=scenario.policy)
    sends = build_sends(tables["messages"], tables["sequences"], contacts=contacts, steps=steps,
                        pairs=pairs, leads=tables.get("leads"), scenario=scenario, waits=waits)
    summary = build_summary(sends, timeline, contacts, tables["sequence_steps"],
                            tables["messages"], pairs=pairs, checks=checks,
                            start=scenario.simulation.start, end=scenario.simulation.end)
    broken, effects = split_fault_effects(checks.problems, scenario.faults)
    info = {**info, "invariant_violations": broken}
    if effects:  # what the faults broke on purpose: the metrics count it
        info["fault_effects"] = effects
    return Result(scenario, sends, timeline, contacts, summary, tables, info)
