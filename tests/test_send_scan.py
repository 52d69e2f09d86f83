"""seqsim.engine.send_scan: the send log's designed_at and early columns."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.engine.kernel_layout import NONE as NAT
from seqsim.engine.send_scan import enrolments, schedule_columns

# Two sequences: A (3 steps, plan rows 0-2) and B (2 steps, plan rows 3-4).
SEQUENCE = np.array([0, 0, 0, 1, 1])
FIRST = np.array([True, False, False, True, False])
RANK = np.array([0, 1, 2, 0, 1])
DELAY = np.array([0, 48, 72, 0, 24]) * 3_600
OFFSET = np.array([0, 48, 120, 0, 24]) * 3_600
TIMES = st.one_of(st.just(NAT), st.integers(0, 4).map(lambda k: k * 24 * 3_600))


@st.composite
def sends(draw: st.DrawFn) -> dict:
    """Pairs each in one sequence, their entry rows, and sends of their steps (some
    of unknown pair or step), sent or not, at a few instants a day apart."""
    n_pairs = draw(st.integers(1, 3))
    sequence_of = draw(st.lists(st.integers(0, 1), min_size=n_pairs, max_size=n_pairs))
    rows = draw(st.lists(st.tuples(st.integers(0, n_pairs - 1), TIMES, st.booleans()),
                         max_size=8))
    pair, step, sent, sent_at = [], [], [], []
    for _ in range(draw(st.integers(0, 16))):
        p = draw(st.integers(-1, n_pairs - 1))
        steps = np.flatnonzero(sequence_of[max(p, 0)] == SEQUENCE).tolist()
        pair.append(p)
        step.append(draw(st.sampled_from([-1, *steps])))
        sent.append(draw(st.booleans()))
        sent_at.append(draw(TIMES))
    return {"n_pairs": n_pairs, "rows": rows, "pair": pair, "step": step, "sent": sent,
            "sent_at": sent_at}


def _reference(case: dict) -> tuple[list[int], list[bool]]:
    """designed_at and early by their definitions, with dictionaries."""
    enrolled: dict[int, int] = {}
    for p, created, entry in case["rows"]:
        if entry and created != NAT:
            enrolled[p] = min(enrolled.get(p, created), created)
    first_sent: dict[tuple[int, int], int] = {}
    for p, s, ok, at in zip(case["pair"], case["step"], case["sent"], case["sent_at"],
                            strict=True):
        if ok and p >= 0 and s >= 0 and at != NAT:
            first_sent[p, s] = min(first_sent.get((p, s), at), at)
    designed, early = [], []
    for p, s, ok, at in zip(case["pair"], case["step"], case["sent"], case["sent_at"],
                            strict=True):
        known = p >= 0 and s >= 0
        designed.append(enrolled[p] + OFFSET[s] if known and p in enrolled else NAT)
        before = first_sent.get((p, s - 1)) if known and not FIRST[s] else None
        early.append(bool(ok and before is not None and at != NAT and at < before + DELAY[s]))
    return designed, early


@settings(max_examples=300, deadline=None)
@given(case=sends(), by_rank=st.booleans())
def test_schedule_columns_follow_their_definitions(case: dict, by_rank: bool) -> None:
    rows = np.array(case["rows"], dtype=np.int64).reshape(-1, 3)
    enrolled = enrolments(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].astype(bool),
                          case["n_pairs"])
    # Keyed by the step's place in its sequence (pairs of one sequence each), or by
    # its place in the plan: the same answers.
    rank, depth = (RANK, 3) if by_rank else (np.arange(5), 5)
    designed, early = schedule_columns(
        np.array(case["pair"], dtype=np.int64), np.array(case["step"], dtype=np.int64),
        np.array(case["sent"], dtype=bool), np.array(case["sent_at"], dtype=np.int64),
        enrolled, OFFSET, DELAY, FIRST, rank, depth)
    want_designed, want_early = _reference(case)
    assert designed.tolist() == want_designed
    assert early.tolist() == want_early
