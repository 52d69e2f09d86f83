"""Compare the tables of two runs of the same scenario, engine against engine."""

from __future__ import annotations

from typing import Any

from pandas.testing import assert_frame_equal

from seqsim.model.scenario import Scenario
from seqsim.results.result import Result
from seqsim.run.simulate import simulate

_CONTACT_ORDER = ["sequence_id", "contact_phone", "current_step"]


def assert_same_tables(a: Result, b: Result) -> None:
    """Assert two results are identical, row ids of sequence_contacts aside."""
    assert_frame_equal(a.sends, b.sends, obj="sends")
    assert_frame_equal(a.timeline, b.timeline, obj="timeline")
    assert_frame_equal(_contacts(a), _contacts(b), obj="contacts")
    for name in ("leads", "sequences", "sequence_steps", "devices", "messages"):
        x, y = a.tables[name], b.tables[name]
        if name == "messages":
            x, y = (t.drop(columns="sequence_contact_id") for t in (x, y))
        assert_frame_equal(x, y, obj=name)
    assert a.summary == b.summary
    for result in (a, b):
        assert_counts_agree(result)


def assert_counts_agree(result: Result) -> None:
    """Assert the timeline's and the per-step table's counts add up to the
    summary's: every enrolment, send, failure, contact that finished a sequence
    and row left unsent shows in each that counts it."""
    timeline, summary = result.timeline, result.summary
    assert timeline["enrolled"].sum() == summary["contacts_enrolled"]
    assert timeline["sent"].sum() == summary["messages_sent"]
    assert timeline["failed"].sum() == summary["messages_failed"]
    assert timeline["completed_contacts"].iloc[-1] == summary["contacts_completed"]
    assert timeline["active"].iloc[-1] == (result.contacts["status"] == "active").sum()
    steps = result.steps  # and the per-step table to both
    assert steps["sent"].sum() == summary["messages_sent"]
    assert steps["failed"].sum() == summary["messages_failed"]
    assert steps["waiting_at_end"].sum() == summary["unsent_waiting_at_end"]
    assert steps["queued_at_end"].sum() == summary["unsent_queued_at_end"]


def _contacts(result: Result):
    frame = result.contacts.drop(columns="id").sort_values(_CONTACT_ORDER)
    return frame.reset_index(drop=True)


def run_both_engines(scenario: Scenario, **batch_options: Any) -> tuple[Result, Result]:
    """Run a scenario on the row and the batch engine, assert identical tables,
    and return both results (``batch_options`` go to the batch run's simulate)."""
    row = simulate(scenario, engine="row", progress=False)
    batch = simulate(scenario, engine="batch", progress=False, **batch_options)
    assert_same_tables(row, batch)
    return row, batch
