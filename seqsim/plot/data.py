"""What the charts read from a Result: its steps and their colours, sends, completion times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps

from seqsim.analysis.durations import HOUR_S
from seqsim.errors import SeqsimError
from seqsim.results.result import Result
from seqsim.results.rows import entry_step_ids

__all__ = [
    "Step", "completion_frame", "completion_unit", "run_linestyle", "run_steps",
    "sent_messages", "step_colors",
]

#: Line styles of runs drawn on one axes, in order: with the colour cycle, a run
#: stays distinguishable when its line lies on another's (or is printed grey).
_RUN_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))


def run_linestyle(index: int) -> Any:
    """Return the line style of the ``index``-th run on an axes (cycling)."""
    return _RUN_LINESTYLES[index % len(_RUN_LINESTYLES)]

_SEQUENCE_CMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")


@dataclass(frozen=True)
class Step:
    """One step of a run's sequences, with the label its legend entry reads."""

    sequence_id: int
    sequence: str
    step_id: int
    day_number: int
    label: str


def run_steps(result: Result) -> list[Step]:
    """Return the run's steps in chain order (sequence, then day number).

    Raises:
        SeqsimError: the Result lacks its ``sequence_steps`` or ``sequences`` table.
    """
    try:
        step_table = result.tables["sequence_steps"]
        sequences = result.tables["sequences"]
    except KeyError as exc:
        raise SeqsimError(
            f"result: a Result without its {exc.args[0]!r} table is not valid; expected one "
            "from seqsim.simulate or seqsim.load_result"
        ) from None
    names = sequences.set_index("id")["name"].astype(str)
    several = len(names) > 1
    ordered = step_table.sort_values(["sequence_id", "day_number"])
    return [
        Step(
            int(row.sequence_id), str(names[row.sequence_id]), int(row.id), int(row.day_number),
            f"{names[row.sequence_id]} day {row.day_number}" if several
            else f"day {row.day_number}",
        )
        for row in ordered.itertuples()
    ]


def step_colors(chain: Sequence[Step]) -> list[Any]:
    """Colours for steps in chain order: dark to light within a sequence.

    One sequence uses viridis; several use one colour family each (blues,
    oranges, greens, ...) shaded from the first step to the last.
    """
    sequences = list(dict.fromkeys(s.sequence_id for s in chain))
    if len(sequences) <= 1:
        cmap = colormaps["viridis"]
        n = len(chain)
        return [cmap(v) for v in np.linspace(0.08, 0.88, n)] if n > 1 else [cmap(0.3)]
    colors: list[Any] = []
    for i, seq in enumerate(sequences):
        cmap = colormaps[_SEQUENCE_CMAPS[i % len(_SEQUENCE_CMAPS)]]
        n = sum(1 for s in chain if s.sequence_id == seq)
        colors += [cmap(v) for v in np.linspace(0.9, 0.45, n)] if n > 1 else [cmap(0.7)]
    return colors


def sent_messages(result: Result) -> pd.DataFrame:
    """Return the run's sends that went out (failed attempts left out)."""
    return result.sends[result.sends["outcome"] == "sent"]


def completion_frame(result: Result) -> pd.DataFrame:
    """Return per sequence and contact (one row each): hours from entry to last step's
    completion.

    Columns: ``sequence``, ``contact_phone``, ``hours`` (NaN when the contact
    had not finished the sequence by the end of the run), ``designed_hours``.
    """
    step_table = result.tables["sequence_steps"]
    names = result.tables["sequences"].set_index("id")["name"].astype(str)
    contacts = result.contacts
    keys = ["sequence_id", "contact_phone"]
    entry_ids = entry_step_ids(step_table)
    last_ids = step_table.sort_values("day_number").groupby("sequence_id")["id"].last()
    entries = contacts.loc[contacts["sequence_stepid"].isin(entry_ids), [*keys, "created_at"]]
    last = contacts.loc[
        contacts["sequence_stepid"].isin(last_ids) & (contacts["status"] == "completed"),
        [*keys, "completed_at"],
    ]
    if result.scenario.faults.active:
        # A fault that races an insert can give a pair two entry rows or two last
        # steps: the pair counts once, entered at its first entry row (as the send
        # log and the summary date enrolment) and done at its first completion.
        # Without faults the UNIQUE(sequence_id, contact_phone, sequence_stepid)
        # key holds, and the search (hashing every phone) is skipped.
        entries = _first_per_pair(entries, keys, "created_at")
        last = _first_per_pair(last, keys, "completed_at")
    merged = entries.merge(last, on=keys, how="left")
    hours = (merged["completed_at"] - merged["created_at"]).dt.total_seconds() / HOUR_S
    designed = step_table.groupby("sequence_id")["trigger_delay_hours"].sum()
    return pd.DataFrame({
        "sequence_id": merged["sequence_id"].to_numpy(),
        "sequence": merged["sequence_id"].map(names).to_numpy(),
        "contact_phone": merged["contact_phone"].to_numpy(),
        "hours": hours.to_numpy(dtype=float),
        "designed_hours": merged["sequence_id"].map(designed).to_numpy(dtype=float),
    })


def _first_per_pair(rows: pd.DataFrame, keys: list[str], at: str) -> pd.DataFrame:
    """Return ``rows`` with one row per ``keys``: the earliest by ``at`` (ties: the
    first in the table), in the table's order."""
    if not rows.duplicated(keys).any():
        return rows
    return rows.sort_values(at, kind="stable").drop_duplicates(keys).sort_index()


def completion_unit(named: Mapping[str, Result]) -> tuple[float, str]:
    """Return (hours per unit, unit name): days when a design lasts 2 days or more."""
    longest = 0.0
    for result in named.values():
        step_table = result.tables.get("sequence_steps")
        if step_table is not None and not step_table.empty:
            longest = max(longest, float(
                step_table.groupby("sequence_id")["trigger_delay_hours"].sum().max()))
    return (24.0, "days") if longest >= 48 else (1.0, "hours")
