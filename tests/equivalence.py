"""Compare the tables of two runs of the same scenario, engine against engine."""

from __future__ import annotations

from pandas.testing import assert_frame_equal

from seqsim.results import Result

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


def _contacts(result: Result):
    frame = result.contacts.drop(columns="id").sort_values(_CONTACT_ORDER)
    return frame.reset_index(drop=True)
